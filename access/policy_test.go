package access_test

import (
	"net/netip"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixture is a small tenant: an admin, a supervisor in project A, an agent in A and B
// with a supervisor override in B, and a custom "auditor" who sees all projects.
type fixture struct {
	tenant                                uuid.UUID
	projA, projB, projC                   uuid.UUID
	admin, supervisor, agent, auditor     uuid.UUID
	roleAdmin, roleSup, roleAgent, roleAu uuid.UUID
	data                                  access.PolicyData
	policy                                *access.Policy
}

func names(rs ...access.Right) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{tenant: uuid.New(), projA: uuid.New(), projB: uuid.New(), projC: uuid.New(),
		admin: uuid.New(), supervisor: uuid.New(), agent: uuid.New(), auditor: uuid.New(),
		roleAdmin: uuid.New(), roleSup: uuid.New(), roleAgent: uuid.New(), roleAu: uuid.New()}
	def := access.DefaultRoles()
	f.data = access.PolicyData{
		Tenant:  access.Tenant{ID: f.tenant, Name: "Acme"},
		Version: 7,
		Roles: []access.Role{
			{ID: f.roleAdmin, Tenant: f.tenant, Name: "Admin", Kind: access.KindAdmin},
			{ID: f.roleSup, Tenant: f.tenant, Name: "Supervisor", Kind: access.KindSupervisor, Rights: names(def[access.KindSupervisor]...)},
			{ID: f.roleAgent, Tenant: f.tenant, Name: "Agent", Kind: access.KindAgent, Rights: names(def[access.KindAgent]...)},
			{ID: f.roleAu, Tenant: f.tenant, Name: "Auditor", Kind: access.KindCustom,
				Rights: append(names(access.SeeAllProjects, access.ViewReports), "host.unknown_right")},
		},
		Projects: []access.Project{{ID: f.projA, Tenant: f.tenant}, {ID: f.projB, Tenant: f.tenant}, {ID: f.projC, Tenant: f.tenant}},
		Members: []access.Member{
			{Tenant: f.tenant, User: f.admin, Role: f.roleAdmin},
			{Tenant: f.tenant, User: f.supervisor, Role: f.roleSup},
			{Tenant: f.tenant, User: f.agent, Role: f.roleAgent},
			{Tenant: f.tenant, User: f.auditor, Role: f.roleAu},
		},
		ProjectMembers: []access.ProjectMember{
			{Tenant: f.tenant, Project: f.projA, User: f.supervisor},
			{Tenant: f.tenant, Project: f.projA, User: f.agent},
			{Tenant: f.tenant, Project: f.projB, User: f.agent, Role: f.roleSup},
		},
		Allowlist: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")},
	}
	f.policy = access.Compile(f.data)
	return f
}

func (f *fixture) subject(user uuid.UUID) access.Subject {
	return access.Subject{Tenant: f.tenant, User: user}
}

// hostRight is registered once per test binary, as a host registers its rights at start-up.
var hostRight = access.MustRegisterRight(access.RightInfo{Name: "test.policy_host_right", Doc: "a host right", ProjectScoped: true})

func TestCheck(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		user    uuid.UUID
		right   access.Right
		project uuid.UUID
		want    bool
	}{
		{"admin holds tenant-wide rights", f.admin, access.ManageRoles, uuid.Nil, true},
		{"admin holds host rights registered after compile", f.admin, hostRight, uuid.Nil, true},
		{"admin sees projects without membership (see-all)", f.admin, access.ListenRecordings, f.projC, true},
		{"admin is denied an unknown project", f.admin, access.ListenRecordings, uuid.New(), false},
		{"admin is denied the zero right", f.admin, access.Right(0), uuid.Nil, false},
		{"admin is denied an out-of-catalog right", f.admin, access.Right(access.MaxRights - 1), uuid.Nil, false},
		{"supervisor listens in own project", f.supervisor, access.ListenRecordings, f.projA, true},
		{"supervisor cannot in a project they are not in", f.supervisor, access.ListenRecordings, f.projB, false},
		{"supervisor lacks role management", f.supervisor, access.ManageRoles, uuid.Nil, false},
		{"agent lacks recordings in A", f.agent, access.ListenRecordings, f.projA, false},
		{"agent override makes them supervisor in B", f.agent, access.ListenRecordings, f.projB, true},
		{"agent override does not leak to tenant-wide", f.agent, access.ListenRecordings, uuid.Nil, false},
		{"agent may edit profile", f.agent, access.EditProfile, uuid.Nil, true},
		{"agent cannot see masked fields in A", f.agent, access.SeeMaskedFields, f.projA, false},
		{"auditor sees reports in every project", f.auditor, access.ViewReports, f.projC, true},
		{"auditor holds no unregistered right", f.auditor, access.ExportReports, f.projC, false},
		{"unknown user is denied", uuid.New(), access.EditProfile, uuid.Nil, false},
		{"nil user is denied", uuid.Nil, access.EditProfile, uuid.Nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, f.policy.Check(f.subject(tt.user), tt.right, tt.project))
		})
	}
	t.Run("another tenant's subject is denied everything", func(t *testing.T) {
		s := access.Subject{Tenant: uuid.New(), User: f.admin}
		assert.False(t, f.policy.Check(s, access.ManageRoles, uuid.Nil))
		assert.False(t, f.policy.AllowsIP(s, netip.MustParseAddr("203.0.113.5")))
		assert.True(t, f.policy.Scope(s, access.ViewReports).Empty())
	})
	t.Run("nil policy denies", func(t *testing.T) {
		var p *access.Policy
		assert.False(t, p.Check(f.subject(f.admin), access.ManageRoles, uuid.Nil))
		assert.False(t, p.AllowsIP(f.subject(f.admin), netip.MustParseAddr("203.0.113.5")))
	})
}

