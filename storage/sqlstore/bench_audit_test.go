package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/internal/pgtest"
	"github.com/callshield/callshield/internal/sqlitetest"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Audit ingest benchmarks. Each BenchmarkIngest sub-benchmark stores batches of
// benchBatch action-log events through Store.Append (chained, keyed, with the report
// indexes of migration 0004), or through a Writer; each BenchmarkRawInsert one inserts
// the same rows into a table of the same columns with a primary key only and no chain:
// no head lock, no hashing, no secondary index ("-indexed": the same indexes as
// cs_audit_events, to separate the cost of the indexes from that of the chain). Run
// them together, on an otherwise idle machine:
//
//	CALLSHIELD_POSTGRES_DSN=... go test ./storage/sqlstore -run '^$' \
//	    -bench 'Ingest|RawInsert' -benchtime 60x
//
// and compare the events/s of each pair. chain-ns/event is the time linking takes per
// event (one audit.Linker per batch, as Append does), measured in the same run, and
// chain-% its share of an ingested event.

const benchBatch = 500

// benchStore returns a migrated store on a fresh database.
func benchStore(tb testing.TB, d sqlstore.Dialect, opts sqlstore.Options) *sqlstore.Store {
	tb.Helper()
	var db *sql.DB
	if d == sqlstore.Postgres {
		db = pgtest.DB(tb)
	} else {
		db = sqlitetest.DB(tb)
	}
	s, err := sqlstore.New(db, d, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return s
}

var benchChain = audit.Chain{Key: []byte("0123456789abcdef0123456789abcdef")}

// benchEvents returns n prepared action-log events of tenant, as an API gateway would
// enqueue them.
func benchEvents(tb testing.TB, tenant uuid.UUID, n int) []audit.Event {
	tb.Helper()
	evs := make([]audit.Event, n)
	now := time.Now()
	user, session, project := uuid.New(), uuid.New(), uuid.New()
	for i := range evs {
		evs[i] = audit.Event{
			Tenant: tenant, Kind: audit.KindAction, Action: "http.request", Outcome: audit.Success,
			Actor: audit.Actor{User: user, Role: "Agent", IP: netip.MustParseAddr("203.0.113.7"), Session: session,
				UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"},
			Target:  audit.Target{Type: "call", ID: uuid.NewString()},
			Project: project,
			Details: map[string]string{"url": "/api/v1/calls", "method": "GET", "query.page": fmt.Sprint(i % 50)},
		}
		if err := audit.Prepare(&evs[i], now.Add(time.Duration(i)*time.Microsecond)); err != nil {
			tb.Fatal(err)
		}
	}
	return evs
}

// linkCost returns the time linking takes per event over evs, with one Linker per
// batch as Store.Append does.
func linkCost(evs []audit.Event) time.Duration {
	start := time.Now()
	prev := make([]byte, 32)
	l := benchChain.Linker()
	for i := range evs {
		e := evs[i]
		e.Seq = int64(i + 1)
		prev = l.Link(prev, &e)
	}
	return time.Since(start) / time.Duration(len(evs))
}

// report records events/s and the chaining share.
func report(b *testing.B, events int, elapsed, link time.Duration) {
	rate := float64(events) / elapsed.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(events), "ns/event")
	if link > 0 {
		b.ReportMetric(float64(link.Nanoseconds()), "chain-ns/event")
		b.ReportMetric(100*float64(link.Nanoseconds())/(float64(elapsed.Nanoseconds())/float64(events)), "chain-%")
	}
}

func BenchmarkIngest(b *testing.B) {
	for _, d := range dialects {
		b.Run(d.String(), func(b *testing.B) {
			s := benchStore(b, d, sqlstore.Options{Chain: benchChain})
			tenant := uuid.New()
			ctx := context.Background()
			var elapsed, link time.Duration
			for b.Loop() {
				b.StopTimer()
				evs := benchEvents(b, tenant, benchBatch)
				link += linkCost(evs)
				b.StartTimer()
				start := time.Now()
				if err := s.Append(ctx, evs...); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
			}
			report(b, b.N*benchBatch, elapsed, link/time.Duration(b.N))
		})
		b.Run(d.String()+"-writer", func(b *testing.B) {
			s := benchStore(b, d, sqlstore.Options{Chain: benchChain})
			tenant := uuid.New()
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				evs := benchEvents(b, tenant, benchBatch)
				w := audit.NewWriter(s, audit.WriterOptions{BatchSize: benchBatch, QueueSize: benchBatch})
				b.StartTimer()
				start := time.Now()
				for _, e := range evs {
					if err := w.Enqueue(e); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
			}
			report(b, b.N*benchBatch, elapsed, 0)
		})
	}
}

// rawColumns are cs_audit_events' columns; the raw table has them all.
const rawColumns = "tenant_id, seq, id, time, kind, action, actor_user, actor_role, actor_ip, actor_user_agent, " +
	"actor_session, actor_token, target_type, target_id, target_name, project_id, outcome, reason, changes, details, prev_hash, hash"

// createRawTable creates cs_bench_raw, shaped like cs_audit_events: the same columns,
// the (tenant_id, seq) primary key, and the report indexes if indexed.
func createRawTable(b *testing.B, db *sql.DB, d sqlstore.Dialect, indexed bool) {
	b.Helper()
	ddl := `CREATE TABLE cs_bench_raw AS SELECT * FROM cs_audit_events WHERE false`
	if d == sqlstore.SQLite {
		ddl = `CREATE TABLE cs_bench_raw (tenant_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL,
			time INTEGER NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL, actor_user TEXT, actor_role TEXT NOT NULL,
			actor_ip TEXT NOT NULL, actor_user_agent TEXT NOT NULL, actor_session TEXT, actor_token TEXT,
			target_type TEXT NOT NULL, target_id TEXT NOT NULL, target_name TEXT NOT NULL, project_id TEXT,
			outcome TEXT NOT NULL, reason TEXT NOT NULL, changes TEXT, details TEXT, prev_hash BLOB, hash BLOB NOT NULL,
			PRIMARY KEY (tenant_id, seq)) STRICT`
	}
	stmts := []string{ddl}
	if d == sqlstore.Postgres {
		stmts = append(stmts, "ALTER TABLE cs_bench_raw ADD PRIMARY KEY (tenant_id, seq)")
	}
	if indexed {
		stmts = append(stmts,
			"CREATE UNIQUE INDEX cs_bench_raw_id ON cs_bench_raw (tenant_id, id)",
			"CREATE INDEX cs_bench_raw_1 ON cs_bench_raw (tenant_id, time, seq)",
			"CREATE INDEX cs_bench_raw_2 ON cs_bench_raw (tenant_id, kind, time, seq)",
			"CREATE INDEX cs_bench_raw_3 ON cs_bench_raw (tenant_id, kind, actor_user, time, seq)",
			"CREATE INDEX cs_bench_raw_4 ON cs_bench_raw (tenant_id, kind, target_id, time, seq) WHERE kind <> 'action'",
			"CREATE INDEX cs_bench_raw_5 ON cs_bench_raw (tenant_id, actor_user, time, seq)")
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
}

// rawRow returns e's column values as the store encodes them for dialect d, with a
// fixed dummy hash (no chain).
func rawRow(d sqlstore.Dialect, e *audit.Event, seq int64) []any {
	details, _ := json.Marshal(e.Details)
	var tm any = e.Time
	nullable := func(u uuid.UUID) any {
		if u == uuid.Nil {
			return nil
		}
		if d == sqlstore.SQLite {
			return u.String()
		}
		return u
	}
	id := func(u uuid.UUID) any {
		if d == sqlstore.SQLite {
			return u.String()
		}
		return u
	}
	if d == sqlstore.SQLite {
		tm = e.Time.UnixMicro()
	}
	return []any{id(e.Tenant), seq, id(e.ID), tm, string(e.Kind), e.Action, nullable(e.Actor.User), e.Actor.Role,
		e.Actor.IP.String(), e.Actor.UserAgent, nullable(e.Actor.Session), nullable(e.Actor.Token), e.Target.Type,
		e.Target.ID, e.Target.Name, nullable(e.Project), string(e.Outcome), e.Reason, nil, string(details), nil, dummyHash}
}

var dummyHash = make([]byte, 32)

// placeholders returns "($1, …, $22), (…)" for rows rows.
func placeholders(rows int) string {
	var sb strings.Builder
	for r := range rows {
		if r > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for c := range 22 {
			if c > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "$%d", r*22+c+1)
		}
		sb.WriteByte(')')
	}
	return sb.String()
}

func BenchmarkRawInsert(b *testing.B) {
	type variant struct {
		name    string
		d       sqlstore.Dialect
		indexed bool
		copy    bool
	}
	for _, v := range []variant{
		{"sqlite", sqlstore.SQLite, false, false},
		{"sqlite-indexed", sqlstore.SQLite, true, false},
		{"postgres", sqlstore.Postgres, false, false},
		{"postgres-indexed", sqlstore.Postgres, true, false},
		{"postgres-copy", sqlstore.Postgres, false, true},
	} {
		b.Run(v.name, func(b *testing.B) {
			s := benchStore(b, v.d, sqlstore.Options{})
			db := sqlstore.DBForTest(s)
			createRawTable(b, db, v.d, v.indexed)
			tenant := uuid.New()
			ctx := context.Background()
			var seq int64
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				evs := benchEvents(b, tenant, benchBatch)
				b.StartTimer()
				start := time.Now()
				// Encoding the rows is timed, as the store's is.
				rows := make([][]any, len(evs))
				for i := range evs {
					seq++
					rows[i] = rawRow(v.d, &evs[i], seq)
				}
				var err error
				switch {
				case v.copy:
					err = copyRows(ctx, db, rows)
				case v.d == sqlstore.SQLite:
					err = insertPrepared(ctx, db, rows)
				default:
					err = insertMultiRow(ctx, db, rows)
				}
				if err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
			}
			report(b, b.N*benchBatch, elapsed, 0)
		})
	}
}

// insertMultiRow inserts rows with one multi-row INSERT in a transaction (PostgreSQL's
// fastest plain INSERT: one round trip).
func insertMultiRow(ctx context.Context, db *sql.DB, rows [][]any) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	args := make([]any, 0, len(rows)*22)
	for _, r := range rows {
		args = append(args, r...)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO cs_bench_raw ("+rawColumns+") VALUES "+placeholders(len(rows)), args...); err != nil {
		return err
	}
	return tx.Commit()
}

// insertPrepared inserts rows with one prepared single-row INSERT executed per row, in
// a transaction (SQLite's fastest plain INSERT).
func insertPrepared(ctx context.Context, db *sql.DB, rows [][]any) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO cs_bench_raw ("+rawColumns+") VALUES "+placeholders(1))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, r...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// copyRows loads rows with PostgreSQL's COPY, through the pgx connection under
// database/sql.
func copyRows(ctx context.Context, db *sql.DB, rows [][]any) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		_, err := pc.CopyFrom(ctx, pgx.Identifier{"cs_bench_raw"}, strings.Split(strings.ReplaceAll(rawColumns, " ", ""), ","),
			pgx.CopyFromRows(rows))
		return err
	})
}
