package oidctest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
)

// Facebook is a Facebook-style OAuth 2.0 provider on an httptest server: a login
// dialog (/dialog/oauth), a token endpoint (/oauth/access_token, client credentials
// in the form) and a Graph-like /me that answers id, name and email for a bearer
// access token with a valid appsecret_proof. Point authn/oidc.FacebookConfig's
// AuthURL, TokenURL and GraphURL at [Facebook.AuthURL], [Facebook.TokenURL] and
// [Facebook.GraphURL].
type Facebook struct {
	Server       *httptest.Server
	ClientID     string
	ClientSecret string

	mu     sync.Mutex
	user   User
	codes  map[string]*grant
	tokens map[string]User
}

// NewFacebook starts the provider. Close it with [Facebook.Close].
func NewFacebook() *Facebook {
	f := &Facebook{ClientID: randomString(8), ClientSecret: randomString(24), codes: map[string]*grant{}, tokens: map[string]User{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dialog/oauth", f.authorize)
	mux.HandleFunc("POST /oauth/access_token", f.token)
	mux.HandleFunc("GET /me", f.me)
	f.Server = httptest.NewServer(mux)
	return f
}

// AuthURL, TokenURL and GraphURL are the provider's endpoints.
func (f *Facebook) AuthURL() string  { return f.Server.URL + "/dialog/oauth" }
func (f *Facebook) TokenURL() string { return f.Server.URL + "/oauth/access_token" }
func (f *Facebook) GraphURL() string { return f.Server.URL }

// Close stops the server.
func (f *Facebook) Close() { f.Server.Close() }

// SetUser sets the account signed in at the provider (Subject is the app-scoped ID).
func (f *Facebook) SetUser(u User) { f.mu.Lock(); f.user = u; f.mu.Unlock() }

// Login follows an authorization URL as the signed-in user's browser and returns the
// callback's code and state.
func (f *Facebook) Login(authURL string) (code, state string, err error) { return login(authURL) }

func (f *Facebook) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("client_id") != f.ClientID || err != nil || redirect.Scheme == "" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	code := randomString(24)
	f.mu.Lock()
	f.codes[code] = &grant{clientID: f.ClientID, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), user: f.user}
	f.mu.Unlock()
	back := redirect.Query()
	back.Set("code", code)
	back.Set("state", q.Get("state"))
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (f *Facebook) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request")
		return
	}
	if r.PostForm.Get("client_id") != f.ClientID || !hmac.Equal([]byte(r.PostForm.Get("client_secret")), []byte(f.ClientSecret)) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.codes[r.PostForm.Get("code")]
	if !ok || g.used || g.redirectURI != r.PostForm.Get("redirect_uri") || !pkceMatches(r.PostForm.Get("code_verifier"), g.challenge) {
		if ok {
			g.used = true
		}
		tokenError(w, "invalid_grant")
		return
	}
	g.used = true
	access := "fbat-" + randomString(24)
	f.tokens[access] = g.user
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "bearer", "expires_in": 5183944})
}

func (f *Facebook) me(w http.ResponseWriter, r *http.Request) {
	access, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	u, known := f.tokens[access]
	f.mu.Unlock()
	if !ok || !known {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"message": "Invalid OAuth access token", "code": 190}})
		return
	}
	m := hmac.New(sha256.New, []byte(f.ClientSecret))
	m.Write([]byte(access))
	if !hmac.Equal([]byte(r.URL.Query().Get("appsecret_proof")), []byte(hex.EncodeToString(m.Sum(nil)))) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "Invalid appsecret_proof", "code": 100}})
		return
	}
	out := map[string]string{"id": u.Subject, "name": u.Name}
	if u.Email != "" {
		out["email"] = u.Email
	}
	writeJSON(w, http.StatusOK, out)
}
