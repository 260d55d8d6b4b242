package authn

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/internal/lease"
	"github.com/google/uuid"
)

// The session cache: validated sessions kept between requests, so that a request of a
// session seen recently costs no store read. It is only ever trusted while a change
// feed vouches that every change of a cached answer reaches it:
//
//   - an in-process store that announces its own changes synchronously
//     ([SessionFeed]: the memory store), exact, no lag;
//   - a change listener on the database (storage/pglisten on PostgreSQL, fed by the
//     triggers of sqlstore's migration 0015), trusted for the engine's ListenLease
//     after each heartbeat that came back through the same channel, so that a stalled
//     or lagging listener stops the cache within that lease, never serves it stale.
//
// Without a feed (SQLite, or a PostgreSQL host that does not pass the Service to
// pglisten) the cache never fills and every request reads its session.

// SessionCacheOptions configure the per-process session cache ([Options.SessionCache]).
// The zero value enables it with the default size; it is used only while a change
// feed vouches for it (see [SessionFeed] and storage/pglisten).
type SessionCacheOptions struct {
	// Disabled turns the cache off: every request reads its session from the store.
	Disabled bool
	// MaxEntries bounds the cached sessions (default 65,536, roughly 0.6 KiB each plus
	// the user agent and last URL). Beyond it an arbitrary entry makes room. The bound
	// is kept per shard of 256, so it is rounded down to a multiple of 256, and at
	// least 256.
	MaxEntries int
}

// DefaultSessionCacheEntries is SessionCacheOptions.MaxEntries when zero.
const DefaultSessionCacheEntries = 1 << 16

// SessionWatcher receives a store's announcements of session changes. [*Service]
// implements it; a [SessionFeed] store calls it synchronously, inside the change,
// before any later read can see the new state.
type SessionWatcher interface {
	// SessionChanged announces that the session with this secret hash changed in a way
	// its lookup shows (ended, rotated, re-authenticated, workplace, user status, idle
	// timeout), or was removed. A touch (last request, address, browser) is not
	// announced.
	SessionChanged(tenant uuid.UUID, secretHash [32]byte)
	// TenantSessionsChanged announces that any session of the tenant, or the tenant's
	// policy version, may have changed.
	TenantSessionsChanged(tenant uuid.UUID)
}

// SessionFeed is implemented by an in-process store (storage/memory) that announces
// every change of a session lookup's answer to its watchers, synchronously and in
// order with its reads. [NewService] registers the Service with such a store, and
// its session cache is then exact. A watcher that also has a method Gone() bool
// reporting true is no longer called and may be dropped: the Service registers
// itself through a weak reference, so that a Service the host no longer uses is not
// kept alive by its store.
type SessionFeed interface {
	WatchSessions(w SessionWatcher)
}

// serviceWatcher is a Service's registration with a SessionFeed store: a weak
// reference, so that the store does not keep the Service alive.
type serviceWatcher struct{ s weak.Pointer[Service] }

func (w *serviceWatcher) SessionChanged(tenant uuid.UUID, hash [32]byte) {
	if s := w.s.Value(); s != nil {
		s.SessionChanged(tenant, hash)
	}
}

func (w *serviceWatcher) TenantSessionsChanged(tenant uuid.UUID) {
	if s := w.s.Value(); s != nil {
		s.TenantSessionsChanged(tenant)
	}
}

// Gone reports that the Service was collected.
func (w *serviceWatcher) Gone() bool { return w.s.Value() == nil }

const (
	cacheShards = 256 // indexed by the hash's first byte
	feedNone    = 0   // no feed: the cache never fills
	feedExact   = 1   // an in-process store announces every change synchronously
	feedLeased  = 2   // a listener announces changes; trusted until its lease ends
)

type sessionCache struct {
	// gen counts invalidations: a record read from the store before one is not put.
	gen  atomic.Uint64
	feed atomic.Int32
	// lease is how long a leased feed vouches (judged by the engine's clock).
	lease     lease.Lease
	perShard  int
	leaseFor  time.Duration
	leaseNow  func() time.Time
	clock     cacheClock
	shards    [cacheShards]cacheShard
	disabled  bool
	evictions atomic.Int64
}

