package totp_test

import (
	"bytes"
	"crypto/sha256"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn/totp"
)

var recoveryRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$`)

func TestNewRecoveryCodes(t *testing.T) {
	codes, err := totp.NewRecoveryCodes(nil, totp.DefaultRecoveryCodes)
	require.NoError(t, err)
	require.Len(t, codes, 10)
	for _, c := range codes {
		assert.Regexp(t, recoveryRE, c.Reveal(), "Crockford base32, four groups of five")
		assert.False(t, c.IsZero())
	}
	assert.GreaterOrEqual(t, totp.RecoveryCodeBits, 80)
	assert.Equal(t, 100, totp.RecoveryCodeBits)

	for _, n := range []int{0, -1, totp.MaxRecoveryCodes + 1} {
		_, err := totp.NewRecoveryCodes(nil, n)
		assert.ErrorIs(t, err, totp.ErrRecoveryCount, n)
	}
	_, err = totp.NewRecoveryCodes(failingReader{}, 3)
	assert.ErrorIs(t, err, totp.ErrRandom)
	_, err = totp.NewRecoveryCodes(bytes.NewReader(make([]byte, 59)), 3)
	assert.ErrorIs(t, err, totp.ErrRandom, "a short read")
	_, err = totp.NewRecoveryCodes(bytes.NewReader(make([]byte, 1000)), 2)
	assert.ErrorIs(t, err, totp.ErrRandom, "a source that repeats itself gives equal codes")
}

// Each code carries 100 bits: 20 bytes of the source are consumed per code, each
// character takes exactly the low 5 bits of one byte, and every symbol shows up in
// every position over many codes.
func TestRecoveryCodeEntropy(t *testing.T) {
	// A known source: exactly 20 bytes are read per code, and each character is the
	// alphabet symbol of a byte's low 5 bits.
	raw := make([]byte, 3*20)
	for i := range raw {
		raw[i] = byte(i*7 + 32*(i%8)) // high bits vary and must not matter
	}
	r := bytes.NewReader(append(raw, 0xEE))
	codes, err := totp.NewRecoveryCodes(r, 3)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Len(), "20 bytes per code")
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	for i, c := range codes {
		plain := strings.ReplaceAll(c.Reveal(), "-", "")
		for j := range 20 {
			assert.Equal(t, alphabet[raw[i*20+j]&31], plain[j], "code %d char %d", i, j)
		}
	}

	// Over crypto/rand, every position takes every one of the 32 symbols.
	var seen [20]map[byte]bool
	for i := range seen {
		seen[i] = map[byte]bool{}
	}
	for range 20 {
		codes, err := totp.NewRecoveryCodes(nil, totp.MaxRecoveryCodes)
		require.NoError(t, err)
		for _, c := range codes {
			plain := strings.ReplaceAll(c.Reveal(), "-", "")
			for j := range plain {
				seen[j][plain[j]] = true
			}
		}
	}
	for j := range seen {
		assert.Len(t, seen[j], 32, "position %d", j) // P(miss) ≈ 32·(31/32)^2000: nil
	}
}

// No two of 20,000 codes are equal, within a set or across sets.
func TestRecoveryCodesUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		codes, err := totp.NewRecoveryCodes(nil, totp.MaxRecoveryCodes)
		require.NoError(t, err)
		for _, c := range codes {
			require.False(t, seen[c.Reveal()], "duplicate code")
			seen[c.Reveal()] = true
		}
	}
	assert.Len(t, seen, 20000)
}

func TestHashRecoveryCodeNormalises(t *testing.T) {
	canonical := "01ABC-DEF1G-H0JKM-NPQRS"
	want := sha256.Sum256([]byte("01ABCDEF1GH0JKMNPQRS"))
	require.Equal(t, want[:], totp.HashRecoveryCode(canonical))
	for _, typed := range []string{
		"01abc-def1g-h0jkm-npqrs",   // lower case
		"01ABCDEF1GH0JKMNPQRS",      // no dashes
		"01ABC DEF1G H0JKM NPQRS",   // spaces
		" 01abc def1g-h0jkm npqrs ", // a mix
		"O1ABC-DEF1G-HOJKM-NPQRS",   // O typed for 0
		"oIABC-DEFLG-HoJKM-NPQRS",   // o for 0, I and L for 1
		"0lABC-DEFiG-H0JKM-NPQRS",   // lower-case l and i
		"01A-BC-DEF1G-H0-JKM-NPQRS", // dashes anywhere
	} {
		assert.Equal(t, want[:], totp.HashRecoveryCode(typed), "%q", typed)
	}
	// Different codes hash differently; U is not read as anything.
	for _, other := range []string{"01ABC-DEF1G-H0JKM-NPQRT", "01ABC-DEF1G-H0JKM-NPQR", "01ABC-DEF1G-H0JKM-NPQRSU", ""} {
		assert.NotEqual(t, want[:], totp.HashRecoveryCode(other), "%q", other)
	}
	assert.Len(t, totp.HashRecoveryCode(canonical), 32)
}

// The empty code, the zero RecoveryCode and anything that is not a recovery code's
// shape have no hash, and match nothing: not a stored SHA-256 of the empty string, not
// a nil or empty stored value (review #14; authboss#351).
func TestEmptyOrMalformedRecoveryCodeMatchesNothing(t *testing.T) {
	emptySum := sha256.Sum256(nil)
	codes, err := totp.NewRecoveryCodes(nil, 3)
	require.NoError(t, err)
	stored := [][]byte{emptySum[:], nil, {}, codes[0].Hash(), codes[1].Hash()}
	assert.Nil(t, totp.RecoveryCode{}.Hash(), "the zero code has no hash")
	for _, in := range []string{
		"", " ", "-", "----", " - - ", "\t", "\u00a0",
		strings.Repeat("0", 19), strings.Repeat("0", 21), // one short, one long
		strings.Repeat("A", 10000),     // very long
		"UUUUU-UUUUU-UUUUU-UUUUU",      // U is not in the alphabet
		"01ABC-DEF1G-H0JKM-NPQR\u00e9", // not ASCII
		codes[0].Reveal() + "0",        // a real code with more
		codes[0].Reveal()[:22],         // a real code cut short
		codes[2].Reveal(),              // another set's code
	} {
		if in == codes[2].Reveal() {
			continue // well-formed, checked below
		}
		assert.Nil(t, totp.HashRecoveryCode(in), "%q", in)
		idx, ok := totp.MatchRecoveryCode(in, stored)
		assert.False(t, ok, "%q", in)
		assert.Equal(t, -1, idx)
	}
	_, ok := totp.MatchRecoveryCode(codes[2].Reveal(), stored)
	assert.False(t, ok, "a code not in the set")
	idx, ok := totp.MatchRecoveryCode(codes[1].Reveal(), stored)
	assert.True(t, ok)
	assert.Equal(t, 4, idx)
}

func TestMatchRecoveryCode(t *testing.T) {
	codes, err := totp.NewRecoveryCodes(nil, 10)
	require.NoError(t, err)
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		hashes[i] = c.Hash()
		assert.Equal(t, totp.HashRecoveryCode(c.Reveal()), hashes[i])
	}
	for i, c := range codes {
		idx, ok := totp.MatchRecoveryCode(c.Reveal(), hashes)
		assert.True(t, ok)
		assert.Equal(t, i, idx)
		idx, ok = totp.MatchRecoveryCode(strings.ToLower(strings.ReplaceAll(c.Reveal(), "-", " ")), hashes)
		assert.True(t, ok, "typed loosely")
		assert.Equal(t, i, idx)
	}

	// Single use: the caller removes the matched hash; the code then fails.
	idx, ok := totp.MatchRecoveryCode(codes[4].Reveal(), hashes)
	require.True(t, ok)
	hashes = append(hashes[:idx], hashes[idx+1:]...)
	_, ok = totp.MatchRecoveryCode(codes[4].Reveal(), hashes)
	assert.False(t, ok)
	idx, ok = totp.MatchRecoveryCode(codes[9].Reveal(), hashes)
	assert.True(t, ok)
	assert.Equal(t, 8, idx)

	// No match: -1, false; also with empty, nil and odd-length stored hashes.
	for _, hs := range [][][]byte{hashes, nil, {}, {nil, {}, {1, 2, 3}}} {
		idx, ok = totp.MatchRecoveryCode("ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ", hs)
		assert.False(t, ok)
		assert.Equal(t, -1, idx)
	}
	idx, ok = totp.MatchRecoveryCode("", [][]byte{nil, {}})
	assert.False(t, ok, "the empty code matches no stored hash")
	assert.Equal(t, -1, idx)

	// With a duplicated hash the first index is reported.
	h := codes[0].Hash()
	idx, ok = totp.MatchRecoveryCode(codes[0].Reveal(), [][]byte{codes[1].Hash(), h, h})
	assert.True(t, ok)
	assert.Equal(t, 1, idx)
}

func TestRecoveryCodeRedaction(t *testing.T) {
	codes, err := totp.NewRecoveryCodes(nil, 2)
	require.NoError(t, err)
	c := codes[0]
	plain := strings.ReplaceAll(c.Reveal(), "-", "")
	forms := []string{c.Reveal(), plain, plain[:10], strings.ToLower(plain), c.Reveal()[:11]}
	type unexported struct{ code totp.RecoveryCode }
	for name, v := range map[string]any{
		"value": c, "pointer": &c, "slice": codes, "unexported field": unexported{c},
		"exported field": struct{ Code totp.RecoveryCode }{c},
	} {
		t.Run(name, func(t *testing.T) { redactionCases(t, v, forms) })
	}
	assert.Equal(t, "[REDACTED]", c.String())
	assert.Equal(t, "[REDACTED]", c.GoString())
	assert.Equal(t, "[REDACTED]", c.LogValue().String())
	b, err := c.MarshalJSON()
	require.NoError(t, err)
	assert.Equal(t, `"[REDACTED]"`, string(b))
	b, err = c.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "[REDACTED]", string(b))
	assert.True(t, totp.RecoveryCode{}.IsZero())
	assert.Equal(t, "", totp.RecoveryCode{}.Reveal())
}
