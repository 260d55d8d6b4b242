package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
)

// Compile-time check: a *Store is a token.Store too.
var _ token.Store = (*Store)(nil)

// The token.Store methods, over the tables of migration 0008 (cs_tokens,
// cs_token_usage).
//
// Token mutations are transactions of the authn shape (authnTx): the tenant's row is
// locked first (FOR NO KEY UPDATE on PostgreSQL), so a tenant's token mutations are
// serialised, the check "the user has no unrevoked token" still holds at commit, and
// the partial unique index cs_tokens_active_key is the backstop. Regeneration is one
// conditional UPDATE (the old token, unrevoked, of this user) and an INSERT.
//
// Usage is added with INSERT ... SELECT ... ON CONFLICT DO UPDATE, adding the counts
// to the stored ones: concurrent flushes of several instances sum. The rows of one
// flush are written in one transaction in (tenant, token, day) order, and each
// token's last_used_at moved forward after its row, so two flushes lock rows in one
// order and cannot deadlock; they never lock tenant rows or the audit chain.

const tokenColumns = "tenant_id, id, user_id, name, token_hash, created_by, created_at, expires_at, last_used_at, revoked_at"

func scanToken(r scanner) (token.Token, error) {
	var t token.Token
	err := r.Scan(&t.Tenant, &t.ID, &t.User, &t.Name, hashScan{&t.Hash}, nullUUIDCol{&t.CreatedBy},
		timeCol{&t.CreatedAt}, nullTimeCol{&t.ExpiresAt}, nullTimeCol{&t.LastUsedAt}, nullTimeCol{&t.RevokedAt})
	return t, err
}

func (s *Store) insertToken(ctx context.Context, tx *sql.Tx, t token.Token) error {
	_, err := tx.ExecContext(ctx,
		"INSERT INTO cs_tokens ("+tokenColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)",
		t.Tenant, t.ID, t.User, t.Name, t.Hash[:], nullUUID(t.CreatedBy), s.d.timeArg(t.CreatedAt),
		s.d.nullTimeArg(t.ExpiresAt))
	return err
}

// CreateToken stores t if its user has no unrevoked token (token.ErrExists and
// storage.ErrConflict otherwise).
func (s *Store) CreateToken(ctx context.Context, t token.Token, ev audit.Event) error {
	return s.createToken(ctx, t, nil, ev)
}

// CreateTokenAfter stores t if its user has no unrevoked token (token.ErrExists and
// storage.ErrConflict) and no token created after `after` (storage.ErrStale). The
// check runs after the tenant's row is locked (authnTx), so it still holds at commit:
// a racing creation or replacement of the tenant committed before it, and is seen.
// It reads the user's tokens through the index of migration 0019
// (TestTokenRateLimitReadsUseTheIndex).
func (s *Store) CreateTokenAfter(ctx context.Context, t token.Token, after time.Time, ev audit.Event) error {
	return s.createToken(ctx, t, &after, ev)
}

// createToken is CreateToken, and CreateTokenAfter when after is not nil.
func (s *Store) createToken(ctx context.Context, t token.Token, after *time.Time, ev audit.Event) error {
	return s.authnTx(ctx, "create token", t.Tenant, ev, false, nil, func(tx *sql.Tx) error {
		taken, err := exists(ctx, tx, "SELECT 1 FROM cs_tokens WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
			t.Tenant, t.User)
		if err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("%w: %w", token.ErrExists, storage.ErrConflict)
		}
		if after != nil {
			recent, err := exists(ctx, tx, tokenCreatedAfterQuery, t.Tenant, t.User, s.d.timeArg(*after))
			if err != nil {
				return err
			}
			if recent {
				return fmt.Errorf("a token of the user was created after %s: %w", after.UTC().Format(time.RFC3339Nano), storage.ErrStale)
			}
		}
		return s.insertToken(ctx, tx, t)
	})
}

