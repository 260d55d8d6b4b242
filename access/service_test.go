package access_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// world is one tenant provisioned through the Service, with an Admin, a Supervisor and
// an Agent, over the memory store.
type world struct {
	store                          *memory.Store
	engine                         *access.Engine
	svc                            *access.Service
	tenant                         access.Tenant
	roles                          map[access.RoleKind]access.Role
	admin, supervisor, agent       access.Subject
	adminID, supervisorID, agentID uuid.UUID
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{store: memory.New(memory.Options{})}
	w.engine = access.NewEngine(w.store, access.EngineOptions{})
	w.svc = access.NewService(w.store, w.engine, access.ServiceOptions{})
	var err error
	w.tenant, err = w.svc.CreateTenant(ctx, "Acme Call Center")
	require.NoError(t, err)
	roles, err := w.store.Roles(ctx, w.tenant.ID)
	require.NoError(t, err)
	w.roles = map[access.RoleKind]access.Role{}
	for _, r := range roles {
		w.roles[r.Kind] = r
	}
	require.Len(t, w.roles, 3, "the three default roles are created with the tenant")
	sys := access.System(w.tenant.ID)
	w.adminID, w.supervisorID, w.agentID = uuid.New(), uuid.New(), uuid.New()
	for user, kind := range map[uuid.UUID]access.RoleKind{w.adminID: access.KindAdmin, w.supervisorID: access.KindSupervisor, w.agentID: access.KindAgent} {
		_, err := w.svc.SetMember(ctx, sys, user, w.roles[kind].ID)
		require.NoError(t, err)
	}
	ip := netip.MustParseAddr("198.51.100.10")
	w.admin = access.Subject{Tenant: w.tenant.ID, User: w.adminID, IP: ip, UserAgent: "test"}
	w.supervisor = access.Subject{Tenant: w.tenant.ID, User: w.supervisorID, IP: ip}
	w.agent = access.Subject{Tenant: w.tenant.ID, User: w.agentID, IP: ip}
	return w
}

func (w *world) check(t *testing.T, s access.Subject, r access.Right, project uuid.UUID) bool {
	t.Helper()
	p, err := w.engine.Policy(context.Background(), w.tenant.ID)
	require.NoError(t, err)
	return p.Check(s, r, project)
}

func (w *world) changes(t *testing.T) []audit.Event {
	t.Helper()
	evs, err := w.store.Events(context.Background(), w.tenant.ID, audit.Query{Kind: audit.KindChange, Limit: audit.MaxLimit})
	require.NoError(t, err)
	return evs
}

func TestDefaultRoles(t *testing.T) {
	w := newWorld(t)
	assert.True(t, w.check(t, w.admin, access.ManageCompany, uuid.Nil))
	assert.True(t, w.check(t, w.admin, access.ViewChangeLog, uuid.Nil))
	assert.True(t, w.check(t, w.admin, access.SeeAllProjects, uuid.Nil))
	assert.False(t, w.check(t, w.supervisor, access.ManageRoles, uuid.Nil))
	assert.True(t, w.check(t, w.supervisor, access.ViewReports, uuid.Nil))
	assert.False(t, w.check(t, w.agent, access.SeeMaskedFields, uuid.Nil))
	assert.True(t, w.check(t, w.agent, access.EditProfile, uuid.Nil))
	assert.Equal(t, "Admin", w.roles[access.KindAdmin].Name)
}

