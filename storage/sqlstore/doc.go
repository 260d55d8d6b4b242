// Package sqlstore is callshield's SQL storage adapter: one [Store] that implements
// access.Store, audit.Store and authn.Store over PostgreSQL (production, and several app instances
// sharing one database) or embedded SQLite (a single host, no cgo).
//
// The package imports no database driver. The program imports the one it uses,
// opens the *sql.DB and hands it to [New]; it keeps ownership of the handle (pool
// settings, Close).
//
// # PostgreSQL
//
// PostgreSQL goes through github.com/jackc/pgx/v5/stdlib:
//
//	import _ "github.com/jackc/pgx/v5/stdlib"
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
//	if err != nil { ... }
//	db.SetMaxOpenConns(20)
//	db.SetMaxIdleConns(20) // the default of 2 reconnects on every burst
//	s, err := sqlstore.New(db, sqlstore.Postgres, sqlstore.Options{
//		Chain: audit.Chain{Key: auditKey}, // a secret kept outside the database
//	})
//	if err != nil { ... }
//	if err := s.Migrate(ctx); err != nil { ... }
//
// The tables go to the first schema of the connection's search_path. To keep them in
// a schema of their own, set it per connection, for example with
// pgx.ConnConfig.RuntimeParams["search_path"] and stdlib.OpenDB, or the DSN parameter
// search_path=callshield.
//
// # SQLite
//
// SQLite goes through modernc.org/sqlite (pure Go), opened with [SQLiteDSN]:
//
//	import _ "modernc.org/sqlite"
//
//	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN("/var/lib/app/callshield.db"))
//	if err != nil { ... }
//	db.SetMaxIdleConns(4)
//	s, err := sqlstore.New(db, sqlstore.SQLite, sqlstore.Options{Chain: audit.Chain{Key: auditKey}})
//	if err != nil { ... }
//	if err := s.Migrate(ctx); err != nil { ... }
//
// The DSN sets, on every connection of the pool ([SQLiteParams] says why in detail):
// busy_timeout(5000), so that a writer waits for another instead of failing with
// SQLITE_BUSY; journal_mode(WAL), so that readers and the writer do not block each
// other; foreign_keys(1), without which SQLite ignores the schema's foreign keys; and
// _txlock=immediate, so that every read-write transaction takes the write lock when it
// begins and transactions that read then write are serialised rather than failing.
// If you build the DSN yourself, keep these four. [Store.Migrate] refuses a connection
// without foreign keys ([ErrForeignKeysOff]). Inside one process, a Store also queues
// its own writers in Go, so they do not poll in SQLite's busy handler.
//
// # Schema and migrations
//
// The schema ships as plain SQL files embedded in the package, one directory per
// dialect (migrations/postgres, migrations/sqlite), with the same versions in both:
// 0001_access.up.sql (tenants, roles, projects, members, project members, allowlist),
// 0002_audit.up.sql (events and the per-tenant chain head), 0003_authn.up.sql (users,
// one-time links, account settings), 0004_audit_retention_search.up.sql (retention
// checkpoints, report indexes), 0005_audit_target_index.up.sql (the target index
// without the action log), 0008_tokens.up.sql (API tokens and their daily usage),
// 0009_identities.up.sql (linked identities and their
// sign-in flows), 0010_policy_changes.up.sql (the per-tenant policy change log that
// triggers fill, behind PolicyChanges and the access engine's incremental refresh; on
// PostgreSQL it also notifies each new policy version, see storage/pglisten); later
// features add more. Versions are applied in order and must have no gap below the
// newest applied one: [Store.Migrate] refuses (with [ErrSchema]) a database where a
// version is applied but an earlier one is not, so a build must never ship a number
// before every earlier number exists (a number reserved for a feature still on a
// branch must land first, or be given up). Migrations are forward-only and additive,
// so that an older instance keeps working while a newer one has migrated. Every table
// is prefixed cs_ so that it can live beside the host's own tables.
//
// There are two ways to apply them; choose one per database:
//
//   - [Store.Migrate] applies what is missing at start-up, each file in its own
//     transaction with its row in [MigrationsTable]. It is idempotent and safe when
//     several instances start at once: PostgreSQL serialises the callers with
//     pg_advisory_xact_lock, SQLite with the immediate write transaction.
//   - Your own migration tool. The files are named as golang-migrate expects
//     (NNNN_name.up.sql) and begin with "-- +goose Up" for goose; [Migrations] returns
//     them as an fs.FS (for golang-migrate's iofs source or goose's embedded-FS
//     support), or copy them into your migrations directory. Such tools record what
//     they applied in their own tables, not in MigrationsTable, so do not call Migrate
//     on that database afterwards: it would try to create the tables again and fail
//     (changing nothing).
//
// Encodings. PostgreSQL: uuid, timestamptz, text[] for role rights, cidr for
// allowlist prefixes, jsonb for event changes and details, bytea for hashes. SQLite
// (STRICT tables): UUIDs as TEXT in canonical lower-case form (readable in the sqlite3
// shell, and ordered like the UUID bytes), times as INTEGER microseconds since the Unix
// epoch, rights as a JSON array, prefixes as TEXT, changes and details as JSON TEXT,
// hashes as BLOB. On both, times keep microseconds and are returned in UTC, role and
// project names are unique and ordered byte by byte (COLLATE "C" on PostgreSQL), and
// an event's actor address is stored in its exact text form so that the hash chain
// still verifies after the round trip.
//
// Indexes serve every lookup with the tenant first: primary keys are (tenant_id, id),
// names are unique on (tenant_id, name), and audit events are keyed by (tenant_id,
// seq), unique on (tenant_id, id), with the report indexes of 0004 and 0005: (tenant_id,
// time, seq), (tenant_id, kind, time, seq), (tenant_id, kind, actor_user, time, seq),
// (tenant_id, kind, target_id, time, seq) for every kind but the high-volume action log
// (whose random targets made this index halve SQLite's ingest, and whose report filters
// by user), and (tenant_id, actor_user, time, seq); retention checkpoints live in
// cs_audit_checkpoints. Every foreign key of a child table includes tenant_id, so that
// even a row written behind the store's back cannot point at another tenant's role,
// project or member. The audit tables have no foreign key to cs_tenants: audit.Store
// is usable on its own, and a tenant's trail outlives its access rows.
//
// # Units of work and several instances
//
// Each access.Store mutation is one transaction: its first statement increments the
// tenant's policy version (a column of cs_tenants, which on PostgreSQL locks the
// tenant's row until commit), then the change is checked and applied, then its audit
// event is appended; any failure rolls all of it back. Mutations of one tenant are
// therefore serialised, on one instance or many, and the checks they make (a role
// exists, a role is not in use) still hold when they commit. Updates are conditional on
// the version read (storage.ErrStale), duplicates are refused by unique constraints
// (storage.ErrConflict, detected from the driver's error code: SQLSTATE 23505, or
// SQLite's extended constraint codes), and another tenant's IDs are storage.ErrNotFound.
// LoadPolicy reads in one snapshot (REPEATABLE READ on PostgreSQL), so the policy
// version it returns always matches the data.
//
// [Store.Append], and the append inside every mutation, locks each tenant's chain head
// row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's write lock), numbers the events
// from the head's Seq, links them with Options.Chain and moves the head, in the same
// transaction. Any number of app instances sharing a PostgreSQL database thus extend
// one gap-free chain per tenant. Locks are always taken in one order (tenant row, then
// chain heads sorted by tenant ID), so concurrent units of work cannot deadlock each
// other.
//
// SQLite serves one host: several processes may share the file (the busy timeout and
// immediate transactions serialise their writers), but not over a network file system,
// where SQLite's locks are unreliable. Deployments with several hosts use PostgreSQL.
package sqlstore
