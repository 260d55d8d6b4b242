package totp_test

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn/totp"
)

// secretForms returns the ways a key could leak in text: raw, hex (both cases),
// base32 (padded and not), base64, and Go's byte-slice syntax.
func secretForms(key []byte) []string {
	forms := []string{
		string(key),
		hex.EncodeToString(key),
		strings.ToUpper(hex.EncodeToString(key)),
		base32.StdEncoding.EncodeToString(key),
		strings.TrimRight(base32.StdEncoding.EncodeToString(key), "="),
		base64.StdEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key),
		fmt.Sprint(key[:8]), // "[1 2 3 ...": the start of %v of a []byte
	}
	return forms
}

func assertNoLeak(t *testing.T, out string, forms []string, how string) {
	t.Helper()
	for _, f := range forms {
		if f != "" {
			assert.NotContains(t, out, f, how)
		}
	}
}

// redactionCases prints v in every way a log line or a response could, and checks that
// none shows the secret. It is shared by Secret and RecoveryCode.
func redactionCases(t *testing.T, v any, forms []string) {
	t.Helper()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10.3s", "%08b"} {
		out := fmt.Sprintf(verb, v)
		assertNoLeak(t, out, forms, verb)
	}
	assertNoLeak(t, fmt.Sprint(v), forms, "Sprint")
	assertNoLeak(t, fmt.Sprintln(v), forms, "Sprintln")

	var jsonBuf, textBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonBuf, nil)).Info("enroll", "s", v, slog.Any("any", v), slog.Group("g", "s", v))
	slog.New(slog.NewTextHandler(&textBuf, nil)).Info("enroll", "s", v, slog.Any("any", v), slog.Group("g", "s", v))
	assertNoLeak(t, jsonBuf.String(), forms, "slog JSON")
	assertNoLeak(t, textBuf.String(), forms, "slog text")

	if b, err := json.Marshal(v); err == nil {
		assertNoLeak(t, string(b), forms, "json")
	}
	if b, err := xml.Marshal(struct{ V any }{v}); err == nil {
		assertNoLeak(t, string(b), forms, "xml")
	}
}

// A Secret never shows its key through fmt (every verb), log/slog (JSON and text),
// encoding/json or encoding/xml, alone or inside structs, slices, maps and pointers
// (ASVS 16.2.5).
func TestSecretRedaction(t *testing.T) {
	s, err := totp.NewSecret(nil)
	require.NoError(t, err)
	forms := secretForms(s.Bytes())

	type exported struct {
		User   string
		Secret totp.Secret
	}
	type unexported struct {
		user   string
		secret totp.Secret
	}
	values := map[string]any{
		"value":              s,
		"pointer":            &s,
		"exported field":     exported{"ann@example.com", s},
		"exported field ptr": &exported{"ann@example.com", s},
		"unexported field":   unexported{"ann@example.com", s},
		"unexported ptr":     &unexported{"ann@example.com", s},
		"slice":              []totp.Secret{s},
		"map":                map[string]totp.Secret{"s": s},
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) { redactionCases(t, v, forms) })
	}

	// Each method writes exactly the marker.
	assert.Equal(t, "[REDACTED]", s.String())
	assert.Equal(t, "[REDACTED]", s.GoString())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		assert.Equal(t, "[REDACTED]", fmt.Sprintf(verb, s), verb)
	}
	assert.Equal(t, "[REDACTED]", s.LogValue().String())
	b, err := json.Marshal(exported{Secret: s})
	require.NoError(t, err)
	assert.JSONEq(t, `{"User":"","Secret":"[REDACTED]"}`, string(b))
	b, err = s.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "[REDACTED]", string(b))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "s", s)
	assert.Contains(t, buf.String(), `"s":"[REDACTED]"`)
	buf.Reset()
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "s", s)
	assert.Contains(t, buf.String(), `s=[REDACTED]`)
}

func TestNewSecret(t *testing.T) {
	s, err := totp.NewSecret(nil)
	require.NoError(t, err)
	assert.Len(t, s.Bytes(), 20, "160 bits (RFC 4226 §4, ASVS 6.5.3)")
	assert.Equal(t, 160, totp.SecretBytes*8)

	// crypto/rand by default: two secrets differ.
	s2, err := totp.NewSecret(nil)
	require.NoError(t, err)
	assert.False(t, s.Equal(s2))
	assert.NotEqual(t, s.Bytes(), s2.Bytes())

	// An injected reader is used as is, and exactly 20 bytes are read.
	src := bytes.NewReader(bytes.Repeat([]byte{0xAB}, 25))
	s3, err := totp.NewSecret(src)
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte{0xAB}, 20), s3.Bytes())
	assert.Equal(t, 5, src.Len())

	// A short or failing reader is an error, never a short secret.
	_, err = totp.NewSecret(bytes.NewReader(make([]byte, 19)))
	assert.ErrorIs(t, err, totp.ErrRandom)
	_, err = totp.NewSecret(failingReader{})
	assert.ErrorIs(t, err, totp.ErrRandom)
	assert.ErrorIs(t, err, errBroken)
}

