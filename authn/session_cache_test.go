package authn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readCounter counts the per-request session reads of a memory store (its session
// feed, WatchSessions, is the embedded store's).
type readCounter struct {
	*memory.Store
	reads atomic.Int64
	// after, if set, runs after each read (set it before the reads it is for).
	after func()
}

func (c *readCounter) SessionBySecret(ctx context.Context, tenant uuid.UUID, hash [32]byte) (authn.SessionRecord, error) {
	c.reads.Add(1)
	rec, err := c.Store.SessionBySecret(ctx, tenant, hash)
	if c.after != nil {
		c.after()
	}
	return rec, err
}

// instance returns a second Service over the env's store (another app instance in
// effect, with its own session cache) whose session reads are counted.
func (e *env) instance(t *testing.T, cache authn.SessionCacheOptions) (*authn.Service, *readCounter) {
	t.Helper()
	rc := &readCounter{Store: e.store}
	svc, err := authn.NewService(rc, e.engine, authn.Options{Mailer: e.outbox, Hasher: fastHasher(), Clock: e.clock.Now,
		LinkURL: func(authn.Purpose, authn.LinkToken) string { return "#" }, SessionCache: cache})
	require.NoError(t, err)
	return svc, rc
}

// status serves one GET through svc's middleware with the session cookie.
func status(svc *authn.Service, tok string) int {
	h := svc.Middleware(authn.MiddlewareOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := authn.SessionFrom(r.Context()); !ok || s.ID == uuid.Nil {
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	r := httptest.NewRequest(http.MethodGet, "https://app.example/calls", nil)
	r.RemoteAddr = officeIP.String() + ":4711"
	r.AddCookie(&http.Cookie{Name: "__Host-callshield", Value: tok})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// The session cache serves a session's repeat requests without a store read, and
// every change made through another Service on the same store (another instance)
// stops or refreshes the cached session at its next request: the memory store
// announces each change synchronously (authn.SessionFeed).
func TestSessionCacheServesRepeatsAndForgetsChanges(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	svc, rc := e.instance(t, authn.SessionCacheOptions{})

	res := e.signIn(t, "ann@example.com")
	tok := res.Token.Reveal()
	for range 5 {
		require.Equal(t, http.StatusOK, status(svc, tok))
	}
	assert.Equal(t, int64(1), rc.reads.Load(), "one read, then the cache")
	st := svc.SessionCacheStats()
	assert.True(t, st.Trusted)
	assert.Equal(t, 1, st.Entries)

	// A logout elsewhere: refused at the next request.
	require.NoError(t, e.svc.Logout(ctx, access.Subject{Tenant: e.tenant.ID, User: u.ID, Session: res.Session.ID}))
	assert.Equal(t, http.StatusUnauthorized, status(svc, tok), "a logout on another instance")

	// An administrator's end.
	res = e.signIn(t, "ann@example.com")
	require.Equal(t, http.StatusOK, status(svc, res.Token.Reveal()))
	require.NoError(t, e.svc.EndSession(ctx, e.admin, res.Session.ID))
	assert.Equal(t, http.StatusUnauthorized, status(svc, res.Token.Reveal()), "an administrator's end")

	// A shorter idle timeout: the cached copy is re-read and the session ends.
	res = e.signIn(t, "ann@example.com")
	require.Equal(t, http.StatusOK, status(svc, res.Token.Reveal()))
	cur, err := e.svc.SessionSettings(ctx, e.tenant.ID)
	require.NoError(t, err)
	cur.IdleTimeout = time.Minute
	_, err = e.svc.UpdateSessionSettings(ctx, e.admin, cur)
	require.NoError(t, err)
	e.clock.Advance(time.Minute)
	assert.Equal(t, http.StatusUnauthorized, status(svc, res.Token.Reveal()), "the new idle timeout")

	// A role change: the cached session is rotated like a stored one.
	res = e.signIn(t, "ann@example.com")
	require.Equal(t, http.StatusOK, status(svc, res.Token.Reveal()))
	_, err = e.acc.SetMember(ctx, e.admin, u.ID, e.roles[access.KindSupervisor])
	require.NoError(t, err)
	v, err := svc.ValidateSession(ctx, res.Token.Reveal(), authn.Request{Meta: authn.Meta{IP: officeIP}}, 0)
	require.NoError(t, err)
	require.False(t, v.NewToken.IsZero(), "a new secret after the role change")
	assert.Equal(t, http.StatusUnauthorized, status(svc, res.Token.Reveal()), "the old secret, cached before")
	assert.Equal(t, http.StatusOK, status(svc, v.NewToken.Reveal()))

	// A block: every session of the user stops.
	reads := rc.reads.Load()
	require.Equal(t, http.StatusOK, status(svc, v.NewToken.Reveal()))
	require.Equal(t, reads, rc.reads.Load(), "cached")
	require.NoError(t, e.svc.Block(ctx, e.admin, u.ID))
	assert.Equal(t, http.StatusUnauthorized, status(svc, v.NewToken.Reveal()), "a blocked user")
}

// A session that looks idle by its cached copy is read again before it is ended: its
// last request may have been recorded by another instance.
func TestSessionCacheRereadsBeforeEnding(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	svc, rc := e.instance(t, authn.SessionCacheOptions{})
	res := e.signIn(t, "ann@example.com")
	require.Equal(t, http.StatusOK, status(svc, res.Token.Reveal()))
	// Another instance records a request 20 minutes later (a touch is not announced).
	e.clock.Advance(20 * time.Minute)
	_, err := e.svc.ValidateSession(ctx, res.Token.Reveal(), authn.Request{Meta: authn.Meta{IP: officeIP}}, time.Minute)
	require.NoError(t, err)
	// 35 minutes after sign-in the cached copy looks idle (default 30 min); the store
	// knows the request at 20 minutes, so the session lives.
	e.clock.Advance(15 * time.Minute)
	reads := rc.reads.Load()
	assert.Equal(t, http.StatusOK, status(svc, res.Token.Reveal()))
	assert.Equal(t, reads+1, rc.reads.Load(), "read again, not ended on the cached copy")
}

// With the cache disabled every request reads its session.
func TestSessionCacheDisabled(t *testing.T) {
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	svc, rc := e.instance(t, authn.SessionCacheOptions{Disabled: true})
	res := e.signIn(t, "ann@example.com")
	for range 3 {
		require.Equal(t, http.StatusOK, status(svc, res.Token.Reveal()))
	}
	assert.Equal(t, int64(3), rc.reads.Load())
	assert.False(t, svc.SessionCacheStats().Trusted)
}

// A session read from the cache is handed out as a copy: a handler that changes
// what SessionFrom returned changes nothing the next request sees.
func TestSessionFromIsACopy(t *testing.T) {
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	svc, _ := e.instance(t, authn.SessionCacheOptions{})
	res := e.signIn(t, "ann@example.com")
	var seen []authn.Factor
	h := svc.Middleware(authn.MiddlewareOptions{})(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		s, _ := authn.SessionFrom(r.Context())
		seen = append(seen, s.Factors...)
		s.Factors[0] = "tampered"
	}))
	for range 3 {
		r := httptest.NewRequest(http.MethodGet, "https://app.example/calls", nil)
		r.RemoteAddr = officeIP.String() + ":4711"
		r.AddCookie(&http.Cookie{Name: "__Host-callshield", Value: res.Token.Reveal()})
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	assert.Equal(t, []authn.Factor{authn.FactorPassword, authn.FactorPassword, authn.FactorPassword}, seen)
}

// A request that read its session before an end, and caches it after the end was
// announced, is refused the fill (the invalidation counter moved): once Logout
// returns, no request on any instance of the store is served from the cache, however
// many were in flight. The interleaving is forced by pausing the read.
func TestSessionCacheNoStaleFillAfterEnd(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	svc, rc := e.instance(t, authn.SessionCacheOptions{})
	read, proceed := make(chan struct{}), make(chan struct{})
	rc.after = func() { read <- struct{}{}; <-proceed }
	res := e.signIn(t, "ann@example.com")
	req := authn.Request{Meta: authn.Meta{IP: officeIP}}
	done := make(chan error)
	go func() {
		_, err := svc.ValidateSession(ctx, res.Token.Reveal(), req, 0)
		done <- err
	}()
	<-read // the in-flight request has read the live session
	rc.after = nil
	require.NoError(t, e.svc.Logout(ctx, access.Subject{Tenant: e.tenant.ID, User: u.ID, Session: res.Session.ID}))
	close(proceed)
	require.NoError(t, <-done, "the request in flight before the logout")
	_, err := svc.ValidateSession(ctx, res.Token.Reveal(), req, 0)
	assert.ErrorIs(t, err, authn.ErrSessionInvalid, "the first request after the logout")
	assert.Zero(t, svc.SessionCacheStats().Entries)
}

// feedless is a store whose session lookup reads the policy version (as the memory
// store and SQLite do) but that announces nothing to this Service: its only feed is
// a change listener's (SessionFeedStarted/Confirmed, as storage/pglisten drives it),
// which announces session changes and not policy versions.
type feedless struct{ authn.Store }

// Under a leased feed a cached record's policy version is not kept current (the
// listener drops a session for its own changes, not for the tenant's policy), so a
// role change must rotate the cached session at its next request, as it does an
// uncached one: the policy judged at the record's version must not be reused.
func TestSessionCacheLeasedFeedJudgesByTheCurrentPolicy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	engine := access.NewEngine(e.store, access.EngineOptions{ListenLease: time.Hour}) // reads the version: always current
	svc, err := authn.NewService(feedless{e.store}, engine, authn.Options{Mailer: e.outbox, Hasher: fastHasher(),
		Clock: e.clock.Now, LinkURL: func(authn.Purpose, authn.LinkToken) string { return "#" }})
	require.NoError(t, err)
	svc.SessionFeedStarted()
	svc.SessionFeedConfirmed(engine.Now())
	require.True(t, svc.SessionCacheStats().Trusted)

	tok := e.signIn(t, "ann@example.com").Token.Reveal()
	req := authn.Request{Meta: authn.Meta{IP: officeIP}}
	for range 2 { // read and cached, then judged from the cache
		v, err := svc.ValidateSession(ctx, tok, req, 0)
		require.NoError(t, err)
		require.True(t, v.NewToken.IsZero())
	}
	require.Equal(t, 1, svc.SessionCacheStats().Entries)

	_, err = e.acc.SetMember(ctx, e.admin, u.ID, e.roles[access.KindSupervisor])
	require.NoError(t, err)
	v, err := svc.ValidateSession(ctx, tok, req, 0)
	require.NoError(t, err)
	assert.False(t, v.NewToken.IsZero(), "the promotion rotates the cached session")
	p, err := engine.Policy(ctx, e.tenant.ID)
	require.NoError(t, err)
	if v.Policy != nil {
		assert.Equal(t, p.Version(), v.Policy.Version(), "judged by the current policy")
	}
}

// What no session lookup reads (throttle counters, pending sign-ins) is not announced:
// a failed sign-in does not empty the tenant's cached sessions (on the memory store
// the emptying would also scan the whole cache under the store's lock).
func TestSessionCacheSurvivesFailedSignIns(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	e.onboard(t, "bob@example.com", access.KindAgent)
	svc, rc := e.instance(t, authn.SessionCacheOptions{})
	tok := e.signIn(t, "ann@example.com").Token.Reveal()
	require.Equal(t, http.StatusOK, status(svc, tok))
	reads := rc.reads.Load()
	for range 3 {
		_, err := e.svc.SignIn(ctx, e.tenant.ID, "bob@example.com", authn.NewPassword("not bob's password at all"), authn.Meta{IP: officeIP})
		require.ErrorIs(t, err, authn.ErrInvalidCredentials)
	}
	require.Equal(t, http.StatusOK, status(svc, tok))
	assert.Equal(t, reads, rc.reads.Load(), "still cached")
}

// A Service over the memory store is not kept alive by the store's watcher list: a
// host that rebuilds its Service (a configuration reload) does not accumulate them,
// and the store drops the registration of a collected Service at its next change.
func TestSessionWatcherIsNotKeptForever(t *testing.T) {
	e := newEnv(t)
	svc, _ := e.instance(t, authn.SessionCacheOptions{})
	wp := weak.Make(svc)
	svc = nil
	_ = svc
	runtime.GC()
	runtime.GC()
	assert.Nil(t, wp.Value(), "an unused Service is not kept by the store")
	e.onboard(t, "ann@example.com", access.KindAgent) // changes announce to what is left
	runtime.KeepAlive(e.store)
}

// Requests served from the session cache share the context values of an earlier
// request only when they come from the same address and browser under the same
// policy: a request from another address or browser sees its own in its subject, and
// the allowlist is asked again for it, also after the allowlist changed.
func TestSessionCacheValuesFollowTheRequest(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	svc, rc := e.instance(t, authn.SessionCacheOptions{})
	tok := e.signIn(t, "ann@example.com").Token.Reveal()
	_, err := e.acc.SetAllowlist(ctx, e.admin, []string{"198.51.100.0/24", "203.0.113.0/24"})
	require.NoError(t, err)

	serve := func(ip, ua string) (int, access.Subject) {
		var sub access.Subject
		h := svc.Middleware(authn.MiddlewareOptions{})(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			sub, _ = access.SubjectFrom(r.Context())
		}))
		r := httptest.NewRequest(http.MethodGet, "https://app.example/calls", nil)
		r.RemoteAddr = ip + ":4711"
		r.Header.Set("User-Agent", ua)
		r.AddCookie(&http.Cookie{Name: "__Host-callshield", Value: tok})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, sub
	}
	const firefox, chrome = "Mozilla/5.0 Firefox/128.0", "Mozilla/5.0 Chrome/131.0"
	for _, c := range []struct{ ip, ua string }{
		{"198.51.100.9", firefox}, {"198.51.100.9", firefox}, {"203.0.113.7", firefox},
		{"198.51.100.9", firefox}, {"198.51.100.9", chrome}, {"203.0.113.7", chrome},
	} {
		code, sub := serve(c.ip, c.ua)
		require.Equal(t, http.StatusOK, code, "%s %s", c.ip, c.ua)
		assert.Equal(t, c.ip, sub.IP.String())
		assert.Equal(t, c.ua, sub.UserAgent)
	}
	assert.Equal(t, int64(1), rc.reads.Load(), "all from the cache")

	_, err = e.acc.SetAllowlist(ctx, e.admin, []string{"198.51.100.0/24"})
	require.NoError(t, err)
	code, _ := serve("203.0.113.7", chrome)
	assert.Equal(t, http.StatusForbidden, code, "the address left the allowlist")
	code, sub := serve("198.51.100.9", chrome)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "198.51.100.9", sub.IP.String())
}

