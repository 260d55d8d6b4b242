// Package memory is a complete, concurrency-safe, in-process implementation of
// callshield's stores (access.Store, audit.Store, authn.Store and token.Store), for tests and for small
// single-process deployments.
//
// Create one with [New]; the zero [Options] is valid:
//
//	s := memory.New(memory.Options{})       // an access.Store and an audit.Store
//	rec := audit.NewRecorder(s, audit.Options{})
//
// # Guarantees
//
// One lock guards all state, so every method is one atomic unit of work: an access
// mutation checks every rule, applies its change, bumps the tenant's policy version and
// appends its audit event, or returns an error and changes nothing. Values passed in and
// returned are copied, so a caller can never change stored state through a slice or map
// it holds. Times are stored in UTC truncated to microseconds, like the SQL adapters, so
// that code tested against this store behaves the same in production.
//
// The store is checked by the conformance suite in storage/storetest, the same suite the
// SQL adapters pass.
//
// # Limits
//
// State lives in process memory: it is lost when the process exits and cannot be shared
// between several app instances. Audit events stay in memory until audit.Purge deletes
// them, so memory grows with the audit log; deployments with real traffic use
// storage/sqlstore.
package memory
