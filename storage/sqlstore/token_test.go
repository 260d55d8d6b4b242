package sqlstore_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instance is one app instance: its own store handle, engine, audit writer and token
// service, sharing the database with the others.
type instance struct {
	store  *sqlstore.Store
	engine *access.Engine
	writer *audit.Writer
	tokens *token.Service
	api    http.Handler
}

// setClock is a settable clock shared by instances.
type setClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *setClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *setClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// newInstance is an app instance over s; now is its token service's clock (nil:
// time.Now).
func newInstance(t *testing.T, s *sqlstore.Store, now func() time.Time) *instance {
	t.Helper()
	in := &instance{store: s, engine: access.NewEngine(s, access.EngineOptions{})}
	in.writer = audit.NewWriter(s, audit.WriterOptions{})
	status := func(ctx context.Context, tenant, user uuid.UUID) (authn.Status, error) {
		u, err := s.User(ctx, tenant, user)
		return u.Status, err
	}
	var err error
	in.tokens, err = token.NewService(s, in.engine, token.Options{Users: token.StatusFunc(status), Actions: in.writer,
		After: func(time.Duration) <-chan time.Time { return nil }, Clock: now})
	require.NoError(t, err)
	in.api = in.tokens.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	return in
}

var invitationLink = regexp.MustCompile(`csinv_[A-Za-z0-9_-]+`)

// twoTokenInstances is two instances on one database of dialect d with one settable
// clock, closed at the end of the test.
func twoTokenInstances(t *testing.T, d sqlstore.Dialect) ([]*sqlstore.Store, *setClock, []*instance) {
	t.Helper()
	stores := newStores(t, d, 2, sqlstore.Options{})
	clk := &setClock{t: time.Now().UTC()}
	ins := []*instance{newInstance(t, stores[0], clk.Now), newInstance(t, stores[1], clk.Now)}
	t.Cleanup(func() {
		for _, in := range ins {
			_ = in.tokens.Close(context.Background())
			_ = in.writer.Close(context.Background())
		}
	})
	return stores, clk, ins
}

// tokenUser makes a tenant with a user holding the integrations right, through the
// real services on the first instance.
func tokenUser(t *testing.T, in *instance) access.Subject {
	t.Helper()
	ctx := context.Background()
	acc := access.NewService(in.store, in.engine, access.ServiceOptions{})
	outbox := &authn.Outbox{}
	accounts, err := authn.NewService(in.store, in.engine, authn.Options{Mailer: outbox,
		LinkURL: func(p authn.Purpose, tok authn.LinkToken) string { return "https://x/#" + tok.Reveal() },
		Hasher: authn.NewHasher(authn.HasherOptions{Params: authn.Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
			InsecureAllowWeakParams: true})})
	require.NoError(t, err)
	tn, err := acc.CreateTenant(ctx, "Acme")
	require.NoError(t, err)
	admin := access.Subject{Tenant: tn.ID, User: uuid.New()}
	roles, err := in.store.Roles(ctx, tn.ID)
	require.NoError(t, err)
	for _, r := range roles {
		if r.Kind == access.KindAdmin {
			_, err = acc.SetMember(ctx, access.System(tn.ID), admin.User, r.ID)
			require.NoError(t, err)
		}
	}
	role, err := acc.CreateRole(ctx, admin, access.RoleSpec{Name: "Integrator", Rights: []access.Right{access.Integrations}})
	require.NoError(t, err)
	_, err = accounts.Invite(ctx, admin, authn.InviteRequest{Email: "ann@example.com", Name: "Ann", Role: role.ID})
	require.NoError(t, err)
	m, ok := outbox.Last("ann@example.com")
	require.True(t, ok)
	u, err := accounts.AcceptInvitation(ctx, invitationLink.FindString(m.Text), authn.NewPassword("correct horse battery staple 42"), authn.Meta{})
	require.NoError(t, err)
	return access.Subject{Tenant: tn.ID, User: u.ID}
}

