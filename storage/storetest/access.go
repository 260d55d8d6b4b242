package storetest

import (
	"bytes"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// accessGroups are the cases of access.Store, grouped by entity and by concern; the
// isolation, unit-of-work and concurrency groups are in the access_*.go files.
func accessGroups() []group {
	return []group{
		{"tenants", tenantCases},
		{"roles", roleCases},
		{"projects", projectCases},
		{"members", memberCases},
		{"project members", projectMemberCases},
		{"allowlist", allowlistCases},
		{"tenant isolation", isolationCases},
		{"units of work", unitOfWorkCases},
		{"concurrency", accessConcurrencyCases},
		{"policy changes", policyChangeCases},
		{"tenant names", tenantNameCases},
	}
}

func runAccess(t *testing.T, newStores Factory) { runGroups(t, newStores, accessGroups()) }

var tenantCases = []testCase{
	// Every field of a tenant and of its initial roles survives the round trip; the
	// Version passed in is ignored.
	{"CreateTenant stores every field of the tenant and its initial roles, with Version 1", func(t *testing.T, f *fx) {
		tn := tenantValue("Société Générale — 東京支社 🚀")
		tn.Version = 7
		admin, supervisor, agent := defaultRoles(tn.ID)
		admin.Version = 9
		require.NoError(t, f.s.Access.CreateTenant(f.ctx, tn, []access.Role{admin, supervisor, agent},
			changeEvent(t, tn.ID, "tenant.create")))

		got, err := f.s.Access.Tenant(f.ctx, tn.ID)
		require.NoError(t, err)
		tn.Version = 1
		assertTenant(t, tn, got)

		roles, err := f.s.Access.Roles(f.ctx, tn.ID)
		require.NoError(t, err)
		admin.Version, supervisor.Version, agent.Version = 1, 1, 1
		assertRoles(t, []access.Role{admin, agent, supervisor}, roles)
	}},
	// A tenant may be created with no initial roles.
	{"CreateTenant with no roles stores a tenant with no roles", func(t *testing.T, f *fx) {
		tn := tenantValue("Empty")
		require.NoError(t, f.s.Access.CreateTenant(f.ctx, tn, nil, changeEvent(t, tn.ID, "tenant.create")))
		roles, err := f.s.Access.Roles(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Empty(t, roles)
	}},
	{"Tenant of an unknown ID is ErrNotFound", func(t *testing.T, f *fx) {
		_, err := f.s.Access.Tenant(f.ctx, newID())
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	{"CreateTenant with an existing tenant ID is ErrConflict and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("First")
		before := f.snapshot(tn.ID)
		dup := tenantValue("Second")
		dup.ID = tn.ID
		err := f.s.Access.CreateTenant(f.ctx, dup, nil, changeEvent(t, tn.ID, "tenant.create"))
		assert.ErrorIs(t, err, storage.ErrConflict)
		f.assertUnchanged(before, tn.ID)
	}},
	{"CreateTenant with two initial roles of one name is ErrConflict and creates nothing", func(t *testing.T, f *fx) {
		tn := tenantValue("Acme")
		a, b := roleValue(tn.ID, "Agent"), roleValue(tn.ID, "Agent")
		err := f.s.Access.CreateTenant(f.ctx, tn, []access.Role{a, b}, changeEvent(t, tn.ID, "tenant.create"))
		assert.ErrorIs(t, err, storage.ErrConflict)
		_, err = f.s.Access.Tenant(f.ctx, tn.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "the tenant must not exist after a failed create")
		assert.Empty(t, f.allEvents(tn.ID), "a failed create appends no event")
	}},
	// Initial roles belong to the new tenant; a role naming another tenant could plant
	// a role in it, so the whole create fails (the error is not prescribed).
	{"CreateTenant with an initial role of another tenant fails and creates nothing", func(t *testing.T, f *fx) {
		other := f.createTenant("Other")
		before := f.snapshot(other.ID)
		tn := tenantValue("Acme")
		planted := roleValue(other.ID, "Planted")
		err := f.s.Access.CreateTenant(f.ctx, tn, []access.Role{roleValue(tn.ID, "Agent"), planted},
			changeEvent(t, tn.ID, "tenant.create"))
		require.Error(t, err)
		_, err = f.s.Access.Tenant(f.ctx, tn.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Access.Role(f.ctx, other.ID, planted.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		f.assertUnchanged(before, other.ID)
		assert.Empty(t, f.allEvents(tn.ID))
	}},
	// UpdateTenant stores Name and UpdatedAt, keeps CreatedAt, and bumps Version.
	{"UpdateTenant stores the name and UpdatedAt with Version+1 and keeps CreatedAt", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		upd := tn.Tenant
		upd.Name = "Acme 株式会社 ✨"
		upd.UpdatedAt = at(48 * time.Hour)
		upd.CreatedAt = at(-48 * time.Hour) // must be ignored
		require.NoError(t, f.s.Access.UpdateTenant(f.ctx, upd, changeEvent(t, tn.ID, "tenant.update")))
		got, err := f.s.Access.Tenant(f.ctx, tn.ID)
		require.NoError(t, err)
		want := tn.Tenant
		want.Name, want.UpdatedAt, want.Version = upd.Name, upd.UpdatedAt, 2
		assertTenant(t, want, got)

		upd = got
		upd.Name = "Acme 3"
		require.NoError(t, f.s.Access.UpdateTenant(f.ctx, upd, changeEvent(t, tn.ID, "tenant.update")))
		got, err = f.s.Access.Tenant(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(3), got.Version)
		assert.Equal(t, "Acme 3", got.Name)
	}},
	{"UpdateTenant with a stale or future Version is ErrStale and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		before := f.snapshot(tn.ID)
		for _, v := range []int64{0, 2, -1} {
			upd := tn.Tenant
			upd.Name, upd.Version = "Renamed", v
			err := f.s.Access.UpdateTenant(f.ctx, upd, changeEvent(t, tn.ID, "tenant.update"))
			assert.ErrorIs(t, err, storage.ErrStale, "version %d", v)
		}
		f.assertUnchanged(before, tn.ID)
	}},
	{"UpdateTenant of an unknown tenant is ErrNotFound", func(t *testing.T, f *fx) {
		tn := tenantValue("Ghost")
		tn.Version = 1
		err := f.s.Access.UpdateTenant(f.ctx, tn, changeEvent(t, tn.ID, "tenant.update"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		assert.Empty(t, f.allEvents(tn.ID))
	}},
}

var roleCases = []testCase{
	// Names in any script, every kind, rights lists (empty, one, many) round-trip.
	{"CreateRole stores every field: Unicode name, kind, rights, UTC times, Version 1", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		roles := []access.Role{
			roleValue(tn.ID, "Équipe de nuit 🌙", "calls.view_all", "profile.edit", "recordings.listen"),
			roleValue(tn.ID, "客服主管", "reports.export", "reports.view"),
			roleValue(tn.ID, "No rights"),
			roleValue(tn.ID, "Host rights", "crm.export", "unregistered.right_kept"),
		}
		roles[1].Kind = access.KindSupervisor
		roles[2].Version = 42 // ignored
		for _, r := range roles {
			require.NoError(t, f.s.Access.CreateRole(f.ctx, r, changeEvent(t, tn.ID, "role.create")))
		}
		for _, r := range roles {
			got, err := f.s.Access.Role(f.ctx, tn.ID, r.ID)
			require.NoError(t, err)
			r.Version = 1
			assertRole(t, r, got)
		}
	}},
	{"Role of an unknown ID is ErrNotFound", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		_, err := f.s.Access.Role(f.ctx, tn.ID, newID())
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	// "Ordered by name" is byte-wise: upper case before lower case, then accented and
	// CJK letters and emoji by their UTF-8 bytes; no locale collation.
	{"Roles are ordered by name, byte-wise", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		for _, n := range []string{"zeta", "Zeta", "alpha", "Émile", "中文", "😀", "Agent 10", "Agent 9", "agent"} {
			f.createRole(tn.ID, n)
		}
		roles, err := f.s.Access.Roles(f.ctx, tn.ID)
		require.NoError(t, err)
		want := []string{"Admin", "Agent", "Agent 10", "Agent 9", "Supervisor", "Zeta", "agent", "alpha", "zeta", "Émile", "中文", "😀"}
		require.True(t, sort.StringsAreSorted(want))
		assert.Equal(t, want, names(roles))
	}},
	// Uniqueness is per tenant and exact: a different case or a trailing space is a
	// different name; the same name in another tenant is fine.
	{"role names are unique per tenant, compared exactly", func(t *testing.T, f *fx) {
		a, b := f.createTenant("A"), f.createTenant("B")
		f.createRole(a.ID, "Dispatch 東京")
		before := f.snapshot(a.ID)
		err := f.s.Access.CreateRole(f.ctx, roleValue(a.ID, "Dispatch 東京"), changeEvent(t, a.ID, "role.create"))
		assert.ErrorIs(t, err, storage.ErrConflict)
		err = f.s.Access.CreateRole(f.ctx, roleValue(a.ID, "Agent"), changeEvent(t, a.ID, "role.create"))
		assert.ErrorIs(t, err, storage.ErrConflict, "a default role's name is taken too")
		f.assertUnchanged(before, a.ID)

		f.createRole(a.ID, "dispatch 東京")
		f.createRole(a.ID, "Dispatch 東京 ")
		f.createRole(b.ID, "Dispatch 東京")
	}},
	{"CreateRole with an ID already stored is ErrConflict and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		r := f.createRole(tn.ID, "Dispatch")
		before := f.snapshot(tn.ID)
		dup := roleValue(tn.ID, "Other name")
		dup.ID = r.ID
		err := f.s.Access.CreateRole(f.ctx, dup, changeEvent(t, tn.ID, "role.create"))
		assert.ErrorIs(t, err, storage.ErrConflict)
		f.assertUnchanged(before, tn.ID)
	}},
	{"CreateRole in an unknown tenant is ErrNotFound", func(t *testing.T, f *fx) {
		ghost := newID()
		err := f.s.Access.CreateRole(f.ctx, roleValue(ghost, "Dispatch"), changeEvent(t, ghost, "role.create"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		assert.Empty(t, f.allEvents(ghost))
	}},
	// UpdateRole changes Name, Rights and UpdatedAt only: a caller cannot turn a custom
	// role into the Admin kind, or rewrite CreatedAt, through it.
	{"UpdateRole stores Name, Rights, UpdatedAt and Version+1, and never changes Kind or CreatedAt", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		r := f.createRole(tn.ID, "Dispatch", "profile.edit")
		upd := r
		upd.Name = "Dispatch 夜勤 🌙"
		upd.Rights = []string{"calls.view_all", "profile.edit", "reports.view"}
		upd.UpdatedAt = at(72 * time.Hour)
		upd.Kind = access.KindAdmin
		upd.CreatedAt = at(-time.Hour)
		require.NoError(t, f.s.Access.UpdateRole(f.ctx, upd, changeEvent(t, tn.ID, "role.update")))
		got, err := f.s.Access.Role(f.ctx, tn.ID, r.ID)
		require.NoError(t, err)
		want := r
		want.Name, want.Rights, want.UpdatedAt, want.Version = upd.Name, upd.Rights, upd.UpdatedAt, 2
		assertRole(t, want, got)

		// Rights can be emptied, and the role keep its own name.
		upd = got
		upd.Rights = nil
		require.NoError(t, f.s.Access.UpdateRole(f.ctx, upd, changeEvent(t, tn.ID, "role.update")))
		got, err = f.s.Access.Role(f.ctx, tn.ID, r.ID)
		require.NoError(t, err)
		assert.Empty(t, got.Rights)
		assert.Equal(t, int64(3), got.Version)
	}},
	{"UpdateRole with a stale or future Version is ErrStale and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		r := f.createRole(tn.ID, "Dispatch", "profile.edit")
		before := f.snapshot(tn.ID)
		for _, v := range []int64{0, 2, -1} {
			upd := r
			upd.Name, upd.Rights, upd.Version = "Renamed", []string{"users.manage"}, v
			err := f.s.Access.UpdateRole(f.ctx, upd, changeEvent(t, tn.ID, "role.update"))
			assert.ErrorIs(t, err, storage.ErrStale, "version %d", v)
		}
		f.assertUnchanged(before, tn.ID)
	}},
	{"UpdateRole to another role's name is ErrConflict and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		r := f.createRole(tn.ID, "Dispatch")
		before := f.snapshot(tn.ID)
		upd := r
		upd.Name = "Supervisor"
		err := f.s.Access.UpdateRole(f.ctx, upd, changeEvent(t, tn.ID, "role.update"))
		assert.ErrorIs(t, err, storage.ErrConflict)
		f.assertUnchanged(before, tn.ID)
	}},
	{"UpdateRole of an unknown role is ErrNotFound", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		before := f.snapshot(tn.ID)
		r := roleValue(tn.ID, "Ghost")
		r.Version = 1
		err := f.s.Access.UpdateRole(f.ctx, r, changeEvent(t, tn.ID, "role.update"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		f.assertUnchanged(before, tn.ID)
	}},
	{"DeleteRole deletes an unused role; deleting it again is ErrNotFound", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		r := f.createRole(tn.ID, "Dispatch")
		require.NoError(t, f.s.Access.DeleteRole(f.ctx, tn.ID, r.ID, changeEvent(t, tn.ID, "role.delete")))
		_, err := f.s.Access.Role(f.ctx, tn.ID, r.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		roles, err := f.s.Access.Roles(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.NotContains(t, names(roles), "Dispatch")
		before := f.snapshot(tn.ID)
		err = f.s.Access.DeleteRole(f.ctx, tn.ID, r.ID, changeEvent(t, tn.ID, "role.delete"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		f.assertUnchanged(before, tn.ID)
		// The name is free again.
		f.createRole(tn.ID, "Dispatch")
	}},
	{"DeleteRole of a member's tenant role is ErrRoleInUse and deletes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		r := f.createRole(tn.ID, "Dispatch")
		m := f.setMember(tn.ID, r.ID)
		before := f.snapshot(tn.ID)
		err := f.s.Access.DeleteRole(f.ctx, tn.ID, r.ID, changeEvent(t, tn.ID, "role.delete"))
		assert.ErrorIs(t, err, access.ErrRoleInUse)
		f.assertUnchanged(before, tn.ID)

		// Once no member holds it, it can be deleted.
		m.Role = tn.Agent.ID
		require.NoError(t, f.s.Access.SetMember(f.ctx, m, changeEvent(t, tn.ID, "member.set")))
		require.NoError(t, f.s.Access.DeleteRole(f.ctx, tn.ID, r.ID, changeEvent(t, tn.ID, "role.delete")))
	}},
	{"DeleteRole of a project override role is ErrRoleInUse and deletes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		r := f.createRole(tn.ID, "Project lead")
		p := f.createProject(tn.ID, "Sales")
		m := f.setMember(tn.ID, tn.Agent.ID)
		f.setProjectMember(tn.ID, p.ID, m.User, r.ID)
		before := f.snapshot(tn.ID)
		err := f.s.Access.DeleteRole(f.ctx, tn.ID, r.ID, changeEvent(t, tn.ID, "role.delete"))
		assert.ErrorIs(t, err, access.ErrRoleInUse)
		f.assertUnchanged(before, tn.ID)

		require.NoError(t, f.s.Access.RemoveProjectMember(f.ctx, tn.ID, p.ID, m.User, changeEvent(t, tn.ID, "project_member.remove")))
		require.NoError(t, f.s.Access.DeleteRole(f.ctx, tn.ID, r.ID, changeEvent(t, tn.ID, "role.delete")))
	}},
}

var projectCases = []testCase{
	{"CreateProject stores every field: Unicode name, UTC times, Version 1", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		ps := []access.Project{
			projectValue(tn.ID, "Ventes Île-de-France 🇫🇷"),
			projectValue(tn.ID, "東京コールセンター"),
			projectValue(tn.ID, "x"),
		}
		ps[2].Version = 5 // ignored
		for _, p := range ps {
			require.NoError(t, f.s.Access.CreateProject(f.ctx, p, changeEvent(t, tn.ID, "project.create")))
		}
		for _, p := range ps {
			got, err := f.s.Access.Project(f.ctx, tn.ID, p.ID)
			require.NoError(t, err)
			p.Version = 1
			assertProject(t, p, got)
		}
	}},
	{"Project of an unknown ID is ErrNotFound", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		_, err := f.s.Access.Project(f.ctx, tn.ID, newID())
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	{"Projects are ordered by name, byte-wise", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		want := []string{"Sales", "Support 2", "Support 10", "sales", "Ärger", "東京", "🚀"}
		var stored []access.Project
		for _, n := range want {
			stored = append(stored, f.createProject(tn.ID, n))
		}
		sort.Strings(want)
		slices.SortFunc(stored, func(a, b access.Project) int {
			return bytes.Compare([]byte(a.Name), []byte(b.Name))
		})
		got, err := f.s.Access.Projects(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, want, projectNames(got))
		assertProjects(t, stored, got)
	}},
	{"project names are unique per tenant, compared exactly", func(t *testing.T, f *fx) {
		a, b := f.createTenant("A"), f.createTenant("B")
		f.createProject(a.ID, "Ventes")
		before := f.snapshot(a.ID)
		err := f.s.Access.CreateProject(f.ctx, projectValue(a.ID, "Ventes"), changeEvent(t, a.ID, "project.create"))
		assert.ErrorIs(t, err, storage.ErrConflict)
		f.assertUnchanged(before, a.ID)
		f.createProject(a.ID, "ventes")
		f.createProject(b.ID, "Ventes")
	}},
	{"CreateProject with an ID already stored is ErrConflict and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		before := f.snapshot(tn.ID)
		dup := projectValue(tn.ID, "Other")
		dup.ID = p.ID
		err := f.s.Access.CreateProject(f.ctx, dup, changeEvent(t, tn.ID, "project.create"))
		assert.ErrorIs(t, err, storage.ErrConflict)
		f.assertUnchanged(before, tn.ID)
	}},
	{"UpdateProject stores Name, UpdatedAt and Version+1, and keeps CreatedAt", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		upd := p
		upd.Name, upd.UpdatedAt, upd.CreatedAt = "Ventes 🇫🇷", at(96*time.Hour), at(-time.Hour)
		require.NoError(t, f.s.Access.UpdateProject(f.ctx, upd, changeEvent(t, tn.ID, "project.update")))
		got, err := f.s.Access.Project(f.ctx, tn.ID, p.ID)
		require.NoError(t, err)
		want := p
		want.Name, want.UpdatedAt, want.Version = upd.Name, upd.UpdatedAt, 2
		assertProject(t, want, got)
	}},
	{"UpdateProject with a stale Version is ErrStale and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		before := f.snapshot(tn.ID)
		for _, v := range []int64{0, 2} {
			upd := p
			upd.Name, upd.Version = "Renamed", v
			err := f.s.Access.UpdateProject(f.ctx, upd, changeEvent(t, tn.ID, "project.update"))
			assert.ErrorIs(t, err, storage.ErrStale, "version %d", v)
		}
		f.assertUnchanged(before, tn.ID)
	}},
	{"UpdateProject to another project's name is ErrConflict and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		f.createProject(tn.ID, "Support")
		before := f.snapshot(tn.ID)
		upd := p
		upd.Name = "Support"
		err := f.s.Access.UpdateProject(f.ctx, upd, changeEvent(t, tn.ID, "project.update"))
		assert.ErrorIs(t, err, storage.ErrConflict)
		f.assertUnchanged(before, tn.ID)
	}},
	{"UpdateProject of an unknown project is ErrNotFound", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		before := f.snapshot(tn.ID)
		p := projectValue(tn.ID, "Ghost")
		p.Version = 1
		err := f.s.Access.UpdateProject(f.ctx, p, changeEvent(t, tn.ID, "project.update"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		f.assertUnchanged(before, tn.ID)
	}},
	// Deleting a project removes its memberships and nothing else: the members stay
	// tenant members and keep their other projects, and a role that was an override
	// only in the deleted project is no longer in use.
	{"DeleteProject deletes the project and its memberships only", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		lead := f.createRole(tn.ID, "Project lead")
		sales, support := f.createProject(tn.ID, "Sales"), f.createProject(tn.ID, "Support")
		m1, m2 := f.setMember(tn.ID, tn.Agent.ID), f.setMember(tn.ID, tn.Agent.ID)
		f.setProjectMember(tn.ID, sales.ID, m1.User, uuid.Nil)
		f.setProjectMember(tn.ID, sales.ID, m2.User, lead.ID)
		keep := f.setProjectMember(tn.ID, support.ID, m1.User, uuid.Nil)

		require.NoError(t, f.s.Access.DeleteProject(f.ctx, tn.ID, sales.ID, changeEvent(t, tn.ID, "project.delete")))
		_, err := f.s.Access.Project(f.ctx, tn.ID, sales.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Access.ProjectMembers(f.ctx, tn.ID, sales.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		assert.Equal(t, policyView(access.PolicyData{
			Tenant: tn.Tenant, Version: f.policyVersion(tn.ID),
			Roles:    []access.Role{tn.Admin, tn.Supervisor, tn.Agent, lead},
			Projects: []access.Project{support}, Members: []access.Member{m1, m2},
			ProjectMembers: []access.ProjectMember{keep},
		}), f.loadPolicy(tn.ID))

		// A new project of the same name starts with no members.
		again := f.createProject(tn.ID, "Sales")
		pms, err := f.s.Access.ProjectMembers(f.ctx, tn.ID, again.ID)
		require.NoError(t, err)
		assert.Empty(t, pms)
		assert.NoError(t, f.s.Access.DeleteRole(f.ctx, tn.ID, lead.ID, changeEvent(t, tn.ID, "role.delete")),
			"the deleted project's override role is no longer in use")
	}},
	{"DeleteProject of an unknown project is ErrNotFound", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		before := f.snapshot(tn.ID)
		err := f.s.Access.DeleteProject(f.ctx, tn.ID, newID(), changeEvent(t, tn.ID, "project.delete"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		f.assertUnchanged(before, tn.ID)
	}},
}

var memberCases = []testCase{
	{"the tenant's only Admin cannot be demoted or removed (ErrLastAdmin, nothing changes); with a second Admin one can go", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		admin := f.setMember(tn.ID, tn.Admin.ID)
		agent := f.setMember(tn.ID, tn.Agent.ID)
		version, events := f.policyVersion(tn.ID), len(f.allEvents(tn.ID))
		demote := admin
		demote.Role = tn.Agent.ID
		assert.ErrorIs(t, f.s.Access.SetMember(f.ctx, demote, changeEvent(t, tn.ID, "member.set")), access.ErrLastAdmin)
		assert.ErrorIs(t, f.s.Access.RemoveMember(f.ctx, tn.ID, admin.User, changeEvent(t, tn.ID, "member.remove")), access.ErrLastAdmin)
		assert.Equal(t, version, f.policyVersion(tn.ID))
		assert.Len(t, f.allEvents(tn.ID), events)
		got, err := f.s.Access.Member(f.ctx, tn.ID, admin.User)
		require.NoError(t, err)
		assert.Equal(t, tn.Admin.ID, got.Role)

		again := admin
		assert.NoError(t, f.s.Access.SetMember(f.ctx, again, changeEvent(t, tn.ID, "member.set")), "re-setting Admin keeps an Admin")
		assert.NoError(t, f.s.Access.RemoveMember(f.ctx, tn.ID, agent.User, changeEvent(t, tn.ID, "member.remove")), "others come and go")
		second := f.setMember(tn.ID, tn.Admin.ID)
		assert.NoError(t, f.s.Access.SetMember(f.ctx, demote, changeEvent(t, tn.ID, "member.set")))
		assert.ErrorIs(t, f.s.Access.RemoveMember(f.ctx, tn.ID, second.User, changeEvent(t, tn.ID, "member.remove")), access.ErrLastAdmin)
	}},
	{"SetMember stores every field of a new membership", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		m := access.Member{Tenant: tn.ID, User: newID(), Role: tn.Supervisor.ID, CreatedAt: at(time.Hour), UpdatedAt: at(2 * time.Hour)}
		require.NoError(t, f.s.Access.SetMember(f.ctx, m, changeEvent(t, tn.ID, "member.set")))
		got, err := f.s.Access.Member(f.ctx, tn.ID, m.User)
		require.NoError(t, err)
		assertMember(t, m, got)
	}},
	// Replacing a membership changes the role and UpdatedAt and keeps CreatedAt.
	{"SetMember of an existing member replaces the role and UpdatedAt and keeps CreatedAt", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		m := f.setMember(tn.ID, tn.Agent.ID)
		upd := m
		upd.Role, upd.CreatedAt, upd.UpdatedAt = tn.Supervisor.ID, at(100*time.Hour), at(101*time.Hour)
		require.NoError(t, f.s.Access.SetMember(f.ctx, upd, changeEvent(t, tn.ID, "member.set")))
		got, err := f.s.Access.Member(f.ctx, tn.ID, m.User)
		require.NoError(t, err)
		want := upd
		want.CreatedAt = m.CreatedAt
		assertMember(t, want, got)
		ms, err := f.s.Access.Members(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Len(t, ms, 1, "a replace must not add a second membership")
	}},
	{"SetMember with a role that does not exist is ErrNotFound and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		m := f.setMember(tn.ID, tn.Agent.ID)
		before := f.snapshot(tn.ID)
		err := f.s.Access.SetMember(f.ctx, access.Member{Tenant: tn.ID, User: newID(), Role: newID(), CreatedAt: at(0), UpdatedAt: at(0)},
			changeEvent(t, tn.ID, "member.set"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		m.Role = uuid.Nil
		err = f.s.Access.SetMember(f.ctx, m, changeEvent(t, tn.ID, "member.set"))
		assert.ErrorIs(t, err, storage.ErrNotFound, "the zero role")
		f.assertUnchanged(before, tn.ID)
	}},
	{"Member of a user who is not a member is ErrNotFound", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		_, err := f.s.Access.Member(f.ctx, tn.ID, newID())
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	{"Members are ordered by user ID, byte-wise", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		var ms []access.Member
		for i := range 12 {
			m := access.Member{Tenant: tn.ID, User: uuid.New(), Role: tn.Agent.ID, CreatedAt: at(time.Duration(i) * time.Second), UpdatedAt: at(time.Duration(i) * time.Second)}
			if i == 0 {
				m.User = uuid.MustParse("ffffffff-0000-4000-8000-000000000000")
			}
			if i == 1 {
				m.User = uuid.MustParse("00000000-ffff-4000-8000-000000000000")
			}
			require.NoError(t, f.s.Access.SetMember(f.ctx, m, changeEvent(t, tn.ID, "member.set")))
			ms = append(ms, m)
		}
		got, err := f.s.Access.Members(f.ctx, tn.ID)
		require.NoError(t, err)
		assertMembers(t, sortMembers(ms...), got)
	}},
	// Removing a member removes their project memberships, so a role that was only
	// their override is no longer in use.
	{"RemoveMember deletes the membership and every project membership of the user only", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		lead := f.createRole(tn.ID, "Project lead")
		p1, p2 := f.createProject(tn.ID, "Sales"), f.createProject(tn.ID, "Support")
		gone, stays := f.setMember(tn.ID, tn.Agent.ID), f.setMember(tn.ID, tn.Agent.ID)
		f.setProjectMember(tn.ID, p1.ID, gone.User, uuid.Nil)
		f.setProjectMember(tn.ID, p2.ID, gone.User, lead.ID)
		keep := f.setProjectMember(tn.ID, p1.ID, stays.User, uuid.Nil)

		require.NoError(t, f.s.Access.RemoveMember(f.ctx, tn.ID, gone.User, changeEvent(t, tn.ID, "member.remove")))
		_, err := f.s.Access.Member(f.ctx, tn.ID, gone.User)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		assert.Equal(t, policyView(access.PolicyData{
			Tenant: tn.Tenant, Version: f.policyVersion(tn.ID),
			Roles:    []access.Role{tn.Admin, tn.Supervisor, tn.Agent, lead},
			Projects: []access.Project{p1, p2}, Members: []access.Member{stays},
			ProjectMembers: []access.ProjectMember{keep},
		}), f.loadPolicy(tn.ID))
		pms, err := f.s.Access.ProjectMembers(f.ctx, tn.ID, p2.ID)
		require.NoError(t, err)
		assert.Empty(t, pms)
		require.NoError(t, f.s.Access.DeleteRole(f.ctx, tn.ID, lead.ID, changeEvent(t, tn.ID, "role.delete")),
			"the removed member's override role is no longer in use")

		// Joining again starts with no project memberships.
		gone.CreatedAt = at(200 * time.Hour)
		require.NoError(t, f.s.Access.SetMember(f.ctx, gone, changeEvent(t, tn.ID, "member.set")))
		pms, err = f.s.Access.ProjectMembers(f.ctx, tn.ID, p1.ID)
		require.NoError(t, err)
		assertProjectMembers(t, []access.ProjectMember{keep}, pms)
		pms, err = f.s.Access.ProjectMembers(f.ctx, tn.ID, p2.ID)
		require.NoError(t, err)
		assert.Empty(t, pms)
	}},
	{"RemoveMember of a user who is not a member is ErrNotFound", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		f.setMember(tn.ID, tn.Agent.ID)
		before := f.snapshot(tn.ID)
		err := f.s.Access.RemoveMember(f.ctx, tn.ID, newID(), changeEvent(t, tn.ID, "member.remove"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		f.assertUnchanged(before, tn.ID)
	}},
}

var projectMemberCases = []testCase{
	{"SetProjectMember stores every field, with and without an override role", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		m1, m2 := f.setMember(tn.ID, tn.Agent.ID), f.setMember(tn.ID, tn.Agent.ID)
		pm1 := access.ProjectMember{Tenant: tn.ID, Project: p.ID, User: m1.User, Role: tn.Supervisor.ID, CreatedAt: at(7 * time.Hour)}
		pm2 := access.ProjectMember{Tenant: tn.ID, Project: p.ID, User: m2.User, CreatedAt: at(8 * time.Hour)}
		for _, pm := range []access.ProjectMember{pm1, pm2} {
			require.NoError(t, f.s.Access.SetProjectMember(f.ctx, pm, changeEvent(t, tn.ID, "project_member.set")))
		}
		got, err := f.s.Access.ProjectMembers(f.ctx, tn.ID, p.ID)
		require.NoError(t, err)
		assertProjectMembers(t, sortProjectMembers(pm1, pm2), got)
	}},
	{"SetProjectMember of an existing project member replaces the override role", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		m := f.setMember(tn.ID, tn.Agent.ID)
		pm := f.setProjectMember(tn.ID, p.ID, m.User, tn.Supervisor.ID)
		for _, role := range []uuid.UUID{uuid.Nil, tn.Admin.ID} {
			upd := pm
			upd.Role = role
			require.NoError(t, f.s.Access.SetProjectMember(f.ctx, upd, changeEvent(t, tn.ID, "project_member.set")))
			got, err := f.s.Access.ProjectMembers(f.ctx, tn.ID, p.ID)
			require.NoError(t, err)
			if assert.Len(t, got, 1) {
				assert.Equal(t, role, got[0].Role)
			}
		}
	}},
	{"ProjectMembers are ordered by user ID, byte-wise", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		var pms []access.ProjectMember
		for range 10 {
			// Random (v4) user IDs, so that insertion order is not ID order.
			m := access.Member{Tenant: tn.ID, User: uuid.New(), Role: tn.Agent.ID, CreatedAt: at(0), UpdatedAt: at(0)}
			require.NoError(t, f.s.Access.SetMember(f.ctx, m, changeEvent(t, tn.ID, "member.set")))
			pms = append(pms, f.setProjectMember(tn.ID, p.ID, m.User, uuid.Nil))
		}
		got, err := f.s.Access.ProjectMembers(f.ctx, tn.ID, p.ID)
		require.NoError(t, err)
		assertProjectMembers(t, sortProjectMembers(pms...), got)
	}},
	// The project, the user's tenant membership and a non-zero override role must all
	// exist in the tenant.
	{"SetProjectMember with an unknown project, a non-member or an unknown override role is ErrNotFound and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		m := f.setMember(tn.ID, tn.Agent.ID)
		before := f.snapshot(tn.ID)
		for name, pm := range map[string]access.ProjectMember{
			"unknown project":       {Tenant: tn.ID, Project: newID(), User: m.User, CreatedAt: at(0)},
			"user not a member":     {Tenant: tn.ID, Project: p.ID, User: newID(), CreatedAt: at(0)},
			"unknown override role": {Tenant: tn.ID, Project: p.ID, User: m.User, Role: newID(), CreatedAt: at(0)},
		} {
			err := f.s.Access.SetProjectMember(f.ctx, pm, changeEvent(t, tn.ID, "project_member.set"))
			assert.ErrorIs(t, err, storage.ErrNotFound, name)
		}
		f.assertUnchanged(before, tn.ID)
	}},
	{"ProjectMembers of an unknown project is ErrNotFound", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		_, err := f.s.Access.ProjectMembers(f.ctx, tn.ID, newID())
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	{"RemoveProjectMember deletes one project membership and keeps the tenant membership", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		m1, m2 := f.setMember(tn.ID, tn.Agent.ID), f.setMember(tn.ID, tn.Agent.ID)
		f.setProjectMember(tn.ID, p.ID, m1.User, uuid.Nil)
		keep := f.setProjectMember(tn.ID, p.ID, m2.User, uuid.Nil)
		require.NoError(t, f.s.Access.RemoveProjectMember(f.ctx, tn.ID, p.ID, m1.User, changeEvent(t, tn.ID, "project_member.remove")))
		got, err := f.s.Access.ProjectMembers(f.ctx, tn.ID, p.ID)
		require.NoError(t, err)
		assertProjectMembers(t, []access.ProjectMember{keep}, got)
		gotM, err := f.s.Access.Member(f.ctx, tn.ID, m1.User)
		require.NoError(t, err)
		assertMember(t, m1, gotM)
	}},
	{"RemoveProjectMember of a user not in the project is ErrNotFound and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		m := f.setMember(tn.ID, tn.Agent.ID) // a tenant member, not a project member
		before := f.snapshot(tn.ID)
		for _, user := range []uuid.UUID{m.User, newID()} {
			err := f.s.Access.RemoveProjectMember(f.ctx, tn.ID, p.ID, user, changeEvent(t, tn.ID, "project_member.remove"))
			assert.ErrorIs(t, err, storage.ErrNotFound)
		}
		err := f.s.Access.RemoveProjectMember(f.ctx, tn.ID, newID(), m.User, changeEvent(t, tn.ID, "project_member.remove"))
		assert.ErrorIs(t, err, storage.ErrNotFound, "unknown project")
		f.assertUnchanged(before, tn.ID)
	}},
}