// ReplaceToken revokes old at t.CreatedAt and stores t if old is t.User's unrevoked
// token (storage.ErrStale otherwise).
func (s *Store) ReplaceToken(ctx context.Context, old uuid.UUID, t token.Token, ev audit.Event) error {
	return s.authnTx(ctx, "replace token", t.Tenant, ev, false, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_tokens SET revoked_at = $4 WHERE tenant_id = $1 AND id = $2 AND user_id = $3 AND revoked_at IS NULL",
			t.Tenant, old, t.User, s.d.timeArg(t.CreatedAt))
		if err != nil {
			return err
		}
		if err := affected(res, storage.ErrStale); err != nil {
			return err
		}
		return s.insertToken(ctx, tx, t)
	})
}

// RevokeToken revokes an unrevoked token (storage.ErrNotFound otherwise).
func (s *Store) RevokeToken(ctx context.Context, tenant, id uuid.UUID, at time.Time, ev audit.Event) error {
	return s.authnTx(ctx, "revoke token", tenant, ev, false, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
			tenant, id, s.d.timeArg(at))
		if err != nil {
			return err
		}
		return affected(res, storage.ErrNotFound)
	})
}

// RevokeUserTokens revokes the user's unrevoked tokens and returns how many.
func (s *Store) RevokeUserTokens(ctx context.Context, tenant, user uuid.UUID, at time.Time, ev audit.Event) (int, error) {
	var n int64
	err := s.authnTx(ctx, "revoke user tokens", tenant, ev, false, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
			tenant, user, s.d.timeArg(at))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// PurgeTokens deletes the tenant's tokens revoked or expired before `before`, with
// their usage rows (first: they reference the tokens), in one transaction. It reads
// the tenant's rows of cs_tokens through its primary key (tenant_id, id) and the usage
// rows of each token through theirs (tenant_id, token_id, day): no index of its own.
func (s *Store) PurgeTokens(ctx context.Context, tenant uuid.UUID, before time.Time) (int, error) {
	const dead = "tenant_id = $1 AND ((revoked_at IS NOT NULL AND revoked_at < $2) OR (expires_at IS NOT NULL AND expires_at < $2))"
	var n int64
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, qTenantExists, tenant); err != nil {
			return err
		}
		at := s.d.timeArg(before)
		if _, err := tx.ExecContext(ctx, "DELETE FROM cs_token_usage WHERE tenant_id = $1 AND token_id IN "+
			"(SELECT id FROM cs_tokens WHERE "+dead+")", tenant, at); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM cs_tokens WHERE "+dead, tenant, at)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlstore: purge tokens: %w", translate(err))
	}
	return int(n), nil
}

// TokenByHash returns the tenant's token with this hash.
func (s *Store) TokenByHash(ctx context.Context, tenant uuid.UUID, hash [32]byte) (token.Token, error) {
	return s.oneToken(ctx, "token by hash",
		"SELECT "+tokenColumns+" FROM cs_tokens WHERE tenant_id = $1 AND token_hash = $2", tenant, hash[:])
}

// Token returns one token of the tenant.
func (s *Store) Token(ctx context.Context, tenant, id uuid.UUID) (token.Token, error) {
	return s.oneToken(ctx, "token", "SELECT "+tokenColumns+" FROM cs_tokens WHERE tenant_id = $1 AND id = $2", tenant, id)
}

// UserToken returns the user's unrevoked token.
func (s *Store) UserToken(ctx context.Context, tenant, user uuid.UUID) (token.Token, error) {
	return s.oneToken(ctx, "user token",
		"SELECT "+tokenColumns+" FROM cs_tokens WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL", tenant, user)
}

// LatestUserToken returns the user's most recently created token, revoked ones
// included.
func (s *Store) LatestUserToken(ctx context.Context, tenant, user uuid.UUID) (token.Token, error) {
	return s.oneToken(ctx, "latest user token", latestUserTokenQuery, tenant, user)
}

// The rate limit's two reads of a user's tokens, revoked ones included: one probe of
// the index of migration 0019 each (TestTokenRateLimitReadsUseTheIndex).
const (
	latestUserTokenQuery = "SELECT " + tokenColumns +
		" FROM cs_tokens WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1"
	tokenCreatedAfterQuery = "SELECT 1 FROM cs_tokens WHERE tenant_id = $1 AND user_id = $2 AND created_at > $3"
)

