package storetest

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mutation is one successful access mutation in a scripted sequence: run in order on
// one tenant, every step is valid and covers every mutating method of access.Store.
type mutation struct {
	name string
	do   func(f *fx, s *script, ev audit.Event) error
}

// script is the state the mutation sequence builds on.
type script struct {
	tenantFx
	role    access.Role
	project access.Project
	user    uuid.UUID
}

// mutations returns the sequence; each step reads what it changes, so that it passes
// the current Version.
func mutations() []mutation {
	return []mutation{
		{"UpdateTenant", func(f *fx, s *script, ev audit.Event) error {
			tn, err := f.s.Access.Tenant(f.ctx, s.ID)
			require.NoError(f.t, err)
			tn.Name = "Renamed"
			return f.s.Access.UpdateTenant(f.ctx, tn, ev)
		}},
		{"CreateRole", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.CreateRole(f.ctx, s.role, ev)
		}},
		{"UpdateRole", func(f *fx, s *script, ev audit.Event) error {
			r, err := f.s.Access.Role(f.ctx, s.ID, s.role.ID)
			require.NoError(f.t, err)
			r.Rights = []string{"reports.view"}
			return f.s.Access.UpdateRole(f.ctx, r, ev)
		}},
		{"CreateProject", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.CreateProject(f.ctx, s.project, ev)
		}},
		{"UpdateProject", func(f *fx, s *script, ev audit.Event) error {
			p, err := f.s.Access.Project(f.ctx, s.ID, s.project.ID)
			require.NoError(f.t, err)
			p.Name = "Renamed"
			return f.s.Access.UpdateProject(f.ctx, p, ev)
		}},
		{"SetMember (create)", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.SetMember(f.ctx, access.Member{Tenant: s.ID, User: s.user, Role: s.role.ID, CreatedAt: at(0), UpdatedAt: at(0)}, ev)
		}},
		{"SetMember (replace)", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.SetMember(f.ctx, access.Member{Tenant: s.ID, User: s.user, Role: s.Agent.ID, CreatedAt: at(0), UpdatedAt: at(time.Hour)}, ev)
		}},
		{"SetProjectMember (create)", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.SetProjectMember(f.ctx, access.ProjectMember{Tenant: s.ID, Project: s.project.ID, User: s.user, Role: s.role.ID, CreatedAt: at(0)}, ev)
		}},
		{"SetProjectMember (replace)", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.SetProjectMember(f.ctx, access.ProjectMember{Tenant: s.ID, Project: s.project.ID, User: s.user, CreatedAt: at(0)}, ev)
		}},
		{"SetAllowlist", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.SetAllowlist(f.ctx, s.ID, prefixes("192.0.2.0/24", "2001:db8::/32"), ev)
		}},
		{"SetAllowlist (clear)", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.SetAllowlist(f.ctx, s.ID, nil, ev)
		}},
		{"RemoveProjectMember", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.RemoveProjectMember(f.ctx, s.ID, s.project.ID, s.user, ev)
		}},
		{"SetProjectMember (again)", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.SetProjectMember(f.ctx, access.ProjectMember{Tenant: s.ID, Project: s.project.ID, User: s.user, CreatedAt: at(0)}, ev)
		}},
		{"RemoveMember", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.RemoveMember(f.ctx, s.ID, s.user, ev)
		}},
		{"DeleteProject", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.DeleteProject(f.ctx, s.ID, s.project.ID, ev)
		}},
		{"DeleteRole", func(f *fx, s *script, ev audit.Event) error {
			return f.s.Access.DeleteRole(f.ctx, s.ID, s.role.ID, ev)
		}},
	}
}

func (f *fx) newScript() *script {
	f.t.Helper()
	tn := f.createTenant("Acme")
	return &script{
		tenantFx: tn,
		role:     roleValue(tn.ID, "Dispatch", "calls.view_all"),
		project:  projectValue(tn.ID, "Sales"),
		user:     newID(),
	}
}

// reads calls every read method of access.Store on tenant.
func (f *fx) reads(s *script) {
	f.t.Helper()
	a := f.s.Access
	_, err := a.Tenant(f.ctx, s.ID)
	require.NoError(f.t, err)
	_, err = a.Role(f.ctx, s.ID, s.Agent.ID)
	require.NoError(f.t, err)
	_, err = a.Roles(f.ctx, s.ID)
	require.NoError(f.t, err)
	_, _ = a.Project(f.ctx, s.ID, s.project.ID)
	_, err = a.Projects(f.ctx, s.ID)
	require.NoError(f.t, err)
	_, _ = a.Member(f.ctx, s.ID, s.user)
	_, err = a.Members(f.ctx, s.ID)
	require.NoError(f.t, err)
	_, _ = a.ProjectMembers(f.ctx, s.ID, s.project.ID)
	_, err = a.Allowlist(f.ctx, s.ID)
	require.NoError(f.t, err)
	_, err = a.PolicyVersion(f.ctx, s.ID)
	require.NoError(f.t, err)
	_, err = a.LoadPolicy(f.ctx, s.ID)
	require.NoError(f.t, err)
}