var allowlistCases = []testCase{
	// IPv4 and IPv6, the widest (/0) and narrowest (/32, /128) prefixes and an
	// IPv4-mapped IPv6 prefix come back masked, in the order given, each family kept.
	{"SetAllowlist stores IPv4 and IPv6 prefixes masked, in the order given", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		in := []string{
			"203.0.113.77/24", "0.0.0.0/0", "192.0.2.1/32", "10.1.2.3/8",
			"2001:db8:1:2::99/64", "::/0", "2001:db8::1/128", "2001:db8:ffff::/32",
			"::ffff:198.51.100.7/120", "fe80::1/10",
		}
		want := []string{
			"203.0.113.0/24", "0.0.0.0/0", "192.0.2.1/32", "10.0.0.0/8",
			"2001:db8:1:2::/64", "::/0", "2001:db8::1/128", "2001:db8::/32",
			"::ffff:198.51.100.0/120", "fe80::/10",
		}
		require.NoError(t, f.s.Access.SetAllowlist(f.ctx, tn.ID, prefixes(in...), changeEvent(t, tn.ID, "allowlist.set")))
		got, err := f.s.Access.Allowlist(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, prefixes(want...), got)
	}},
	{"SetAllowlist replaces the whole list, and an empty list clears it", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		got, err := f.s.Access.Allowlist(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Empty(t, got, "a new tenant has no allowlist")
		require.NoError(t, f.s.Access.SetAllowlist(f.ctx, tn.ID, prefixes("192.0.2.0/24", "2001:db8::/48"), changeEvent(t, tn.ID, "allowlist.set")))
		require.NoError(t, f.s.Access.SetAllowlist(f.ctx, tn.ID, prefixes("198.51.100.0/24"), changeEvent(t, tn.ID, "allowlist.set")))
		got, err = f.s.Access.Allowlist(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, prefixes("198.51.100.0/24"), got)
		require.NoError(t, f.s.Access.SetAllowlist(f.ctx, tn.ID, nil, changeEvent(t, tn.ID, "allowlist.set")))
		got, err = f.s.Access.Allowlist(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Empty(t, got)
	}},
	// The zero netip.Prefix is not an address range; storing it would either fail
	// open or corrupt the list, so the store refuses it.
	{"SetAllowlist with an invalid prefix is ErrInvalidPrefix and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		require.NoError(t, f.s.Access.SetAllowlist(f.ctx, tn.ID, prefixes("192.0.2.0/24"), changeEvent(t, tn.ID, "allowlist.set")))
		before := f.snapshot(tn.ID)
		err := f.s.Access.SetAllowlist(f.ctx, tn.ID, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}}, changeEvent(t, tn.ID, "allowlist.set"))
		assert.ErrorIs(t, err, access.ErrInvalidPrefix)
		f.assertUnchanged(before, tn.ID)
	}},
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// sortMembers returns ms ordered by user ID, byte-wise.
func sortMembers(ms ...access.Member) []access.Member {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b access.Member) int { return bytes.Compare(a.User[:], b.User[:]) })
	return ms
}

// sortProjectMembers returns pms ordered by user ID, byte-wise.
func sortProjectMembers(pms ...access.ProjectMember) []access.ProjectMember {
	pms = slices.Clone(pms)
	slices.SortFunc(pms, func(a, b access.ProjectMember) int { return bytes.Compare(a.User[:], b.User[:]) })
	return pms
}
