package access

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callshield/callshield/internal/lease"
	"github.com/google/uuid"
)

// DefaultMaxBytes is the memory budget of an Engine's cached policies when
// EngineOptions.MaxBytes is zero: 512 MiB, room for about ten million members.
const DefaultMaxBytes = 512 << 20

// DefaultListenLease is EngineOptions.ListenLease when zero.
const DefaultListenLease = 250 * time.Millisecond

// EngineOptions configure an [Engine]. The zero value is valid and is the strictest
// setting.
type EngineOptions struct {
	// MaxStaleness bounds how long a cached policy is used without asking the store
	// whether it changed. If zero, every [Engine.Policy] call reads the tenant's policy
	// version (one indexed single-row read) and refreshes when it moved, so a change
	// made by another app instance applies on that instance's next request. A positive
	// value trades that for fewer reads: another instance's change applies within
	// MaxStaleness. Changes made through this process's [Service] apply at once whatever
	// the setting. With a healthy change listener (see [Engine.ListenStarted]) no
	// version is read at all.
	MaxStaleness time.Duration
	// MaxBytes bounds the memory the cached policies hold (as estimated from their
	// tables): when a load brings the total over it, the policies of the least
	// recently used tenants are evicted until it fits again (the tenant just loaded is
	// kept even if it alone exceeds the budget). An evicted tenant is loaded again on
	// its next request. Zero means DefaultMaxBytes; a negative value, no bound.
	MaxBytes int64
	// ListenLease is how long one confirmation of a change listener vouches for the
	// cache: the bound between a commit on another instance and its enforcement here
	// while the listener is up (see [Engine.ListenConfirmed]). Zero means
	// DefaultListenLease. The listener must authenticate its confirmations
	// (storage/pglisten MACs its heartbeats): a forged one would stretch the bound
	// by the notification queue's lag. Announced versions need no authentication:
	// they are hints the store's read settles (see [Engine.Notified]), so a forged
	// one costs one refresh, never a stale policy nor a read on every request.
	ListenLease time.Duration
	// Clock returns the current time. If nil, time.Now is used.
	Clock func() time.Time
}

// Engine serves each tenant's current compiled [Policy]. It caches one immutable
// snapshot per tenant and replaces it when the tenant's policy version in the store
// moves: by applying the logged changes to a copy of the snapshot when the store is a
// [ChangeStore] (work in proportion to the change), else by loading and compiling the
// tenant. It is safe for concurrent use; one Engine serves every tenant of the process.
type Engine struct {
	store   Store
	changes ChangeStore // nil: full loads only
	opts    EngineOptions
	// cache holds a *tenantPolicy per tenant that the store knows: an entry is made
	// only after the store answered for the tenant, so that requests naming random
	// tenant IDs cannot grow it.
	cache                                    sync.Map
	loads, refreshes, compactions, evictions atomic.Int64
	total                                    atomic.Int64 // bytes of the cached policies
	evicting                                 sync.Mutex
	// The change listener's state: the cache may be trusted without a version read
	// while lease is valid, for entries confirmed at or after listenSince (unix
	// nanoseconds of the Clock; changes committed before the listener subscribed were
	// not announced).
	listenSince atomic.Int64
	lease       lease.Lease
	bg          sync.WaitGroup // compactions
	compactMin  int            // overlay size that starts a compaction (at least)
}

type tenantPolicy struct {
	load    sync.Mutex // one load at a time per tenant
	current atomic.Pointer[Policy]
	checked atomic.Int64 // unix nanoseconds of the last version check; 0: check
	gen     atomic.Int64 // incremented by Invalidate
	// notified is the highest version a change listener announced that no read of
	// the store has settled yet: a hint, since anyone who may NOTIFY can forge one
	// (see [Engine.Notified]). notes counts the announcements; both are written
	// under note, and read without it.
	notified   atomic.Int64
	notes      atomic.Int64
	note       sync.Mutex
	used       atomic.Int64 // unix nanoseconds of the last use, to the second
	bytes      int64        // under load
	evicted    bool         // under load: the entry left the cache
	compacting atomic.Bool
}

