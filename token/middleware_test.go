package token_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// api is the host's API behind the token middleware: a route that names its project
// in the path and checks a right with access.Guard, as handlers behind a session do,
// and a catch-all route.
type api struct {
	e       *env
	handler http.Handler
	mu      sync.Mutex
	seen    []access.Subject
}

func projectOf(r *http.Request) (uuid.UUID, error) {
	if p := r.PathValue("project"); p != "" {
		return uuid.Parse(p)
	}
	return uuid.Nil, nil
}

func newAPI(t *testing.T, e *env, svc *token.Service) *api {
	t.Helper()
	a := &api{e: e}
	guard := &access.Guard{Engine: e.engine, Project: projectOf}
	mux := http.NewServeMux()
	record := func(w http.ResponseWriter, r *http.Request) {
		s, ok := access.SubjectFrom(r.Context())
		require.True(t, ok)
		a.mu.Lock()
		a.seen = append(a.seen, s)
		a.mu.Unlock()
		if r.URL.Query().Get("fail") != "" {
			http.Error(w, "nope", http.StatusConflict)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}
	// The middleware is mounted inside each route, so that Options.Project and the
	// action log see the route's path values and pattern.
	mux.Handle("GET /projects/{project}/calls", svc.Middleware(guard.Require(access.EditProfile)(http.HandlerFunc(record))))
	mux.Handle("/", svc.Middleware(http.HandlerFunc(record)))
	a.handler = mux
	return a
}

// do sends a request with the bearer token (if any) from ip.
func (a *api) do(method, target, bearer, ip string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = ip + ":4711"
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, r)
	return w
}

func (a *api) get(target, bearer string) *httptest.ResponseRecorder {
	return a.do(http.MethodGet, target, bearer, "198.51.100.7", nil)
}

const genericBody = `{"error":"invalid_token"}` + "\n"

func TestMiddlewareLetsTheTokenActAsItsUser(t *testing.T) {
	e := newEnv(t, envOptions{})
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	tk, sec := e.issue(t, ann)
	a := newAPI(t, e, e.tokens)

	w := a.do(http.MethodGet, "/projects/"+e.sales.ID.String()+"/calls?page=2&api_key=hunter2", sec.Reveal(), "198.51.100.7", nil,
		"User-Agent", "crm-sync/1.0")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Len(t, a.seen, 1)
	s := a.seen[0]
	assert.Equal(t, access.Subject{Tenant: e.tenant.ID, User: ann.User, Token: tk.ID,
		IP: netip.MustParseAddr("198.51.100.7"), UserAgent: "crm-sync/1.0"}, s, "the subject as the session middleware makes it, with the token ID")

	evs := e.events(t, audit.KindAction)
	require.Len(t, evs, 1, "one action-log event per request")
	ev := evs[0]
	assert.Equal(t, tk.ID, ev.Actor.Token)
	assert.Equal(t, ann.User, ev.Actor.User)
	assert.Equal(t, "Integrator", ev.Actor.Role)
	assert.Equal(t, netip.MustParseAddr("198.51.100.7"), ev.Actor.IP)
	assert.Equal(t, e.sales.ID, ev.Project)
	assert.Equal(t, audit.Success, ev.Outcome)
	assert.Equal(t, "GET", ev.Details[audit.DetailMethod])
	assert.Equal(t, "/projects/"+e.sales.ID.String()+"/calls", ev.Details[audit.DetailURL])
	assert.Equal(t, "2", ev.Details["query.page"])
	assert.Equal(t, audit.RedactedValue, ev.Details["query.api_key"], "parameters redacted as ActionEvent does")
	assert.Equal(t, "200", ev.Details[token.DetailStatus])
	assert.Contains(t, ev.Details, token.DetailDurationMS)
	assert.NotContains(t, e.allText(t), sec.Reveal()[4:30], "the token never reaches the log")

	// A handler error is counted and logged as a failure.
	w = a.get("/me?fail=1", sec.Reveal())
	assert.Equal(t, http.StatusConflict, w.Code)
	evs = e.events(t, audit.KindAction)
	require.Len(t, evs, 2)
	assert.Equal(t, audit.Failure, evs[1].Outcome)
	assert.Equal(t, "409", evs[1].Details[token.DetailStatus])
}