// TestTokenUsageAcrossInstances: 1,000 concurrent requests spread over two instances
// sharing one database, each counting in memory and flushing on Close, sum to exactly
// the requests made; and the action log holds one event per request.
func TestTokenUsageAcrossInstances(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		// Two app instances with bounded pools, as production configures them: 1,000
		// requests at once must not open 1,000 connections.
		var stores []*sqlstore.Store
		for _, db := range openDBs(t, d, 2) {
			db.SetMaxOpenConns(8)
			s, err := sqlstore.New(db, d, sqlstore.Options{})
			require.NoError(t, err)
			require.NoError(t, s.Migrate(ctx))
			stores = append(stores, s)
		}
		ins := []*instance{newInstance(t, stores[0], nil), newInstance(t, stores[1], nil)}
		ann := tokenUser(t, ins[0])
		tk, sec, err := ins[0].tokens.Issue(ctx, ann, token.IssueRequest{Name: "CI"})
		require.NoError(t, err)

		const n = 1000
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				target := "/api"
				if i%5 == 0 {
					target = "/api?fail=1"
				}
				r := httptest.NewRequest(http.MethodGet, target, nil)
				r.Header.Set("Authorization", "Bearer "+sec.Reveal())
				w := httptest.NewRecorder()
				ins[i%2].api.ServeHTTP(w, r)
				if w.Code != http.StatusOK && w.Code != http.StatusTeapot {
					t.Errorf("request %d: %d %s", i, w.Code, w.Body.String())
				}
				if i%100 == 0 { // flushes interleave with the counting
					assert.NoError(t, ins[i%2].tokens.Flush(ctx))
				}
			})
		}
		wg.Wait()
		for _, in := range ins {
			require.NoError(t, in.tokens.Close(ctx))
			require.NoError(t, in.writer.Close(ctx))
		}
		from, to := token.DayOf(time.Now().Add(-24*time.Hour), nil), token.DayOf(time.Now().Add(24*time.Hour), nil)
		rows, err := stores[1].Usage(ctx, ann.Tenant, token.UsageQuery{User: ann.User, From: from, To: to})
		require.NoError(t, err)
		var requests, errs int64
		for _, r := range rows {
			assert.Equal(t, tk.ID, r.Token)
			requests += r.Requests
			errs += r.Errors
		}
		assert.Equal(t, int64(n), requests, "the two instances' counts sum to the requests made")
		assert.Equal(t, int64(n/5), errs)
		got, err := stores[1].Token(ctx, ann.Tenant, tk.ID)
		require.NoError(t, err)
		assert.False(t, got.LastUsedAt.IsZero(), "the flush moved LastUsedAt")
		evs := allEvents(t, stores[0], ann.Tenant)
		actions := 0
		for _, ev := range evs {
			if ev.Kind == audit.KindAction {
				actions++
				assert.Equal(t, tk.ID, ev.Actor.Token)
			}
		}
		assert.Equal(t, n, actions, "one action-log event per request")
	})
}

// TestTokenIssueRaceAcrossInstances: two instances issuing (and then regenerating) a
// token for one user at once leave exactly one active token.
func TestTokenIssueRaceAcrossInstances(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		stores, clk, ins := twoTokenInstances(t, d)
		ann := tokenUser(t, ins[0])
		for _, regenerate := range []bool{false, true} {
			for round := range 5 {
				clk.Advance(token.DefaultRegenerateInterval) // a regeneration sooner is refused
				const racers = 8
				errs := make([]error, racers)
				secrets := make([]token.Secret, racers)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range racers {
					wg.Go(func() {
						<-start
						svc := ins[i%2].tokens
						if regenerate {
							_, secrets[i], errs[i] = svc.Regenerate(ctx, ann, token.IssueRequest{Name: "race"})
						} else {
							_, secrets[i], errs[i] = svc.Issue(ctx, ann, token.IssueRequest{Name: "race"})
						}
					})
				}
				close(start)
				wg.Wait()
				ok := 0
				for _, err := range errs {
					switch {
					case err == nil:
						ok++
					case errors.Is(err, token.ErrExists), errors.Is(err, storage.ErrStale),
						regenerate && errors.Is(err, token.ErrRegenerateTooSoon):
					default:
						t.Errorf("unexpected error: %v", err)
					}
				}
				list, err := stores[1].Tokens(ctx, ann.Tenant)
				require.NoError(t, err)
				require.Len(t, list, 1, "regenerate=%v round %d: exactly one active token", regenerate, round)
				assert.Equal(t, 1, ok, "regenerate=%v round %d: exactly one succeeds", regenerate, round)
				working := 0
				for i, sec := range secrets {
					if errs[i] == nil {
						if _, err := ins[0].tokens.Verify(ctx, sec.Reveal()); err == nil {
							working++
						}
					}
				}
				assert.Equal(t, 1, working, "exactly one issued secret works")
				if !regenerate {
					require.NoError(t, ins[0].tokens.Revoke(ctx, ann, ann.User))
				}
			}
		}
	})
}

