package storetest

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The keys of the rotation cases: the old one (ID 1, as audit.Chain{Key} is) and the
// new one.
var (
	rotKey1 = bytes.Repeat([]byte("old chain key 1."), 2)
	rotKey2 = bytes.Repeat([]byte("new chain key 2."), 2)
)

// Rings of a rotation from key 1 to key 2, step by step (docs/DEPLOYMENT.md §6).
var (
	ringOld     = audit.Chain{Key: rotKey1}                                                          // before: one key, ID 1
	ringAdded   = audit.Chain{Keys: map[uint32][]byte{1: rotKey1, 2: rotKey2}, Current: 1}           // step 1: key 2 added
	ringRotated = audit.Chain{Keys: map[uint32][]byte{1: rotKey1, 2: rotKey2}, Current: 2}           // step 2: key 2 current
	ringRetired = audit.Chain{Keys: map[uint32][]byte{2: rotKey2}, Current: 2}                       // step 3: key 1 retired
	ringWrong2  = audit.Chain{Keys: map[uint32][]byte{1: rotKey1, 2: []byte("a guess")}, Current: 2} // key 2 wrong
)

// reopen returns the audit store over the same data, linking with chain.
func (f *fx) reopen(chain audit.Chain) audit.Retainer {
	f.t.Helper()
	if f.s.ReopenAudit == nil {
		f.t.Skip("the Factory's Stores have no ReopenAudit: the key rotation cases need it")
	}
	r, err := f.s.ReopenAudit(chain)
	require.NoError(f.t, err)
	return r
}

// appendVia appends n change events of tenant through r, one minute apart from start.
func (f *fx) appendVia(r audit.Store, tenant uuid.UUID, n int, start time.Time) {
	f.t.Helper()
	batch := make([]audit.Event, n)
	for i := range batch {
		batch[i] = changeEvent(f.t, tenant, "role.update")
		batch[i].Time = start.Add(time.Duration(i) * time.Minute)
	}
	require.NoError(f.t, r.Append(f.ctx, batch...))
}

// keyIDsOf returns the KeyID of every stored event of tenant, in Seq order.
func (f *fx) keyIDsOf(r audit.Store, tenant uuid.UUID) []uint32 {
	f.t.Helper()
	evs, err := r.Events(f.ctx, tenant, audit.Query{Limit: audit.MaxLimit})
	require.NoError(f.t, err)
	out := make([]uint32, len(evs))
	for i := range evs {
		out[i] = evs[i].KeyID
	}
	return out
}

// assertNoKey checks that text shows none of the rotation keys, raw or in hex.
func assertNoKey(t *testing.T, text string) {
	t.Helper()
	for _, k := range [][]byte{rotKey1, rotKey2} {
		assert.NotContains(t, text, string(k))
		assert.NotContains(t, text, hex.EncodeToString(k))
	}
}

