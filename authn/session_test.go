package authn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var officeIP = netip.MustParseAddr("198.51.100.9")

func (e *env) signIn(t *testing.T, email string) authn.SignInResult {
	t.Helper()
	res, err := e.svc.SignIn(context.Background(), e.tenant.ID, email, authn.NewPassword(goodPassword), authn.Meta{IP: officeIP, UserAgent: "Mozilla/5.0 Firefox/128.0"})
	require.NoError(t, err)
	require.NotNil(t, res.Session)
	return res
}

// serve runs one request through the session middleware with the cookie tok and
// returns the response and the subject the handler saw.
func (e *env) serve(t *testing.T, opts authn.MiddlewareOptions, method, tok string, edit ...func(*http.Request)) (*httptest.ResponseRecorder, access.Subject, bool) {
	t.Helper()
	var got access.Subject
	var ok bool
	h := e.svc.Middleware(opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok = access.SubjectFrom(r.Context())
		sess, sok := authn.SessionFrom(r.Context())
		assert.True(t, sok)
		assert.Equal(t, got.Session, sess.ID)
		assert.NotNil(t, access.PolicyFrom(r.Context()))
		_, _ = w.Write([]byte("ok"))
	}))
	r := httptest.NewRequest(method, "https://app.example/calls?q=1", nil)
	r.RemoteAddr = officeIP.String() + ":4711"
	r.Header.Set("User-Agent", "Mozilla/5.0 Firefox/128.0")
	if tok != "" {
		r.AddCookie(&http.Cookie{Name: "__Host-callshield", Value: tok})
	}
	for _, f := range edit {
		f(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w, got, ok
}

func TestSignInCreatesSession(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, "ann@example.com")
	assert.Nil(t, res.Pending)
	assert.True(t, strings.HasPrefix(res.Token.Reveal(), "cssn_"))
	assert.Equal(t, u.ID, res.Session.User)
	assert.Equal(t, authn.SessionAdmin, res.Session.Kind)
	assert.Equal(t, []authn.Factor{authn.FactorPassword}, res.Session.Factors)
	assert.Equal(t, e.clock.Now().Add(authn.DefaultLifetime), res.Session.ExpiresAt)

	w, subj, ok := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	require.Equal(t, http.StatusOK, w.Code)
	require.True(t, ok)
	assert.Equal(t, access.Subject{Tenant: e.tenant.ID, User: u.ID, Session: res.Session.ID, IP: officeIP, UserAgent: "Mozilla/5.0 Firefox/128.0"}, subj)

	var actions []string
	for _, ev := range append(e.events(t, audit.KindLogin), e.events(t, audit.KindSession)...) {
		actions = append(actions, ev.Action+":"+string(ev.Outcome))
	}
	assert.Equal(t, []string{"login.password:success", "session.start:success"}, actions)

	// The cookie helpers.
	rec := httptest.NewRecorder()
	authn.Cookie{}.Set(rec, res.Token, res.Session.ExpiresAt)
	c := rec.Result().Cookies()[0]
	assert.Equal(t, "__Host-callshield", c.Name)
	assert.True(t, c.Secure && c.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.Equal(t, "/", c.Path)
	rec = httptest.NewRecorder()
	authn.Cookie{Insecure: true}.Clear(rec)
	c = rec.Result().Cookies()[0]
	assert.Equal(t, "callshield_dev", c.Name)
	assert.False(t, c.Secure)
	assert.Equal(t, -1, c.MaxAge)

	// Logout ends the session.
	require.NoError(t, e.svc.Logout(ctx, subj))
	w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.JSONEq(t, `{"error":"unauthenticated"}`, w.Body.String())
	ends := e.events(t, audit.KindSession)
	assert.Equal(t, "session.end", ends[len(ends)-1].Action)
	assert.Equal(t, authn.EndLogout, ends[len(ends)-1].Reason)
	assert.Equal(t, u.ID, ends[len(ends)-1].Actor.User, "who ended it")
}

// 7.2.4: a secret the client had before signing in (planted by an attacker) never
// becomes a session's: sign-in always issues a fresh one.
func TestSessionFixation(t *testing.T) {
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	planted := "cssn_" + strings.Repeat("A", 64)
	w, _, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, planted)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	res := e.signIn(t, "ann@example.com")
	assert.NotEqual(t, planted, res.Token.Reveal())
	w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, planted)
	assert.Equal(t, http.StatusUnauthorized, w.Code, "the planted value is still nothing after sign-in")
	res2 := e.signIn(t, "ann@example.com")
	assert.NotEqual(t, res.Token.Reveal(), res2.Token.Reveal(), "a new secret at every sign-in")
	for _, bad := range []string{"", "cssn_", "cssn_!!", res.Token.Reveal() + "A", "cspsi_" + res.Token.Reveal()[5:], strings.Repeat("x", 5000)} {
		_, err := e.svc.ValidateSession(context.Background(), bad, authn.Request{}, 0)
		assert.ErrorIs(t, err, authn.ErrSessionInvalid, "%.20q", bad)
	}
}

