package totp_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn/totp"
)

// parseKeyURI reads a key URI back the way an authenticator app does: net/url, the
// label split at its first colon after decoding.
func parseKeyURI(t *testing.T, uri string) (issuer, account string, q url.Values) {
	t.Helper()
	u, err := url.Parse(uri)
	require.NoError(t, err)
	require.Equal(t, "otpauth", u.Scheme)
	require.Equal(t, "totp", u.Host)
	label := strings.TrimPrefix(u.Path, "/")
	issuer, account, ok := strings.Cut(label, ":")
	require.True(t, ok, "label %q has no colon", label)
	return issuer, account, u.Query()
}

func TestKeyURI(t *testing.T) {
	s := rfcSecret(t)
	uri, err := totp.KeyURI("CallShield", "alice@example.com", s, totp.Config{})
	require.NoError(t, err)
	assert.Equal(t, "otpauth://totp/CallShield:alice@example.com?algorithm=SHA1&digits=6&issuer=CallShield&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", uri)

	for _, tc := range []struct {
		issuer, account string
		c               totp.Config
	}{
		{"Acme Call Center", "bob smith@example.com", totp.Config{}},
		{"Ünïcødé Co/Ltd?#", "a+b@example.com", totp.Config{Digits: 8, Algorithm: totp.SHA512, Period: time.Minute}},
		{"100% Sure=Yes;", "x@y", totp.Config{Algorithm: totp.SHA256}},
		{"Tab-less", "漢字@例え.jp", totp.Config{Skew: totp.NoSkew}},
	} {
		t.Run(tc.issuer, func(t *testing.T) {
			uri, err := totp.KeyURI(tc.issuer, tc.account, s, tc.c)
			require.NoError(t, err)
			assert.NotContains(t, uri, " ")
			label, _, _ := strings.Cut(strings.TrimPrefix(uri, "otpauth://totp/"), "?")
			assert.Equal(t, 1, strings.Count(label, ":"), "exactly one colon in the label: %s", label)
			if strings.Contains(tc.issuer, " ") {
				assert.Contains(t, uri, "%20", "spaces as %20, not +")
			}

			issuer, account, q := parseKeyURI(t, uri)
			assert.Equal(t, tc.issuer, issuer)
			assert.Equal(t, tc.account, account)
			assert.Equal(t, tc.issuer, q.Get("issuer"))
			back, err := totp.ParseSecret(q.Get("secret"))
			require.NoError(t, err)
			assert.True(t, back.Equal(s))
			assert.NotContains(t, q.Get("secret"), "=", "unpadded")
			assert.Equal(t, strings.ToUpper(q.Get("secret")), q.Get("secret"), "upper case")

			alg, digits, period := totp.SHA1, "6", "30"
			if tc.c.Algorithm != "" {
				alg = tc.c.Algorithm
			}
			if tc.c.Digits != 0 {
				digits = "8"
			}
			if tc.c.Period != 0 {
				period = "60"
			}
			assert.Equal(t, string(alg), q.Get("algorithm"))
			assert.Equal(t, digits, q.Get("digits"))
			assert.Equal(t, period, q.Get("period"))
		})
	}
}

// Names that the format cannot carry faithfully are refused, never mangled.
func TestKeyURIRefusesBadLabels(t *testing.T) {
	s := rfcSecret(t)
	for _, tc := range [][2]string{
		{"Call:Shield", "alice@example.com"},
		{"CallShield", "alice:admin@example.com"},
		{"CallShield", "%3A"}, // fine: a literal "%3A" is escaped as %253A, see below
		{"", "alice@example.com"},
		{"CallShield", ""},
		{"Call\nShield", "alice"},
		{"CallShield", "alice\x00"},
		{"CallShield", "alice\u0085"}, // NEL, a C1 control
		{"Call\xffShield", "alice"},
		// pquerna/otp writes the issuer parameter with url.PathEscape, which leaves
		// '&' and '+' as they are: the parameter would read back cut short or with a
		// space. NewKey refuses such a name rather than show a wrong one.
		{"Smith & Sons", "alice@example.com"},
		{"A+B", "alice@example.com"},
	} {
		uri, err := totp.KeyURI(tc[0], tc[1], s, totp.Config{})
		if tc[1] == "%3A" {
			require.NoError(t, err)
			_, account, _ := parseKeyURI(t, uri)
			assert.Equal(t, "%3A", account, "a percent sign is escaped, so it cannot smuggle a colon")
			continue
		}
		assert.ErrorIs(t, err, totp.ErrInvalidLabel, "%q", tc)
		assert.Empty(t, uri)
	}
	_, err := totp.KeyURI("CallShield", "alice", totp.Secret{}, totp.Config{})
	assert.ErrorIs(t, err, totp.ErrNoSecret)
	_, err = totp.KeyURI("CallShield", "alice", s, totp.Config{Digits: 7})
	assert.ErrorIs(t, err, totp.ErrInvalidConfig)
}
