package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/internal/pgtest"
	"github.com/stretchr/testify/require"
)

// TestLoad is a bounded loopback load run against a server process: CALLSHIELD_LOAD=1
// runs it (it is not part of the normal suite), for CALLSHIELD_LOAD_SECONDS (default
// 5) with CALLSHIELD_LOAD_CLIENTS concurrent clients (default 16), each signed in as
// the agent and calling GET /api/v1/calls?limit=20 through the whole chain. It reports
// requests/s and the p50/p99 latencies, on SQLite and, with CALLSHIELD_POSTGRES_DSN,
// on PostgreSQL.
func TestLoad(t *testing.T) {
	if os.Getenv("CALLSHIELD_LOAD") != "1" {
		t.Skip("set CALLSHIELD_LOAD=1 to run the loopback load test")
	}
	secs, clients := 5, 16
	if v, err := strconv.Atoi(os.Getenv("CALLSHIELD_LOAD_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	if v, err := strconv.Atoi(os.Getenv("CALLSHIELD_LOAD_CLIENTS")); err == nil && v > 0 {
		clients = v
	}
	t.Run("SQLite", func(t *testing.T) {
		srv := startServer(t, "-db", filepath.Join(t.TempDir(), "demo.db"), "-admin-password", demoPassword)
		loadRun(t, srv.base, clients, time.Duration(secs)*time.Second)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := pgSchemaDSN(t) // a fresh schema, dropped afterwards
		srv := startServer(t, "-postgres", dsn, "-admin-password", demoPassword)
		loadRun(t, srv.base, clients, time.Duration(secs)*time.Second)
	})
}

func loadRun(t *testing.T, base string, clients int, d time.Duration) {
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = newClient(t, base)
		cs[i].http.Transport = &http.Transport{MaxIdleConnsPerHost: 4}
		cs[i].login("agent@demo.test", demoPassword)
	}
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range cs {
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				req, _ := http.NewRequest("GET", base+"/api/v1/calls?limit=20", nil)
				res, err := c.http.Do(req)
				if err != nil {
					bad++
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	require.NotEmpty(t, lat)
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	msg := fmt.Sprintf("%d clients, %s: %d requests, %.0f requests/s, p50 %s, p99 %s, %d errors",
		clients, elapsed.Round(time.Millisecond), len(lat), float64(len(lat))/elapsed.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), errs)
	t.Log(msg)
	require.Zero(t, errs, msg)
}

// pgSchemaDSN returns a DSN for a server process on a fresh PostgreSQL schema (see
// internal/pgtest), or skips the test without CALLSHIELD_POSTGRES_DSN. The schema is
// dropped when the test ends, after the servers it started have stopped.
func pgSchemaDSN(t *testing.T) string {
	db := pgtest.DB(t)
	var schema string
	require.NoError(t, db.QueryRow("SELECT current_schema()").Scan(&schema))
	dsn := os.Getenv(pgtest.EnvDSN)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}
