package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// The expiry cleanups of one-time links and two-factor enrolments (authn's
// Service.CleanupSessions). They run outside the tenant-lock protocol of the units of
// work (see authn.go), across tenants, and must never hold up or deadlock one: on
// PostgreSQL each statement deletes at most expiredBatch rows that it could lock at
// once (FOR UPDATE SKIP LOCKED), so it never waits on a row a live transaction holds
// (that row goes at the next run), and takes no other lock; SQLite's one writer (see
// Store.writer) serialises the single DELETE with every other write. Both tables have
// an index on expires_at (migration 0018), so a statement reads only expired rows.

// expiredBatch bounds the rows one PostgreSQL cleanup statement deletes.
const expiredBatch = 1000

// DeleteExpiredTickets deletes the tickets of every tenant whose expires_at is not
// after now (used, revoked or neither) and returns how many.
func (s *Store) DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error) {
	n, err := s.deleteExpired(ctx, "cs_tickets", "tenant_id, id", now)
	if err != nil {
		return n, fmt.Errorf("sqlstore: delete expired tickets: %w", err)
	}
	return n, nil
}

// DeleteExpiredTwoFactorEnrolments deletes the pending enrolments of every tenant
// whose expires_at is not after now and returns how many. Active factors live in
// another table (cs_two_factor) and are never touched.
func (s *Store) DeleteExpiredTwoFactorEnrolments(ctx context.Context, now time.Time) (int, error) {
	n, err := s.deleteExpired(ctx, "cs_two_factor_enrolments", "tenant_id, user_id", now)
	if err != nil {
		return n, fmt.Errorf("sqlstore: delete expired two-factor enrolments: %w", err)
	}
	return n, nil
}

// deleteExpired deletes table's rows whose expires_at is not after now; key is the
// table's primary key. table and key are constants of this file, never input.
func (s *Store) deleteExpired(ctx context.Context, table, key string, now time.Time) (int, error) {
	if s.d != Postgres {
		res, err := s.execWrite(ctx, "DELETE FROM "+table+" WHERE expires_at <= $1", s.d.timeArg(now))
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		return int(n), err
	}
	q := "DELETE FROM " + table + " WHERE (" + key + ") IN (SELECT " + key + " FROM " + table +
		" WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
	total := 0
	for {
		res, err := s.db.ExecContext(ctx, q, s.d.timeArg(now), expiredBatch)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < expiredBatch {
			return total, nil
		}
	}
}