// A malformed cookie of the session cookie's name does not hide a well-formed one
// after it (a sibling subdomain or a broken client may add one), and neither the
// quoted form nor a token of the wrong kind is taken for a session.
func TestMiddlewareTakesTheFirstWellFormedSessionCookie(t *testing.T) {
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, "ann@example.com")
	tok := res.Token.Reveal()
	for _, c := range []struct {
		name   string
		header string
		want   int
	}{
		{"alone", "__Host-callshield=" + tok, http.StatusOK},
		{"quoted", `__Host-callshield="` + tok + `"`, http.StatusOK},
		{"after garbage", "__Host-callshield=garbage; __Host-callshield=" + tok, http.StatusOK},
		{"after another cookie", "theme=dark; __Host-callshield=" + tok, http.StatusOK},
		{"second header", "", http.StatusOK},
		{"truncated", "__Host-callshield=" + tok[:len(tok)-1], http.StatusUnauthorized},
		{"other name", "callshield=" + tok, http.StatusUnauthorized},
		{"a byte flipped", "__Host-callshield=" + tok[:len(tok)-1] + flip(tok[len(tok)-1]), http.StatusUnauthorized},
	} {
		w, sub, _ := e.serve(t, authn.MiddlewareOptions{}, http.MethodGet, "", func(r *http.Request) {
			if c.header == "" {
				r.Header["Cookie"] = []string{"a=b", "__Host-callshield=" + tok}
				return
			}
			r.Header.Set("Cookie", c.header)
		})
		assert.Equal(t, c.want, w.Code, c.name)
		if c.want == http.StatusOK {
			assert.Equal(t, res.Session.ID, sub.Session, c.name)
		}
	}
}

// flip returns another base64url character than c.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
