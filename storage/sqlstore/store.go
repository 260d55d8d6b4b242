package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
)

// Compile-time checks: a *Store is every store the domain packages declare.
var (
	_ access.Store = (*Store)(nil)
	_ audit.Store  = (*Store)(nil)
)

// Options configure a [Store]. The zero value is valid.
type Options struct {
	// Chain computes the audit hash chain's links. The zero Chain is unkeyed SHA-256;
	// set Key, or a ring (Keys and Current), kept outside the database, so that
	// someone who can write to the database cannot recompute a consistent chain after
	// tampering. Every app instance sharing a database must hold the same ring; New
	// refuses a Chain that fails audit.Chain.Validate. The keys are copied.
	Chain audit.Chain
}

// Store is callshield's SQL adapter: it implements [access.Store], [audit.Store] and [authn.Store]
// over one *sql.DB. It is safe for concurrent use, and several Stores (in one process
// or in several app instances) may share one database.
type Store struct {
	db    *sql.DB
	d     Dialect
	chain audit.Chain
	// writer admits one read-write transaction at a time on SQLite, which has a single
	// writer anyway: queued in Go, writers start as soon as the previous one commits
	// instead of polling in SQLite's busy handler (a sleep of up to 100 ms per try).
	// Writers of other handles or processes on the same file still wait through the
	// busy timeout. Nil on PostgreSQL.
	writer chan struct{}
}

// New returns a Store over db, an open handle of the given dialect. The caller owns db:
// its pool settings and its Close. New does no I/O; call [Store.Migrate] (or apply the
// migrations with your own tool, see the package doc) before using the Store.
func New(db *sql.DB, d Dialect, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	if !d.valid() {
		return nil, fmt.Errorf("%w: %d", ErrInvalidDialect, int(d))
	}
	if err := opts.Chain.Validate(); err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	s := &Store{db: db, d: d, chain: opts.Chain.Clone()}
	if d == SQLite {
		s.writer = make(chan struct{}, 1)
	}
	return s, nil
}

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.d }

// inTx runs fn in a transaction, committing if it returns nil and rolling back
// otherwise. On SQLite, read-write transactions first wait for their turn (see
// Store.writer), or for ctx to end.
func (s *Store) inTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	if s.writer != nil && (opts == nil || !opts.ReadOnly) {
		select {
		case s.writer <- struct{}{}:
			defer func() { <-s.writer }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the transaction's own error is the one to report
		return err
	}
	return tx.Commit()
}

// queryer is what *sql.DB and *sql.Tx share for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// collect runs a query and scans each row with scan.
func collect[T any](ctx context.Context, q queryer, scan func(*sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
