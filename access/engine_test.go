package access_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/storage"
)

// hooked wraps a store and runs afterVersion once, right after a PolicyVersion read
// returned: the moment an in-flight request has read the version but not yet used it.
type hooked struct {
	access.Store
	mu           sync.Mutex
	afterVersion func()
}

func (h *hooked) PolicyVersion(ctx context.Context, tenant uuid.UUID) (int64, error) {
	v, err := h.Store.PolicyVersion(ctx, tenant)
	h.mu.Lock()
	fn := h.afterVersion
	h.afterVersion = nil
	h.mu.Unlock()
	if fn != nil {
		fn()
	}
	return v, err
}

// A request that read the policy version just before a Service change committed must
// not confirm the cached snapshot over the change's invalidation: with MaxStaleness > 0
// the demoted user would otherwise keep their rights for up to MaxStaleness on the
// instance that made the change (review issue #14, item 5).
func TestEngineInvalidationWinsOverInFlightCheck(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	clk := newClock(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	h := &hooked{Store: w.store}
	e := access.NewEngine(h, access.EngineOptions{MaxStaleness: time.Minute, Clock: clk.Now})
	svc := access.NewService(h, e, access.ServiceOptions{})
	p, err := e.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	require.True(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil))

	// Let the cached confirmation expire, so that the next call reads the version; the
	// demotion commits (and invalidates) between that read and its confirmation.
	clk.Add(2 * time.Minute)
	h.mu.Lock()
	h.afterVersion = func() {
		_, err := svc.SetMember(ctx, w.admin, w.supervisorID, w.roles[access.KindAgent].ID)
		require.NoError(t, err)
	}
	h.mu.Unlock()
	p, err = e.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	require.True(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil),
		"the in-flight request decides on the version it read")

	p, err = e.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	assert.False(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil),
		"the next request sees the demotion, although MaxStaleness has not passed")
}

// sameDecisions checks that p decides as a fresh Compile of the store's data for users
// and projects, for every right.
func sameDecisions(t *testing.T, w *world, p *access.Policy, users, projects []uuid.UUID, when string) {
	t.Helper()
	d, err := w.store.LoadPolicy(context.Background(), w.tenant.ID)
	require.NoError(t, err)
	want := access.Compile(d)
	require.Equal(t, want.Version(), p.Version(), when)
	for _, u := range users {
		s := access.Subject{Tenant: w.tenant.ID, User: u}
		for _, ri := range access.Rights() {
			for _, pr := range append(projects, uuid.Nil) {
				if want.Check(s, ri.Right, pr) != p.Check(s, ri.Right, pr) {
					t.Fatalf("%s: Check(%s, %s, %s): fresh %v, engine %v", when, u, ri.Right, pr, want.Check(s, ri.Right, pr), p.Check(s, ri.Right, pr))
				}
			}
		}
		require.Equal(t, want.Projects(u), p.Projects(u), "%s: projects of %s", when, u)
	}
}

// Overlays are folded into a new member table in the background while changes go on;
// the policy decides as a fresh compile before, during and after every compaction
// (including those that finish after further changes and are rebased onto them).
func TestEngineCompactsWhileChangesGoOn(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	e := access.NewEngine(w.store, access.EngineOptions{})
	access.SetCompactMin(e, 3)
	svc := access.NewService(w.store, e, access.ServiceOptions{})
	sys := access.System(w.tenant.ID)
	var projects []uuid.UUID
	for _, name := range []string{"Sales", "Support"} {
		p, err := svc.CreateProject(ctx, sys, name)
		require.NoError(t, err)
		projects = append(projects, p.ID)
	}
	users := []uuid.UUID{w.adminID, w.supervisorID, w.agentID}
	for range 6 {
		users = append(users, uuid.New())
	}
	roles := []uuid.UUID{w.roles[access.KindAgent].ID, w.roles[access.KindSupervisor].ID}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for step := range 300 {
		u := users[3+r.IntN(len(users)-3)]
		var err error
		switch r.IntN(4) {
		case 0, 1:
			_, err = svc.SetMember(ctx, sys, u, roles[r.IntN(2)])
		case 2:
			_, err = svc.AddProjectMember(ctx, sys, projects[r.IntN(2)], u, uuid.Nil)
		default:
			err = svc.RemoveMember(ctx, sys, u)
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			require.NoError(t, err)
		}
		p, err := e.Policy(ctx, w.tenant.ID)
		require.NoError(t, err)
		sameDecisions(t, w, p, users, projects, fmt.Sprintf("step %d", step))
	}
	access.WaitCompactions(e)
	st := e.Stats()
	assert.Positive(t, st.Compactions, "overlays were compacted")
	assert.Equal(t, int64(1), st.Loads, "one full load: the cold start")
	p, err := e.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	sameDecisions(t, w, p, users, projects, "after the compactions")
}

