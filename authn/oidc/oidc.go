// Package oidc provides the [authn.IdentityProvider]s of linked identities: any
// OpenID Connect issuer (Google, Microsoft Entra ID, Okta, Keycloak, Zitadel, ...)
// configured by issuer URL, client ID and secret, and Facebook, which signs users in
// with OAuth 2.0 and the Graph API's /me rather than OpenID Connect.
//
// It is a package of its own so that authn, and every host that offers no social
// sign-in, compiles no OAuth code: golang.org/x/oauth2 does the authorization-code
// flow with PKCE (S256), github.com/coreos/go-oidc/v3 discovery, the JWKS and the ID
// token's signature, issuer, audience and expiry; this package adds what go-oidc
// leaves to its caller: the algorithm allowlist is set explicitly (never "none", never
// an HMAC algorithm, whatever discovery advertises), the issue time is checked, the
// authorized party when there are several audiences, and the nonce, compared in
// constant time.
//
// authn generates the state, nonce and verifier, binds them to the browser and the
// session, and checks the state; a Provider puts them in the authorization request and
// verifies the answer. Wire one in with authn.Options.Identity.Providers:
//
//	google, err := oidc.New(ctx, oidc.Google(clientID, clientSecret, "https://app.example.com/auth/callback"))
//	svc, err := authn.NewService(store, engine, authn.Options{ /* ... */
//		Identity: authn.IdentityOptions{Providers: []authn.IdentityProvider{google}}})
package oidc

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/callshield/callshield/authn"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config configures an OpenID Connect provider. Name, Issuer, ClientID and
// RedirectURL are required; the zero value of every other field is a safe default.
type Config struct {
	// Name is the provider's name in authn ("google", "entra", ...). Required.
	Name string
	// Issuer is the issuer URL; its discovery document is read from
	// Issuer + "/.well-known/openid-configuration" and must name the same issuer.
	Issuer string
	// ClientID and ClientSecret are the client's credentials at the provider. The ID
	// token's audience must contain ClientID.
	ClientID     string
	ClientSecret string
	// RedirectURL is the host's callback URL, registered at the provider.
	RedirectURL string
	// Scopes requested. Default: openid, email, profile ("openid" is always added).
	Scopes []string
	// Algorithms are the ID-token signature algorithms accepted. Default RS256 and
	// ES256. "none" and the HMAC algorithms (HS256, HS384, HS512) are refused by New:
	// an HMAC "signature" keyed with a public key is the classic algorithm-confusion
	// forgery.
	Algorithms []string
	// MaxAge bounds how old an ID token's issue time (iat) may be. Default 10 minutes;
	// a token is redeemed seconds after it is issued.
	MaxAge time.Duration
	// HTTPClient makes the requests to the provider (discovery, JWKS, token). Default:
	// a client with a 10-second timeout.
	HTTPClient *http.Client
	// Clock returns the current time. If nil, time.Now is used.
	Clock func() time.Time
}

// Google returns the Config of Google's OpenID Connect issuer.
func Google(clientID, clientSecret, redirectURL string) Config {
	return Config{Name: "google", Issuer: "https://accounts.google.com", ClientID: clientID,
		ClientSecret: clientSecret, RedirectURL: redirectURL}
}

// clockSkew is the leeway for an issue time in the future.
const clockSkew = time.Minute

