package sqlstore_test

import (
	"bufio"
	"context"
	"database/sql"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

func appliedVersions(t *testing.T, db *sql.DB) []int64 {
	t.Helper()
	rows, err := db.Query("SELECT version FROM " + sqlstore.MigrationsTable + " ORDER BY version")
	require.NoError(t, err)
	defer rows.Close()
	var vs []int64
	for rows.Next() {
		var v int64
		require.NoError(t, rows.Scan(&v))
		vs = append(vs, v)
	}
	require.NoError(t, rows.Err())
	return vs
}

func TestMigrateIsIdempotent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		db := openDBs(t, d, 1)[0]
		s, err := sqlstore.New(db, d, sqlstore.Options{})
		require.NoError(t, err)

		require.NoError(t, s.Migrate(ctx))
		assert.Equal(t, shippedVersions(t, d), appliedVersions(t, db))
		for _, table := range []string{"cs_tenants", "cs_roles", "cs_projects", "cs_members",
			"cs_project_members", "cs_allowlist", "cs_audit_heads", "cs_audit_events"} {
			var n int64
			assert.NoError(t, db.QueryRow("SELECT count(*) FROM "+table).Scan(&n), table)
		}

		require.NoError(t, s.Migrate(ctx), "a second Migrate is a no-op")
		assert.Equal(t, shippedVersions(t, d), appliedVersions(t, db))
	})
}

func TestMigrateConcurrently(t *testing.T) {
	// Several app instances start at once: every Migrate succeeds and each version is
	// applied once.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		dbs := openDBs(t, d, 2)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			s, err := sqlstore.New(dbs[i%2], d, sqlstore.Options{})
			require.NoError(t, err)
			wg.Go(func() { errs <- s.Migrate(context.Background()) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
		assert.Equal(t, shippedVersions(t, d), appliedVersions(t, dbs[0]))
	})
}

func TestMigrateRefusesAGap(t *testing.T) {
	// A database that records version 2 without version 1 was not migrated by this
	// code: Migrate must not guess.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		db := openDBs(t, d, 1)[0]
		_, err := db.Exec("CREATE TABLE " + sqlstore.MigrationsTable +
			" (version bigint PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)")
		require.NoError(t, err)
		_, err = db.Exec("INSERT INTO " + sqlstore.MigrationsTable + " VALUES (2, '0002_audit.up.sql', 0)")
		require.NoError(t, err)
		s, err := sqlstore.New(db, d, sqlstore.Options{})
		require.NoError(t, err)
		assert.ErrorIs(t, s.Migrate(context.Background()), sqlstore.ErrSchema)
	})
}

func TestMigrateAcceptsNewerVersions(t *testing.T) {
	// During a rolling upgrade an older instance finds versions it does not know.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		s := newStores(t, d, 1, sqlstore.Options{})[0]
		db := sqlstore.DBForTest(s)
		now := map[sqlstore.Dialect]string{sqlstore.SQLite: "0", sqlstore.Postgres: "now()"}[d]
		_, err := db.Exec("INSERT INTO " + sqlstore.MigrationsTable + " (version, name, applied_at) VALUES (9999, '9999_future.up.sql', " + now + ")")
		require.NoError(t, err)
		assert.NoError(t, s.Migrate(context.Background()))
	})
}

func TestMigrateRefusesSQLiteWithoutForeignKeys(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "nofk.db"))
	require.NoError(t, err)
	defer db.Close()
	s, err := sqlstore.New(db, sqlstore.SQLite, sqlstore.Options{})
	require.NoError(t, err)
	assert.ErrorIs(t, s.Migrate(context.Background()), sqlstore.ErrForeignKeysOff)
}

