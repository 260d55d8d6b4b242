package memory

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/google/uuid"
)

// The authn.ThrottleStore methods: counters under the store's one lock, so that each
// hit is an atomic increment-and-read.

// hit applies one failure at now to st (nil: no counter yet) by the rules of
// authn.ThrottleStore.HitThrottle.
func hit(st *authn.ThrottleState, h authn.ThrottleHit, now time.Time) authn.ThrottleState {
	if st == nil || !now.Before(st.ExpiresAt) {
		return authn.ThrottleState{Key: h.Key, Count: 1, FirstAt: now, LastAt: now, ExpiresAt: now.Add(h.Window)}
	}
	n := *st
	n.Count++
	n.LastAt = now
	switch {
	case !n.LockedAt.IsZero(): // a lock is not extended
	case n.Count >= h.Threshold:
		n.LockedAt, n.ExpiresAt = now, now.Add(h.Lock)
	default:
		n.ExpiresAt = now.Add(h.Window)
	}
	return n
}

func checkHits(hits []authn.ThrottleHit) error {
	for _, h := range hits {
		if h.Key == "" || h.Threshold < 2 || h.Window <= 0 || h.Lock <= 0 {
			return fmt.Errorf("memory: invalid throttle hit %q", h.Key)
		}
	}
	return nil
}

// HitThrottle counts one failure of each key at now.
func (s *Store) HitThrottle(ctx context.Context, tenant uuid.UUID, hits []authn.ThrottleHit, now time.Time) ([]authn.ThrottleState, error) {
	if err := checkHits(hits); err != nil {
		return nil, err
	}
	now = utc(now)
	out := make([]authn.ThrottleState, len(hits))
	err := s.quietWork(ctx, tenant, nil, func(_ *tenantState, ss *sessionState) (int, error) {
		for i, h := range hits {
			k := tenantKey{tenant, h.Key}
			n := hit(ss.throttle[k], authn.ThrottleHit{Key: h.Key, Threshold: h.Threshold,
				Window: h.Window.Truncate(time.Microsecond), Lock: h.Lock.Truncate(time.Microsecond)}, now)
			ss.throttle[k] = &n
			out[i] = n
		}
		return 0, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ThrottleStates returns the stored state of each key.
func (s *Store) ThrottleStates(ctx context.Context, tenant uuid.UUID, keys []string) ([]authn.ThrottleState, error) {
	out := make([]authn.ThrottleState, len(keys))
	err := s.read(ctx, tenant, func(*tenantState) error {
		for i, k := range keys {
			if st, ok := s.sessions.throttle[tenantKey{tenant, k}]; ok {
				out[i] = *st
			} else {
				out[i] = authn.ThrottleState{Key: k}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ResetThrottle deletes the counters of keys and of keys with one of prefixes.
func (s *Store) ResetThrottle(ctx context.Context, tenant uuid.UUID, keys, prefixes []string, ev *audit.Event) error {
	var evs []audit.Event
	if ev != nil {
		evs = []audit.Event{*ev}
	}
	for _, p := range prefixes {
		if p == "" {
			return fmt.Errorf("memory: empty throttle prefix")
		}
	}
	return s.quietWork(ctx, tenant, evs, func(_ *tenantState, ss *sessionState) (int, error) {
		for _, k := range keys {
			delete(ss.throttle, tenantKey{tenant, k})
		}
		for k := range ss.throttle {
			if k.tenant != tenant {
				continue
			}
			for _, p := range prefixes {
				if strings.HasPrefix(k.key, p) {
					delete(ss.throttle, k)
					break
				}
			}
		}
		return len(evs), nil
	})
}

// DeleteStaleThrottle removes counters whose ExpiresAt is not after now.
func (s *Store) DeleteStaleThrottle(ctx context.Context, now time.Time) (int, error) {
	if err := live(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, st := range s.sessions.throttle {
		if !st.ExpiresAt.After(now) {
			delete(s.sessions.throttle, k)
			n++
		}
	}
	return n, nil
}
