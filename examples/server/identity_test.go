package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeIssuer is a minimal OpenID Connect provider for the test: discovery, JWKS, an
// authorization endpoint that signs in one fixed user at once, and a token endpoint
// that checks the PKCE verifier and returns an RS256 ID token with the nonce.
type fakeIssuer struct {
	srv  *httptest.Server
	key  *rsa.PrivateKey
	mu   sync.Mutex
	code map[string][2]string // code → nonce, S256 challenge
	sub  string
}

func newFakeIssuer(t *testing.T, subject string) *fakeIssuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	f := &fakeIssuer{key: key, code: map[string][2]string{}, sub: subject}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": f.srv.URL, "authorization_endpoint": f.srv.URL + "/authorize", "token_endpoint": f.srv.URL + "/token",
			"jwks_uri": f.srv.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		c := rand.Text()
		f.mu.Lock()
		f.code[c] = [2]string{q.Get("nonce"), q.Get("code_challenge")}
		f.mu.Unlock()
		back, _ := url.Parse(q.Get("redirect_uri"))
		v := back.Query()
		v.Set("code", c)
		v.Set("state", q.Get("state"))
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f.mu.Lock()
		got, ok := f.code[r.PostForm.Get("code")]
		delete(f.code, r.PostForm.Get("code"))
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != got[1] {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600,
			"id_token": f.idToken(t, r.PostForm.Get("client_id"), got[0])})
	})
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIssuer) idToken(t *testing.T, aud, nonce string) string {
	if aud == "" {
		aud = "demo-client"
	}
	b64 := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now().Unix()
	signing := b64(map[string]string{"alg": "RS256", "kid": "k1", "typ": "JWT"}) + "." + b64(map[string]any{
		"iss": f.srv.URL, "sub": f.sub, "aud": aud, "exp": now + 300, "iat": now, "nonce": nonce,
		"email": "alice.private@example.com", "email_verified": true,
	})
	h := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, h[:])
	require.NoError(t, err)
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// follow runs a browser-like redirect chain from a URL and returns the last answer's
// status and location path.
func (c *client) follow(t *testing.T, start string) (int, string) {
	t.Helper()
	next := start
	for range 10 {
		res, err := c.http.Get(next)
		require.NoError(t, err)
		res.Body.Close()
		if res.StatusCode < 300 || res.StatusCode >= 400 {
			return res.StatusCode, next
		}
		loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
		require.NoError(t, err)
		next = loc.String()
		if strings.HasPrefix(next, c.base) && !strings.HasPrefix(loc.Path, "/auth/") {
			return res.StatusCode, loc.Path + "?" + loc.RawQuery
		}
	}
	t.Fatalf("too many redirects from %s", start)
	return 0, ""
}

// TestLinkedIdentity links an OpenID Connect identity (a fake issuer in the test) to
// the agent from their profile, confirms it through the mailed link, and signs in with
// it: the identity is found by (issuer, subject), never by e-mail.
func TestLinkedIdentity(t *testing.T) {
	iss := newFakeIssuer(t, "subject-42")
	srv := startServer(t, "-db", t.TempDir()+"/demo.db", "-admin-password", demoPassword,
		"-oidc-issuer", iss.srv.URL, "-oidc-client-id", "demo-client")

	agent := newClient(t, srv.base)
	agent.login("agent@demo.test", demoPassword)
	var start struct{ URL string }
	agent.must(200, "POST", "/api/v1/me/identities/oidc", nil, &start)
	require.True(t, strings.HasPrefix(start.URL, iss.srv.URL+"/authorize"), start.URL)
	_, landed := agent.follow(t, start.URL)
	assert.Equal(t, "/profile?linked=1", landed)

	var ids struct {
		Identities []struct{ Provider, Status string }
	}
	agent.must(200, "GET", "/api/v1/me/identities", nil, &ids)
	require.Len(t, ids.Identities, 1)
	assert.Equal(t, "pending", ids.Identities[0].Status)

	// A pending identity does not sign in.
	anon := newClient(t, srv.base)
	status, _ := anon.follow(t, srv.base+"/auth/oidc/start?tenant=demo")
	assert.Equal(t, http.StatusUnauthorized, status)

	// Confirm through the mailed link.
	admin := newClient(t, srv.base)
	admin.login("admin@demo.test", demoPassword)
	var outbox struct{ Mails []struct{ To, Link string } }
	admin.must(200, "GET", "/api/v1/dev/outbox", nil, &outbox)
	require.NotEmpty(t, outbox.Mails)
	assert.Equal(t, "agent@demo.test", outbox.Mails[0].To)
	tok := strings.TrimPrefix(outbox.Mails[0].Link, srv.base+"/confirm-identity#")
	require.NotEqual(t, outbox.Mails[0].Link, tok)
	anon.must(200, "POST", "/api/v1/identities/confirm", map[string]string{"token": tok}, nil)

	// Sign in with the identity: a session of the agent.
	browser := newClient(t, srv.base)
	_, landed = browser.follow(t, srv.base+"/auth/oidc/start?tenant=demo")
	assert.Equal(t, "/calls?", landed)
	var me meBody
	browser.must(200, "GET", "/api/v1/me", nil, &me)
	assert.Equal(t, "agent@demo.test", me.User.Email)
	var logins eventsBody
	admin.must(200, "GET", "/api/v1/audit/logins?limit=50", nil, &logins)
	assert.Contains(t, logins.actions(), "login.identity:failure")

	// The agent unlinks it from the profile (they keep their password): it signs in
	// no more.
	var mine struct{ Identities []struct{ ID string } }
	agent.must(200, "GET", "/api/v1/me/identities", nil, &mine)
	require.Len(t, mine.Identities, 1)
	agent.must(204, "DELETE", "/api/v1/me/identities/"+mine.Identities[0].ID, nil, nil)
	agent.must(200, "GET", "/api/v1/me/identities", nil, &mine)
	assert.Empty(t, mine.Identities)
	status, _ = newClient(t, srv.base).follow(t, srv.base+"/auth/oidc/start?tenant=demo")
	assert.Equal(t, http.StatusUnauthorized, status, "an unlinked identity does not sign in")
}
