package access_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve runs one request of s through h and returns the status.
func serve(h http.Handler, s access.Subject, target string) int {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req = req.WithContext(access.WithSubject(req.Context(), s))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	return rr.Code
}

var noContent = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })

func queryProject(r *http.Request) (uuid.UUID, error) {
	if s := r.URL.Query().Get("project"); s != "" {
		return uuid.Parse(s)
	}
	return uuid.Nil, nil
}

func (w *world) policy(t *testing.T) *access.Policy {
	t.Helper()
	p, err := w.engine.Policy(context.Background(), w.tenant.ID)
	require.NoError(t, err)
	return p
}

// TestTenantWideRightsIgnoreOverrides (issue 14, item 3): a right that is not
// project-scoped is decided on the tenant role alone, whatever project a request
// names. A project override role holding ManageCompany grants nothing by it, so
// "?project=sales" does not turn an Agent into a company manager; the override's
// project-scoped rights still apply in its project.
func TestTenantWideRightsIgnoreOverrides(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	sales, err := w.svc.CreateProject(ctx, w.admin, "Sales")
	require.NoError(t, err)
	wide, err := w.svc.CreateRole(ctx, w.admin, access.RoleSpec{Name: "Sales boss", Rights: []access.Right{
		access.ManageCompany, access.UserManagement, access.ManageRoles, access.SeeAllProjects, access.ListenRecordings}})
	require.NoError(t, err)
	_, err = w.svc.AddProjectMember(ctx, w.admin, sales.ID, w.agentID, wide.ID)
	require.NoError(t, err)

	p := w.policy(t)
	for _, r := range []access.Right{access.ManageCompany, access.UserManagement, access.ManageRoles, access.SeeAllProjects} {
		assert.False(t, p.Check(w.agent, r, sales.ID), "%s through an override", r)
		assert.False(t, p.CheckIn(w.agent, r, sales.ID), "%s through an override (CheckIn)", r)
		assert.True(t, p.Scope(w.agent, r).Empty(), "%s: no scope through an override", r)
	}
	assert.True(t, p.Check(w.agent, access.ListenRecordings, sales.ID), "project-scoped rights of the override apply")
	assert.True(t, p.Check(w.admin, access.ManageCompany, sales.ID), "a tenant role's tenant-wide right holds in any project")

	g := &access.Guard{Engine: w.engine, Project: queryProject}
	h := g.Require(access.ManageCompany)(noContent)
	assert.Equal(t, http.StatusForbidden, serve(h, w.agent, "/settings?project="+sales.ID.String()))
	assert.Equal(t, http.StatusNoContent, serve(h, w.admin, "/settings?project="+sales.ID.String()))

	// The services decide the same way: the override does not let the agent manage
	// users or the company.
	_, err = w.svc.SetAllowlist(ctx, w.agent, []string{"198.51.100.0/24"})
	assert.ErrorIs(t, err, access.ErrForbidden)
	_, err = w.svc.SetMember(ctx, w.agent, w.supervisorID, w.roles[access.KindAgent].ID)
	assert.ErrorIs(t, err, access.ErrForbidden)
}

// TestProjectManagersCannotManageMembersAbove (issue 14, item 2): "nobody manages a
// user above them" holds for project memberships. A project lead whose ManageProjects
// comes from a project override cannot give the tenant Admin another role in the
// project, nor remove them from it, nor touch a Supervisor; they manage Agents. The
// target is judged by their highest standing: an Agent with a Supervisor override is
// above a user manager who holds only Agent rights, in access and for SetMember too.
func TestProjectManagersCannotManageMembersAbove(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	sales, err := w.svc.CreateProject(ctx, w.admin, "Sales")
	require.NoError(t, err)
	lead, err := w.svc.CreateRole(ctx, w.admin, access.RoleSpec{Name: "Project lead",
		Rights: []access.Right{access.ManageProjects, access.ListenRecordings, access.EditProfile}})
	require.NoError(t, err)
	_, err = w.svc.AddProjectMember(ctx, w.admin, sales.ID, w.agentID, lead.ID)
	require.NoError(t, err)
	for _, u := range []uuid.UUID{w.adminID, w.supervisorID} {
		_, err = w.svc.AddProjectMember(ctx, w.admin, sales.ID, u, uuid.Nil)
		require.NoError(t, err)
	}
	agentRole := w.roles[access.KindAgent].ID

	_, err = w.svc.AddProjectMember(ctx, w.agent, sales.ID, w.adminID, agentRole)
	assert.ErrorIs(t, err, access.ErrForbidden, "demoting the Admin in the project")
	assert.ErrorIs(t, w.svc.RemoveProjectMember(ctx, w.agent, sales.ID, w.adminID), access.ErrForbidden, "removing the Admin")
	_, err = w.svc.AddProjectMember(ctx, w.agent, sales.ID, w.supervisorID, agentRole)
	assert.ErrorIs(t, err, access.ErrForbidden, "demoting a Supervisor")
	assert.True(t, w.check(t, w.admin, access.ListenRecordings, sales.ID), "the Admin keeps their rights in the project")

	// An Agent is within the lead's standing.
	other := uuid.New()
	_, err = w.svc.SetMember(ctx, access.System(w.tenant.ID), other, agentRole)
	require.NoError(t, err)
	_, err = w.svc.AddProjectMember(ctx, w.agent, sales.ID, other, uuid.Nil)
	assert.NoError(t, err)
	assert.NoError(t, w.svc.RemoveProjectMember(ctx, w.agent, sales.ID, other))

	// Highest standing: other becomes a Supervisor in Sales; a user manager holding
	// only Agent rights may no longer change their tenant role or remove them.
	_, err = w.svc.AddProjectMember(ctx, w.admin, sales.ID, other, w.roles[access.KindSupervisor].ID)
	require.NoError(t, err)
	um, err := w.svc.CreateRole(ctx, w.admin, access.RoleSpec{Name: "User manager", Rights: []access.Right{access.UserManagement, access.EditProfile}})
	require.NoError(t, err)
	manager := uuid.New()
	_, err = w.svc.SetMember(ctx, w.admin, manager, um.ID)
	require.NoError(t, err)
	ms := access.Subject{Tenant: w.tenant.ID, User: manager}
	_, err = w.svc.SetMember(ctx, ms, other, um.ID)
	assert.ErrorIs(t, err, access.ErrForbidden, "the target's override puts them above the actor")
	assert.ErrorIs(t, w.svc.RemoveMember(ctx, ms, other), access.ErrForbidden)
	p := w.policy(t)
	assert.False(t, p.CanManage(ms, other))
	assert.True(t, p.CanManage(w.admin, other))
	assert.False(t, p.CanManage(ms, uuid.New()), "a non-member is not judged here")
}

