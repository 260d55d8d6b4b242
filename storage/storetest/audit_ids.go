package storetest

import (
	"testing"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditIDCases hold adapters to the scope of an event ID: unique within its tenant
// (audit.Store: "already stored for its tenant"), as the SQL adapters' key
// (tenant_id, id) makes it. An ID is the caller's choice, so one tenant's IDs must never
// block another tenant's events: a store-wide check would let one tenant refuse, or
// probe for, another tenant's events.
var auditIDCases = []testCase{
	{"the same event ID appended for two tenants, in separate Appends, is stored for each", func(t *testing.T, f *fx) {
		a, b := newID(), newID()
		ea := changeEvent(t, a, "role.create")
		eb := changeEvent(t, b, "role.delete")
		eb.ID = ea.ID
		require.NoError(t, f.s.Audit.Append(f.ctx, ea))
		require.NoError(t, f.s.Audit.Append(f.ctx, eb), "tenant A's ID does not block tenant B's event")
		f.assertOnly(a, ea)
		f.assertOnly(b, eb)
	}},
	{"the same event ID for two tenants in one batch is stored for each", func(t *testing.T, f *fx) {
		a, b := newID(), newID()
		ea := changeEvent(t, a, "role.create")
		eb := changeEvent(t, b, "role.delete")
		eb.ID = ea.ID
		require.NoError(t, f.s.Audit.Append(f.ctx, ea, eb))
		f.assertOnly(a, ea)
		f.assertOnly(b, eb)
	}},
	// The per-tenant scope does not weaken the check within a tenant, even when another
	// tenant holds the same ID.
	{"an event ID stored for a tenant is still a duplicate for that tenant", func(t *testing.T, f *fx) {
		a, b := newID(), newID()
		ea := changeEvent(t, a, "role.create")
		eb := changeEvent(t, b, "role.delete")
		eb.ID = ea.ID
		require.NoError(t, f.s.Audit.Append(f.ctx, ea, eb))

		again := changeEvent(t, a, "role.update")
		again.ID = ea.ID
		err := f.s.Audit.Append(f.ctx, again)
		assert.ErrorIs(t, err, audit.ErrDuplicateEvent, "an ID stored for the tenant")
		assert.ErrorIs(t, err, storage.ErrConflict, "an ID stored for the tenant")

		// Repeated within one tenant in a batch, beside a third tenant's copy of the ID.
		c := newID()
		twice := changeEvent(t, c, "role.create")
		other := changeEvent(t, c, "role.update")
		other.ID = twice.ID
		err = f.s.Audit.Append(f.ctx, twice, other)
		assert.ErrorIs(t, err, audit.ErrDuplicateEvent, "an ID repeated for one tenant in the batch")
		assert.ErrorIs(t, err, storage.ErrConflict, "an ID repeated for one tenant in the batch")
		assert.Empty(t, f.allEvents(c), "nothing of the failed batch is stored")

		f.assertOnly(a, ea)
		f.assertOnly(b, eb)
	}},
	// The memory store keeps an index of IDs beside the events; a purge must free the
	// purged tenant's IDs only.
	{"a purge frees the purged tenant's event IDs only", func(t *testing.T, f *fx) {
		r := f.retainer()
		a, b := newID(), newID()
		ea := changeEvent(t, a, "role.create")
		eb := changeEvent(t, b, "role.delete")
		eb.ID = ea.ID
		require.NoError(t, f.s.Audit.Append(f.ctx, ea, eb))
		stored := f.allEvents(a)
		require.Len(t, stored, 1)
		n, err := r.PurgeAudit(f.ctx, a, checkpointOf(f.s.Chain, stored[0]))
		require.NoError(t, err)
		require.Equal(t, int64(1), n)

		again := changeEvent(t, b, "role.update")
		again.ID = ea.ID
		err = f.s.Audit.Append(f.ctx, again)
		assert.ErrorIs(t, err, audit.ErrDuplicateEvent, "B's ID stays stored when A's is purged")
		f.assertOnly(b, eb)

		reused := changeEvent(t, a, "role.update")
		reused.ID = ea.ID
		require.NoError(t, f.s.Audit.Append(f.ctx, reused), "A's purged ID may be used again")
		got := f.allEvents(a)
		require.Len(t, got, 1)
		assertEvent(t, reused, got[0])
	}},
}

// assertOnly checks that want is tenant's one event, whether read whole or by its ID,
// and that its chain verifies.
func (f *fx) assertOnly(tenant uuid.UUID, want audit.Event) {
	f.t.Helper()
	got := f.allEvents(tenant)
	if assert.Len(f.t, got, 1, "tenant %s", tenant) {
		assertEvent(f.t, want, got[0])
		verifyChain(f.t, f.s.Chain, got)
	}
	byID, err := f.s.Audit.Events(f.ctx, tenant, audit.Query{ID: want.ID})
	require.NoError(f.t, err)
	if assert.Len(f.t, byID, 1, "tenant %s: Events by ID", tenant) {
		assertEvent(f.t, want, byID[0])
	}
}
