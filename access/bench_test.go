package access_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/gaissmai/bart"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
)

// The benchmarks compare access.Policy.Check with Casbin (RBAC with domains, see
// casbinModel) on one generated tenant, and access.Allowlist with a bare bart.Lite.
//
//	go test -run='^$' -bench=. -benchmem ./access/
//
// The tenant: benchProjects projects; the roles agent, supervisor and admin with the
// right sets of benchRoles, granted in every project; members spread over the
// projects, each a member of 1 to 3 projects with a role there (a per-project override
// in callshield, a grouping line "g, user, role, project" in Casbin), and a tenant role.
// The same seed gives the same tenant to every benchmark, so sizes are regenerated
// rather than kept: a 1M-member policy kept alive would also slow the garbage collector
// of the allocation-heavy Casbin benchmarks that run after it. b.Loop runs each
// benchmark function once, so each policy is built once per run.
//
// The queries: see benchQueries. Check and Casbin are asked the same list.

const (
	benchProjects = 100
	// benchActive is the query working set: the users active at one moment (signed in and
	// clicking), drawn at random from all members. Asking a random member of 1M per
	// iteration would measure the cache misses of a 1M-entry map on every call, which is
	// not what a server sees: its active users' entries stay in cache between their
	// requests. The working set stays this size for every policy size, so that the
	// benchmarks compare the cost of the decision as the policy grows.
	benchActive = 4096
	// benchQueryCount is the length of the precomputed query list each benchmark cycles
	// through: two questions per active user on average. A constant power of two, so
	// that the loop's i%benchQueryCount is a mask, not a division charged to Check.
	benchQueryCount = 8192
	// benchAddrCount is the same for the allowlist benchmarks' query addresses.
	benchAddrCount = 4096
)

type benchRole struct {
	name   string
	rights []access.Right
}

// benchRoles are the three roles of the benchmark tenant, all of Kind custom so that
// each grants exactly the rights listed (admin: the whole built-in catalog but
// SeeAllProjects, which the domain model cannot express), and the odds that a member
// holds each (tenant-wide and per project alike).
var (
	benchRoles = [...]benchRole{
		{"agent", []access.Right{access.EditProfile, access.ListenRecordings, access.ViewReports}},
		{"supervisor", []access.Right{access.EditProfile, access.ViewReports, access.ExportReports,
			access.ListenRecordings, access.DownloadRecordings, access.ViewAllCalls, access.SeeMaskedFields,
			access.ViewSessions}},
		{"admin", diffRights},
	}
	benchRoleOdds = [...]float64{0.85, 0.12, 0.03}
)

// benchWorld is a generated tenant in compact form (a 1M-member world has 2M project
// memberships), from which both the callshield policy and the Casbin lines are built.
type benchWorld struct {
	tenant    uuid.UUID
	projects  []uuid.UUID
	roles     [len(benchRoles)]uuid.UUID
	users     []uuid.UUID
	userRole  []uint8  // index into roles: the tenant role
	pmStart   []uint32 // user i's memberships are pm*[pmStart[i]:pmStart[i+1]]
	pmProject []uint8  // index into projects
	pmRole    []uint8  // index into roles: the role in that project
}

func pickBenchRole(r *rand.Rand) uint8 {
	x := r.Float64()
	for i, p := range benchRoleOdds {
		if x < p {
			return uint8(i)
		}
		x -= p
	}
	return 0
}

// newBenchWorld generates the tenant with n members; the same n gives the same tenant.
func newBenchWorld(n int) *benchWorld {
	r := rand.New(rand.NewPCG(uint64(n), 0xca11))
	w := &benchWorld{
		tenant:    randUUID(r),
		projects:  make([]uuid.UUID, benchProjects),
		users:     make([]uuid.UUID, n),
		userRole:  make([]uint8, n),
		pmStart:   make([]uint32, n+1),
		pmProject: make([]uint8, 0, 2*n),
		pmRole:    make([]uint8, 0, 2*n),
	}
	for i := range w.projects {
		w.projects[i] = randUUID(r)
	}
	for i := range w.roles {
		w.roles[i] = randUUID(r)
	}
	for i := range n {
		w.users[i] = randUUID(r)
		w.userRole[i] = pickBenchRole(r)
		w.pmStart[i] = uint32(len(w.pmProject))
		k := 1 + r.IntN(3)
		for len(w.pmProject)-int(w.pmStart[i]) < k {
			p := uint8(r.IntN(benchProjects))
			dup := false
			for _, q := range w.pmProject[w.pmStart[i]:] {
				dup = dup || q == p
			}
			if !dup {
				w.pmProject = append(w.pmProject, p)
				w.pmRole = append(w.pmRole, pickBenchRole(r))
			}
		}
	}
	w.pmStart[n] = uint32(len(w.pmProject))
	return w
}

