package totp_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn/totp"
)

// rfcSecret is the RFC 4226/6238 SHA-1 seed.
func rfcSecret(t testing.TB) totp.Secret {
	return secretOf(t, []byte("12345678901234567890"))
}

// t0 is a time in the middle of a 30-second step.
var t0 = time.Date(2026, 3, 14, 9, 26, 45, 0, time.UTC)

func stepOf(t time.Time, c totp.Config) int64 {
	p := int64(30)
	if c.Period != 0 {
		p = int64(c.Period / time.Second)
	}
	return t.Unix() / p
}

// Verify accepts the steps now−Skew .. now+Skew and nothing beyond, at both edges of
// a step, and returns the matched step.
func TestVerifyWindow(t *testing.T) {
	s := rfcSecret(t)
	for _, tc := range []struct {
		name string
		c    totp.Config
		skew int64
	}{
		{"default skew 1", totp.Config{}, 1},
		{"explicit skew 1", totp.Config{Skew: 1}, 1},
		{"no skew", totp.Config{Skew: totp.NoSkew}, 0},
		{"60 s, 8 digits, SHA-512", totp.Config{Period: time.Minute, Digits: 8, Algorithm: totp.SHA512}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			period := 30 * time.Second
			if tc.c.Period != 0 {
				period = tc.c.Period
			}
			start := time.Unix(stepOf(t0, tc.c)*int64(period/time.Second), 0).UTC()
			// The first and the last instant of the step, and one in its middle.
			for _, now := range []time.Time{start, start.Add(period / 2), start.Add(period - time.Nanosecond)} {
				cur := stepOf(now, tc.c)
				for d := -tc.skew - 2; d <= tc.skew+2; d++ {
					code := totp.Code(s, now.Add(time.Duration(d)*period), tc.c)
					step, err := totp.Verify(s, code, now, 0, tc.c)
					if d >= -tc.skew && d <= tc.skew {
						require.NoError(t, err, "offset %d at %v", d, now)
						assert.Equal(t, cur+d, step, "offset %d", d)
					} else {
						assert.ErrorIs(t, err, totp.ErrInvalidCode, "offset %d at %v", d, now)
						assert.Zero(t, step)
					}
				}
			}
		})
	}
}

// A code is accepted once: the same step again fails, and so does an older step after a
// newer one (ASVS 6.5.1; RFC 6238 §5.2).
func TestVerifyReplay(t *testing.T) {
	s := rfcSecret(t)
	c := totp.Config{}
	cur := stepOf(t0, c)
	codeAt := func(d int64) string { return totp.Code(s, t0.Add(time.Duration(d)*30*time.Second), c) }

	// First use succeeds; the caller stores the step.
	last, err := totp.Verify(s, codeAt(0), t0, 0, c)
	require.NoError(t, err)
	require.Equal(t, cur, last)

	// The same code again, in the same step and in the next one (still in the window).
	_, err = totp.Verify(s, codeAt(0), t0, last, c)
	assert.ErrorIs(t, err, totp.ErrReplayed)
	_, err = totp.Verify(s, codeAt(0), t0.Add(30*time.Second), last, c)
	assert.ErrorIs(t, err, totp.ErrReplayed)

	// An older code after a newer one, though inside the window.
	_, err = totp.Verify(s, codeAt(-1), t0, last, c)
	assert.ErrorIs(t, err, totp.ErrReplayed)

	// The next step's code is fine, and then the current one is not any more.
	next, err := totp.Verify(s, codeAt(1), t0, last, c)
	require.NoError(t, err)
	assert.Equal(t, cur+1, next)
	_, err = totp.Verify(s, codeAt(0), t0, next, c)
	assert.ErrorIs(t, err, totp.ErrReplayed)
	_, err = totp.Verify(s, codeAt(1), t0.Add(30*time.Second), next, c)
	assert.ErrorIs(t, err, totp.ErrReplayed)

	// A wrong code stays a wrong code, whatever lastStep.
	_, err = totp.Verify(s, wrongCode(t, s, t0, c), t0, next, c)
	assert.ErrorIs(t, err, totp.ErrInvalidCode)

	// lastStep far ahead (a clock that was wrong once) blocks everything up to it.
	_, err = totp.Verify(s, codeAt(1), t0, cur+100, c)
	assert.ErrorIs(t, err, totp.ErrReplayed)
}