func TestRoleLifecycleAndChangeLog(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	before := len(w.changes(t))

	role, err := w.svc.CreateRole(ctx, w.admin, access.RoleSpec{Name: "Quality Analyst", Rights: []access.Right{access.ListenRecordings, access.ViewReports}})
	require.NoError(t, err)
	assert.Equal(t, []string{"recordings.listen", "reports.view"}, role.Rights)

	_, err = w.svc.CreateRole(ctx, w.admin, access.RoleSpec{Name: "Quality Analyst"})
	assert.ErrorIs(t, err, storage.ErrConflict, "duplicate role name")

	_, err = w.svc.SetMember(ctx, w.admin, w.agentID, role.ID)
	require.NoError(t, err)
	assert.True(t, w.check(t, w.agent, access.ViewReports, uuid.Nil), "a role change applies on the next check")

	updated, err := w.svc.UpdateRole(ctx, w.admin, role.ID, role.Version, access.RoleSpec{Name: "QA", Rights: []access.Right{access.ListenRecordings}})
	require.NoError(t, err)
	assert.Equal(t, role.Version+1, updated.Version)
	assert.False(t, w.check(t, w.agent, access.ViewReports, uuid.Nil), "a narrowed role applies on the next check")

	_, err = w.svc.UpdateRole(ctx, w.admin, role.ID, role.Version, access.RoleSpec{Name: "QA2"})
	assert.ErrorIs(t, err, storage.ErrStale, "an update from a stale form is refused")

	assert.ErrorIs(t, w.svc.DeleteRole(ctx, w.admin, role.ID), access.ErrRoleInUse)
	_, err = w.svc.SetMember(ctx, w.admin, w.agentID, w.roles[access.KindAgent].ID)
	require.NoError(t, err)
	require.NoError(t, w.svc.DeleteRole(ctx, w.admin, role.ID))
	_, err = w.store.Role(ctx, w.tenant.ID, role.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound)

	evs := w.changes(t)[before:]
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
		assert.Equal(t, w.adminID, e.Actor.User, "who")
		assert.Equal(t, "Admin", e.Actor.Role)
		assert.Equal(t, time.UTC, e.Time.Location(), "when, in UTC")
		assert.NotEmpty(t, e.Changes, "field-level diff")
	}
	assert.Equal(t, []string{"role.create", "member.set_role", "role.update", "member.set_role", "role.delete"}, actions,
		"one event per change, none for refused changes")
	upd := evs[2]
	assert.Contains(t, upd.Changes, audit.Change{Field: "name", Old: "Quality Analyst", New: "QA"})
	assert.Contains(t, upd.Changes, audit.Change{Field: "rights", Old: "recordings.listen,reports.view", New: "recordings.listen"})
}

func TestBuiltinRoles(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	_, err := w.svc.UpdateRole(ctx, w.admin, w.roles[access.KindAdmin].ID, 0, access.RoleSpec{Name: "Boss"})
	assert.ErrorIs(t, err, access.ErrBuiltinRole)
	for _, k := range []access.RoleKind{access.KindAdmin, access.KindSupervisor, access.KindAgent} {
		assert.ErrorIs(t, w.svc.DeleteRole(ctx, w.admin, w.roles[k].ID), access.ErrBuiltinRole)
	}
	sup := w.roles[access.KindSupervisor]
	_, err = w.svc.UpdateRole(ctx, w.admin, sup.ID, 0, access.RoleSpec{Name: sup.Name, Rights: []access.Right{access.ViewReports}})
	require.NoError(t, err, "default roles other than Admin are editable")
	assert.False(t, w.check(t, w.supervisor, access.ListenRecordings, uuid.Nil))
}