var auditKeyCases = []testCase{
	// Rotation: key 2 added to the ring, then made current, across restarts. Each
	// event records the key it was linked under, and the whole chain verifies with
	// the ring; without key 2, or with a wrong key 2, it does not.
	{"a chain across a key rotation verifies with the ring, each event under its own key ID", func(t *testing.T, f *fx) {
		tenant := newID()
		f.appendVia(f.reopen(ringOld), tenant, 3, at(0))
		f.appendVia(f.reopen(ringAdded), tenant, 2, at(3*time.Minute))
		r := f.reopen(ringRotated)
		f.appendVia(r, tenant, 3, at(5*time.Minute))
		assert.Equal(t, []uint32{1, 1, 1, 1, 1, 2, 2, 2}, f.keyIDsOf(r, tenant))

		res, err := audit.Verify(f.ctx, r, ringRotated, tenant, time.Time{}, time.Time{})
		require.NoError(t, err)
		assert.Nil(t, res.FirstBroken)
		assert.Equal(t, 8, res.Checked)
		assert.Equal(t, map[uint32]int{1: 5, 2: 3}, res.KeyIDs)
		// A range across the rotation verifies too, joined to the key-1 event before it.
		res, err = audit.Verify(f.ctx, r, ringRotated, tenant, at(4*time.Minute), at(7*time.Minute))
		require.NoError(t, err)
		assert.Nil(t, res.FirstBroken)
		assert.Equal(t, map[uint32]int{1: 1, 2: 2}, res.KeyIDs)

		evs, err := r.Events(f.ctx, tenant, audit.Query{})
		require.NoError(t, err)
		// Verifying with the old single key: the first key-2 event is an unknown key.
		res, err = audit.Verify(f.ctx, r, ringOld, tenant, time.Time{}, time.Time{})
		var unknown *audit.UnknownKeyError
		require.ErrorAs(t, err, &unknown)
		assert.ErrorIs(t, err, audit.ErrUnknownKey)
		assert.Equal(t, audit.UnknownKeyError{Tenant: tenant, Seq: 6, KeyID: 2}, *unknown)
		assert.Equal(t, &audit.BrokenLink{Seq: 6, EventID: evs[5].ID, Reason: audit.ReasonUnknownKey, KeyID: 2}, res.FirstBroken)
		assert.Contains(t, err.Error(), "key ID 2")
		assertNoKey(t, err.Error())
		// Key 1 retired while events need it: the first event is an unknown key.
		res, err = audit.Verify(f.ctx, r, ringRetired, tenant, time.Time{}, time.Time{})
		require.ErrorAs(t, err, &unknown)
		assert.Equal(t, audit.UnknownKeyError{Tenant: tenant, Seq: 1, KeyID: 1}, *unknown)
		assert.Equal(t, audit.ReasonUnknownKey, res.FirstBroken.Reason)
		// A wrong key 2 is a hash mismatch at the first event under it.
		res, err = audit.Verify(f.ctx, r, ringWrong2, tenant, time.Time{}, time.Time{})
		require.NoError(t, err)
		assert.Equal(t, &audit.BrokenLink{Seq: 6, EventID: evs[5].ID, Reason: audit.ReasonHashMismatch}, res.FirstBroken)
	}},
}

