package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
)

// The policy change log (access.ChangeStore): an engine refreshed from it must decide
// exactly as a policy freshly compiled from LoadPolicy, whatever the changes.

var policyChangeCases = []testCase{
	// The differential test: random sequences of every kind of change (roles and their
	// rights, projects, memberships and overrides, allowlists, the tenant's name,
	// deletions, and account status changes when the adapter keeps accounts), each
	// followed by a comparison of every decision of the incrementally refreshed policy
	// with a fresh Compile of LoadPolicy.
	{"an engine refreshed from the change log decides as a fresh compile, over random change sequences", func(t *testing.T, f *fx) {
		changeStore(t, f)
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		r := rand.New(rand.NewPCG(seed, seed^0x5eed))
		for round := range 2 {
			w := newChangeWorld(t, f, r, fmt.Sprintf("Changes %d", round))
			e := access.NewEngine(f.s.Access, access.EngineOptions{})
			w.compare(e, "initial")
			for step := range 60 {
				what := w.change()
				w.compare(e, fmt.Sprintf("round %d step %d (%s)", round, step, what))
			}
			st := e.Stats()
			assert.Positive(t, st.Refreshes, "changes were applied incrementally")
			assert.Less(t, st.Loads, int64(10), "few full loads (the first, and changes the log cannot itemise)")
		}
	}},
	// An engine's version that the log no longer covers, or a version ahead of the
	// store's, is answered Full; an unchanged version with nothing at all.
	{"PolicyChanges answers Full outside the log and nothing at the current version", func(t *testing.T, f *fx) {
		cs := changeStore(t, f)
		tn := f.createTenant("Log bounds")
		v := f.policyVersion(tn.ID)
		ch, err := cs.PolicyChanges(f.ctx, tn.ID, v)
		require.NoError(t, err)
		assert.Equal(t, access.PolicyChanges{Version: v}, ch)
		ch, err = cs.PolicyChanges(f.ctx, tn.ID, v+5)
		require.NoError(t, err)
		assert.True(t, ch.Full, "a version ahead of the store's")
		ch, err = cs.PolicyChanges(f.ctx, tn.ID, 0)
		require.NoError(t, err)
		assert.True(t, ch.Full, "a version before the tenant existed")
		m := f.setMember(tn.ID, tn.Agent.ID)
		ch, err = cs.PolicyChanges(f.ctx, tn.ID, v)
		require.NoError(t, err)
		assert.False(t, ch.Full)
		assert.Equal(t, v+1, ch.Version)
		assert.Equal(t, []uuid.UUID{m.User}, ch.Users)
		require.Len(t, ch.Members, 1)
		assert.Equal(t, m.Role, ch.Members[0].Role)
	}},
	// Units of work of authn that do not change what a policy is compiled from leave the
	// version (and so every engine's cache) alone; those that do (a block, an accepted
	// invitation's membership) log a precise change, never a full reload.
	{"authn units of work log precise changes or none", func(t *testing.T, f *fx) {
		cs := changeStore(t, f)
		tn := f.createTenant("Precise")
		u, _ := f.activeUser(tn, "ann@example.com")
		v := f.policyVersion(tn.ID)
		x := f.startSession(u)
		_, err := f.s.Authn.TouchSession(f.ctx, tn.ID, x.ID, later, later.Add(time.Second), authn.SessionTouch{URL: "/calls"})
		require.NoError(t, err)
		require.NoError(t, f.s.Authn.SetSessionSettings(f.ctx, authn.SessionSettings{Tenant: tn.ID, IdleTimeout: time.Hour, UpdatedAt: later},
			changeEvent(t, tn.ID, "session_settings.update")))
		_, err = f.s.Authn.EndSessions(f.ctx, tn.ID, authn.SessionSelector{ID: x.ID}, sessionEvent(t, tn.ID, "session.end"))
		require.NoError(t, err)
		assert.Equal(t, v, f.policyVersion(tn.ID), "sessions and their settings are not policy data")

		f.setStatus(u, authn.StatusBlocked, later)
		ch, err := cs.PolicyChanges(f.ctx, tn.ID, v)
		require.NoError(t, err)
		assert.False(t, ch.Full, "a block is one user's change")
		assert.Equal(t, v+1, ch.Version)
		assert.Equal(t, []uuid.UUID{u.ID}, ch.Users)
	}},
	// Tenant isolation: one tenant's changes never appear in another's, and an unknown
	// tenant is storage.ErrNotFound.
	{"PolicyChanges lists only the tenant's own changes; an unknown tenant is ErrNotFound", func(t *testing.T, f *fx) {
		cs := changeStore(t, f)
		a, b := f.createTenant("Log A"), f.createTenant("Log B")
		va, vb := f.policyVersion(a.ID), f.policyVersion(b.ID)
		ma := f.setMember(a.ID, a.Agent.ID)
		f.createRole(a.ID, "Only A", "reports.view")
		mb := f.setMember(b.ID, b.Agent.ID)
		pa := f.createProject(a.ID, "A's")
		f.setProjectMember(a.ID, pa.ID, ma.User, uuid.Nil)
		ch, err := cs.PolicyChanges(f.ctx, b.ID, vb)
		require.NoError(t, err)
		assert.Equal(t, []uuid.UUID{mb.User}, ch.Users)
		assert.False(t, ch.RolesChanged || ch.ProjectsChanged, "A's role and project are not B's changes")
		for _, pm := range ch.ProjectMembers {
			assert.Equal(t, b.ID, pm.Tenant)
		}
		ch, err = cs.PolicyChanges(f.ctx, a.ID, va)
		require.NoError(t, err)
		assert.Equal(t, []uuid.UUID{ma.User}, ch.Users)
		for _, r := range ch.Roles {
			assert.Equal(t, a.ID, r.Tenant)
		}
		_, err = cs.PolicyChanges(f.ctx, newID(), 1)
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
}

func changeStore(t *testing.T, f *fx) access.ChangeStore {
	t.Helper()
	cs, ok := f.s.Access.(access.ChangeStore)
	if !ok {
		t.Skip("the adapter does not implement access.ChangeStore")
	}
	return cs
}

// changeWorld is one tenant under random change.
type changeWorld struct {
	t        *testing.T
	f        *fx
	r        *rand.Rand
	tn       tenantFx
	roles    []uuid.UUID // every role ever created (some deleted)
	projects []uuid.UUID // every project ever created (some deleted)
	users    []uuid.UUID // members, former members and accounts
	accounts map[uuid.UUID]authn.User
	tickets  []authn.Ticket // open invitations
	admin    uuid.UUID      // an Admin member kept, so that last-Admin refusals stay rare
}

func newChangeWorld(t *testing.T, f *fx, r *rand.Rand, name string) *changeWorld {
	w := &changeWorld{t: t, f: f, r: r, tn: f.createTenant(name), accounts: map[uuid.UUID]authn.User{}}
	w.roles = []uuid.UUID{w.tn.Admin.ID, w.tn.Supervisor.ID, w.tn.Agent.ID}
	for i := range 2 {
		w.roles = append(w.roles, f.createRole(w.tn.ID, fmt.Sprintf("Custom %d", i), w.rights()...).ID)
	}
	for i := range 3 {
		w.projects = append(w.projects, f.createProject(w.tn.ID, fmt.Sprintf("Project %d", i)).ID)
	}
	w.admin = f.setMember(w.tn.ID, w.tn.Admin.ID).User
	for range 8 {
		w.users = append(w.users, f.setMember(w.tn.ID, w.pick(w.roles)).User)
	}
	if f.s.Authn != nil {
		for i := range 4 {
			u, tk := f.inviteTo(w.tn.ID, w.pick(w.roles), fmt.Sprintf("user%d@%s.example", i, w.tn.ID), w.projects[0])
			w.users = append(w.users, u.ID)
			w.accounts[u.ID] = u
			w.tickets = append(w.tickets, tk)
		}
	}
	return w
}

func pickOf[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func (w *changeWorld) pick(s []uuid.UUID) uuid.UUID { return pickOf(w.r, s) }

// rights returns a random set of catalog right names, sometimes with a name no
// process registered.
func (w *changeWorld) rights() []string {
	var out []string
	for _, ri := range access.Rights() {
		if w.r.IntN(3) == 0 {
			out = append(out, ri.Right.String())
		}
	}
	if w.r.IntN(5) == 0 {
		out = append(out, "host.unregistered")
	}
	slices.Sort(out)
	return out
}

// ignorable are the refusals a random change may meet; they change nothing.
func ignorable(err error) bool {
	return err == nil || errors.Is(err, storage.ErrNotFound) || errors.Is(err, access.ErrLastAdmin) ||
		errors.Is(err, access.ErrRoleInUse) || errors.Is(err, storage.ErrConflict) ||
		errors.Is(err, authn.ErrInvalidTransition) || errors.Is(err, authn.ErrTicketInvalid)
}

// change makes one random change and names it.
func (w *changeWorld) change() string {
	f, t, a, tenant := w.f, w.t, w.f.s.Access, w.tn.ID
	ev := func(action string) audit.Event { return changeEvent(t, tenant, action) }
	var err error
	var what string
	switch n := w.r.IntN(16); {
	case n < 3:
		what = "set member"
		u := w.pick(w.users)
		if w.r.IntN(4) == 0 {
			u = newID()
			w.users = append(w.users, u)
		}
		err = a.SetMember(f.ctx, access.Member{Tenant: tenant, User: u, Role: w.pick(w.roles), CreatedAt: at(0), UpdatedAt: at(0)}, ev("member.set"))
	case n == 3:
		what = "remove member"
		err = a.RemoveMember(f.ctx, tenant, w.pick(w.users), ev("member.remove"))
	case n < 6:
		what = "set project member"
		role := uuid.Nil
		if w.r.IntN(2) == 0 {
			role = w.pick(w.roles)
		}
		err = a.SetProjectMember(f.ctx, access.ProjectMember{Tenant: tenant, Project: w.pick(w.projects), User: w.pick(w.users), Role: role, CreatedAt: at(0)}, ev("project_member.set"))
	case n == 6:
		what = "remove project member"
		err = a.RemoveProjectMember(f.ctx, tenant, w.pick(w.projects), w.pick(w.users), ev("project_member.remove"))
	case n == 7:
		what = "update role"
		var r access.Role
		if r, err = a.Role(f.ctx, tenant, w.pick(w.roles)); err == nil && r.Kind != access.KindAdmin {
			r.Rights, r.UpdatedAt = w.rights(), at(time.Minute)
			err = a.UpdateRole(f.ctx, r, ev("role.update"))
		}
	case n == 8:
		what = "create or delete role"
		if w.r.IntN(2) == 0 {
			r := roleValue(tenant, fmt.Sprintf("Role %d", len(w.roles)), w.rights()...)
			if err = a.CreateRole(f.ctx, r, ev("role.create")); err == nil {
				w.roles = append(w.roles, r.ID)
			}
		} else {
			err = a.DeleteRole(f.ctx, tenant, w.pick(w.roles[3:]), ev("role.delete"))
		}
	case n == 9:
		what = "create or delete project"
		if w.r.IntN(2) == 0 {
			p := projectValue(tenant, fmt.Sprintf("Project %d", len(w.projects)))
			if err = a.CreateProject(f.ctx, p, ev("project.create")); err == nil {
				w.projects = append(w.projects, p.ID)
			}
		} else {
			err = a.DeleteProject(f.ctx, tenant, w.pick(w.projects), ev("project.delete"))
		}
	case n == 10:
		what = "set allowlist"
		var ps []netip.Prefix
		for range w.r.IntN(3) {
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(w.r.IntN(4)), 0, 0}), 16))
		}
		err = a.SetAllowlist(f.ctx, tenant, ps, ev("allowlist.set"))
	case n == 11:
		what = "rename tenant"
		var tn access.Tenant
		if tn, err = a.Tenant(f.ctx, tenant); err == nil {
			tn.Name, tn.UpdatedAt = fmt.Sprintf("Renamed %d", w.r.IntN(1000)), at(time.Hour)
			err = a.UpdateTenant(f.ctx, tn, ev("tenant.update"))
		}
	default:
		if f.s.Authn == nil {
			return w.change()
		}
		err, what = w.accountChange(), "account change"
	}
	require.Truef(t, ignorable(err), "%s: %v", what, err)
	return what
}

