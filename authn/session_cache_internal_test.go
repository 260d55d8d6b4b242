package authn

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func cacheRecord(tenant uuid.UUID, hash [32]byte) *SessionRecord {
	return &SessionRecord{Session: Session{ID: uuid.New(), Tenant: tenant, SecretHash: hash}}
}

// A record read before an invalidation is not cached after it: the invalidation may
// have announced the very change the read missed.
func TestSessionCacheRefusesAFillThatRacedAnInvalidation(t *testing.T) {
	c := newSessionCache(SessionCacheOptions{}, time.Second, time.Now, nil)
	c.feed.Store(feedExact)
	tenant, hash := uuid.New(), [32]byte{1}
	gen := c.generation()
	c.drop([32]byte{2}) // any invalidation, even of another session
	c.put(gen, hash, cacheRecord(tenant, hash))
	assert.Nil(t, c.get(tenant, hash), "a fill older than an invalidation")

	c.put(c.generation(), hash, cacheRecord(tenant, hash))
	assert.NotNil(t, c.get(tenant, hash))
	assert.Nil(t, c.get(uuid.New(), hash), "another tenant's lookup never hits")
	c.dropTenant(tenant)
	assert.Nil(t, c.get(tenant, hash))
}

// Without a feed the cache never fills; a leased feed is trusted from a confirmed
// heartbeat for the lease, and not after it or after the listener stopped.
func TestSessionCacheTrust(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := &Service{cache: newSessionCache(SessionCacheOptions{}, time.Second, clock, nil)}
	tenant, hash := uuid.New(), [32]byte{7}
	s.cache.put(s.cache.generation(), hash, cacheRecord(tenant, hash))
	assert.Zero(t, s.SessionCacheStats().Entries, "no feed: nothing is cached")

	s.SessionFeedStarted()
	s.cache.put(s.cache.generation(), hash, cacheRecord(tenant, hash))
	assert.Nil(t, s.cache.get(tenant, hash), "subscribed but not confirmed yet")
	s.SessionFeedConfirmed(clock())
	assert.NotNil(t, s.cache.get(tenant, hash), "confirmed")
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	assert.Nil(t, s.cache.get(tenant, hash), "the lease ran out: no heartbeat came back")
	s.SessionFeedConfirmed(clock())
	assert.NotNil(t, s.cache.get(tenant, hash))
	s.SessionChanged(tenant, hash)
	assert.Nil(t, s.cache.get(tenant, hash), "announced")

	s.cache.put(s.cache.generation(), hash, cacheRecord(tenant, hash))
	s.SessionFeedStopped()
	assert.False(t, s.SessionCacheStats().Trusted)
	s.SessionFeedStarted()
	s.SessionFeedConfirmed(clock())
	assert.Nil(t, s.cache.get(tenant, hash), "a new subscription starts empty")
}

// The cache stays within MaxEntries.
func TestSessionCacheBound(t *testing.T) {
	c := newSessionCache(SessionCacheOptions{MaxEntries: 512}, time.Second, time.Now, nil)
	c.feed.Store(feedExact)
	tenant := uuid.New()
	for i := range 1000 {
		h := [32]byte{byte(i), byte(i >> 8)}
		c.put(c.generation(), h, cacheRecord(tenant, h))
	}
	s := &Service{cache: c}
	st := s.SessionCacheStats()
	assert.LessOrEqual(t, st.Entries, 512)
	assert.Equal(t, int64(1000-st.Entries), st.Evictions)
}

// A confirmation can never vouch for more than the lease from now: a heartbeat
// stamped in the future (forged by anyone who may NOTIFY on the database, or sent
// before the clock stepped back) is ignored, and a lease left too far ahead by a
// backward step of the clock is not trusted, until a heartbeat sent after the step
// comes back.
func TestSessionCacheLeaseNeverReachesPastTheLease(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	s := &Service{cache: newSessionCache(SessionCacheOptions{}, time.Second, clock, nil)}
	s.SessionFeedStarted()

	s.SessionFeedConfirmed(clock().Add(time.Hour))
	assert.False(t, s.SessionCacheStats().Trusted, "a heartbeat from the future vouches for nothing")
	s.SessionFeedConfirmed(clock())
	assert.True(t, s.SessionCacheStats().Trusted)
	set(clock().Add(2 * time.Second))
	assert.False(t, s.SessionCacheStats().Trusted, "the lease of the one real heartbeat ran out")

	start := clock()
	s.SessionFeedConfirmed(start)
	set(start.Add(-time.Hour)) // the wall clock steps back an hour
	assert.False(t, s.SessionCacheStats().Trusted, "a lease an hour ahead is not trusted")
	s.SessionFeedConfirmed(clock())
	assert.True(t, s.SessionCacheStats().Trusted, "a heartbeat sent after the step")
	set(clock().Add(2 * time.Second))
	assert.False(t, s.SessionCacheStats().Trusted, "and its lease ends on time")
}

