package sqlstore_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/internal/pgtest"
	"github.com/callshield/callshield/storage/pglisten"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/google/uuid"
)

// BenchmarkSessionMiddlewarePostgres serves one request at a time behind the session
// middleware over PostgreSQL (policy cache warm, no touch write: the clock is frozen)
// beside one "SELECT 1" round trip on the same pool. With the change listener
// (storage/pglisten) running and given the Service, as it should in production,
// "middleware" serves a session's repeat requests from authn's session cache: no
// round trip at all. "middleware-lookup" is the same with the session cache disabled:
// its per-request cost is its one lookup query (one row of one table), so its ratio
// to "select1" is the cost of a request whose session is not cached (the first one
// of a session, one per touch interval, and every request while the listener does
// not vouch). "middleware-no-listener" is that after the listener stops: the engine
// then reads the policy version per request too, a second round trip.
func BenchmarkSessionMiddlewarePostgres(b *testing.B) {
	ctx := context.Background()
	db := pgtest.DB(b)
	store, err := sqlstore.New(db, sqlstore.Postgres, sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC) }
	engine := access.NewEngine(store, access.EngineOptions{})
	acc := access.NewService(store, engine, access.ServiceOptions{Clock: now})
	out := &authn.Outbox{}
	svc, err := authn.NewService(store, engine, authn.Options{Mailer: out, Clock: now,
		Hasher: authn.NewHasher(authn.HasherOptions{Params: authn.Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
			InsecureAllowWeakParams: true}),
		LinkURL: func(_ authn.Purpose, tok authn.LinkToken) string { return "#" + tok.Reveal() }})
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
	const pw = "correct horse battery staple 42"
	if _, err := svc.AcceptInvitation(ctx, regexp.MustCompile(`csinv_[A-Za-z0-9_-]+`).FindString(m.Text), authn.NewPassword(pw), authn.Meta{}); err != nil {
		b.Fatal(err)
	}
	office := netip.MustParseAddr("198.51.100.9")
	res, err := svc.SignIn(ctx, tenant.ID, "ann@example.com", authn.NewPassword(pw), authn.Meta{IP: office})
	if err != nil {
		b.Fatal(err)
	}
	// The same service with the session cache off, over the same engine.
	uncached, err := authn.NewService(store, engine, authn.Options{Mailer: out, Clock: now, LinkURL: func(authn.Purpose, authn.LinkToken) string { return "#" },
		SessionCache: authn.SessionCacheOptions{Disabled: true}})
	if err != nil {
		b.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	h := svc.Middleware(authn.MiddlewareOptions{})(app)
	hUncached := uncached.Middleware(authn.MiddlewareOptions{})(app)
	r := httptest.NewRequest(http.MethodGet, "https://app.example/calls", nil)
	r.RemoteAddr = office.String() + ":4711"
	r.AddCookie(&http.Cookie{Name: "__Host-callshield", Value: res.Token.Reveal()})

	b.Run("select1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var one int
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The lookup query alone, to tell the query's cost from the middleware's own.
	b.Run("lookup", func(b *testing.B) {
		for b.Loop() {
			if _, err := store.SessionBySecret(ctx, tenant.ID, res.Session.SecretHash); err != nil {
				b.Fatal(err)
			}
		}
	})
	serve := func(h http.Handler) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
			b.ReportMetric(float64(engine.Loads()), "policy-loads") // 1: the cache stayed warm
		}
	}
	lctx, stop := context.WithCancel(ctx)
	l, err := pglisten.New(db, engine, pglisten.Options{Sessions: svc})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(lctx) }()
	waitFor(b, engine.Listening)
	b.Run("middleware", func(b *testing.B) {
		if !engine.Listening() || !svc.SessionCacheStats().Trusted {
			b.Fatal("the listener stopped vouching")
		}
		serve(h)(b)
		if svc.SessionCacheStats().Entries != 1 {
			b.Fatal("the session was not cached")
		}
	})
	b.Run("middleware-lookup", func(b *testing.B) {
		if !engine.Listening() {
			b.Fatal("the listener stopped vouching")
		}
		serve(hUncached)(b)
	})
	stop()
	<-done
	waitFor(b, func() bool { return !engine.Listening() })
	b.Run("middleware-no-listener", serve(h))
}

// waitFor waits up to 10 s for cond.
func waitFor(b *testing.B, cond func() bool) {
	b.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("condition not reached in 10 s")
		}
	}
}