// NewEngine returns an Engine reading policies from store.
func NewEngine(store Store, opts EngineOptions) *Engine {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.ListenLease <= 0 {
		opts.ListenLease = DefaultListenLease
	}
	e := &Engine{store: store, opts: opts, compactMin: 1024}
	e.changes, _ = store.(ChangeStore)
	e.listenSince.Store(1<<63 - 1)
	return e
}

// entry returns the tenant's entry, making it if needed. Call it only for a tenant
// the store answered for, so that made-up tenant IDs never get one.
func (e *Engine) entry(tenant uuid.UUID) *tenantPolicy {
	tp, _ := e.cache.LoadOrStore(tenant, &tenantPolicy{})
	return tp.(*tenantPolicy)
}

// cached returns the tenant's entry, or nil if there is none yet.
func (e *Engine) cached(tenant uuid.UUID) *tenantPolicy {
	if tp, ok := e.cache.Load(tenant); ok {
		return tp.(*tenantPolicy)
	}
	return nil
}

// touch records a use of the entry for the eviction order, at most once a second.
func (tp *tenantPolicy) touch(now int64) {
	if now-tp.used.Load() > int64(time.Second) {
		tp.used.Store(now)
	}
}

// Policy returns the tenant's current policy. Unless a healthy change listener vouches
// for the cached snapshot or it was confirmed within MaxStaleness, it reads the
// tenant's policy version from the store and refreshes the policy if the version
// moved. On any storage error it returns the error and no policy: callers deny (fail
// closed), they never fall back to a stale snapshot.
func (e *Engine) Policy(ctx context.Context, tenant uuid.UUID) (*Policy, error) {
	if tenant == uuid.Nil {
		return nil, fmt.Errorf("access: policy of the nil tenant")
	}
	tp := e.cached(tenant)
	now := e.opts.Clock().UnixNano()
	var cur *Policy
	var gen int64
	if tp != nil {
		// The generation before the version read: an Invalidate after this point
		// must win over the confirmation below.
		gen = tp.gen.Load()
		cur = tp.current.Load()
		if cur != nil {
			checked := tp.checked.Load()
			if checked != 0 && checked >= e.listenSince.Load() && e.leased(now) {
				tp.touch(now)
				if n := tp.notified.Load(); n > cur.version {
					// Announced: refresh to it without asking for the version.
					return e.reload(ctx, tp, tenant, n, true, now)
				}
				return cur, nil
			}
			// A check "in the future" (the clock stepped back) is no check at all.
			if e.opts.MaxStaleness > 0 && now >= checked && now-checked < int64(e.opts.MaxStaleness) {
				tp.touch(now)
				return cur, nil
			}
		}
	}
	var notes int64
	if tp != nil {
		notes = tp.notes.Load() // before the read: see settle
	}
	v, err := e.store.PolicyVersion(ctx, tenant)
	if err != nil {
		// An unknown tenant (storage.ErrNotFound) leaves no trace in the cache.
		return nil, fmt.Errorf("access: policy version: %w", err)
	}
	if tp == nil {
		tp = e.entry(tenant)
	}
	tp.touch(now)
	if cur != nil && cur.version == v {
		tp.settle(notes, v)
		tp.checked.Store(now)
		if tp.gen.Load() != gen {
			// Invalidated while the version was read: the read may predate the
			// change, so the confirmation must not stand (the same guard as reload).
			tp.checked.Store(0)
		}
		return cur, nil
	}
	return e.reload(ctx, tp, tenant, v, false, now)
}

