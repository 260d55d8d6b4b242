package totp_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn/totp"
)

// oathtool returns the path of the oathtool binary (Debian package oathtool, from
// OATH Toolkit), or skips the test when it is missing, unless
// CALLSHIELD_REQUIRE_OATHTOOL is set (as in CI), in which case the test fails.
func oathtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CALLSHIELD_REQUIRE_OATHTOOL") != "" {
			t.Fatalf("oathtool not found and CALLSHIELD_REQUIRE_OATHTOOL is set: %v", err)
		}
		t.Skip("oathtool not installed (apt-get install oathtool); set CALLSHIELD_REQUIRE_OATHTOOL to make this a failure")
	}
	return path
}

// runOathtool runs oathtool with the key on standard input (the KEY argument "-"),
// so that the secret never appears in a process listing, and returns its output line.
func runOathtool(t *testing.T, bin string, key totp.Secret, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append(args, "-b", "-")...)
	cmd.Stdin = strings.NewReader(key.Base32())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "oathtool %v: %s", args, stderr.String())
	return strings.TrimSpace(string(out))
}

// Code agrees with oathtool for random secrets (16 to 64 bytes), times (1970 to 2106,
// past the 32-bit rollover), 6 and 8 digits, 30- and 60-second steps, and SHA-1,
// SHA-256 and SHA-512; and Verify accepts oathtool's codes.
func TestCodeMatchesOathtool(t *testing.T) {
	bin := oathtool(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed) // to reproduce a failure
	rng := rand.New(rand.NewPCG(seed, 0x70747031))

	algs := []totp.Algorithm{totp.SHA1, totp.SHA256, totp.SHA512}
	const n = 54 // each of the 12 combinations of algorithm, digits and period 4 or 5 times
	checked := 0
	for i := range n {
		key := make([]byte, 16+rng.IntN(49))
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		s := secretOf(t, key)
		c := totp.Config{
			Algorithm: algs[i%3],
			Digits:    []int{6, 8}[i/3%2],
			Period:    []time.Duration{30 * time.Second, time.Minute}[i/6%2],
		}
		at := time.Unix(rng.Int64N(1<<32), 0).UTC()
		want := runOathtool(t, bin, s,
			"--totp="+string(c.Algorithm),
			"-d", strconv.Itoa(c.Digits),
			"-s", fmt.Sprintf("%ds", int(c.Period.Seconds())),
			"--now", at.Format("2006-01-02 15:04:05 UTC"))
		require.Len(t, want, c.Digits)
		assert.Equal(t, want, totp.Code(s, at, c), "case %d: %s/%d/%v at %v, %d-byte key", i, c.Algorithm, c.Digits, c.Period, at, len(key))

		// oathtool's code one step early is still accepted (skew), as its step.
		prev := runOathtool(t, bin, s,
			"--totp="+string(c.Algorithm),
			"-d", strconv.Itoa(c.Digits),
			"-s", fmt.Sprintf("%ds", int(c.Period.Seconds())),
			"--now", at.Add(-c.Period).Format("2006-01-02 15:04:05 UTC"))
		step, err := totp.Verify(s, prev, at, 0, c)
		if assert.NoError(t, err, "case %d", i) {
			assert.Equal(t, at.Unix()/int64(c.Period.Seconds())-1, step)
		}
		checked++
	}
	assert.Equal(t, n, checked)
	t.Logf("%d TOTP codes checked against %s", checked, bin)
}

// HOTP agrees with oathtool --hotp for random secrets, counters and 6 to 8 digits
// (oathtool's HOTP mode is HMAC-SHA-1 only).
func TestHOTPMatchesOathtool(t *testing.T) {
	bin := oathtool(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x686f7470))
	const n = 24
	for i := range n {
		key := make([]byte, 16+rng.IntN(49))
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		s := secretOf(t, key)
		counter := rng.Uint64N(1 << 40)
		if i < 3 {
			counter = uint64(i) // the smallest counters too
		}
		digits := 6 + i%3
		want := runOathtool(t, bin, s, "--hotp", "-c", strconv.FormatUint(counter, 10), "-d", strconv.Itoa(digits))
		require.Len(t, want, digits)
		assert.Equal(t, want, totp.HOTP(s, counter, digits, totp.SHA1), "case %d: counter %d, %d digits", i, counter, digits)
	}
	t.Logf("%d HOTP codes checked against %s", n, bin)
}
