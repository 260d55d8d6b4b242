package token

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"regexp"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scannerPattern is the pattern the package doc gives secret scanners.
var scannerPattern = regexp.MustCompile(`^cst_[0-9A-Za-z]{61}$`)

func TestFormatRoundTrip(t *testing.T) {
	for range 200 {
		tenant := uuid.Must(uuid.NewV7())
		sec, hash, err := newSecret(rand.Reader, tenant)
		require.NoError(t, err)
		s := sec.Reveal()
		assert.Len(t, s, Len)
		assert.Regexp(t, scannerPattern, s, "secret scanners find it with the documented pattern")
		gotTenant, gotHash, err := Parse(s)
		require.NoError(t, err)
		assert.Equal(t, tenant, gotTenant)
		assert.Equal(t, hash, gotHash)
	}
}

func TestFormatKnownAnswer(t *testing.T) {
	// A fixed tenant and random part, so that the format cannot drift unnoticed.
	tenant := uuid.MustParse("01939f3e-7a00-7cde-8f00-0123456789ab")
	random := bytes.Repeat([]byte{0xa5}, randomLen)
	sec, hash, err := newSecret(bytes.NewReader(random), tenant)
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(random), hash, "the stored hash is SHA-256 of the random part")
	// Computed independently (Python: int.from_bytes per 8-byte word, base62 digits,
	// zlib.crc32 of the body).
	const want = "cst_" + "08OKd4FQrF8" + "CHBVyJ5YfAx" + "EDjau80LF0H" + "EDjau80LF0H" + "EDjau80LF0H" + "1IdMDY"
	assert.Equal(t, want, sec.Reveal())
	_, _, err = Parse(sec.Reveal())
	require.NoError(t, err)
}

// TestEverySingleChangeFails changes each character of tokens into every other byte
// value: none parses.
func TestEverySingleChangeFails(t *testing.T) {
	for range 5 {
		sec, _, err := newSecret(rand.Reader, uuid.Must(uuid.NewV7()))
		require.NoError(t, err)
		s := []byte(sec.Reveal())
		for i := range s {
			orig := s[i]
			for c := 0; c < 256; c++ {
				if byte(c) == orig {
					continue
				}
				s[i] = byte(c)
				_, _, err := Parse(string(s))
				if !assert.ErrorIs(t, err, ErrInvalid, "position %d changed to %q", i, c) {
					return
				}
			}
			s[i] = orig
		}
	}
}

func TestParseRefuses(t *testing.T) {
	sec, _, err := newSecret(rand.Reader, uuid.Must(uuid.NewV7()))
	require.NoError(t, err)
	good := sec.Reveal()
	var nilTenant [rawLen]byte
	cases := map[string]struct {
		in   string
		want error
	}{
		"empty":            {"", ErrMalformed},
		"prefix only":      {Prefix, ErrMalformed},
		"truncated":        {good[:Len-1], ErrMalformed},
		"extended":         {good + "0", ErrMalformed},
		"other prefix":     {"ghp_" + good[4:], ErrMalformed},
		"upper prefix":     {"CST_" + good[4:], ErrMalformed},
		"word overflow":    {Prefix + "zzzzzzzzzzz" + good[15:], ErrMalformed},
		"checksum too big": {good[:Len-crcLen] + "zzzzzz", ErrMalformed},
		"nil tenant":       {encode(&nilTenant), ErrMalformed},
		"swapped halves":   {Prefix + good[15:59] + good[4:15] + good[59:], ErrChecksum},
		"space":            {good[:30] + " " + good[31:], ErrMalformed},
		"link token":       {"csinv_" + good[6:], ErrMalformed},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := Parse(c.in)
			assert.ErrorIs(t, err, c.want)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.NotContains(t, fmt.Sprint(err), good[4:20], "errors never echo the token")
		})
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	sec, _, err := newSecret(rand.Reader, uuid.Must(uuid.NewV7()))
	require.NoError(t, err)
	s := sec.Reveal()
	bad := s[:40] + "0" + s[41:]
	allocs := testing.AllocsPerRun(100, func() {
		_, _, _ = Parse(s)
		_, _, _ = Parse(bad)
	})
	assert.Zero(t, allocs)
}