// TestTokenRegenerateBoundAcrossInstances: 50 regenerations of one user's token racing
// on two instances inside one Options.RegenerateInterval yield exactly one new token;
// the others are refused (ErrRegenerateTooSoon, or storage.ErrStale for those that
// read the old token); a user of another tenant regenerating meanwhile is unaffected;
// after the interval one more succeeds.
func TestTokenRegenerateBoundAcrossInstances(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		stores, clk, ins := twoTokenInstances(t, d)
		ann := tokenUser(t, ins[0])
		bob := tokenUser(t, ins[0]) // of another tenant
		require.NotEqual(t, ann.Tenant, bob.Tenant)
		for _, s := range []access.Subject{ann, bob} {
			_, _, err := ins[0].tokens.Issue(ctx, s, token.IssueRequest{Name: "CI"})
			require.NoError(t, err)
		}
		for round := range 2 {
			clk.Advance(token.DefaultRegenerateInterval)
			const racers = 50
			errs := make([]error, racers)
			secrets := make([]token.Secret, racers)
			var bobErr error
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range racers {
				wg.Go(func() {
					<-start
					_, secrets[i], errs[i] = ins[i%2].tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "race"})
				})
			}
			wg.Go(func() {
				<-start
				_, _, bobErr = ins[1].tokens.Regenerate(ctx, bob, token.IssueRequest{Name: "CI"})
			})
			close(start)
			wg.Wait()
			assert.NoError(t, bobErr, "round %d: another tenant's user is unaffected", round)
			ok := 0
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
					_, verr := ins[(i+1)%2].tokens.Verify(ctx, secrets[i].Reveal())
					assert.NoError(t, verr, "round %d: the winner's secret works on the other instance", round)
				case errors.Is(err, token.ErrRegenerateTooSoon), errors.Is(err, storage.ErrStale):
				default:
					t.Errorf("round %d: unexpected error: %v", round, err)
				}
			}
			assert.Equal(t, 1, ok, "round %d: exactly one regeneration within the interval", round)
			list, err := stores[1].Tokens(ctx, ann.Tenant)
			require.NoError(t, err)
			assert.Len(t, list, 1)
			_, _, err = ins[1].tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "late"})
			assert.ErrorIs(t, err, token.ErrRegenerateTooSoon, "round %d: still inside the interval", round)
		}
	})
}

// TestTokenRevokeAndIssueBoundAcrossInstances: 50 clients of one user on two instances,
// each revoking the token and issuing one at once, yield at most one issuance per
// Options.RegenerateInterval (and exactly one once it has passed): the bound runs from
// the latest token, revoked ones included, and the store's CreateTokenAfter holds it
// under the race. A user of another tenant churning meanwhile is bounded alone.
func TestTokenRevokeAndIssueBoundAcrossInstances(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		stores, clk, ins := twoTokenInstances(t, d)
		ann := tokenUser(t, ins[0])
		bob := tokenUser(t, ins[0]) // of another tenant
		for _, s := range []access.Subject{ann, bob} {
			_, _, err := ins[0].tokens.Issue(ctx, s, token.IssueRequest{Name: "CI"})
			require.NoError(t, err)
		}
		for round := range 2 {
			clk.Advance(token.DefaultRegenerateInterval)
			const racers = 50
			errs := make([]error, racers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range racers {
				wg.Go(func() {
					<-start
					svc, who := ins[i%2].tokens, ann
					if i%10 == 9 {
						who = bob
					}
					if err := svc.Revoke(ctx, who, who.User); err != nil && !errors.Is(err, token.ErrNoToken) {
						errs[i] = err
						return
					}
					_, _, errs[i] = svc.Issue(ctx, who, token.IssueRequest{Name: "churn"})
				})
			}
			close(start)
			wg.Wait()
			ok := map[bool]int{}
			for i, err := range errs {
				switch {
				case err == nil:
					ok[i%10 == 9]++
				case errors.Is(err, token.ErrRegenerateTooSoon), errors.Is(err, token.ErrExists), errors.Is(err, storage.ErrStale):
				default:
					t.Errorf("round %d: unexpected error: %v", round, err)
				}
			}
			assert.Equal(t, 1, ok[false], "round %d: one issuance of ann's within the interval", round)
			assert.Equal(t, 1, ok[true], "round %d: one of bob's, in his own tenant", round)
			for _, s := range []access.Subject{ann, bob} {
				last, err := stores[1].LatestUserToken(ctx, s.Tenant, s.User)
				require.NoError(t, err)
				assert.True(t, last.CreatedAt.Equal(clk.Now().Truncate(time.Microsecond)), "round %d: the latest token is this round's", round)
			}
		}
	})
}
