package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cases of authn.ThrottleStore: the counting rules of HitThrottle, atomicity under
// concurrency, reset (with and without an event), cleanup and tenant isolation.

var throttleAt = at(5 * time.Hour)

func throttleHit(key string) authn.ThrottleHit {
	return authn.ThrottleHit{Key: key, Threshold: 3, Window: 10 * time.Minute, Lock: 15 * time.Minute}
}

func (f *fx) hit(tenant uuid.UUID, key string, now time.Time) authn.ThrottleState {
	f.t.Helper()
	sts, err := f.s.Authn.HitThrottle(f.ctx, tenant, []authn.ThrottleHit{throttleHit(key)}, now)
	require.NoError(f.t, err)
	require.Len(f.t, sts, 1)
	return sts[0]
}

var throttleCases = []testCase{
	{"counts, locks at the threshold, never extends a lock, and starts again after it", func(t *testing.T, f *fx) {
		tn := f.createTenant("Throttle")
		st := f.hit(tn.ID, "a1:ann", throttleAt)
		assert.Equal(t, 1, st.Count)
		assertTime(t, throttleAt.Add(10*time.Minute), st.ExpiresAt, "ExpiresAt")
		assert.False(t, st.Locked(throttleAt))
		st = f.hit(tn.ID, "a1:ann", throttleAt.Add(time.Minute))
		assert.Equal(t, 2, st.Count)
		assertTime(t, throttleAt.Add(11*time.Minute), st.ExpiresAt, "an unlocked count lasts Window after its last failure")
		lockedAt := throttleAt.Add(2 * time.Minute)
		st = f.hit(tn.ID, "a1:ann", lockedAt)
		assert.Equal(t, 3, st.Count)
		assert.True(t, st.Locked(lockedAt), "locked at the threshold")
		assertTime(t, lockedAt, st.LockedAt, "LockedAt")
		assertTime(t, lockedAt.Add(15*time.Minute), st.ExpiresAt, "ExpiresAt")
		st = f.hit(tn.ID, "a1:ann", lockedAt.Add(14*time.Minute))
		assert.Equal(t, 4, st.Count, "failures during a lock are counted")
		assertTime(t, lockedAt.Add(15*time.Minute), st.ExpiresAt, "but do not extend it")
		assertTime(t, throttleAt, st.FirstAt, "FirstAt")
		sts, err := f.s.Authn.ThrottleStates(f.ctx, tn.ID, []string{"a1:ann", "a1:nobody"})
		require.NoError(t, err)
		assert.Equal(t, 4, sts[0].Count)
		assert.True(t, sts[0].Locked(lockedAt.Add(14*time.Minute)))
		assert.False(t, sts[0].Locked(lockedAt.Add(15*time.Minute)), "the lock lifts by itself")
		assert.Equal(t, authn.ThrottleState{Key: "a1:nobody"}, sts[1], "a key without a counter")
		st = f.hit(tn.ID, "a1:ann", lockedAt.Add(15*time.Minute))
		assert.Equal(t, 1, st.Count, "after the lock the count starts again")
		assert.True(t, st.LockedAt.IsZero())
		st = f.hit(tn.ID, "a1:ann", lockedAt.Add(40*time.Minute))
		assert.Equal(t, 1, st.Count, "an unlocked count expired after Window")
	}},
	{"100 concurrent failures are counted exactly", func(t *testing.T, f *fx) {
		tn := f.createTenant("Throttle race")
		var wg sync.WaitGroup
		counts := make(chan int, 100)
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := throttleHit("a1:race")
				h.Threshold = 1000
				sts, err := f.s.Authn.HitThrottle(f.ctx, tn.ID, []authn.ThrottleHit{h, throttleHit("n1:net")}, throttleAt)
				if assert.NoError(t, err) {
					counts <- sts[0].Count
				}
			}()
		}
		wg.Wait()
		close(counts)
		seen := map[int]bool{}
		for c := range counts {
			assert.False(t, seen[c], "count %d returned twice: the read is not atomic with the increment", c)
			seen[c] = true
		}
		assert.Len(t, seen, 100)
		sts, err := f.s.Authn.ThrottleStates(f.ctx, tn.ID, []string{"a1:race", "n1:net"})
		require.NoError(t, err)
		assert.Equal(t, 100, sts[0].Count)
		assert.Equal(t, 100, sts[1].Count)
	}},
	{"reset deletes keys and prefixes, with its event when given", func(t *testing.T, f *fx) {
		tn := f.createTenant("Throttle reset")
		for _, k := range []string{"a1:ann", "a2:ann", "p1:ann@198.51.100.1", "p1:ann@2001:db8::", "p1:bob@198.51.100.1", "n1:net"} {
			f.hit(tn.ID, k, throttleAt)
		}
		before := len(f.allEvents(tn.ID))
		require.NoError(t, f.s.Authn.ResetThrottle(f.ctx, tn.ID, []string{"a1:ann"}, nil, nil))
		assert.Len(t, f.allEvents(tn.ID), before, "no event for a reset after a success")
		ev := changeEvent(t, tn.ID, "user.unlock")
		require.NoError(t, f.s.Authn.ResetThrottle(f.ctx, tn.ID, []string{"a2:ann"}, []string{"p1:ann@"}, &ev))
		evs := f.allEvents(tn.ID)
		require.Len(t, evs, before+1)
		assert.Equal(t, "user.unlock", evs[len(evs)-1].Action)
		sts, err := f.s.Authn.ThrottleStates(f.ctx, tn.ID, []string{"a1:ann", "a2:ann", "p1:ann@198.51.100.1", "p1:ann@2001:db8::", "p1:bob@198.51.100.1", "n1:net"})
		require.NoError(t, err)
		var counts []int
		for _, st := range sts {
			counts = append(counts, st.Count)
		}
		assert.Equal(t, []int{0, 0, 0, 0, 1, 1}, counts)
		assert.Error(t, f.s.Authn.ResetThrottle(f.ctx, tn.ID, nil, []string{""}, nil), "an empty prefix would match everything")
	}},
	{"stale counters are cleaned up", func(t *testing.T, f *fx) {
		tn := f.createTenant("Throttle cleanup")
		f.hit(tn.ID, "a1:old", throttleAt)
		f.hit(tn.ID, "a1:new", throttleAt.Add(5*time.Minute))
		n, err := f.s.Authn.DeleteStaleThrottle(f.ctx, throttleAt.Add(10*time.Minute))
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, 1)
		sts, err := f.s.Authn.ThrottleStates(f.ctx, tn.ID, []string{"a1:old", "a1:new"})
		require.NoError(t, err)
		assert.Zero(t, sts[0].Count, "expired at its deadline: removed")
		assert.Equal(t, 1, sts[1].Count)
	}},
	{"no throttle method reads or changes another tenant's counters", func(t *testing.T, f *fx) {
		a := f.createTenant("Tenant A")
		b := f.createTenant("Tenant B")
		f.hit(a.ID, "a1:ann", throttleAt)
		f.hit(a.ID, "p1:ann@x", throttleAt)
		st := f.hit(b.ID, "a1:ann", throttleAt)
		assert.Equal(t, 1, st.Count, "B's count of the same key starts at 1")
		ev := changeEvent(t, b.ID, "user.unlock")
		require.NoError(t, f.s.Authn.ResetThrottle(f.ctx, b.ID, []string{"a1:ann"}, []string{"p1:"}, &ev))
		sts, err := f.s.Authn.ThrottleStates(f.ctx, a.ID, []string{"a1:ann", "p1:ann@x"})
		require.NoError(t, err)
		assert.Equal(t, 1, sts[0].Count, "B's reset leaves A's counters")
		assert.Equal(t, 1, sts[1].Count)
		_, err = f.s.Authn.HitThrottle(f.ctx, newID(), []authn.ThrottleHit{throttleHit("a1:x")}, throttleAt)
		assert.ErrorIs(t, err, storage.ErrNotFound, "an unknown tenant")
		assert.ErrorIs(t, f.s.Authn.ResetThrottle(f.ctx, newID(), []string{"a1:x"}, nil, nil), storage.ErrNotFound)
	}},
	{"a hit with an invalid rule is refused", func(t *testing.T, f *fx) {
		tn := f.createTenant("Throttle invalid")
		for _, h := range []authn.ThrottleHit{{Key: "", Threshold: 3, Window: time.Minute, Lock: time.Minute},
			{Key: "k", Threshold: 1, Window: time.Minute, Lock: time.Minute}, {Key: "k", Threshold: 3, Lock: time.Minute}} {
			_, err := f.s.Authn.HitThrottle(f.ctx, tn.ID, []authn.ThrottleHit{h}, throttleAt)
			assert.Error(t, err)
		}
	}},
}
