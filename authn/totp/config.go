package totp

import (
	"time"

	"github.com/pquerna/otp"
)

// Algorithm is the HMAC hash of a TOTP/HOTP code, named as in the key URI. The zero
// value means [SHA1].
type Algorithm string

// Algorithms of RFC 6238 §1.2.
const (
	SHA1   Algorithm = "SHA1"
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

// otpAlgorithms maps each algorithm to pquerna/otp's name for it. MD5, which pquerna
// also offers, is deliberately absent.
var otpAlgorithms = map[Algorithm]otp.Algorithm{
	SHA1:   otp.AlgorithmSHA1,
	SHA256: otp.AlgorithmSHA256,
	SHA512: otp.AlgorithmSHA512,
}

// otp returns pquerna/otp's algorithm for a ("" is SHA1), and false when a is not
// one of the three.
func (a Algorithm) otp() (otp.Algorithm, bool) {
	if a == "" {
		a = SHA1
	}
	alg, ok := otpAlgorithms[a]
	return alg, ok
}

// Config limits and defaults.
const (
	// DefaultDigits, DefaultPeriod and DefaultAlgorithm are what every authenticator
	// app supports.
	DefaultDigits    = 6
	DefaultPeriod    = 30 * time.Second
	DefaultAlgorithm = SHA1
	// DefaultSkew accepts the previous and the next step besides the current one, so
	// that a code typed as it rolls over, or a phone a few seconds off, still works.
	DefaultSkew = 1
	// MaxSkew is the most the project's requirements allow: ±1 step (RFC 6238 §6
	// recommends at most one step of network delay).
	MaxSkew = 1
	// NoSkew, as Config.Skew, accepts the current step only.
	NoSkew = -1
	// MaxPeriod bounds the step: a code's lifetime must be limited (ASVS 6.5.5).
	MaxPeriod = 5 * time.Minute
)

// Config is the TOTP parameters of one secret. The zero value is valid and means the
// defaults: 6 digits, 30-second steps, HMAC-SHA1 and one step of skew each side, the
// parameters of RFC 6238 and of every authenticator app.
//
// Google Authenticator, and in practice most apps scanning a QR code, ignore the
// algorithm, digits and period parameters of the key URI, or honour only some of
// them, and then show SHA1/6/30 codes that never verify. Change them only for users
// whose app is known to follow them (or for hardware tokens); the server cannot tell
// which app a user scanned the code with. Whatever the Config, store it with the
// sealed secret: a code verifies only under the parameters it was enrolled with.
type Config struct {
	// Digits is the code length: 6 or 8. If zero, 6.
	Digits int
	// Period is the time step: whole seconds, at most MaxPeriod. If zero, 30 s.
	Period time.Duration
	// Algorithm is the HMAC hash: SHA1, SHA256 or SHA512. If empty, SHA1.
	Algorithm Algorithm
	// Skew is the number of steps accepted on each side of the current one, for
	// clock drift and typing time: 0 means DefaultSkew (1), NoSkew accepts the
	// current step only, and more than MaxSkew is refused, because each extra step
	// widens the window an intercepted code stays usable and the odds of a guess.
	Skew int
}

// Validate reports a field out of range as a [ConfigError] (errors.Is
// [ErrInvalidConfig]). Zero fields are valid: they take their default.
func (c Config) Validate() error {
	switch c.Digits {
	case 0, 6, 8:
	default:
		return &ConfigError{Field: "Digits", Reason: "must be 6 or 8"}
	}
	switch {
	case c.Period < 0, c.Period > MaxPeriod:
		return &ConfigError{Field: "Period", Reason: "must be between 1 s and 5 min"}
	case c.Period%time.Second != 0:
		return &ConfigError{Field: "Period", Reason: "must be whole seconds"}
	}
	if _, ok := c.Algorithm.otp(); !ok {
		return &ConfigError{Field: "Algorithm", Reason: "must be SHA1, SHA256 or SHA512"}
	}
	if c.Skew < NoSkew || c.Skew > MaxSkew {
		return &ConfigError{Field: "Skew", Reason: "must be NoSkew, 0 or 1"}
	}
	return nil
}

// resolved validates c and fills in the defaults; Skew comes out as the real number
// of steps (0 for NoSkew).
func (c Config) resolved() (Config, error) {
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	if c.Digits == 0 {
		c.Digits = DefaultDigits
	}
	if c.Period == 0 {
		c.Period = DefaultPeriod
	}
	if c.Algorithm == "" {
		c.Algorithm = DefaultAlgorithm
	}
	switch c.Skew {
	case 0:
		c.Skew = DefaultSkew
	case NoSkew:
		c.Skew = 0
	}
	return c, nil
}

// step returns the RFC 6238 time step of t: floor((t − T0) / Period) with T0 the Unix
// epoch. c must be resolved. Times before the epoch give negative steps, which have no
// code.
func (c Config) step(t time.Time) int64 {
	secs, p := t.Unix(), int64(c.Period/time.Second)
	st := secs / p
	if secs%p < 0 {
		st-- // floor, not truncation, before 1970
	}
	return st
}
