package sqlstore_test

import (
	"context"
	"crypto/md5"
	"database/sql"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/callshield/callshield/storage/storetest"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTamperEvidence edits, deletes and reorders stored audit rows directly with SQL,
// in SQLite and PostgreSQL, and checks that audit.Verify names the first broken link
// (the conformance suite's tamper cases, run with a keyed chain).
func TestTamperEvidence(t *testing.T) {
	chain := audit.Chain{Key: []byte("a key the database never sees")}
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		storetest.RunTamper(t, func(t *testing.T) (storetest.Stores, storetest.Tamperer) {
			s := newStores(t, d, 1, sqlstore.Options{Chain: chain})[0]
			return storetest.Stores{Access: s, Audit: s, Chain: chain}, sqlTamperer{db: sqlstore.DBForTest(s)}
		})
	})
}

// sqlTamperer is storetest.Tamperer in plain SQL, as an attacker with database access
// would write it.
type sqlTamperer struct{ db *sql.DB }

// exec runs a statement that must change exactly one row.
func (tm sqlTamperer) exec(ctx context.Context, query string, args ...any) error {
	res, err := tm.db.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%s: %d rows changed (%v)", query, n, err)
	}
	return nil
}

func (tm sqlTamperer) EditReason(ctx context.Context, tenant uuid.UUID, seq int64, reason string) error {
	return tm.exec(ctx, "UPDATE cs_audit_events SET reason = $3 WHERE tenant_id = $1 AND seq = $2", tenant, seq, reason)
}

func (tm sqlTamperer) DeleteEvent(ctx context.Context, tenant uuid.UUID, seq int64) error {
	return tm.exec(ctx, "DELETE FROM cs_audit_events WHERE tenant_id = $1 AND seq = $2", tenant, seq)
}

// SwapSeq moves a out of the way first: the primary key is checked row by row.
func (tm sqlTamperer) SwapSeq(ctx context.Context, tenant uuid.UUID, a, b int64) error {
	const aside = 1 << 40
	for _, mv := range [][2]int64{{a, aside}, {b, a}, {aside, b}} {
		if err := tm.exec(ctx, "UPDATE cs_audit_events SET seq = $3 WHERE tenant_id = $1 AND seq = $2", tenant, mv[0], mv[1]); err != nil {
			return err
		}
	}
	return nil
}

func (tm sqlTamperer) SetHashes(ctx context.Context, tenant uuid.UUID, seq int64, prev, hash []byte) error {
	return tm.exec(ctx, "UPDATE cs_audit_events SET prev_hash = $3, hash = $4 WHERE tenant_id = $1 AND seq = $2", tenant, seq, prev, hash)
}

func (tm sqlTamperer) SetHead(ctx context.Context, tenant uuid.UUID, head audit.Link) error {
	return tm.exec(ctx, "UPDATE cs_audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1", tenant, head.Seq, head.Hash)
}

func (tm sqlTamperer) DeleteCheckpoint(ctx context.Context, tenant uuid.UUID) error {
	return tm.exec(ctx, "DELETE FROM cs_audit_checkpoints WHERE tenant_id = $1", tenant)
}

func (tm sqlTamperer) SetKeyID(ctx context.Context, tenant uuid.UUID, seq int64, keyID uint32) error {
	return tm.exec(ctx, "UPDATE cs_audit_events SET key_id = $3 WHERE tenant_id = $1 AND seq = $2", tenant, seq, int64(keyID))
}

func (tm sqlTamperer) SetCheckpointKeyID(ctx context.Context, tenant uuid.UUID, keyID uint32) error {
	return tm.exec(ctx, "UPDATE cs_audit_checkpoints SET key_id = $2 WHERE tenant_id = $1", tenant, int64(keyID))
}

func TestAppendConflictIsDuplicateOnlyForAStoredID(t *testing.T) {
	// A duplicate event ID is audit.ErrDuplicateEvent, which the Writer reads as
	// "stored already". A row written behind the store's back at the next Seq also
	// breaks a unique key, but must not pass for a duplicate: the event is not stored.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		s := newStore(t, d)
		evs := newEvents(t, newClock())
		tenant := uuid.Must(uuid.NewV7())
		first := evs.ev(tenant, "login")
		require.NoError(t, s.Append(ctx, first))

		err := s.Append(ctx, evs.ev(tenant, "login"), first)
		assert.ErrorIs(t, err, audit.ErrDuplicateEvent)
		assert.ErrorIs(t, err, storage.ErrConflict)

		// Copy the first row to seq 2 under a new ID, without moving the head.
		_, err = sqlstore.DBForTest(s).ExecContext(ctx, "INSERT INTO cs_audit_events (tenant_id, seq, id, time, kind, action, "+
			"actor_role, actor_ip, actor_user_agent, target_type, target_id, target_name, outcome, reason, hash) "+
			"SELECT tenant_id, 2, $2, time, kind, action, actor_role, actor_ip, actor_user_agent, target_type, target_id, "+
			"target_name, outcome, reason, hash FROM cs_audit_events WHERE tenant_id = $1 AND seq = 1", tenant, uuid.New())
		require.NoError(t, err)
		err = s.Append(ctx, evs.ev(tenant, "login"))
		assert.ErrorIs(t, err, storage.ErrConflict)
		assert.NotErrorIs(t, err, audit.ErrDuplicateEvent)
	})
}

