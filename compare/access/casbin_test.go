package access_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/internal/accessbench"
)

// This file holds Casbin, the reference used to check access.Policy: a differential test
// on random policies, and the helpers the benchmarks share with it. It lives in the
// compare module so that Casbin is no dependency of callshield.
//
// Three Casbin setups express callshield's model; all three must decide exactly like
// access.Policy.Check (TestCasbinDifferential holds each to it):
//
//   - domains: RBAC with domains as the Casbin documentation introduces it. A project
//     is a domain, a policy line "p, role, project, right" grants a role a right in one
//     project, so each role's rights are copied into every project (and the tenant-wide
//     domain), and a grouping line "g, user, role, project" gives a user a role inside
//     one project. Casbin's matcher runs over every policy line, so it pays for the
//     projects.
//   - expert: what a Casbin expert writes for rights that do not depend on the domain:
//     "p = sub, act" with g(r.sub, p.sub, r.dom). One policy line per role and right.
//   - keymatch: the domain kept in the policy as "*", matched with keyMatch.
//
// The reserved domain casbinTenantDomain stands for the zero project (tenant-wide
// rights, checked against the tenant role).
type casbinSetup struct {
	name  string
	model string
	// perDomain: policy lines name each domain (domains); else one line per role and
	// right (expert, without a domain; keymatch, with "*").
	perDomain bool
	wildcard  bool
}

var (
	setupDomains = casbinSetup{name: "domains", perDomain: true, model: `
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, dom, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.act == p.act
`}
	setupExpert = casbinSetup{name: "expert", model: `
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.act == p.act
`}
	setupKeyMatch = casbinSetup{name: "keymatch", wildcard: true, model: `
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, dom, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && keyMatch(r.dom, p.dom) && r.act == p.act
`}
	casbinSetups = []casbinSetup{setupDomains, setupExpert, setupKeyMatch}
)

// casbinTenantDomain is the Casbin domain of tenant-wide checks (the zero project). It
// cannot collide with a project: those are named by their UUID. It holds no "*": with
// keyMatch(r.dom, p.dom) in the matcher Casbin also matches the grouping lines'
// domains with keyMatch, and a "*" there would grant the tenant role in every project
// (the differential test caught "*tenant*" doing so).
const casbinTenantDomain = "tenant"

// Casbin puts users and roles in one namespace and treats HasLink(x, x) as true, so the
// names are prefixed: a user ID can then never be mistaken for a role ID. Users carry
// their tenant, which expresses tenant isolation (another tenant's subject is another
// Casbin user, with no links).
func casbinUser(tenant, user uuid.UUID) string { return "u:" + tenant.String() + "/" + user.String() }
func casbinRole(role uuid.UUID) string         { return "r:" + role.String() }

func casbinDomain(project uuid.UUID) string {
	if project == uuid.Nil {
		return casbinTenantDomain
	}
	return project.String()
}

// newCasbinEnforcer builds an enforcer of the setup's model holding the given policy
// ("p") and grouping ("g") lines, loaded in bulk.
func newCasbinEnforcer(tb testing.TB, setup casbinSetup, cached bool, pLines, gLines [][]string) casbin.IEnforcer {
	tb.Helper()
	m, err := model.NewModelFromString(setup.model)
	require.NoError(tb, err)
	var e casbin.IEnforcer
	if cached {
		e, err = casbin.NewCachedEnforcer(m)
	} else {
		e, err = casbin.NewEnforcer(m)
	}
	require.NoError(tb, err)
	if len(pLines) > 0 {
		_, err = e.AddPoliciesEx(pLines)
		require.NoError(tb, err)
	}
	if len(gLines) > 0 {
		_, err = e.AddNamedGroupingPoliciesEx("g", gLines)
		require.NoError(tb, err)
	}
	return e
}