// accountChange accepts an invitation, moves an account's status, deletes or invites
// a user.
func (w *changeWorld) accountChange() error {
	f, tenant := w.f, w.tn.ID
	switch n := w.r.IntN(5); {
	case n == 0 && len(w.tickets) > 0:
		tk := w.tickets[0]
		w.tickets = w.tickets[1:]
		u, err := f.s.Authn.AcceptInvitation(f.ctx, tenant, tk.TokenHash, acceptedAt, hashOf(tk.Email), changeEvent(w.t, tenant, "user.accept"))
		if err == nil {
			w.accounts[u.ID] = u
		}
		return err
	case n <= 2 && len(w.accounts) > 0:
		ids := make([]uuid.UUID, 0, len(w.accounts))
		for id := range w.accounts {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
		u := w.accounts[w.pick(ids)]
		to := pickOf(w.r, []authn.Status{authn.StatusActive, authn.StatusBlocked, authn.StatusArchived})
		err := f.s.Authn.SetStatus(f.ctx, tenant, u.ID, u.Status, to, at(time.Hour), changeEvent(w.t, tenant, "user.status"))
		if err == nil {
			w.accounts[u.ID] = f.user(tenant, u.ID)
		}
		if w.r.IntN(6) == 0 && err == nil {
			err = f.s.Authn.DeleteUser(f.ctx, tenant, u.ID, []authn.Status{authn.StatusActive, authn.StatusBlocked, authn.StatusArchived},
				"test", at(2*time.Hour), changeEvent(w.t, tenant, "user.delete"))
			if err == nil {
				delete(w.accounts, u.ID)
			}
		}
		return err
	default:
		u, tk := f.inviteTo(tenant, w.pick(w.roles[1:]), fmt.Sprintf("new%d@%s.example", len(w.users), tenant), w.pick(w.projects))
		w.users = append(w.users, u.ID)
		w.accounts[u.ID] = u
		w.tickets = append(w.tickets, tk)
		return nil
	}
}

// compare checks every decision of e's current policy against a fresh Compile.
func (w *changeWorld) compare(e *access.Engine, when string) {
	t, f := w.t, w.f
	t.Helper()
	got, err := e.Policy(f.ctx, w.tn.ID)
	require.NoError(t, err)
	d, err := f.s.Access.LoadPolicy(f.ctx, w.tn.ID)
	require.NoError(t, err)
	want := access.Compile(d)
	require.Equal(t, want.Version(), got.Version(), "%s: version", when)
	require.Equal(t, want.TenantName(), got.TenantName(), "%s: tenant name", when)
	sortRoles := func(rs []access.Role) []access.Role {
		slices.SortFunc(rs, func(a, b access.Role) int { return slices.Compare(a.ID[:], b.ID[:]) })
		return rs
	}
	require.Equal(t, len(want.Roles()), len(got.Roles()), "%s: roles", when)
	for i, r := range sortRoles(want.Roles()) {
		g := sortRoles(got.Roles())[i]
		require.Equal(t, r.ID, g.ID, "%s: roles", when)
		require.Equal(t, r.Rights, g.Rights, "%s: rights of role %s", when, r.ID)
	}
	projects := append(slices.Clone(w.projects), uuid.Nil, newID())
	users := append(slices.Clone(w.users), w.admin, newID())
	ips := []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.0.2.1")}
	for _, u := range users {
		s := access.Subject{Tenant: w.tn.ID, User: u}
		wr, wok := want.Role(u)
		gr, gok := got.Role(u)
		require.Equal(t, wok, gok, "%s: user %s is a member", when, u)
		require.Equal(t, wr.ID, gr.ID, "%s: role of %s", when, u)
		require.Equal(t, want.Projects(u), got.Projects(u), "%s: projects of %s", when, u)
		for _, ip := range ips {
			require.Equal(t, want.AllowsIP(s, ip), got.AllowsIP(s, ip), "%s: AllowsIP(%s, %s)", when, u, ip)
		}
		for _, ri := range access.Rights() {
			for _, p := range projects {
				if want.Check(s, ri.Right, p) != got.Check(s, ri.Right, p) {
					require.Failf(t, "decision differs", "%s: Check(%s, %s, %s): fresh %v, refreshed %v",
						when, u, ri.Right, p, want.Check(s, ri.Right, p), got.Check(s, ri.Right, p))
				}
			}
			require.Equal(t, want.Scope(s, ri.Right), got.Scope(s, ri.Right), "%s: Scope(%s, %s)", when, u, ri.Right)
		}
	}
	for _, p := range projects {
		require.Equal(t, want.HasProject(p), got.HasProject(p), "%s: HasProject(%s)", when, p)
	}
}