// A stolen secret stops working once the session is rotated; the deadline is kept.
func TestRotateSession(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, "ann@example.com")
	stolen := res.Token.Reveal()
	_, subj, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, stolen)
	e.clock.Advance(time.Minute)
	fresh, err := e.svc.RotateSession(ctx, subj)
	require.NoError(t, err)
	w, _, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, stolen)
	assert.Equal(t, http.StatusUnauthorized, w.Code, "the old secret stops working at once")
	w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, fresh.Reveal())
	assert.Equal(t, http.StatusOK, w.Code)
	v, err := e.svc.ValidateSession(ctx, fresh.Reveal(), authn.Request{Meta: authn.Meta{IP: officeIP}}, 0)
	require.NoError(t, err)
	assert.Equal(t, res.Session.ExpiresAt, v.Session.ExpiresAt, "rotation never extends the deadline")
	assert.Equal(t, res.Session.ID, v.Session.ID)
}

// 7.3.1 / 7.3.2: idle timeout and absolute lifetime, per tenant, with an injected clock.
func TestSessionExpiry(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	opts := authn.MiddlewareOptions{TouchInterval: 30 * time.Second}

	res := e.signIn(t, "ann@example.com")
	e.clock.Advance(29 * time.Minute)
	w, _, _ := e.serve(t, opts, http.MethodGet, res.Token.Reveal())
	require.Equal(t, http.StatusOK, w.Code, "29 minutes idle")
	e.clock.Advance(29 * time.Minute)
	w, _, _ = e.serve(t, opts, http.MethodGet, res.Token.Reveal())
	require.Equal(t, http.StatusOK, w.Code, "the request 29 minutes ago was recorded and reset the idle clock")
	e.clock.Advance(30 * time.Minute)
	w, _, _ = e.serve(t, opts, http.MethodGet, res.Token.Reveal())
	assert.Equal(t, http.StatusUnauthorized, w.Code, "30 minutes idle ends the session")
	assert.Contains(t, w.Header().Get("Set-Cookie"), "Max-Age=0", "and clears the cookie")

	// Absolute lifetime: active all the time, still ended at 12 hours.
	res = e.signIn(t, "ann@example.com")
	for i := 0; i < 47; i++ {
		e.clock.Advance(15 * time.Minute)
		w, _, _ = e.serve(t, opts, http.MethodGet, res.Token.Reveal())
		require.Equal(t, http.StatusOK, w.Code, "after %d quarters", i+1)
	}
	e.clock.Advance(15 * time.Minute)
	w, _, _ = e.serve(t, opts, http.MethodGet, res.Token.Reveal())
	assert.Equal(t, http.StatusUnauthorized, w.Code, "12 hours after sign-in")

	// Per tenant: a shorter idle timeout applies to live sessions at their next request.
	res = e.signIn(t, "ann@example.com")
	_, err := e.svc.UpdateSessionSettings(ctx, e.admin, authn.SessionSettings{IdleTimeout: 5 * time.Minute})
	require.NoError(t, err)
	e.clock.Advance(6 * time.Minute)
	w, _, _ = e.serve(t, opts, http.MethodGet, res.Token.Reveal())
	assert.Equal(t, http.StatusUnauthorized, w.Code)

	var reasons []string
	for _, ev := range e.events(t, audit.KindSession) {
		if ev.Action == "session.end" {
			reasons = append(reasons, ev.Reason)
		}
	}
	assert.Equal(t, []string{authn.EndIdle, authn.EndExpired, authn.EndIdle}, reasons)
}

// A blocked user's live session stops at its next request, and Block ends it in the
// store; the host's SessionEnder (API tokens) is still called.
func TestBlockedUserSessionStops(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, "ann@example.com")
	other := e.signIn(t, "ann@example.com")
	w, _, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	require.Equal(t, http.StatusOK, w.Code)
	require.NoError(t, e.svc.Block(ctx, e.admin, u.ID))
	w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	list, err := e.store.Sessions(ctx, e.tenant.ID, u.ID)
	require.NoError(t, err)
	assert.Empty(t, list, "Block ended every session")
	assert.Equal(t, []string{u.ID.String() + "/" + uuid.Nil.String()}, e.sess.calls, "Options.Sessions is still called")
	ends := e.events(t, audit.KindSession)
	last := ends[len(ends)-1]
	assert.Equal(t, authn.EndBlocked, last.Reason)
	assert.Equal(t, e.admin.User, last.Actor.User, "who ended them")
	_ = other
}

// A session whose user was blocked where the ender did not run (another instance, a
// failed ender) is refused by its next request all the same.
func TestBlockedUserSessionRefusedWithoutEnder(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, "ann@example.com")
	ev := audit.Event{Tenant: e.tenant.ID, Kind: audit.KindChange, Action: "user.block", Outcome: audit.Success}
	require.NoError(t, audit.Prepare(&ev, e.clock.Now()))
	require.NoError(t, e.store.SetStatus(ctx, e.tenant.ID, u.ID, authn.StatusActive, authn.StatusBlocked, e.clock.Now(), ev))
	w, _, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	assert.Equal(t, http.StatusUnauthorized, w.Code)
}

