package totp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"
)

// QR code image sizes accepted by [Key.PNG], in pixels per side.
const (
	// MinQRSize is the smallest QR image: a key URI needs a QR code of about 50
	// modules, and every module must be at least one pixel.
	MinQRSize = 128
	// MaxQRSize bounds the work and the memory of one image.
	MaxQRSize = 2048
	// DefaultQRSize is a size phones scan easily from a screen.
	DefaultQRSize = 256
)

// Key is what enrollment shows the user: a [Secret] with its otpauth:// key URI (the
// Key Uri Format of the google-authenticator wiki) and the QR code of that URI, both
// made by github.com/pquerna/otp. Make one with [GenerateKey] (a new secret) or
// [NewKey] (an existing one).
//
// The URI holds the secret, and pquerna's otp.Key returns it from String(), so a Key
// keeps its otp.Key where no formatting reaches it (a closure) and, like [Secret],
// writes "[REDACTED]" from String, GoString, Format (every verb), LogValue,
// MarshalJSON and MarshalText. The zero Key holds nothing: URI returns "" and PNG
// fails with [ErrNoSecret].
type Key struct {
	secret Secret
	key    func() *otp.Key // nil for the zero value
}

// GenerateKey makes a new secret of [SecretBytes] (160 bits, ASVS 6.5.3) with
// pquerna/otp's totp.Generate, reading r, or crypto/rand when r is nil (pass a reader
// only in tests), and returns it as a Key for issuer and account under c. Errors are
// those of [NewKey], and [ErrRandom] when r fails.
func GenerateKey(r io.Reader, issuer, account string, c Config) (Key, error) {
	if r == nil {
		r = rand.Reader
	}
	return makeKey(issuer, account, Secret{}, r, c)
}

// NewKey returns the Key of an existing secret, for issuer and account under c.
//
// issuer names the product or tenant ("CallShield", "Acme Call Center") and account the
// user (usually the e-mail address); the app lists the entry as both. pquerna/otp
// writes the label "Issuer:account" in the URI's path and the issuer again as the
// issuer parameter (percent-escaped, a space as %20), with the secret (base32,
// unpadded) and the algorithm, digits and period.
//
// NewKey fails with [ErrInvalidLabel] for a name the URI cannot carry back unchanged:
// empty, invalid UTF-8, holding a control character or a colon (the format splits the
// label at its colon after decoding it, so no escaping survives), and any name that
// does not come back as it went in when the URI is read as an app reads it (net/url;
// this refuses, for instance, '&' and '+' in the issuer, which pquerna writes
// unescaped into the query). Refusing is deliberate: silently changing how an account
// is listed in the user's app would be worse than failing. It also fails with a
// [ConfigError] for an invalid c and [ErrNoSecret] for the zero Secret.
func NewKey(issuer, account string, s Secret, c Config) (Key, error) {
	if s.IsZero() {
		return Key{}, ErrNoSecret
	}
	return makeKey(issuer, account, s, nil, c)
}

// makeKey builds the Key of s, or of a new secret read from r when s is zero.
func makeKey(issuer, account string, s Secret, r io.Reader, c Config) (Key, error) {
	c, err := c.resolved()
	if err != nil {
		return Key{}, err
	}
	if !validLabel(issuer) || !validLabel(account) {
		return Key{}, ErrInvalidLabel
	}
	alg, _ := c.Algorithm.otp()
	opts := pqtotp.GenerateOpts{Issuer: issuer, AccountName: account, Period: uint(c.Period / time.Second),
		SecretSize: SecretBytes, Digits: otp.Digits(c.Digits), Algorithm: alg, Rand: r}
	if !s.IsZero() {
		opts.Secret = s.Bytes()
	}
	k, err := pqtotp.Generate(opts)
	clear(opts.Secret)
	if err != nil {
		if errors.Is(err, otp.ErrGenerateMissingIssuer) || errors.Is(err, otp.ErrGenerateMissingAccountName) {
			return Key{}, ErrInvalidLabel // unreachable: validLabel refused empty names
		}
		// The only other failure is the reader's, whose error holds no secret.
		return Key{}, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	if s.IsZero() {
		if s, err = ParseSecret(k.Secret()); err != nil || len(s.raw()) != SecretBytes {
			return Key{}, fmt.Errorf("%w: generated secret unusable", ErrRandom)
		}
	}
	if !carries(k.URL(), issuer, account, s, c) {
		return Key{}, ErrInvalidLabel
	}
	return Key{secret: s, key: func() *otp.Key { return k }}, nil
}

// carries reports whether uri, read back as an authenticator app reads it (net/url,
// the label split at its first colon), gives the issuer, the account, the secret and
// the parameters it was made from.
func carries(uri, issuer, account string, s Secret, c Config) bool {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		return false
	}
	li, la, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), ":")
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil || !ok {
		return false
	}
	back, err := ParseSecret(q.Get("secret"))
	return li == issuer && la == account && q.Get("issuer") == issuer && err == nil && back.Equal(s) &&
		q.Get("algorithm") == string(c.Algorithm) && q.Get("digits") == strconv.Itoa(c.Digits) &&
		q.Get("period") == strconv.FormatInt(int64(c.Period/time.Second), 10)
}

// KeyURI returns the otpauth:// URI of s for issuer and account under c: NewKey's URI,
// with NewKey's errors. The URI contains the secret: show it once (as a QR code),
// never log or store it.
func KeyURI(issuer, account string, s Secret, c Config) (string, error) {
	k, err := NewKey(issuer, account, s, c)
	if err != nil {
		return "", err
	}
	return k.URI(), nil
}

// Secret returns the key's secret, to seal and store once the user confirmed a code.
func (k Key) Secret() Secret { return k.secret }

// URI returns the otpauth:// key URI ("" for the zero Key). It contains the secret:
// show it once, never log or store it.
func (k Key) URI() string {
	if k.key == nil {
		return ""
	}
	return k.key().URL()
}

// PNG returns the key URI as a QR code image (PNG, size×size pixels, error correction
// level M) drawn by pquerna/otp's Key.Image, for the user's app to scan. size 0 means
// [DefaultQRSize]; otherwise it must be [MinQRSize] to [MaxQRSize] ([ErrQRCode]). The
// image holds the secret like the URI does: serve it once, with Cache-Control:
// no-store.
func (k Key) PNG(size int) ([]byte, error) {
	if k.key == nil {
		return nil, ErrNoSecret
	}
	if size == 0 {
		size = DefaultQRSize
	}
	if size < MinQRSize || size > MaxQRSize {
		return nil, fmt.Errorf("%w: size %d outside %d to %d", ErrQRCode, size, MinQRSize, MaxQRSize)
	}
	img, err := k.key().Image(size, size)
	if err != nil {
		return nil, ErrQRCode // the barcode package's errors name sizes, never content; not wrapped anyway
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, ErrQRCode
	}
	return b.Bytes(), nil
}

// String returns "[REDACTED]".
func (Key) String() string { return redacted }

// GoString returns "[REDACTED]", for %#v.
func (Key) GoString() string { return redacted }

// Format writes "[REDACTED]" for every verb and flag.
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes log/slog write "[REDACTED]".
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON writes the JSON string "[REDACTED]".
func (Key) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText writes "[REDACTED]".
func (Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// validLabel reports whether name can be an issuer or account name.
func validLabel(name string) bool {
	if name == "" || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r == ':' || unicode.IsControl(r) {
			return false
		}
	}
	return true
}
