package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/internal/pgtest"
	"github.com/callshield/callshield/internal/sqlitetest"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

var dialects = []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres}

// forEachDialect runs fn as a subtest per dialect; the PostgreSQL one skips when
// CALLSHIELD_POSTGRES_DSN is unset.
func forEachDialect(t *testing.T, fn func(t *testing.T, d sqlstore.Dialect)) {
	t.Helper()
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) { fn(t, d) })
	}
}

// openDBs returns n handles on one fresh database (SQLite file or PostgreSQL schema).
func openDBs(t *testing.T, d sqlstore.Dialect, n int) []*sql.DB {
	t.Helper()
	if d == sqlstore.Postgres {
		return pgtest.Handles(t, n)
	}
	return sqlitetest.Handles(t, n)
}

// newStores returns n migrated stores, each over its own handle on one fresh database,
// as n app instances would have.
func newStores(t *testing.T, d sqlstore.Dialect, n int, opts sqlstore.Options) []*sqlstore.Store {
	t.Helper()
	var out []*sqlstore.Store
	for _, db := range openDBs(t, d, n) {
		s, err := sqlstore.New(db, d, opts)
		require.NoError(t, err)
		require.NoError(t, s.Migrate(context.Background()))
		out = append(out, s)
	}
	return out
}

func newStore(t *testing.T, d sqlstore.Dialect) *sqlstore.Store {
	t.Helper()
	return newStores(t, d, 1, sqlstore.Options{})[0]
}

// clock is a fake clock: each call returns a time one second after the previous one,
// with sub-microsecond digits that the stores must drop.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// events builds prepared audit events.
type events struct {
	t   testing.TB
	rec *audit.Recorder
}

func newEvents(t testing.TB, c *clock) events {
	return events{t: t, rec: audit.NewRecorder(nil, audit.Options{Clock: c.Now})}
}

// ev returns a prepared change-log event of tenant.
func (b events) ev(tenant uuid.UUID, action string) audit.Event {
	b.t.Helper()
	e := audit.Event{Tenant: tenant, Kind: audit.KindChange, Action: action, Outcome: audit.Success}
	require.NoError(b.t, b.rec.Prepare(&e))
	return e
}

// verifyChain checks that evs are a tenant's whole chain from its first event: Seq
// 1..N without gaps, each PrevHash the previous Hash and each Hash the recomputed link.
// It returns the Seq of the first broken link, or 0.
func verifyChain(c audit.Chain, evs []audit.Event) int64 {
	var prev []byte
	for i := range evs {
		e := &evs[i]
		if e.Seq != int64(i+1) || !bytes.Equal(e.PrevHash, prev) || !bytes.Equal(c.Link(prev, e), e.Hash) {
			return e.Seq
		}
		prev = e.Hash
	}
	return 0
}

// allEvents pages through every event of tenant with the cursor.
func allEvents(t testing.TB, s *sqlstore.Store, tenant uuid.UUID) []audit.Event {
	t.Helper()
	var out []audit.Event
	q := audit.Query{Limit: audit.MaxLimit}
	for {
		page, err := s.Events(context.Background(), tenant, q)
		require.NoError(t, err)
		out = append(out, page...)
		if len(page) < q.Limit {
			return out
		}
		q.AfterSeq = page[len(page)-1].Seq
	}
}
