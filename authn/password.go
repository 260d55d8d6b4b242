package authn

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"

	"golang.org/x/text/unicode/norm"
)

// MaxPasswordBytes bounds a password's size after normalisation. Longer passwords are
// rejected by [PasswordPolicy.Validate] (too_long), refused by [Hasher.Hash]
// ([ErrPasswordTooLong]) and never match in [Hasher.Verify], so that the work done for
// an input is bounded whatever a client sends. 1024 bytes hold the longest password any
// policy accepts: [MaxPasswordLength] code points of at most 4 bytes each.
const MaxPasswordBytes = 1024

// maxRawPasswordBytes bounds the input that NewPassword normalises at all. It is 4 ×
// MaxPasswordBytes so that the normalised size, not the raw one, decides in every
// realistic case (NFKC shrinks text by at most a factor of 3, composing Hangul jamo).
const maxRawPasswordBytes = 4 * MaxPasswordBytes

// passwordRedacted is what every formatting and encoding method of Password writes.
const passwordRedacted = "[REDACTED]"

// Password is a plaintext password as a user typed it, after the one normalisation
// applied to every password: Unicode NFKC (see [NewPassword]).
//
// Password keeps its value out of logs and encodings: String, GoString, Format (every
// fmt verb), LogValue (log/slog), MarshalJSON and MarshalText all write "[REDACTED]".
// The value itself is held by a closure, which reflection cannot look into: fmt
// printing a struct that holds a Password in an unexported field (where it cannot call
// the methods above) shows a function address, not the secret; so do debuggers' and
// pretty-printers' reflective dumps. The value is read only with [Password.Reveal].
// Passwords are not comparable with ==: use [Password.Equal], which runs in constant
// time.
//
// The zero value is the empty password.
type Password struct {
	secret  func() string // nil for the zero value
	dropped bool          // the raw input exceeded maxRawPasswordBytes and was not kept
}

// NewPassword returns raw as a Password after Unicode NFKC normalisation, the only
// change ever made to a password: no trimming of spaces, no case folding, no
// truncation. Equivalent ways of typing one password (the "ﬁ" ligature and "fi",
// full-width and ASCII digits, a precomposed "é" and "e" + combining acute accent) then
// hash and verify alike, whatever keyboard or operating system produced them.
//
// raw is taken as is even when it is not valid UTF-8 ([PasswordPolicy.Validate] rejects
// such a password as a new one). An input of more than 4 × [MaxPasswordBytes] bytes is
// not normalised nor kept: it is too long for every rule, and [Password.Reveal] returns
// "".
func NewPassword(raw string) Password {
	if len(raw) > maxRawPasswordBytes {
		return Password{dropped: true}
	}
	s := norm.NFKC.String(raw)
	return Password{secret: func() string { return s }}
}

// Reveal returns the normalised password. Call it only to hand the password to a
// hashing or checking function; never log or store its result.
func (p Password) Reveal() string {
	if p.secret == nil {
		return ""
	}
	return p.secret()
}

// IsZero reports whether the password is empty.
func (p Password) IsZero() bool { return !p.dropped && p.Reveal() == "" }

// Equal reports whether p and q are the same password (after normalisation), in time
// that depends on their lengths only.
func (p Password) Equal(q Password) bool {
	if p.tooLong() || q.tooLong() {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(p.Reveal()), []byte(q.Reveal())) == 1
}

// tooLong reports whether the password exceeds MaxPasswordBytes (or was too long to
// be kept at all).
func (p Password) tooLong() bool {
	return p.dropped || len(p.Reveal()) > MaxPasswordBytes
}

// String returns "[REDACTED]".
func (Password) String() string { return passwordRedacted }

// GoString returns "[REDACTED]", for %#v.
func (Password) GoString() string { return passwordRedacted }

// Format writes "[REDACTED]" for every verb and flag (%v, %+v, %#v, %s, %q, %x, ...).
func (Password) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, passwordRedacted) }

// LogValue makes log/slog write "[REDACTED]".
func (Password) LogValue() slog.Value { return slog.StringValue(passwordRedacted) }

// MarshalJSON writes the JSON string "[REDACTED]".
func (Password) MarshalJSON() ([]byte, error) { return []byte(`"` + passwordRedacted + `"`), nil }

// MarshalText writes "[REDACTED]" (used by encoding/xml, YAML encoders and JSON map keys).
func (Password) MarshalText() ([]byte, error) { return []byte(passwordRedacted), nil }

// UnmarshalText sets p to NewPassword(text), so that a request body decoded with
// encoding/json or a form decoder yields a normalised Password directly. Decoding is
// deliberately not the inverse of encoding: a Password never encodes its value.
func (p *Password) UnmarshalText(text []byte) error {
	*p = NewPassword(string(text))
	return nil
}
