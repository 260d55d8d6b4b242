// Package sqlitetest gives tests a private SQLite database file, opened with the DSN
// that storage/sqlstore documents ([sqlstore.SQLiteDSN]). It imports the
// modernc.org/sqlite driver, so tests need no cgo.
package sqlitetest

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/callshield/callshield/storage/sqlstore"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// MaxIdleConns is how many idle connections each handle keeps.
const MaxIdleConns = 8

// DB returns a handle on a new, empty database file in the test's temporary directory.
// The handle is closed and the file removed when the test ends.
func DB(t testing.TB) *sql.DB {
	t.Helper()
	return Handles(t, 1)[0]
}

// Handles returns n independent handles (separate *sql.DB pools) on one new database
// file, to test what happens when several pools write to one file.
func Handles(t testing.TB, n int) []*sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "callshield.db")
	dbs := make([]*sql.DB, n)
	for i := range dbs {
		db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(path))
		if err != nil {
			t.Fatalf("sqlitetest: open %s: %v", path, err)
		}
		// Keep connections open between calls: opening one costs a file open and the
		// DSN's pragmas, and database/sql keeps only two idle connections by default.
		db.SetMaxIdleConns(MaxIdleConns)
		t.Cleanup(func() { _ = db.Close() }) // runs before TempDir removes the file
		dbs[i] = db
	}
	return dbs
}
