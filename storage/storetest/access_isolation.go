package storetest

import (
	"net/netip"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// populated is a tenant holding one row of every kind.
type populated struct {
	tenantFx
	Role      access.Role    // a custom role, a member's tenant role
	Project   access.Project // with one project member
	Member    access.Member
	ProjectM  access.ProjectMember // Member in Project, with the Supervisor override
	Allowlist []netip.Prefix
}

// policy returns the policyView of what LoadPolicy of p must return.
func (p populated) policy(f *fx) access.PolicyData {
	f.t.Helper()
	return policyView(access.PolicyData{
		Tenant: p.Tenant, Version: f.policyVersion(p.ID),
		Roles:    []access.Role{p.Admin, p.Supervisor, p.Agent, p.Role},
		Projects: []access.Project{p.Project}, Members: []access.Member{p.Member},
		ProjectMembers: []access.ProjectMember{p.ProjectM}, Allowlist: p.Allowlist,
	})
}

// populate stores a tenant named name with one row of every kind.
func (f *fx) populate(name string) populated {
	f.t.Helper()
	p := populated{tenantFx: f.createTenant(name)}
	p.Role = f.createRole(p.ID, "Dispatch", "calls.view_all")
	p.Project = f.createProject(p.ID, "Sales")
	p.Member = f.setMember(p.ID, p.Role.ID)
	p.ProjectM = f.setProjectMember(p.ID, p.Project.ID, p.Member.User, p.Supervisor.ID)
	p.Allowlist = prefixes("192.0.2.0/24", "2001:db8::/32")
	require.NoError(f.t, f.s.Access.SetAllowlist(f.ctx, p.ID, p.Allowlist, changeEvent(f.t, p.ID, "allowlist.set")))
	return p
}

var isolationCases = []testCase{
	// ASVS 8.2.2 / 8.4.1: a lookup with tenant B's ID never finds tenant A's row,
	// whichever A ID it names; list methods return B's rows only.
	{"no read with tenant B's ID returns a row of tenant A", func(t *testing.T, f *fx) {
		a, b := f.populate("A"), f.populate("B")
		for _, id := range []uuid.UUID{a.Role.ID, a.Admin.ID, a.Agent.ID} {
			_, err := f.s.Access.Role(f.ctx, b.ID, id)
			assert.ErrorIs(t, err, storage.ErrNotFound, "Role")
		}
		_, err := f.s.Access.Project(f.ctx, b.ID, a.Project.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "Project")
		_, err = f.s.Access.Member(f.ctx, b.ID, a.Member.User)
		assert.ErrorIs(t, err, storage.ErrNotFound, "Member")
		_, err = f.s.Access.ProjectMembers(f.ctx, b.ID, a.Project.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "ProjectMembers")

		roles, err := f.s.Access.Roles(f.ctx, b.ID)
		require.NoError(t, err)
		assertRoles(t, []access.Role{b.Admin, b.Agent, b.Role, b.Supervisor}, roles)
		projects, err := f.s.Access.Projects(f.ctx, b.ID)
		require.NoError(t, err)
		assertProjects(t, []access.Project{b.Project}, projects)
		members, err := f.s.Access.Members(f.ctx, b.ID)
		require.NoError(t, err)
		assertMembers(t, []access.Member{b.Member}, members)
		pms, err := f.s.Access.ProjectMembers(f.ctx, b.ID, b.Project.ID)
		require.NoError(t, err)
		assertProjectMembers(t, []access.ProjectMember{b.ProjectM}, pms)
		allow, err := f.s.Access.Allowlist(f.ctx, b.ID)
		require.NoError(t, err)
		assert.Equal(t, b.Allowlist, allow)

		assert.Equal(t, b.policy(f), f.loadPolicy(b.ID), "LoadPolicy of tenant B")

		for _, e := range f.allEvents(b.ID) {
			assert.Equal(t, b.ID, e.Tenant, "tenant B's audit trail holds an event of another tenant")
		}
	}},
	// Every mutation given tenant B's ID and tenant A's entity IDs is ErrNotFound and
	// changes neither tenant: no row, no policy version, no audit event.
	{"no write with tenant B's ID changes tenant A or tenant B", func(t *testing.T, f *fx) {
		a, b := f.populate("A"), f.populate("B")
		outsider := newID() // a member of neither tenant
		writes := []struct {
			name string
			do   func(ev audit.Event) error
		}{
			{"UpdateRole of A's role", func(ev audit.Event) error {
				r := a.Role
				r.Tenant, r.Name = b.ID, "Hijacked"
				return f.s.Access.UpdateRole(f.ctx, r, ev)
			}},
			{"UpdateRole of A's Admin role", func(ev audit.Event) error {
				r := a.Admin
				r.Tenant, r.Rights = b.ID, []string{"users.manage"}
				return f.s.Access.UpdateRole(f.ctx, r, ev)
			}},
			{"DeleteRole of A's role", func(ev audit.Event) error { return f.s.Access.DeleteRole(f.ctx, b.ID, a.Agent.ID, ev) }},
			{"UpdateProject of A's project", func(ev audit.Event) error {
				p := a.Project
				p.Tenant, p.Name = b.ID, "Hijacked"
				return f.s.Access.UpdateProject(f.ctx, p, ev)
			}},
			{"DeleteProject of A's project", func(ev audit.Event) error { return f.s.Access.DeleteProject(f.ctx, b.ID, a.Project.ID, ev) }},
			{"SetMember with A's role", func(ev audit.Event) error {
				return f.s.Access.SetMember(f.ctx, access.Member{Tenant: b.ID, User: outsider, Role: a.Admin.ID, CreatedAt: at(0), UpdatedAt: at(0)}, ev)
			}},
			{"SetMember of B's member with A's role", func(ev audit.Event) error {
				m := b.Member
				m.Role = a.Admin.ID
				return f.s.Access.SetMember(f.ctx, m, ev)
			}},
			{"RemoveMember of A's member", func(ev audit.Event) error { return f.s.Access.RemoveMember(f.ctx, b.ID, a.Member.User, ev) }},
			{"SetProjectMember into A's project", func(ev audit.Event) error {
				return f.s.Access.SetProjectMember(f.ctx, access.ProjectMember{Tenant: b.ID, Project: a.Project.ID, User: b.Member.User, CreatedAt: at(0)}, ev)
			}},
			{"SetProjectMember with A's override role", func(ev audit.Event) error {
				pm := b.ProjectM
				pm.Role = a.Admin.ID
				return f.s.Access.SetProjectMember(f.ctx, pm, ev)
			}},
			{"SetProjectMember of A's member into B's project", func(ev audit.Event) error {
				return f.s.Access.SetProjectMember(f.ctx, access.ProjectMember{Tenant: b.ID, Project: b.Project.ID, User: a.Member.User, CreatedAt: at(0)}, ev)
			}},
			{"RemoveProjectMember from A's project", func(ev audit.Event) error {
				return f.s.Access.RemoveProjectMember(f.ctx, b.ID, a.Project.ID, a.Member.User, ev)
			}},
			{"RemoveProjectMember of A's member from B's project", func(ev audit.Event) error {
				return f.s.Access.RemoveProjectMember(f.ctx, b.ID, b.Project.ID, a.Member.User, ev)
			}},
		}
		beforeA, beforeB := f.snapshot(a.ID), f.snapshot(b.ID)
		for _, w := range writes {
			err := w.do(changeEvent(t, b.ID, "cross.tenant"))
			assert.ErrorIs(t, err, storage.ErrNotFound, w.name)
			f.assertUnchanged(beforeA, a.ID, w.name)
			f.assertUnchanged(beforeB, b.ID, w.name)
		}
	}},
	// A tenant ID that names no tenant finds nothing, lists nothing and stores
	// nothing: every method is ErrNotFound, and no audit event is appended under it.
	{"every method given an unknown tenant is ErrNotFound and stores nothing", func(t *testing.T, f *fx) {
		a := f.populate("A")
		ghost := newID()
		ev := func() audit.Event { return changeEvent(t, ghost, "ghost.write") }
		calls := map[string]func() error{
			"Tenant": func() error { _, err := f.s.Access.Tenant(f.ctx, ghost); return err },
			"UpdateTenant": func() error {
				tn := a.Tenant
				tn.ID = ghost
				return f.s.Access.UpdateTenant(f.ctx, tn, ev())
			},
			"CreateRole":     func() error { return f.s.Access.CreateRole(f.ctx, roleValue(ghost, "Dispatch"), ev()) },
			"Role":           func() error { _, err := f.s.Access.Role(f.ctx, ghost, a.Role.ID); return err },
			"Roles":          func() error { _, err := f.s.Access.Roles(f.ctx, ghost); return err },
			"UpdateRole":     func() error { r := a.Role; r.Tenant = ghost; return f.s.Access.UpdateRole(f.ctx, r, ev()) },
			"DeleteRole":     func() error { return f.s.Access.DeleteRole(f.ctx, ghost, a.Role.ID, ev()) },
			"CreateProject":  func() error { return f.s.Access.CreateProject(f.ctx, projectValue(ghost, "Sales"), ev()) },
			"Project":        func() error { _, err := f.s.Access.Project(f.ctx, ghost, a.Project.ID); return err },
			"Projects":       func() error { _, err := f.s.Access.Projects(f.ctx, ghost); return err },
			"UpdateProject":  func() error { p := a.Project; p.Tenant = ghost; return f.s.Access.UpdateProject(f.ctx, p, ev()) },
			"DeleteProject":  func() error { return f.s.Access.DeleteProject(f.ctx, ghost, a.Project.ID, ev()) },
			"SetMember":      func() error { m := a.Member; m.Tenant = ghost; return f.s.Access.SetMember(f.ctx, m, ev()) },
			"Member":         func() error { _, err := f.s.Access.Member(f.ctx, ghost, a.Member.User); return err },
			"Members":        func() error { _, err := f.s.Access.Members(f.ctx, ghost); return err },
			"RemoveMember":   func() error { return f.s.Access.RemoveMember(f.ctx, ghost, a.Member.User, ev()) },
			"ProjectMembers": func() error { _, err := f.s.Access.ProjectMembers(f.ctx, ghost, a.Project.ID); return err },
			"SetProjectMember": func() error {
				pm := a.ProjectM
				pm.Tenant = ghost
				return f.s.Access.SetProjectMember(f.ctx, pm, ev())
			},
			"RemoveProjectMember": func() error {
				return f.s.Access.RemoveProjectMember(f.ctx, ghost, a.Project.ID, a.Member.User, ev())
			},
			"SetAllowlist":  func() error { return f.s.Access.SetAllowlist(f.ctx, ghost, prefixes("0.0.0.0/0"), ev()) },
			"Allowlist":     func() error { _, err := f.s.Access.Allowlist(f.ctx, ghost); return err },
			"PolicyVersion": func() error { _, err := f.s.Access.PolicyVersion(f.ctx, ghost); return err },
			"LoadPolicy":    func() error { _, err := f.s.Access.LoadPolicy(f.ctx, ghost); return err },
		}
		before := f.snapshot(a.ID)
		for name, call := range calls {
			assert.ErrorIs(t, call(), storage.ErrNotFound, name)
		}
		f.assertUnchanged(before, a.ID)
		assert.Empty(t, f.allEvents(ghost), "events appended under an unknown tenant")
	}},
}