func TestMiddlewareDenials(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	_, sec := e.issue(t, ann)
	raw := sec.Reveal()
	svc, err := token.NewService(e.store, e.engine, token.Options{Users: token.StatusFunc(e.userStatus), Actions: e.writer,
		Clock: e.clock.Now, After: never, Project: projectOf})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(ctx) })
	a := newAPI(t, e, svc)
	sales := "/projects/" + e.sales.ID.String() + "/calls"
	require.Equal(t, http.StatusOK, a.get(sales, raw).Code, "the baseline is allowed")

	unauthorized := func(t *testing.T, w *httptest.ResponseRecorder) {
		t.Helper()
		assert.Equal(t, http.StatusUnauthorized, w.Code)
		assert.Equal(t, genericBody, w.Body.String(), "one generic body")
		assert.Equal(t, `Bearer error="invalid_token"`, w.Header().Get("WWW-Authenticate"))
	}
	actionsBefore := func() int { return len(e.events(t, audit.KindAction)) }

	t.Run("malformed, checksum-failing, unknown, missing or non-Bearer: 401, not logged", func(t *testing.T) {
		n := actionsBefore()
		flipped := []byte(raw)
		flipped[20] ^= 1
		for name, r := range map[string]*http.Request{
			"malformed": bearerReq(sales, "cst_nope"), "checksum": bearerReq(sales, string(flipped)),
			"unknown": bearerReq(sales, mintToken(t, e.tenant.ID)), "missing": httptest.NewRequest("GET", sales, nil),
			"basic":       withHeader(httptest.NewRequest("GET", sales, nil), "Authorization", "Basic "+raw),
			"bare token":  withHeader(httptest.NewRequest("GET", sales, nil), "Authorization", raw),
			"two headers": withHeader(withHeader(bearerReq(sales, raw), "X", "y"), "Authorization", "Bearer "+raw),
		} {
			w := httptest.NewRecorder()
			a.handler.ServeHTTP(w, r)
			t.Run(name, func(t *testing.T) { unauthorized(t, w) })
		}
		assert.Equal(t, n, actionsBefore(), "made-up tokens name no real tenant: nothing is logged")
	})

	t.Run("token in the query string or a form field: 401 and never logged, even with a good header", func(t *testing.T) {
		n := actionsBefore()
		form := url.Values{"note": {"x"}, "key": {raw}}.Encode()
		for name, w := range map[string]*httptest.ResponseRecorder{
			"query":              a.get(sales+"?token="+raw, ""),
			"query with header":  a.get(sales+"?t="+url.QueryEscape(raw), raw),
			"access_token param": a.get(sales+"?access_token=abc", raw),
			"path":               a.get("/me/"+raw, raw),
			"form":               a.do(http.MethodPost, "/me", raw, "198.51.100.7", strings.NewReader(form), "Content-Type", "application/x-www-form-urlencoded"),
			"form access_token":  a.do(http.MethodPost, "/me", "", "198.51.100.7", strings.NewReader("access_token="+raw), "Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
		} {
			t.Run(name, func(t *testing.T) { unauthorized(t, w) })
		}
		assert.Equal(t, n, actionsBefore())
		assert.NotContains(t, e.allText(t), raw[4:30])
	})

	t.Run("other project: 403, logged", func(t *testing.T) {
		w := a.get("/projects/"+e.support.ID.String()+"/calls", raw)
		assert.Equal(t, http.StatusForbidden, w.Code)
		assert.JSONEq(t, `{"error":"forbidden"}`, w.Body.String())
		last := lastAction(t, e)
		assert.Equal(t, audit.Denied, last.Outcome)
		assert.Equal(t, "missing_right", last.Reason)
		assert.Equal(t, e.support.ID, last.Project)
	})

	t.Run("other tenant: its projects are unknown to the token's tenant, and a forged token naming it is unknown", func(t *testing.T) {
		other := newEnvSharing(t, e)
		p, err := e.acc.CreateProject(ctx, other, "Theirs")
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, a.get("/projects/"+p.ID.String()+"/calls", raw).Code)
		unauthorized(t, a.get(sales, mintToken(t, other.Tenant)))
	})

	t.Run("right removed: 403 on the next request", func(t *testing.T) {
		role, err := e.store.Role(ctx, e.tenant.ID, e.integrator)
		require.NoError(t, err)
		_, err = e.acc.UpdateRole(ctx, e.admin, role.ID, role.Version, access.RoleSpec{Name: "Integrator", Rights: []access.Right{access.EditProfile}})
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, a.get(sales, raw).Code)
		assert.Equal(t, "missing_right", lastAction(t, e).Reason)
		role, err = e.store.Role(ctx, e.tenant.ID, e.integrator)
		require.NoError(t, err)
		_, err = e.acc.UpdateRole(ctx, e.admin, role.ID, role.Version, access.RoleSpec{Name: "Integrator", Rights: []access.Right{access.EditProfile, access.Integrations}})
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, a.get(sales, raw).Code)
	})

	t.Run("project membership removed: 403 on the next request", func(t *testing.T) {
		require.NoError(t, e.acc.RemoveProjectMember(ctx, e.admin, e.sales.ID, ann.User))
		assert.Equal(t, http.StatusForbidden, a.get(sales, raw).Code)
		_, err := e.acc.AddProjectMember(ctx, e.admin, e.sales.ID, ann.User, uuid.Nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, a.get(sales, raw).Code)
	})

	t.Run("allowlist: 403 from outside it, unless the role ignores it", func(t *testing.T) {
		_, err := e.acc.SetAllowlist(ctx, e.admin, []string{"203.0.113.0/24"})
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, a.get(sales, raw).Code)
		assert.Equal(t, "ip_not_allowed", lastAction(t, e).Reason)
		assert.Equal(t, http.StatusOK, a.do(http.MethodGet, sales, raw, "203.0.113.9", nil).Code)
		// X-Forwarded-For is not believed from an untrusted peer.
		assert.Equal(t, http.StatusForbidden, a.do(http.MethodGet, sales, raw, "198.51.100.7", nil, "X-Forwarded-For", "203.0.113.9").Code)
		role, err := e.store.Role(ctx, e.tenant.ID, e.integrator)
		require.NoError(t, err)
		_, err = e.acc.UpdateRole(ctx, e.admin, role.ID, role.Version, access.RoleSpec{Name: "Integrator",
			Rights: []access.Right{access.EditProfile, access.Integrations, access.IgnoreAllowedIPs}})
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, a.get(sales, raw).Code, "the role ignores the allowlist")
		_, err = e.acc.SetAllowlist(ctx, e.admin, nil)
		require.NoError(t, err)
	})

	t.Run("expired: 401, logged as such", func(t *testing.T) {
		bob := e.onboard(t, "bob@example.com", e.integrator, e.sales.ID)
		_, bsec, err := svc.Issue(ctx, bob, token.IssueRequest{Name: "short", ExpiresAt: e.clock.Now().Add(time.Minute)})
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, a.get(sales, bsec.Reveal()).Code)
		e.clock.Advance(time.Minute)
		unauthorized(t, a.get(sales, bsec.Reveal()))
		assert.Equal(t, "token_expired", lastAction(t, e).Reason)
	})

	t.Run("blocked user: 401", func(t *testing.T) {
		cid := e.onboard(t, "cid@example.com", e.integrator, e.sales.ID)
		_, csec, err := svc.Issue(ctx, cid, token.IssueRequest{Name: "c"})
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, a.get(sales, csec.Reveal()).Code)
		require.NoError(t, e.accounts.Block(ctx, e.admin, cid.User))
		unauthorized(t, a.get(sales, csec.Reveal()))
	})

	t.Run("revoked: 401, logged as such", func(t *testing.T) {
		require.NoError(t, svc.Revoke(ctx, e.admin, ann.User))
		unauthorized(t, a.get(sales, raw))
		last := lastAction(t, e)
		assert.Equal(t, "token_revoked", last.Reason)
		assert.Equal(t, audit.Denied, last.Outcome)
	})

	t.Run("a policy that cannot be read fails closed", func(t *testing.T) {
		dan := e.onboard(t, "dan@example.com", e.integrator, e.sales.ID)
		_, dsec, err := svc.Issue(ctx, dan, token.IssueRequest{Name: "d"})
		require.NoError(t, err)
		r := bearerReq(sales, dsec.Reveal())
		cctx, cancel := context.WithCancel(r.Context())
		cancel()
		w := httptest.NewRecorder()
		a.handler.ServeHTTP(w, r.WithContext(cctx))
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	})

	t.Run("Guard.Require behind the middleware still decides the handler's right", func(t *testing.T) {
		role, err := e.store.Role(ctx, e.tenant.ID, e.integrator)
		require.NoError(t, err)
		_, err = e.acc.UpdateRole(ctx, e.admin, role.ID, role.Version, access.RoleSpec{Name: "Integrator", Rights: []access.Right{access.Integrations}})
		require.NoError(t, err)
		eve := e.onboard(t, "eve@example.com", e.integrator, e.sales.ID)
		_, esec, err := svc.Issue(ctx, eve, token.IssueRequest{Name: "e"})
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, a.get(sales, esec.Reveal()).Code, "the route needs profile.edit, which the token's user lacks")
		assert.Equal(t, http.StatusOK, a.get("/me", esec.Reveal()).Code)
	})
}

