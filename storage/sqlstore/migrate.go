package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"time"
)

//go:embed migrations
var migrationFiles embed.FS

// MigrationsTable is the table in which [Store.Migrate] records the applied schema
// versions. Tools such as golang-migrate or goose keep their own tables instead.
const MigrationsTable = "callshield_schema_migrations"

// migrationLockKey is the PostgreSQL advisory lock that serialises Migrate calls: the
// ASCII bytes of "callshld". Advisory locks are per database, so Migrate calls on
// different schemas of one database wait for each other too, which is harmless.
const migrationLockKey int64 = 0x63616c6c73686c64

// migrationName is the file name of a migration, as golang-migrate expects it.
var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.up\.sql$`)

// Migrations returns the dialect's migration files, NNNN_name.up.sql at the root of
// the returned file system, for use with another migration tool (golang-migrate's
// iofs source, goose's embedded FS support) or to copy into the host's own migrations.
func Migrations(d Dialect) (fs.FS, error) {
	if !d.valid() {
		return nil, fmt.Errorf("%w: %d", ErrInvalidDialect, int(d))
	}
	return fs.Sub(migrationFiles, "migrations/"+d.String())
}

type migration struct {
	version int64
	name    string // the file name
	sql     string
}

// loadMigrations returns the dialect's migrations ordered by version.
func loadMigrations(d Dialect) ([]migration, error) {
	fsys, err := Migrations(d)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("sqlstore: unexpected migration file %q", e.Name())
		}
		v, _ := strconv.ParseInt(m[1], 10, 64) // four digits always parse
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return int(a.version - b.version) })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("sqlstore: duplicate migration version %d", out[i].version)
		}
	}
	return out, nil
}

// Migrate applies the embedded migrations that the database lacks, in version order,
// each in its own transaction together with its row in [MigrationsTable]. It is
// idempotent, and safe to call from several app instances starting at once: on
// PostgreSQL each transaction first takes a transaction-scoped advisory lock
// (pg_advisory_xact_lock); on SQLite the write transaction itself (BEGIN IMMEDIATE with
// the DSN of [SQLiteDSN]) serialises the callers. A caller that waited finds the
// migration recorded and skips it.
//
// Versions recorded in the database that this build does not know (a newer release
// migrated it) are accepted, so that an older instance keeps running during a rolling
// upgrade; the migrations are written to be additive for that reason. A missing
// version below one already applied is an error wrapping [ErrSchema]. On SQLite,
// Migrate fails with [ErrForeignKeysOff] if the connection does not enforce foreign
// keys.
func (s *Store) Migrate(ctx context.Context) error {
	migs, err := loadMigrations(s.d)
	if err != nil {
		return err
	}
	if s.d == SQLite {
		var on int64
		if err := s.db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&on); err != nil {
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
		if on != 1 {
			return ErrForeignKeysOff
		}
	}
	for _, m := range migs {
		if err := s.inTx(ctx, nil, func(tx *sql.Tx) error { return s.applyMigration(ctx, tx, m) }); err != nil {
			return fmt.Errorf("sqlstore: migrate %s: %w", m.name, err)
		}
	}
	return nil
}

// applyMigration applies m inside tx unless it is recorded already.
func (s *Store) applyMigration(ctx context.Context, tx *sql.Tx, m migration) error {
	ddl := "CREATE TABLE IF NOT EXISTS " + MigrationsTable +
		" (version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)"
	if s.d == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
			return err
		}
	} else {
		ddl = "CREATE TABLE IF NOT EXISTS " + MigrationsTable +
			" (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT"
	}
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return err
	}
	var applied, later int64
	err := tx.QueryRowContext(ctx,
		"SELECT count(*) FILTER (WHERE version = $1), count(*) FILTER (WHERE version > $1) FROM "+MigrationsTable,
		m.version).Scan(&applied, &later)
	switch {
	case err != nil:
		return err
	case applied > 0:
		return nil
	case later > 0:
		return fmt.Errorf("%w: a later version is applied but %s is not", ErrSchema, m.name)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO "+MigrationsTable+" (version, name, applied_at) VALUES ($1, $2, $3)",
		m.version, m.name, s.d.timeArg(time.Now()))
	return err
}