func TestNoEscalation(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	// A role manager who lacks SeeMaskedFields and UserManagement.
	mgrRole, err := w.svc.CreateRole(ctx, w.admin, access.RoleSpec{Name: "Role manager", Rights: []access.Right{access.ManageRoles, access.ViewReports}})
	require.NoError(t, err)
	mgrID := uuid.New()
	_, err = w.svc.SetMember(ctx, w.admin, mgrID, mgrRole.ID)
	require.NoError(t, err)
	mgr := access.Subject{Tenant: w.tenant.ID, User: mgrID}

	_, err = w.svc.CreateRole(ctx, mgr, access.RoleSpec{Name: "Peeker", Rights: []access.Right{access.SeeMaskedFields}})
	assert.ErrorIs(t, err, access.ErrForbidden, "cannot create a role with a right one lacks")
	_, err = w.svc.UpdateRole(ctx, mgr, mgrRole.ID, 0, access.RoleSpec{Name: "Role manager", Rights: []access.Right{access.ManageRoles, access.UserManagement}})
	assert.ErrorIs(t, err, access.ErrForbidden, "cannot widen one's own role")
	_, err = w.svc.CreateRole(ctx, mgr, access.RoleSpec{Name: "Reader", Rights: []access.Right{access.ViewReports}})
	assert.NoError(t, err, "can grant rights one holds")

	// A user manager cannot promote anyone (themselves included) to Admin.
	umRole, err := w.svc.CreateRole(ctx, w.admin, access.RoleSpec{Name: "User manager", Rights: []access.Right{access.UserManagement, access.EditProfile}})
	require.NoError(t, err)
	umID := uuid.New()
	_, err = w.svc.SetMember(ctx, w.admin, umID, umRole.ID)
	require.NoError(t, err)
	um := access.Subject{Tenant: w.tenant.ID, User: umID}
	_, err = w.svc.SetMember(ctx, um, umID, w.roles[access.KindAdmin].ID)
	assert.ErrorIs(t, err, access.ErrForbidden)
	_, err = w.svc.SetMember(ctx, um, w.adminID, w.roles[access.KindAgent].ID)
	assert.ErrorIs(t, err, access.ErrForbidden, "cannot demote a user with more rights")
	assert.ErrorIs(t, w.svc.RemoveMember(ctx, um, w.adminID), access.ErrForbidden)
	_, err = w.svc.SetMember(ctx, um, w.agentID, w.roles[access.KindAgent].ID)
	assert.NoError(t, err)
	newUser := uuid.New()
	_, err = w.svc.SetMember(ctx, um, newUser, w.roles[access.KindAgent].ID)
	assert.NoError(t, err, "can add an agent")

	// Rights the actor lacks entirely.
	_, err = w.svc.CreateProject(ctx, w.agent, "Sales")
	assert.ErrorIs(t, err, access.ErrForbidden)
	_, err = w.svc.SetAllowlist(ctx, w.supervisor, nil)
	assert.ErrorIs(t, err, access.ErrForbidden)
}

func TestLastAdmin(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	_, err := w.svc.SetMember(ctx, w.admin, w.adminID, w.roles[access.KindAgent].ID)
	assert.ErrorIs(t, err, access.ErrLastAdmin)
	assert.ErrorIs(t, w.svc.RemoveMember(ctx, w.admin, w.adminID), access.ErrLastAdmin)
	second := uuid.New()
	_, err = w.svc.SetMember(ctx, w.admin, second, w.roles[access.KindAdmin].ID)
	require.NoError(t, err)
	assert.NoError(t, w.svc.RemoveMember(ctx, w.admin, w.adminID), "with a second Admin the first may go")
	assert.False(t, w.check(t, w.admin, access.EditProfile, uuid.Nil), "a removed member is denied on the next check")
}