// reload refreshes the entry's policy to at least version atLeast: a version the
// store returned, or, if hint, one a listener announced (which the store's read may
// settle lower, see settle).
func (e *Engine) reload(ctx context.Context, tp *tenantPolicy, tenant uuid.UUID, atLeast int64, hint bool, now int64) (*Policy, error) {
	tp.load.Lock()
	for tp.evicted {
		// Evicted meanwhile: load into the tenant's live entry.
		tp.load.Unlock()
		tp = e.entry(tenant)
		tp.load.Lock()
	}
	defer tp.load.Unlock()
	cur := tp.current.Load()
	if cur != nil && (cur.version >= atLeast || hint && cur.version >= tp.notified.Load()) {
		// Another caller loaded it meanwhile, or its read settled the announced
		// version below what this caller saw (a forged one).
		return cur, nil
	}
	gen := tp.gen.Load()
	notes := tp.notes.Load() // before the reads: see settle
	var p *Policy
	if cur != nil && e.changes != nil {
		ch, err := e.changes.PolicyChanges(ctx, tenant, cur.version)
		if err != nil {
			return nil, fmt.Errorf("access: policy changes: %w", err)
		}
		if p = cur.apply(ch); p != nil {
			e.refreshes.Add(1)
		}
	}
	full := p == nil
	if full {
		d, err := e.store.LoadPolicy(ctx, tenant)
		if err != nil {
			return nil, fmt.Errorf("access: load policy: %w", err)
		}
		p = Compile(d)
		e.loads.Add(1)
	}
	e.install(tp, p)
	tp.settle(notes, p.version)
	if tp.gen.Load() == gen {
		tp.checked.Store(now)
	} else {
		// Invalidated while loading: the snapshot may predate the change, so the
		// next call checks the version again.
		tp.checked.Store(0)
	}
	if p.overlaySize() >= max(e.compactMin, p.members.base.count()/16) && tp.compacting.CompareAndSwap(false, true) {
		e.bg.Add(1)
		go e.compact(tp, p)
	}
	if full {
		e.evict(tp)
	}
	return p, nil
}

// install makes p the entry's policy; the caller holds tp.load.
func (e *Engine) install(tp *tenantPolicy, p *Policy) {
	tp.current.Store(p)
	b := p.bytes()
	e.total.Add(b - tp.bytes)
	tp.bytes = b
}

// compact folds the overlay of from (the entry's policy when it started) into a new
// base, off the request path, and installs it unless the entry moved to another base.
func (e *Engine) compact(tp *tenantPolicy, from *Policy) {
	defer e.bg.Done()
	defer tp.compacting.Store(false)
	c := from.compacted()
	tp.load.Lock()
	defer tp.load.Unlock()
	if tp.evicted {
		return
	}
	cur := tp.current.Load()
	np := c
	if cur != from {
		if np = rebased(cur, from, c); np == nil {
			return
		}
	}
	e.install(tp, np)
	e.compactions.Add(1)
}

// evict drops the least recently used tenants' policies while the cache holds more
// than MaxBytes, keeping keep.
func (e *Engine) evict(keep *tenantPolicy) {
	if e.opts.MaxBytes < 0 || e.total.Load() <= e.opts.MaxBytes || !e.evicting.TryLock() {
		return
	}
	defer e.evicting.Unlock()
	type cand struct {
		tenant uuid.UUID
		tp     *tenantPolicy
		used   int64
	}
	var cands []cand
	e.cache.Range(func(k, v any) bool {
		if tp := v.(*tenantPolicy); tp != keep {
			cands = append(cands, cand{k.(uuid.UUID), tp, tp.used.Load()})
		}
		return true
	})
	slices.SortFunc(cands, func(a, b cand) int { return int(min(max(a.used-b.used, -1), 1)) })
	for _, c := range cands {
		if e.total.Load() <= e.opts.MaxBytes {
			return
		}
		if !c.tp.load.TryLock() {
			continue // being loaded: in use
		}
		if e.cache.CompareAndDelete(c.tenant, c.tp) {
			c.tp.evicted = true
			e.total.Add(-c.tp.bytes)
			c.tp.bytes = 0
			c.tp.current.Store(nil)
			e.evictions.Add(1)
		}
		c.tp.load.Unlock()
	}
}

// Invalidate drops the cached policy of a tenant so that the next [Engine.Policy]
// reads the version again (and refreshes). [Service] calls it after every change.
func (e *Engine) Invalidate(tenant uuid.UUID) {
	if tp := e.cached(tenant); tp != nil {
		tp.gen.Add(1)
		tp.checked.Store(0)
	}
}

// ListenStarted tells the engine that a change listener (such as
// pglisten.Listener) is subscribed to every tenant's change notifications
// since at (a time of the engine's Clock taken before subscribing). Entries confirmed
// before at still read the version once. The cache is trusted without version reads
// only after [Engine.ListenConfirmed].
func (e *Engine) ListenStarted(at time.Time) {
	e.lease.Revoke()
	e.listenSince.Store(at.UnixNano())
}

