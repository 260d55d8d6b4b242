package sqlstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appInstance is one app appInstance: its own pool, engine (policy cache) and services.
type appInstance struct {
	acc *access.Service
	svc *authn.Service
	out *authn.Outbox
}

func newAppInstance(t *testing.T, s *sqlstore.Store, now func() time.Time) appInstance {
	t.Helper()
	engine := access.NewEngine(s, access.EngineOptions{})
	out := &authn.Outbox{}
	svc, err := authn.NewService(s, engine, authn.Options{Mailer: out, Clock: now,
		Hasher: authn.NewHasher(authn.HasherOptions{Params: authn.Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
			InsecureAllowWeakParams: true}),
		Audit:   audit.NewRecorder(s, audit.Options{Clock: now}),
		LinkURL: func(_ authn.Purpose, tok authn.LinkToken) string { return "https://app.example/#" + tok.Reveal() }})
	require.NoError(t, err)
	return appInstance{acc: access.NewService(s, engine, access.ServiceOptions{Clock: now}), svc: svc, out: out}
}

// Blocking a user, or narrowing the allowlist, on one appInstance stops the user's
// session at its next request on another appInstance sharing the database: the session
// lookup reads the user's status and the policy version every time.
func TestSessionStopsOnEveryInstance(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		stores := newStores(t, d, 2, sqlstore.Options{})
		now := func() time.Time { return time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC) }
		a, b := newAppInstance(t, stores[0], now), newAppInstance(t, stores[1], now)

		tenant, err := a.acc.CreateTenant(ctx, "Two Instances")
		require.NoError(t, err)
		roles, err := stores[0].Roles(ctx, tenant.ID)
		require.NoError(t, err)
		kinds := map[access.RoleKind]uuid.UUID{}
		for _, r := range roles {
			kinds[r.Kind] = r.ID
		}
		admin := access.Subject{Tenant: tenant.ID, User: uuid.New()}
		_, err = a.acc.SetMember(ctx, access.System(tenant.ID), admin.User, kinds[access.KindAdmin])
		require.NoError(t, err)
		inv, err := a.svc.Invite(ctx, admin, authn.InviteRequest{Email: "ann@example.com", Name: "Ann", Role: kinds[access.KindAgent]})
		require.NoError(t, err)
		m, _ := a.out.Last("ann@example.com")
		link := regexp.MustCompile(`csinv_[A-Za-z0-9_-]+`).FindString(m.Text)
		const pw = "correct horse battery staple 42"
		_, err = a.svc.AcceptInvitation(ctx, link, authn.NewPassword(pw), authn.Meta{})
		require.NoError(t, err)
		office := netip.MustParseAddr("198.51.100.9")
		res, err := a.svc.SignIn(ctx, tenant.ID, "ann@example.com", authn.NewPassword(pw), authn.Meta{IP: office})
		require.NoError(t, err)

		get := func(in appInstance) int {
			h := in.svc.Middleware(authn.MiddlewareOptions{})(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
			r := httptest.NewRequest(http.MethodGet, "https://app.example/calls", nil)
			r.RemoteAddr = office.String() + ":1234"
			r.AddCookie(&http.Cookie{Name: "__Host-callshield", Value: res.Token.Reveal()})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Code
		}
		require.Equal(t, http.StatusOK, get(b), "the session works on the other appInstance")
		require.Equal(t, http.StatusOK, get(b), "and its policy is cached there")

		_, err = a.acc.SetAllowlist(ctx, admin, []string{"203.0.113.0/24"})
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, get(b), "an allowlist change on A applies on B at the next request")
		_, err = a.acc.SetAllowlist(ctx, admin, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, get(b))

		// A block whose session ending did not happen (written at the store, as by an
		// appInstance that crashed before ending sessions) still stops the session on B.
		ev := audit.Event{Tenant: tenant.ID, Kind: audit.KindChange, Action: "user.block", Outcome: audit.Success}
		require.NoError(t, audit.Prepare(&ev, now()))
		require.NoError(t, stores[0].SetStatus(ctx, tenant.ID, inv.User.ID, authn.StatusActive, authn.StatusBlocked, now(), ev))
		assert.Equal(t, http.StatusUnauthorized, get(b), "blocked on A, refused on B at the next request")
	})
}
