package authn

import (
	"context"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// ThrottleStore keeps the failure counters of the throttle (throttle.go), shared by
// every instance on the database. It is part of [SessionStore].
type ThrottleStore interface {
	// HitThrottle counts one failure of each hit's key at now and returns each key's
	// state after the count, in the order of hits. Each key is counted by one atomic
	// increment-and-read (one statement), so concurrent failures are all counted,
	// exactly. The rules, per key: a count whose ExpiresAt is not after now starts again
	// at 1; a count that reaches Threshold locks the key (LockedAt = now, ExpiresAt =
	// now+Lock), and failures during a lock are counted without extending it; an
	// unlocked count expires Window after its last failure. An unknown tenant is
	// storage.ErrNotFound.
	HitThrottle(ctx context.Context, tenant uuid.UUID, hits []ThrottleHit, now time.Time) ([]ThrottleState, error)
	// ThrottleStates returns the stored state of each key, in order (the zero state,
	// with the Key set, for a key without a counter).
	ThrottleStates(ctx context.Context, tenant uuid.UUID, keys []string) ([]ThrottleState, error)
	// ResetThrottle deletes the counters of keys and of every key starting with one of
	// prefixes, and appends ev if it is not nil (an administrator's unlock), all in one
	// unit of work. An unknown tenant is storage.ErrNotFound.
	ResetThrottle(ctx context.Context, tenant uuid.UUID, keys, prefixes []string, ev *audit.Event) error
	// DeleteStaleThrottle removes counters, of every tenant, whose ExpiresAt is not
	// after now, and returns how many.
	DeleteStaleThrottle(ctx context.Context, now time.Time) (int, error)
}

// ThrottleHit is one key to count a failure for, with its rules.
type ThrottleHit struct {
	Key string
	// Threshold is the count at which the key locks (at least 2).
	Threshold int
	// Window is how long an unlocked count lasts after its last failure.
	Window time.Duration
	// Lock is how long a lock lasts from the failure that reached Threshold.
	Lock time.Duration
}

// ThrottleState is a key's counter.
type ThrottleState struct {
	Key      string
	Count    int
	FirstAt  time.Time
	LastAt   time.Time
	LockedAt time.Time // zero while not locked
	// ExpiresAt is when the counter (or its lock) ends.
	ExpiresAt time.Time
}

// live reports whether the counter still counts at now.
func (s ThrottleState) live(now time.Time) bool { return s.Count > 0 && now.Before(s.ExpiresAt) }

// Locked reports whether the key is locked at now.
func (s ThrottleState) Locked(now time.Time) bool { return s.live(now) && !s.LockedAt.IsZero() }