func bearerReq(target, tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = "198.51.100.7:4711"
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

func withHeader(r *http.Request, k, v string) *http.Request {
	r.RemoteAddr = "198.51.100.7:4711"
	r.Header.Add(k, v)
	return r
}

// mintToken returns a well-formed token of tenant that was never issued.
func mintToken(t *testing.T, tenant uuid.UUID) string {
	t.Helper()
	return token.Mint(tenant)
}

func lastAction(t *testing.T, e *env) audit.Event {
	t.Helper()
	evs := e.events(t, audit.KindAction)
	require.NotEmpty(t, evs)
	return evs[len(evs)-1]
}

func TestUsageCountsConcurrentRequests(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	require.NoError(t, err)
	e := newEnv(t, envOptions{location: func(uuid.UUID) *time.Location { return rome }})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	bob := e.onboard(t, "bob@example.com", e.integrator, e.sales.ID)
	atk, asec := e.issue(t, ann)
	btk, bsec := e.issue(t, bob)
	a := newAPI(t, e, e.tokens)
	// 23:30 UTC on 25 November is already 26 November in Rome.
	e.clock.Advance(14*time.Hour + 30*time.Minute)

	const n = 1000
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sec, target := asec, "/me"
			if i%4 == 0 {
				sec = bsec
			}
			if i%10 == 0 {
				target = "/me?fail=1"
			}
			w := a.get(target, sec.Reveal())
			if w.Code != http.StatusOK && w.Code != http.StatusConflict {
				t.Errorf("request %d: %d", i, w.Code)
			}
		})
	}
	wg.Wait()
	stored, err := e.store.Usage(ctx, e.tenant.ID, token.UsageQuery{From: "2026-11-01", To: "2026-11-30"})
	require.NoError(t, err)
	assert.Empty(t, stored, "nothing is written per request: counts wait for the flush")
	unflushed, err := e.tokens.Usage(ctx, e.admin, token.UsageQuery{From: "2026-11-01", To: "2026-11-30"})
	require.NoError(t, err)
	require.NoError(t, e.tokens.Flush(ctx))

	rows, err := e.tokens.Usage(ctx, e.admin, token.UsageQuery{From: "2026-11-01", To: "2026-11-30"})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	byToken := map[uuid.UUID]token.Usage{}
	var total int64
	for _, r := range rows {
		byToken[r.Token] = r
		total += r.Requests
		assert.Equal(t, token.Day("2026-11-26"), r.Day, "the tenant's day")
	}
	assert.Equal(t, int64(n), total, "every request counted once")
	assert.Equal(t, rows, unflushed, "the report read before the flush, from memory, is the same")
	assert.Equal(t, int64(n/4), byToken[btk.ID].Requests)
	assert.Equal(t, int64(3*n/4), byToken[atk.ID].Requests)
	assert.Equal(t, int64(n/20), byToken[btk.ID].Errors, "i%%4==0 and i%%10==0: every 20th")
	assert.Equal(t, int64(n/10-n/20), byToken[atk.ID].Errors)
	assert.Len(t, e.events(t, audit.KindAction), n, "one action-log event per request")

	// Own usage without rights; another's or the tenant's needs UserManagement.
	mine, err := e.tokens.Usage(ctx, ann, token.UsageQuery{User: ann.User, From: "2026-11-26", To: "2026-11-26"})
	require.NoError(t, err)
	require.Len(t, mine, 1)
	assert.Equal(t, int64(3*n/4), mine[0].Requests)
	_, err = e.tokens.Usage(ctx, ann, token.UsageQuery{User: bob.User, From: "2026-11-26", To: "2026-11-26"})
	assert.ErrorIs(t, err, token.ErrForbidden)
	_, err = e.tokens.Usage(ctx, ann, token.UsageQuery{From: "2026-11-26", To: "2026-11-26"})
	assert.ErrorIs(t, err, token.ErrForbidden)
	for _, q := range []token.UsageQuery{{From: "2026-11-27", To: "2026-11-26"}, {From: "2026-1-1", To: "2026-11-26"}, {From: "2020-01-01", To: "2026-11-26"}} {
		_, err = e.tokens.Usage(ctx, e.admin, q)
		assert.ErrorIs(t, err, token.ErrInvalidPeriod, "%+v", q)
	}

	// LastUsedAt moved with the flush; a second batch adds up; Close flushes the rest.
	got, err := e.tokens.Current(ctx, ann, ann.User)
	require.NoError(t, err)
	assert.True(t, got.LastUsedAt.Equal(e.clock.Now()), "last used %v", got.LastUsedAt)
	for range 5 {
		a.get("/me", asec.Reveal())
	}
	require.NoError(t, e.tokens.Close(ctx))
	mine, err = e.tokens.Usage(ctx, ann, token.UsageQuery{User: ann.User, From: "2026-11-26", To: "2026-11-26"})
	require.NoError(t, err)
	assert.Equal(t, int64(3*n/4+5), mine[0].Requests)
}

func TestFlushFailureKeepsTheCounts(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	_, sec := e.issue(t, ann)
	a := newAPI(t, e, e.tokens)
	for range 3 {
		a.get("/me", sec.Reveal())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.Error(t, e.tokens.Flush(cctx), "the store refuses a cancelled context")
	require.NoError(t, e.tokens.Flush(ctx))
	rows, err := e.tokens.Usage(ctx, ann, token.UsageQuery{User: ann.User, From: "2026-11-25", To: "2026-11-25"})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, int64(3), rows[0].Requests)
}

func TestMiddlewareErrorBodiesAreJSON(t *testing.T) {
	e := newEnv(t, envOptions{})
	a := newAPI(t, e, e.tokens)
	w := a.get("/me", "cst_x")
	var body map[string]string
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, "invalid_token", body["error"])
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
}
