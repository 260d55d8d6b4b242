package authn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBlockedUserHoldsNoRights: a user who may not sign in holds no right in the
// compiled policy, so that the decision does not depend on every caller remembering to
// check the status. After Block the Guard answers 403 for the user's subject, on this
// instance and on another instance sharing the store (the status change moves the
// policy version); Unblock gives the rights back. Their role still tells who manages
// them: a user manager below them still cannot unblock an Admin.
func TestBlockedUserHoldsNoRights(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	sup := e.onboard(t, "sup@example.com", access.KindSupervisor)
	s := e.subject(sup)
	other := access.NewEngine(e.store, access.EngineOptions{}) // a second app instance

	project := func(r *http.Request) (uuid.UUID, error) { return e.project.ID, nil }
	status := func(eng *access.Engine) int {
		g := &access.Guard{Engine: eng, Project: project}
		h := g.Require(access.ListenRecordings)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}))
		req := httptest.NewRequest(http.MethodGet, "/recordings/1", nil)
		req = req.WithContext(access.WithSubject(req.Context(), s))
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		return rr.Code
	}
	require.Equal(t, http.StatusNoContent, status(e.engine))
	require.Equal(t, http.StatusNoContent, status(other))

	require.NoError(t, e.svc.Block(ctx, e.admin, sup.ID))
	assert.Equal(t, http.StatusForbidden, status(e.engine), "blocked: denied on this instance")
	assert.Equal(t, http.StatusForbidden, status(other), "blocked: denied on another instance")
	p, err := other.Policy(ctx, e.tenant.ID)
	require.NoError(t, err)
	assert.False(t, p.Check(s, access.EditProfile, uuid.Nil), "no tenant right")
	assert.False(t, p.Check(s, access.ListenRecordings, e.project.ID), "no project right")
	assert.True(t, p.Scope(s, access.ViewAllCalls).Empty(), "no data scope")
	role, ok := p.Role(sup.ID)
	assert.True(t, ok && role.Kind == access.KindSupervisor, "the role is kept: it is their standing")

	// A blocked user manager can do nothing through the services either.
	mgr := e.onboard(t, "mgr@example.com", access.KindAdmin)
	require.NoError(t, e.svc.Block(ctx, e.admin, mgr.ID))
	_, err = e.acc.CreateProject(ctx, e.subject(mgr), "Shadow")
	assert.ErrorIs(t, err, access.ErrForbidden)
	assert.ErrorIs(t, e.svc.Unblock(ctx, e.subject(mgr), sup.ID), authn.ErrForbidden)

	require.NoError(t, e.svc.Unblock(ctx, e.admin, sup.ID))
	assert.Equal(t, http.StatusNoContent, status(e.engine), "unblocked: allowed again")
	assert.Equal(t, http.StatusNoContent, status(other), "unblocked: allowed on the other instance")

	// Archived is blocked too.
	require.NoError(t, e.svc.Block(ctx, e.admin, sup.ID))
	require.NoError(t, e.svc.Archive(ctx, e.admin, sup.ID))
	assert.Equal(t, http.StatusForbidden, status(other), "archived: denied")
}

// TestDisabledDenialIsRecorded: the Guard records why a disabled member was denied.
func TestDisabledDenialIsRecorded(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	sup := e.onboard(t, "sup@example.com", access.KindSupervisor)
	require.NoError(t, e.svc.Block(ctx, e.admin, sup.ID))
	g := &access.Guard{Engine: e.engine, Audit: audit.NewRecorder(e.store, audit.Options{Clock: e.clock.Now})}
	h := g.Require(access.EditProfile)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	req := httptest.NewRequest(http.MethodGet, "/me", nil)
	req = req.WithContext(access.WithSubject(req.Context(), e.subject(sup)))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	assert.Equal(t, http.StatusForbidden, rr.Code)
	evs := e.events(t, audit.KindAccess)
	require.NotEmpty(t, evs)
	assert.Equal(t, "account_disabled", evs[len(evs)-1].Reason)
}
