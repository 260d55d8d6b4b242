package access_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/gaissmai/bart"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/internal/accessbench"
)

// The benchmarks measure access.Policy.Check and Compile on one generated tenant (see
// internal/accessbench), and access.Allowlist against a bare bart.Lite.
//
//	go test -run='^$' -bench=. -benchmem ./access/
//
// The comparison with Casbin lives in the compare module (compare/access), so that
// Casbin is no dependency of callshield: it asks Check and Casbin the same
// accessbench queries in one run.

const benchAddrCount = 4096 // the allowlist benchmarks' query addresses

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
			w := accessbench.NewWorld(size.members)
			start := time.Now()
			p := access.Compile(w.PolicyData())
			took := time.Since(start)
			qs := w.Queries()
			allowed := 0
			for _, q := range qs {
				if p.Check(access.Subject{Tenant: w.Tenant, User: q.User}, q.Right, q.Project) {
					allowed++
				}
			}
			b.Logf("Compile of %d members, %d project memberships: %v; %d of %d queries allowed",
				len(w.Users), len(w.PMProject), took.Round(time.Millisecond), allowed, len(qs))
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

// BenchmarkCompile measures Compile of the generated tenant and reports the compiled
// policy's memory per member (B/member: the member table, its index and the grants
// beyond the inline ones, as the engine's budget counts them).
func BenchmarkCompile(b *testing.B) {
	for _, size := range benchSizes[1:] {
		b.Run(size.name, func(b *testing.B) {
			w := accessbench.NewWorld(size.members)
			d := w.PolicyData()
			w = nil
			var p *access.Policy
			b.ReportAllocs()
			for b.Loop() {
				p = access.Compile(d)
			}
			b.ReportMetric(float64(access.PolicyBytes(p))/float64(size.members), "B/member")
		})
	}
}
