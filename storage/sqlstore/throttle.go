package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/google/uuid"
)

// The authn.ThrottleStore methods, over cs_throttle (migration 0006). Each hit is one
// INSERT ... ON CONFLICT DO UPDATE ... RETURNING: the row's increment and the read of
// its new state are one statement, atomic under concurrency on PostgreSQL (the
// conflicting row is locked) and on SQLite (one writer).

// hitStatement applies the rules of authn.ThrottleStore.HitThrottle: $3 now, $4
// threshold, $5 now+window, $6 now+lock. A counter that expired starts again at 1; a
// lock is never extended.
const hitStatement = `INSERT INTO cs_throttle (tenant_id, key, count, first_at, last_at, locked_at, expires_at)
VALUES ($1, $2, 1, $3, $3, NULL, $5)
ON CONFLICT (tenant_id, key) DO UPDATE SET
  count = CASE WHEN cs_throttle.expires_at <= $3 THEN 1 ELSE cs_throttle.count + 1 END,
  first_at = CASE WHEN cs_throttle.expires_at <= $3 THEN $3 ELSE cs_throttle.first_at END,
  last_at = $3,
  locked_at = CASE WHEN cs_throttle.expires_at <= $3 THEN NULL
                   WHEN cs_throttle.locked_at IS NOT NULL THEN cs_throttle.locked_at
                   WHEN cs_throttle.count + 1 >= $4 THEN $3
                   ELSE NULL END,
  expires_at = CASE WHEN cs_throttle.expires_at <= $3 THEN $5
                    WHEN cs_throttle.locked_at IS NOT NULL THEN cs_throttle.expires_at
                    WHEN cs_throttle.count + 1 >= $4 THEN $6
                    ELSE $5 END
RETURNING count, first_at, last_at, locked_at, expires_at`

// HitThrottle counts one failure of each key at now.
func (s *Store) HitThrottle(ctx context.Context, tenant uuid.UUID, hits []authn.ThrottleHit, now time.Time) ([]authn.ThrottleState, error) {
	for _, h := range hits {
		if h.Key == "" || h.Threshold < 2 || h.Window <= 0 || h.Lock <= 0 {
			return nil, fmt.Errorf("sqlstore: invalid throttle hit %q", h.Key)
		}
	}
	now = now.UTC().Truncate(time.Microsecond)
	out := make([]authn.ThrottleState, len(hits))
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, qTenantExists, tenant); err != nil {
			return err
		}
		for i, h := range hits {
			st := authn.ThrottleState{Key: h.Key}
			err := tx.QueryRowContext(ctx, hitStatement, tenant, h.Key, s.d.timeArg(now), h.Threshold,
				s.d.timeArg(now.Add(h.Window)), s.d.timeArg(now.Add(h.Lock))).
				Scan(&st.Count, timeCol{&st.FirstAt}, timeCol{&st.LastAt}, nullTimeCol{&st.LockedAt}, timeCol{&st.ExpiresAt})
			if err != nil {
				return err
			}
			out[i] = st
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: hit throttle: %w", translate(err))
	}
	return out, nil
}

// ThrottleStates returns the stored state of each key.
func (s *Store) ThrottleStates(ctx context.Context, tenant uuid.UUID, keys []string) ([]authn.ThrottleState, error) {
	out := make([]authn.ThrottleState, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	ph := make([]string, len(keys))
	args := []any{tenant}
	for i, k := range keys {
		ph[i] = fmt.Sprintf("$%d", i+2)
		args = append(args, k)
		out[i] = authn.ThrottleState{Key: k}
	}
	found, err := collect(ctx, s.db, func(r *sql.Rows) (authn.ThrottleState, error) {
		var st authn.ThrottleState
		err := r.Scan(&st.Key, &st.Count, timeCol{&st.FirstAt}, timeCol{&st.LastAt}, nullTimeCol{&st.LockedAt}, timeCol{&st.ExpiresAt})
		return st, err
	}, "SELECT key, count, first_at, last_at, locked_at, expires_at FROM cs_throttle WHERE tenant_id = $1 AND key IN ("+
		strings.Join(ph, ", ")+")", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: throttle states: %w", err)
	}
	for _, st := range found {
		for i := range out {
			if out[i].Key == st.Key {
				out[i] = st
			}
		}
	}
	return out, nil
}

// ResetThrottle deletes the counters of keys and of keys with one of prefixes.
func (s *Store) ResetThrottle(ctx context.Context, tenant uuid.UUID, keys, prefixes []string, ev *audit.Event) error {
	var evs []audit.Event
	if ev != nil {
		evs = []audit.Event{*ev}
	}
	return s.sessionTx(ctx, "reset throttle", tenant, evs, func(tx *sql.Tx) ([]audit.Event, error) {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, "DELETE FROM cs_throttle WHERE tenant_id = $1 AND key = $2", tenant, k); err != nil {
				return nil, err
			}
		}
		for _, p := range prefixes {
			if p == "" {
				return nil, errors.New("sqlstore: empty throttle prefix")
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM cs_throttle WHERE tenant_id = $1 AND substr(key, 1, length($2)) = $2", tenant, p); err != nil {
				return nil, err
			}
		}
		return evs, nil
	})
}

// DeleteStaleThrottle removes counters whose ExpiresAt is not after now.
func (s *Store) DeleteStaleThrottle(ctx context.Context, now time.Time) (int, error) {
	res, err := s.execWrite(ctx, "DELETE FROM cs_throttle WHERE expires_at <= $1", s.d.timeArg(now))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete stale throttle counters: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
