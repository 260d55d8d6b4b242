package totp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Secret sizes.
const (
	// SecretBytes is the size of a secret made by [NewSecret]: 160 bits, the length
	// RFC 4226 §4 recommends and ASVS 6.5.3 requires, and the output size of HMAC-SHA1.
	SecretBytes = 20
	// MinSecretBits is the smallest imported secret [ParseSecret] accepts: RFC 4226 §4
	// requires 128 bits.
	MinSecretBits = 128
	// MaxSecretBytes is the largest imported secret [ParseSecret] accepts: 128 bytes,
	// the HMAC-SHA512 block size (the RFC 6238 SHA-512 seed is 64). The bound keeps the
	// work on a hostile import small.
	MaxSecretBytes = 128
)

// redacted is what every formatting and encoding method of a secret type writes.
const redacted = "[REDACTED]"

// b32 is the alphabet authenticator apps expect: RFC 4648 base32, upper case, without
// padding (the Key Uri Format says padding "should be omitted").
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Secret is a TOTP/HOTP key: the raw bytes both the server and the authenticator app
// hold. Whoever has it can produce every future code, so it is handled like a password:
//
//   - it keeps its value out of logs and encodings: String, GoString, Format (every
//     fmt verb), LogValue (log/slog), MarshalJSON and MarshalText all write
//     "[REDACTED]". The bytes are held by a closure, which reflection cannot look
//     into, so fmt printing a struct that holds a Secret in an unexported field shows
//     a function address, not the key;
//   - it is read only through [Secret.Base32] (for the enrollment QR code, once) and
//     [Secret.Bytes] (for [Sealer.Seal]); it is stored only sealed.
//
// Secrets are not comparable with ==: use [Secret.Equal]. The zero value holds no key;
// every function given one fails with [ErrNoSecret] (or returns "" where it has no
// error result).
type Secret struct {
	key func() []byte // nil for the zero value; the slice is never handed out
}

// secretFrom makes a Secret holding a private copy of b.
func secretFrom(b []byte) Secret {
	k := append([]byte(nil), b...)
	return Secret{key: func() []byte { return k }}
}

// NewSecret returns a new random Secret of [SecretBytes] bytes read from r, or from
// crypto/rand when r is nil (pass a reader only in tests).
func NewSecret(r io.Reader) (Secret, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [SecretBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Secret{}, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	return secretFrom(b[:]), nil
}

// ParseSecret reads a base32 secret, for importing a user's key from another system.
// It accepts what people and other systems write: lower case, spaces (authenticator
// apps show the key in groups of four), and padding present or missing. It rejects
// anything else as [ErrMalformedSecret], and a secret below [MinSecretBits] or above
// [MaxSecretBytes] with a [SecretLengthError]. Errors never contain the input.
func ParseSecret(s string) (Secret, error) {
	// 8 base32 characters per 5 bytes, plus generous room for spaces and padding;
	// anything longer is rejected before any work is done on it.
	if len(s) > 4*MaxSecretBytes {
		return Secret{}, &SecretLengthError{Bits: len(s) * 5}
	}
	clean := strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			return -1
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
	clean = strings.TrimRight(clean, "=")
	b, err := b32.DecodeString(clean)
	// encoding/base32 without padding ignores a final group of 1, 3 or 6 characters,
	// lengths no encoder writes: they mean a secret cut short or mistyped, which would
	// enroll a key the user's app does not hold.
	if l := len(clean) % 8; l == 1 || l == 3 || l == 6 {
		err = ErrMalformedSecret
	}
	if err != nil {
		// Not wrapped: base32.CorruptInputError is harmless, but the contract is that
		// nothing about the input leaks through the error.
		return Secret{}, ErrMalformedSecret
	}
	if len(b)*8 < MinSecretBits || len(b) > MaxSecretBytes {
		return Secret{}, &SecretLengthError{Bits: len(b) * 8}
	}
	return secretFrom(b), nil
}

// MustParseSecret is ParseSecret for tests and literals; it panics on an error. Never
// use it on input.
func MustParseSecret(s string) Secret {
	sec, err := ParseSecret(s)
	if err != nil {
		panic(err)
	}
	return sec
}

// raw returns the key without copying, for this package's own computations; nil for
// the zero value.
func (s Secret) raw() []byte {
	if s.key == nil {
		return nil
	}
	return s.key()
}

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return len(s.raw()) == 0 }

// Equal reports whether s and t hold the same key, in time that depends on their
// lengths only. The zero Secret holds no key and equals nothing, not even itself.
func (s Secret) Equal(t Secret) bool {
	a, b := s.raw(), t.raw()
	return len(a) > 0 && subtle.ConstantTimeCompare(a, b) == 1
}

// Base32 returns the key as authenticator apps expect it: RFC 4648 base32, upper case,
// unpadded. Call it only to build the enrollment QR code or the key a user types in
// by hand ([KeyURI] calls it); never log or store its result.
func (s Secret) Base32() string { return b32.EncodeToString(s.raw()) }

// Bytes returns a copy of the raw key, for [Sealer.Seal] or another sealing scheme.
// Never log or store its result unsealed.
func (s Secret) Bytes() []byte { return append([]byte(nil), s.raw()...) }

// String returns "[REDACTED]".
func (Secret) String() string { return redacted }

// GoString returns "[REDACTED]", for %#v.
func (Secret) GoString() string { return redacted }

// Format writes "[REDACTED]" for every verb and flag (%v, %+v, %#v, %s, %q, %x, ...).
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes log/slog write "[REDACTED]".
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON writes the JSON string "[REDACTED]".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText writes "[REDACTED]" (used by encoding/xml, YAML encoders and JSON map
// keys). There is deliberately no UnmarshalText: a secret enters through
// [ParseSecret] or [Sealer.Open] only.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
