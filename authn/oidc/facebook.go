package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/callshield/callshield/authn"
	"golang.org/x/oauth2"
)

// FacebookConfig configures Facebook Login. ClientID (the app ID), ClientSecret (the
// app secret) and RedirectURL are required; the URLs default to Facebook's.
type FacebookConfig struct {
	// Name is the provider's name in authn. Default "facebook".
	Name         string
	ClientID     string
	ClientSecret string
	RedirectURL  string
	// Scopes requested. Default: email, public_profile.
	Scopes []string
	// AuthURL, TokenURL and GraphURL are Facebook's endpoints (a test points them at
	// its own server). Defaults: the v21.0 dialog, token endpoint and Graph API.
	AuthURL  string
	TokenURL string
	GraphURL string
	// Issuer is the issuer identities are stored under. Default
	// "https://www.facebook.com".
	Issuer string
	// HTTPClient makes the requests to Facebook. Default: a 10-second timeout.
	HTTPClient *http.Client
}

// Facebook is the [authn.IdentityProvider] of Facebook Login: OAuth 2.0 with PKCE,
// then the Graph API's /me with the access token (and its appsecret_proof). The
// subject is Facebook's app-scoped user ID. There is no ID token and so no nonce; the
// state and the PKCE verifier, bound to the browser by authn, protect the callback, and
// the code is redeemed with the app secret, so the access token was issued to this app.
type Facebook struct {
	cfg    FacebookConfig
	client *http.Client
	oauth  oauth2.Config
}

var _ authn.IdentityProvider = (*Facebook)(nil)

// NewFacebook returns the Facebook provider.
func NewFacebook(cfg FacebookConfig) (*Facebook, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.RedirectURL == "" {
		return nil, fmt.Errorf("%w: ClientID, ClientSecret and RedirectURL are required", ErrConfig)
	}
	if cfg.Name == "" {
		cfg.Name = "facebook"
	}
	if cfg.AuthURL == "" {
		cfg.AuthURL = "https://www.facebook.com/v21.0/dialog/oauth"
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = "https://graph.facebook.com/v21.0/oauth/access_token"
	}
	if cfg.GraphURL == "" {
		cfg.GraphURL = "https://graph.facebook.com/v21.0"
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "https://www.facebook.com"
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"email", "public_profile"}
	}
	return &Facebook{cfg: cfg, client: defaultClient(cfg.HTTPClient), oauth: oauth2.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: cfg.RedirectURL, Scopes: cfg.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams}}}, nil
}

// Name returns FacebookConfig.Name.
func (f *Facebook) Name() string { return f.cfg.Name }

// AuthCodeURL returns the login dialog URL with state and the S256 challenge of
// verifier; Facebook Login has no nonce.
func (f *Facebook) AuthCodeURL(state, _, verifier string) string {
	return f.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
}

// Exchange redeems code with verifier and reads the user from /me. Every failure wraps
// authn.ErrIdentityInvalid.
func (f *Facebook) Exchange(ctx context.Context, code, verifier, _ string) (authn.ExternalIdentity, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, f.client)
	tok, err := f.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return authn.ExternalIdentity{}, invalid("facebook code exchange: %v", exchangeError(err))
	}
	if tok.AccessToken == "" {
		return authn.ExternalIdentity{}, invalid("facebook issued no access token")
	}
	mac := hmac.New(sha256.New, []byte(f.cfg.ClientSecret))
	mac.Write([]byte(tok.AccessToken))
	q := url.Values{"fields": {"id,name,email"}, "appsecret_proof": {hex.EncodeToString(mac.Sum(nil))}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(f.cfg.GraphURL, "/")+"/me?"+q.Encode(), nil)
	if err != nil {
		return authn.ExternalIdentity{}, invalid("facebook /me: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := f.client.Do(req)
	if err != nil {
		// Not the url.Error itself: its URL carries the appsecret_proof.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return authn.ExternalIdentity{}, invalid("facebook /me: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return authn.ExternalIdentity{}, invalid("facebook /me: HTTP %d", resp.StatusCode)
	}
	var me struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&me); err != nil {
		return authn.ExternalIdentity{}, invalid("facebook /me: %v", err)
	}
	if me.ID == "" {
		return authn.ExternalIdentity{}, invalid("facebook /me has no id")
	}
	// Facebook returns only confirmed addresses, but says nothing: treated as unverified.
	return authn.ExternalIdentity{Issuer: f.cfg.Issuer, Subject: me.ID, Email: me.Email, Name: me.Name,
		RefreshToken: authn.NewProviderToken(tok.RefreshToken)}, nil
}
