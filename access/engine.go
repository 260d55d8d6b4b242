package access

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// EngineOptions configure an [Engine]. The zero value is valid and is the strictest
// setting.
type EngineOptions struct {
	// MaxStaleness bounds how long a cached policy is used without asking the store
	// whether it changed. If zero, every [Engine.Policy] call reads the tenant's policy
	// version (one indexed single-row read) and recompiles when it moved, so a change
	// made by another app instance applies on that instance's next request. A positive
	// value trades that for fewer reads: another instance's change applies within
	// MaxStaleness. Changes made through this process's [Service] apply at once whatever
	// the setting.
	MaxStaleness time.Duration
	// Clock returns the current time. If nil, time.Now is used.
	Clock func() time.Time
}

// Engine serves each tenant's current compiled [Policy]. It caches one immutable
// snapshot per tenant and replaces it when the tenant's policy version in the store
// moves. It is safe for concurrent use; one Engine serves every tenant of the process.
type Engine struct {
	store Store
	opts  EngineOptions
	// cache holds a *tenantPolicy per tenant that the store knows: an entry is made
	// only after the store answered for the tenant, so that requests naming random
	// tenant IDs cannot grow it.
	cache sync.Map
	loads atomic.Int64
}

type tenantPolicy struct {
	load    sync.Mutex // one load at a time per tenant
	current atomic.Pointer[Policy]
	checked atomic.Int64 // unix nanoseconds of the last version check
	gen     atomic.Int64 // incremented by Invalidate
}

// NewEngine returns an Engine reading policies from store.
func NewEngine(store Store, opts EngineOptions) *Engine {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Engine{store: store, opts: opts}
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

// Policy returns the tenant's current policy. Unless the cached snapshot was confirmed
// within MaxStaleness, it reads the tenant's policy version from the store and reloads
// the policy if the version moved. On any storage error it returns the error and no
// policy: callers deny (fail closed), they never fall back to a stale snapshot.
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
		if cur != nil && e.opts.MaxStaleness > 0 && now-tp.checked.Load() < int64(e.opts.MaxStaleness) {
			return cur, nil
		}
	}
	v, err := e.store.PolicyVersion(ctx, tenant)
	if err != nil {
		// An unknown tenant (storage.ErrNotFound) leaves no trace in the cache.
		return nil, fmt.Errorf("access: policy version: %w", err)
	}
	if tp == nil {
		tp = e.entry(tenant)
	}
	if cur != nil && cur.version == v {
		tp.checked.Store(now)
		if tp.gen.Load() != gen {
			// Invalidated while the version was read: the read may predate the
			// change, so the confirmation must not stand (the same guard as reload).
			tp.checked.Store(0)
		}
		return cur, nil
	}
	return e.reload(ctx, tp, tenant, v, now)
}

func (e *Engine) reload(ctx context.Context, tp *tenantPolicy, tenant uuid.UUID, atLeast, now int64) (*Policy, error) {
	tp.load.Lock()
	defer tp.load.Unlock()
	if cur := tp.current.Load(); cur != nil && cur.version >= atLeast {
		return cur, nil // another caller loaded it meanwhile
	}
	gen := tp.gen.Load()
	d, err := e.store.LoadPolicy(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("access: load policy: %w", err)
	}
	p := Compile(d)
	e.loads.Add(1)
	tp.current.Store(p)
	if tp.gen.Load() == gen {
		tp.checked.Store(now)
	} else {
		// Invalidated while loading: the snapshot may predate the change, so the
		// next call checks the version again.
		tp.checked.Store(0)
	}
	return p, nil
}

// Invalidate drops the cached policy of a tenant so that the next [Engine.Policy]
// reloads it. [Service] calls it after every change.
func (e *Engine) Invalidate(tenant uuid.UUID) {
	if tp := e.cached(tenant); tp != nil {
		tp.gen.Add(1)
		tp.checked.Store(0)
	}
}

// Loads returns how many times policies were compiled from the store, for metrics.
func (e *Engine) Loads() int64 { return e.loads.Load() }
