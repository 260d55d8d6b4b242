// Package storage holds what every callshield store shares: the sentinel errors that
// adapters return and that domain packages (access, authn, token, audit) check with
// [errors.Is].
//
// The stores themselves are declared by the packages that use them (access.Store,
// audit.Store, ...). Three adapters implement all of them:
//
//   - storage/memory: complete and concurrency-safe; for tests and small single-process
//     deployments. Stores keep the times they are given, so a host's tests stay
//     deterministic by injecting a clock into the services.
//   - storage/sqlstore: PostgreSQL (production, and several app instances sharing one
//     database) and embedded SQLite (modernc.org/sqlite, no cgo).
//   - storage/storetest: the conformance suite every adapter passes, exported so that an
//     adapter for another database can prove itself against the same cases.
package storage