// cacheShard holds its entries in a map that is never written once published:
// readers load it without a lock (no write to a shared cache line per request, which
// two cores serving the same session would contend for), and a writer, holding mu,
// publishes a changed copy. A write copies at most MaxEntries/256 entries (256 at the
// default size).
type cacheShard struct {
	mu sync.Mutex // serialises the writers
	m  atomic.Pointer[map[uint64]*cacheEntry]
	_  [64 - 16]byte // one cache line per shard
}

// cacheKey is the key of a secret hash in its shard's map: bytes 1 to 8 (the shard is
// byte 0), an integer key being faster to look up than the array. The entry found is
// the hash's only if its own hash is the same (get): two hashes that share the key
// (2^-64 for the random secrets, which nobody chooses) take turns in one slot.
func cacheKey(hash [32]byte) uint64 { return binary.LittleEndian.Uint64(hash[1:9]) }

// entries is the shard's current map (nil before the first write: reads of a nil map
// find nothing).
func (sh *cacheShard) entries() map[uint64]*cacheEntry {
	if m := sh.m.Load(); m != nil {
		return *m
	}
	return nil
}

// publish replaces the shard's map; mu is held.
func (sh *cacheShard) publish(m map[uint64]*cacheEntry) { sh.m.Store(&m) }

// cacheEntry is one cached session. rec is never written after the entry is put;
// judged is the last policy under which the session's privilege fingerprint was
// found current, so that a request under the same policy skips that check; vals are
// the context values of the last request served from the entry, which the next
// request from the same address and browser under the same policy shares instead of
// building its own.
type cacheEntry struct {
	hash   [32]byte // the secret hash it was put under
	rec    SessionRecord
	judged atomic.Pointer[access.Policy]
	vals   atomic.Pointer[requestValues]
	// until is the first instant (ticks of the cache's clock) at which the record no
	// longer decides alone: its absolute deadline or its idle deadline, whichever is
	// first; seen is its last request. Integers, so that a request compares instants
	// without time.Time arithmetic.
	until, seen int64
}

// newCacheEntry is the entry of a copy of rec, read from the store before the clock
// reading (at, atTicks).
func newCacheEntry(rec *SessionRecord, at time.Time, atTicks int64) *cacheEntry {
	e := &cacheEntry{rec: *rec}
	sess := &e.rec.Session
	// No entry decides alone for longer than maxCacheAge after its put, whatever the
	// touch interval (ValidateSession callers may pass none): the monotonic clock does
	// not count a suspended host, and a wall-clock step reaches only the store's
	// answer, so each bounds their effect on a cached decision to that age.
	e.until = min(ticksAt(sess.ExpiresAt, at, atTicks), ticksAt(sess.LastSeen.Add(idleOf(rec)), at, atTicks),
		satAdd(atTicks, int64(maxCacheAge)))
	// A LastSeen after the reading (another instance's clock ahead of this one's, or
	// this one's before a step back) counts as the reading: a touch is then due, and
	// the record read again, within touchEvery of the put, as it is for any record, so
	// that a later step of the wall clock reaches the cached decision within that
	// interval (the store's own answer decides whether the read touches).
	e.seen = min(ticksAt(sess.LastSeen, at, atTicks), atTicks)
	return e
}

// maxCacheAge bounds how long after its put a cached record decides requests alone:
// then it is read again (a read, not a write, unless a touch is due).
const maxCacheAge = time.Minute

// satAdd is a+d, saturating at the int64 range.
func satAdd(a, d int64) int64 {
	switch {
	case d > 0 && a > math.MaxInt64-d:
		return math.MaxInt64
	case d < 0 && a < math.MinInt64-d:
		return math.MinInt64
	}
	return a + d
}

// current reports whether the record alone may decide a request at now (ticks of the
// cache's clock): the session is before its absolute and idle deadlines, its user
// active, and no touch is due.
func (e *cacheEntry) current(now int64, touchEvery time.Duration) bool {
	return now < e.until && e.rec.UserStatus == StatusActive && (touchEvery <= 0 || now-e.seen < int64(touchEvery))
}

