package oidc_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/authn/oidc"
	"github.com/callshield/callshield/internal/oidctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const redirect = "https://app.example/auth/callback"

// The flow's values as authn would derive them (43 characters each).
const (
	state    = "state-0123456789012345678901234567890123456"
	nonce    = "nonce-0123456789012345678901234567890123456"
	verifier = "verifier-012345678901234567890123456789012345"
)

func newProvider(t *testing.T) (*oidctest.Provider, *oidc.Provider) {
	t.Helper()
	op, err := oidctest.New()
	require.NoError(t, err)
	t.Cleanup(op.Close)
	p, err := oidc.New(context.Background(), oidc.Config{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID,
		ClientSecret: op.ClientSecret, RedirectURL: redirect})
	require.NoError(t, err)
	return op, p
}

func TestAuthCodeURLCarriesStateNonceAndS256(t *testing.T) {
	_, p := newProvider(t)
	u, err := url.Parse(p.AuthCodeURL(state, nonce, verifier))
	require.NoError(t, err)
	q := u.Query()
	assert.Equal(t, state, q.Get("state"))
	assert.Equal(t, nonce, q.Get("nonce"))
	assert.Equal(t, "S256", q.Get("code_challenge_method"))
	assert.NotEmpty(t, q.Get("code_challenge"))
	assert.NotContains(t, u.String(), verifier, "only the challenge travels")
	assert.Equal(t, "code", q.Get("response_type"))
	assert.Contains(t, q.Get("scope"), "openid")
	assert.Equal(t, redirect, q.Get("redirect_uri"))
}

func TestExchange(t *testing.T) {
	ctx := context.Background()
	op, p := newProvider(t)
	op.SetUser(oidctest.User{Subject: "s-1", Email: "ann@provider.example", EmailVerified: true, Name: "Ann"})
	op.SetRefreshTokens(true)
	code, gotState, err := op.Login(p.AuthCodeURL(state, nonce, verifier))
	require.NoError(t, err)
	assert.Equal(t, state, gotState)

	_, err = p.Exchange(ctx, code, "another-verifier-0123456789012345678901234567", nonce)
	assert.ErrorIs(t, err, authn.ErrIdentityInvalid, "the verifier must match the challenge")
	_, err = p.Exchange(ctx, code, verifier, nonce)
	assert.ErrorIs(t, err, authn.ErrIdentityInvalid, "a code burnt by a failed redemption stays burnt")

	code, _, err = op.Login(p.AuthCodeURL(state, nonce, verifier))
	require.NoError(t, err)
	id, err := p.Exchange(ctx, code, verifier, nonce)
	require.NoError(t, err)
	assert.Equal(t, op.Issuer(), id.Issuer)
	assert.Equal(t, "s-1", id.Subject)
	assert.Equal(t, "ann@provider.example", id.Email)
	assert.True(t, id.EmailVerified)
	assert.Equal(t, "Ann", id.Name)
	assert.False(t, id.RefreshToken.IsZero())

	_, err = p.Exchange(ctx, code, verifier, nonce)
	assert.ErrorIs(t, err, authn.ErrIdentityInvalid, "a replayed authorization code is refused")
	assert.NotContains(t, err.Error(), code)
}

func TestDiscoveryMustNameTheConfiguredIssuer(t *testing.T) {
	op, err := oidctest.New()
	require.NoError(t, err)
	defer op.Close()
	// A discovery document served at one URL that names another issuer.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(op.Issuer() + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var doc map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&doc)
		_ = json.NewEncoder(w).Encode(doc)
	}))
	defer srv.Close()
	_, err = oidc.New(context.Background(), oidc.Config{Name: "x", Issuer: srv.URL, ClientID: op.ClientID, RedirectURL: redirect})
	assert.Error(t, err, "issuer %s served from %s", op.Issuer(), srv.URL)
}

func TestFacebook(t *testing.T) {
	ctx := context.Background()
	fb := oidctest.NewFacebook()
	defer fb.Close()
	p, err := oidc.NewFacebook(oidc.FacebookConfig{ClientID: fb.ClientID, ClientSecret: fb.ClientSecret, RedirectURL: redirect,
		AuthURL: fb.AuthURL(), TokenURL: fb.TokenURL(), GraphURL: fb.GraphURL()})
	require.NoError(t, err)
	fb.SetUser(oidctest.User{Subject: "10158", Email: "ann@fb.example", Name: "Ann"})
	code, _, err := fb.Login(p.AuthCodeURL(state, nonce, verifier))
	require.NoError(t, err)
	id, err := p.Exchange(ctx, code, verifier, nonce)
	require.NoError(t, err)
	assert.Equal(t, "https://www.facebook.com", id.Issuer)
	assert.Equal(t, "10158", id.Subject)
	assert.Equal(t, "ann@fb.example", id.Email)
	assert.False(t, id.EmailVerified, "Facebook says nothing about verification")
	_, err = p.Exchange(ctx, code, verifier, nonce)
	assert.ErrorIs(t, err, authn.ErrIdentityInvalid, "a replayed code")

	// The app secret signs the /me call (appsecret_proof): a client with another secret
	// gets no profile even with a token.
	wrong, err := oidc.NewFacebook(oidc.FacebookConfig{ClientID: fb.ClientID, ClientSecret: "wrong", RedirectURL: redirect,
		AuthURL: fb.AuthURL(), TokenURL: fb.TokenURL(), GraphURL: fb.GraphURL()})
	require.NoError(t, err)
	code, _, err = fb.Login(wrong.AuthCodeURL(state, nonce, verifier))
	require.NoError(t, err)
	_, err = wrong.Exchange(ctx, code, verifier, nonce)
	assert.ErrorIs(t, err, authn.ErrIdentityInvalid)

	_, err = oidc.NewFacebook(oidc.FacebookConfig{ClientID: "a"})
	assert.ErrorIs(t, err, oidc.ErrConfig)
}

// A /me request that fails in transport says so without the request's URL, whose
// appsecret_proof is derived from the access token and the app secret.
func TestFacebookTransportErrorKeepsNoProof(t *testing.T) {
	ctx := context.Background()
	fb := oidctest.NewFacebook()
	defer fb.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	p, err := oidc.NewFacebook(oidc.FacebookConfig{ClientID: fb.ClientID, ClientSecret: fb.ClientSecret, RedirectURL: redirect,
		AuthURL: fb.AuthURL(), TokenURL: fb.TokenURL(), GraphURL: gone.URL})
	require.NoError(t, err)
	fb.SetUser(oidctest.User{Subject: "10158", Email: "ann@fb.example", Name: "Ann"})
	code, _, err := fb.Login(p.AuthCodeURL(state, nonce, verifier))
	require.NoError(t, err)
	_, err = p.Exchange(ctx, code, verifier, nonce)
	require.ErrorIs(t, err, authn.ErrIdentityInvalid)
	assert.NotContains(t, err.Error(), "appsecret_proof")
	assert.NotContains(t, err.Error(), gone.URL)
}