func TestSecretRedacts(t *testing.T) {
	sec, _, err := newSecret(rand.Reader, uuid.Must(uuid.NewV7()))
	require.NoError(t, err)
	raw := sec.Reveal()
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("issued", "token", sec, "wrapped", struct{ S Secret }{sec})
	js, err := json.Marshal(map[string]any{"token": sec, "ptr": &sec})
	require.NoError(t, err)
	txt, err := sec.MarshalText()
	require.NoError(t, err)
	for _, out := range []string{
		fmt.Sprint(sec), fmt.Sprintf("%v %+v %#v %s %q %x", sec, sec, sec, sec, sec, sec),
		fmt.Sprintf("%v", struct{ S Secret }{sec}), fmt.Sprintf("%+v", &sec),
		logged.String(), string(js), string(txt), sec.String(), sec.GoString(), sec.LogValue().String(),
	} {
		assert.NotContains(t, out, raw)
		assert.NotContains(t, out, raw[4:24])
		assert.Contains(t, out, redacted)
	}
	assert.False(t, sec.IsZero())
	assert.True(t, Secret{}.IsZero())
}

func TestLooks(t *testing.T) {
	sec, _, err := newSecret(rand.Reader, uuid.Must(uuid.NewV7()))
	require.NoError(t, err)
	for _, s := range []string{sec.Reveal(), "x=" + sec.Reveal(), "cst_A", "/api/cst_0abc"} {
		assert.True(t, Looks(s), s)
	}
	for _, s := range []string{"", "cst_", "cst_-", "acme", "custom_thing", "cs_t_abc"} {
		assert.False(t, Looks(s), s)
	}
}

// FuzzParse: Parse never panics; a string it accepts is a token (prefix, length,
// alphabet); and a valid token built from any bytes parses back to them while every
// single changed character fails.
func FuzzParse(f *testing.F) {
	sec, _, _ := newSecret(rand.Reader, uuid.Must(uuid.NewV7()))
	f.Add(sec.Reveal(), []byte("0123456789abcdef0123456789abcdef01234567"), 5, byte('x'))
	f.Add("cst_", []byte{1}, 0, byte(0))
	f.Add("", []byte{}, 64, byte('z'))
	f.Add("", []byte{}, math.MinInt, byte('z')) // -pos overflows: the harness must not index with it
	f.Fuzz(func(t *testing.T, s string, seed []byte, pos int, c byte) {
		if _, _, err := Parse(s); err == nil {
			if len(s) != Len || !scannerPattern.MatchString(s) {
				t.Fatalf("accepted a non-token %q", s)
			}
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}

		var raw [rawLen]byte
		copy(raw[:], seed)
		raw[0] |= 1 // a non-nil tenant
		tok := encode(&raw)
		tenant, hash, err := Parse(tok)
		if err != nil {
			t.Fatalf("a valid token failed: %v", err)
		}
		if !bytes.Equal(tenant[:], raw[:16]) || hash != sha256.Sum256(raw[16:]) {
			t.Fatal("round trip lost the tenant or the hash")
		}
		pos = int(uint(pos) % uint(Len)) // any int, math.MinInt included
		if tok[pos] == c {
			return
		}
		b := []byte(tok)
		b[pos] = c
		if _, _, err := Parse(string(b)); err == nil {
			t.Fatalf("changing position %d to %q was not detected", pos, c)
		}
	})
}

func TestCRCMatchesHashCRC32(t *testing.T) {
	for n := 0; n < 200; n++ {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		assert.Equal(t, crc32.ChecksumIEEE(b), crcString(string(b)), "length %d", n)
	}
}

func FuzzCRC(f *testing.F) {
	f.Add("")
	f.Add("0123456789abcdefghij")
	f.Fuzz(func(t *testing.T, s string) {
		if crc32.ChecksumIEEE([]byte(s)) != crcString(s) {
			t.Fatalf("crcString(%q) differs from hash/crc32", s)
		}
	})
}