func TestProjectsIsolateData(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	sales, err := w.svc.CreateProject(ctx, w.admin, "Sales")
	require.NoError(t, err)
	support, err := w.svc.CreateProject(ctx, w.admin, "Support ☎ 客服")
	require.NoError(t, err)
	_, err = w.svc.CreateProject(ctx, w.admin, "Sales")
	assert.ErrorIs(t, err, storage.ErrConflict)
	_, err = w.svc.AddProjectMember(ctx, w.admin, sales.ID, w.supervisorID, uuid.Nil)
	require.NoError(t, err)
	_, err = w.svc.AddProjectMember(ctx, w.admin, support.ID, w.agentID, w.roles[access.KindSupervisor].ID)
	require.NoError(t, err)

	assert.True(t, w.check(t, w.supervisor, access.ListenRecordings, sales.ID))
	assert.False(t, w.check(t, w.supervisor, access.ListenRecordings, support.ID), "not a member of Support")
	assert.True(t, w.check(t, w.agent, access.ListenRecordings, support.ID), "per-project override")
	assert.True(t, w.check(t, w.admin, access.ListenRecordings, support.ID), "see-all-projects")

	p, err := w.engine.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	sc := p.Scope(w.supervisor, access.ViewAllCalls)
	assert.Equal(t, []uuid.UUID{sales.ID}, sc.Projects)

	require.NoError(t, w.svc.RemoveProjectMember(ctx, w.admin, sales.ID, w.supervisorID))
	assert.False(t, w.check(t, w.supervisor, access.ListenRecordings, sales.ID), "removal applies on the next check")
	require.NoError(t, w.svc.DeleteProject(ctx, w.admin, support.ID))
	assert.False(t, w.check(t, w.agent, access.ListenRecordings, support.ID))
	assert.False(t, w.check(t, w.admin, access.ListenRecordings, support.ID), "a deleted project is unknown")

	_, err = w.svc.RenameProject(ctx, w.supervisor, sales.ID, "Mine")
	assert.ErrorIs(t, err, access.ErrForbidden)
	renamed, err := w.svc.RenameProject(ctx, w.admin, sales.ID, "Inside sales")
	require.NoError(t, err)
	assert.Equal(t, "Inside sales", renamed.Name)
}

func TestInvalidInput(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for _, name := range []string{"", "   ", "bad\nname", "x\x00y", string(make([]rune, 201))} {
		_, err := w.svc.CreateRole(ctx, w.admin, access.RoleSpec{Name: name})
		assert.ErrorIs(t, err, access.ErrInvalidName, "%q", name)
		_, err = w.svc.CreateProject(ctx, w.admin, name)
		assert.ErrorIs(t, err, access.ErrInvalidName, "%q", name)
	}
	_, err := w.svc.CreateRole(ctx, w.admin, access.RoleSpec{Name: "Odd", Rights: []access.Right{access.Right(access.MaxRights - 1)}})
	assert.ErrorIs(t, err, access.ErrUnknownRight)
	_, err = w.svc.SetMember(ctx, w.admin, uuid.New(), uuid.New())
	assert.ErrorIs(t, err, storage.ErrNotFound, "unknown role")
	_, err = w.svc.SetAllowlist(ctx, w.admin, []string{"10.0.0.0/8", "10.0.0.0/99"})
	var pe *access.InvalidPrefixError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 1, pe.Index)
	status, code := access.ErrorCode(err)
	assert.Equal(t, 400, status)
	assert.Equal(t, "invalid_prefix", code)
}

func TestOtherTenantsIDsAreNotFound(t *testing.T) {
	ctx := context.Background()
	a, b := newWorld(t), newWorld(t)
	// b's admin acts through a's service and store: same process, another tenant.
	b.store, b.engine, b.svc = a.store, a.engine, a.svc
	tB, err := a.svc.CreateTenant(ctx, "Other Co")
	require.NoError(t, err)
	rolesB, err := a.store.Roles(ctx, tB.ID)
	require.NoError(t, err)
	adminB := uuid.New()
	for _, r := range rolesB {
		if r.Kind == access.KindAdmin {
			_, err = a.svc.SetMember(ctx, access.System(tB.ID), adminB, r.ID)
			require.NoError(t, err)
		}
	}
	actorB := access.Subject{Tenant: tB.ID, User: adminB}
	project, err := a.svc.CreateProject(ctx, a.admin, "A's project")
	require.NoError(t, err)
	customA, err := a.svc.CreateRole(ctx, a.admin, access.RoleSpec{Name: "A custom"})
	require.NoError(t, err)

	_, err = a.svc.UpdateRole(ctx, actorB, customA.ID, 0, access.RoleSpec{Name: "hijacked"})
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assert.ErrorIs(t, a.svc.DeleteRole(ctx, actorB, customA.ID), storage.ErrNotFound)
	_, err = a.svc.RenameProject(ctx, actorB, project.ID, "hijacked")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assert.ErrorIs(t, a.svc.DeleteProject(ctx, actorB, project.ID), storage.ErrNotFound)
	_, err = a.svc.SetMember(ctx, actorB, a.agentID, customA.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "a role of another tenant")
	assert.ErrorIs(t, a.svc.RemoveMember(ctx, actorB, a.agentID), storage.ErrNotFound)
	_, err = a.svc.AddProjectMember(ctx, actorB, project.ID, adminB, uuid.Nil)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assert.ErrorIs(t, a.svc.RemoveProjectMember(ctx, actorB, project.ID, a.agentID), storage.ErrNotFound)

	// Nothing of A changed, and A's subject means nothing in B.
	r, err := a.store.Role(ctx, a.tenant.ID, customA.ID)
	require.NoError(t, err)
	assert.Equal(t, "A custom", r.Name)
	pB, err := a.engine.Policy(ctx, tB.ID)
	require.NoError(t, err)
	assert.False(t, pB.Check(access.Subject{Tenant: tB.ID, User: a.adminID}, access.EditProfile, uuid.Nil))
	assert.False(t, pB.Check(a.admin, access.EditProfile, uuid.Nil))

	// An actor whose subject names another tenant is refused outright.
	_, err = a.svc.CreateRole(ctx, access.Subject{Tenant: tB.ID, User: a.adminID}, access.RoleSpec{Name: "x"})
	assert.ErrorIs(t, err, access.ErrForbidden)
}

