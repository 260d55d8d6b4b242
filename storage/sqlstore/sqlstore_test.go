package sqlstore_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// createTenant stores a tenant with an Agent role and returns both.
func createTenant(t *testing.T, s *sqlstore.Store, evs events) (access.Tenant, access.Role) {
	t.Helper()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tn := access.Tenant{ID: uuid.Must(uuid.NewV7()), Name: "Acme", CreatedAt: now, UpdatedAt: now}
	agent := access.Role{ID: uuid.Must(uuid.NewV7()), Tenant: tn.ID, Name: "Agent", Kind: access.KindAgent,
		Rights: []string{"profile.edit"}, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, s.CreateTenant(context.Background(), tn, []access.Role{agent}, evs.ev(tn.ID, "tenant.create")))
	return tn, agent
}

func TestConcurrentAppendFromSeveralInstances(t *testing.T) {
	// Two app instances (two *sql.DB pools) append to one tenant at once: the chain
	// head lock keeps one gap-free chain whose every link verifies.
	const instances, goroutines, perGoroutine = 2, 8, 5
	chain := audit.Chain{Key: []byte("a key the database never sees")}
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		stores := newStores(t, d, instances, sqlstore.Options{Chain: chain})
		evs := newEvents(t, newClock())
		tenant, other := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())

		batches := make([][]audit.Event, instances*goroutines)
		for i := range batches {
			for j := range perGoroutine {
				batches[i] = append(batches[i], evs.ev(tenant, "call.listen"))
				if j == 0 && i%2 == 0 {
					// Some batches span two tenants, taking both heads.
					batches[i] = append(batches[i], evs.ev(other, "call.listen"))
				}
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, len(batches))
		start := make(chan struct{})
		for i := range batches {
			s := stores[i%instances]
			wg.Go(func() {
				<-start
				for _, e := range batches[i] {
					if errs[i] = s.Append(context.Background(), e); errs[i] != nil {
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "goroutine %d", i)
		}

		got := allEvents(t, stores[0], tenant)
		require.Len(t, got, instances*goroutines*perGoroutine)
		assert.Zero(t, verifyChain(chain, got), "first broken link")
		gotOther := allEvents(t, stores[1], other)
		require.Len(t, gotOther, instances*goroutines/2)
		assert.Zero(t, verifyChain(chain, gotOther), "first broken link of the other tenant")
		assert.NotZero(t, verifyChain(audit.Chain{}, got), "the links are keyed with Options.Chain")
	})
}

func TestConcurrentMutationsFromSeveralInstances(t *testing.T) {
	// Access mutations of one tenant through two handles: each bumps the policy version
	// exactly once and appends its event into the one chain.
	const instances, goroutines = 2, 6
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		stores := newStores(t, d, instances, sqlstore.Options{})
		evs := newEvents(t, newClock())
		tn, agent := createTenant(t, stores[0], evs)
		v0, err := stores[0].PolicyVersion(ctx, tn.ID)
		require.NoError(t, err)

		var wg sync.WaitGroup
		errs := make([]error, instances*goroutines)
		for i := range errs {
			s := stores[i%instances]
			m := access.Member{Tenant: tn.ID, User: uuid.New(), Role: agent.ID}
			ev := evs.ev(tn.ID, "member.set")
			wg.Go(func() { errs[i] = s.SetMember(ctx, m, ev) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "goroutine %d", i)
		}
		v, err := stores[1].PolicyVersion(ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, v0+instances*goroutines, v)
		got := allEvents(t, stores[1], tn.ID)
		assert.Len(t, got, 1+instances*goroutines)
		assert.Zero(t, verifyChain(audit.Chain{}, got))
	})
}

func TestLoadPolicyIsOneSnapshot(t *testing.T) {
	// While members are added, every LoadPolicy must see a policy version and a member
	// list of the same moment: each SetMember adds one member and one version.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		stores := newStores(t, d, 2, sqlstore.Options{})
		evs := newEvents(t, newClock())
		tn, agent := createTenant(t, stores[0], evs)
		v0, err := stores[0].PolicyVersion(ctx, tn.ID)
		require.NoError(t, err)

		const adds = 30
		done := make(chan error, 1)
		go func() {
			for range adds {
				m := access.Member{Tenant: tn.ID, User: uuid.New(), Role: agent.ID}
				if err := stores[0].SetMember(ctx, m, evs.ev(tn.ID, "member.set")); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		check := func(read int) int {
			pd, err := stores[1].LoadPolicy(ctx, tn.ID)
			require.NoError(t, err)
			require.Equal(t, v0+int64(len(pd.Members)), pd.Version, "read %d: version and members disagree", read)
			return len(pd.Members)
		}
		for read := 0; ; read++ {
			select {
			case err := <-done:
				require.NoError(t, err)
				assert.Equal(t, adds, check(read))
				return
			default:
				check(read)
			}
		}
	})
}

