package totp_test

import (
	"bytes"
	"image"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn/totp"
)

// GenerateKey makes a 160-bit secret from the reader it is given (crypto/rand by
// default), and its URI carries that secret, the names and the parameters.
func TestGenerateKey(t *testing.T) {
	k, err := totp.GenerateKey(nil, "Acme Call Center", "ann@example.com", totp.Config{})
	require.NoError(t, err)
	assert.Len(t, k.Secret().Bytes(), totp.SecretBytes, "160 bits (ASVS 6.5.3)")
	issuer, account, q := parseKeyURI(t, k.URI())
	assert.Equal(t, "Acme Call Center", issuer)
	assert.Equal(t, "ann@example.com", account)
	assert.Equal(t, "Acme Call Center", q.Get("issuer"))
	assert.Equal(t, k.Secret().Base32(), q.Get("secret"))
	assert.Equal(t, "SHA1", q.Get("algorithm"))
	assert.Equal(t, "6", q.Get("digits"))
	assert.Equal(t, "30", q.Get("period"))

	k2, err := totp.GenerateKey(nil, "Acme Call Center", "ann@example.com", totp.Config{})
	require.NoError(t, err)
	assert.False(t, k.Secret().Equal(k2.Secret()), "crypto/rand by default")

	// An injected reader is what the secret is made of: exactly 20 bytes are read.
	src := bytes.NewReader(bytes.Repeat([]byte{0x5A}, 25))
	k3, err := totp.GenerateKey(src, "CallShield", "ann@example.com", totp.Config{})
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte{0x5A}, 20), k3.Secret().Bytes())
	assert.Equal(t, 5, src.Len())

	_, err = totp.GenerateKey(failingReader{}, "CallShield", "ann@example.com", totp.Config{})
	assert.ErrorIs(t, err, totp.ErrRandom)
	_, err = totp.GenerateKey(bytes.NewReader(make([]byte, 19)), "CallShield", "ann@example.com", totp.Config{})
	assert.ErrorIs(t, err, totp.ErrRandom, "a short read")
	_, err = totp.GenerateKey(nil, "Call:Shield", "ann@example.com", totp.Config{})
	assert.ErrorIs(t, err, totp.ErrInvalidLabel)
	_, err = totp.GenerateKey(nil, "CallShield", "ann@example.com", totp.Config{Digits: 7})
	assert.ErrorIs(t, err, totp.ErrInvalidConfig)

	// NewKey of the same secret gives the same URI.
	k4, err := totp.NewKey("Acme Call Center", "ann@example.com", k.Secret(), totp.Config{})
	require.NoError(t, err)
	assert.Equal(t, k.URI(), k4.URI())
	_, err = totp.NewKey("CallShield", "ann@example.com", totp.Secret{}, totp.Config{})
	assert.ErrorIs(t, err, totp.ErrNoSecret)

	// The zero Key holds nothing.
	assert.Empty(t, totp.Key{}.URI())
	assert.True(t, totp.Key{}.Secret().IsZero())
	_, err = totp.Key{}.PNG(0)
	assert.ErrorIs(t, err, totp.ErrNoSecret)
}

// decodeQR reads the text of a QR code in a PNG, as a phone's camera would.
func decodeQR(t *testing.T, pngBytes []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngBytes))
	require.NoError(t, err)
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	require.NoError(t, err)
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	require.NoError(t, err)
	return res.GetText()
}

// The QR code PNG decodes (with an independent decoder, gozxing) to exactly the key
// URI, for the default size and the extremes, and for a long URI (8 digits, SHA-512,
// long names).
func TestKeyPNGDecodesToTheURI(t *testing.T) {
	long := strings.Repeat("Ünïcødé Call Center ", 4)
	for _, tc := range []struct {
		issuer, account string
		c               totp.Config
		size            int
	}{
		{"CallShield", "ann@example.com", totp.Config{}, 0},
		{"Acme Call Center", "bob.smith+calls@example.com", totp.Config{}, totp.MinQRSize},
		{long, "漢字@例え.jp", totp.Config{Digits: 8, Algorithm: totp.SHA512, Period: time.Minute}, totp.MaxQRSize},
	} {
		k, err := totp.GenerateKey(nil, tc.issuer, tc.account, tc.c)
		require.NoError(t, err)
		b, err := k.PNG(tc.size)
		require.NoError(t, err)
		img, err := png.Decode(bytes.NewReader(b))
		require.NoError(t, err)
		want := tc.size
		if want == 0 {
			want = totp.DefaultQRSize
		}
		assert.Equal(t, image.Rect(0, 0, want, want), img.Bounds())
		got := decodeQR(t, b)
		assert.Equal(t, k.URI(), got)
		u, err := url.Parse(got)
		require.NoError(t, err)
		back, err := totp.ParseSecret(u.Query().Get("secret"))
		require.NoError(t, err)
		assert.True(t, back.Equal(k.Secret()), "the scanned secret is the key's")
	}
	k, err := totp.GenerateKey(nil, "CallShield", "ann@example.com", totp.Config{})
	require.NoError(t, err)
	for _, size := range []int{-1, 1, totp.MinQRSize - 1, totp.MaxQRSize + 1} {
		_, err := k.PNG(size)
		assert.ErrorIs(t, err, totp.ErrQRCode, size)
	}
}

// A Key never shows its secret or its URI through fmt, slog, JSON or XML, alone or
// inside other values (pquerna's otp.Key.String() returns the URI: a Key hides it).
func TestKeyRedaction(t *testing.T) {
	k, err := totp.GenerateKey(nil, "CallShield", "ann@example.com", totp.Config{})
	require.NoError(t, err)
	forms := append(secretForms(k.Secret().Bytes()), k.URI(), "otpauth://", url.QueryEscape(k.URI()))
	type unexported struct{ key totp.Key }
	for name, v := range map[string]any{
		"value": k, "pointer": &k, "slice": []totp.Key{k}, "unexported field": unexported{k},
		"exported field": struct{ Key totp.Key }{k},
	} {
		t.Run(name, func(t *testing.T) { redactionCases(t, v, forms) })
	}
	assert.Equal(t, "[REDACTED]", k.String())
	assert.Equal(t, "[REDACTED]", k.GoString())
	assert.Equal(t, "[REDACTED]", k.LogValue().String())
}