// Provider is an OpenID Connect [authn.IdentityProvider]. It is safe for concurrent
// use.
type Provider struct {
	cfg      Config
	client   *http.Client
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

var _ authn.IdentityProvider = (*Provider)(nil)

// ErrConfig: a Config or FacebookConfig that is incomplete or unsafe.
var ErrConfig = errors.New("oidc: invalid provider configuration")

func defaultClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// New reads the issuer's discovery document and returns its Provider.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Name == "" || cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, fmt.Errorf("%w: Name, Issuer, ClientID and RedirectURL are required", ErrConfig)
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{gooidc.RS256, gooidc.ES256}
	}
	for _, a := range cfg.Algorithms {
		if a == "" || strings.EqualFold(a, "none") || strings.HasPrefix(strings.ToUpper(a), "HS") {
			return nil, fmt.Errorf("%w: algorithm %q is not allowed", ErrConfig, a)
		}
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 10 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"email", "profile"}
	}
	if !slices.Contains(cfg.Scopes, gooidc.ScopeOpenID) {
		cfg.Scopes = append([]string{gooidc.ScopeOpenID}, cfg.Scopes...)
	}
	client := defaultClient(cfg.HTTPClient)
	disc, err := gooidc.NewProvider(gooidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc: discovery of %s: %w", cfg.Issuer, err)
	}
	p := &Provider{cfg: cfg, client: client}
	p.oauth = oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: cfg.RedirectURL,
		Endpoint: disc.Endpoint(), Scopes: cfg.Scopes}
	// The key set fetches with the client too; its context must outlive New's.
	p.verifier = disc.VerifierContext(gooidc.ClientContext(context.WithoutCancel(ctx), client), &gooidc.Config{
		ClientID: cfg.ClientID, SupportedSigningAlgs: slices.Clone(cfg.Algorithms), Now: cfg.Clock})
	return p, nil
}

// Name returns Config.Name.
func (p *Provider) Name() string { return p.cfg.Name }

// AuthCodeURL returns the authorization URL with state, nonce and the S256 challenge of
// verifier.
func (p *Provider) AuthCodeURL(state, nonce, verifier string) string {
	return p.oauth.AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: oidc: %s", authn.ErrIdentityInvalid, fmt.Sprintf(format, args...))
}

// Exchange redeems code with verifier at the token endpoint and verifies the ID
// token: signature by an allowed algorithm with a key of the issuer's JWKS, issuer,
// audience containing the client ID (and, with several audiences, the authorized
// party being it), not expired, issued at most MaxAge ago and not in the future, and
// its nonce equal to nonce. Every failure wraps authn.ErrIdentityInvalid. The identity's
// Issuer is the configured one.
func (p *Provider) Exchange(ctx context.Context, code, verifier, nonce string) (authn.ExternalIdentity, error) {
	ctx = context.WithValue(gooidc.ClientContext(ctx, p.client), oauth2.HTTPClient, p.client)
	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return authn.ExternalIdentity{}, invalid("code exchange: %v", exchangeError(err))
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return authn.ExternalIdentity{}, invalid("the token response has no id_token")
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return authn.ExternalIdentity{}, invalid("id token: %v", err)
	}
	now := p.cfg.Clock()
	switch {
	case idt.IssuedAt.IsZero():
		return authn.ExternalIdentity{}, invalid("id token has no issue time")
	case idt.IssuedAt.After(now.Add(clockSkew)):
		return authn.ExternalIdentity{}, invalid("id token issued in the future")
	case idt.IssuedAt.Before(now.Add(-p.cfg.MaxAge)):
		return authn.ExternalIdentity{}, invalid("id token issued more than %v ago", p.cfg.MaxAge)
	case nonce == "" || !hmac.Equal([]byte(idt.Nonce), []byte(nonce)):
		return authn.ExternalIdentity{}, invalid("id token nonce does not match")
	case idt.Subject == "":
		return authn.ExternalIdentity{}, invalid("id token has no subject")
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"` // a boolean; some issuers send "true"
		Name          string `json:"name"`
		AZP           string `json:"azp"`
	}
	if err := idt.Claims(&claims); err != nil {
		return authn.ExternalIdentity{}, invalid("id token claims: %v", err)
	}
	if len(idt.Audience) > 1 && claims.AZP != p.cfg.ClientID {
		return authn.ExternalIdentity{}, invalid("id token for several audiences authorizes another party")
	}
	verified := claims.EmailVerified == true || claims.EmailVerified == "true"
	return authn.ExternalIdentity{Issuer: p.cfg.Issuer, Subject: idt.Subject, Email: claims.Email,
		EmailVerified: verified, Name: claims.Name, RefreshToken: authn.NewProviderToken(tok.RefreshToken)}, nil
}

// exchangeError keeps what an error of the token endpoint says without its raw
// response body.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return fmt.Errorf("token endpoint: %s", re.ErrorCode)
		}
		if re.Response != nil {
			return fmt.Errorf("token endpoint: HTTP %d", re.Response.StatusCode)
		}
	}
	return err
}