// casbinLines translates d into Casbin lines by the documented semantics of
// access.Compile and access.Policy.Check, written out independently of their code:
//
//   - only d.Tenant's roles, projects and memberships count;
//   - a role grants the catalog rights it names (unknown names grant nothing), in every
//     project of the tenant and tenant-wide;
//   - a member whose tenant role is not a role of the tenant is no member;
//   - tenant-wide, a member holds their tenant role;
//   - in a project, a member of that project holds the membership's override role if it
//     has one, else their tenant role; an override naming an unknown role grants nothing
//     in that project (it does not fall back to the tenant role);
//   - a membership of a user who is not a member, or of a project of another tenant or
//     no project at all, grants nothing;
//   - a right that is not project-scoped is asked of the tenant domain whatever
//     project the query names (see runDifferential): overrides never grant it.
func casbinLines(setup casbinSetup, d access.PolicyData) (pLines, gLines [][]string) {
	t := d.Tenant.ID
	roles := map[uuid.UUID][]access.Right{}
	for _, r := range d.Roles {
		if r.Tenant != t {
			continue
		}
		var rights []access.Right
		for _, name := range r.Rights {
			if right, err := access.ParseRight(name); err == nil {
				rights = append(rights, right)
			}
		}
		roles[r.ID] = rights
	}
	projects := map[uuid.UUID]bool{}
	domains := []string{casbinTenantDomain}
	for _, p := range d.Projects {
		if p.Tenant == t {
			projects[p.ID] = true
			domains = append(domains, casbinDomain(p.ID))
		}
	}
	for id, rights := range roles {
		for _, right := range rights {
			switch {
			case setup.perDomain:
				for _, dom := range domains {
					pLines = append(pLines, []string{casbinRole(id), dom, right.String()})
				}
			case setup.wildcard:
				pLines = append(pLines, []string{casbinRole(id), "*", right.String()})
			default:
				pLines = append(pLines, []string{casbinRole(id), right.String()})
			}
		}
	}
	tenantRole := map[uuid.UUID]uuid.UUID{}
	for _, m := range d.Members {
		if _, ok := roles[m.Role]; m.Tenant == t && ok {
			tenantRole[m.User] = m.Role
			gLines = append(gLines, []string{casbinUser(t, m.User), casbinRole(m.Role), casbinTenantDomain})
		}
	}
	for _, pm := range d.ProjectMembers {
		role, member := tenantRole[pm.User]
		if pm.Tenant != t || !member || !projects[pm.Project] {
			continue
		}
		if pm.Role != uuid.Nil {
			if _, ok := roles[pm.Role]; !ok {
				continue
			}
			role = pm.Role
		}
		gLines = append(gLines, []string{casbinUser(t, pm.User), casbinRole(role), casbinDomain(pm.Project)})
	}
	return pLines, gLines
}

// diffWorld is one random tenant policy, with the IDs queries are drawn from.
type diffWorld struct {
	data                      access.PolicyData
	other                     uuid.UUID   // another tenant
	users                     []uuid.UUID // members and non-members alike
	projects, foreignProjects []uuid.UUID
}

