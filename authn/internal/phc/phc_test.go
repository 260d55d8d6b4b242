package phc

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Vectors made with the reference implementation (Debian package argon2,
// phc-winner-argon2 20171227): echo -n PASSWORD | argon2 SALT -id -t T -k M -p P -l L -e
var referenceVectors = []string{
	"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQxMjM0NTY3OA$iqbHhgtqJMWWf23kIatRWniYNRyhFWif/l6I+m/2Exw",
	"$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
	"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$WnRd40vPp3ZXIAnvxDdNsA",
}

func TestParseReference(t *testing.T) {
	h, err := Parse(referenceVectors[0])
	require.NoError(t, err)
	assert.Equal(t, uint32(19456), h.Memory)
	assert.Equal(t, uint32(2), h.Time)
	assert.Equal(t, uint8(1), h.Threads)
	assert.Equal(t, []byte("somesalt12345678"), h.Salt)
	assert.Len(t, h.Key, 32)
	for _, v := range referenceVectors {
		h, err := Parse(v)
		require.NoError(t, err, v)
		assert.Equal(t, v, h.String(), "round trip")
	}
}

func TestParseRejects(t *testing.T) {
	const salt, key = "c29tZXNhbHQxMjM0NTY3OA", "iqbHhgtqJMWWf23kIatRWniYNRyhFWif/l6I+m/2Exw"
	ok := "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key
	_, err := Parse(ok)
	require.NoError(t, err)
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrMalformed},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"no version (v=16)", "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"version 16", "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key, ErrVersion},
		{"parameter order", "$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key, ErrMalformed},
		{"extra parameter", "$argon2id$v=19$m=19456,t=2,p=1,keyid=abc$" + salt + "$" + key, ErrMalformed},
		{"leading zero", "$argon2id$v=19$m=019456,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"sign", "$argon2id$v=19$m=+19456,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"overflow", "$argon2id$v=19$m=99999999999,t=2,p=1$" + salt + "$" + key, ErrMalformed},
		{"memory over 1 GiB", "$argon2id$v=19$m=1048577,t=2,p=1$" + salt + "$" + key, ErrOutOfRange},
		{"memory below 8p", "$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key, ErrOutOfRange},
		{"time 0", "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key, ErrOutOfRange},
		{"time 101", "$argon2id$v=19$m=19456,t=101,p=1$" + salt + "$" + key, ErrOutOfRange},
		{"threads 0", "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key, ErrOutOfRange},
		{"threads 65", "$argon2id$v=19$m=19456,t=2,p=65$" + salt + "$" + key, ErrOutOfRange},
		{"threads 256", "$argon2id$v=19$m=19456,t=2,p=256$" + salt + "$" + key, ErrOutOfRange},
		{"padding", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key, ErrMalformed},
		{"newline in base64", "$argon2id$v=19$m=19456,t=2,p=1$" + salt[:4] + "\n" + salt[4:] + "$" + key, ErrMalformed},
		{"non-canonical trailing bits", "$argon2id$v=19$m=19456,t=2,p=1$" + salt[:len(salt)-1] + "B$" + key, ErrMalformed},
		{"url alphabet", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + strings.ReplaceAll(key, "/", "_"), ErrMalformed},
		{"short salt", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key, ErrOutOfRange},
		{"short key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$c2hvcnRrZXk", ErrOutOfRange},
		{"missing key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt, ErrMalformed},
		{"trailing field", ok + "$", ErrMalformed},
		{"too long", ok + strings.Repeat("A", 300), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

// FuzzParsePHC: Parse never panics; what it accepts is within bounds and re-encodes to
// exactly the input (one spelling per hash); its errors never quote the input.
func FuzzParsePHC(f *testing.F) {
	for _, v := range referenceVectors {
		f.Add(v)
	}
	f.Add("$argon2id$v=19$m=1048576,t=100,p=64$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=16$m=8,t=1,p=1$$")
	f.Add("$2b$10$abcdefghijklmnopqrstuu")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Parse(s)
		if err != nil {
			if len(s) > 12 && strings.Contains(err.Error(), s) {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		if err := h.Check(); err != nil {
			t.Fatalf("accepted out-of-range parameters: %+v", h)
		}
		if got := h.String(); got != s {
			t.Fatalf("round trip: %q -> %q", s, got)
		}
	})
}
