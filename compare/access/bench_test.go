package access_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/internal/accessbench"
)

// The benchmarks ask access.Policy.Check and each Casbin setup (see casbinSetup) the
// same accessbench queries about the same generated tenant, in one run:
//
//	cd compare && go test -run='^$' -bench=. -benchmem ./access/
//
// Each Casbin benchmark first checks that Casbin and Check agree on the queries, so
// that both are measured answering the same questions the same way.

var benchSizes = []struct {
	name    string
	members int
}{{"1k", 1_000}, {"100k", 100_000}}

// BenchmarkCheck is access.Policy.Check on the tenant and queries of the Casbin rows.
func BenchmarkCheck(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			w := accessbench.NewWorld(size.members)
			p := access.Compile(w.PolicyData())
			qs := w.Queries()
			b.ReportAllocs()
			s := access.Subject{Tenant: p.Tenant()}
			for i := 0; b.Loop(); i++ {
				q := &qs[i%accessbench.QueryCount]
				s.User = q.User
				p.Check(s, q.Right, q.Project)
			}
		})
	}
}

// BenchmarkCasbinEnforce measures Casbin's Enforce in each setup. The domains setup
// evaluates its matcher against every policy line (here 101 domains × 28 rights), so it
// is sized 1k only.
func BenchmarkCasbinEnforce(b *testing.B) {
	for _, setup := range casbinSetups {
		for _, size := range benchSizes {
			if setup.perDomain && size.members > 1_000 {
				continue
			}
			b.Run(setup.name+"/"+size.name, func(b *testing.B) {
				e, qs := benchCasbin(b, setup, size.members, false)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					q := &qs[i%accessbench.QueryCount]
					if _, err := e.Enforce(q.sub, q.dom, q.act); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCasbinCachedEnforce measures Casbin's CachedEnforcer (expert setup) with
// every query of the list already cached: its best case, a string-keyed map lookup
// behind a lock. A real server would also pay the misses, and a cache that Casbin
// empties on every policy change.
func BenchmarkCasbinCachedEnforce(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(setupExpert.name+"/"+size.name, func(b *testing.B) {
			e, qs := benchCasbin(b, setupExpert, size.members, true)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				q := &qs[i%accessbench.QueryCount]
				if _, err := e.Enforce(q.sub, q.dom, q.act); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// casbinQuery is an accessbench.Query as Casbin's request strings, prepared before the
// loop so that Casbin is not charged for formatting UUIDs.
type casbinQuery struct{ sub, dom, act string }

// benchCasbin loads the n-member world into an enforcer of the setup, logs how long
// that took, and checks that Casbin and access.Policy agree on the queries (with
// cached, on all of them, which leaves every answer in the cache).
func benchCasbin(b *testing.B, setup casbinSetup, n int, cached bool) (interface {
	Enforce(...any) (bool, error)
}, []casbinQuery) {
	b.Helper()
	w := accessbench.NewWorld(n)
	d := w.PolicyData()
	p := access.Compile(d)
	pLines, gLines := casbinLines(setup, d)
	start := time.Now()
	e := newCasbinEnforcer(b, setup, cached, pLines, gLines)
	load := time.Since(start)
	qs := w.Queries()
	cqs := make([]casbinQuery, len(qs))
	for i, q := range qs {
		// A right that is not project-scoped is decided on the tenant role whatever
		// project is named (RightInfo.ProjectScoped): Casbin asks the tenant domain.
		dom := casbinDomain(q.Project)
		if info, _ := q.Right.Info(); !info.ProjectScoped {
			dom = casbinTenantDomain
		}
		cqs[i] = casbinQuery{casbinUser(w.Tenant, q.User), dom, q.Right.String()}
	}
	checked := qs
	if setup.perDomain && !cached {
		checked = qs[:512] // milliseconds a decision: a prefix of the list
	}
	start = time.Now()
	for i, q := range checked {
		want := p.Check(access.Subject{Tenant: w.Tenant, User: q.User}, q.Right, q.Project)
		got, err := e.Enforce(cqs[i].sub, cqs[i].dom, cqs[i].act)
		require.NoError(b, err)
		require.Equal(b, want, got, "query %d: user %s, %s, project %s", i, q.User, q.Right, q.Project)
	}
	b.Logf("Casbin %s setup of %d members: %d p and %d g lines loaded in %v; %d queries checked against Check in %v",
		setup.name, n, len(pLines), len(gLines), load.Round(time.Millisecond), len(checked), time.Since(start).Round(time.Millisecond))
	return e, cqs
}