// newDiffWorld draws a random policy: a few projects and custom roles with random rights,
// members with random tenant roles, project memberships with and without overrides, and
// the dirt Compile must ignore: rows of another tenant, memberships of unknown roles,
// projects and users, right names not in the catalog. Every slice is shuffled, since the
// order of a store's rows must not matter.
func newDiffWorld(r *rand.Rand) *diffWorld {
	w := &diffWorld{other: accessbench.RandUUID(r)}
	t := accessbench.RandUUID(r)
	d := &w.data
	d.Tenant = access.Tenant{ID: t, Name: "t"}
	d.Version = r.Int64N(100) + 1

	kinds := []access.RoleKind{access.KindCustom, access.KindCustom, access.KindSupervisor, access.KindAgent}
	var roles, foreignRoles []uuid.UUID
	for i := range 1 + r.IntN(6) {
		role := access.Role{ID: accessbench.RandUUID(r), Tenant: t, Name: fmt.Sprintf("role%d", i), Kind: kinds[r.IntN(len(kinds))]}
		density := r.Float64()
		for _, right := range accessbench.Rights {
			if r.Float64() < density {
				role.Rights = append(role.Rights, right.String())
			}
		}
		if r.IntN(4) == 0 {
			role.Rights = append(role.Rights, "host.not_registered")
		}
		slices.Sort(role.Rights)
		roles = append(roles, role.ID)
		d.Roles = append(d.Roles, role)
	}
	for range r.IntN(2) {
		// Another tenant's role granting everything: it must grant nothing here.
		role := access.Role{ID: accessbench.RandUUID(r), Tenant: w.other, Name: "foreign", Kind: access.KindCustom}
		for _, right := range accessbench.Rights {
			role.Rights = append(role.Rights, right.String())
		}
		foreignRoles = append(foreignRoles, role.ID)
		d.Roles = append(d.Roles, role)
	}
	pickRole := func() uuid.UUID {
		switch n := r.IntN(20); {
		case n == 0:
			return accessbench.RandUUID(r) // unknown
		case n == 1 && len(foreignRoles) > 0:
			return foreignRoles[r.IntN(len(foreignRoles))]
		default:
			return roles[r.IntN(len(roles))]
		}
	}

	for range r.IntN(9) {
		p := access.Project{ID: accessbench.RandUUID(r), Tenant: t}
		w.projects = append(w.projects, p.ID)
		d.Projects = append(d.Projects, p)
	}
	for range r.IntN(3) {
		p := access.Project{ID: accessbench.RandUUID(r), Tenant: w.other}
		w.foreignProjects = append(w.foreignProjects, p.ID)
		d.Projects = append(d.Projects, p)
	}

	for range r.IntN(21) {
		u := accessbench.RandUUID(r)
		w.users = append(w.users, u)
		switch n := r.IntN(20); {
		case n == 0:
			// not a member, but with stale project memberships below
		case n == 1:
			d.Members = append(d.Members, access.Member{Tenant: w.other, User: u, Role: pickRole()})
		default:
			d.Members = append(d.Members, access.Member{Tenant: t, User: u, Role: pickRole()})
		}
		p := r.Float64()
		for _, project := range w.projects {
			if r.Float64() >= p {
				continue
			}
			pm := access.ProjectMember{Tenant: t, Project: project, User: u}
			if r.IntN(2) == 0 {
				pm.Role = pickRole()
			}
			if r.IntN(30) == 0 {
				pm.Tenant = w.other
			}
			d.ProjectMembers = append(d.ProjectMembers, pm)
		}
		if r.IntN(5) == 0 {
			// memberships of a project of another tenant, and of no project at all
			fp := accessbench.RandUUID(r)
			if len(w.foreignProjects) > 0 {
				fp = w.foreignProjects[r.IntN(len(w.foreignProjects))]
			}
			d.ProjectMembers = append(d.ProjectMembers,
				access.ProjectMember{Tenant: t, Project: fp, User: u, Role: roles[0]},
				access.ProjectMember{Tenant: t, Project: accessbench.RandUUID(r), User: u})
		}
	}
	shuffle(r, d.Roles)
	shuffle(r, d.Projects)
	shuffle(r, d.Members)
	shuffle(r, d.ProjectMembers)
	return w
}

func shuffle[T any](r *rand.Rand, s []T) {
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
}

// diffQuery is one decision asked of both engines.
type diffQuery struct {
	sub     access.Subject
	right   access.Right
	project uuid.UUID
}

func (q diffQuery) String() string {
	return fmt.Sprintf("Check(user %s of tenant %s, %s, project %s)", q.sub.User, q.sub.Tenant, q.right, q.project)
}

// query draws a random question: mostly about the tenant's users and projects, some
// about unknown users, another tenant's subjects, unknown or foreign projects, the zero
// Right and a right outside the catalog. With tenantWide, the project is always zero.
func (w *diffWorld) query(r *rand.Rand, tenantWide bool) diffQuery {
	q := diffQuery{sub: access.Subject{Tenant: w.data.Tenant.ID}}
	switch n := r.IntN(20); {
	case n == 0 || len(w.users) == 0:
		q.sub.User = accessbench.RandUUID(r)
	case n == 1:
		q.sub.Tenant = w.other
		q.sub.User = w.users[r.IntN(len(w.users))]
	default:
		q.sub.User = w.users[r.IntN(len(w.users))]
	}
	switch n := r.IntN(30); {
	case n == 0:
		q.right = 0 // the zero Right
	case n == 1:
		q.right = access.Right(access.MaxRights - 1) // not in the catalog
	case n == 2:
		q.right = access.SeeAllProjects // held by no role here: denied everywhere
	default:
		q.right = accessbench.Rights[r.IntN(len(accessbench.Rights))]
	}
	if tenantWide {
		return q
	}
	switch n := r.IntN(20); {
	case n == 0 || len(w.projects) == 0:
		q.project = accessbench.RandUUID(r)
	case n == 1 && len(w.foreignProjects) > 0:
		q.project = w.foreignProjects[r.IntN(len(w.foreignProjects))]
	default:
		q.project = w.projects[r.IntN(len(w.projects))]
	}
	return q
}

