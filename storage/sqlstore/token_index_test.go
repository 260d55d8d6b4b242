package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/storage/sqlstore"
)

// The token rate limit reads a user's newest token, revoked ones included, at every
// Issue and Regenerate: with 20,000 tokens of 2,000 users in the tenant, both reads are
// served by migration 0019's index (PostgreSQL's planner after ANALYZE, with
// sequential scans allowed; SQLite's query plan), not by a scan of the tenant's
// tokens, and LatestUserToken reads in index order without a sort.
func TestTokenRateLimitReadsUseTheIndex(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		s := newStore(t, d)
		ctx := context.Background()
		svc := access.NewService(s, access.NewEngine(s, access.EngineOptions{}), access.ServiceOptions{})
		tn, err := svc.CreateTenant(ctx, "Tokens")
		require.NoError(t, err)
		db := sqlstore.DBForTest(s)
		const n, users = 20000, 2000
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if d == sqlstore.Postgres {
			_, err = db.ExecContext(ctx, `INSERT INTO cs_tokens (tenant_id, id, user_id, name, token_hash, created_at, revoked_at)
				SELECT $1::uuid, gen_random_uuid(), md5('user' || (g % $2))::uuid, 'n', sha256(g::text::bytea),
					$3::timestamptz + g * interval '1 minute', $3::timestamptz + g * interval '1 minute'
				FROM generate_series(1, $4::bigint) g`, tn.ID, users, base, n)
		} else {
			_, err = db.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $4)
				INSERT INTO cs_tokens (tenant_id, id, user_id, name, token_hash, created_at, revoked_at)
				SELECT $1, 'token-' || n, 'user-' || (n % $2), 'n', randomblob(32),
					$3 + n * 60000000, $3 + n * 60000000
				FROM g`, tn.ID.String(), users, base.UnixMicro(), n)
		}
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "ANALYZE")
		require.NoError(t, err)

		latest, after, timeArg := sqlstore.TokenRateLimitQueriesForTest(s)
		user := any(uuid.NewMD5(uuid.Nil, []byte("x"))) // any user: the plan is what counts
		if d == sqlstore.SQLite {
			user = "user-7"
		}
		for name, q := range map[string]struct {
			sql  string
			args []any
		}{
			"LatestUserToken":            {latest, []any{tn.ID, user}},
			"CreateTokenAfter condition": {after, []any{tn.ID, user, timeArg(base.Add(time.Hour))}},
		} {
			plan := explainSQL(t, db, d, q.sql, q.args...)
			t.Logf("%s:\n%s", name, plan)
			if d == sqlstore.Postgres {
				assert.Contains(t, plan, "cs_tokens_user_created_idx", name)
				assert.NotContains(t, plan, "Seq Scan", name)
				assert.NotRegexp(t, `(?m)^\s*(->\s*)?Sort\b`, plan, name)
			} else {
				assert.Contains(t, plan, "cs_tokens_user_created_idx", name)
				assert.NotContains(t, plan, "TEMP B-TREE", name)
			}
		}
	})
}

// explainSQL returns the plan of query as the database would run it: the plan text
// is the last column of EXPLAIN (PostgreSQL) and EXPLAIN QUERY PLAN (SQLite).
func explainSQL(t *testing.T, db *sql.DB, d sqlstore.Dialect, query string, args ...any) string {
	t.Helper()
	prefix := "EXPLAIN "
	if d == sqlstore.SQLite {
		prefix = "EXPLAIN QUERY PLAN "
	}
	rows, err := db.QueryContext(context.Background(), prefix+query, args...)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		plan = append(plan, fmt.Sprint(vals[len(vals)-1]))
	}
	require.NoError(t, rows.Err())
	return strings.Join(plan, "\n")
}
