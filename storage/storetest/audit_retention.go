package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// retainer returns the adapter's audit.Retainer, or skips the case: verification and
// retention are optional capabilities of an audit store.
func (f *fx) retainer() audit.Retainer {
	f.t.Helper()
	r, ok := f.s.Audit.(audit.Retainer)
	if !ok {
		f.t.Skipf("the audit store (%T) does not implement audit.Retainer", f.s.Audit)
	}
	return r
}

// appendN appends n change events of tenant, one minute apart from start, in batches
// of up to 100, and returns them as stored.
func (f *fx) appendN(tenant uuid.UUID, n int, start time.Time) []audit.Event {
	f.t.Helper()
	var batch []audit.Event
	for i := range n {
		e := changeEvent(f.t, tenant, "role.update")
		e.Time = start.Add(time.Duration(i) * time.Minute)
		batch = append(batch, e)
		if len(batch) == 100 || i == n-1 {
			require.NoError(f.t, f.s.Audit.Append(f.ctx, batch...))
			batch = batch[:0]
		}
	}
	return f.allEvents(tenant)
}

// checkpointOf returns the sealed checkpoint of a stored event.
func checkpointOf(chain audit.Chain, e audit.Event) audit.Checkpoint {
	cp := audit.Checkpoint{Seq: e.Seq, Hash: e.Hash, Time: e.Time, KeyID: chain.CurrentKeyID()}
	cp.MAC = chain.Seal(e.Tenant, cp)
	return cp
}

// verifyOK runs audit.Verify over the whole chain and checks that it passes, having
// checked want events.
func (f *fx) verifyOK(tenant uuid.UUID, want int) audit.VerifyResult {
	f.t.Helper()
	res, err := audit.Verify(f.ctx, f.retainer(), f.s.Chain, tenant, time.Time{}, time.Time{})
	require.NoError(f.t, err)
	assert.Nil(f.t, res.FirstBroken, "the chain verifies")
	assert.Equal(f.t, want, res.Checked, "events checked")
	assert.True(f.t, res.Anchored)
	return res
}

