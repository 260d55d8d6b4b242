package sqlstore

import (
	"errors"
	"fmt"

	"github.com/callshield/callshield/storage"
)

// Errors of the sqlstore package. Storage outcomes are reported with the storage
// sentinels (storage.ErrNotFound, ErrConflict, ErrStale) and the access sentinels
// (access.ErrRoleInUse, ...); the errors below are about the adapter itself.
var (
	// ErrInvalidDialect: New was given a Dialect other than Postgres or SQLite.
	ErrInvalidDialect = errors.New("sqlstore: invalid dialect")
	// ErrForeignKeysOff: a SQLite connection has foreign keys disabled; open the
	// database with the DSN of SQLiteDSN.
	ErrForeignKeysOff = errors.New("sqlstore: SQLite foreign keys are disabled (open the database with sqlstore.SQLiteDSN)")
	// ErrSchema: the database's recorded schema versions do not fit this build's
	// migrations (a gap, or a migration applied out of order).
	ErrSchema = errors.New("sqlstore: unexpected schema state")
	// ErrTenantMismatch: an entity passed to a tenant's mutation names another tenant
	// (a role given to CreateTenant with a different Tenant). Nothing is stored.
	ErrTenantMismatch = errors.New("sqlstore: entity of another tenant")
	// ErrCorrupt: a stored row cannot be decoded (a malformed value written behind the
	// store's back). The error names the row.
	ErrCorrupt = errors.New("sqlstore: corrupt row")
)

// The drivers' error types are matched through the methods they export, so that this
// package imports neither driver:
//   - *pgconn.PgError (pgx) has SQLState() string;
//   - *sqlite.Error (modernc.org/sqlite) has Code() int, the extended result code
//     (modernc enables extended codes on every connection).
type sqlStateError interface{ SQLState() string }
type sqliteCodeError interface{ Code() int }

// PostgreSQL SQLSTATEs (Appendix A of the PostgreSQL manual).
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

// SQLite extended result codes (https://sqlite.org/rescode.html).
const (
	sqliteConstraintForeignKey = 787  // SQLITE_CONSTRAINT_FOREIGNKEY
	sqliteConstraintPrimaryKey = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
	sqliteConstraintUnique     = 2067 // SQLITE_CONSTRAINT_UNIQUE
)

// translate maps a driver error to the storage sentinel it means, keeping the driver
// error in the chain for logs: a unique or primary-key violation is storage.ErrConflict,
// a foreign-key violation (a parent that does not exist in the tenant) is
// storage.ErrNotFound. Other errors are returned unchanged.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var pe sqlStateError
	if errors.As(err, &pe) {
		switch pe.SQLState() {
		case pgUniqueViolation:
			return fmt.Errorf("%w: %w", storage.ErrConflict, err)
		case pgForeignKeyViolation:
			return fmt.Errorf("%w: %w", storage.ErrNotFound, err)
		}
		return err
	}
	var se sqliteCodeError
	if errors.As(err, &se) {
		switch se.Code() {
		case sqliteConstraintUnique, sqliteConstraintPrimaryKey:
			return fmt.Errorf("%w: %w", storage.ErrConflict, err)
		case sqliteConstraintForeignKey:
			return fmt.Errorf("%w: %w", storage.ErrNotFound, err)
		}
	}
	return err
}