func TestEventRoundTrip(t *testing.T) {
	// Every field comes back exactly as the chain hashed it, including addresses whose
	// text form is easy to lose (an IPv6 zone, an IPv4-mapped address) and text with
	// characters JSON escapes.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		s := newStore(t, d)
		evs := newEvents(t, newClock())
		tenant := uuid.Must(uuid.NewV7())
		var in []audit.Event
		for _, ip := range []string{"fe80::1%eth0", "::ffff:192.0.2.1", "192.0.2.1", "2001:db8::1", ""} {
			e := evs.ev(tenant, "login")
			if ip != "" {
				e.Actor.IP = netip.MustParseAddr(ip)
			}
			e.Actor.User, e.Actor.Session, e.Actor.Token, e.Project = uuid.New(), uuid.New(), uuid.New(), uuid.New()
			e.Actor.Role, e.Actor.UserAgent = `Ag"ent <b>&`, "Mozilla/5.0 \u2028"
			e.Target = audit.Target{Type: "user", ID: "42", Name: "Zoë 🚀"}
			e.Reason = "wrong_password"
			e.Changes = []audit.Change{{Field: "name", Old: "a", New: `b\"`}, audit.Secret("password")}
			e.Details = map[string]string{"url": "/x?y=<z>&w", "empty": ""}
			in = append(in, e)
		}
		require.NoError(t, s.Append(ctx, in...))
		for i := range in {
			assert.Zero(t, in[i].Seq, "Append must not write into the caller's events")
		}
		got := allEvents(t, s, tenant)
		require.Len(t, got, len(in))
		assert.Zero(t, verifyChain(audit.Chain{}, got))
		for i := range in {
			want := in[i]
			want.Seq, want.PrevHash, want.Hash = got[i].Seq, got[i].PrevHash, got[i].Hash
			assert.Equal(t, want, got[i], "event %d", i)
			assert.Equal(t, time.UTC, got[i].Time.Location())
		}
		assert.Nil(t, got[0].PrevHash, "the first link has no PrevHash")
	})
}

func TestEventsTimeBoundsBelowAMicrosecond(t *testing.T) {
	// Stored times have microsecond precision; a bound between two microseconds still
	// means exactly what audit.Query.Match says.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		s := newStore(t, d)
		evs := newEvents(t, newClock())
		tenant := uuid.Must(uuid.NewV7())
		e := evs.ev(tenant, "login")
		require.NoError(t, s.Append(ctx, e))
		for _, c := range []struct {
			q    audit.Query
			want int
		}{
			{audit.Query{From: e.Time}, 1},
			{audit.Query{From: e.Time.Add(time.Nanosecond)}, 0},
			{audit.Query{From: e.Time.Add(-time.Nanosecond)}, 1},
			{audit.Query{To: e.Time}, 0},
			{audit.Query{To: e.Time.Add(time.Nanosecond)}, 1},
			{audit.Query{To: e.Time.Add(-time.Nanosecond)}, 0},
		} {
			got, err := s.Events(ctx, tenant, c.q)
			require.NoError(t, err)
			assert.Len(t, got, c.want, "From %v To %v", c.q.From, c.q.To)
			want, stored := 0, e
			stored.Seq = 1 // Match checks the cursor too
			if c.q.Match(&stored) {
				want = 1
			}
			assert.Equal(t, want, c.want, "the case agrees with Query.Match")
		}
	})
}

func TestAppendRefusesEventsItCannotStoreExactly(t *testing.T) {
	// The chain hashes the Go values, so a value a database would alter must not get
	// in: it would later read back as tampering. Nothing of the batch is stored.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		s := newStore(t, d)
		evs := newEvents(t, newClock())
		tenant := uuid.Must(uuid.NewV7())
		bad := map[string]func(e *audit.Event){
			"invalid UTF-8":     func(e *audit.Event) { e.Target.Name = "a\xffb" },
			"NUL byte":          func(e *audit.Event) { e.Reason = "a\x00b" },
			"NUL in a change":   func(e *audit.Event) { e.Changes = []audit.Change{{Field: "x", New: "\x00"}} },
			"bad detail value":  func(e *audit.Event) { e.Details = map[string]string{"k": "\xc0"} },
			"no ID":             func(e *audit.Event) { e.ID = uuid.Nil },
			"no time":           func(e *audit.Event) { e.Time = time.Time{} },
			"invalid (no kind)": func(e *audit.Event) { e.Kind = "" },
		}
		for name, mutate := range bad {
			e := evs.ev(tenant, "login")
			mutate(&e)
			err := s.Append(ctx, evs.ev(tenant, "login"), e)
			assert.ErrorIs(t, err, audit.ErrInvalidEvent, name)
		}
		got, err := s.Events(ctx, tenant, audit.Query{})
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}