func TestCompileIgnoresDanglingAndForeignRows(t *testing.T) {
	f := newFixture(t)
	other := uuid.New()
	stranger := uuid.New()
	d := f.data
	d.Members = append(d.Members,
		access.Member{Tenant: other, User: stranger, Role: f.roleAdmin},     // another tenant's row
		access.Member{Tenant: f.tenant, User: uuid.New(), Role: uuid.New()}) // unknown role
	d.ProjectMembers = append(d.ProjectMembers,
		access.ProjectMember{Tenant: f.tenant, Project: uuid.New(), User: f.agent},                // unknown project
		access.ProjectMember{Tenant: f.tenant, Project: f.projC, User: f.agent, Role: uuid.New()}) // unknown override
	p := access.Compile(d)
	assert.False(t, p.Check(access.Subject{Tenant: f.tenant, User: stranger}, access.EditProfile, uuid.Nil))
	assert.False(t, p.Check(f.subject(f.agent), access.ViewAllCalls, f.projC), "an override to an unknown role grants nothing")
	assert.NotContains(t, p.Scope(f.subject(f.agent), access.ViewAllCalls).OwnProjects, f.projC,
		"nor membership: no own-records fallback there")
	assert.ElementsMatch(t, []uuid.UUID{f.projA, f.projB}, p.Projects(f.agent))
	assert.Equal(t, int64(7), p.Version())
}

func TestCheckManyProjectsUsesSearch(t *testing.T) {
	f := newFixture(t)
	d := f.data
	var projects []uuid.UUID
	for i := 0; i < 40; i++ {
		id := uuid.New()
		projects = append(projects, id)
		d.Projects = append(d.Projects, access.Project{ID: id, Tenant: f.tenant})
		if i%2 == 0 {
			d.ProjectMembers = append(d.ProjectMembers, access.ProjectMember{Tenant: f.tenant, Project: id, User: f.supervisor})
		}
	}
	p := access.Compile(d)
	for i, id := range projects {
		assert.Equal(t, i%2 == 0, p.Check(f.subject(f.supervisor), access.ViewReports, id), "project %d", i)
	}
}

func TestScope(t *testing.T) {
	f := newFixture(t)
	p := f.policy
	t.Run("agent: own calls in A, all calls in B via override", func(t *testing.T) {
		sc := p.Scope(f.subject(f.agent), access.ViewAllCalls)
		assert.Equal(t, []uuid.UUID{f.projB}, sc.Projects)
		assert.Equal(t, []uuid.UUID{f.projA}, sc.OwnProjects)
		assert.True(t, sc.Allows(f.tenant, f.projA, f.agent))
		assert.False(t, sc.Allows(f.tenant, f.projA, f.supervisor), "another user's call in an own-only project")
		assert.True(t, sc.Allows(f.tenant, f.projB, f.supervisor))
		assert.False(t, sc.Allows(f.tenant, f.projC, f.agent), "not a member of C")
		assert.False(t, sc.Allows(uuid.New(), f.projB, f.agent), "another tenant")
	})
	t.Run("rights without own fallback give no own-only projects", func(t *testing.T) {
		sc := p.Scope(f.subject(f.agent), access.ViewReports)
		assert.Equal(t, []uuid.UUID{f.projB}, sc.Projects)
		assert.Empty(t, sc.OwnProjects)
	})
	t.Run("see-all-projects gets every project", func(t *testing.T) {
		sc := p.Scope(f.subject(f.admin), access.ViewAllCalls)
		assert.ElementsMatch(t, []uuid.UUID{f.projA, f.projB, f.projC}, sc.Projects)
		assert.Empty(t, sc.OwnProjects)
	})
	t.Run("unknown subject or right is empty", func(t *testing.T) {
		assert.True(t, p.Scope(f.subject(uuid.New()), access.ViewAllCalls).Empty())
		assert.True(t, p.Scope(f.subject(f.admin), access.Right(0)).Empty())
		assert.False(t, access.Scope{}.Allows(uuid.Nil, uuid.Nil, uuid.Nil), "the zero scope allows nothing")
	})
}

