package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tamperer changes an adapter's stored audit rows behind its back, as someone with
// write access to the database (and without the chain's key) would. Each adapter's
// tests implement it in their own terms: SQL statements for storage/sqlstore, a test
// hook for storage/memory. Events are named by tenant and Seq as stored.
type Tamperer interface {
	// EditReason sets the Reason of the event at seq, leaving its hashes alone.
	EditReason(ctx context.Context, tenant uuid.UUID, seq int64, reason string) error
	// DeleteEvent deletes the event at seq.
	DeleteEvent(ctx context.Context, tenant uuid.UUID, seq int64) error
	// SwapSeq exchanges the Seq of the events at a and b (each row keeps its other
	// columns), so that they are read in each other's place.
	SwapSeq(ctx context.Context, tenant uuid.UUID, a, b int64) error
	// SetHashes overwrites the PrevHash and Hash of the event at seq.
	SetHashes(ctx context.Context, tenant uuid.UUID, seq int64, prev, hash []byte) error
	// SetHead overwrites the tenant's chain head.
	SetHead(ctx context.Context, tenant uuid.UUID, head audit.Link) error
	// DeleteCheckpoint deletes the tenant's retention checkpoint.
	DeleteCheckpoint(ctx context.Context, tenant uuid.UUID) error
	// SetKeyID overwrites the key ID of the event at seq.
	SetKeyID(ctx context.Context, tenant uuid.UUID, seq int64, keyID uint32) error
	// SetCheckpointKeyID overwrites the key ID of the tenant's retention checkpoint.
	SetCheckpointKeyID(ctx context.Context, tenant uuid.UUID, keyID uint32) error
}

// TamperFactory is a [Factory] that also returns the Tamperer of the stores it made.
type TamperFactory func(t *testing.T) (Stores, Tamperer)

// RunTamper runs the tamper-evidence cases (ASVS 16.4.2): each tampers with a stored
// chain through the Tamperer and checks that audit.Verify names the first broken link
// with the right reason, and that a purge will not delete past it. The range cases
// (audit_tamper_range.go) do the same for verifications of a period (from and to set),
// which must see deletions and edits at the edges of their range and a rolled-back
// head, and must pass over any range of an intact chain. Stores.Chain should
// be keyed, so that the case where the tamperer recomputes hashes without the key is
// meaningful.
func RunTamper(t *testing.T, newStores TamperFactory) {
	t.Helper()
	s, tam := newStores(t)
	require.NotNil(t, s.Audit, "Factory returned no Audit store")
	for _, c := range append(append(tamperCases, rangeTamperCases...), keyTamperCases...) {
		t.Run(c.name, func(t *testing.T) {
			f := &fx{t: t, ctx: t.Context(), s: s}
			c.run(t, f, tam)
		})
	}
}

// tamperCase is one tampering and what verification must say about it.
type tamperCase struct {
	name string
	run  func(t *testing.T, f *fx, tam Tamperer)
}

// tenantOf10 stores ten events of a new tenant and checks that they verify.
func (f *fx) tenantOf10() (uuid.UUID, []audit.Event) {
	f.t.Helper()
	tenant := newID()
	stored := f.appendN(tenant, 10, at(0))
	f.verifyOK(tenant, 10)
	return tenant, stored
}

// firstBroken runs a full verification and returns its first broken link.
func (f *fx) firstBroken(tenant uuid.UUID) audit.BrokenLink {
	f.t.Helper()
	res, err := audit.Verify(f.ctx, f.retainer(), f.s.Chain, tenant, time.Time{}, time.Time{})
	require.NoError(f.t, err)
	require.NotNil(f.t, res.FirstBroken, "verification must detect the tampering")
	return *res.FirstBroken
}

