package totp

import (
	"testing"
	"time"

	"github.com/pquerna/otp/hotp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Verify computes the code of every step of the window, whether the code matches the
// first step, the last, none, or only a replayed one: it never stops at the first
// match, so its running time does not tell which step matched. (Not parallel: it
// swaps the step function.)
func TestVerifyDoesTheSameWorkWhateverMatches(t *testing.T) {
	var seen []uint64
	orig := stepCode
	stepCode = func(secret string, counter uint64, opts hotp.ValidateOpts) (string, error) {
		seen = append(seen, counter)
		return orig(secret, counter, opts)
	}
	t.Cleanup(func() { stepCode = orig })

	s := secretFrom([]byte("12345678901234567890"))
	now := time.Date(2026, 3, 14, 9, 26, 45, 0, time.UTC)
	cur := now.Unix() / 30
	code := func(st int64) string { return HOTP(s, uint64(st), 6, SHA1) }
	cases := map[string]struct {
		code string
		last int64
		err  error
	}{
		"first step matches": {code(cur - 1), 0, nil},
		"middle step":        {code(cur), 0, nil},
		"last step":          {code(cur + 1), 0, nil},
		"no step":            {"000000", 0, ErrInvalidCode},
		"replayed":           {code(cur - 1), cur, ErrReplayed},
	}
	for name, tc := range cases {
		if tc.code == "000000" {
			require.NotContains(t, []string{code(cur - 1), code(cur), code(cur + 1)}, tc.code)
		}
		seen = nil
		_, err := Verify(s, tc.code, now, tc.last, Config{})
		assert.ErrorIs(t, err, tc.err, name)
		assert.Equal(t, []uint64{uint64(cur - 1), uint64(cur), uint64(cur + 1)}, seen, name)
	}
}

// If pquerna/otp ever refused to compute a step, Verify denies (fails closed) even
// when another step of the window matches.
func TestVerifyFailsClosedWhenAStepCannotBeComputed(t *testing.T) {
	orig := stepCode
	s := secretFrom([]byte("12345678901234567890"))
	now := time.Date(2026, 3, 14, 9, 26, 45, 0, time.UTC)
	cur := uint64(now.Unix() / 30)
	good := HOTP(s, cur, 6, SHA1)
	stepCode = func(secret string, counter uint64, opts hotp.ValidateOpts) (string, error) {
		if counter == cur+1 {
			return "", assert.AnError
		}
		return orig(secret, counter, opts)
	}
	t.Cleanup(func() { stepCode = orig })
	_, err := Verify(s, good, now, 0, Config{})
	assert.ErrorIs(t, err, ErrInvalidCode)
}
