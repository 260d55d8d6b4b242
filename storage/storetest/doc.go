// Package storetest is the conformance suite that every callshield storage adapter
// passes: storage/memory, storage/sqlstore (PostgreSQL and SQLite), and any adapter a
// user writes for another database.
//
// An adapter's test calls [Run] with a [Factory] that returns fresh, empty stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Stores {
//			db := openEmptyDatabase(t) // registers its cleanup with t.Cleanup
//			s := mystore.New(db)
//			return storetest.Stores{Access: s, Audit: s, Authn: s}
//		})
//	}
//
// Each case is a subtest whose name says what it proves (in the manner of
// testing/slogtest), so a failure reads as the broken rule. Cases are grouped by entity
// and concern (access/roles, access/tenant isolation, audit/concurrency, ...); the
// factory is called once per group, whose cases share the stores but never each
// other's rows, since every case creates its own tenants with fresh IDs. Groups and
// cases run one after another, so a factory need not be safe for concurrent use; the
// concurrency cases call the stores from many goroutines, never the factory.
//
// # What the suite holds adapters to
//
// The rules are those of the doc comments of access.Store and audit.Store. Where those
// leave a choice open, the suite settles it as follows, so that every adapter behaves
// alike:
//
//   - Tenant scoping: every method given another tenant's IDs, or an unknown tenant,
//     returns storage.ErrNotFound (list methods included) and changes nothing.
//   - Ordering: "ordered by name" is byte-wise order of the UTF-8 names (Go's string
//     comparison, SQL's COLLATE "C"), never a locale's collation; "ordered by user ID"
//     is byte-wise order of the 16-byte UUIDs. Names are unique compared exactly, so
//     "Agent" and "agent" are different names.
//   - Updates store the Name (and a role's Rights) and UpdatedAt; a role's Kind, and
//     every entity's CreatedAt and Tenant, never change after creation. Create stores
//     Version 1 whatever Version is passed.
//   - An access mutation whose audit event belongs to another tenant is rejected
//     (audit.ErrInvalidEvent) and changes nothing: a change in one tenant never writes to
//     another tenant's audit chain. An invalid allowlist prefix is
//     access.ErrInvalidPrefix.
//   - The audit log does not depend on the access store's tenant rows: events can be
//     appended for any tenant ID. Event IDs are unique within a tenant, and only
//     there: the same ID may be stored for two tenants, and each sees only its own.
//     Appending an ID already stored for its tenant is storage.ErrConflict (also
//     wrapping audit.ErrDuplicateEvent) and fails the whole batch,
//     and an access mutation carrying such an event fails with it and changes nothing.
//     This is how the suite proves that a mutation and its event are one transaction.
//   - Hash chain: Seq starts at 1 and grows by 1, PrevHash is the previous event's
//     Hash (empty for the first), Hash is [Stores.Chain].Link(PrevHash, event);
//     Seq, PrevHash and Hash passed to Append are ignored.
//   - Times read back are in UTC and equal (time.Time.Equal) to what was stored; the
//     suite stores times with microsecond precision, the precision stores must keep.
//   - Empty and nil slices and maps (a role's Rights, an event's Changes and Details,
//     an allowlist) are the same value.
//
// Concurrency cases run 20 to 50 goroutines against one store; an adapter over a
// database with a single writer (SQLite) must wait for its turn (a busy timeout) rather
// than fail. They prove that optimistic versions and unique names settle races (exactly
// one winner, no lost update), that a role cannot be deleted under a member being
// given it, that each tenant keeps one gap-free chain whoever appends, and that
// LoadPolicy and Events racing with writers read one consistent state.
//
// [RunTamper] runs the tamper-evidence cases (edited, deleted and reordered rows, a
// re-hashed chain without the key, a moved head, a deleted checkpoint, and the same at
// the edges of a verified period) with a
// Tamperer the adapter supplies to change its rows behind the store's back.
//
// # Adding a domain
//
// When a domain gains a store (authn.Store, token.Store), its adapters implement it over
// the same database; the suite gets a field in [Stores] for it and a file of case
// groups (authn.go beside access.go and audit.go) run from [Run]. Cases build their
// own tenants and users with fresh IDs, so that they can share a group's stores.
package storetest
