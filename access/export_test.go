package access

// CachedTenants returns how many tenants e holds an entry for.
func CachedTenants(e *Engine) int {
	n := 0
	e.cache.Range(func(any, any) bool { n++; return true })
	return n
}

// SetCompactMin sets the overlay size from which e compacts a policy (tests make it
// small to exercise compaction).
func SetCompactMin(e *Engine, n int) { e.compactMin = n }

// WaitCompactions waits for e's background compactions.
func WaitCompactions(e *Engine) { e.bg.Wait() }

// OverlaySize returns how many members p's overlay holds.
func OverlaySize(p *Policy) int { return p.overlaySize() }

// PolicyBytes returns p's estimated memory.
func PolicyBytes(p *Policy) int64 { return p.bytes() }

// ApplyChanges applies ch to p as the engine's refresh does (nil: full load needed).
func ApplyChanges(p *Policy, ch PolicyChanges) *Policy { return p.apply(ch) }