// explain returns the query plan of q as the store runs it.
func explain(t *testing.T, s *sqlstore.Store, tenant uuid.UUID, q audit.Query) string {
	t.Helper()
	query, args := sqlstore.EventsQueryForTest(s, tenant, q)
	return explainSQL(t, sqlstore.DBForTest(s), s.Dialect(), query, args...)
}

// userID is the actor UUID that generated rows give user number n.
func userID(n int) uuid.UUID {
	sum := md5.Sum(fmt.Appendf(nil, "user%d", n))
	u, _ := uuid.FromBytes(sum[:])
	return u
}

// genBase is the time of the first generated event.
var genBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// generateEvents fills the tenant's chain with n rows generated by the database itself
// (fast, and the same shape on both dialects): event g is at genBase + g minutes, of
// kind login, change, action, session, recording in turn, by user g % users, on target
// "t-<g % 500>". The rows are not linked (their hash is a dummy): they serve queries,
// not verification.
func generateEvents(t testing.TB, s *sqlstore.Store, tenant uuid.UUID, n, users int) {
	t.Helper()
	ctx := context.Background()
	db := sqlstore.DBForTest(s)
	_, err := db.ExecContext(ctx, "INSERT INTO cs_audit_heads (tenant_id, seq) VALUES ($1, $2)", tenant, n)
	require.NoError(t, err)
	var query string
	if s.Dialect() == sqlstore.Postgres {
		query = `INSERT INTO cs_audit_events (tenant_id, seq, id, time, kind, action, actor_user, actor_role, actor_ip,
			actor_user_agent, target_type, target_id, target_name, outcome, reason, hash)
		SELECT $1::uuid, g, gen_random_uuid(), $2::timestamptz + g * interval '1 minute',
			(ARRAY['login','change','action','session','recording'])[1 + g % 5], 'x',
			md5('user' || (g % $3))::uuid, '', '', '', 'thing', 't-' || (g % 500), '', 'success', '', '\x00'::bytea
		FROM generate_series(1, $4::bigint) g`
		_, err = db.ExecContext(ctx, query, tenant, genBase, users, n)
	} else {
		query = `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $4)
		INSERT INTO cs_audit_events (tenant_id, seq, id, time, kind, action, actor_user, actor_role, actor_ip,
			actor_user_agent, target_type, target_id, target_name, outcome, reason, hash)
		SELECT $1, n, $1 || '-' || n, $2 + n * 60000000,
			CASE n % 5 WHEN 0 THEN 'login' WHEN 1 THEN 'change' WHEN 2 THEN 'action' WHEN 3 THEN 'session' ELSE 'recording' END,
			'x', 'user-' || (n % $3), '', '', '', 'thing', 't-' || (n % 500), '', 'success', '', x'00'
		FROM g`
		_, err = db.ExecContext(ctx, query, tenant, genBase.UnixMicro(), users, n)
	}
	require.NoError(t, err)
}

// reportQueries are the queries behind the seed product's reports, as a report screen
// sends them: newest first, a period where the report has one; and the Seq-ordered
// queries of verification and of the Writer's duplicate check.
func reportQueries() map[string]audit.Query {
	from, to := genBase.Add(24*time.Hour), genBase.Add(8*24*time.Hour)
	return map[string]audit.Query{
		"login log":                  {Kind: audit.KindLogin, From: from, To: to, Order: audit.TimeDesc},
		"login log of a user":        {Kind: audit.KindLogin, User: userID(5), From: from, To: to, Order: audit.TimeDesc},
		"change log":                 {Kind: audit.KindChange, From: from, To: to, Order: audit.TimeDesc},
		"change log of a target":     {Kind: audit.KindChange, Target: "t-11", From: from, To: to, Order: audit.TimeDesc},
		"action log of a user":       {Kind: audit.KindAction, User: userID(7), From: from, To: to, Order: audit.TimeDesc},
		"recording access":           {Kind: audit.KindRecording, Target: "t-4", Order: audit.TimeDesc},
		"session events of a target": {Kind: audit.KindSession, Target: "t-8", From: from, To: to, Order: audit.TimeDesc},
		"a user's history":           {User: userID(3), From: from, To: to, Order: audit.TimeDesc},
		"a period":                   {From: from, To: to, Order: audit.TimeDesc},
		"an event by ID":             {ID: uuid.New()},
		"verification (seq pages)":   {AfterSeq: 4000, BeforeSeq: 9000, Order: audit.SeqAsc},
	}
}

