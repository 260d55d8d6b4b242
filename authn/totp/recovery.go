package totp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Recovery code sizes.
const (
	// RecoveryCodeBits is the entropy of one recovery code: 20 Crockford base32
	// characters of 5 bits each, well above the 80 bits the project requires, so that
	// an unsalted fast hash of it cannot be reversed (see [HashRecoveryCode]).
	RecoveryCodeBits = recoveryChars * 5
	// MaxRecoveryCodes bounds one call to [NewRecoveryCodes].
	MaxRecoveryCodes = 100
	// DefaultRecoveryCodes is a usual set size: enough for a lost phone or two, few
	// enough that the user keeps them.
	DefaultRecoveryCodes = 10

	recoveryChars = 20 // characters of one code, without dashes
	recoveryGroup = 5  // characters between dashes
)

// crockford is Crockford's base32 alphabet: digits and upper-case letters without I, L,
// O and U, so that no two symbols look or sound alike when read aloud or typed from
// paper.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// RecoveryCode is a one-time code that signs a user in when their authenticator is
// lost, written in Crockford base32 in groups of five for reading aloud and typing:
// "7K3QZ-R0M4D-W9X2C-HB5TE" (no I, L, O or U). Show a set once at enrollment (with
// [RecoveryCode.Reveal]), store only their hashes ([HashRecoveryCode]), and remove a
// hash when [MatchRecoveryCode] matches it, so each code works once.
//
// Like [Secret], a RecoveryCode writes "[REDACTED]" from String, GoString, Format (every
// verb), LogValue, MarshalJSON and MarshalText, and holds its value in a closure that
// reflection cannot read. The zero value is the empty code.
type RecoveryCode struct {
	code func() string // nil for the zero value
}

// NewRecoveryCodes returns n distinct recovery codes of [RecoveryCodeBits] bits each,
// read from r, or from crypto/rand when r is nil (pass a reader only in tests). n must
// be 1 to [MaxRecoveryCodes] ([ErrRecoveryCount] otherwise). A reader that fails, or
// that repeats itself so that two codes are equal, gives [ErrRandom]: with 100 bits a
// repetition means a broken source, not bad luck.
func NewRecoveryCodes(r io.Reader, n int) ([]RecoveryCode, error) {
	if n < 1 || n > MaxRecoveryCodes {
		return nil, ErrRecoveryCount
	}
	if r == nil {
		r = rand.Reader
	}
	// One random byte per character, of which the low 5 bits are used: 256 is a
	// multiple of 32, so every character is uniform and the code has exactly 5 bits
	// per character, with no bit-packing to get wrong.
	raw := make([]byte, n*recoveryChars)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	codes := make([]RecoveryCode, n)
	seen := make(map[string]bool, n)
	for i := range codes {
		var b strings.Builder
		for j, x := range raw[i*recoveryChars : (i+1)*recoveryChars] {
			if j > 0 && j%recoveryGroup == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(crockford[x&31])
		}
		s := b.String()
		if seen[s] {
			return nil, fmt.Errorf("%w: two recovery codes are equal", ErrRandom)
		}
		seen[s] = true
		codes[i] = RecoveryCode{code: func() string { return s }}
	}
	clear(raw)
	return codes, nil
}

// Reveal returns the code in its printed form ("XXXXX-XXXXX-XXXXX-XXXXX"), to show
// once to the user. Never log or store its result.
func (c RecoveryCode) Reveal() string {
	if c.code == nil {
		return ""
	}
	return c.code()
}

// IsZero reports whether c is the empty code.
func (c RecoveryCode) IsZero() bool { return c.Reveal() == "" }

// Hash returns HashRecoveryCode(c.Reveal()), what the caller stores. The zero
// RecoveryCode has no hash: Hash returns nil, which nothing matches.
func (c RecoveryCode) Hash() []byte { return HashRecoveryCode(c.Reveal()) }

// String returns "[REDACTED]".
func (RecoveryCode) String() string { return redacted }

// GoString returns "[REDACTED]", for %#v.
func (RecoveryCode) GoString() string { return redacted }

// Format writes "[REDACTED]" for every verb and flag.
func (RecoveryCode) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes log/slog write "[REDACTED]".
func (RecoveryCode) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON writes the JSON string "[REDACTED]".
func (RecoveryCode) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText writes "[REDACTED]".
func (RecoveryCode) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// normaliseRecoveryCode maps what a user may type to the canonical characters:
// upper case, no dashes or spaces, and Crockford's aliases (I and L read as 1, O as
// 0), since a code read from paper or over the phone is easily mistyped that way.
func normaliseRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		switch r {
		case '-', ' ', '\t':
			return -1
		case 'I', 'L':
			return '1'
		case 'O':
			return '0'
		}
		return r
	}, code)
}

// wellFormed reports whether a normalised code is a recovery code's shape: exactly
// recoveryChars characters of the Crockford alphabet.
func wellFormed(norm string) bool {
	if len(norm) != recoveryChars {
		return false
	}
	for i := 0; i < len(norm); i++ {
		if strings.IndexByte(crockford, norm[i]) < 0 {
			return false
		}
	}
	return true
}

// HashRecoveryCode returns the SHA-256 of the normalised code (upper case, dashes and
// spaces dropped, I and L read as 1, O as 0): the value to store, and to compare with
// [MatchRecoveryCode].
//
// Input that does not normalise to a recovery code's shape (20 characters of the
// Crockford alphabet) has no hash: HashRecoveryCode returns nil, which is not a hash
// any store keeps (they require 32 bytes) and which MatchRecoveryCode never matches.
// So the empty code, the zero [RecoveryCode], whitespace or dashes alone, and any long
// or odd string can never match a stored hash, not even the SHA-256 of the empty
// string should one have been stored by mistake (authboss#351).
//
// A fast, unsalted hash is right here, as for API tokens, and a password hash
// (argon2id) would be wrong: a slow hash and a salt protect guessable secrets, but a
// code of [RecoveryCodeBits] random bits cannot be guessed from its hash however fast
// the hash is (2^100 tries), while argon2id's cost would be paid for every stored code
// at every attempt, and would let failed attempts tie up the server.
func HashRecoveryCode(code string) []byte {
	if len(code) > maxRecoveryInput {
		return nil
	}
	norm := normaliseRecoveryCode(code)
	if !wellFormed(norm) {
		return nil
	}
	sum := sha256.Sum256([]byte(norm))
	return sum[:]
}

// maxRecoveryInput bounds the input HashRecoveryCode looks at: a code with generous
// spacing fits many times over.
const maxRecoveryInput = 256

// MatchRecoveryCode reports whether code matches one of hashes (as made by
// [HashRecoveryCode]) and which, so that the caller removes that hash (with a
// conditional delete, so that two concurrent uses succeed once). Input that is not a
// recovery code's shape matches nothing, and stored values that are not 32-byte hashes
// are never matched. Every hash is compared in constant time and the loop never stops
// early, so the time taken does not tell whether or where a well-formed code matched.
func MatchRecoveryCode(code string, hashes [][]byte) (index int, ok bool) {
	h := HashRecoveryCode(code)
	if h == nil {
		return -1, false
	}
	index, found := -1, 0
	for i, want := range hashes {
		eq := subtle.ConstantTimeCompare(h, want)              // 0 for any length but 32
		index = subtle.ConstantTimeSelect(eq&^found, i, index) // the first match
		found |= eq
	}
	return index, found == 1
}
