package pglisten_test

import (
	"context"
	"database/sql"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/internal/pgtest"
	"github.com/callshield/callshield/storage/pglisten"
	"github.com/callshield/callshield/storage/sqlstore"
)

// newStores returns n migrated PostgreSQL stores on one fresh schema, each over its own
// handle (as n app instances would have), with their handles.
func newStores(t testing.TB, n int) ([]*sqlstore.Store, []*sql.DB) {
	t.Helper()
	dbs := pgtest.Handles(t, n)
	var out []*sqlstore.Store
	for _, db := range dbs {
		s, err := sqlstore.New(db, sqlstore.Postgres, sqlstore.Options{})
		require.NoError(t, err)
		require.NoError(t, s.Migrate(context.Background()))
		out = append(out, s)
	}
	return out, dbs
}

// versionCounter counts the policy version reads an engine makes.
type versionCounter struct {
	*sqlstore.Store
	reads atomic.Int64
}

func (c *versionCounter) PolicyVersion(ctx context.Context, tenant uuid.UUID) (int64, error) {
	c.reads.Add(1)
	return c.Store.PolicyVersion(ctx, tenant)
}

// refreshCounter counts every read an engine makes of its store: version reads and
// the refreshes' change and full reads.
type refreshCounter struct {
	versionCounter
	changes, loads atomic.Int64
}

func (c *refreshCounter) PolicyChanges(ctx context.Context, tenant uuid.UUID, since int64) (access.PolicyChanges, error) {
	c.changes.Add(1)
	return c.Store.PolicyChanges(ctx, tenant, since)
}

func (c *refreshCounter) LoadPolicy(ctx context.Context, tenant uuid.UUID) (access.PolicyData, error) {
	c.loads.Add(1)
	return c.Store.LoadPolicy(ctx, tenant)
}

// refreshes is how many refresh reads (changes and full loads) c has counted.
func (c *refreshCounter) refreshes() int64 { return c.changes.Load() + c.loads.Load() }

// eventually spins (no sleep) until cond holds, failing after d of real time.
func eventually(t testing.TB, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		runtime.Gosched()
	}
}

// provision creates a tenant through instance s with an Admin and an agent, and returns
// the tenant, the agent's ID and the Agent and Supervisor role IDs.
func provision(t *testing.T, s *sqlstore.Store) (tenant, agent, agentRole, supervisorRole uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	svc := access.NewService(s, access.NewEngine(s, access.EngineOptions{}), access.ServiceOptions{})
	tn, err := svc.CreateTenant(ctx, "Two instances")
	require.NoError(t, err)
	roles, err := s.Roles(ctx, tn.ID)
	require.NoError(t, err)
	for _, r := range roles {
		switch r.Kind {
		case access.KindAgent:
			agentRole = r.ID
		case access.KindSupervisor:
			supervisorRole = r.ID
		}
	}
	sys := access.System(tn.ID)
	_, err = svc.SetMember(ctx, sys, uuid.New(), roles[0].ID)
	require.NoError(t, err)
	agent = uuid.New()
	_, err = svc.SetMember(ctx, sys, agent, agentRole)
	require.NoError(t, err)
	return tn.ID, agent, agentRole, supervisorRole
}