// policyData is the world as callshield stores it.
func (w *benchWorld) policyData() access.PolicyData {
	d := access.PolicyData{
		Tenant:         access.Tenant{ID: w.tenant, Name: "bench"},
		Version:        1,
		Projects:       make([]access.Project, len(w.projects)),
		Members:        make([]access.Member, len(w.users)),
		ProjectMembers: make([]access.ProjectMember, len(w.pmProject)),
	}
	for i, br := range benchRoles {
		role := access.Role{ID: w.roles[i], Tenant: w.tenant, Name: br.name, Kind: access.KindCustom}
		for _, right := range br.rights {
			role.Rights = append(role.Rights, right.String())
		}
		d.Roles = append(d.Roles, role)
	}
	for i, id := range w.projects {
		d.Projects[i] = access.Project{ID: id, Tenant: w.tenant}
	}
	for i, u := range w.users {
		d.Members[i] = access.Member{Tenant: w.tenant, User: u, Role: w.roles[w.userRole[i]]}
		for j := w.pmStart[i]; j < w.pmStart[i+1]; j++ {
			d.ProjectMembers[j] = access.ProjectMember{Tenant: w.tenant, User: u,
				Project: w.projects[w.pmProject[j]], Role: w.roles[w.pmRole[j]]}
		}
	}
	return d
}

// compile returns the world's compiled policy and how long Compile took.
func (w *benchWorld) compile() (*access.Policy, time.Duration) {
	d := w.policyData()
	start := time.Now()
	p := access.Compile(d)
	return p, time.Since(start)
}

// casbinLines is the world as Casbin's lines: each role's rights in every project, and
// each project membership as the member's role in that project's domain.
func (w *benchWorld) casbinLines() (pLines, gLines [][]string) {
	for _, project := range w.projects {
		for i, br := range benchRoles {
			for _, right := range br.rights {
				pLines = append(pLines, []string{casbinRole(w.roles[i]), project.String(), right.String()})
			}
		}
	}
	gLines = make([][]string, 0, len(w.pmProject))
	for i, u := range w.users {
		name := casbinUser(w.tenant, u)
		for j := w.pmStart[i]; j < w.pmStart[i+1]; j++ {
			gLines = append(gLines, []string{name, casbinRole(w.roles[w.pmRole[j]]), w.projects[w.pmProject[j]].String()})
		}
	}
	return pLines, gLines
}

// benchQuery is one question: may user use right in project?
type benchQuery struct {
	user, project uuid.UUID
	right         access.Right
}

// queries is the one query generator of the Check and Casbin benchmarks: benchQueryCount
// questions of benchActive users drawn at random from all members (every member when
// there are fewer). The mix is a server's: 2% come from unknown users (a removed
// account's session), and of the rest 85% are about one of the user's projects, with a
// right their role there holds three times in four (what the UI offers) and any right
// otherwise; 13% are about a random project, mostly one they are not a member of; 2%
// about an unknown project. About two thirds are allowed.
func (w *benchWorld) queries() []benchQuery {
	r := rand.New(rand.NewPCG(uint64(len(w.users)), 0x9e57))
	active := make([]int, 0, min(benchActive, len(w.users)))
	if len(w.users) <= benchActive {
		for i := range w.users {
			active = append(active, i)
		}
	} else {
		seen := make(map[int]bool, benchActive)
		for len(active) < benchActive {
			if i := r.IntN(len(w.users)); !seen[i] {
				seen[i] = true
				active = append(active, i)
			}
		}
	}
	anyRight := func() access.Right { return diffRights[r.IntN(len(diffRights))] }
	qs := make([]benchQuery, benchQueryCount)
	for k := range qs {
		q := &qs[k]
		if r.IntN(50) == 0 {
			q.user, q.project, q.right = randUUID(r), w.projects[r.IntN(benchProjects)], anyRight()
			continue
		}
		i := active[r.IntN(len(active))]
		q.user = w.users[i]
		switch x := r.IntN(100); {
		case x < 85:
			j := w.pmStart[i] + uint32(r.IntN(int(w.pmStart[i+1]-w.pmStart[i])))
			q.project = w.projects[w.pmProject[j]]
			if rights := benchRoles[w.pmRole[j]].rights; r.IntN(4) != 0 {
				q.right = rights[r.IntN(len(rights))]
			} else {
				q.right = anyRight()
			}
		case x < 98:
			q.project, q.right = w.projects[r.IntN(benchProjects)], anyRight()
		default:
			q.project, q.right = randUUID(r), anyRight()
		}
	}
	return qs
}

