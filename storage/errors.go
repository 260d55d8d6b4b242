package storage

import "errors"

// Sentinel errors returned by every adapter. Domain packages wrap or translate them;
// callers compare with [errors.Is], never by string.
var (
	// ErrNotFound: no row with this ID exists in this tenant. A row of another tenant is
	// reported as not found too, so that IDs cannot be probed across tenants.
	ErrNotFound = errors.New("storage: not found")

	// ErrConflict: a uniqueness rule would be broken (a duplicate name or e-mail), or a
	// conditional write lost a race (the row changed since it was read).
	ErrConflict = errors.New("storage: conflict")

	// ErrStale: an optimistic-concurrency check failed: the version passed in is not the
	// stored one. Re-read and retry.
	ErrStale = errors.New("storage: stale version")
)