// 8.2.4: an address leaving the allowlist mid-session is refused at once; a spoofed
// X-Forwarded-For from an untrusted peer is ignored.
func TestSessionAllowlistAndForwardedFor(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, "ann@example.com")
	w, _, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	require.Equal(t, http.StatusOK, w.Code)
	_, err := e.acc.SetAllowlist(ctx, e.admin, []string{"203.0.113.0/24"})
	require.NoError(t, err)
	w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	assert.Equal(t, http.StatusForbidden, w.Code, "the address left the allowlist")
	assert.JSONEq(t, `{"error":"ip_not_allowed"}`, w.Body.String())

	spoof := func(r *http.Request) { r.Header.Set("X-Forwarded-For", "203.0.113.7") }
	w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal(), spoof)
	assert.Equal(t, http.StatusForbidden, w.Code, "X-Forwarded-For from an untrusted peer is ignored")
	trusted := authn.MiddlewareOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}
	w, subj, _ := e.serve(t, trusted, http.MethodGet, res.Token.Reveal(), spoof)
	assert.Equal(t, http.StatusOK, w.Code, "through a trusted proxy the forwarded address counts")
	assert.Equal(t, netip.MustParseAddr("203.0.113.7"), subj.IP)
}

// A cached session keeps the values of its last request and serves the next one
// from the same raw client (peer address and X-Forwarded-For, as this middleware
// reads them) without resolving its address again: every other client is resolved
// and judged by the allowlist, whichever middleware served the session before, and
// neither the host changing its proxy list nor a handler editing the request's
// header afterwards changes what the kept values stand for.
func TestCachedSessionResolvesEveryClient(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	tok := e.signIn(t, "ann@example.com").Token.Reveal()
	_, err := e.acc.SetAllowlist(ctx, e.admin, []string{"203.0.113.0/24"})
	require.NoError(t, err)

	var got access.Subject
	var edit func(*http.Request) // what the handler does to the request it is given
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = access.SubjectFrom(r.Context())
		if edit != nil {
			edit(r)
		}
	})
	proxies := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")} // officeIP is the proxy
	viaProxy := e.svc.Middleware(authn.MiddlewareOptions{TrustedProxies: proxies})(handler)
	direct := e.svc.Middleware(authn.MiddlewareOptions{})(handler)
	proxies[0] = netip.MustParsePrefix("192.0.2.0/24") // the middleware keeps its own copy
	serve := func(h http.Handler, remote, ua string, forwarded ...string) (int, access.Subject) {
		t.Helper()
		got = access.Subject{}
		r := httptest.NewRequest(http.MethodGet, "https://app.example/calls", nil)
		r.RemoteAddr = remote
		r.Header.Set("User-Agent", ua)
		r.AddCookie(&http.Cookie{Name: "__Host-callshield", Value: tok})
		for _, f := range forwarded {
			r.Header.Add("X-Forwarded-For", f)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, got
	}
	const ff = "Mozilla/5.0 Firefox/128.0"
	proxy := officeIP.String() + ":4711"
	for _, c := range []struct {
		name      string
		h         http.Handler
		remote    string
		ua        string
		forwarded []string
		want      int
		ip        string
	}{
		{"through the proxy", viaProxy, proxy, ff, []string{"203.0.113.7"}, http.StatusOK, "203.0.113.7"},
		{"the same client again", viaProxy, proxy, ff, []string{"203.0.113.7"}, http.StatusOK, "203.0.113.7"},
		{"another client behind the proxy", viaProxy, proxy, ff, []string{"192.0.2.1"}, http.StatusForbidden, ""},
		{"back to an allowed one", viaProxy, proxy, ff, []string{"203.0.113.8"}, http.StatusOK, "203.0.113.8"},
		{"two header lines", viaProxy, proxy, ff, []string{"192.0.2.1", "203.0.113.9"}, http.StatusOK, "203.0.113.9"},
		{"the lines swapped", viaProxy, proxy, ff, []string{"203.0.113.9", "192.0.2.1"}, http.StatusForbidden, ""},
		{"a peer that is no proxy", viaProxy, "203.0.113.50:1", ff, []string{"192.0.2.1"}, http.StatusOK, "203.0.113.50"},
		{"the proxy, seen by a middleware that trusts none", direct, proxy, ff, []string{"203.0.113.8"}, http.StatusForbidden, ""},
		{"another browser", viaProxy, proxy, "curl/8.5", []string{"203.0.113.8"}, http.StatusOK, "203.0.113.8"},
	} {
		code, sub := serve(c.h, c.remote, c.ua, c.forwarded...)
		require.Equal(t, c.want, code, c.name)
		if c.want == http.StatusOK {
			assert.Equal(t, c.ip, sub.IP.String(), c.name)
			assert.Equal(t, c.ua, sub.UserAgent, c.name)
		}
	}

	// The handler rewrites the header lines it was given; the values kept for that
	// request still stand for what the client sent.
	edit = func(r *http.Request) { r.Header["X-Forwarded-For"][0] = "192.0.2.1" }
	code, _ := serve(viaProxy, proxy, ff, "203.0.113.7")
	require.Equal(t, http.StatusOK, code)
	edit = nil
	code, _ = serve(viaProxy, proxy, ff, "192.0.2.1")
	assert.Equal(t, http.StatusForbidden, code, "the rewritten line is another client")
}

