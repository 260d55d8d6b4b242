package authn_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
)

// benchSession signs a user in over the memory store and returns the service and the
// cookie. The clock is the production one (time.Now): a run shorter than the touch
// interval (30 s) writes no touch, a longer one one per interval, as in production.
func benchSession(b *testing.B) (*authn.Service, string) {
	b.Helper()
	ctx := context.Background()
	store := memory.New(memory.Options{})
	engine := access.NewEngine(store, access.EngineOptions{})
	acc := access.NewService(store, engine, access.ServiceOptions{})
	out := &authn.Outbox{}
	svc, err := authn.NewService(store, engine, authn.Options{Mailer: out, Hasher: fastHasher(),
		LinkURL: func(_ authn.Purpose, tok authn.LinkToken) string { return "https://app.example/#" + tok.Reveal() }})
	if err != nil {
		b.Fatal(err)
	}
	tenant, err := acc.CreateTenant(ctx, "Bench")
	if err != nil {
		b.Fatal(err)
	}
	roles, _ := store.Roles(ctx, tenant.ID)
	kinds := map[access.RoleKind]uuid.UUID{}
	for _, r := range roles {
		kinds[r.Kind] = r.ID
	}
	admin := access.Subject{Tenant: tenant.ID, User: uuid.New()}
	if _, err := acc.SetMember(ctx, access.System(tenant.ID), admin.User, kinds[access.KindAdmin]); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Invite(ctx, admin, authn.InviteRequest{Email: "ann@example.com", Name: "Ann", Role: kinds[access.KindAgent]}); err != nil {
		b.Fatal(err)
	}
	m, _ := out.Last("ann@example.com")
	if _, err := svc.AcceptInvitation(ctx, tokenRE.FindString(m.Text), authn.NewPassword(goodPassword), authn.Meta{}); err != nil {
		b.Fatal(err)
	}
	res, err := svc.SignIn(ctx, tenant.ID, "ann@example.com", authn.NewPassword(goodPassword), authn.Meta{IP: officeIP})
	if err != nil {
		b.Fatal(err)
	}
	return svc, res.Token.Reveal()
}

// benchHandler is the application handler both benchmarks serve: it reads the
// subject (if any) and writes a small body.
var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = access.SubjectFrom(r.Context())
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok\n")
})

func benchRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example/calls", nil)
	r.RemoteAddr = officeIP.String() + ":4711"
	r.Header.Set("User-Agent", "Mozilla/5.0 Firefox/128.0")
	r.AddCookie(&http.Cookie{Name: "__Host-callshield", Value: tok})
	return r
}

// serveBench runs h: "in-process" calls ServeHTTP with a fresh recorder per request,
// "loopback" sends real HTTP requests to an httptest.Server over keep-alive
// connections (the throughput a client sees). Both sides get the same harness work:
// the loopback server wraps h in forwardAs (bare and middleware alike), the
// in-process requests already come from the office address and are served as is.
func serveBench(b *testing.B, h http.Handler, tok string) {
	b.Run("in-process", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			r := benchRequest(tok)
			for pb.Next() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	})
	b.Run("loopback", func(b *testing.B) {
		srv := httptest.NewServer(forwardAs(h, officeIP))
		defer srv.Close()
		tr := &http.Transport{MaxIdleConnsPerHost: 64}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/calls", nil)
				req.Header.Set("User-Agent", "Mozilla/5.0 Firefox/128.0")
				req.AddCookie(&http.Cookie{Name: "__Host-callshield", Value: tok})
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
		})
	})
}

// reportCPU reports the process's CPU time (user and system, all threads, the
// garbage collector's included) per operation as cpu-ns/op when the returned function
// is called. On a shared machine it is steadier than ns/op, which counts the time
// other processes held the cores: the throughput ratio of two benchmarks on a machine
// of their own is the inverse ratio of their cpu-ns/op.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBareHandler is the peer of BenchmarkSessionMiddleware: the same handler
// without the middleware, in the same harness (recorder, request, forwardAs on
// loopback).
func BenchmarkBareHandler(b *testing.B) {
	_, tok := benchSession(b)
	serveBench(b, benchHandler, tok)
}

// BenchmarkSessionMiddleware serves benchHandler behind the session middleware over
// the memory store, the policy cache warm: per request a cross-origin check, the
// cookie read, the SHA-256 of the secret, one session lookup (with user status,
// policy version and idle timeout), one clock read, the expiry, idle and user status
// checks, the policy at the session's version, the client (trusted proxies
// 127.0.0.0/8; its address was resolved and allowed at its first request, and a
// request from the same peer address reuses that) and the restricted flag; the touch
// check runs but writes nothing within the touch interval.
func BenchmarkSessionMiddleware(b *testing.B) {
	svc, tok := benchSession(b)
	h := svc.Middleware(authn.MiddlewareOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})(benchHandler)
	serveBench(b, h, tok)
}

// forwardAs sets X-Forwarded-For as a trusted proxy on 127.0.0.1 would, so that the
// in-process and loopback requests come from the same client address. serveBench
// wraps both benchmarks' loopback servers in it, so its cost is on both sides.
func forwardAs(h http.Handler, ip netip.Addr) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && a.Addr().IsLoopback() {
			r.Header.Set("X-Forwarded-For", ip.String())
		}
		h.ServeHTTP(w, r)
	})
}

// floorNode is a context node of the session middleware's size on a cache hit (its
// context node is two words beside the embedded parent), for the floor benchmarks
// below.
type floorNode struct {
	context.Context
	_ [32 - 16]byte
}

// floorMiddleware does the least any middleware that puts a value in the request
// context does (one allocation: a context node and the request copy WithContext
// makes), and with hash also the least a hashed-secret session check does (the
// cookie's base64 and its SHA-256). It authenticates nothing: it is the floor the
// session middleware's ratio is measured against.
type floorMiddleware struct {
	next http.Handler
	hash bool
}

func (h *floorMiddleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.hash {
		c := r.Header["Cookie"][0]
		var raw [48]byte
		if _, err := base64.RawURLEncoding.Decode(raw[:], []byte(c[len(c)-64:])); err != nil {
			panic(err)
		}
		floorSink = sha256.Sum256(raw[:])
	}
	sr := &struct {
		ctx floorNode
		req http.Request
	}{ctx: floorNode{Context: r.Context()}}
	sr.req = *r.WithContext(&sr.ctx)
	h.next.ServeHTTP(w, &sr.req)
}

var floorSink [32]byte

// BenchmarkFloorContext is the same handler behind floorMiddleware without the hash:
// what one WithContext per request costs in this harness.
func BenchmarkFloorContext(b *testing.B) {
	_, tok := benchSession(b)
	serveBench(b, &floorMiddleware{next: benchHandler}, tok)
}

// BenchmarkFloorContextHash adds the token's base64 decode and SHA-256.
func BenchmarkFloorContextHash(b *testing.B) {
	_, tok := benchSession(b)
	serveBench(b, &floorMiddleware{next: benchHandler, hash: true}, tok)
}