// Refreshing a cached session (a touch puts it again) makes no room: only a new
// entry evicts another.
func TestSessionCacheRefreshEvictsNothing(t *testing.T) {
	c := newSessionCache(SessionCacheOptions{MaxEntries: cacheShards}, time.Second, time.Now, nil) // one per shard
	c.feed.Store(feedExact)
	tenant, a, b := uuid.New(), [32]byte{1, 1}, [32]byte{1, 2} // one shard
	c.put(c.generation(), a, cacheRecord(tenant, a))
	c.put(c.generation(), a, cacheRecord(tenant, a))
	assert.Zero(t, c.evictions.Load(), "a refresh")
	assert.NotNil(t, c.get(tenant, a))
	c.put(c.generation(), b, cacheRecord(tenant, b))
	assert.Equal(t, int64(1), c.evictions.Load(), "a new entry")
	assert.Nil(t, c.get(tenant, a))
	assert.NotNil(t, c.get(tenant, b))
}

// Two hashes that share a map key (bytes 0 to 8) take turns in its slot: a lookup
// finds only its own hash's entry, and a drop removes only its own.
func TestSessionCacheKeySharedByTwoHashes(t *testing.T) {
	c := newSessionCache(SessionCacheOptions{}, time.Second, time.Now, nil)
	c.feed.Store(feedExact)
	tenant := uuid.New()
	a, b := [32]byte{3, 1, 2, 3, 4, 5, 6, 7, 8, 'a'}, [32]byte{3, 1, 2, 3, 4, 5, 6, 7, 8, 'b'}
	require.Equal(t, cacheKey(a), cacheKey(b))
	c.put(c.generation(), a, cacheRecord(tenant, a))
	assert.NotNil(t, c.get(tenant, a))
	assert.Nil(t, c.get(tenant, b), "another hash under the same key")
	c.put(c.generation(), b, cacheRecord(tenant, b))
	assert.Nil(t, c.get(tenant, a), "b took the slot")
	assert.NotNil(t, c.get(tenant, b))
	c.drop(a)
	assert.NotNil(t, c.get(tenant, b), "dropping a leaves b")
	c.drop(b)
	assert.Nil(t, c.get(tenant, b))
}

// A cached record decides a request alone only before its absolute deadline, before
// its idle deadline, while its user is active, before a touch is due and within
// maxCacheAge of its put; a record with zero times decides nothing.
func TestCacheEntryCurrent(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) int64 { return unixNanos(t0.Add(d)) } // an injected clock's ticks
	// putAt is the entry of rec put at t0+d.
	putAt := func(rec *SessionRecord, d time.Duration) *cacheEntry { return newCacheEntry(rec, t0.Add(d), at(d)) }
	rec := &SessionRecord{Session: Session{ExpiresAt: t0.Add(time.Hour), LastSeen: t0}, UserStatus: StatusActive,
		IdleTimeout: 20 * time.Minute}
	e := putAt(rec, 0)
	for _, c := range []struct {
		at    time.Duration
		touch time.Duration
		want  bool
	}{
		{0, 30 * time.Second, true},
		{30*time.Second - time.Nanosecond, 30 * time.Second, true},
		{30 * time.Second, 30 * time.Second, false}, // a touch is due
		{maxCacheAge - time.Nanosecond, 0, true},
		{maxCacheAge, 0, false},               // read again, whatever the touch interval
		{maxCacheAge, 5 * time.Minute, false}, // even one longer than the age
	} {
		assert.Equal(t, c.want, e.current(at(c.at), c.touch), "at %v, touch every %v", c.at, c.touch)
	}
	e = putAt(rec, 19*time.Minute+30*time.Second)
	assert.True(t, e.current(at(20*time.Minute-time.Nanosecond), 0))
	assert.False(t, e.current(at(20*time.Minute), 0), "idle")
	rec.IdleTimeout = 2 * time.Hour
	e = putAt(rec, 59*time.Minute+30*time.Second)
	assert.True(t, e.current(at(time.Hour-time.Nanosecond), 0))
	assert.False(t, e.current(at(time.Hour), 0), "past the absolute deadline")
	d := 59*time.Minute + 30*time.Second
	zoned := newCacheEntry(rec, t0.Add(d).In(time.FixedZone("X", 3600)), at(d))
	assert.True(t, zoned.current(at(time.Hour-time.Nanosecond), 0), "instants, whatever the zone")
	assert.False(t, zoned.current(at(time.Hour), 0))

	rec.UserStatus = StatusBlocked
	assert.False(t, putAt(rec, 0).current(at(0), 0), "a blocked user")
	assert.False(t, putAt(&SessionRecord{UserStatus: StatusActive}, 0).current(at(0), 0), "zero deadlines")
	far := &SessionRecord{Session: Session{ExpiresAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), LastSeen: t0},
		UserStatus: StatusActive, IdleTimeout: time.Hour}
	assert.True(t, putAt(far, 0).current(at(0), 0), "a deadline past 2262 is far, not undefined")
	assert.False(t, putAt(far, 59*time.Minute+30*time.Second).current(at(time.Hour), 0))
	assert.Equal(t, int64(math.MaxInt64), newCacheEntry(far, t0, math.MaxInt64-5).until, "saturated, not wrapped")
}

