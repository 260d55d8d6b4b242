package authn

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The flow secret yields the lookup hash, state, nonce and PKCE verifier: distinct,
// deterministic, RFC 7636-shaped, and none of them the stored hash.
func TestDeriveFlow(t *testing.T) {
	tenant := uuid.New()
	tok, hash, err := newLinkToken(rand.Reader, PurposeIdentityFlow, tenant)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(tok.Reveal(), "csflw_"))
	fs, err := deriveFlow(tok.Reveal())
	require.NoError(t, err)
	assert.Equal(t, tenant, fs.tenant)
	assert.Equal(t, hash, fs.hash, "the stored hash is the one newLinkToken returns")
	again, err := deriveFlow(tok.Reveal())
	require.NoError(t, err)
	assert.Equal(t, fs, again, "deterministic")
	for _, v := range []string{fs.state, fs.nonce, fs.verifier} {
		assert.Len(t, v, 43, "RFC 7636: 43 to 128 unreserved characters")
		assert.NotContains(t, tok.Reveal(), v)
	}
	assert.NotEqual(t, fs.state, fs.nonce)
	assert.NotEqual(t, fs.state, fs.verifier)
	assert.NotEqual(t, fs.nonce, fs.verifier)
	assert.True(t, fs.stateMatches(fs.state))
	assert.False(t, fs.stateMatches(fs.nonce))
	assert.False(t, fs.stateMatches(""))

	other, _, err := newLinkToken(rand.Reader, PurposeIdentityFlow, tenant)
	require.NoError(t, err)
	ofs, err := deriveFlow(other.Reveal())
	require.NoError(t, err)
	assert.NotEqual(t, fs.state, ofs.state, "another flow, another state")

	inv, _, err := newLinkToken(rand.Reader, PurposeInvitation, tenant)
	require.NoError(t, err)
	_, err = deriveFlow(inv.Reveal())
	assert.ErrorIs(t, err, ErrFlowInvalid, "an invitation secret is no flow secret")
	nilTenant, _, err := newLinkToken(rand.Reader, PurposeIdentityFlow, uuid.Nil)
	require.NoError(t, err)
	_, err = deriveFlow(nilTenant.Reveal())
	assert.ErrorIs(t, err, ErrFlowInvalid)
}

// FuzzDeriveFlow: any input is a flow of a real tenant, derived deterministically, or
// ErrFlowInvalid; never a panic.
func FuzzDeriveFlow(f *testing.F) {
	tok, _, _ := newLinkToken(rand.Reader, PurposeIdentityFlow, uuid.New())
	f.Add(tok.Reveal())
	f.Add("csflw_")
	f.Add("csflw_" + strings.Repeat("A", 64))
	f.Add("csinv_AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		fs, err := deriveFlow(s)
		if err != nil {
			if err != ErrFlowInvalid {
				t.Fatalf("error %v is not ErrFlowInvalid", err)
			}
			return
		}
		if fs.tenant == uuid.Nil || len(fs.verifier) != 43 || len(fs.state) != 43 || len(fs.nonce) != 43 {
			t.Fatalf("bad flow from %q", s)
		}
		back, err := deriveFlow(s)
		if err != nil || back != fs {
			t.Fatalf("not deterministic for %q", s)
		}
	})
}