// Cross-origin state-changing requests are refused before the session is used.
func TestCrossOriginRequestsRefused(t *testing.T) {
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, "ann@example.com")
	for _, c := range []struct {
		name   string
		method string
		hdr    map[string]string
		want   int
	}{
		{"cross-site POST", http.MethodPost, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site POST from a sibling", http.MethodPost, map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"foreign Origin without Sec-Fetch-Site", http.MethodDelete, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"same-origin POST", http.MethodPost, map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"cross-site GET", http.MethodGet, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusOK},
	} {
		w, _, _ := e.serve(t, authn.MiddlewareOptions{}, c.method, res.Token.Reveal(), func(r *http.Request) {
			for k, v := range c.hdr {
				r.Header.Set(k, v)
			}
		})
		assert.Equal(t, c.want, w.Code, c.name)
	}
}

// Concurrent wrong codes on one pending sign-in: at most MaxPendingAttempts of them
// are ever verified, even when every request reads the pending sign-in before any
// failure is counted (an attacker who knows the password fires a burst of guesses).
func TestCompleteSignInBoundsConcurrentGuesses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	release := make(chan struct{})
	var verified atomic.Int32
	authn.SetSecondFactor(e.svc, &authn.TestSecondFactor{Enrolled: map[uuid.UUID]bool{u.ID: true}, Code: "123456",
		Verifying: func() { verified.Add(1); <-release }})
	res, err := e.svc.SignIn(ctx, e.tenant.ID, u.Email, authn.NewPassword(goodPassword), authn.Meta{IP: officeIP})
	require.NoError(t, err)
	require.NotNil(t, res.Pending)

	const guesses = 4 * authn.MaxPendingAttempts
	var finished atomic.Int32
	var wg sync.WaitGroup
	for range guesses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "999999", authn.Meta{IP: officeIP})
			assert.Error(t, err)
			finished.Add(1)
		}()
	}
	// Every guess is either held in its verification or answered already.
	require.Eventually(t, func() bool { return verified.Load()+finished.Load() == guesses },
		10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	assert.LessOrEqual(t, verified.Load(), int32(authn.MaxPendingAttempts), "guesses verified on one pending sign-in")
}

// An address that the allowlist stops allowing while a second factor is owed gets one
// answer for a wrong and a right code: the error must not tell that the code was right.
func TestCompleteSignInOutsideAllowlistAnswersAlike(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	authn.SetSecondFactor(e.svc, &authn.TestSecondFactor{Enrolled: map[uuid.UUID]bool{u.ID: true}, Code: "123456"})
	res, err := e.svc.SignIn(ctx, e.tenant.ID, u.Email, authn.NewPassword(goodPassword), authn.Meta{IP: officeIP})
	require.NoError(t, err)
	require.NotNil(t, res.Pending)
	_, err = e.acc.SetAllowlist(ctx, e.admin, []string{"203.0.113.0/24"})
	require.NoError(t, err)
	_, wrong := e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "999999", authn.Meta{IP: officeIP})
	_, right := e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "123456", authn.Meta{IP: officeIP})
	require.Error(t, right)
	assert.Equal(t, wrong, right, "the same error for a wrong and a right code")
	assert.ErrorIs(t, right, authn.ErrIPNotAllowed, "from outside the allowlist every failure is ErrIPNotAllowed")
}

// A user whose role ignores the allowlist is outside it in nothing: from outside, a
// wrong code is a wrong code (ErrInvalidCredentials, not a refused address), and the
// right one signs in.
func TestCompleteSignInOutsideAllowlistForABypassingRole(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "boss@example.com", access.KindAdmin) // the Admin role ignores the allowlist
	authn.SetSecondFactor(e.svc, &authn.TestSecondFactor{Enrolled: map[uuid.UUID]bool{u.ID: true}, Code: "123456"})
	_, err := e.acc.SetAllowlist(ctx, e.admin, []string{"203.0.113.0/24"})
	require.NoError(t, err)
	res, err := e.svc.SignIn(ctx, e.tenant.ID, u.Email, authn.NewPassword(goodPassword), authn.Meta{IP: officeIP})
	require.NoError(t, err)
	require.NotNil(t, res.Pending)
	_, err = e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "999999", authn.Meta{IP: officeIP})
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
	assert.NotErrorIs(t, err, authn.ErrIPNotAllowed)
	done, err := e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "123456", authn.Meta{IP: officeIP})
	require.NoError(t, err)
	assert.NotNil(t, done.Session)
}

