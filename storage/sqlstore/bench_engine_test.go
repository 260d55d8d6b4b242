package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/internal/pgtest"
	"github.com/callshield/callshield/internal/sqlitetest"
	"github.com/callshield/callshield/storage/memory"
	"github.com/callshield/callshield/storage/pglisten"
	"github.com/callshield/callshield/storage/sqlstore"
)

// The access engine over each adapter:
//
//	CALLSHIELD_POSTGRES_DSN=… go test -run '^$' -bench 'EnginePolicy|RefreshAfterChange' -benchmem ./storage/sqlstore/

// fullOnly hides the change log of a store, so that its engine reloads in full after
// every change: the behaviour before migration 0010, measured in the same run.
type fullOnly struct{ access.Store }

// benchTenant provisions a tenant with n members (bulk-inserted, each in one of 10
// projects) and one more member, mover, whose role the benchmarks change.
type benchTenant struct {
	id, mover, agent, supervisor uuid.UUID
}

func provisionBench(b *testing.B, s access.Store, db *sql.DB, d sqlstore.Dialect, n int) benchTenant {
	b.Helper()
	ctx := context.Background()
	svc := access.NewService(s, access.NewEngine(s, access.EngineOptions{}), access.ServiceOptions{})
	tn, err := svc.CreateTenant(ctx, "Bench")
	require.NoError(b, err)
	bt := benchTenant{id: tn.ID}
	roles, err := s.Roles(ctx, tn.ID)
	require.NoError(b, err)
	for _, r := range roles {
		switch r.Kind {
		case access.KindAgent:
			bt.agent = r.ID
		case access.KindSupervisor:
			bt.supervisor = r.ID
		}
	}
	sys := access.System(tn.ID)
	_, err = svc.SetMember(ctx, sys, uuid.New(), roles[0].ID) // an Admin
	require.NoError(b, err)
	var projects []uuid.UUID
	for i := range 10 {
		p, err := svc.CreateProject(ctx, sys, fmt.Sprintf("Project %d", i))
		require.NoError(b, err)
		projects = append(projects, p.ID)
	}
	bt.mover = uuid.New()
	_, err = svc.SetMember(ctx, sys, bt.mover, bt.agent)
	require.NoError(b, err)
	if db == nil { // memory
		for range n {
			u := uuid.New()
			_, err := svc.SetMember(ctx, sys, u, bt.agent)
			require.NoError(b, err)
		}
		return bt
	}
	// Bulk: one statement per table, then one policy version.
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(b, err)
	const batch = 5000
	for done := 0; done < n; done += batch {
		k := min(batch, n-done)
		q, args := "INSERT INTO cs_members (tenant_id, user_id, role_id, created_at, updated_at) VALUES ", []any{}
		pq := "INSERT INTO cs_project_members (tenant_id, project_id, user_id, created_at) VALUES "
		var pargs []any
		var t0 any = time.Now().UTC()
		if d == sqlstore.SQLite {
			t0 = time.Now().UnixMicro()
		}
		for i := range k {
			u := uuid.New()
			if i > 0 {
				q += ","
				pq += ","
			}
			q += fmt.Sprintf("($%d,$%d,$%d,$%d,$%d)", len(args)+1, len(args)+2, len(args)+3, len(args)+4, len(args)+5)
			args = append(args, tn.ID.String(), u.String(), bt.agent.String(), t0, t0)
			pq += fmt.Sprintf("($%d,$%d,$%d,$%d)", len(pargs)+1, len(pargs)+2, len(pargs)+3, len(pargs)+4)
			pargs = append(pargs, tn.ID.String(), projects[i%len(projects)].String(), u.String(), t0)
		}
		_, err = tx.ExecContext(ctx, q, args...)
		require.NoError(b, err)
		_, err = tx.ExecContext(ctx, pq, pargs...)
		require.NoError(b, err)
	}
	_, err = tx.ExecContext(ctx, "UPDATE cs_tenants SET policy_version = policy_version + 1 WHERE id = $1", tn.ID.String())
	require.NoError(b, err)
	require.NoError(b, tx.Commit())
	return bt
}

// benchSQL returns a migrated store of dialect d and its handle.
func benchSQL(b *testing.B, d sqlstore.Dialect) (*sqlstore.Store, *sql.DB) {
	b.Helper()
	var db *sql.DB
	if d == sqlstore.Postgres {
		db = pgtest.Handles(b, 1)[0]
	} else {
		db = sqlitetest.Handles(b, 1)[0]
	}
	s, err := sqlstore.New(db, d, sqlstore.Options{})
	require.NoError(b, err)
	require.NoError(b, s.Migrate(context.Background()))
	return s, db
}