// auditKeyRetirementCases have a group (a store) of their own: KeyUsage counts every
// tenant of the store.
var auditKeyRetirementCases = []testCase{
	// Retiring: key 1 is needed while a retained event or the checkpoint is under
	// it. KeyUsage counts both over every tenant; once retention has purged every
	// key-1 event (its checkpoints are then sealed under key 2), key 1 can go, and
	// the chains verify without it.
	{"KeyUsage tells when an old key can be retired: after retention purged every event and checkpoint under it", func(t *testing.T, f *fx) {
		a, b := newID(), newID()
		old := f.reopen(ringOld)
		f.appendVia(old, a, 4, at(0))
		f.appendVia(old, b, 3, at(0))
		pr, err := audit.Purge(f.ctx, old, ringOld, a, at(2*time.Minute))
		require.NoError(t, err)
		require.Equal(t, int64(2), pr.Deleted)
		assert.Equal(t, uint32(1), pr.Checkpoint.KeyID, "a checkpoint is sealed under the current key")

		r := f.reopen(ringRotated)
		f.appendVia(r, a, 4, at(10*time.Minute))
		f.appendVia(r, b, 1, at(10*time.Minute))
		rep, err := audit.KeyUsage(f.ctx, r, ringRotated)
		require.NoError(t, err)
		assert.Equal(t, 2, rep.Tenants)
		assert.Equal(t, map[uint32]int64{1: 5, 2: 5}, rep.Events)
		assert.Equal(t, map[uint32]int{1: 1}, rep.Checkpoints)
		assert.Empty(t, rep.Broken)
		assert.False(t, rep.Retirable(ringRotated, 1), "events and a checkpoint are under key 1")
		assert.False(t, rep.Retirable(ringRotated, 2), "the current key is never retirable")
		_, err = audit.KeyUsage(f.ctx, r, ringRetired)
		assert.ErrorIs(t, err, audit.ErrUnknownKey, "key 1 retired too early")

		pr, err = audit.Purge(f.ctx, r, ringRotated, a, at(5*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, int64(2), pr.Deleted)
		assert.Equal(t, uint32(2), pr.Checkpoint.KeyID)
		rep, err = audit.KeyUsage(f.ctx, r, ringRotated)
		require.NoError(t, err)
		assert.Equal(t, map[uint32]int64{1: 3, 2: 5}, rep.Events, "tenant b still holds key-1 events")
		assert.Equal(t, map[uint32]int{2: 1}, rep.Checkpoints)
		assert.False(t, rep.Retirable(ringRotated, 1))

		_, err = audit.Purge(f.ctx, r, ringRotated, b, at(5*time.Minute))
		require.NoError(t, err)
		rep, err = audit.KeyUsage(f.ctx, r, ringRotated)
		require.NoError(t, err)
		assert.Equal(t, map[uint32]int64{2: 5}, rep.Events)
		assert.Equal(t, map[uint32]int{2: 2}, rep.Checkpoints)
		assert.True(t, rep.Retirable(ringRotated, 1))

		retired := f.reopen(ringRetired)
		for _, tenant := range []uuid.UUID{a, b} {
			res, err := audit.Verify(f.ctx, retired, ringRetired, tenant, time.Time{}, time.Time{})
			require.NoError(t, err)
			assert.Nil(t, res.FirstBroken)
			assert.Equal(t, uint32(2), res.AnchorKeyID)
		}
		f.appendVia(retired, a, 1, at(20*time.Minute))
		assert.Equal(t, []uint32{2, 2, 2, 2, 2}, f.keyIDsOf(retired, a))
	}},
}

// keyTamperCases tamper with the key IDs of a keyed chain (run by RunTamper).
var keyTamperCases = []tamperCase{
	// The key ID is covered by the link: moving an event to another ring key fails
	// even when that key has the same bytes.
	{"an event's key ID moved to another key of the ring is a hash mismatch", func(t *testing.T, f *fx, tam Tamperer) {
		key := f.keyOrSkip(t)
		tenant, stored := f.tenantOf10()
		require.NoError(t, tam.SetKeyID(f.ctx, tenant, 4, 2))
		twin := audit.Chain{Keys: map[uint32][]byte{1: key, 2: key}, Current: 1}
		res, err := audit.Verify(f.ctx, f.retainer(), twin, tenant, time.Time{}, time.Time{})
		require.NoError(t, err)
		assert.Equal(t, &audit.BrokenLink{Seq: 4, EventID: stored[3].ID, Reason: audit.ReasonHashMismatch}, res.FirstBroken)
	}},
	{"an event's key ID the ring lacks is an UnknownKeyError naming the ID, and Purge stops there", func(t *testing.T, f *fx, tam Tamperer) {
		key := f.keyOrSkip(t)
		tenant, stored := f.tenantOf10()
		require.NoError(t, tam.SetKeyID(f.ctx, tenant, 6, 9))
		res, err := audit.Verify(f.ctx, f.retainer(), f.s.Chain, tenant, time.Time{}, time.Time{})
		var unknown *audit.UnknownKeyError
		require.ErrorAs(t, err, &unknown)
		assert.Equal(t, audit.UnknownKeyError{Tenant: tenant, Seq: 6, KeyID: 9}, *unknown)
		assert.Equal(t, &audit.BrokenLink{Seq: 6, EventID: stored[5].ID, Reason: audit.ReasonUnknownKey, KeyID: 9}, res.FirstBroken)
		assert.Equal(t, "seq 6: unknown key ID 9", res.FirstBroken.String())
		assert.Contains(t, err.Error(), "key ID 9")
		assert.NotContains(t, err.Error(), string(key))
		assert.NotContains(t, err.Error(), hex.EncodeToString(key))

		_, err = audit.Purge(f.ctx, f.retainer(), f.s.Chain, tenant, at(time.Hour))
		assert.ErrorIs(t, err, audit.ErrUnknownKey)
		assert.Equal(t, eventIDs(stored[5:]), eventIDs(f.allEvents(tenant)), "the events from the unknown key on are kept")
	}},
	// The attacker edits an event and re-links it and every later one as unkeyed
	// (key ID 0, plain SHA-256, which anyone can compute), head included: a keyed
	// ring refuses the downgrade at the edited event.
	{"a downgrade to unkeyed links in a keyed chain is refused", func(t *testing.T, f *fx, tam Tamperer) {
		f.keyOrSkip(t)
		tenant, stored := f.tenantOf10()
		require.NoError(t, tam.EditReason(f.ctx, tenant, 3, "rewritten"))
		edited := f.allEvents(tenant)
		prev := edited[1].Hash
		for i := 2; i < len(edited); i++ {
			e := &edited[i]
			e.KeyID = 0
			h := audit.Chain{}.Link(prev, e)
			require.NoError(t, tam.SetKeyID(f.ctx, tenant, e.Seq, 0))
			require.NoError(t, tam.SetHashes(f.ctx, tenant, e.Seq, prev, h))
			prev = h
		}
		require.NoError(t, tam.SetHead(f.ctx, tenant, audit.Link{Seq: 10, Hash: prev}))
		assert.Equal(t, audit.BrokenLink{Seq: 3, EventID: stored[2].ID, Reason: audit.ReasonUnkeyed}, f.firstBroken(tenant))
		_, err := audit.Purge(f.ctx, f.retainer(), f.s.Chain, tenant, at(time.Hour))
		var broken *audit.ChainBrokenError
		require.ErrorAs(t, err, &broken)
		assert.Equal(t, audit.ReasonUnkeyed, broken.Link.Reason)
	}},
	{"a checkpoint's key ID changed is refused: unkeyed, unknown, or another key", func(t *testing.T, f *fx, tam Tamperer) {
		key := f.keyOrSkip(t)
		tenant, _ := f.tenantOf10()
		_, err := audit.Purge(f.ctx, f.retainer(), f.s.Chain, tenant, at(4*time.Minute))
		require.NoError(t, err)
		f.verifyOK(tenant, 6)

		require.NoError(t, tam.SetCheckpointKeyID(f.ctx, tenant, 0))
		assert.Equal(t, audit.BrokenLink{Seq: 4, Reason: audit.ReasonUnkeyed}, f.firstBroken(tenant))

		require.NoError(t, tam.SetCheckpointKeyID(f.ctx, tenant, 9))
		res, err := audit.Verify(f.ctx, f.retainer(), f.s.Chain, tenant, time.Time{}, time.Time{})
		var unknown *audit.UnknownKeyError
		require.ErrorAs(t, err, &unknown)
		assert.Equal(t, audit.UnknownKeyError{Tenant: tenant, Seq: 4, Checkpoint: true, KeyID: 9}, *unknown)
		assert.Equal(t, &audit.BrokenLink{Seq: 4, Reason: audit.ReasonUnknownKey, KeyID: 9}, res.FirstBroken)
		_, err = audit.Purge(f.ctx, f.retainer(), f.s.Chain, tenant, at(time.Hour))
		assert.ErrorIs(t, err, audit.ErrUnknownKey)

		require.NoError(t, tam.SetCheckpointKeyID(f.ctx, tenant, 2))
		twin := audit.Chain{Keys: map[uint32][]byte{1: key, 2: key}, Current: 1}
		res, err = audit.Verify(f.ctx, f.retainer(), twin, tenant, time.Time{}, time.Time{})
		require.NoError(t, err)
		assert.Equal(t, &audit.BrokenLink{Seq: 4, Reason: audit.ReasonCheckpoint}, res.FirstBroken)
	}},
}

// keyOrSkip returns the single key of the stores' Chain (key ID 1), or skips.
func (f *fx) keyOrSkip(t *testing.T) []byte {
	t.Helper()
	ids := f.s.Chain.KeyIDs()
	if len(ids) == 0 {
		t.Skip("the stores were built with an unkeyed chain")
	}
	if len(ids) != 1 || ids[0] != audit.LegacyKeyID || f.s.Chain.CurrentKeyID() != audit.LegacyKeyID {
		t.Skip("these cases expect a Chain of one key, ID 1")
	}
	k := f.s.Chain.Key
	if len(k) == 0 {
		k = f.s.Chain.Keys[audit.LegacyKeyID]
	}
	return k
}