func TestAllowlistService(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	companyMgr, err := w.svc.CreateRole(ctx, w.admin, access.RoleSpec{Name: "Company manager", Rights: []access.Right{access.ManageCompany}})
	require.NoError(t, err)
	_, err = w.svc.SetMember(ctx, w.admin, w.supervisorID, companyMgr.ID)
	require.NoError(t, err)
	mgr := w.supervisor // at 198.51.100.10, without IgnoreAllowedIPs
	_, err = w.svc.SetAllowlist(ctx, mgr, []string{"203.0.113.0/24"})
	assert.ErrorIs(t, err, access.ErrForbidden, "would lock the actor out")
	got, err := w.svc.SetAllowlist(ctx, mgr, []string{"198.51.100.0/24", "2001:db8::/32"})
	require.NoError(t, err)
	assert.Len(t, got, 2)

	p, err := w.engine.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	assert.True(t, p.AllowsIP(w.agent, netip.MustParseAddr("2001:db8::1")))
	assert.False(t, p.AllowsIP(w.agent, netip.MustParseAddr("203.0.113.1")))
	assert.True(t, p.AllowsIP(w.admin, netip.MustParseAddr("203.0.113.1")), "Admin ignores the allowlist")

	_, err = w.svc.SetAllowlist(ctx, w.admin, nil)
	require.NoError(t, err)
	p, err = w.engine.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	assert.True(t, p.AllowsIP(w.agent, netip.MustParseAddr("203.0.113.1")), "an empty list restricts nothing")
	evs := w.changes(t)
	last := evs[len(evs)-1]
	assert.Equal(t, "tenant.allowlist_set", last.Action)
	assert.Equal(t, "198.51.100.0/24,2001:db8::/32", last.Changes[0].Old)
}

func TestEngineFreshnessAcrossInstances(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	// A second app instance: its own engine and service over the same store.
	other := access.NewEngine(w.store, access.EngineOptions{})
	otherSvc := access.NewService(w.store, other, access.ServiceOptions{})
	p, err := other.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	require.True(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil))

	_, err = otherSvc.SetMember(ctx, w.admin, w.supervisorID, w.roles[access.KindAgent].ID)
	require.NoError(t, err)
	assert.False(t, w.check(t, w.supervisor, access.ViewReports, uuid.Nil),
		"a change made by another instance applies on this instance's next check")
	loads := w.engine.Loads()
	w.check(t, w.supervisor, access.ViewReports, uuid.Nil)
	assert.Equal(t, loads, w.engine.Loads(), "an unchanged version is not reloaded")
}

