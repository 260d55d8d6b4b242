package totp

import (
	"crypto/subtle"
	"math"
	"time"
)

// maxCodeInput bounds the raw code Verify looks at, spaces included, so that the
// work done on an input is bounded whatever a client sends.
const maxCodeInput = 64

// Verify checks a code the user typed against s at now (the server's clock: ASVS
// 6.5.8, never a time the client sends) and returns the time step it matched. The
// caller stores that step as the user's new lastStep, with a conditional update
// (UPDATE … SET last_step = $step WHERE … AND last_step < $step) so that of two
// concurrent sign-ins with one code, on one instance or several, only one succeeds.
//
// A code is accepted when it is the code of a step in [now−Skew, now+Skew] that is
// after lastStep. Pass 0 as lastStep for a user who has never used a code (step 0 is
// 1970). Spaces in code are ignored ("123 456" as apps show it).
//
// Errors, in the order checked: a [ConfigError] for an invalid c; [ErrNoSecret];
// [ErrMalformedCode] when code is not c.Digits ASCII digits; [ErrInvalidCode] when it
// matches no step of the window; [ErrReplayed] when it matches only steps at or
// before lastStep (used already, or older than a code used since). No error contains
// the code or the secret.
//
// The code of each step is computed by github.com/pquerna/otp/hotp; this function
// adds what pquerna's totp.ValidateCustom does not give: the ordered window that says
// which step matched (the replay protection needs it), the refusal of steps at or
// before lastStep, a bounded input, and the same work whatever matches.
//
// Timing: the codes of every step of the window are computed and compared in constant
// time, and the match is selected without branching, so the time taken does not say
// whether, or at which step, the code matched; only the error does.
func Verify(s Secret, code string, now time.Time, lastStep int64, c Config) (step int64, err error) {
	c, err = c.resolved()
	if err != nil {
		return 0, err
	}
	if s.IsZero() {
		return 0, ErrNoSecret
	}
	var in [8]byte
	n, ok := digitsOnly(&in, code)
	if !ok || n != c.Digits {
		return 0, ErrMalformedCode
	}

	alg, _ := c.Algorithm.otp() // resolved: always known
	key := s.Base32()
	cur := c.step(now)
	var (
		matched int64 // the latest matching step; valid when found == 1
		found   int   // 1 once a step matched
		failed  bool  // pquerna/otp refused to compute a step (never expected)
	)
	for d := -int64(c.Skew); d <= int64(c.Skew); d++ {
		st, valid := cur+d, 1
		if (d > 0 && cur > math.MaxInt64-d) || (d < 0 && cur < math.MinInt64-d) || cur+d < 0 {
			// A step before 1970 or past the end of int64 has no code; compute one
			// anyway, for step 0, so that every call does the same work.
			st, valid = 0, 0
		}
		code, ok := codeOf(key, uint64(st), c.Digits, alg)
		failed = failed || !ok
		eq := subtle.ConstantTimeCompare([]byte(code), in[:n]) & valid
		// Keep the latest matching step: if two steps of the window share a code, the
		// later one is the one to store, so that neither can be used again.
		mask := -int64(eq) // all ones when eq == 1
		matched = st&mask | matched&^mask
		found |= eq
	}
	if failed {
		return 0, ErrInvalidCode // fail closed
	}
	switch {
	case found == 0:
		return 0, ErrInvalidCode
	case matched <= lastStep:
		return 0, ErrReplayed
	}
	return matched, nil
}

// digitsOnly copies the non-space bytes of code into in and reports how many there
// are, and whether they are all ASCII digits and at most len(in). Spaces are ASCII
// space, tab and the no-break space U+00A0 (which copying a code from some apps or
// web pages brings along).
func digitsOnly(in *[8]byte, code string) (int, bool) {
	if len(code) > maxCodeInput {
		return 0, false
	}
	n := 0
	for i := 0; i < len(code); i++ {
		b := code[i]
		switch {
		case b == ' ' || b == '\t':
			continue
		case b == 0xc2 && i+1 < len(code) && code[i+1] == 0xa0: // U+00A0 in UTF-8
			i++
			continue
		case b < '0' || b > '9' || n == len(in):
			return 0, false
		}
		in[n] = b
		n++
	}
	return n, true
}