func TestPendingSignInAndCompleteSignIn(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	second := &authn.TestSecondFactor{Enrolled: map[uuid.UUID]bool{u.ID: true}, Code: "123456"}
	authn.SetSecondFactor(e.svc, second)

	res, err := e.svc.SignIn(ctx, e.tenant.ID, "ann@example.com", authn.NewPassword(goodPassword), authn.Meta{IP: officeIP, Kind: authn.SessionWorkplace})
	require.NoError(t, err)
	require.Nil(t, res.Session, "no session while a factor is owed")
	require.NotNil(t, res.Pending)
	assert.True(t, strings.HasPrefix(res.PendingToken.Reveal(), "cspsi_"))
	_, err = e.svc.ValidateSession(ctx, res.PendingToken.Reveal(), authn.Request{Meta: authn.Meta{IP: officeIP}}, 0)
	assert.ErrorIs(t, err, authn.ErrSessionInvalid, "a pending sign-in is no session")

	_, err = e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "123456", authn.Meta{IP: netip.MustParseAddr("203.0.113.1")})
	assert.ErrorIs(t, err, authn.ErrPendingInvalid, "bound to the address it started from")
	_, err = e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "000000", authn.Meta{IP: officeIP})
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
	done, err := e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "123456", authn.Meta{IP: officeIP})
	require.NoError(t, err)
	require.NotNil(t, done.Session)
	assert.Equal(t, []authn.Factor{authn.FactorPassword, authn.FactorTOTP}, done.Session.Factors)
	assert.Equal(t, authn.SessionWorkplace, done.Session.Kind)
	assert.NotEqual(t, res.PendingToken.Reveal(), done.Token.Reveal(), "the session gets its own secret")
	_, err = e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "123456", authn.Meta{IP: officeIP})
	assert.ErrorIs(t, err, authn.ErrPendingInvalid, "single use")

	// Attempts are bounded.
	res, err = e.svc.SignIn(ctx, e.tenant.ID, "ann@example.com", authn.NewPassword(goodPassword), authn.Meta{IP: officeIP})
	require.NoError(t, err)
	for i := 0; i < authn.MaxPendingAttempts; i++ {
		_, err = e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "999999", authn.Meta{IP: officeIP})
		assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
	}
	_, err = e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "123456", authn.Meta{IP: officeIP})
	assert.ErrorIs(t, err, authn.ErrPendingInvalid, "used up after MaxPendingAttempts failures")
	e.clock.Advance(authn.DefaultLockDuration) // the five wrong codes locked this address's second factor

	// Expiry.
	res, err = e.svc.SignIn(ctx, e.tenant.ID, "ann@example.com", authn.NewPassword(goodPassword), authn.Meta{IP: officeIP})
	require.NoError(t, err)
	e.clock.Advance(authn.PendingSignInTTL)
	_, err = e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "123456", authn.Meta{IP: officeIP})
	assert.ErrorIs(t, err, authn.ErrPendingInvalid, "expired")

	// 100 concurrent completions: one session.
	res, err = e.svc.SignIn(ctx, e.tenant.ID, "ann@example.com", authn.NewPassword(goodPassword), authn.Meta{IP: officeIP})
	require.NoError(t, err)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "123456", authn.Meta{IP: officeIP}); err == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())

	var outcomes []string
	for _, ev := range e.events(t, audit.KindLogin) {
		if ev.Action == "login.totp" {
			outcomes = append(outcomes, string(ev.Outcome)+":"+ev.Reason)
		}
	}
	assert.Contains(t, outcomes, "failure:address_changed")
	assert.Contains(t, outcomes, "failure:wrong_code")
	assert.Contains(t, outcomes, "success:")
	assert.Contains(t, outcomes, "failure:pending_expired")
}

func TestReauthenticateAndRecentAuth(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, "ann@example.com")
	_, subj, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	require.NoError(t, authn.RequireRecentAuth(ctx, e.svc, subj, 0), "just signed in")
	e.clock.Advance(6 * time.Minute)
	assert.ErrorIs(t, authn.RequireRecentAuth(ctx, e.svc, subj, 0), authn.ErrReauthRequired)
	assert.NoError(t, authn.RequireRecentAuth(ctx, e.svc, subj, 10*time.Minute))
	assert.ErrorIs(t, e.svc.Reauthenticate(ctx, subj, authn.NewPassword("not the password!"), authn.Meta{IP: officeIP}), authn.ErrInvalidCredentials)
	assert.ErrorIs(t, authn.RequireRecentAuth(ctx, e.svc, subj, 0), authn.ErrReauthRequired)
	require.NoError(t, e.svc.Reauthenticate(ctx, subj, authn.NewPassword(goodPassword), authn.Meta{IP: officeIP}))
	assert.NoError(t, authn.RequireRecentAuth(ctx, e.svc, subj, 0))
	tokenSubject := subj
	tokenSubject.Session, tokenSubject.Token = uuid.Nil, uuid.New()
	assert.ErrorIs(t, authn.RequireRecentAuth(ctx, e.svc, tokenSubject, 0), authn.ErrReauthRequired, "API tokens never count as recent")
}