func TestRowEditedInSQLIsReadBack(t *testing.T) {
	// Tampering with a stored event behind the store's back shows in what Events
	// returns, so that verification (audit.Chain) finds the broken link.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		s := newStore(t, d)
		evs := newEvents(t, newClock())
		tenant := uuid.Must(uuid.NewV7())
		for range 3 {
			e := evs.ev(tenant, "role.update")
			e.Target.Name = "Dispatch"
			require.NoError(t, s.Append(ctx, e))
		}
		require.Zero(t, verifyChain(audit.Chain{}, allEvents(t, s, tenant)))

		res, err := sqlstore.DBForTest(s).ExecContext(ctx,
			"UPDATE cs_audit_events SET target_name = 'Admin' WHERE tenant_id = $1 AND seq = 2", tenant)
		require.NoError(t, err)
		n, err := res.RowsAffected()
		require.NoError(t, err)
		require.Equal(t, int64(1), n)

		got := allEvents(t, s, tenant)
		assert.Equal(t, "Admin", got[1].Target.Name)
		assert.Equal(t, int64(2), verifyChain(audit.Chain{}, got), "the edited event is the first broken link")
	})
}

func TestUndecodableRowIsAnError(t *testing.T) {
	// A value no adapter would have written is reported, naming the row, rather than
	// read as some default.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		s := newStore(t, d)
		evs := newEvents(t, newClock())
		tenant := uuid.Must(uuid.NewV7())
		require.NoError(t, s.Append(ctx, evs.ev(tenant, "login")))
		_, err := sqlstore.DBForTest(s).ExecContext(ctx,
			"UPDATE cs_audit_events SET actor_ip = 'not an address' WHERE tenant_id = $1", tenant)
		require.NoError(t, err)
		_, err = s.Events(ctx, tenant, audit.Query{})
		assert.ErrorIs(t, err, sqlstore.ErrCorrupt)
	})
}

func TestSchemaKeepsTenantsApart(t *testing.T) {
	// Below the store's own checks, the composite foreign keys refuse a row of one
	// tenant that points at another tenant's parent, even when written in raw SQL.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		s := newStore(t, d)
		evs := newEvents(t, newClock())
		a, roleA := createTenant(t, s, evs)
		b, _ := createTenant(t, s, evs)
		db := sqlstore.DBForTest(s)
		now := map[sqlstore.Dialect]string{sqlstore.SQLite: "0", sqlstore.Postgres: "now()"}[d]

		_, err := db.ExecContext(ctx, "INSERT INTO cs_members (tenant_id, user_id, role_id, created_at, updated_at) "+
			"VALUES ($1, $2, $3, "+now+", "+now+")", b.ID, uuid.New(), roleA.ID)
		assert.Error(t, err, "a member of B holding A's role")

		p := access.Project{ID: uuid.New(), Tenant: a.ID, Name: "Sales"}
		require.NoError(t, s.CreateProject(ctx, p, evs.ev(a.ID, "project.create")))
		m := access.Member{Tenant: b.ID, User: uuid.New(), Role: mustRoleOf(t, s, b.ID)}
		require.NoError(t, s.SetMember(ctx, m, evs.ev(b.ID, "member.set")))
		_, err = db.ExecContext(ctx, "INSERT INTO cs_project_members (tenant_id, project_id, user_id, created_at) "+
			"VALUES ($1, $2, $3, "+now+")", b.ID, p.ID, m.User)
		assert.Error(t, err, "a project membership of B in A's project")
		_, err = db.ExecContext(ctx, "INSERT INTO cs_project_members (tenant_id, project_id, user_id, created_at) "+
			"VALUES ($1, $2, $3, "+now+")", a.ID, p.ID, m.User)
		assert.Error(t, err, "a project membership in A of B's member")
	})
}

func mustRoleOf(t *testing.T, s *sqlstore.Store, tenant uuid.UUID) uuid.UUID {
	t.Helper()
	roles, err := s.Roles(context.Background(), tenant)
	require.NoError(t, err)
	require.NotEmpty(t, roles)
	return roles[0].ID
}

func TestConstraintErrorsKeepTheDriverError(t *testing.T) {
	// A conflict is storage.ErrConflict for callers, and the driver's error stays in
	// the chain for logs.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		s := newStore(t, d)
		evs := newEvents(t, newClock())
		tn, agent := createTenant(t, s, evs)
		dup := agent
		dup.ID = uuid.New()
		err := s.CreateRole(ctx, dup, evs.ev(tn.ID, "role.create"))
		require.ErrorIs(t, err, storage.ErrConflict)
		assert.Contains(t, err.Error(), "cs_roles", "the driver's message names the table or constraint")
		assert.NotErrorIs(t, err, storage.ErrNotFound)
	})
}

func TestContextCancelledWhileWaitingToWrite(t *testing.T) {
	// A write waiting for its turn gives up when its context ends.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		s := newStore(t, d)
		evs := newEvents(t, newClock())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := s.Append(ctx, evs.ev(uuid.New(), "login"))
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func ExampleSQLiteDSN() {
	fmt.Println(sqlstore.SQLiteDSN("/var/lib/callshield/callshield.db"))
	// Output:
	// file:/var/lib/callshield/callshield.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate
}
