package totp

import (
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// stepCode computes the code of one counter: pquerna/otp's HMAC and RFC 4226 dynamic
// truncation. It is a variable only so that an internal test can count the steps
// Verify computes.
var stepCode = hotp.GenerateCodeCustom

// codeOf returns the digits-long code of counter under the key whose base32 form is
// b32key, or ok false if pquerna/otp refuses the input (which this package's callers
// never give it: the key is this package's own base32, alg and digits are checked).
func codeOf(b32key string, counter uint64, digits int, alg otp.Algorithm) (string, bool) {
	code, err := stepCode(b32key, counter, hotp.ValidateOpts{Digits: otp.Digits(digits), Algorithm: alg})
	if err != nil || len(code) != digits {
		return "", false
	}
	return code, true
}

// HOTP returns the RFC 4226 code of counter: HMAC(key, counter) under alg, dynamically
// truncated (§5.3) to digits decimal digits, zero-padded, as computed by
// github.com/pquerna/otp/hotp. digits is 6, 7 or 8, the lengths RFC 4226 §5.3
// describes; alg "" means SHA1. It returns "" for the zero Secret, other digits or an
// unknown alg, a value that no code equals.
//
// Most callers want [Code] and [Verify]; HOTP is exported for counter-based tokens and
// for checking against other implementations.
func HOTP(s Secret, counter uint64, digits int, alg Algorithm) string {
	a, ok := alg.otp()
	if s.IsZero() || !ok || digits < 6 || digits > 8 {
		return ""
	}
	code, _ := codeOf(s.Base32(), counter, digits, a)
	return code
}

// Code returns the TOTP code (RFC 6238) of s at t under c. It returns "" for the zero
// Secret, an invalid Config or a t before 1970, a value that no code equals; call
// c.Validate first to tell them apart.
//
// The step is computed here in integers (pquerna/otp's totp package divides in
// float64, exact only up to 2^53 seconds), so Code and [Verify] agree on every t.
func Code(s Secret, t time.Time, c Config) string {
	c, err := c.resolved()
	if err != nil {
		return ""
	}
	st := c.step(t)
	if st < 0 {
		return ""
	}
	return HOTP(s, uint64(st), c.Digits, c.Algorithm)
}