var tamperCases = []tamperCase{
	{"an edited field is a hash mismatch at its event", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, stored := f.tenantOf10()
		require.NoError(t, tam.EditReason(f.ctx, tenant, 4, "nothing to see"))
		assert.Equal(t, audit.BrokenLink{Seq: 4, EventID: stored[3].ID, Reason: audit.ReasonHashMismatch}, f.firstBroken(tenant))
	}},
	{"a deleted event in the middle is a gap at its Seq", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, _ := f.tenantOf10()
		require.NoError(t, tam.DeleteEvent(f.ctx, tenant, 6))
		assert.Equal(t, audit.BrokenLink{Seq: 6, Reason: audit.ReasonGap}, f.firstBroken(tenant))
	}},
	{"a deleted first event is a gap at Seq 1", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, _ := f.tenantOf10()
		require.NoError(t, tam.DeleteEvent(f.ctx, tenant, 1))
		assert.Equal(t, audit.BrokenLink{Seq: 1, Reason: audit.ReasonGap}, f.firstBroken(tenant))
	}},
	{"a deleted newest event is a gap before the head", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, _ := f.tenantOf10()
		require.NoError(t, tam.DeleteEvent(f.ctx, tenant, 10))
		assert.Equal(t, audit.BrokenLink{Seq: 10, Reason: audit.ReasonGap}, f.firstBroken(tenant))
	}},
	{"two events with swapped Seq are reordered at the first of them", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, stored := f.tenantOf10()
		require.NoError(t, tam.SwapSeq(f.ctx, tenant, 5, 6))
		// The event read at Seq 5 is the one appended sixth.
		assert.Equal(t, audit.BrokenLink{Seq: 5, EventID: stored[5].ID, Reason: audit.ReasonReordered}, f.firstBroken(tenant))
	}},
	{"swapped events far apart are reordered too", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, stored := f.tenantOf10()
		require.NoError(t, tam.SwapSeq(f.ctx, tenant, 2, 9))
		assert.Equal(t, audit.BrokenLink{Seq: 2, EventID: stored[8].ID, Reason: audit.ReasonReordered}, f.firstBroken(tenant))
	}},
	{"a PrevHash pointing elsewhere is a prev mismatch", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, stored := f.tenantOf10()
		require.NoError(t, tam.SetHashes(f.ctx, tenant, 7, stored[1].Hash, stored[6].Hash))
		assert.Equal(t, audit.BrokenLink{Seq: 7, EventID: stored[6].ID, Reason: audit.ReasonPrevMismatch}, f.firstBroken(tenant))
	}},
	// The attacker edits an event and recomputes every later link with plain SHA-256
	// (the unkeyed chain), head included: the chain is consistent to anyone without
	// the key, and broken to a verifier holding it.
	{"an edit re-hashed without the chain's key is a hash mismatch at the edited event", func(t *testing.T, f *fx, tam Tamperer) {
		if !f.s.Chain.Keyed() {
			t.Skip("the stores were built with an unkeyed chain: re-hashing is undetectable by design")
		}
		tenant, stored := f.tenantOf10()
		require.NoError(t, tam.EditReason(f.ctx, tenant, 3, "rewritten"))
		edited := f.allEvents(tenant)
		var prev []byte = edited[1].Hash
		for i := 2; i < len(edited); i++ {
			e := &edited[i]
			plain := *e
			plain.KeyID = 0 // plain SHA-256; the rows keep their key ID
			h := audit.Chain{}.Link(prev, &plain)
			require.NoError(t, tam.SetHashes(f.ctx, tenant, e.Seq, prev, h))
			prev = h
		}
		require.NoError(t, tam.SetHead(f.ctx, tenant, audit.Link{Seq: 10, Hash: prev}))
		res, err := audit.Verify(f.ctx, f.retainer(), audit.Chain{}, tenant, time.Time{}, time.Time{})
		require.NoError(t, err)
		assert.Equal(t, "rewritten", f.allEvents(tenant)[2].Reason)
		assert.Equal(t, audit.BrokenLink{Seq: 1, EventID: stored[0].ID, Reason: audit.ReasonHashMismatch}, *res.FirstBroken,
			"unkeyed verification fails at once: the untouched links are keyed")
		assert.Equal(t, audit.BrokenLink{Seq: 3, EventID: stored[2].ID, Reason: audit.ReasonHashMismatch}, f.firstBroken(tenant))
	}},
	{"a head moved past the newest event is a gap; one moved back is a head mismatch", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, stored := f.tenantOf10()
		require.NoError(t, tam.SetHead(f.ctx, tenant, audit.Link{Seq: 12, Hash: stored[9].Hash}))
		assert.Equal(t, audit.BrokenLink{Seq: 11, Reason: audit.ReasonGap}, f.firstBroken(tenant))

		require.NoError(t, tam.SetHead(f.ctx, tenant, audit.Link{Seq: 8, Hash: stored[7].Hash}))
		assert.Equal(t, audit.BrokenLink{Seq: 9, EventID: stored[8].ID, Reason: audit.ReasonHeadMismatch}, f.firstBroken(tenant),
			"events after the head")
	}},
	{"a deleted checkpoint is a gap at the first purged Seq", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, _ := f.tenantOf10()
		_, err := audit.Purge(f.ctx, f.retainer(), f.s.Chain, tenant, at(4*time.Minute))
		require.NoError(t, err)
		f.verifyOK(tenant, 6)
		require.NoError(t, tam.DeleteCheckpoint(f.ctx, tenant))
		assert.Equal(t, audit.BrokenLink{Seq: 1, Reason: audit.ReasonGap}, f.firstBroken(tenant))
	}},
	// Deleting events right after the checkpoint looks like a purge that skipped them.
	{"events deleted after the checkpoint are a gap at the first of them", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, _ := f.tenantOf10()
		_, err := audit.Purge(f.ctx, f.retainer(), f.s.Chain, tenant, at(3*time.Minute))
		require.NoError(t, err)
		require.NoError(t, tam.DeleteEvent(f.ctx, tenant, 4))
		require.NoError(t, tam.DeleteEvent(f.ctx, tenant, 5))
		assert.Equal(t, audit.BrokenLink{Seq: 4, Reason: audit.ReasonGap}, f.firstBroken(tenant))
	}},
	// A purge verifies before it deletes: it stops before a broken link, so that the
	// evidence stays, and says where.
	{"Purge deletes nothing from a broken link on and reports it", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, stored := f.tenantOf10()
		require.NoError(t, tam.EditReason(f.ctx, tenant, 5, "edited"))
		_, err := audit.Purge(f.ctx, f.retainer(), f.s.Chain, tenant, at(time.Hour))
		var broken *audit.ChainBrokenError
		require.ErrorAs(t, err, &broken)
		assert.ErrorIs(t, err, audit.ErrChainBroken)
		assert.Equal(t, audit.BrokenLink{Seq: 5, EventID: stored[4].ID, Reason: audit.ReasonHashMismatch}, broken.Link)
		got := f.allEvents(tenant)
		assert.Equal(t, eventIDs(stored[4:]), eventIDs(got), "the intact events before the break are purged, the rest kept")
		assert.Equal(t, audit.BrokenLink{Seq: 5, EventID: stored[4].ID, Reason: audit.ReasonHashMismatch}, f.firstBroken(tenant))
	}},
	// Tampering with tenant A never shows in tenant B's verification.
	{"tampering with one tenant leaves another tenant's chain verifying", func(t *testing.T, f *fx, tam Tamperer) {
		a, _ := f.tenantOf10()
		b, _ := f.tenantOf10()
		require.NoError(t, tam.DeleteEvent(f.ctx, a, 3))
		assert.Equal(t, audit.ReasonGap, f.firstBroken(a).Reason)
		f.verifyOK(b, 10)
	}},
}