// Beyond MaxBytes the least recently used tenants' policies are evicted (the one just
// loaded stays); an evicted tenant is loaded again on its next request.
func TestEngineEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	clk := newClock(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	clock := clk.Now
	tick := func() { clk.Add(2 * time.Second) }
	probe := access.NewEngine(w.store, access.EngineOptions{})
	p, err := probe.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	one := access.PolicyBytes(p)

	var tenants []uuid.UUID
	for i := range 3 {
		tn, err := w.svc.CreateTenant(ctx, fmt.Sprintf("Tenant %d", i))
		require.NoError(t, err)
		roles, err := w.store.Roles(ctx, tn.ID)
		require.NoError(t, err)
		_, err = w.svc.SetMember(ctx, access.System(tn.ID), uuid.New(), roles[0].ID) // its Admin
		require.NoError(t, err)
		tenants = append(tenants, tn.ID)
	}
	e := access.NewEngine(w.store, access.EngineOptions{Clock: clock, MaxBytes: 2*one + one/2})
	for _, tn := range tenants[:2] {
		_, err := e.Policy(ctx, tn)
		require.NoError(t, err)
		tick()
	}
	_, err = e.Policy(ctx, tenants[0]) // tenant 0 used again: tenant 1 is now the oldest
	require.NoError(t, err)
	tick()
	_, err = e.Policy(ctx, tenants[2])
	require.NoError(t, err)
	st := e.Stats()
	assert.Equal(t, int64(1), st.Evictions)
	assert.Equal(t, 2, st.Tenants)
	assert.LessOrEqual(t, st.Bytes, 2*one+one/2)

	loads := e.Loads()
	_, err = e.Policy(ctx, tenants[0])
	require.NoError(t, err)
	assert.Equal(t, loads, e.Loads(), "the recently used tenant stayed")
	p, err = e.Policy(ctx, tenants[1])
	require.NoError(t, err)
	assert.Equal(t, loads+1, e.Loads(), "the evicted tenant is loaded again")
	assert.Equal(t, tenants[1], p.Tenant())
}

// A listener's confirmation never vouches for more than ListenLease from the engine's
// now: a heartbeat stamped in the future (forged, or sent before the clock stepped
// back) is ignored, and a lease left more than ListenLease ahead by a backward step
// of the clock is not trusted until a later heartbeat replaces it.
func TestEngineLeaseNeverReachesPastListenLease(t *testing.T) {
	clk := newClock(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	clock, set := clk.Now, clk.Set
	e := access.NewEngine(nil, access.EngineOptions{Clock: clock, ListenLease: time.Second})
	e.ListenStarted(clock())

	e.ListenConfirmed(clock().Add(time.Hour))
	assert.False(t, e.Listening(), "a heartbeat from the future vouches for nothing")
	e.ListenConfirmed(clock())
	assert.True(t, e.Listening())

	start := clock()
	set(start.Add(-time.Hour)) // the wall clock steps back an hour
	assert.False(t, e.Listening(), "a lease an hour ahead is not trusted")
	e.ListenConfirmed(clock())
	assert.True(t, e.Listening(), "a heartbeat sent after the step")
	set(clock().Add(2 * time.Second))
	assert.False(t, e.Listening(), "and its lease ends on time")
}

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