// TestProjectScopedRightWithoutProject (issue 14, item 10): a project-scoped right
// checked without a project is granted only to who holds it in every project. A
// Guard without Project (or whose Project finds none) does not let a supervisor of
// Sales open Support's recordings; CheckIn is the decision for data, also for masking;
// RequireTenant is the explicit tenant-level check.
func TestProjectScopedRightWithoutProject(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	sales, err := w.svc.CreateProject(ctx, w.admin, "Sales")
	require.NoError(t, err)
	support, err := w.svc.CreateProject(ctx, w.admin, "Support")
	require.NoError(t, err)
	_, err = w.svc.AddProjectMember(ctx, w.admin, sales.ID, w.supervisorID, uuid.Nil)
	require.NoError(t, err)

	for name, g := range map[string]*access.Guard{
		"no Project":         {Engine: w.engine},
		"Project finds none": {Engine: w.engine, Project: queryProject},
	} {
		h := g.Require(access.ListenRecordings)(noContent)
		assert.Equal(t, http.StatusForbidden, serve(h, w.supervisor, "/recordings/42"), name)
		assert.Equal(t, http.StatusNoContent, serve(h, w.admin, "/recordings/42"), name)
	}
	g := &access.Guard{Engine: w.engine, Project: queryProject}
	h := g.Require(access.ListenRecordings)(noContent)
	assert.Equal(t, http.StatusNoContent, serve(h, w.supervisor, "/recordings/42?project="+sales.ID.String()))
	assert.Equal(t, http.StatusForbidden, serve(h, w.supervisor, "/recordings/42?project="+support.ID.String()))

	p := w.policy(t)
	assert.False(t, p.CheckIn(w.supervisor, access.SeeMaskedFields, uuid.Nil), "masking decided without a project masks")
	assert.True(t, p.CheckIn(w.supervisor, access.SeeMaskedFields, sales.ID))
	assert.False(t, p.CheckIn(w.supervisor, access.SeeMaskedFields, support.ID))
	assert.True(t, p.CheckIn(w.admin, access.SeeMaskedFields, uuid.Nil), "the Admin sees them in every project")
	assert.True(t, p.Check(w.supervisor, access.SeeMaskedFields, uuid.Nil), "Check without a project is the tenant-level answer")

	// An Admin with an Agent override in Support no longer holds it everywhere.
	admin2 := uuid.New()
	_, err = w.svc.SetMember(ctx, w.admin, admin2, w.roles[access.KindAdmin].ID)
	require.NoError(t, err)
	_, err = w.svc.AddProjectMember(ctx, w.admin, support.ID, admin2, w.roles[access.KindAgent].ID)
	require.NoError(t, err)
	s2 := access.Subject{Tenant: w.tenant.ID, User: admin2}
	p = w.policy(t)
	assert.False(t, p.CheckIn(s2, access.SeeMaskedFields, uuid.Nil))
	assert.True(t, p.CheckIn(s2, access.SeeMaskedFields, sales.ID))

	tenantLevel := g.RequireTenant(access.ManageProjects)(noContent)
	assert.Equal(t, http.StatusNoContent, serve(tenantLevel, w.admin, "/projects"))
	assert.Equal(t, http.StatusForbidden, serve(tenantLevel, w.supervisor, "/projects"))
}
