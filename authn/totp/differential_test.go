package totp_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn/totp"
)

// A differential test of three implementations: for random secrets (16 to 64 bytes)
// and random times (1970 to 2106), under every algorithm, 6 and 8 digits and 30 and
// 60 s steps, callshield's Code equals pquerna/otp's totp.GenerateCodeCustom (the
// whole-TOTP path of the library, which computes its step on its own) and oathtool's
// code; Verify accepts that code at that time, returning its step, and pquerna's
// totp.ValidateCustom accepts callshield's.
func TestCodeDifferentialPquernaOathtool(t *testing.T) {
	bin := oathtool(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x64696666))
	algs := map[totp.Algorithm]otp.Algorithm{totp.SHA1: otp.AlgorithmSHA1, totp.SHA256: otp.AlgorithmSHA256, totp.SHA512: otp.AlgorithmSHA512}
	names := []totp.Algorithm{totp.SHA1, totp.SHA256, totp.SHA512}
	const n = 36
	for i := range n {
		key := make([]byte, 16+rng.IntN(49))
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		s := secretOf(t, key)
		c := totp.Config{Algorithm: names[i%3], Digits: []int{6, 8}[i/3%2], Period: []time.Duration{30 * time.Second, time.Minute}[i/6%2]}
		at := time.Unix(rng.Int64N(1<<32), 0).UTC()
		period := uint(c.Period / time.Second)

		ours := totp.Code(s, at, c)
		theirs, err := pqtotp.GenerateCodeCustom(s.Base32(), at, pqtotp.ValidateOpts{Period: period, Digits: otp.Digits(c.Digits), Algorithm: algs[c.Algorithm]})
		require.NoError(t, err)
		tool := runOathtool(t, bin, s, "--totp="+string(c.Algorithm), "-d", strconv.Itoa(c.Digits),
			"-s", fmt.Sprintf("%ds", period), "--now", at.Format("2006-01-02 15:04:05 UTC"))
		require.Len(t, ours, c.Digits)
		assert.Equal(t, theirs, ours, "case %d: pquerna, %s/%d/%v at %v", i, c.Algorithm, c.Digits, c.Period, at)
		assert.Equal(t, tool, ours, "case %d: oathtool, %s/%d/%v at %v", i, c.Algorithm, c.Digits, c.Period, at)

		step, err := totp.Verify(s, tool, at, 0, c)
		if assert.NoError(t, err, "case %d", i) {
			assert.Equal(t, at.Unix()/int64(period), step)
		}
		ok, err := pqtotp.ValidateCustom(ours, s.Base32(), at, pqtotp.ValidateOpts{Period: period, Digits: otp.Digits(c.Digits), Algorithm: algs[c.Algorithm]})
		require.NoError(t, err)
		assert.True(t, ok, "case %d: pquerna accepts callshield's code", i)
	}
}