// ListenConfirmed tells the engine that the listener received a heartbeat it sent at
// sentAt through the same channel as the change notifications: every change committed
// before sentAt has been announced (see [Engine.Notified]). The cache is then trusted
// without version reads until sentAt + ListenLease; a listener that stops confirming
// (a stuck connection, a lagging queue) therefore falls back to version reads within
// ListenLease, never to a stale cache.
//
// A sentAt after the engine's now is ignored: a heartbeat cannot come back before it
// was sent, so it was forged or the clock stepped back, and it vouches for nothing.
func (e *Engine) ListenConfirmed(sentAt time.Time) {
	e.lease.Confirm(sentAt, e.opts.Clock(), e.opts.ListenLease)
}

// leased reports whether a listener's confirmation vouches for the cache at now (see
// internal/lease: a lease left too far ahead by a backward clock step is not trusted).
func (e *Engine) leased(now int64) bool {
	return e.lease.Valid(time.Unix(0, now), e.opts.ListenLease)
}

// ListenStopped tells the engine that the listener lost its subscription: from now on
// every request reads the policy version again (or uses MaxStaleness).
func (e *Engine) ListenStopped() {
	e.lease.Revoke()
	e.listenSince.Store(1<<63 - 1)
}

// Notified tells the engine that a change of the tenant's policy committed at version:
// the next [Engine.Policy] of the tenant refreshes.
//
// The version is a hint, not a fact: on PostgreSQL any role that may connect can
// NOTIFY, so an announced version may be forged. The refresh reads the store, and the
// store's version settles it: announced versions above the one the store returned
// are dropped if no announcement arrived while it read (a change announced before the
// read began committed before it, so the read includes it), and the cache is then
// current. A forged version therefore costs one refresh (one PolicyChanges read) per
// forged notification, never a read on every request. An announcement that arrives
// while the store is read is kept whatever its version (the read may predate its
// commit), and the next request refreshes again.
func (e *Engine) Notified(tenant uuid.UUID, version int64) {
	tp := e.cached(tenant)
	if tp == nil {
		return
	}
	tp.note.Lock()
	defer tp.note.Unlock()
	tp.notes.Add(1)
	if version > tp.notified.Load() {
		tp.notified.Store(version)
	}
}

// settle drops announced versions above version, the tenant's version in a read of
// the store made after notes announcements had been counted, unless another came
// since: every announcement counted before the read was of a commit the read
// includes, so an announced version above the one it returned was not real (forged,
// or from before a restore of the database). An announcement made during the read
// may be of a commit after it, and is kept.
func (tp *tenantPolicy) settle(notes, version int64) {
	if tp.notified.Load() <= version {
		return
	}
	tp.note.Lock()
	defer tp.note.Unlock()
	if tp.notes.Load() == notes && tp.notified.Load() > version {
		tp.notified.Store(version)
	}
}

// Now returns the time of the engine's Clock; a change listener stamps its heartbeats
// with it.
func (e *Engine) Now() time.Time { return e.opts.Clock() }

// ListenLease returns the engine's ListenLease.
func (e *Engine) ListenLease() time.Duration { return e.opts.ListenLease }

// Listening reports whether a change listener currently vouches for the cache.
func (e *Engine) Listening() bool {
	return e.leased(e.opts.Clock().UnixNano())
}

// EngineStats are counters of an [Engine], for metrics.
type EngineStats struct {
	Loads       int64 // full loads and compilations of a tenant's policy
	Refreshes   int64 // incremental refreshes from the change log
	Compactions int64 // overlays folded into a new base in the background
	Evictions   int64 // tenants' policies evicted for the memory budget
	Bytes       int64 // estimated memory of the cached policies
	Tenants     int   // tenants cached
}

// Stats returns the engine's counters.
func (e *Engine) Stats() EngineStats {
	s := EngineStats{Loads: e.loads.Load(), Refreshes: e.refreshes.Load(), Compactions: e.compactions.Load(),
		Evictions: e.evictions.Load(), Bytes: e.total.Load()}
	e.cache.Range(func(any, any) bool { s.Tenants++; return true })
	return s
}

// Loads returns how many times policies were compiled from a full load of the store,
// for metrics (see [Engine.Stats] for the other counters).
func (e *Engine) Loads() int64 { return e.loads.Load() }