func TestAllowsIP(t *testing.T) {
	f := newFixture(t)
	p := f.policy
	in4, in6, out := netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("198.51.100.1")
	assert.True(t, p.AllowsIP(f.subject(f.agent), in4))
	assert.True(t, p.AllowsIP(f.subject(f.agent), in6))
	assert.True(t, p.AllowsIP(f.subject(f.agent), netip.MustParseAddr("::ffff:203.0.113.9")), "IPv4-mapped form matches")
	assert.False(t, p.AllowsIP(f.subject(f.agent), out))
	assert.False(t, p.AllowsIP(f.subject(f.agent), netip.Addr{}), "an unknown address is denied by a non-empty list")
	assert.True(t, p.AllowsIP(f.subject(f.admin), out), "Admin holds IgnoreAllowedIPs")
	assert.False(t, p.AllowsIP(f.subject(uuid.New()), in4), "unknown user")

	d := f.data
	d.Allowlist = nil
	assert.True(t, access.Compile(d).AllowsIP(f.subject(f.agent), out), "empty list: no restriction")
}

func TestParsePrefixes(t *testing.T) {
	got, err := access.ParsePrefixes([]string{" 203.0.113.7 ", "10.1.2.3/8", "2001:db8::1", "2001:db8::/32", "::ffff:192.0.2.1", "0.0.0.0/0", "::/0"})
	require.NoError(t, err)
	want := []string{"203.0.113.7/32", "10.0.0.0/8", "2001:db8::1/128", "2001:db8::/32", "192.0.2.1/32", "0.0.0.0/0", "::/0"}
	for i := range want {
		assert.Equal(t, want[i], got[i].String())
	}
	for _, bad := range []string{"", "300.1.1.1", "10.0.0.0/33", "fe80::1%eth0", "example.com", "10.0.0.0/-1", "1.2.3.4/", "2001:db8::/129"} {
		_, err := access.ParsePrefixes([]string{"10.0.0.0/8", bad})
		var pe *access.InvalidPrefixError
		require.ErrorAs(t, err, &pe, "%q", bad)
		assert.Equal(t, 1, pe.Index)
		assert.ErrorIs(t, err, access.ErrInvalidPrefix)
	}
}

func TestRightCatalog(t *testing.T) {
	for _, ri := range access.Rights() {
		r, err := access.ParseRight(ri.Name)
		require.NoError(t, err)
		assert.Equal(t, ri.Right, r)
		assert.NotEmpty(t, ri.Doc, ri.Name)
	}
	_, err := access.ParseRight("no.such_right")
	assert.ErrorIs(t, err, access.ErrUnknownRight)
	_, err = access.RegisterRight(access.RightInfo{Name: access.ManageRoles.String()})
	assert.ErrorIs(t, err, access.ErrRightExists)
	for _, bad := range []string{"", "Upper", "1abc", "has space", "semi;colon"} {
		_, err = access.RegisterRight(access.RightInfo{Name: bad})
		assert.ErrorIs(t, err, access.ErrInvalidRightName, bad)
	}
	assert.Equal(t, "right(0)", access.Right(0).String())
	assert.False(t, access.Right(0).Valid())
}

func TestCheckDoesNotAllocate(t *testing.T) {
	f := newFixture(t)
	s := f.subject(f.agent)
	allocs := testing.AllocsPerRun(100, func() {
		f.policy.Check(s, access.ListenRecordings, f.projB)
		f.policy.AllowsIP(s, netip.MustParseAddr("203.0.113.9"))
	})
	assert.Zero(t, allocs)
}

func TestCanAssignRole(t *testing.T) {
	f := newFixture(t)
	p := f.policy
	assert.True(t, p.CanAssignRole(f.subject(f.admin), f.roleAgent))
	assert.True(t, p.CanAssignRole(f.subject(f.admin), f.roleAdmin))
	assert.False(t, p.CanAssignRole(f.subject(f.supervisor), f.roleAgent), "no UserManagement")
	assert.False(t, p.CanAssignRole(f.subject(f.admin), uuid.New()), "unknown role")
	assert.True(t, p.CanAssignRole(access.System(f.tenant), f.roleAdmin))
	assert.False(t, p.CanAssignRole(access.System(uuid.New()), f.roleAdmin), "system subject of another tenant")
	assert.True(t, p.HasProject(f.projA))
	assert.False(t, p.HasProject(uuid.New()))
}

func TestAllowlistMappedPrefixes(t *testing.T) {
	a := access.NewAllowlist([]netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")})
	assert.True(t, a.Allows(netip.MustParseAddr("10.1.2.3")), "an IPv4-mapped prefix matches IPv4 clients")
	assert.True(t, a.Allows(netip.MustParseAddr("::ffff:10.1.2.3")))
	assert.False(t, a.Allows(netip.MustParseAddr("11.0.0.1")))
}

func TestCompileDuplicateMembershipsAreDeterministic(t *testing.T) {
	f := newFixture(t)
	d := f.data
	// The same membership twice, first without override, then as Supervisor.
	d.ProjectMembers = append(d.ProjectMembers, access.ProjectMember{Tenant: f.tenant, Project: f.projA, User: f.agent, Role: f.roleSup})
	for i := 0; i < 20; i++ {
		assert.False(t, access.Compile(d).Check(f.subject(f.agent), access.ListenRecordings, f.projA), "the first row counts")
	}
}
