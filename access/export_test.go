package access

// CachedTenants returns how many tenants e holds an entry for.
func CachedTenants(e *Engine) int {
	n := 0
	e.cache.Range(func(any, any) bool { n++; return true })
	return n
}