// With the production clock an entry's deadlines are placed on the monotonic clock
// from the reading at its put: the decisions are those of the wall clock at that
// reading, and the wall clock stepping afterwards moves none of them.
func TestCacheClockMonotonic(t *testing.T) {
	c := newCacheClock(nil)
	wall, ticks, ok := c.reading()
	require.True(t, ok)
	assert.GreaterOrEqual(t, c.now(), ticks, "ticks go forward")
	assert.Less(t, c.now()-ticks, int64(time.Second))

	// The store's instants carry no monotonic reading.
	seen := wall.Add(-10 * time.Second).Round(0).UTC()
	rec := &SessionRecord{Session: Session{ExpiresAt: seen.Add(time.Hour), LastSeen: seen}, UserStatus: StatusActive,
		IdleTimeout: time.Minute}
	e := newCacheEntry(rec, wall, ticks)
	assert.Equal(t, ticks-int64(10*time.Second), e.seen)
	assert.Equal(t, ticks+int64(50*time.Second), e.until, "the idle deadline, first")
	assert.True(t, e.current(c.now(), 30*time.Second))
	assert.False(t, e.current(ticks+int64(20*time.Second), 30*time.Second), "a touch is due 30 s after the last request")
	assert.False(t, e.current(ticks+int64(50*time.Second), 0), "idle")

	// Saturation: instants beyond the tick range are far, never wrapped.
	assert.Equal(t, int64(math.MaxInt64), ticksAt(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), wall, math.MaxInt64-5))
	assert.Equal(t, int64(math.MinInt64), ticksAt(time.Time{}, wall, math.MinInt64+5))
	assert.Less(t, ticksAt(time.Time{}, wall, ticks), int64(0), "a zero instant is in the past")
}

// A LastSeen ahead of the wall clock at the put (another instance's clock, or this
// one's before it was stepped) does not postpone the entry's next store read: the
// record is read again within the touch interval of its put, so that a step of the
// wall clock reaches the cached decision within touchEvery (ValidateSession).
func TestCacheEntryLastSeenAheadOfTheClock(t *testing.T) {
	c := newCacheClock(nil)
	wall, ticks, ok := c.reading()
	require.True(t, ok)
	ahead := wall.Add(10 * time.Minute).Round(0).UTC()
	rec := &SessionRecord{Session: Session{ExpiresAt: ahead.Add(time.Hour), LastSeen: ahead}, UserStatus: StatusActive,
		IdleTimeout: 30 * time.Minute}
	e := newCacheEntry(rec, wall, ticks)
	assert.True(t, e.current(ticks, 30*time.Second))
	assert.False(t, e.current(ticks+int64(30*time.Second), 30*time.Second),
		"read again 30 s after the put, not 30 s after a LastSeen 10 minutes ahead")
}

// An injected clock outside the range of Unix nanoseconds (before 1970, past 2262)
// has no ticks that advance with it: a session cached at such a reading must not
// outlive its deadlines while the clock moves on.
func TestSessionCacheInjectedClockOutOfRange(t *testing.T) {
	for _, start := range []time.Time{
		time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		now := start
		c := newSessionCache(SessionCacheOptions{}, time.Second, time.Now, func() time.Time { return now })
		c.feed.Store(feedExact)
		tenant, hash := uuid.New(), [32]byte{5}
		rec := cacheRecord(tenant, hash)
		rec.Session.ExpiresAt, rec.Session.LastSeen = start.Add(time.Hour), start
		rec.UserStatus, rec.IdleTimeout = StatusActive, 20*time.Minute
		c.put(c.generation(), hash, rec)
		now = start.Add(2 * time.Hour) // past both deadlines
		if e := c.get(tenant, hash); e != nil {
			assert.False(t, e.current(c.clock.now(), 0), "an expired session decided by the cache (clock at %v)", start)
		}
	}
}

// Readers never lock a shard: under concurrent puts, drops and tenant drops (run with
// -race), a dropped entry is gone for every read that starts after the drop returns,
// and the entries of other sessions and tenants stay.
func TestSessionCacheConcurrentReadsAndWrites(t *testing.T) {
	c := newSessionCache(SessionCacheOptions{}, time.Second, time.Now, nil)
	c.feed.Store(feedExact)
	keep, churn := uuid.New(), uuid.New()
	kept := [32]byte{7, 7}
	c.put(c.generation(), kept, cacheRecord(keep, kept))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				assert.NotNil(t, c.get(keep, kept))
				c.get(churn, [32]byte{7, 1})
			}
		})
	}
	for i := range 2000 {
		h := [32]byte{7, byte(i%200 + 8)} // the kept entry's shard
		c.put(c.generation(), h, cacheRecord(churn, h))
		if !assert.NotNil(t, c.get(churn, h)) {
			break
		}
		if i%3 == 0 {
			c.drop(h)
		} else if i%50 == 0 {
			c.dropTenant(churn)
		}
		if i%3 == 0 || i%50 == 0 {
			assert.Nil(t, c.get(churn, h), "gone once the drop returned")
		}
	}
	close(stop)
	wg.Wait()
	assert.NotNil(t, c.get(keep, kept), "another tenant's entry stays")
}