func TestReportQueriesUseIndexes(t *testing.T) {
	// Every filter combination of the reports is served by an index, newest first,
	// with no sort and no full scan: PostgreSQL's EXPLAIN after ANALYZE (the planner's
	// own choice, with enable_seqscan left on) and SQLite's EXPLAIN QUERY PLAN.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		s := newStore(t, d)
		ctx := context.Background()
		tenants := make([]uuid.UUID, 8)
		for i := range tenants {
			tenants[i] = uuid.Must(uuid.NewV7())
			generateEvents(t, s, tenants[i], 10000, 200)
		}
		_, err := sqlstore.DBForTest(s).ExecContext(ctx, "ANALYZE")
		require.NoError(t, err)
		for name, q := range reportQueries() {
			q.Limit = audit.DefaultLimit
			for _, page := range []string{"first page", "later page"} {
				if page == "later page" {
					q.Cursor = audit.Position{Seq: 5000, Time: genBase.Add(5000 * time.Minute)}
				}
				plan := explain(t, s, tenants[3], q)
				t.Logf("%s, %s:\n%s", name, page, plan)
				// A lookup by ID reads at most one row from the unique index; sorting
				// it is free.
				sorts := q.ID == uuid.Nil
				if d == sqlstore.Postgres {
					assert.Contains(t, plan, "Index", "%s, %s:\n%s", name, page, plan)
					assert.NotContains(t, plan, "Seq Scan", "%s, %s:\n%s", name, page, plan)
					assert.False(t, sorts && regexp.MustCompile(`(?m)^\s*(->\s*)?Sort\b`).MatchString(plan),
						"%s, %s: sorted instead of read in index order:\n%s", name, page, plan)
				} else {
					assert.Regexp(t, `USING (COVERING )?INDEX|USING PRIMARY KEY`, plan, "%s, %s:\n%s", name, page, plan)
					assert.False(t, sorts && strings.Contains(plan, "TEMP B-TREE"),
						"%s, %s: sorted instead of read in index order:\n%s", name, page, plan)
				}
			}
		}
	})
}

// TestSearchMillionEvents loads 1,000,000 events of one tenant into PostgreSQL
// (generated server-side, about a minute) and reports the plan and the median time of
// a report query by user and period. It runs only with CALLSHIELD_AUDIT_1M=1 and
// without -short, so that the default test run stays fast.
func TestSearchMillionEvents(t *testing.T) {
	if os.Getenv("CALLSHIELD_AUDIT_1M") == "" || testing.Short() {
		t.Skip("set CALLSHIELD_AUDIT_1M=1 (and CALLSHIELD_POSTGRES_DSN) to run the 1M-event search test")
	}
	const n, users, runs = 1_000_000, 1000, 101
	s := newStore(t, sqlstore.Postgres)
	ctx := context.Background()
	tenant, other := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	start := time.Now()
	generateEvents(t, s, tenant, n, users)
	generateEvents(t, s, other, 50_000, users)
	_, err := sqlstore.DBForTest(s).ExecContext(ctx, "ANALYZE cs_audit_events")
	require.NoError(t, err)
	t.Logf("loaded %d events in %v", n, time.Since(start).Round(time.Second))

	// A 30-day period (43,200 events, 43 of them by the user) in the middle of the
	// two years the events span, newest first: what the action log shows for one
	// agent. (User 123's events are all of kind session: 123 % 5 = 3.)
	q := audit.Query{User: userID(123), From: genBase.Add(300 * 24 * time.Hour), To: genBase.Add(330 * 24 * time.Hour),
		Order: audit.TimeDesc, Limit: audit.DefaultLimit}
	query, args := sqlstore.EventsQueryForTest(s, tenant, q)
	rows, err := sqlstore.DBForTest(s).QueryContext(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+query, args...)
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	require.NoError(t, rows.Close())
	t.Logf("plan:\n%s", strings.Join(plan, "\n"))
	assert.Contains(t, strings.Join(plan, "\n"), "Index Scan")
	assert.NotContains(t, strings.Join(plan, "\n"), "Seq Scan")

	for _, c := range []struct {
		name string
		q    audit.Query
	}{
		{"user + 30 days, newest first", q},
		{"kind session + user + 30 days", func() audit.Query { q := q; q.Kind = audit.KindSession; return q }()},
		{"user + 30 days, page 2", func() audit.Query {
			q := q
			q.Cursor = audit.Position{Seq: 328*24*60 + 123, Time: genBase.Add(time.Duration(328*24*60+123) * time.Minute)}
			return q
		}()},
		{"kind change + 1 day", audit.Query{Kind: audit.KindChange, From: genBase.Add(400 * 24 * time.Hour),
			To: genBase.Add(401 * 24 * time.Hour), Order: audit.TimeDesc, Limit: audit.DefaultLimit}},
	} {
		var times []time.Duration
		var got int
		for range runs {
			t0 := time.Now()
			evs, err := s.Events(ctx, tenant, c.q)
			times = append(times, time.Since(t0))
			require.NoError(t, err)
			got = len(evs)
		}
		slices.Sort(times)
		t.Logf("%-32s %3d events, median %v, p90 %v over %d runs", c.name, got,
			times[runs/2].Round(time.Microsecond), times[runs*9/10].Round(time.Microsecond), runs)
		assert.Less(t, times[runs/2], 50*time.Millisecond, c.name)
	}
}
