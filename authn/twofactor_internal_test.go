package authn

import (
	"testing"

	"github.com/callshield/callshield/authn/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tenant's name becomes an issuer that a key URI carries unchanged: what it
// cannot carry becomes a space, and an empty result is the product name.
func TestIssuerName(t *testing.T) {
	s := &Service{opts: Options{ProductName: "callshield"}}
	secret, err := totp.NewSecret(nil)
	require.NoError(t, err)
	for in, want := range map[string]string{
		"Acme Call Center":     "Acme Call Center",
		"Smith & Sons: Calls":  "Smith Sons Calls",
		"A+B\tCalls\x00":       "A B Calls",
		"Ünïcødé Co/Ltd?#%20":  "Ünïcødé Co/Ltd?#%20",
		"  ::  ":               "callshield",
		"":                     "callshield",
		"Spaces   inside  too": "Spaces inside too",
	} {
		got := s.issuerName(in)
		assert.Equal(t, want, got, "%q", in)
		_, err := totp.NewKey(got, "ann@example.com", secret, totp.Config{})
		assert.NoError(t, err, "%q makes a key URI", got)
	}
}
