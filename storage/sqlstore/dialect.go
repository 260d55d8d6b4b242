package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// Dialect selects the SQL flavour of the database behind a [Store]. The zero Dialect is
// not valid: [New] rejects it.
type Dialect int

// The supported dialects.
const (
	// Postgres is PostgreSQL 13 or later, through the github.com/jackc/pgx/v5/stdlib
	// driver. It is the production choice and the one that several app instances can
	// share.
	Postgres Dialect = iota + 1
	// SQLite is embedded SQLite through modernc.org/sqlite (no cgo), opened with the DSN
	// that [SQLiteDSN] builds.
	SQLite
)

// String returns "postgres" or "sqlite", the name of the dialect's migrations directory.
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

func (d Dialect) valid() bool { return d == Postgres || d == SQLite }

// The dialects differ in type encodings only; every query is written once, with $N
// placeholders, which both drivers accept. The helpers below turn Go values into the
// arguments each dialect stores, and scanners in scan.go accept either form back.

// timeArg encodes t for a timestamptz column (PostgreSQL) or an INTEGER column of Unix
// microseconds (SQLite). PostgreSQL keeps microseconds too, so both dialects truncate
// alike.
func (d Dialect) timeArg(t time.Time) any {
	if d == SQLite {
		return t.UnixMicro()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// rightsArg encodes role rights for a text[] column (PostgreSQL; pgx encodes a
// []string natively) or JSON array text (SQLite). Both are NOT NULL: nil is stored as
// the empty list.
func (d Dialect) rightsArg(rights []string) any {
	if rights == nil {
		rights = []string{}
	}
	if d == SQLite {
		b, _ := json.Marshal(rights) // a []string always marshals
		return string(b)
	}
	return rights
}

// rightsCol is the select-list expression that reads role rights as JSON text.
func (d Dialect) rightsCol() string {
	if d == SQLite {
		return "rights"
	}
	return "to_json(rights)"
}

// lockSuffix is appended to a SELECT that must lock the rows it reads until the end of
// the transaction. SQLite needs none: its write transactions are serial.
func (d Dialect) lockSuffix() string {
	if d == SQLite {
		return ""
	}
	return " FOR UPDATE"
}

// snapshotTx are the options of a read-only transaction that sees one consistent
// snapshot. On PostgreSQL that takes REPEATABLE READ; on SQLite, any read transaction
// is a snapshot (and a read-only one is begun DEFERRED by modernc.org/sqlite, so it
// does not take the write lock that _txlock=immediate asks for).
func (d Dialect) snapshotTx() *sql.TxOptions {
	if d == SQLite {
		return &sql.TxOptions{ReadOnly: true}
	}
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

// SQLiteParams is the query string that [SQLiteDSN] appends to the file name. Each
// parameter is applied by modernc.org/sqlite to every new connection of the pool:
//
//   - busy_timeout(5000): a connection that finds the database locked by another
//     writer waits up to 5 s instead of failing at once with SQLITE_BUSY.
//   - journal_mode(WAL): readers do not block the writer nor the writer the readers,
//     and a commit is one append to the write-ahead log.
//   - foreign_keys(1): SQLite enforces foreign keys only when asked, per connection;
//     the schema's tenant-scoped foreign keys rely on it. [Store.Migrate] refuses a
//     database where they are off.
//   - _txlock=immediate: every read-write transaction begins with BEGIN IMMEDIATE and so
//     takes the write lock up front. Transactions that read and then write (the audit
//     chain head, the conditional updates) are then serialised instead of failing with
//     SQLITE_BUSY when two of them try to upgrade their read locks at once.
const SQLiteParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"

// SQLiteDSN returns the modernc.org/sqlite data source name that opens the database file
// at path with the pragmas a [Store] needs ([SQLiteParams]):
//
//	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN("callshield.db"))
//
// path is a file name; it is escaped into a "file:" URI, so characters such as '?' or
// '#' in it cannot inject URI parameters. In-memory databases are not supported: each
// connection of a *sql.DB pool would see its own, empty database.
func SQLiteDSN(path string) string {
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: SQLiteParams}
	return u.String()
}
