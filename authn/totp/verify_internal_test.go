package totp

import (
	"crypto/sha1"
	"encoding/binary"
	"hash"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingHash records every 8-byte message (a counter) hashed through it.
type countingHash struct {
	hash.Hash
	seen *[]uint64
}

func (h countingHash) Write(p []byte) (int, error) {
	if len(p) == 8 {
		*h.seen = append(*h.seen, binary.BigEndian.Uint64(p))
	}
	return h.Hash.Write(p)
}

// Verify computes the code of every step of the window, whether the code matches the
// first step, the last, none, or only a replayed one: it never stops at the first
// match, so its running time does not tell which step matched. (Not parallel: it
// swaps the SHA-1 constructor.)
func TestVerifyDoesTheSameWorkWhateverMatches(t *testing.T) {
	var seen []uint64
	orig := hashFuncs[SHA1]
	hashFuncs[SHA1] = func() hash.Hash { return countingHash{sha1.New(), &seen} }
	t.Cleanup(func() { hashFuncs[SHA1] = orig })

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