func TestNewRejectsBadArguments(t *testing.T) {
	_, err := sqlstore.New(nil, sqlstore.SQLite, sqlstore.Options{})
	assert.Error(t, err)
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "x.db"))
	require.NoError(t, err)
	defer db.Close()
	for _, d := range []sqlstore.Dialect{0, 3, -1} {
		_, err = sqlstore.New(db, d, sqlstore.Options{})
		assert.ErrorIs(t, err, sqlstore.ErrInvalidDialect, "dialect %d", d)
	}
	_, err = sqlstore.Migrations(0)
	assert.ErrorIs(t, err, sqlstore.ErrInvalidDialect)
}

func TestMigrationFilesSuitOtherTools(t *testing.T) {
	// golang-migrate needs NNNN_title.up.sql; goose needs "-- +goose Up" first. Both
	// dialects have the same versions, so the numbering stays reserved across them.
	var names [2][]string
	for i, d := range dialects {
		fsys, err := sqlstore.Migrations(d)
		require.NoError(t, err)
		entries, err := fs.ReadDir(fsys, ".")
		require.NoError(t, err)
		for _, e := range entries {
			names[i] = append(names[i], e.Name())
			f, err := fsys.Open(e.Name())
			require.NoError(t, err)
			first, err := bufio.NewReader(f).ReadString('\n')
			require.NoError(t, err)
			f.Close()
			assert.Equal(t, "-- +goose Up\n", first, "%s/%s", d, e.Name())
		}
	}
	require.GreaterOrEqual(t, len(names[0]), 3)
	assert.Equal(t, []string{"0001_access.up.sql", "0002_audit.up.sql", "0003_authn.up.sql"}, names[0][:3])
	// Migrate refuses a version applied above a missing one (TestMigrateRefusesAGap),
	// so a build that shipped a later number before an earlier one would strand every
	// database it migrated: the shipped numbers are 1, 2, 3, ... without a gap.
	for i, n := range names[0] {
		assert.Regexp(t, `^[0-9]{4}_[a-z0-9_]+\.up\.sql$`, n)
		v, err := strconv.Atoi(n[:4])
		require.NoError(t, err)
		assert.Equal(t, i+1, v, "numbered without a gap: %s", n)
	}
	assert.Equal(t, names[0], names[1])
}

// shippedVersions returns the versions of the migration files the dialect ships.
func shippedVersions(t *testing.T, d sqlstore.Dialect) []int64 {
	t.Helper()
	fsys, err := sqlstore.Migrations(d)
	require.NoError(t, err)
	entries, err := fs.ReadDir(fsys, ".")
	require.NoError(t, err)
	out := make([]int64, len(entries))
	for i, e := range entries {
		v, err := strconv.ParseInt(e.Name()[:4], 10, 64)
		require.NoError(t, err)
		out[i] = v
	}
	return out
}

func TestSQLiteDSN(t *testing.T) {
	// Characters that mean something in a URI are escaped, so the file is created at
	// exactly the path given and no parameter can be injected through it.
	dir := t.TempDir()
	path := filepath.Join(dir, "a b?mode=ro#x%41.db")
	dsn := sqlstore.SQLiteDSN(path)
	assert.True(t, strings.HasSuffix(dsn, "?"+sqlstore.SQLiteParams), dsn)

	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	defer db.Close()
	s, err := sqlstore.New(db, sqlstore.SQLite, sqlstore.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	_, err = os.Stat(path)
	assert.NoError(t, err, "the database file is at the path given")

	var mode string
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode)
	var timeout int64
	require.NoError(t, db.QueryRow("PRAGMA busy_timeout").Scan(&timeout))
	assert.Equal(t, int64(5000), timeout)
}

func TestPackageImportsNoDriver(t *testing.T) {
	// A user of the SQLite store compiles no PostgreSQL driver, and vice versa: the
	// caller imports the driver it uses.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/callshield/callshield/storage/sqlstore").Output()
	require.NoError(t, err)
	for _, dep := range strings.Fields(string(out)) {
		assert.False(t, strings.HasPrefix(dep, "github.com/jackc/") || strings.HasPrefix(dep, "modernc.org/"),
			"sqlstore depends on %s", dep)
	}
}