// Issue #14 item 8: from outside the allowlist the answer does not depend on the
// password, tells nothing about which accounts exist or bypass the allowlist, and only
// a right password of a bypassing role signs in.
func TestAllowlistIsNoPasswordOracle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "agent@example.com", access.KindAgent)
	e.onboard(t, "boss@example.com", access.KindAdmin) // the Admin role ignores the allowlist
	_, err := e.acc.SetAllowlist(ctx, e.admin, []string{"203.0.113.0/24"})
	require.NoError(t, err)
	outside := authn.Meta{IP: officeIP}
	inside := authn.Meta{IP: netip.MustParseAddr("203.0.113.7")}
	for _, c := range []struct{ email, pw string }{
		{"agent@example.com", goodPassword},
		{"agent@example.com", "a wrong password here"},
		{"nobody@example.com", goodPassword},
		{"boss@example.com", "a wrong password here"},
		{"not an email", goodPassword},
	} {
		_, err := e.svc.SignIn(ctx, e.tenant.ID, c.email, authn.NewPassword(c.pw), outside)
		assert.ErrorIs(t, err, authn.ErrIPNotAllowed, "%s from outside", c.email)
		_, err = e.svc.Authenticate(ctx, e.tenant.ID, c.email, authn.NewPassword(c.pw), outside)
		assert.ErrorIs(t, err, authn.ErrIPNotAllowed, "Authenticate: %s from outside", c.email)
	}
	e.clock.Advance(2 * time.Second) // the escalating delay after the two wrong passwords above
	_, err = e.svc.SignIn(ctx, e.tenant.ID, "boss@example.com", authn.NewPassword(goodPassword), outside)
	assert.NoError(t, err, "a role that ignores the allowlist signs in from anywhere")
	_, err = e.svc.SignIn(ctx, e.tenant.ID, "agent@example.com", authn.NewPassword("a wrong password here"), inside)
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "inside, failures are the usual answer")
	_, err = e.svc.SignIn(ctx, e.tenant.ID, "agent@example.com", authn.NewPassword(goodPassword), inside)
	assert.NoError(t, err)
}

func TestSessionListsAndEnds(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ann := e.onboard(t, "ann@example.com", access.KindAgent)
	bob := e.onboard(t, "bob@example.com", access.KindSupervisor)
	a1, a2 := e.signIn(t, "ann@example.com"), e.signIn(t, "ann@example.com")
	b1 := e.signIn(t, "bob@example.com")
	_, annSubj, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, a1.Token.Reveal())
	_, bobSubj, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, b1.Token.Reveal())

	mine, err := e.svc.MySessions(ctx, annSubj)
	require.NoError(t, err)
	assert.Len(t, mine, 2)
	assert.ErrorIs(t, e.svc.EndMySession(ctx, annSubj, b1.Session.ID), storage.ErrNotFound, "not another user's")
	require.NoError(t, e.svc.EndMySession(ctx, annSubj, a2.Session.ID))
	mine, err = e.svc.MySessions(ctx, annSubj)
	require.NoError(t, err)
	assert.Len(t, mine, 1)

	_, err = e.svc.ActiveSessions(ctx, annSubj)
	assert.ErrorIs(t, err, authn.ErrForbidden, "an agent may not view active sessions")
	all, err := e.svc.ActiveSessions(ctx, e.admin)
	require.NoError(t, err)
	assert.Len(t, all, 2)

	assert.ErrorIs(t, e.svc.EndSession(ctx, bobSubj, a1.Session.ID), authn.ErrForbidden, "ending another's session needs UserManagement")
	require.NoError(t, e.svc.EndSessionsOf(ctx, e.admin, ann.ID))
	w, _, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, a1.Token.Reveal())
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	n, err := e.svc.EndAllSessions(ctx, e.admin)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_ = bob
	var reasons []string
	for _, ev := range e.events(t, audit.KindSession) {
		if ev.Action == "session.end" {
			reasons = append(reasons, ev.Reason+":"+ev.Target.Type)
		}
	}
	assert.Equal(t, []string{"revoked:session", "revoked:user", "revoked:tenant"}, reasons)
}

func TestUpdateWorkplace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	res, err := e.svc.SignIn(ctx, e.tenant.ID, "ann@example.com", authn.NewPassword(goodPassword), authn.Meta{IP: officeIP, Kind: authn.SessionWorkplace})
	require.NoError(t, err)
	e.clock.Advance(31 * time.Second) // past the touch interval: this request is recorded
	_, subj, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	require.NoError(t, e.svc.UpdateWorkplace(ctx, subj, authn.WorkplaceState{Status: "on call", StatusSince: e.clock.Now(), Queue: "Sales", CallID: "c-1"}))
	all, err := e.svc.ActiveSessions(ctx, e.admin)
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, "on call", all[0].Workplace.Status)
	assert.Equal(t, "/calls", all[0].LastURL, "the last URL is recorded without its query")
	adm := e.signIn(t, "ann@example.com")
	_, admSubj, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, adm.Token.Reveal())
	assert.Error(t, e.svc.UpdateWorkplace(ctx, admSubj, authn.WorkplaceState{Status: "x"}), "not on an admin session")
}

