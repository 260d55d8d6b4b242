package token

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// verified is an optional in-process cache of verified tokens (Options.CacheTTL): the
// token's record and the fact that its user was active, as of `at`. Entries are made
// only after a full verification succeeded, so made-up tokens never fill it; there is
// one per active token used within the TTL, and the flusher drops older ones.
//
// Revocations through the Service drop entries under mu and move gen; a verification
// that read the store before such a revocation committed puts its entry only if gen did
// not move meanwhile (checked under mu), so a token revoked on this instance is never
// served from the cache afterwards.
type verified struct {
	ttl int64 // nanoseconds; 0: no cache
	m   sync.Map
	mu  sync.Mutex
	gen uint64 // guarded by mu
}

type cacheKey struct {
	tenant uuid.UUID
	hash   [32]byte
}

type cacheEntry struct {
	t  Token
	at int64 // unix nanoseconds of the verification
}

// get returns the cached record of the token if it was verified within the TTL.
func (c *verified) get(tenant uuid.UUID, hash *[32]byte, now int64) (Token, bool) {
	if c.ttl == 0 {
		return Token{}, false
	}
	v, ok := c.m.Load(cacheKey{tenant, *hash})
	if !ok {
		return Token{}, false
	}
	e := v.(*cacheEntry)
	if now-e.at >= c.ttl || now < e.at {
		return Token{}, false
	}
	return e.t, true
}

// generation returns the current generation, to pass to put.
func (c *verified) generation() uint64 {
	if c.ttl == 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches t verified at now, unless a revocation happened since gen was read.
func (c *verified) put(t Token, gen uint64, now int64) {
	if c.ttl == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.m.Store(cacheKey{t.Tenant, t.Hash}, &cacheEntry{t: t, at: now})
	}
}

// drop removes a token, at once: revocations through this Service call it.
func (c *verified) drop(t Token) {
	if c.ttl == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.m.Delete(cacheKey{t.Tenant, t.Hash})
}

// dropUser removes every cached token of a user.
func (c *verified) dropUser(tenant, user uuid.UUID) {
	if c.ttl == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.m.Range(func(k, v any) bool {
		if e := v.(*cacheEntry); e.t.Tenant == tenant && e.t.User == user {
			c.m.Delete(k)
		}
		return true
	})
}

// sweep drops the entries older than the TTL.
func (c *verified) sweep(now time.Time) {
	if c.ttl == 0 {
		return
	}
	n := now.UnixNano()
	c.m.Range(func(k, v any) bool {
		if n-v.(*cacheEntry).at >= c.ttl {
			c.m.Delete(k)
		}
		return true
	})
}
