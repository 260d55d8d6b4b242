package access_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// orderWorld is a generated tenant with every kind of row Compile meets: the default
// roles and custom ones (one seeing all projects, one bypassing the allowlist, one
// naming an unregistered right), members with and without project memberships,
// overrides, disabled members, and rows Compile must ignore (another tenant's, an
// unknown role, an unknown project). No row is duplicated: which of duplicates counts
// is the one thing Compile decides by input order (see its doc).
type orderWorld struct {
	data     access.PolicyData
	users    []uuid.UUID // every member, and one stranger
	projects []uuid.UUID // every project, the zero project and an unknown one
	roles    []uuid.UUID // every role, and an unknown one
}

func newOrderWorld(r *rand.Rand) orderWorld {
	tenant, other := uuid.New(), uuid.New()
	stamp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	def := access.DefaultRoles()
	roles := []access.Role{
		{Name: "Admin", Kind: access.KindAdmin},
		{Name: "Supervisor", Kind: access.KindSupervisor, Rights: names(def[access.KindSupervisor]...)},
		{Name: "Agent", Kind: access.KindAgent, Rights: names(def[access.KindAgent]...)},
		{Name: "Auditor", Kind: access.KindCustom, Rights: names(access.SeeAllProjects, access.ViewReports, access.ViewAllCalls)},
		{Name: "Road warrior", Kind: access.KindCustom, Rights: names(access.IgnoreAllowedIPs, access.EditProfile, access.ListenRecordings)},
		{Name: "Future", Kind: access.KindCustom, Rights: append(names(access.ViewSessions), "host.not_registered")},
	}
	w := orderWorld{}
	for i := range roles {
		// Set as a store sets them: the policy hands its roles out whole.
		roles[i].ID, roles[i].Tenant = uuid.New(), tenant
		roles[i].CreatedAt, roles[i].UpdatedAt, roles[i].Version = stamp, stamp, 3
		w.roles = append(w.roles, roles[i].ID)
	}
	roles = append(roles, access.Role{ID: uuid.New(), Tenant: other, Name: "Foreign", Kind: access.KindAdmin})
	var projects []access.Project
	for range 20 {
		p := access.Project{ID: uuid.New(), Tenant: tenant, Name: "P", CreatedAt: stamp, Version: 2}
		projects = append(projects, p)
		w.projects = append(w.projects, p.ID)
	}
	projects = append(projects, access.Project{ID: uuid.New(), Tenant: other})
	var members []access.Member
	var pms []access.ProjectMember
	for i := range 60 {
		m := access.Member{Tenant: tenant, User: uuid.New(), Role: w.roles[r.IntN(len(w.roles))],
			CreatedAt: stamp, UpdatedAt: stamp, Disabled: r.IntN(10) == 0}
		if i == 0 {
			m.Role = w.roles[0] // at least one Admin
		}
		members = append(members, m)
		w.users = append(w.users, m.User)
		for _, pi := range r.Perm(len(w.projects))[:r.IntN(5)] {
			pm := access.ProjectMember{Tenant: tenant, Project: w.projects[pi], User: m.User, CreatedAt: stamp}
			switch x := r.IntN(10); {
			case x < 3:
				pm.Role = w.roles[r.IntN(len(w.roles))]
			case x == 3:
				pm.Role = uuid.New() // an unknown override grants nothing
			}
			pms = append(pms, pm)
		}
	}
	ghost := uuid.New()
	members = append(members,
		access.Member{Tenant: tenant, User: ghost, Role: uuid.New()},     // an unknown role: no member
		access.Member{Tenant: other, User: uuid.New(), Role: w.roles[0]}, // another tenant's row
	)
	pms = append(pms,
		access.ProjectMember{Tenant: tenant, Project: uuid.New(), User: w.users[1]},    // an unknown project
		access.ProjectMember{Tenant: tenant, Project: w.projects[0], User: uuid.New()}, // not a member
		access.ProjectMember{Tenant: other, Project: w.projects[1], User: w.users[2]},  // another tenant's row
	)
	w.data = access.PolicyData{
		Tenant:         access.Tenant{ID: tenant, Name: "Acme", CreatedAt: stamp, Version: 9},
		Version:        42,
		Roles:          roles,
		Projects:       projects,
		Members:        members,
		ProjectMembers: pms,
		Allowlist:      []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")},
	}
	w.users = append(w.users, ghost, uuid.New())
	w.projects = append(w.projects, uuid.Nil, uuid.New())
	w.roles = append(w.roles, uuid.New())
	return w
}

// shuffled returns d with every list (but the allowlist, whose order is stored) in a
// random order of r.
func shuffled(r *rand.Rand, d access.PolicyData) access.PolicyData {
	d.Roles, d.Projects = slices.Clone(d.Roles), slices.Clone(d.Projects)
	d.Members, d.ProjectMembers = slices.Clone(d.Members), slices.Clone(d.ProjectMembers)
	r.Shuffle(len(d.Roles), func(i, j int) { d.Roles[i], d.Roles[j] = d.Roles[j], d.Roles[i] })
	r.Shuffle(len(d.Projects), func(i, j int) { d.Projects[i], d.Projects[j] = d.Projects[j], d.Projects[i] })
	r.Shuffle(len(d.Members), func(i, j int) { d.Members[i], d.Members[j] = d.Members[j], d.Members[i] })
	r.Shuffle(len(d.ProjectMembers), func(i, j int) {
		d.ProjectMembers[i], d.ProjectMembers[j] = d.ProjectMembers[j], d.ProjectMembers[i]
	})
	return d
}