var diffSeed = flag.Uint64("access.diffseed", 0, "seed of TestCasbinDifferential* (0: random)")

// diffRand returns the generator of a differential test, logging its seed so that a
// failure can be replayed with -access.diffseed.
func diffRand(t *testing.T) *rand.Rand {
	seed := *diffSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -access.diffseed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// describe renders a world's Casbin lines for a failure message.
func describe(pLines, gLines [][]string) string {
	var b strings.Builder
	for _, l := range pLines {
		fmt.Fprintf(&b, "p, %s\n", strings.Join(l, ", "))
	}
	for _, l := range gLines {
		fmt.Fprintf(&b, "g, %s\n", strings.Join(l, ", "))
	}
	return b.String()
}

// runDifferential compares access.Policy.Check with Casbin's Enforce on random worlds.
func runDifferential(t *testing.T, tenantWide bool) {
	r := diffRand(t)
	// Casbin decides in microseconds to tens of microseconds here (it evaluates its
	// matcher per policy line), so this is sized to take a few seconds.
	iterations, queries := 200, 50
	if testing.Short() {
		iterations = 40
	}
	var allowed, total int
	for it := range iterations {
		w := newDiffWorld(r)
		pol := access.Compile(w.data)
		enforcers := make([]casbin.IEnforcer, len(casbinSetups))
		for i, setup := range casbinSetups {
			pLines, gLines := casbinLines(setup, w.data)
			enforcers[i] = newCasbinEnforcer(t, setup, false, pLines, gLines)
		}
		for range queries {
			q := w.query(r, tenantWide)
			// A right that is not project-scoped is tenant-wide: decided on the tenant
			// role whatever project is named (RightInfo.ProjectScoped).
			dom := casbinDomain(q.project)
			if info, _ := q.right.Info(); !info.ProjectScoped {
				dom = casbinTenantDomain
			}
			got := pol.Check(q.sub, q.right, q.project)
			for i, e := range enforcers {
				want, err := e.Enforce(casbinUser(q.sub.Tenant, q.sub.User), dom, q.right.String())
				require.NoError(t, err)
				if got != want {
					pLines, gLines := casbinLines(casbinSetups[i], w.data)
					require.Failf(t, "decision differs from Casbin",
						"iteration %d, setup %s: %s = %v, Casbin says %v\npolicy:\n%s",
						it, casbinSetups[i].name, q, got, want, describe(pLines, gLines))
				}
			}
			total++
			if got {
				allowed++
			}
		}
	}
	t.Logf("%d decisions agreed with %d Casbin setups each, %d allowed", total, len(casbinSetups), allowed)
	// A differential test that only ever denies proves little.
	assert.Greater(t, allowed, total/20, "too few allowed decisions to be meaningful")
	assert.Less(t, allowed, total*19/20, "too few denied decisions to be meaningful")
}

// TestCasbinDifferential checks that access.Policy.Check decides exactly like each of
// the Casbin setups (domains, expert, keymatch) on 200 random policies and random questions about projects,
// including unknown users, projects and rights, another tenant's rows and subjects, and
// memberships whose override role is unknown.
func TestCasbinDifferential(t *testing.T) {
	runDifferential(t, false)
}

// TestCasbinDifferentialTenantWide does the same for the zero project, which checks a
// member's tenant role whatever their project memberships; Casbin models it as the
// reserved domain "tenant".
func TestCasbinDifferentialTenantWide(t *testing.T) {
	runDifferential(t, true)
}

// TestTenantWideIgnoresProjects is the property behind the tenant-wide check: project
// memberships and their overrides never change a tenant-wide decision, so dropping every
// project membership leaves all of them as they were.
func TestTenantWideIgnoresProjects(t *testing.T) {
	r := diffRand(t)
	for range 100 {
		w := newDiffWorld(r)
		with := access.Compile(w.data)
		bare := w.data
		bare.ProjectMembers = nil
		without := access.Compile(bare)
		for _, u := range w.users {
			s := access.Subject{Tenant: w.data.Tenant.ID, User: u}
			for _, right := range accessbench.Rights {
				require.Equal(t, without.Check(s, right, uuid.Nil), with.Check(s, right, uuid.Nil),
					"user %s, right %s", u, right)
			}
		}
	}
}