func (s *Store) oneToken(ctx context.Context, op, query string, args ...any) (token.Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return token.Token{}, fmt.Errorf("sqlstore: %s: %w", op, storage.ErrNotFound)
	}
	if err != nil {
		return token.Token{}, fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	return t, nil
}

// Tokens returns the tenant's unrevoked tokens ordered by user ID.
func (s *Store) Tokens(ctx context.Context, tenant uuid.UUID) ([]token.Token, error) {
	var out []token.Token
	err := s.inTx(ctx, s.d.snapshotTx(), func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, qTenantExists, tenant); err != nil {
			return err
		}
		var err error
		out, err = collect(ctx, tx, func(r *sql.Rows) (token.Token, error) { return scanToken(r) },
			"SELECT "+tokenColumns+" FROM cs_tokens WHERE tenant_id = $1 AND revoked_at IS NULL ORDER BY user_id", tenant)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: tokens: %w", err)
	}
	return out, nil
}

// AddUsage adds the rows' counters in one transaction, skipping rows whose token is
// not of their tenant.
func (s *Store) AddUsage(ctx context.Context, rows []token.Usage) error {
	for _, r := range rows {
		if !r.Day.Valid() || r.Requests < 0 || r.Errors < 0 {
			return fmt.Errorf("sqlstore: add usage: row of token %s: invalid day or counts", r.Token)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b token.Usage) int {
		if c := bytes.Compare(a.Tenant[:], b.Tenant[:]); c != 0 {
			return c
		}
		if c := bytes.Compare(a.Token[:], b.Token[:]); c != 0 {
			return c
		}
		return compareDay(a.Day, b.Day)
	})
	greatest := "GREATEST"
	if s.d == SQLite {
		greatest = "MAX" // SQLite's scalar max of its arguments
	}
	upsert := "INSERT INTO cs_token_usage (tenant_id, token_id, user_id, day, requests, errors, last_used_at) " +
		"SELECT tenant_id, id, user_id, $3, $4, $5, $6 FROM cs_tokens WHERE tenant_id = $1 AND id = $2 " +
		"ON CONFLICT (tenant_id, token_id, day) DO UPDATE SET " +
		"requests = cs_token_usage.requests + excluded.requests, " +
		"errors = cs_token_usage.errors + excluded.errors, " +
		"last_used_at = " + greatest + "(cs_token_usage.last_used_at, excluded.last_used_at)"
	touch := "UPDATE cs_tokens SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2 " +
		"AND (last_used_at IS NULL OR last_used_at < $3)"
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		for _, r := range rows {
			last := s.d.timeArg(r.LastUsed)
			if _, err := tx.ExecContext(ctx, upsert, r.Tenant, r.Token, string(r.Day), r.Requests, r.Errors, last); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, touch, r.Tenant, r.Token, last); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: add usage: %w", translate(err))
	}
	return nil
}

func compareDay(a, b token.Day) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Usage returns the tenant's usage rows of q's days, ordered by day, then token ID.
func (s *Store) Usage(ctx context.Context, tenant uuid.UUID, q token.UsageQuery) ([]token.Usage, error) {
	query := "SELECT tenant_id, token_id, user_id, day, requests, errors, last_used_at FROM cs_token_usage " +
		"WHERE tenant_id = $1 AND day >= $2 AND day <= $3"
	args := []any{tenant, string(q.From), string(q.To)}
	if q.User != uuid.Nil {
		query += " AND user_id = $4"
		args = append(args, q.User)
	}
	query += " ORDER BY day, token_id"
	var out []token.Usage
	err := s.inTx(ctx, s.d.snapshotTx(), func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, qTenantExists, tenant); err != nil {
			return err
		}
		var err error
		out, err = collect(ctx, tx, func(r *sql.Rows) (token.Usage, error) {
			var u token.Usage
			var day string
			err := r.Scan(&u.Tenant, &u.Token, &u.User, &day, &u.Requests, &u.Errors, timeCol{&u.LastUsed})
			u.Day = token.Day(day)
			return u, err
		}, query, args...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: usage: %w", err)
	}
	return out, nil
}