// sameAnswers fails unless got answers every query of the world as want does.
func sameAnswers(t *testing.T, w orderWorld, want, got *access.Policy, when string) {
	t.Helper()
	byID := func(rs []access.Role) []access.Role {
		slices.SortFunc(rs, func(a, b access.Role) int { return slices.Compare(a.ID[:], b.ID[:]) })
		return rs
	}
	require.Equal(t, byID(want.Roles()), byID(got.Roles()), "%s: Roles", when)
	for _, k := range []access.RoleKind{access.KindAdmin, access.KindSupervisor, access.KindAgent} {
		wr, wok := want.RoleByKind(k)
		gr, gok := got.RoleByKind(k)
		require.Equal(t, wok, gok, "%s: RoleByKind(%s)", when, k)
		require.Equal(t, wr, gr, "%s: RoleByKind(%s)", when, k)
	}
	ips := []netip.Addr{netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.1")}
	for _, role := range w.roles {
		for _, ip := range ips {
			require.Equal(t, want.RoleAllowsIP(role, ip), got.RoleAllowsIP(role, ip), "%s: RoleAllowsIP(%s, %s)", when, role, ip)
		}
	}
	for _, p := range w.projects {
		require.Equal(t, want.HasProject(p), got.HasProject(p), "%s: HasProject(%s)", when, p)
	}
	for _, u := range w.users {
		s := access.Subject{Tenant: w.data.Tenant.ID, User: u}
		wr, wok := want.Role(u)
		gr, gok := got.Role(u)
		require.Equal(t, wok, gok, "%s: Role(%s)", when, u)
		require.Equal(t, wr, gr, "%s: Role(%s)", when, u)
		require.Equal(t, want.MemberRoles(u), got.MemberRoles(u), "%s: MemberRoles(%s)", when, u)
		require.Equal(t, want.Projects(u), got.Projects(u), "%s: Projects(%s)", when, u)
		require.Equal(t, want.Privilege(u), got.Privilege(u), "%s: Privilege(%s)", when, u)
		for _, ip := range ips {
			require.Equal(t, want.AllowsIP(s, ip), got.AllowsIP(s, ip), "%s: AllowsIP(%s, %s)", when, u, ip)
		}
		for _, role := range w.roles {
			require.Equal(t, want.CanAssignRole(s, role), got.CanAssignRole(s, role), "%s: CanAssignRole(%s, %s)", when, u, role)
		}
		for _, target := range w.users {
			require.Equal(t, want.CanManage(s, target), got.CanManage(s, target), "%s: CanManage(%s, %s)", when, u, target)
		}
		for _, ri := range access.Rights() {
			require.Equal(t, want.Scope(s, ri.Right), got.Scope(s, ri.Right), "%s: Scope(%s, %s)", when, u, ri.Right)
			for _, p := range w.projects {
				if want.Check(s, ri.Right, p) != got.Check(s, ri.Right, p) {
					require.Failf(t, "Check differs", "%s: Check(%s, %s, %s)", when, u, ri.Right, p)
				}
				if want.CheckIn(s, ri.Right, p) != got.CheckIn(s, ri.Right, p) {
					require.Failf(t, "CheckIn differs", "%s: CheckIn(%s, %s, %s)", when, u, ri.Right, p)
				}
			}
		}
	}
}

// Compile does not depend on the order of its input lists (the stores return them in
// no particular order, see access.PolicyData): the same data shuffled gives a policy
// that answers every query the same, Privilege fingerprints and role lists included.
func TestCompileIgnoresInputOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 2026))
	w := newOrderWorld(r)
	want := access.Compile(w.data)
	for i := range 8 {
		got := access.Compile(shuffled(r, w.data))
		sameAnswers(t, w, want, got, fmt.Sprintf("permutation %d", i))
	}

	// The fixture exercises what it claims to: someone is granted, someone denied.
	granted, denied := 0, 0
	for _, u := range w.users {
		if want.Check(access.Subject{Tenant: w.data.Tenant.ID, User: u}, access.EditProfile, uuid.Nil) {
			granted++
		} else {
			denied++
		}
	}
	require.Positive(t, granted)
	require.Positive(t, denied)

	// The policy's roles are the rows given, whole (their Version is what callers pass
	// to Service.UpdateRole).
	for _, role := range want.Roles() {
		i := slices.IndexFunc(w.data.Roles, func(r access.Role) bool { return r.ID == role.ID })
		require.GreaterOrEqual(t, i, 0, "role %s", role.Name)
		require.Equal(t, w.data.Roles[i], role)
	}
}
