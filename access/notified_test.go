package access_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/storage/memory"
)

// storeReads counts an engine's reads of a memory store, and runs afterChanges once,
// right after a PolicyChanges read returned: the moment a refresh has read the store
// but not yet installed what it read.
type storeReads struct {
	*memory.Store
	versions, changes, loads atomic.Int64
	mu                       sync.Mutex
	afterChanges             func()
}

func (s *storeReads) PolicyVersion(ctx context.Context, tenant uuid.UUID) (int64, error) {
	s.versions.Add(1)
	return s.Store.PolicyVersion(ctx, tenant)
}

func (s *storeReads) LoadPolicy(ctx context.Context, tenant uuid.UUID) (access.PolicyData, error) {
	s.loads.Add(1)
	return s.Store.LoadPolicy(ctx, tenant)
}

func (s *storeReads) PolicyChanges(ctx context.Context, tenant uuid.UUID, since int64) (access.PolicyChanges, error) {
	s.changes.Add(1)
	ch, err := s.Store.PolicyChanges(ctx, tenant, since)
	s.mu.Lock()
	fn := s.afterChanges
	s.afterChanges = nil
	s.mu.Unlock()
	if fn != nil {
		fn()
	}
	return ch, err
}

// reads is the total of s's reads.
func (s *storeReads) reads() int64 { return s.versions.Load() + s.changes.Load() + s.loads.Load() }

// listeningEngine is an engine over w's store whose (simulated) listener is subscribed
// and confirmed for a minute of clk, with w's tenant loaded.
func listeningEngine(t *testing.T, w *world, clk *testClock) (*access.Engine, *storeReads) {
	t.Helper()
	sr := &storeReads{Store: w.store}
	e := access.NewEngine(sr, access.EngineOptions{Clock: clk.Now, ListenLease: time.Minute})
	e.ListenStarted(clk.Now())
	e.ListenConfirmed(clk.Now())
	require.True(t, e.Listening())
	_, err := e.Policy(context.Background(), w.tenant.ID)
	require.NoError(t, err)
	return e, sr
}

// demote makes the supervisor an agent through another instance's Service (w's) and
// returns the tenant's new policy version, as its notification would carry it.
func demote(t *testing.T, w *world) int64 {
	t.Helper()
	ctx := context.Background()
	_, err := w.svc.SetMember(ctx, w.admin, w.supervisorID, w.roles[access.KindAgent].ID)
	require.NoError(t, err)
	v, err := w.store.PolicyVersion(ctx, w.tenant.ID)
	require.NoError(t, err)
	return v
}

// A forged policy-version notification (any role that may connect to PostgreSQL may
// NOTIFY "<tenant> <huge version>") costs one refresh: the store's read settles the
// announced version, and the following requests make no round trip. A genuine change
// after it is enforced as before.
func TestEngineForgedNotifiedVersionSettles(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	clk := newClock(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	e, sr := listeningEngine(t, w, clk)

	e.Notified(w.tenant.ID, 1<<62)
	before := sr.reads()
	for range 100 {
		p, err := e.Policy(ctx, w.tenant.ID)
		require.NoError(t, err)
		require.True(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil))
	}
	assert.Equal(t, before+1, sr.reads(), "one refresh settles the forged version; then no round trip")
	assert.Equal(t, int64(1), sr.changes.Load())

	e.Notified(w.tenant.ID, demote(t, w))
	p, err := e.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	assert.False(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil), "a genuine change after it is enforced")
	before = sr.reads()
	for range 10 {
		_, err := e.Policy(ctx, w.tenant.ID)
		require.NoError(t, err)
	}
	assert.Equal(t, before, sr.reads())
}

// A version read made while the listener did not vouch (its lease lapsed) settles a
// forged announcement too: once the lease is back, no refresh is made for it.
func TestEngineVersionReadSettlesAForgedVersion(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	clk := newClock(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	e, sr := listeningEngine(t, w, clk)
	e.Notified(w.tenant.ID, 1<<62)
	clk.Add(2 * time.Minute) // the lease lapses
	versions := sr.versions.Load()
	_, err := e.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, versions+1, sr.versions.Load(), "without the lease the version is read")
	e.ListenConfirmed(clk.Now())
	before := sr.reads()
	for range 10 {
		_, err := e.Policy(ctx, w.tenant.ID)
		require.NoError(t, err)
	}
	assert.Equal(t, before, sr.reads(), "the version read settled the forged version")
}

// A genuine change that commits while a refresh reads the store, after the read's
// snapshot, and is announced before the refresh installs what it read, is not
// settled away with a forged version: the next request refreshes again and enforces
// it (fail closed: the read predates the commit, so it says nothing about it).
func TestEngineAnnouncementDuringARefreshIsKept(t *testing.T) {
	for _, forged := range []bool{true, false} {
		name := map[bool]string{true: "after a forged version", false: "alone"}[forged]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			clk := newClock(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
			e, sr := listeningEngine(t, w, clk)
			cur, err := w.store.PolicyVersion(ctx, w.tenant.ID)
			require.NoError(t, err)
			first := cur + 1<<40 // forged: far above any real version
			if !forged {
				// A genuine change of another user, announced: the refresh below
				// reads it, and the demotion commits during that read.
				_, err := w.svc.SetMember(ctx, w.admin, uuid.New(), w.roles[access.KindAgent].ID)
				require.NoError(t, err)
				first, err = w.store.PolicyVersion(ctx, w.tenant.ID)
				require.NoError(t, err)
			}
			e.Notified(w.tenant.ID, first)
			sr.mu.Lock()
			sr.afterChanges = func() { e.Notified(w.tenant.ID, demote(t, w)) }
			sr.mu.Unlock()
			p, err := e.Policy(ctx, w.tenant.ID)
			require.NoError(t, err)
			assert.True(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil),
				"the refresh read the store before the demotion committed")

			p, err = e.Policy(ctx, w.tenant.ID)
			require.NoError(t, err)
			assert.False(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil),
				"the demotion announced during the refresh is enforced by the next request")
			before := sr.reads()
			for range 10 {
				p, err = e.Policy(ctx, w.tenant.ID)
				require.NoError(t, err)
				require.False(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil))
			}
			assert.Equal(t, before, sr.reads(), "and then settled: no round trip")
		})
	}
}