// Two app instances on one PostgreSQL database: changes committed on A are enforced on
// B through the notification, with no version read on B while its listener is
// healthy. The commit→enforcement delay is measured over 100 changes; the bound it
// must keep is B's ListenLease (a lagging listener falls back to version reads then).
func TestTwoInstances(t *testing.T) {
	stores, dbs := newStores(t, 2)
	a, b := stores[0], stores[1]
	ctx := context.Background()
	tenant, agent, agentRole, supervisorRole := provision(t, a)
	svcA := access.NewService(a, access.NewEngine(a, access.EngineOptions{}), access.ServiceOptions{})

	counter := &versionCounter{Store: b}
	// A one-second lease: under CI load (the race detector on 2 shared cores) a
	// heartbeat can be late by more than the default 250 ms, and the engine then reads
	// versions, as it must; the test is about the notifications, not the lapses.
	engB := access.NewEngine(counter, access.EngineOptions{ListenLease: time.Second})
	l, err := pglisten.New(dbs[1], engB, pglisten.Options{})
	require.NoError(t, err)
	run(t, l)
	eventually(t, 10*time.Second, engB.Listening, "the listener confirms its subscription")

	s := access.Subject{Tenant: tenant, User: agent}
	_, err = engB.Policy(ctx, tenant) // cold load, confirmed after the subscription
	require.NoError(t, err)
	reads := counter.reads.Load()
	var lat []time.Duration
	for i := range 100 {
		role := supervisorRole
		if i%2 == 1 {
			role = agentRole
		}
		_, err := svcA.SetMember(ctx, access.System(tenant), agent, role)
		require.NoError(t, err)
		committed := time.Now()
		want := role == supervisorRole // Supervisors view reports, agents do not
		eventually(t, 5*time.Second, func() bool {
			p, err := engB.Policy(ctx, tenant)
			return err == nil && p.Check(s, access.ViewReports, uuid.Nil) == want
		}, "instance B enforces instance A's change")
		lat = append(lat, time.Since(committed))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("commit on A → enforcement on B over %d changes: p50 %v, p99 %v, max %v (bound: ListenLease %v)",
		len(lat), p50, p99, lat[len(lat)-1], engB.ListenLease())
	assert.LessOrEqual(t, p99, engB.ListenLease(), "p99 of commit → enforcement")
	// Healthy all along, B reads no version; a heartbeat that came back late makes it
	// read one until the next one (fail safe), which a loaded machine may cause rarely.
	assert.LessOrEqual(t, counter.reads.Load()-reads, int64(3), "version reads while the listener is up")
	st := engB.Stats()
	assert.GreaterOrEqual(t, st.Refreshes, int64(90), "the changes were applied incrementally")
	assert.Equal(t, int64(1), st.Loads, "one full load: the cold start")
}

// run starts l and returns a function that stops it and waits for it to return; the
// test's cleanup calls it too.
func run(t testing.TB, l *pglisten.Listener) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = l.Run(ctx) })
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// manualClock is an engine clock moved by the test.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// The listener fails safe: when its heartbeats stop coming back (a stuck connection, a
// lagging queue) the engine reads versions again once ListenLease has passed, and the
// moment the listener stops or its connection is killed, at once.
func TestFailsSafe(t *testing.T) {
	stores, dbs := newStores(t, 1)
	s := stores[0]
	ctx := context.Background()
	tenant, _, _, _ := provision(t, s)
	clk := &manualClock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	counter := &versionCounter{Store: s}
	e := access.NewEngine(counter, access.EngineOptions{Clock: clk.Now, ListenLease: time.Second})
	beats := make(chan time.Time)
	l, err := pglisten.New(dbs[0], e, pglisten.Options{
		After: func(time.Duration) <-chan time.Time { return beats }, // heartbeats and retries wait for the test
	})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = l.Run(runCtx) })
	defer wg.Wait()
	defer stop()
	eventually(t, 10*time.Second, e.Listening, "the first heartbeat comes back")

	_, err = e.Policy(ctx, tenant)
	require.NoError(t, err)
	reads := counter.reads.Load()
	_, err = e.Policy(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, reads, counter.reads.Load(), "healthy: no version read")

	// No heartbeat for a whole lease: the engine no longer trusts the cache.
	clk.Add(time.Second)
	assert.False(t, e.Listening())
	_, err = e.Policy(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, reads+1, counter.reads.Load(), "a lagging listener: the version is read")

	beats <- time.Time{} // the next heartbeat goes out and comes back
	eventually(t, 10*time.Second, e.Listening, "a heartbeat renews the lease")

	// The listener's connection is killed: the engine stops trusting at once.
	_, err = pgtest.DB(t).ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "+
		"WHERE datname = current_database() AND query = 'LISTEN "+pglisten.PolicyChannel+"' AND pid <> pg_backend_pid()")
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool { return !e.Listening() }, "a lost connection stops the trust")
	before := counter.reads.Load()
	_, err = e.Policy(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, before+1, counter.reads.Load(), "without the listener the version is read")

	// Let the retry wait end (and the new subscription's heartbeat go out).
	done := make(chan struct{})
	go func() {
		for {
			select {
			case beats <- time.Time{}:
			case <-done:
				return
			}
		}
	}()
	eventually(t, 10*time.Second, e.Listening, "the listener reconnects")
	close(done)
	stop()
	wg.Wait()
	assert.False(t, e.Listening(), "a stopped listener vouches for nothing")
}