// casbinQuery is a benchQuery as Casbin's request strings, prepared before the loop so
// that Casbin is not charged for formatting UUIDs.
type casbinQuery struct{ sub, dom, act string }

func (w *benchWorld) casbinQueries(qs []benchQuery) []casbinQuery {
	out := make([]casbinQuery, len(qs))
	for i, q := range qs {
		out[i] = casbinQuery{casbinUser(w.tenant, q.user), casbinDomain(q.project), q.right.String()}
	}
	return out
}

var benchSizes = []struct {
	name    string
	members int
}{{"1k", 1_000}, {"100k", 100_000}, {"1M", 1_000_000}}

// BenchmarkCheck measures access.Policy.Check, the decision every request makes.
func BenchmarkCheck(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			if size.members >= 1_000_000 && testing.Short() {
				b.Skip("the 1M-member policy takes seconds to build; skipped in -short")
			}
			w := newBenchWorld(size.members)
			p, took := w.compile()
			qs := w.queries()
			allowed := 0
			for _, q := range qs {
				if p.Check(access.Subject{Tenant: w.tenant, User: q.user}, q.right, q.project) {
					allowed++
				}
			}
			b.Logf("Compile of %d members, %d project memberships: %v; %d of %d queries allowed",
				len(w.users), len(w.pmProject), took.Round(time.Millisecond), allowed, len(qs))
			b.ReportAllocs()
			s := access.Subject{Tenant: p.Tenant()}
			for i := 0; b.Loop(); i++ {
				q := &qs[i%benchQueryCount]
				s.User = q.user
				p.Check(s, q.right, q.project)
			}
		})
	}
}