var unitOfWorkCases = []testCase{
	// CreateTenant's event is the first link of the tenant's chain.
	{"CreateTenant appends its event as Seq 1 and starts the policy version", func(t *testing.T, f *fx) {
		tn := tenantValue("Acme")
		ev := fullEvent(t, tn.ID, at(time.Minute))
		require.NoError(t, f.s.Access.CreateTenant(f.ctx, tn, nil, ev))
		got := f.allEvents(tn.ID)
		require.Len(t, got, 1)
		assertEvent(t, ev, got[0])
		verifyChain(t, f.s.Chain, got)
		assert.Positive(t, f.policyVersion(tn.ID))
	}},
	// Every mutating method appends exactly the event it was given, as the next link
	// of the tenant's chain, and increases the tenant's policy version; reads in between
	// do neither.
	{"every access mutation appends exactly its event and increases the policy version; reads do neither", func(t *testing.T, f *fx) {
		s := f.newScript()
		for _, m := range mutations() {
			before := f.snapshot(s.ID)
			ev := fullEvent(t, s.ID, at(time.Minute))
			require.NoError(t, m.do(f, s, ev), m.name)

			events := f.allEvents(s.ID)
			if assert.Len(t, events, len(before.Events)+1, "%s: events appended", m.name) {
				assert.Equal(t, before.Events, events[:len(before.Events)], "%s: earlier events changed", m.name)
				assertEvent(t, ev, events[len(events)-1])
			}
			verifyChain(t, f.s.Chain, events)
			v := f.policyVersion(s.ID)
			assert.Greater(t, v, before.Policy.Version, "%s: policy version", m.name)

			f.reads(s)
			assert.Equal(t, v, f.policyVersion(s.ID), "%s: reads changed the policy version", m.name)
			assert.Len(t, f.allEvents(s.ID), len(events), "%s: reads appended events", m.name)
		}
	}},
	// An access mutation whose event cannot be stored does not happen: an event of
	// another tenant is rejected (it would write into that tenant's chain), and an
	// event ID already stored fails the whole unit of work.
	{"an access mutation whose event cannot be appended changes nothing", func(t *testing.T, f *fx) {
		s := f.newScript()
		other := f.createTenant("Other")
		for _, m := range mutations() {
			before, beforeOther := f.snapshot(s.ID), f.snapshot(other.ID)

			err := m.do(f, s, changeEvent(t, other.ID, "cross.tenant"))
			assert.ErrorIs(t, err, audit.ErrInvalidEvent, "%s with another tenant's event", m.name)
			f.assertUnchanged(before, s.ID, m.name)
			f.assertUnchanged(beforeOther, other.ID, m.name)

			dup := changeEvent(t, s.ID, "dup.event")
			dup.ID = before.Events[len(before.Events)-1].ID
			err = m.do(f, s, dup)
			assert.ErrorIs(t, err, storage.ErrConflict, "%s with an event ID already stored", m.name)
			f.assertUnchanged(before, s.ID, m.name)

			require.NoError(t, m.do(f, s, changeEvent(t, s.ID, "ok")), m.name)
		}
	}},
	// Failed mutations of every kind (conflict, stale, not found, in use, invalid)
	// leave rows, policy version and audit trail exactly as they were.
	{"a failing access mutation appends no event and changes nothing", func(t *testing.T, f *fx) {
		p := f.populate("Acme")
		other := f.createRole(p.ID, "Other")
		failing := []struct {
			name string
			want error
			do   func(ev audit.Event) error
		}{
			{"CreateTenant of an existing ID", storage.ErrConflict, func(ev audit.Event) error {
				return f.s.Access.CreateTenant(f.ctx, p.Tenant, nil, ev)
			}},
			{"UpdateTenant stale", storage.ErrStale, func(ev audit.Event) error {
				tn := p.Tenant
				tn.Version, tn.Name = 9, "X"
				return f.s.Access.UpdateTenant(f.ctx, tn, ev)
			}},
			{"CreateRole duplicate name", storage.ErrConflict, func(ev audit.Event) error {
				return f.s.Access.CreateRole(f.ctx, roleValue(p.ID, p.Role.Name), ev)
			}},
			{"UpdateRole stale", storage.ErrStale, func(ev audit.Event) error {
				r := p.Role
				r.Version, r.Rights = 9, []string{"users.manage"}
				return f.s.Access.UpdateRole(f.ctx, r, ev)
			}},
			{"UpdateRole duplicate name", storage.ErrConflict, func(ev audit.Event) error {
				r := other
				r.Name = p.Role.Name
				return f.s.Access.UpdateRole(f.ctx, r, ev)
			}},
			{"UpdateRole unknown", storage.ErrNotFound, func(ev audit.Event) error {
				r := roleValue(p.ID, "Ghost")
				r.Version = 1
				return f.s.Access.UpdateRole(f.ctx, r, ev)
			}},
			{"DeleteRole in use by a member", access.ErrRoleInUse, func(ev audit.Event) error {
				return f.s.Access.DeleteRole(f.ctx, p.ID, p.Role.ID, ev)
			}},
			{"DeleteRole in use as a project override", access.ErrRoleInUse, func(ev audit.Event) error {
				return f.s.Access.DeleteRole(f.ctx, p.ID, p.Supervisor.ID, ev)
			}},
			{"DeleteRole unknown", storage.ErrNotFound, func(ev audit.Event) error {
				return f.s.Access.DeleteRole(f.ctx, p.ID, newID(), ev)
			}},
			{"CreateProject duplicate name", storage.ErrConflict, func(ev audit.Event) error {
				return f.s.Access.CreateProject(f.ctx, projectValue(p.ID, p.Project.Name), ev)
			}},
			{"UpdateProject stale", storage.ErrStale, func(ev audit.Event) error {
				pr := p.Project
				pr.Version, pr.Name = 0, "X"
				return f.s.Access.UpdateProject(f.ctx, pr, ev)
			}},
			{"DeleteProject unknown", storage.ErrNotFound, func(ev audit.Event) error {
				return f.s.Access.DeleteProject(f.ctx, p.ID, newID(), ev)
			}},
			{"SetMember unknown role", storage.ErrNotFound, func(ev audit.Event) error {
				m := p.Member
				m.Role = newID()
				return f.s.Access.SetMember(f.ctx, m, ev)
			}},
			{"RemoveMember unknown", storage.ErrNotFound, func(ev audit.Event) error {
				return f.s.Access.RemoveMember(f.ctx, p.ID, newID(), ev)
			}},
			{"SetProjectMember non-member", storage.ErrNotFound, func(ev audit.Event) error {
				return f.s.Access.SetProjectMember(f.ctx, access.ProjectMember{Tenant: p.ID, Project: p.Project.ID, User: newID(), CreatedAt: at(0)}, ev)
			}},
			{"RemoveProjectMember unknown", storage.ErrNotFound, func(ev audit.Event) error {
				return f.s.Access.RemoveProjectMember(f.ctx, p.ID, p.Project.ID, newID(), ev)
			}},
			{"SetAllowlist invalid prefix", access.ErrInvalidPrefix, func(ev audit.Event) error {
				return f.s.Access.SetAllowlist(f.ctx, p.ID, append(slices.Clone(p.Allowlist), netipPrefixZero), ev)
			}},
		}
		before := f.snapshot(p.ID)
		for _, c := range failing {
			err := c.do(changeEvent(t, p.ID, "failing.change"))
			assert.ErrorIs(t, err, c.want, c.name)
			f.assertUnchanged(before, p.ID, c.name)
		}
	}},
	// The policy snapshot is the listing methods' data, read at one policy version:
	// what Compile reads of it, in any order (access.PolicyData).
	{"LoadPolicy returns what is stored, with the current policy version", func(t *testing.T, f *fx) {
		p := f.populate("Acme")
		p2 := f.createProject(p.ID, "Support 東京")
		m2 := f.setMember(p.ID, p.Agent.ID)
		pm2 := f.setProjectMember(p.ID, p2.ID, m2.User, uuid.Nil)
		pm3 := f.setProjectMember(p.ID, p2.ID, p.Member.User, p.Role.ID)
		f.populate("Noise") // another tenant's rows must not show

		want := p.policy(f)
		assert.Equal(t, f.policyVersion(p.ID), want.Version)
		want.Projects = append(want.Projects, p2)
		want.Members = append(want.Members, m2)
		want.ProjectMembers = append(want.ProjectMembers, pm2, pm3)
		assert.Equal(t, policyView(want), f.loadPolicy(p.ID))

		// And the listings agree with it.
		roles, err := f.s.Access.Roles(f.ctx, p.ID)
		require.NoError(t, err)
		projects, err := f.s.Access.Projects(f.ctx, p.ID)
		require.NoError(t, err)
		members, err := f.s.Access.Members(f.ctx, p.ID)
		require.NoError(t, err)
		listed := access.PolicyData{Tenant: p.Tenant, Version: want.Version, Roles: roles, Projects: projects, Members: members}
		for _, pr := range projects {
			pms, err := f.s.Access.ProjectMembers(f.ctx, p.ID, pr.ID)
			require.NoError(t, err)
			listed.ProjectMembers = append(listed.ProjectMembers, pms...)
		}
		listed.Allowlist, err = f.s.Access.Allowlist(f.ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, policyView(listed), f.loadPolicy(p.ID))
	}},
	// LoadPolicy reads a whole tenant on a cold start: only what Compile needs, no
	// timestamps, no row versions, no project names (roles excepted: a policy hands
	// them out whole, see access.PolicyData).
	{"LoadPolicy fills only the fields access.PolicyData lists", func(t *testing.T, f *fx) {
		p := f.populate("Acme")
		pd, err := f.s.Access.LoadPolicy(f.ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, access.Tenant{ID: p.ID, Name: p.Name}, pd.Tenant, "Tenant: ID and Name only")
		require.NotEmpty(t, pd.Projects)
		for _, pr := range pd.Projects {
			assert.Equal(t, access.Project{ID: pr.ID, Tenant: pr.Tenant}, pr, "Project: ID and Tenant only")
		}
		require.NotEmpty(t, pd.Members)
		for _, m := range pd.Members {
			assert.Equal(t, access.Member{Tenant: m.Tenant, User: m.User, Role: m.Role, Disabled: m.Disabled}, m,
				"Member: no CreatedAt, UpdatedAt")
		}
		require.NotEmpty(t, pd.ProjectMembers)
		for _, pm := range pd.ProjectMembers {
			assert.Equal(t, access.ProjectMember{Tenant: pm.Tenant, Project: pm.Project, User: pm.User, Role: pm.Role}, pm,
				"ProjectMember: no CreatedAt")
		}
		require.NotEmpty(t, pd.Roles)
		for _, r := range pd.Roles {
			assert.NotZero(t, r.Version, "roles are whole: role %s", r.Name)
			assert.False(t, r.CreatedAt.IsZero(), "roles are whole: role %s", r.Name)
		}
	}},
	// No slice passed in or returned shares memory with the store (SQL adapters pass
	// trivially; an in-memory adapter must copy).
	{"slices passed in and returned are copies", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		rights := []string{"calls.view_all", "reports.view"}
		r := roleValue(tn.ID, "Dispatch", slices.Clone(rights)...)
		require.NoError(t, f.s.Access.CreateRole(f.ctx, r, changeEvent(t, tn.ID, "role.create")))
		r.Rights[0] = "users.manage"
		allow := prefixes("192.0.2.0/24")
		require.NoError(t, f.s.Access.SetAllowlist(f.ctx, tn.ID, allow, changeEvent(t, tn.ID, "allowlist.set")))
		allow[0] = prefixes("0.0.0.0/0")[0]

		got, err := f.s.Access.Role(f.ctx, tn.ID, r.ID)
		require.NoError(t, err)
		assert.Equal(t, rights, got.Rights)
		got.Rights[0] = "users.manage"
		roles, err := f.s.Access.Roles(f.ctx, tn.ID)
		require.NoError(t, err)
		for _, r := range roles {
			if len(r.Rights) > 0 {
				r.Rights[0] = "users.manage"
			}
		}
		pd, err := f.s.Access.LoadPolicy(f.ctx, tn.ID)
		require.NoError(t, err)
		for _, r := range pd.Roles {
			if len(r.Rights) > 0 {
				r.Rights[0] = "users.manage"
			}
		}
		pd.Allowlist[0] = prefixes("0.0.0.0/0")[0]
		gotAllow, err := f.s.Access.Allowlist(f.ctx, tn.ID)
		require.NoError(t, err)
		gotAllow[0] = prefixes("0.0.0.0/0")[0]

		got, err = f.s.Access.Role(f.ctx, tn.ID, r.ID)
		require.NoError(t, err)
		assert.Equal(t, rights, got.Rights)
		sup, err := f.s.Access.Role(f.ctx, tn.ID, tn.Supervisor.ID)
		require.NoError(t, err)
		assert.Equal(t, tn.Supervisor.Rights, sup.Rights)
		gotAllow, err = f.s.Access.Allowlist(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, prefixes("192.0.2.0/24"), gotAllow)
	}},
}

// netipPrefixZero is the zero netip.Prefix, which is not a valid prefix.
var netipPrefixZero netip.Prefix