// cacheClock is the clock of the cache's deadlines, in ticks (nanoseconds). With the
// production clock (Options.Clock nil) a tick count is the monotonic time since the
// Service was made: a request reads one clock (time.Since), where time.Now reads two.
// An entry's deadlines are placed on it from one reading of both clocks when the entry
// is put, so a step of the wall clock shows in a cached decision only at the entry's
// next store read, which the touch interval bounds. With an injected clock (tests) a
// tick count is its Unix nanoseconds (nothing is cached outside 1970 to 2262, where
// those are clamped).
type cacheClock struct {
	clock func() time.Time // nil: the production clock
	base  time.Time        // its reading at the start, with the monotonic clock
}

func newCacheClock(clock func() time.Time) cacheClock {
	return cacheClock{clock: clock, base: time.Now()}
}

// now is the current tick count.
func (c *cacheClock) now() int64 {
	if c.clock == nil {
		return int64(time.Since(c.base))
	}
	return unixNanos(c.clock())
}

// reading is the current time and its tick count, read together; ok is false for an
// injected clock's instant outside 1970 to 2262, whose tick count (unixNanos) is
// clamped and would not advance with the clock: nothing is cached at such a reading.
func (c *cacheClock) reading() (t time.Time, ticks int64, ok bool) {
	if c.clock == nil {
		t = time.Now()
		return t, int64(t.Sub(c.base)), true
	}
	t = c.clock()
	ticks = unixNanos(t)
	return t, ticks, !t.Before(time.Unix(0, 0)) && ticks != math.MaxInt64
}

// ticksAt places the wall-clock instant t on the tick scale of the reading (at,
// atTicks): atTicks plus t−at, saturating (a zero instant is far in the past, one past
// 2262 far in the future, never undefined).
func ticksAt(t, at time.Time, atTicks int64) int64 {
	return satAdd(atTicks, int64(t.Round(0).Sub(at.Round(0))))
}

// unixNanos is t in Unix nanoseconds, 0 for an instant before 1970 (a zero time) and
// MaxInt64 past 2262, where UnixNano is undefined.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// newSessionCache returns a cache whose leases are judged by now (the engine's clock)
// and whose deadlines by clock (Options.Clock; nil: the production clock).
func newSessionCache(opts SessionCacheOptions, leaseFor time.Duration, now, clock func() time.Time) *sessionCache {
	c := &sessionCache{disabled: opts.Disabled, leaseFor: leaseFor, leaseNow: now, clock: newCacheClock(clock)}
	n := opts.MaxEntries
	if n <= 0 {
		n = DefaultSessionCacheEntries
	}
	c.perShard = max(1, n/cacheShards)
	return c
}

// trusted reports whether cached records may be served now.
func (c *sessionCache) trusted() bool {
	switch c.feed.Load() {
	case feedExact:
		return true
	case feedLeased:
		return c.lease.Valid(c.leaseNow(), c.leaseFor)
	}
	return false
}

// get returns the cached entry of the secret hash in tenant, if the feed vouches for
// it. The entry is shared: never write to its record.
func (c *sessionCache) get(tenant uuid.UUID, hash [32]byte) *cacheEntry {
	if c.disabled || !c.trusted() {
		return nil
	}
	e := c.shards[hash[0]].entries()[cacheKey(hash)]
	if e == nil || e.hash != hash || e.rec.Session.Tenant != tenant {
		return nil
	}
	return e
}

// generation is read before a store read whose result may be put.
func (c *sessionCache) generation() uint64 { return c.gen.Load() }

// put caches a copy of rec, the session of the secret hash read from the store after
// generation gen, unless an invalidation came since (it may have announced a change
// the read did not see) or no feed is subscribed.
func (c *sessionCache) put(gen uint64, hash [32]byte, rec *SessionRecord) {
	feed := c.feed.Load()
	if c.disabled || feed == feedNone {
		return
	}
	at, atTicks, ok := c.clock.reading()
	if !ok {
		return
	}
	cp := newCacheEntry(rec, at, atTicks)
	if feed != feedExact {
		// A leased feed announces a session's own changes, not the tenant's policy
		// version: the version read with the record says nothing of the policy at a
		// later request, so the cached copy takes the engine's current one
		// (validateCached, sessionPolicy).
		cp.rec.PolicyVersion = 0
	}
	sh := &c.shards[hash[0]]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	old := sh.entries()
	m := make(map[uint64]*cacheEntry, len(old)+1)
	for k, e := range old {
		m[k] = e
	}
	key := cacheKey(hash)
	if _, refresh := m[key]; !refresh && len(m) >= c.perShard {
		for k := range m {
			delete(m, k)
			c.evictions.Add(1)
			break
		}
	}
	cp.hash = hash
	m[key] = cp
	sh.publish(m)
}