// BenchmarkCasbinEnforce measures Casbin's Enforce on the same tenant and queries as
// BenchmarkCheck. Casbin evaluates its matcher against every policy line (here
// benchProjects × 28), so it is sized 1k and 100k only.
func BenchmarkCasbinEnforce(b *testing.B) {
	for _, size := range benchSizes[:2] {
		b.Run(size.name, func(b *testing.B) {
			e, qs := benchCasbin(b, size.members, false)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				q := &qs[i%benchQueryCount]
				if _, err := e.Enforce(q.sub, q.dom, q.act); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCasbinCachedEnforce measures Casbin's CachedEnforcer with every query of the
// list already cached: its best case, a string-keyed map lookup behind a mutex. A real
// server would also pay the misses, and a cache that Casbin empties on every policy
// change.
func BenchmarkCasbinCachedEnforce(b *testing.B) {
	b.Run("1k", func(b *testing.B) {
		e, qs := benchCasbin(b, 1_000, true)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			q := &qs[i%benchQueryCount]
			if _, err := e.Enforce(q.sub, q.dom, q.act); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchCasbin loads the n-member world into a Casbin enforcer, logs how long that took,
// and checks that Casbin and access.Policy agree on the queries, so that both are
// measured answering the same questions the same way. With cached, every query is
// checked, which leaves every answer in the cache.
func benchCasbin(b *testing.B, n int, cached bool) (interface {
	Enforce(...any) (bool, error)
}, []casbinQuery) {
	b.Helper()
	w := newBenchWorld(n)
	p, _ := w.compile()
	pLines, gLines := w.casbinLines()
	start := time.Now()
	e := newCasbinEnforcer(b, cached, pLines, gLines)
	load := time.Since(start)
	qs := w.queries()
	cqs := w.casbinQueries(qs)
	// Casbin takes milliseconds a decision here: check a prefix of the list, or all of it
	// when the answers must be cached anyway.
	checked := qs[:512]
	if cached {
		checked = qs
	}
	start = time.Now()
	for i, q := range checked {
		want := p.Check(access.Subject{Tenant: w.tenant, User: q.user}, q.right, q.project)
		got, err := e.Enforce(cqs[i].sub, cqs[i].dom, cqs[i].act)
		require.NoError(b, err)
		require.Equal(b, want, got, "query %d: user %s, %s, project %s", i, q.user, q.right, q.project)
	}
	b.Logf("Casbin setup of %d members: %d p and %d g lines loaded in %v; %d queries checked against Check in %v",
		n, len(pLines), len(gLines), load.Round(time.Millisecond), len(checked), time.Since(start).Round(time.Millisecond))
	return e, cqs
}

// benchPrefixes returns n random allowlist entries, half IPv4 (mostly /24 to /32) and
// half IPv6 (mostly /48 to /128), and benchAddrCount query addresses: half inside a random entry,
// half random, in the same mix of families. The same n gives the same lists.
func benchPrefixes(n int) ([]netip.Prefix, []netip.Addr) {
	r := rand.New(rand.NewPCG(uint64(n), 0xa11))
	randAddr := func(v4 bool) netip.Addr {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if v4 {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		b[0] = 0x20 // global unicast, so that the tries branch like real ones
		return netip.AddrFrom16(b)
	}
	v4Bits := []int{8, 16, 22, 24, 24, 24, 28, 29, 32, 32, 32}
	v6Bits := []int{32, 48, 48, 56, 64, 64, 64, 96, 128, 128}
	prefixes := make([]netip.Prefix, n)
	for i := range prefixes {
		if i%2 == 0 {
			prefixes[i] = netip.PrefixFrom(randAddr(true), v4Bits[r.IntN(len(v4Bits))]).Masked()
		} else {
			prefixes[i] = netip.PrefixFrom(randAddr(false), v6Bits[r.IntN(len(v6Bits))]).Masked()
		}
	}
	addrs := make([]netip.Addr, benchAddrCount)
	for i := range addrs {
		if i%2 == 0 {
			addrs[i] = randAddr(r.IntN(2) == 0)
			continue
		}
		// an address inside a random entry: the entry's bits, then random host bits
		p := prefixes[r.IntN(n)]
		host := randAddr(p.Addr().Is4()).AsSlice()
		net := p.Addr().AsSlice()
		for bit := range p.Bits() {
			mask := byte(0x80 >> (bit % 8))
			host[bit/8] = host[bit/8]&^mask | net[bit/8]&mask
		}
		addrs[i], _ = netip.AddrFromSlice(host)
	}
	return prefixes, addrs
}

var allowlistSizes = []struct {
	name string
	n    int
}{{"10", 10}, {"1k", 1000}}

// BenchmarkAllowlist measures access.Allowlist.Allows, checked on every request.
func BenchmarkAllowlist(b *testing.B) {
	for _, size := range allowlistSizes {
		b.Run(size.name, func(b *testing.B) {
			prefixes, addrs := benchPrefixes(size.n)
			a := access.NewAllowlist(prefixes)
			lite := newLite(prefixes)
			hits := 0
			for _, ip := range addrs {
				require.Equal(b, lite.Contains(ip), a.Allows(ip), "address %s", ip)
				if a.Allows(ip) {
					hits++
				}
			}
			b.Logf("%d prefixes, %d of %d query addresses allowed", len(prefixes), hits, len(addrs))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a.Allows(addrs[i%benchAddrCount])
			}
		})
	}
}

// BenchmarkBartContains is BenchmarkAllowlist's baseline: a bare bart.Lite holding the
// same prefixes, asked about the same addresses.
func BenchmarkBartContains(b *testing.B) {
	for _, size := range allowlistSizes {
		b.Run(size.name, func(b *testing.B) {
			prefixes, addrs := benchPrefixes(size.n)
			lite := newLite(prefixes)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				lite.Contains(addrs[i%benchAddrCount])
			}
		})
	}
}

func newLite(prefixes []netip.Prefix) *bart.Lite {
	lite := new(bart.Lite)
	for _, p := range prefixes {
		lite.Insert(p)
	}
	return lite
}