func TestSessionTokenRedaction(t *testing.T) {
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, "ann@example.com")
	raw := res.Token.Reveal()
	for _, s := range []string{res.Token.String(), res.Token.GoString()} {
		assert.NotContains(t, s, raw[5:])
	}
	b, err := res.Token.MarshalJSON()
	require.NoError(t, err)
	assert.NotContains(t, string(b), raw[5:])
}

// The cleanup job ends sessions past their deadline (with their events) and removes
// expired pending sign-ins and throttle counters that no longer count.
func TestCleanupSessions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	e.signIn(t, "ann@example.com")
	assert.ErrorIs(t, e.try("ann@example.com", "a wrong password", ip("203.0.113.1")), authn.ErrInvalidCredentials)
	e.clock.Advance(authn.DefaultLifetime)
	live := e.signIn(t, "ann@example.com")
	rep, err := e.svc.CleanupSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Sessions)
	assert.Equal(t, 2, rep.Counters, "the wrong password's pair and address counters (the later success reset the account's)")
	list, err := e.store.Sessions(ctx, e.tenant.ID, u.ID)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, live.Session.ID, list[0].ID)
	evs := e.events(t, audit.KindSession)
	assert.Equal(t, authn.EndExpired, evs[len(evs)-1].Reason, "the expired session's end is recorded")
	rep, err = e.svc.CleanupSessions(ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Sessions, "idempotent")
}

// A password change from the current session rotates its secret: the old one stops
// working at once, the new one keeps the session and its deadline.
func TestChangePasswordRotatesSession(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, "ann@example.com")
	old := res.Token.Reveal()
	_, subj, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, old)
	next := authn.NewPassword("a brand new passphrase 77")
	_, err := e.svc.ChangePasswordAndRotate(ctx, subj, authn.NewPassword("not my password!"), next, false)
	assert.ErrorIs(t, err, authn.ErrWrongPassword)
	w, _, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, old)
	assert.Equal(t, http.StatusOK, w.Code, "a failed change rotates nothing")
	e.clock.Advance(time.Minute)
	fresh, err := e.svc.ChangePasswordAndRotate(ctx, subj, authn.NewPassword(goodPassword), next, false)
	require.NoError(t, err)
	assert.NotEqual(t, old, fresh.Reveal())
	w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, old)
	assert.Equal(t, http.StatusUnauthorized, w.Code, "the old secret stops working at once")
	w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, fresh.Reveal())
	assert.Equal(t, http.StatusOK, w.Code)
	v, err := e.svc.ValidateSession(ctx, fresh.Reveal(), authn.Request{Meta: authn.Meta{IP: officeIP}}, 0)
	require.NoError(t, err)
	assert.Equal(t, res.Session.ID, v.Session.ID)
	assert.Equal(t, res.Session.ExpiresAt, v.Session.ExpiresAt, "rotation never extends the deadline")
	_, err = e.svc.Authenticate(ctx, e.tenant.ID, "ann@example.com", next, authn.Meta{})
	assert.NoError(t, err, "the password is changed")
}

// A role change is a privilege change (ASVS 7.2.4): the next request of the user's
// session rotates its secret and sets the new cookie; the old secret is then refused
// (401, its cookie left alone: the browser already holds the new one), the new one
// works without another rotation; a demotion and a project membership rotate again,
// each a "session.rotate" event with reason role_changed; a request without a change
// rotates nothing.
func TestRoleChangeRotatesTheSession(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	tok := e.signIn(t, "ann@example.com").Token.Reveal()
	rotations := func() int {
		n := 0
		for _, ev := range e.events(t, audit.KindSession) {
			if ev.Action == "session.rotate" && ev.Reason == "role_changed" {
				n++
			}
		}
		return n
	}
	newCookie := func(w *httptest.ResponseRecorder) string {
		for _, c := range w.Result().Cookies() {
			if c.Name == "__Host-callshield" {
				return c.Value
			}
		}
		return ""
	}
	for range 3 {
		w, _, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, tok)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Empty(t, newCookie(w), "nothing changed: no new secret")
	}
	assert.Zero(t, rotations())

	change := func(what string, apply func()) {
		t.Helper()
		apply()
		w, subj, ok := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, tok)
		require.Equal(t, http.StatusOK, w.Code, what)
		require.True(t, ok)
		assert.Equal(t, u.ID, subj.User)
		fresh := newCookie(w)
		require.NotEmpty(t, fresh, "%s: the response sets the new secret", what)
		assert.NotEqual(t, tok, fresh)
		w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, tok)
		assert.Equal(t, http.StatusUnauthorized, w.Code, "%s: the old secret stops at once", what)
		assert.Empty(t, w.Result().Cookies(), "%s: and its cookie is not cleared", what)
		w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, fresh)
		assert.Equal(t, http.StatusOK, w.Code, what)
		assert.Empty(t, newCookie(w), "%s: the new secret needs no other rotation", what)
		tok = fresh
	}
	change("promotion", func() {
		_, err := e.acc.SetMember(ctx, e.admin, u.ID, e.roles[access.KindSupervisor])
		require.NoError(t, err)
	})
	change("demotion", func() {
		_, err := e.acc.SetMember(ctx, e.admin, u.ID, e.roles[access.KindAgent])
		require.NoError(t, err)
	})
	proj, err := e.acc.CreateProject(ctx, e.admin, "Rotation desk")
	require.NoError(t, err)
	change("project override", func() {
		_, err := e.acc.AddProjectMember(ctx, e.admin, proj.ID, u.ID, e.roles[access.KindSupervisor])
		require.NoError(t, err)
	})
	assert.Equal(t, 3, rotations())
	v, err := e.svc.ValidateSession(ctx, tok, authn.Request{Meta: authn.Meta{IP: officeIP}}, 0)
	require.NoError(t, err)
	assert.True(t, v.NewToken.IsZero())
	p, err := e.engine.Policy(ctx, e.tenant.ID)
	require.NoError(t, err)
	assert.Equal(t, p.Privilege(u.ID), v.Session.Privilege, "the session holds the current fingerprint")
}

