package access_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequire(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	project, err := w.svc.CreateProject(ctx, w.admin, "Sales")
	require.NoError(t, err)
	_, err = w.svc.AddProjectMember(ctx, w.admin, project.ID, w.supervisorID, uuid.Nil)
	require.NoError(t, err)
	_, err = w.svc.SetAllowlist(ctx, w.admin, []string{"198.51.100.0/24"})
	require.NoError(t, err)

	rec := audit.NewRecorder(w.store, audit.Options{})
	g := &access.Guard{Engine: w.engine, Audit: rec, Project: func(r *http.Request) (uuid.UUID, error) {
		if s := r.URL.Query().Get("project"); s != "" {
			return uuid.Parse(s)
		}
		return uuid.Nil, nil
	}}
	var seen *access.Policy
	h := g.Require(access.ListenRecordings)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = access.PolicyFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	do := func(s *access.Subject, target string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		if s != nil {
			req = req.WithContext(access.WithSubject(req.Context(), *s))
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		return rr
	}
	inProject := "/recordings/42?project=" + project.ID.String()

	rr := do(&w.supervisor, inProject)
	assert.Equal(t, http.StatusNoContent, rr.Code)
	require.NotNil(t, seen, "the decided policy travels in the context")

	rr = do(nil, inProject)
	assert.Equal(t, http.StatusUnauthorized, rr.Code)
	assert.JSONEq(t, `{"error":"unauthenticated"}`, rr.Body.String())

	rr = do(&w.agent, inProject)
	assert.Equal(t, http.StatusForbidden, rr.Code)
	assert.JSONEq(t, `{"error":"forbidden"}`, rr.Body.String())
	assert.Equal(t, "application/json; charset=utf-8", rr.Header().Get("Content-Type"))

	away := w.supervisor
	away.IP = netip.MustParseAddr("203.0.113.50")
	rr = do(&away, inProject)
	assert.Equal(t, http.StatusForbidden, rr.Code, "the allowlist is checked on every request")

	rr = do(&w.supervisor, "/recordings/42?project=not-a-uuid")
	assert.Equal(t, http.StatusBadRequest, rr.Code)

	rr = do(&w.supervisor, "/recordings/42?project="+uuid.NewString())
	assert.Equal(t, http.StatusForbidden, rr.Code, "an unknown project is denied")

	denials, err := w.store.Events(ctx, w.tenant.ID, audit.Query{Kind: audit.KindAccess})
	require.NoError(t, err)
	require.Len(t, denials, 3)
	assert.Equal(t, "missing_right", denials[0].Reason)
	assert.Equal(t, w.agentID, denials[0].Actor.User)
	assert.Equal(t, project.ID, denials[0].Project)
	assert.Equal(t, "recordings.listen", denials[0].Details["right"])
	assert.Equal(t, "/recordings/42", denials[0].Details["path"])
	assert.Equal(t, audit.Denied, denials[0].Outcome)
	assert.Equal(t, "ip_not_allowed", denials[1].Reason)
	assert.Equal(t, "203.0.113.50", denials[1].Actor.IP.String())
}

func TestRequireFailsClosed(t *testing.T) {
	w := newWorld(t)
	fs := &failing{Store: w.store, fail: true}
	g := &access.Guard{Engine: access.NewEngine(fs, access.EngineOptions{})}
	called := false
	h := g.Require(access.EditProfile)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req = req.WithContext(access.WithSubject(req.Context(), w.admin))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	assert.Equal(t, http.StatusServiceUnavailable, rr.Code)
	assert.False(t, called)
}

// denyRecorder fails every Record call.
type denyRecorder struct{ calls int }

func (d *denyRecorder) Record(context.Context, audit.Event) error {
	d.calls++
	return errors.New("audit store down")
}

func TestRequireDeniesEvenIfAuditFails(t *testing.T) {
	w := newWorld(t)
	dr := &denyRecorder{}
	g := &access.Guard{Engine: w.engine, Audit: dr}
	h := g.Require(access.ManageRoles)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	req := httptest.NewRequest(http.MethodGet, "/roles", nil)
	req = req.WithContext(access.WithSubject(req.Context(), w.agent))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	assert.Equal(t, http.StatusForbidden, rr.Code)
	assert.Equal(t, 1, dr.calls)
}

func TestSubjectFromRejectsIncomplete(t *testing.T) {
	ctx := access.WithSubject(context.Background(), access.Subject{Tenant: uuid.New()})
	_, ok := access.SubjectFrom(ctx)
	assert.False(t, ok, "a subject without a user is no subject")
	_, ok = access.SubjectFrom(context.Background())
	assert.False(t, ok)
}

// A denial records the path with secret segments redacted, as the action log does: a
// token in "/tokens/{token}/revoke" never reaches the audit trail.
func TestRequireDenialRedactsPathSecrets(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g := &access.Guard{Engine: w.engine, Audit: audit.NewRecorder(w.store, audit.Options{})}
	mux := http.NewServeMux()
	mux.Handle("POST /tokens/{token}/revoke",
		g.Require(access.UserManagement)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	const secret = "cs_live_4f9a1b2c3d4e5f60718293a4b5c6d7e8"
	rr := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/tokens/"+secret+"/revoke", nil)
	mux.ServeHTTP(rr, req.WithContext(access.WithSubject(req.Context(), w.agent)))
	require.Equal(t, http.StatusForbidden, rr.Code)
	denials, err := w.store.Events(ctx, w.tenant.ID, audit.Query{Kind: audit.KindAccess})
	require.NoError(t, err)
	require.Len(t, denials, 1)
	assert.Equal(t, "/tokens/"+audit.RedactedValue+"/revoke", denials[0].Details["path"])
	assert.NotContains(t, fmt.Sprint(denials[0]), secret)
}