var errBroken = errors.New("broken source")

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errBroken }

// Bytes is a copy: changing it does not change the Secret.
func TestSecretBytesIsACopy(t *testing.T) {
	s := totp.MustParseSecret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
	b := s.Bytes()
	b[0] ^= 0xff
	assert.Equal(t, []byte("12345678901234567890"), s.Bytes())
	assert.True(t, totp.Secret{}.IsZero())
	assert.False(t, s.IsZero())
	assert.Equal(t, "", totp.Secret{}.Base32())
	assert.Empty(t, totp.Secret{}.Bytes())
}

func TestParseSecret(t *testing.T) {
	want := []byte("12345678901234567890")
	accepted := map[string]string{
		"canonical":       "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
		"lower case":      "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
		"mixed case":      "GezdGNBVgy3tqOJQGEZDGNBVGY3TQOJQ",
		"groups of four":  "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
		"surrounding ws":  "  gezd gnbv gy3t qojq gezd gnbv gy3t qojq\n",
		"tabs":            "GEZDGNBV\tGY3TQOJQ\tGEZDGNBVGY3TQOJQ",
		"padding present": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====", // not needed, tolerated
	}
	for name, in := range accepted {
		t.Run(name, func(t *testing.T) {
			s, err := totp.ParseSecret(in)
			require.NoError(t, err)
			assert.Equal(t, want, s.Bytes())
			assert.Equal(t, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", s.Base32())
		})
	}

	// Padding matters when the length is not a multiple of 5 bytes: 16 bytes.
	sixteen := []byte("0123456789abcdef")
	padded := base32.StdEncoding.EncodeToString(sixteen)
	require.Contains(t, padded, "=")
	for _, in := range []string{padded, strings.TrimRight(padded, "="), strings.ToLower(padded)} {
		s, err := totp.ParseSecret(in)
		require.NoError(t, err, in)
		assert.Equal(t, sixteen, s.Bytes())
		assert.Equal(t, strings.TrimRight(padded, "="), s.Base32(), "unpadded upper case")
	}

	malformed := map[string]string{
		"digit 1":          "GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ",
		"digit 0":          "0EZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
		"dash":             "GEZD-GNBV-GY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ",
		"inner padding":    "GEZDGNBV=GY3TQOJQGEZDGNBVGY3TQOJQ",
		"impossible len 1": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQA", // 33 chars: no encoder writes it
		"impossible len 3": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQAAA",
		"impossible len 6": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQAAAAAA",
		"non-ASCII":        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJÜ",
		"hex":              "3132333435363738393031323334353637383930",
	}
	for name, in := range malformed {
		t.Run(name, func(t *testing.T) {
			_, err := totp.ParseSecret(in)
			require.Error(t, err)
			assert.ErrorIs(t, err, totp.ErrMalformedSecret)
			assert.NotContains(t, err.Error(), in)
		})
	}

	// Length: 128 bits is the floor (RFC 4226 §4); 120 is refused with a typed error.
	s, err := totp.ParseSecret(base32.StdEncoding.EncodeToString(make([]byte, 16)))
	require.NoError(t, err)
	assert.Len(t, s.Bytes(), 16)
	for _, n := range []int{0, 1, 10, 15} {
		_, err := totp.ParseSecret(base32.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n)))
		require.Error(t, err, n)
		assert.ErrorIs(t, err, totp.ErrSecretTooShort, n)
		assert.NotErrorIs(t, err, totp.ErrSecretTooLong, n)
		var le *totp.SecretLengthError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, n*8, le.Bits)
	}
	_, err = totp.ParseSecret(base32.StdEncoding.EncodeToString(make([]byte, totp.MaxSecretBytes)))
	assert.NoError(t, err)
	_, err = totp.ParseSecret(base32.StdEncoding.EncodeToString(make([]byte, totp.MaxSecretBytes+1)))
	assert.ErrorIs(t, err, totp.ErrSecretTooLong)
	_, err = totp.ParseSecret(strings.Repeat("A", 1<<20))
	assert.ErrorIs(t, err, totp.ErrSecretTooLong)

	assert.Panics(t, func() { totp.MustParseSecret("nope!") })
}

// A secret whose import fails never shows in the error.
func TestParseSecretErrorsHoldNoSecret(t *testing.T) {
	for _, in := range []string{"GEZDGNBVGY3TQOJQ", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ!", strings.Repeat("GEZDGNBV", 100)} {
		_, err := totp.ParseSecret(in)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), in[:8])
	}
}