// laggingStore reads sessions without the policy version, as the PostgreSQL adapter
// does, so that its Service takes the policy from its engine's cache, which
// EngineOptions.MaxStaleness may let lag.
type laggingStore struct{ *memory.Store }

func (l laggingStore) SessionBySecret(ctx context.Context, tenant uuid.UUID, hash [32]byte) (authn.SessionRecord, error) {
	rec, err := l.Store.SessionBySecret(ctx, tenant, hash)
	rec.PolicyVersion = 0
	return rec, err
}

// An instance whose policy lags the one that rotated a session for a role change
// does not rotate it back: only a policy of a later version than the one the
// session's fingerprint was computed at rotates (no ping-pong between instances).
func TestRotationOnlyMovesForward(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	stale := access.NewEngine(e.store, access.EngineOptions{MaxStaleness: time.Hour, Clock: e.clock.Now})
	lagging, err := authn.NewService(laggingStore{e.store}, stale, authn.Options{Mailer: e.outbox, Hasher: fastHasher(),
		Clock: e.clock.Now, LinkURL: func(authn.Purpose, authn.LinkToken) string { return "#" }})
	require.NoError(t, err)
	tok := e.signIn(t, "ann@example.com").Token.Reveal()
	req := authn.Request{Meta: authn.Meta{IP: officeIP}}
	_, err = lagging.ValidateSession(ctx, tok, req, 0) // the lagging instance caches the policy
	require.NoError(t, err)

	_, err = e.acc.SetMember(ctx, e.admin, u.ID, e.roles[access.KindSupervisor])
	require.NoError(t, err)
	v, err := e.svc.ValidateSession(ctx, tok, req, 0)
	require.NoError(t, err)
	require.False(t, v.NewToken.IsZero(), "the up-to-date instance rotates for the promotion")
	tok = v.NewToken.Reveal()
	for range 3 {
		v, err = lagging.ValidateSession(ctx, tok, req, 0)
		require.NoError(t, err)
		assert.True(t, v.NewToken.IsZero(), "the lagging instance does not rotate back")
	}
	v, err = e.svc.ValidateSession(ctx, tok, req, 0)
	require.NoError(t, err)
	assert.True(t, v.NewToken.IsZero(), "and the session is not rotated again")
}

// ASVS 7.3.2: a shorter absolute lifetime applies to live sessions at their next
// request (their deadline is cut to sign-in plus the new lifetime, also when cached);
// a longer one extends none.
func TestShorterLifetimeAppliesToLiveSessions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, "ann@example.com")
	w, _, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	require.Equal(t, http.StatusOK, w.Code) // cached now
	st, err := e.svc.SessionSettings(ctx, e.tenant.ID)
	require.NoError(t, err)
	st.Lifetime = time.Hour
	_, err = e.svc.UpdateSessionSettings(ctx, e.admin, st)
	require.NoError(t, err)
	e.clock.Advance(20 * time.Minute)
	w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	require.Equal(t, http.StatusOK, w.Code, "within the new lifetime")
	e.clock.Advance(20 * time.Minute)
	w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	require.Equal(t, http.StatusOK, w.Code)
	e.clock.Advance(21 * time.Minute) // 61 minutes after sign-in, requests every 20
	w, _, _ = e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, res.Token.Reveal())
	assert.Equal(t, http.StatusUnauthorized, w.Code, "past sign-in + the new lifetime")
	ends := e.events(t, audit.KindSession)
	assert.Equal(t, authn.EndExpired, ends[len(ends)-1].Reason)
}
