// Package oidctest runs real protocol peers for tests of linked identities: an OpenID
// Connect provider (discovery, JWKS, authorization and token endpoints, RS256-signed ID
// tokens with a key generated at start) and a Facebook-style OAuth 2.0 provider with a
// Graph-like /me endpoint, each on an httptest server.
//
// Both enforce what a real provider does: the client's credentials, the redirect URI,
// PKCE S256 (the verifier must hash to the challenge), and single-use authorization
// codes. The OpenID provider can be told to issue bad tokens (another audience or
// issuer, expired, signed by another key, "alg": "none", HS256 keyed with its public
// key, another nonce) so that tests prove the client refuses them.
//
// The "browser" is the test: [Provider.Login] follows an authorization URL as the
// signed-in provider user ([Provider.SetUser]) and returns the callback parameters.
package oidctest

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// User is the account signed in at the provider.
type User struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
}

// Signing selects how the provider signs its ID tokens.
type Signing int

// Signing modes.
const (
	// SignRS256 signs correctly with the key published in the JWKS.
	SignRS256 Signing = iota
	// SignOtherKey signs with RS256 under the published key's ID but with another
	// private key: a bad signature.
	SignOtherKey
	// SignNone issues an unsigned token ("alg": "none").
	SignNone
	// SignHS256PublicKey "signs" with HMAC-SHA256 keyed with the published public key
	// (PEM): the algorithm-confusion forgery.
	SignHS256PublicKey
)

// Provider is an OpenID Connect provider on an httptest server. It is safe for
// concurrent use.
type Provider struct {
	// Server serves the provider; its URL is the issuer.
	Server       *httptest.Server
	ClientID     string
	ClientSecret string

	key      *rsa.PrivateKey
	otherKey *rsa.PrivateKey
	kid      string

	mu       sync.Mutex
	user     User
	codes    map[string]*grant
	clock    func() time.Time
	signing  Signing
	tamper   func(claims map[string]any)
	refresh  bool
	exchange int
}

type grant struct {
	clientID, redirectURI, challenge, nonce string
	user                                    User
	used                                    bool
}

// New starts a provider with a fresh RSA key and client credentials. Close it with
// [Provider.Close].
func New() (*Provider, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	p := &Provider{ClientID: "client-" + randomString(8), ClientSecret: randomString(24), key: key, otherKey: other,
		kid: randomString(8), codes: map[string]*grant{}, clock: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.Server = httptest.NewServer(mux)
	return p, nil
}

// Issuer returns the provider's issuer URL.
func (p *Provider) Issuer() string { return p.Server.URL }

// Close stops the server.
func (p *Provider) Close() { p.Server.Close() }

// SetUser sets the account signed in at the provider: the next authorizations are
// theirs.
func (p *Provider) SetUser(u User) { p.mu.Lock(); p.user = u; p.mu.Unlock() }

// SetClock sets the provider's clock (issue and expiry times of its tokens).
func (p *Provider) SetClock(now func() time.Time) { p.mu.Lock(); p.clock = now; p.mu.Unlock() }

// SetSigning sets how the next ID tokens are signed.
func (p *Provider) SetSigning(s Signing) { p.mu.Lock(); p.signing = s; p.mu.Unlock() }

// SetTamper sets a function that changes the claims of the next ID tokens (nil: none).
func (p *Provider) SetTamper(f func(claims map[string]any)) { p.mu.Lock(); p.tamper = f; p.mu.Unlock() }

// SetRefreshTokens makes the token endpoint issue refresh tokens.
func (p *Provider) SetRefreshTokens(on bool) { p.mu.Lock(); p.refresh = on; p.mu.Unlock() }

// Exchanges returns how many codes the token endpoint redeemed successfully.
func (p *Provider) Exchanges() int { p.mu.Lock(); defer p.mu.Unlock(); return p.exchange }

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	iss := p.Issuer()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
		"jwks_uri": iss + "/jwks", "response_types_supported": []string{"code"},
		"subject_types_supported": []string{"public"},
		// Advertised on purpose: a client must not take its allowlist from discovery.
		"id_token_signing_alg_values_supported": []string{"RS256", "HS256", "none"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	pub := p.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": p.kid, "use": "sig", "alg": "RS256",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// authorize issues a code for the signed-in user and redirects to the client.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("client_id") != p.ClientID:
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	case err != nil || redirect.Scheme == "" || q.Get("response_type") != "code":
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		http.Error(w, "PKCE S256 required", http.StatusBadRequest)
		return
	}
	code := randomString(24)
	p.mu.Lock()
	p.codes[code] = &grant{clientID: p.ClientID, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"),
		nonce: q.Get("nonce"), user: p.user}
	p.mu.Unlock()
	back := redirect.Query()
	back.Set("code", code)
	back.Set("state", q.Get("state"))
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// token redeems a code: client authentication, redirect URI, PKCE, single use.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.ClientID || !hmac.Equal([]byte(secret), []byte(p.ClientSecret)) {
		w.Header().Set("WWW-Authenticate", "Basic")
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		tokenError(w, "unsupported_grant_type")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.codes[r.PostForm.Get("code")]
	if !ok || g.used || g.redirectURI != r.PostForm.Get("redirect_uri") || !pkceMatches(r.PostForm.Get("code_verifier"), g.challenge) {
		if ok {
			g.used = true // a failed or replayed redemption burns the code (RFC 6749 §4.1.2)
		}
		tokenError(w, "invalid_grant")
		return
	}
	g.used = true
	p.exchange++
	now := p.clock()
	claims := map[string]any{
		"iss": p.Issuer(), "sub": g.user.Subject, "aud": p.ClientID, "iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "email": g.user.Email, "email_verified": g.user.EmailVerified,
		"name": g.user.Name,
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	if p.tamper != nil {
		p.tamper(claims)
	}
	idToken, err := p.sign(claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp := map[string]any{"access_token": randomString(24), "token_type": "Bearer", "expires_in": 300, "id_token": idToken}
	if p.refresh {
		resp["refresh_token"] = "rt-" + randomString(24)
	}
	writeJSON(w, http.StatusOK, resp)
}

// sign encodes claims as a compact JWS in the current signing mode.
func (p *Provider) sign(claims map[string]any) (string, error) {
	alg := "RS256"
	switch p.signing {
	case SignNone:
		alg = "none"
	case SignHS256PublicKey:
		alg = "HS256"
	}
	header, _ := json.Marshal(map[string]string{"alg": alg, "kid": p.kid, "typ": "JWT"})
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64(header) + "." + b64(payload)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch p.signing {
	case SignRS256:
		sig, err = rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, digest[:])
	case SignOtherKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, p.otherKey, crypto.SHA256, digest[:])
	case SignNone:
	case SignHS256PublicKey:
		der, merr := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
		if merr != nil {
			return "", merr
		}
		m := hmac.New(sha256.New, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		m.Write([]byte(input))
		sig = m.Sum(nil)
	default:
		return "", errors.New("oidctest: unknown signing mode")
	}
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

// Login follows an authorization URL as the browser of the provider's signed-in user
// and returns the code and state the provider redirects back with.
func (p *Provider) Login(authURL string) (code, state string, err error) {
	return login(authURL)
}

func login(authURL string) (code, state string, err error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	resp, err := c.Get(authURL)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", "", fmt.Errorf("oidctest: authorization answered %s", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", "", err
	}
	return loc.Query().Get("code"), loc.Query().Get("state"), nil
}

func pkceMatches(verifier, challenge string) bool {
	if verifier == "" {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return hmac.Equal([]byte(b64(sum[:])), []byte(challenge))
}

func tokenError(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(b), "=")
}