// A forged policy-version notification does not stick. Any role that may connect
// NOTIFYs '<tenant> <huge version>' (here from another schema's connection); the
// next request refreshes once, the store's read settles the version, and requests
// make no round trip after it (before, every request of the tenant read the change
// log until a restart). A genuine change committed after it on another instance is
// still enforced.
func TestForgedPolicyVersionDoesNotStick(t *testing.T) {
	stores, dbs := newStores(t, 2)
	a, b := stores[0], stores[1]
	ctx := context.Background()
	tenant, agent, _, supervisorRole := provision(t, a)
	svcA := access.NewService(a, access.NewEngine(a, access.EngineOptions{}), access.ServiceOptions{})
	counter := &refreshCounter{versionCounter: versionCounter{Store: b}}
	// A clock that stands still: the heartbeats' lease never lapses, so that every
	// read counted below is one the notifications caused.
	clk := &manualClock{t: time.Now()}
	engB := access.NewEngine(counter, access.EngineOptions{Clock: clk.Now, ListenLease: time.Second})
	l, err := pglisten.New(dbs[1], engB, pglisten.Options{})
	require.NoError(t, err)
	run(t, l)
	eventually(t, 10*time.Second, engB.Listening, "the listener confirms its subscription")
	_, err = engB.Policy(ctx, tenant)
	require.NoError(t, err)
	s := access.Subject{Tenant: tenant, User: agent}

	before := counter.refreshes()
	_, err = pgtest.DB(t).ExecContext(ctx, "SELECT pg_notify($1, $2)", pglisten.PolicyChannel,
		tenant.String()+" "+strconv.FormatInt(1<<62, 10))
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool {
		_, err := engB.Policy(ctx, tenant)
		return err == nil && counter.refreshes() > before
	}, "the forged version makes a request refresh")
	assert.Equal(t, before+1, counter.refreshes(), "one refresh")

	versions, refreshes := counter.reads.Load(), counter.refreshes()
	for range 200 {
		p, err := engB.Policy(ctx, tenant)
		require.NoError(t, err)
		require.False(t, p.Check(s, access.ViewReports, uuid.Nil))
	}
	assert.Equal(t, refreshes, counter.refreshes(), "the store's read settled the forged version: no refresh since")
	assert.Equal(t, versions, counter.reads.Load(), "nor a version read")

	_, err = svcA.SetMember(ctx, access.System(tenant), agent, supervisorRole)
	require.NoError(t, err)
	eventually(t, 5*time.Second, func() bool {
		p, err := engB.Policy(ctx, tenant)
		return err == nil && p.Check(s, access.ViewReports, uuid.Nil)
	}, "a genuine change after the forged version is enforced")
	refreshes = counter.refreshes()
	for range 100 {
		p, err := engB.Policy(ctx, tenant)
		require.NoError(t, err)
		require.True(t, p.Check(s, access.ViewReports, uuid.Nil))
	}
	assert.Equal(t, refreshes, counter.refreshes(), "and then no round trip either")
	assert.Equal(t, versions, counter.reads.Load(), "no version read all along")
}

func TestNewNeedsADatabaseAndAnEngine(t *testing.T) {
	_, err := pglisten.New(nil, access.NewEngine(nil, access.EngineOptions{}), pglisten.Options{})
	assert.Error(t, err)
}
