// Package pgtest gives tests a private PostgreSQL schema.
//
// Tests that need PostgreSQL call [DB] (or [Handles] for several app instances). When
// the CALLSHIELD_POSTGRES_DSN environment variable is unset, the test is skipped with
// a message saying so, so that `go test ./...` passes on a machine without PostgreSQL;
// CI sets it, for example to
//
//	postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//
// Each call creates a schema with a random name and returns handles whose connections
// use it as their only search_path, so tests (and concurrent test runs on one
// database) never see each other's tables. The schema is dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// EnvDSN is the environment variable that holds the PostgreSQL connection string.
const EnvDSN = "CALLSHIELD_POSTGRES_DSN"

// MaxConns is the size of each handle's connection pool.
const MaxConns = 10

// SkipMessage is the reason given when EnvDSN is unset.
const SkipMessage = EnvDSN + " not set: skipping PostgreSQL tests"

// EnvRequire, when set to a non-empty value, turns the skip into a failure: CI sets it
// so that a run that silently skipped the PostgreSQL tests cannot pass.
const EnvRequire = "CALLSHIELD_REQUIRE_POSTGRES"

// DB returns a handle on a fresh, empty schema of the database named by EnvDSN, or
// skips the test if EnvDSN is unset. The handle is closed and the schema dropped when
// the test ends.
func DB(t testing.TB) *sql.DB {
	t.Helper()
	return Handles(t, 1)[0]
}

// Handles returns n independent handles (separate *sql.DB pools, as n app instances
// would have) on one fresh, empty schema. It skips the test if EnvDSN is unset and
// fails it if the database cannot be reached.
func Handles(t testing.TB, n int) []*sql.DB {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("pgtest: %s is set but %s is not: the PostgreSQL tests must run", EnvRequire, EnvDSN)
		}
		t.Skip(SkipMessage)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", EnvDSN, err)
	}
	schema := "cstest_" + randomHex(t)
	ctx := context.Background() // t.Context is done before cleanups run

	admin := stdlib.OpenDB(*cfg)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		_ = admin.Close()
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})

	dbs := make([]*sql.DB, n)
	for i := range dbs {
		c := cfg.Copy()
		params := make(map[string]string, len(cfg.RuntimeParams)+1)
		for k, v := range cfg.RuntimeParams {
			params[k] = v
		}
		params["search_path"] = schema
		c.RuntimeParams = params
		db := stdlib.OpenDB(*c)
		// A bounded pool that keeps its connections, as a production pool should be:
		// with database/sql's default of two idle connections, a burst of concurrent
		// calls opens (and closes) a new server connection for nearly every call.
		db.SetMaxOpenConns(MaxConns)
		db.SetMaxIdleConns(MaxConns)
		t.Cleanup(func() { _ = db.Close() }) // runs before the schema is dropped
		if err := db.PingContext(ctx); err != nil {
			t.Fatalf("pgtest: connect: %v", err)
		}
		dbs[i] = db
	}
	return dbs
}

func randomHex(t testing.TB) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("pgtest: random schema name: %v", err)
	}
	return hex.EncodeToString(b[:])
}