// BenchmarkRefreshAfterChange measures the policy wait of the first request after one
// membership change (the change itself is not timed): an incremental refresh from the
// change log, and, as "full", the whole reload an engine without the log does.
func BenchmarkRefreshAfterChange(b *testing.B) {
	for _, d := range dialects {
		for _, size := range []struct {
			name string
			n    int
		}{{"1k", 1_000}, {"100k", 100_000}} {
			for _, full := range []bool{false, true} {
				name := d.String() + "/" + size.name
				if full {
					name += "/full"
				}
				b.Run(name, func(b *testing.B) {
					s, db := benchSQL(b, d)
					bt := provisionBench(b, s, db, d, size.n)
					var store access.Store = s
					if full {
						store = fullOnly{s}
					}
					benchRefresh(b, store, s, bt)
				})
			}
		}
	}
	b.Run("memory/1k", func(b *testing.B) {
		s := memory.New(memory.Options{})
		bt := provisionBench(b, s, nil, 0, 1_000)
		benchRefresh(b, s, s, bt)
	})
}

func benchRefresh(b *testing.B, engineStore, store access.Store, bt benchTenant) {
	ctx := context.Background()
	e := access.NewEngine(engineStore, access.EngineOptions{})
	p, err := e.Policy(ctx, bt.id)
	require.NoError(b, err)
	role := bt.agent
	for b.Loop() {
		b.StopTimer()
		if role == bt.agent {
			role = bt.supervisor
		} else {
			role = bt.agent
		}
		changeRole(b, store, bt, role)
		b.StartTimer()
		if p, err = e.Policy(ctx, bt.id); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	r, _ := p.Role(bt.mover)
	require.Equal(b, role, r.ID, "the refreshed policy holds the change")
	st := e.Stats()
	b.ReportMetric(float64(st.Loads), "loads")
}

func changeRole(b *testing.B, s access.Store, bt benchTenant, role uuid.UUID) {
	b.Helper()
	svc := access.NewService(s, access.NewEngine(s, access.EngineOptions{}), access.ServiceOptions{})
	if _, err := svc.SetMember(context.Background(), access.System(bt.id), bt.mover, role); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEnginePolicy measures Engine.Policy of an unchanged 1k-member tenant, the
// call every request makes: a version read per request (memory, sqlite, postgres; the
// default MaxStaleness of zero), or none while a pglisten.Listener vouches for the
// cache (postgres-listen).
func BenchmarkEnginePolicy(b *testing.B) {
	run := func(b *testing.B, e *access.Engine, tenant uuid.UUID) {
		ctx := context.Background()
		_, err := e.Policy(ctx, tenant)
		require.NoError(b, err)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Policy(ctx, tenant); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("memory", func(b *testing.B) {
		s := memory.New(memory.Options{})
		bt := provisionBench(b, s, nil, 0, 1_000)
		run(b, access.NewEngine(s, access.EngineOptions{}), bt.id)
	})
	for _, d := range dialects {
		b.Run(d.String(), func(b *testing.B) {
			s, db := benchSQL(b, d)
			bt := provisionBench(b, s, db, d, 1_000)
			run(b, access.NewEngine(s, access.EngineOptions{}), bt.id)
		})
	}
	b.Run("postgres-listen", func(b *testing.B) {
		s, db := benchSQL(b, sqlstore.Postgres)
		bt := provisionBench(b, s, db, sqlstore.Postgres, 1_000)
		e := access.NewEngine(s, access.EngineOptions{})
		l, err := pglisten.New(db, e, pglisten.Options{})
		require.NoError(b, err)
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { _ = l.Run(ctx) })
		defer wg.Wait()
		defer stop()
		deadline := time.Now().Add(10 * time.Second)
		for !e.Listening() {
			if time.Now().After(deadline) {
				b.Fatal("the listener did not confirm")
			}
			runtime.Gosched()
		}
		run(b, e, bt.id)
		if !e.Listening() {
			b.Fatal("the listener lapsed during the benchmark")
		}
	})
}

// BenchmarkLoadPolicy measures a cold LoadPolicy of a 100k-member tenant (each member
// in one project): what an engine reads on a cold start or a gap in the change log,
// before it compiles.
//
//	CALLSHIELD_POSTGRES_DSN=… go test -run '^$' -bench LoadPolicy -benchmem -count 3 ./storage/sqlstore/
func BenchmarkLoadPolicy(b *testing.B) {
	for _, d := range dialects {
		b.Run(d.String()+"/100k", func(b *testing.B) {
			s, db := benchSQL(b, d)
			bt := provisionBench(b, s, db, d, 100_000)
			ctx := context.Background()
			var pd access.PolicyData
			var err error
			b.ReportAllocs()
			for b.Loop() {
				if pd, err = s.LoadPolicy(ctx, bt.id); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			require.Len(b, pd.Members, 100_002, "the bulk members, the Admin and mover")
			require.Len(b, pd.ProjectMembers, 100_000)
		})
	}
}