// drop removes one record. The generation moves first, so that a concurrent read of
// the old state is not put after the removal.
func (c *sessionCache) drop(hash [32]byte) {
	c.gen.Add(1)
	sh := &c.shards[hash[0]]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.without(func(e *cacheEntry) bool { return e.hash == hash })
}

// without publishes the shard's map without the entries gone reports; mu is held.
// Nothing is copied when nothing goes.
func (sh *cacheShard) without(gone func(*cacheEntry) bool) {
	old := sh.entries()
	n := 0
	for _, e := range old {
		if gone(e) {
			n++
		}
	}
	if n == 0 {
		return
	}
	m := make(map[uint64]*cacheEntry, len(old)-n)
	for k, e := range old {
		if !gone(e) {
			m[k] = e
		}
	}
	sh.publish(m)
}

// dropTenant removes the tenant's records (uuid.Nil: every record).
func (c *sessionCache) dropTenant(tenant uuid.UUID) {
	c.gen.Add(1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.without(func(e *cacheEntry) bool { return tenant == uuid.Nil || e.rec.Session.Tenant == tenant })
		sh.mu.Unlock()
	}
}

// SessionChanged drops the session's cached record ([SessionWatcher]).
func (s *Service) SessionChanged(tenant uuid.UUID, secretHash [32]byte) {
	s.cache.drop(secretHash)
}

// SessionsChanged drops every cached session: a listener was told that any session
// may have changed (a TRUNCATE of the sessions on PostgreSQL, migration 0017).
func (s *Service) SessionsChanged() {
	s.cache.dropTenant(uuid.Nil)
}

// TenantSessionsChanged drops the tenant's cached sessions ([SessionWatcher]).
func (s *Service) TenantSessionsChanged(tenant uuid.UUID) {
	s.cache.dropTenant(tenant)
}

// SessionFeedStarted tells the Service that a change listener (storage/pglisten) is
// subscribed to the session change notifications: every change committed from now on
// will be announced through [Service.SessionChanged]. The cache is emptied, and it is
// trusted only after [Service.SessionFeedConfirmed].
func (s *Service) SessionFeedStarted() {
	s.cache.lease.Revoke()
	s.cache.feed.CompareAndSwap(feedNone, feedLeased)
	s.cache.dropTenant(uuid.Nil)
}

// SessionFeedConfirmed tells the Service that the listener received a heartbeat it
// sent at sentAt (a time of the access engine's clock) through the same channel as
// the session notifications: every change committed before sentAt has been announced.
// The cache is then trusted until sentAt plus the engine's ListenLease. A sentAt
// after the engine's now is ignored: a heartbeat cannot come back before it was sent,
// so it was forged (anyone who may connect to the database may NOTIFY) or the clock
// stepped back, and it vouches for nothing.
func (s *Service) SessionFeedConfirmed(sentAt time.Time) {
	s.cache.lease.Confirm(sentAt, s.cache.leaseNow(), s.cache.leaseFor)
}

// SessionFeedStopped tells the Service that the listener lost its subscription: the
// cache is emptied and not trusted until the next [Service.SessionFeedStarted] and
// confirmation.
func (s *Service) SessionFeedStopped() {
	s.cache.lease.Revoke()
	s.cache.dropTenant(uuid.Nil)
}

// SessionCacheStats are counters of the session cache, for metrics.
type SessionCacheStats struct {
	Entries   int   // sessions cached now
	Evictions int64 // entries dropped to stay within MaxEntries
	Trusted   bool  // a feed vouches for the cache at this moment
}

// SessionCacheStats returns the session cache's counters.
func (s *Service) SessionCacheStats() SessionCacheStats {
	st := SessionCacheStats{Evictions: s.cache.evictions.Load(), Trusted: !s.cache.disabled && s.cache.trusted()}
	for i := range s.cache.shards {
		st.Entries += len(s.cache.shards[i].entries())
	}
	return st
}