func TestEngineMaxStaleness(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	clk := newClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	lazy := access.NewEngine(w.store, access.EngineOptions{MaxStaleness: 2 * time.Second, Clock: clk.Now})
	p, err := lazy.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	require.True(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil))

	_, err = w.svc.SetMember(ctx, w.admin, w.supervisorID, w.roles[access.KindAgent].ID)
	require.NoError(t, err)
	p, _ = lazy.Policy(ctx, w.tenant.ID)
	assert.True(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil), "within MaxStaleness the snapshot may be stale")
	clk.Add(2 * time.Second)
	p, _ = lazy.Policy(ctx, w.tenant.ID)
	assert.False(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil), "after MaxStaleness it is fresh")
}

// failing wraps a store and fails the calls the engine makes.
type failing struct {
	access.Store
	fail bool
}

var errDown = errors.New("database down")

func (f *failing) PolicyVersion(ctx context.Context, tenant uuid.UUID) (int64, error) {
	if f.fail {
		return 0, errDown
	}
	return f.Store.PolicyVersion(ctx, tenant)
}

func TestEngineFailsClosed(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	fs := &failing{Store: w.store}
	e := access.NewEngine(fs, access.EngineOptions{})
	_, err := e.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	fs.fail = true
	p, err := e.Policy(ctx, w.tenant.ID)
	assert.ErrorIs(t, err, errDown)
	assert.Nil(t, p, "no stale policy is handed out when freshness cannot be checked")
	assert.False(t, p.Check(w.admin, access.EditProfile, uuid.Nil))
	_, err = e.Policy(ctx, uuid.Nil)
	assert.Error(t, err)
}

// Requests naming tenants that do not exist (guessed IDs, a forged cookie) are denied
// with ErrNotFound and leave nothing behind: the Engine's cache holds only tenants the
// store knows, so such requests cannot grow it.
func TestEngineUnknownTenantsLeaveNoEntry(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	e := access.NewEngine(w.store, access.EngineOptions{MaxStaleness: time.Minute})
	for range 1000 {
		p, err := e.Policy(ctx, uuid.New())
		require.ErrorIs(t, err, storage.ErrNotFound)
		require.Nil(t, p)
	}
	assert.Zero(t, access.CachedTenants(e))
	_, err := e.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, access.CachedTenants(e))
}

func TestConcurrentChangesAndChecks(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	project, err := w.svc.CreateProject(ctx, w.admin, "Busy")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				_, err := w.svc.AddProjectMember(ctx, w.admin, project.ID, uuid.New(), uuid.Nil)
				assert.ErrorIs(t, err, storage.ErrNotFound, "not a tenant member")
				_, err = w.svc.SetMember(ctx, w.admin, uuid.New(), w.roles[access.KindAgent].ID)
				assert.NoError(t, err)
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				p, err := w.engine.Policy(ctx, w.tenant.ID)
				if assert.NoError(t, err) {
					assert.True(t, p.Check(w.admin, access.ManageRoles, uuid.Nil))
				}
			}
		}()
	}
	wg.Wait()
	members, err := w.store.Members(ctx, w.tenant.ID)
	require.NoError(t, err)
	assert.Len(t, members, 3+8*20)
}

// MaxStaleness counts from the last version check on the engine's clock: after the
// clock steps back, the snapshot is not taken as checked "in the future" (for as long
// as the step), but checked again.
func TestEngineMaxStalenessAfterTheClockStepsBack(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	clk := newClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	lazy := access.NewEngine(w.store, access.EngineOptions{MaxStaleness: 2 * time.Second, Clock: clk.Now})
	p, err := lazy.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	require.True(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil))

	clk.Add(-time.Hour) // the wall clock steps back an hour
	_, err = w.svc.SetMember(ctx, w.admin, w.supervisorID, w.roles[access.KindAgent].ID)
	require.NoError(t, err)
	clk.Add(2 * time.Second) // MaxStaleness has passed since the step
	p, _ = lazy.Policy(ctx, w.tenant.ID)
	assert.False(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil), "the demotion applies after MaxStaleness, not after an hour")
}