var auditRetentionCases = []testCase{
	{"AuditState is zero for a tenant without events, and its Head is the newest link after appends", func(t *testing.T, f *fx) {
		r := f.retainer()
		st, err := r.AuditState(f.ctx, newID())
		require.NoError(t, err)
		assert.Equal(t, audit.ChainState{}, st)

		tenant := newID()
		stored := f.appendN(tenant, 3, at(0))
		st, err = r.AuditState(f.ctx, tenant)
		require.NoError(t, err)
		assert.Equal(t, audit.Link{Seq: 3, Hash: stored[2].Hash}, st.Head)
		assert.True(t, st.Checkpoint.IsZero())
	}},
	{"PurgeAudit deletes the events through the checkpoint and records it; appends continue the chain", func(t *testing.T, f *fx) {
		r := f.retainer()
		tenant := newID()
		stored := f.appendN(tenant, 10, at(0))
		cp := checkpointOf(f.s.Chain, stored[3])
		n, err := r.PurgeAudit(f.ctx, tenant, cp)
		require.NoError(t, err)
		assert.Equal(t, int64(4), n)

		st, err := r.AuditState(f.ctx, tenant)
		require.NoError(t, err)
		assert.Equal(t, cp.Seq, st.Checkpoint.Seq)
		assert.Equal(t, cp.Hash, st.Checkpoint.Hash)
		assert.Equal(t, cp.MAC, st.Checkpoint.MAC)
		assertTime(t, cp.Time, st.Checkpoint.Time, "Checkpoint.Time")
		assert.Equal(t, audit.Link{Seq: 10, Hash: stored[9].Hash}, st.Head, "the head stays")
		assert.Equal(t, eventIDs(stored[4:]), eventIDs(f.allEvents(tenant)))

		next := changeEvent(t, tenant, "role.delete")
		require.NoError(t, f.s.Audit.Append(f.ctx, next))
		got := f.allEvents(tenant)
		require.Len(t, got, 7)
		assert.Equal(t, int64(11), got[6].Seq)
		assert.Equal(t, stored[9].Hash, got[6].PrevHash)
		f.verifyOK(tenant, 7)
	}},
	// A purge that names an event that is not stored, or another hash, or that does
	// not move the checkpoint forward, is refused: two purge jobs racing cannot both
	// win, and a purge cannot be aimed at a forged link.
	{"PurgeAudit refuses a stale or mismatched checkpoint with ErrCheckpointStale and changes nothing", func(t *testing.T, f *fx) {
		r := f.retainer()
		tenant := newID()
		stored := f.appendN(tenant, 6, at(0))
		_, err := r.PurgeAudit(f.ctx, tenant, checkpointOf(f.s.Chain, stored[2]))
		require.NoError(t, err)
		before := f.allEvents(tenant)
		stBefore, err := r.AuditState(f.ctx, tenant)
		require.NoError(t, err)

		wrongHash := checkpointOf(f.s.Chain, stored[4])
		wrongHash.Hash = stored[3].Hash
		unknown := checkpointOf(f.s.Chain, stored[5])
		unknown.Seq = 99
		for name, cp := range map[string]audit.Checkpoint{
			"the current checkpoint":   checkpointOf(f.s.Chain, stored[2]),
			"an older checkpoint":      checkpointOf(f.s.Chain, stored[1]),
			"another event's hash":     wrongHash,
			"a seq that is not stored": unknown,
		} {
			_, err := r.PurgeAudit(f.ctx, tenant, cp)
			assert.ErrorIs(t, err, audit.ErrCheckpointStale, name)
		}
		other := stored[4]
		other.Tenant = newID()
		_, err = r.PurgeAudit(f.ctx, other.Tenant, checkpointOf(f.s.Chain, other))
		assert.ErrorIs(t, err, audit.ErrCheckpointStale, "another tenant's link")

		assert.Equal(t, before, f.allEvents(tenant))
		st, err := r.AuditState(f.ctx, tenant)
		require.NoError(t, err)
		assert.Equal(t, stBefore.Checkpoint.Seq, st.Checkpoint.Seq)
	}},
	{"PurgeAudit of every event keeps the head, so the next append links to the checkpoint", func(t *testing.T, f *fx) {
		r := f.retainer()
		tenant := newID()
		stored := f.appendN(tenant, 4, at(0))
		n, err := r.PurgeAudit(f.ctx, tenant, checkpointOf(f.s.Chain, stored[3]))
		require.NoError(t, err)
		assert.Equal(t, int64(4), n)
		assert.Empty(t, f.allEvents(tenant))
		f.verifyOK(tenant, 0)

		require.NoError(t, f.s.Audit.Append(f.ctx, changeEvent(t, tenant, "role.create")))
		got := f.allEvents(tenant)
		require.Len(t, got, 1)
		assert.Equal(t, int64(5), got[0].Seq)
		assert.Equal(t, stored[3].Hash, got[0].PrevHash)
		f.verifyOK(tenant, 1)
	}},
	{"AuditTenants lists every tenant with a chain, ordered by ID", func(t *testing.T, f *fx) {
		r := f.retainer()
		ids := []uuid.UUID{newID(), newID(), newID()}
		for _, id := range ids {
			require.NoError(t, f.s.Audit.Append(f.ctx, changeEvent(t, id, "role.create")))
		}
		got, err := r.AuditTenants(f.ctx)
		require.NoError(t, err)
		for _, id := range ids {
			assert.Contains(t, got, id)
		}
		for i := 1; i < len(got); i++ {
			assert.Negative(t, bytes.Compare(got[i-1][:], got[i][:]), "ordered by ID")
		}
	}},
	{"Verify of an intact chain checks every event and ends at the head", func(t *testing.T, f *fx) {
		tenant := newID()
		stored := f.appendN(tenant, 2*audit.MaxLimit+5, at(0)) // several pages
		res := f.verifyOK(tenant, len(stored))
		assert.Equal(t, audit.Link{Seq: stored[len(stored)-1].Seq, Hash: stored[len(stored)-1].Hash}, res.Last)

		// A period: from the event at minute 10 to before minute 20.
		res, err := audit.Verify(f.ctx, f.retainer(), f.s.Chain, tenant, at(10*time.Minute), at(20*time.Minute))
		require.NoError(t, err)
		assert.True(t, res.OK())
		assert.Equal(t, 10, res.Checked)
		assert.False(t, res.Anchored, "a period after the start takes its first PrevHash on trust")
		assert.Equal(t, int64(20), res.Last.Seq)

		res, err = audit.Verify(f.ctx, f.retainer(), f.s.Chain, newID(), time.Time{}, time.Time{})
		require.NoError(t, err)
		assert.True(t, res.OK(), "an empty chain")
		assert.Zero(t, res.Checked)
	}},
	// Purge deletes a prefix of the chain, verifying it first, in batches that each
	// move the checkpoint; verification afterwards starts from the checkpoint.
	{"Purge deletes the events older than the cut-off, keeps a sealed checkpoint, and Verify starts from it", func(t *testing.T, f *fx) {
		r := f.retainer()
		tenant := newID()
		n := audit.PurgeBatch + 300
		stored := f.appendN(tenant, n, at(0))
		cut := at(time.Duration(audit.PurgeBatch+100) * time.Minute)
		res, err := audit.Purge(f.ctx, r, f.s.Chain, tenant, cut)
		require.NoError(t, err)
		assert.Equal(t, int64(audit.PurgeBatch+100), res.Deleted)
		last := stored[audit.PurgeBatch+99]
		assert.Equal(t, last.Seq, res.Checkpoint.Seq)
		assert.Equal(t, f.s.Chain.Seal(tenant, res.Checkpoint), res.Checkpoint.MAC)

		got := f.allEvents(tenant)
		assert.Equal(t, eventIDs(stored[audit.PurgeBatch+100:]), eventIDs(got))
		v := f.verifyOK(tenant, 200)
		assert.Equal(t, audit.Link{Seq: last.Seq, Hash: last.Hash}, v.Anchor)

		res, err = audit.Purge(f.ctx, r, f.s.Chain, tenant, cut)
		require.NoError(t, err)
		assert.Zero(t, res.Deleted, "a second purge to the same cut-off has nothing to do")
	}},
	// Events out of time order (an instance whose clock is behind) are kept until every
	// earlier link is due too: the purge never makes a hole in the chain.
	{"Purge stops at the first event not yet due, keeping older events after it", func(t *testing.T, f *fx) {
		r := f.retainer()
		tenant := newID()
		times := []time.Duration{1, 2, 10, 3, 4, 11}
		var evs []audit.Event
		for _, m := range times {
			e := changeEvent(t, tenant, "role.update")
			e.Time = at(m * time.Minute)
			evs = append(evs, e)
		}
		require.NoError(t, f.s.Audit.Append(f.ctx, evs...))
		res, err := audit.Purge(f.ctx, r, f.s.Chain, tenant, at(5*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, int64(2), res.Deleted)
		assert.Equal(t, eventIDs(evs[2:]), eventIDs(f.allEvents(tenant)))
		f.verifyOK(tenant, 4)
	}},
	{"PurgeAll purges each tenant by its own retention, and a zero retention keeps everything", func(t *testing.T, f *fx) {
		r := f.retainer()
		short, long, forever := newID(), newID(), newID()
		for _, id := range []uuid.UUID{short, long, forever} {
			f.appendN(id, 10, at(0))
		}
		now := at(10 * time.Minute)
		keep := map[uuid.UUID]time.Duration{short: 3 * time.Minute, long: 8 * time.Minute}
		out, err := audit.PurgeAll(f.ctx, r, f.s.Chain, now, func(id uuid.UUID) time.Duration { return keep[id] })
		require.NoError(t, err)
		deleted := map[uuid.UUID]int64{}
		for _, p := range out {
			deleted[p.Tenant] = p.Result.Deleted
		}
		assert.Equal(t, int64(7), deleted[short])
		assert.Equal(t, int64(2), deleted[long])
		assert.NotContains(t, deleted, forever)
		assert.Len(t, f.allEvents(short), 3)
		assert.Len(t, f.allEvents(long), 8)
		assert.Len(t, f.allEvents(forever), 10)
	}},
	// Tenant isolation: purging and verifying B never reads or changes A.
	{"Purge, PurgeAudit and Verify of tenant B never touch tenant A", func(t *testing.T, f *fx) {
		r := f.retainer()
		a, b := newID(), newID()
		storedA := f.appendN(a, 20, at(0))
		f.appendN(b, 20, at(0))
		stA, err := r.AuditState(f.ctx, a)
		require.NoError(t, err)

		_, err = audit.Purge(f.ctx, r, f.s.Chain, b, at(time.Hour))
		require.NoError(t, err)
		assert.Empty(t, f.allEvents(b))
		// A's own link named as B's checkpoint is refused.
		_, err = r.PurgeAudit(f.ctx, b, checkpointOf(f.s.Chain, storedA[5]))
		assert.ErrorIs(t, err, audit.ErrCheckpointStale)

		assert.Equal(t, storedA, f.allEvents(a))
		st, err := r.AuditState(f.ctx, a)
		require.NoError(t, err)
		assert.Equal(t, stA, st)
		f.verifyOK(a, 20)
		res := f.verifyOK(b, 0)
		assert.Equal(t, int64(20), res.Anchor.Seq)
	}},
	// The checkpoint is sealed with the chain's key: one sealed with another key (a
	// forger without the key) is reported, not trusted.
	{"Verify and Purge report a checkpoint whose seal does not verify", func(t *testing.T, f *fx) {
		r := f.retainer()
		tenant := newID()
		stored := f.appendN(tenant, 5, at(0))
		forged := checkpointOf(audit.Chain{Key: []byte("not the chain's key")}, stored[1])
		_, err := r.PurgeAudit(f.ctx, tenant, forged)
		require.NoError(t, err, "the store keeps what it is given; the seal is checked by readers")
		res, err := audit.Verify(f.ctx, r, f.s.Chain, tenant, time.Time{}, time.Time{})
		require.NoError(t, err)
		require.NotNil(t, res.FirstBroken)
		assert.Equal(t, audit.BrokenLink{Seq: 2, Reason: audit.ReasonCheckpoint}, *res.FirstBroken)

		_, err = audit.Purge(f.ctx, r, f.s.Chain, tenant, at(time.Hour))
		var broken *audit.ChainBrokenError
		require.ErrorAs(t, err, &broken)
		assert.Equal(t, audit.ReasonCheckpoint, broken.Link.Reason)
		assert.Len(t, f.allEvents(tenant), 3, "nothing more is purged past a broken link")
	}},
	// Purge jobs on several instances at once: the store lets one checkpoint win each
	// step, a purge that loses starts again from the new checkpoint, and the chain
	// stays verifiable.
	{"concurrent Purge of one tenant deletes each event once and leaves a verifiable chain", func(t *testing.T, f *fx) {
		r := f.retainer()
		tenant := newID()
		f.appendN(tenant, 300, at(0))
		errs := race(4, func(i int) error {
			_, err := audit.Purge(f.ctx, r, f.s.Chain, tenant, at(time.Duration(100+50*i)*time.Minute))
			return err
		})
		for i, err := range errs {
			if err != nil {
				assert.ErrorIs(t, err, audit.ErrCheckpointStale, "purge %d", i)
			}
		}
		got := f.allEvents(tenant)
		require.NotEmpty(t, got)
		assert.Equal(t, int64(251), got[0].Seq, "the furthest purge wins: a purge that loses a race starts again")
		f.verifyOK(tenant, len(got))
	}},
	// Verification running while events are purged and appended never reports a
	// break that is not there.
	{"Verify racing with Purge and Append reports no false break", func(t *testing.T, f *fx) {
		r := f.retainer()
		tenant := newID()
		f.appendN(tenant, 3*audit.MaxLimit, at(0))
		ctx, cancel := context.WithCancel(f.ctx)
		defer cancel()
		stop := readWhile(func() bool {
			res, err := audit.Verify(ctx, r, f.s.Chain, tenant, time.Time{}, time.Time{})
			if errors.Is(err, context.Canceled) {
				return false
			}
			return assert.NoError(t, err) && assert.Nil(t, res.FirstBroken, "verify during purge")
		})
		for m := 100; m <= 3*audit.MaxLimit; m += 400 {
			_, err := audit.Purge(f.ctx, r, f.s.Chain, tenant, at(time.Duration(m)*time.Minute))
			require.NoError(t, err)
			require.NoError(t, f.s.Audit.Append(f.ctx, changeEvent(t, tenant, "role.update")))
		}
		stop()
	}},
	// The asynchronous writer against the adapter: every enqueued event is stored,
	// in batches, as valid links.
	{"Writer stores every enqueued event through the adapter, and the chain verifies", func(t *testing.T, f *fx) {
		r := f.retainer()
		tenant := newID()
		w := audit.NewWriter(f.s.Audit, audit.WriterOptions{BatchSize: 64, FlushInterval: -1})
		var ids []uuid.UUID
		for i := range 500 {
			e := audit.Event{Tenant: tenant, Kind: audit.KindAction, Action: "http.request", Outcome: audit.Success,
				Details: map[string]string{"url": "/api/calls", "n": string(rune('a' + i%26))}}
			e.ID = newID()
			ids = append(ids, e.ID)
			require.NoError(t, w.Enqueue(e))
		}
		require.NoError(t, w.Close(f.ctx))
		st := w.Stats()
		assert.Equal(t, audit.Stats{Written: 500}, st)
		got := f.allEvents(tenant)
		assert.Equal(t, ids, eventIDs(got), "stored once each, in the order enqueued")
		res, err := audit.Verify(f.ctx, r, f.s.Chain, tenant, time.Time{}, time.Time{})
		require.NoError(t, err)
		assert.True(t, res.OK())
	}},
}
