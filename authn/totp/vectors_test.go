package totp_test

import (
	"encoding/base32"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn/totp"
)

// secretOf returns the Secret holding key, through the import path (ParseSecret of
// padded base32), as a caller importing a key would.
func secretOf(t testing.TB, key []byte) totp.Secret {
	t.Helper()
	s, err := totp.ParseSecret(base32.StdEncoding.EncodeToString(key))
	require.NoError(t, err)
	return s
}

// RFC 4226 Appendix D: HOTP of the ASCII secret "12345678901234567890", counters 0-9.
func TestHOTPRFC4226(t *testing.T) {
	s := secretOf(t, []byte("12345678901234567890"))
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for counter, code := range want {
		assert.Equal(t, code, totp.HOTP(s, uint64(counter), 6, totp.SHA1), "counter %d", counter)
		assert.Equal(t, code, totp.HOTP(s, uint64(counter), 6, ""), "counter %d, default algorithm", counter)
	}
	// Appendix D's intermediate "Truncated" decimal values, of which the codes above are
	// the last 6 digits, give the 7- and 8-digit codes.
	truncated := []uint32{1284755224, 1094287082, 137359152, 1726969429, 1640338314, 868254676, 1918287922, 82162583, 673399871, 645520489}
	for counter, v := range truncated {
		assert.Equal(t, pad(v%1e7, 7), totp.HOTP(s, uint64(counter), 7, totp.SHA1), "counter %d", counter)
		assert.Equal(t, pad(v%1e8, 8), totp.HOTP(s, uint64(counter), 8, totp.SHA1), "counter %d", counter)
	}
}

func pad(v uint32, n int) string {
	s := strconv.FormatUint(uint64(v), 10)
	for len(s) < n {
		s = "0" + s
	}
	return s
}

// RFC 6238 Appendix B: 8-digit TOTP, 30-second steps, all six times, for SHA-1,
// SHA-256 and SHA-512.
//
// Erratum 2866: the table in Appendix B lists the 20-byte seed for every mode, but its
// values were computed, as the reference code in Appendix A does, with a seed as long
// as the hash output: the ASCII digits "1234567890" repeated to 20, 32 and 64 bytes.
func TestTOTPRFC6238(t *testing.T) {
	seeds := map[totp.Algorithm]string{
		totp.SHA1:   "12345678901234567890",
		totp.SHA256: "12345678901234567890123456789012",
		totp.SHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	vectors := []struct {
		unix int64
		step int64 // T in hex in the RFC
		want map[totp.Algorithm]string
	}{
		{59, 0x1, map[totp.Algorithm]string{totp.SHA1: "94287082", totp.SHA256: "46119246", totp.SHA512: "90693936"}},
		{1111111109, 0x23523EC, map[totp.Algorithm]string{totp.SHA1: "07081804", totp.SHA256: "68084774", totp.SHA512: "25091201"}},
		{1111111111, 0x23523ED, map[totp.Algorithm]string{totp.SHA1: "14050471", totp.SHA256: "67062674", totp.SHA512: "99943326"}},
		{1234567890, 0x273EF07, map[totp.Algorithm]string{totp.SHA1: "89005924", totp.SHA256: "91819424", totp.SHA512: "93441116"}},
		{2000000000, 0x3F940AA, map[totp.Algorithm]string{totp.SHA1: "69279037", totp.SHA256: "90698825", totp.SHA512: "38618901"}},
		{20000000000, 0x27BC86AA, map[totp.Algorithm]string{totp.SHA1: "65353130", totp.SHA256: "77737706", totp.SHA512: "47863826"}},
	}
	for _, v := range vectors {
		for alg, want := range v.want {
			t.Run(string(alg)+"/"+strconv.FormatInt(v.unix, 10), func(t *testing.T) {
				s := secretOf(t, []byte(seeds[alg]))
				c := totp.Config{Digits: 8, Algorithm: alg}
				at := time.Unix(v.unix, 0).UTC()
				assert.Equal(t, want, totp.Code(s, at, c))
				assert.Equal(t, want, totp.HOTP(s, uint64(v.step), 8, alg), "step %#x", v.step)

				// And Verify accepts it at that time, returning the RFC's step.
				step, err := totp.Verify(s, want, at, 0, c)
				require.NoError(t, err)
				assert.Equal(t, v.step, step)
			})
		}
	}
}

// HOTP refuses what it cannot compute with "", which no code equals.
func TestHOTPInvalidParameters(t *testing.T) {
	s := secretOf(t, []byte("12345678901234567890"))
	assert.Equal(t, "", totp.HOTP(s, 0, 5, totp.SHA1))
	assert.Equal(t, "", totp.HOTP(s, 0, 9, totp.SHA1))
	assert.Equal(t, "", totp.HOTP(s, 0, 6, "MD5"))
	assert.Equal(t, "", totp.HOTP(s, 0, 6, "sha1"), "names are exact, as in the key URI")
	assert.Equal(t, "", totp.HOTP(totp.Secret{}, 0, 6, totp.SHA1))

	assert.Equal(t, "", totp.Code(s, time.Unix(59, 0), totp.Config{Digits: 7}))
	assert.Equal(t, "", totp.Code(totp.Secret{}, time.Unix(59, 0), totp.Config{}))
	assert.Equal(t, "", totp.Code(s, time.Unix(-1, 0), totp.Config{}), "before 1970")
	assert.Equal(t, "287082", totp.Code(s, time.Unix(30, 0), totp.Config{}), "step 1 starts at 30 s")
	assert.Equal(t, "755224", totp.Code(s, time.Unix(29, 999999999), totp.Config{}), "step 0 ends before 30 s")
	assert.Equal(t, "287082", totp.Code(s, time.Unix(60, 0), totp.Config{Period: time.Minute}))
}