// wrongCode returns a 6-digit code that matches no step of the window at now.
func wrongCode(t *testing.T, s totp.Secret, now time.Time, c totp.Config) string {
	t.Helper()
	window := map[string]bool{}
	for d := -1; d <= 1; d++ {
		window[totp.Code(s, now.Add(time.Duration(d)*30*time.Second), c)] = true
	}
	for _, w := range []string{"000000", "123456", "999999", "314159"} {
		if !window[w] {
			return w
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// Spaces, as apps show codes ("123 456") and as copying brings them, are ignored.
func TestVerifyIgnoresSpaces(t *testing.T) {
	s := rfcSecret(t)
	code := totp.Code(s, t0, totp.Config{})
	for _, in := range []string{
		code[:3] + " " + code[3:],
		" " + code + " ",
		strings.Join(strings.Split(code, ""), " "),
		code[:3] + "\t" + code[3:],
		code[:3] + "\u00a0" + code[3:], // no-break space
	} {
		step, err := totp.Verify(s, in, t0, 0, totp.Config{})
		require.NoError(t, err, "%q", in)
		assert.Equal(t, stepOf(t0, totp.Config{}), step)
	}
}

func TestVerifyMalformed(t *testing.T) {
	s := rfcSecret(t)
	code := totp.Code(s, t0, totp.Config{})
	for name, in := range map[string]string{
		"empty":           "",
		"spaces only":     "      ",
		"five digits":     code[:5],
		"seven digits":    code + "0",
		"eight for six":   "12345678",
		"letter":          code[:5] + "a",
		"dash":            code[:3] + "-" + code[3:],
		"sign":            "+" + code[1:],
		"unicode digits":  "١٢٣٤٥٦", // Arabic-Indic
		"full-width":      "１２３４５６",
		"NUL":             code[:5] + "\x00",
		"lone 0xc2":       code + "\xc2",
		"other space":     code[:3] + "\u2003" + code[3:], // em space: not one we strip
		"very long":       strings.Repeat(" ", 100) + code,
		"invalid UTF-8":   code[:5] + "\xff",
		"newline between": code[:3] + "\n" + code[3:],
	} {
		t.Run(name, func(t *testing.T) {
			step, err := totp.Verify(s, in, t0, 0, totp.Config{})
			assert.ErrorIs(t, err, totp.ErrMalformedCode)
			assert.Zero(t, step)
		})
	}
	// 8 digits where 8 are configured are fine; 6 are not.
	c8 := totp.Config{Digits: 8}
	_, err := totp.Verify(s, totp.Code(s, t0, c8), t0, 0, c8)
	assert.NoError(t, err)
	_, err = totp.Verify(s, code, t0, 0, c8)
	assert.ErrorIs(t, err, totp.ErrMalformedCode)
}

// Invalid configurations and the zero Secret are errors, never an accepted code.
func TestVerifyRefusesBadInput(t *testing.T) {
	s := rfcSecret(t)
	code := totp.Code(s, t0, totp.Config{})
	for _, c := range []totp.Config{
		{Digits: 7}, {Digits: -6}, {Digits: 10},
		{Period: -time.Second}, {Period: 1500 * time.Millisecond}, {Period: totp.MaxPeriod + time.Second},
		{Algorithm: "MD5"}, {Algorithm: "sha1"},
		{Skew: 2}, {Skew: -2},
	} {
		_, err := totp.Verify(s, code, t0, 0, c)
		assert.ErrorIs(t, err, totp.ErrInvalidConfig, "%+v", c)
		var ce *totp.ConfigError
		assert.ErrorAs(t, err, &ce, "%+v", c)
		assert.ErrorIs(t, c.Validate(), totp.ErrInvalidConfig)
	}
	for _, c := range []totp.Config{{}, {Digits: 6}, {Digits: 8}, {Period: time.Second}, {Period: totp.MaxPeriod}, {Algorithm: totp.SHA256}, {Skew: totp.NoSkew}, {Skew: 1}} {
		assert.NoError(t, c.Validate(), "%+v", c)
	}
	_, err := totp.Verify(totp.Secret{}, code, t0, 0, totp.Config{})
	assert.ErrorIs(t, err, totp.ErrNoSecret)

	// A time before 1970: steps below 0 have no code and never match.
	_, err = totp.Verify(s, "755224", time.Unix(-45, 0), -10, totp.Config{}) // window: steps -3 to -1
	assert.ErrorIs(t, err, totp.ErrInvalidCode)
	step, err := totp.Verify(s, "755224", time.Unix(-15, 0), -1, totp.Config{})
	require.NoError(t, err, "step 0 is in the window of step -1")
	assert.Zero(t, step)
	// The far ends of time.Time do not panic.
	for _, now := range []time.Time{time.Unix(1<<62, 0), time.Unix(-1<<62, 0), {}} {
		_, err = totp.Verify(s, "123456", now, 0, totp.Config{Period: time.Second})
		assert.Error(t, err)
	}
}

// No error of Verify contains the code typed or the secret, in any form.
func TestVerifyErrorsHoldNoSecrets(t *testing.T) {
	s := rfcSecret(t)
	forms := secretForms(s.Bytes())
	c := totp.Config{}
	good := totp.Code(s, t0, c)
	last, err := totp.Verify(s, good, t0, 0, c)
	require.NoError(t, err)
	for _, in := range []string{good, wrongCode(t, s, t0, c), good[:4], good + "9", "12a456"} {
		_, err := totp.Verify(s, in, t0, last, c)
		require.Error(t, err)
		msg := err.Error()
		assert.NotContains(t, msg, in)
		assert.NotContains(t, msg, good)
		assertNoLeak(t, msg, forms, "error")
		assert.True(t, errors.Is(err, totp.ErrReplayed) || errors.Is(err, totp.ErrInvalidCode) || errors.Is(err, totp.ErrMalformedCode))
	}
}
