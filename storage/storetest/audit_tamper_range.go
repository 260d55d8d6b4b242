package storetest

import (
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The range cases verify a period of the chain (audit.Verify with from and to). A
// range is the span of Seq from the first event at or after from to the last event
// before to; verification must prove the span intact and joined to the events on
// either side of it, so that deleting or editing the events at its edges is seen by a
// verification of the period alone, not only by a full one.

// tenantOf30 stores thirty events of a new tenant, seq n at minute n-1, and checks that
// they verify.
func (f *fx) tenantOf30() (uuid.UUID, []audit.Event) {
	f.t.Helper()
	tenant := newID()
	stored := f.appendN(tenant, 30, at(0))
	f.verifyOK(tenant, 30)
	return tenant, stored
}

// minute returns the Time of the event at seq in a tenantOf30 chain.
func minute(seq int64) time.Time { return at(time.Duration(seq-1) * time.Minute) }

// never is a time after every event of the tests.
var never = at(100 * time.Hour)

// verifyRange runs audit.Verify from from to to, which must complete.
func (f *fx) verifyRange(tenant uuid.UUID, from, to time.Time) audit.VerifyResult {
	f.t.Helper()
	res, err := audit.Verify(f.ctx, f.retainer(), f.s.Chain, tenant, from, to)
	require.NoError(f.t, err)
	return res
}

// rangeBroken runs audit.Verify from from to to and returns its first broken link.
func (f *fx) rangeBroken(tenant uuid.UUID, from, to time.Time) audit.BrokenLink {
	f.t.Helper()
	res := f.verifyRange(tenant, from, to)
	require.NotNil(f.t, res.FirstBroken, "verification of the range must detect the tampering")
	return *res.FirstBroken
}

// rangeCase is one period to verify over an intact chain and what the result must say.
type rangeCase struct {
	name     string
	from, to time.Time
	checked  int
	anchored bool
	anchor   int64 // Anchor.Seq
	last     int64 // Last.Seq
}

// verifyRanges checks that each range of an intact chain verifies as it says.
func (f *fx) verifyRanges(t *testing.T, tenant uuid.UUID, cases []rangeCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &fx{t: t, ctx: f.ctx, s: f.s}
			res := g.verifyRange(tenant, c.from, c.to)
			assert.Nil(t, res.FirstBroken, "an intact chain verifies over any range")
			assert.Equal(t, c.checked, res.Checked, "events checked")
			assert.Equal(t, c.anchored, res.Anchored, "anchored")
			assert.Equal(t, c.anchor, res.Anchor.Seq, "anchor")
			assert.Equal(t, c.last, res.Last.Seq, "last")
		})
	}
}

var rangeTamperCases = []tamperCase{
	// The range's first events are deleted: the range then starts at the first event
	// left, and the event before it is not at the Seq before.
	{"range: events deleted at the start of a range are a gap at the first of them", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, _ := f.tenantOf30()
		require.NoError(t, tam.DeleteEvent(f.ctx, tenant, 10))
		require.NoError(t, tam.DeleteEvent(f.ctx, tenant, 11))
		want := audit.BrokenLink{Seq: 10, Reason: audit.ReasonGap}
		assert.Equal(t, want, f.rangeBroken(tenant, minute(10), minute(21)))
		assert.Equal(t, want, f.rangeBroken(tenant, minute(11), minute(21)), "a range from the second deleted event")
		assert.Equal(t, want, f.firstBroken(tenant))
	}},
	// The range's last events are deleted and the head is untouched: the range then
	// ends before them, and the event after it is missing.
	{"range: events deleted at the end of a range are a gap at the first of them", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, _ := f.tenantOf30()
		require.NoError(t, tam.DeleteEvent(f.ctx, tenant, 19))
		require.NoError(t, tam.DeleteEvent(f.ctx, tenant, 20))
		want := audit.BrokenLink{Seq: 19, Reason: audit.ReasonGap}
		assert.Equal(t, want, f.rangeBroken(tenant, minute(10), minute(21)))
		assert.Equal(t, want, f.rangeBroken(tenant, time.Time{}, minute(20)), "a range from the start of the chain")
		assert.Equal(t, want, f.firstBroken(tenant))
	}},
	// Every event of the period is deleted: the period is empty, and the events on
	// either side of it must still be neighbours.
	{"range: a range whose every event was deleted is a gap", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, _ := f.tenantOf30()
		for seq := int64(10); seq <= 20; seq++ {
			require.NoError(t, tam.DeleteEvent(f.ctx, tenant, seq))
		}
		want := audit.BrokenLink{Seq: 10, Reason: audit.ReasonGap}
		assert.Equal(t, want, f.rangeBroken(tenant, minute(10), minute(21)))
		assert.Equal(t, want, f.rangeBroken(tenant, minute(12), minute(15)), "a period inside the deleted events")
		assert.Equal(t, want, f.firstBroken(tenant))
	}},
	// The events just outside the range are what it is joined to: an edit of either
	// is reported, since the join to an edited event proves nothing.
	{"range: an edited event next to a range is a hash mismatch at it", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, stored := f.tenantOf30()
		require.NoError(t, tam.EditReason(f.ctx, tenant, 9, "before the range"))
		assert.Equal(t, audit.BrokenLink{Seq: 9, EventID: stored[8].ID, Reason: audit.ReasonHashMismatch},
			f.rangeBroken(tenant, minute(10), minute(21)))

		tenant, stored = f.tenantOf30()
		require.NoError(t, tam.EditReason(f.ctx, tenant, 21, "after the range"))
		assert.Equal(t, audit.BrokenLink{Seq: 21, EventID: stored[20].ID, Reason: audit.ReasonHashMismatch},
			f.rangeBroken(tenant, minute(10), minute(21)))
	}},
	// The head is rolled back and a later event edited: a range reaching past the
	// newest event is checked against the head, as a full verification is.
	{"range: a head rolled back under a range reaching the head is a head mismatch", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, stored := f.tenantOf30()
		require.NoError(t, tam.SetHead(f.ctx, tenant, audit.Link{Seq: 20, Hash: stored[19].Hash}))
		require.NoError(t, tam.EditReason(f.ctx, tenant, 25, "hidden behind the head"))
		want := audit.BrokenLink{Seq: 21, EventID: stored[20].ID, Reason: audit.ReasonHeadMismatch}
		assert.Equal(t, want, f.rangeBroken(tenant, minute(10), never))
		assert.Equal(t, want, f.rangeBroken(tenant, time.Time{}, never), "every event, with a to")
		assert.Equal(t, want, f.rangeBroken(tenant, minute(15), minute(21)), "a range ending at the head")
		assert.Equal(t, want, f.firstBroken(tenant))
	}},
	// The newest event is deleted and the head row left alone: a range reaching past
	// it ends before the head, and the event after it is missing.
	{"range: the newest event deleted under a range reaching the head is a gap", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, _ := f.tenantOf30()
		require.NoError(t, tam.DeleteEvent(f.ctx, tenant, 30))
		want := audit.BrokenLink{Seq: 30, Reason: audit.ReasonGap}
		assert.Equal(t, want, f.rangeBroken(tenant, minute(25), never))
		assert.Equal(t, want, f.rangeBroken(tenant, minute(30), never), "a period holding only the deleted event")
		assert.Equal(t, want, f.firstBroken(tenant))
	}},
	// After a purge, the events right after the checkpoint are deleted: a range
	// starting after them finds no event between it and the checkpoint.
	{"range: events deleted between the checkpoint and a range are a gap after the checkpoint", func(t *testing.T, f *fx, tam Tamperer) {
		tenant, _ := f.tenantOf30()
		_, err := audit.Purge(f.ctx, f.retainer(), f.s.Chain, tenant, minute(6))
		require.NoError(t, err)
		require.NoError(t, tam.DeleteEvent(f.ctx, tenant, 6))
		require.NoError(t, tam.DeleteEvent(f.ctx, tenant, 7))
		want := audit.BrokenLink{Seq: 6, Reason: audit.ReasonGap}
		assert.Equal(t, want, f.rangeBroken(tenant, minute(8), minute(12)))
		assert.Equal(t, want, f.firstBroken(tenant))
	}},
	{"range: an intact chain verifies over any range, proved from its neighbours", func(t *testing.T, f *fx, _ Tamperer) {
		tenant, _ := f.tenantOf30()
		f.verifyRanges(t, tenant, []rangeCase{
			{name: "every event", checked: 30, anchored: true, last: 30},
			{name: "every event, with a to", to: never, checked: 30, anchored: true, last: 30},
			{name: "from the start", to: minute(6), checked: 5, anchored: true, last: 5},
			{name: "from the first event's time", from: minute(1), to: minute(6), checked: 5, anchored: true, last: 5},
			{name: "from the second event: its neighbour is the first, linked to the start",
				from: minute(2), to: minute(6), checked: 4, anchored: true, last: 5},
			// The event before the range (seq 9) is checked; its PrevHash is trusted.
			{name: "in the middle", from: minute(10), to: minute(21), checked: 11, anchor: 8, last: 20},
			{name: "one event", from: minute(15), to: minute(16), checked: 1, anchor: 13, last: 15},
			{name: "to the head", from: minute(26), checked: 5, anchor: 24, last: 30},
			{name: "past the head", from: minute(26), to: never, checked: 5, anchor: 24, last: 30},
			{name: "the head alone", from: minute(30), to: never, checked: 1, anchor: 28, last: 30},
			// An empty period is proved by the join of the events on either side of it.
			{name: "an empty period between two events", from: minute(15).Add(10 * time.Second), to: minute(15).Add(20 * time.Second),
				anchor: 14, last: 15},
			{name: "an empty period after the newest event", from: never, anchor: 29, last: 30},
			{name: "an empty period before the oldest event", from: at(-time.Hour), to: at(-time.Minute), anchored: true},
		})
		_, err := audit.Purge(f.ctx, f.retainer(), f.s.Chain, tenant, minute(6))
		require.NoError(t, err)
		f.verifyRanges(t, tenant, []rangeCase{
			{name: "after a purge: from before the checkpoint", to: minute(11), checked: 5, anchored: true, anchor: 5, last: 10},
			{name: "after a purge: from the checkpoint's time", from: minute(5), to: minute(11), checked: 5, anchored: true, anchor: 5, last: 10},
			{name: "after a purge: from the first event after the checkpoint", from: minute(6), to: minute(11), checked: 5, anchored: true, anchor: 5, last: 10},
			{name: "after a purge: from the second event after the checkpoint", from: minute(7), to: minute(11), checked: 4, anchored: true, anchor: 5, last: 10},
			{name: "after a purge: in the middle", from: minute(10), to: minute(21), checked: 11, anchor: 8, last: 20},
			{name: "after a purge: to the head", from: minute(26), checked: 5, anchor: 24, last: 30},
		})
	}},
	// Instances with skewed clocks write events out of time order. A range is the span
	// of Seq between its first and last event by time, which holds every event of the
	// period and maybe some outside it; the neighbours' times are not checked, only
	// their links, so an intact chain never fails.
	{"range: an intact chain with events out of time order verifies over any range", func(t *testing.T, f *fx, _ Tamperer) {
		tenant := newID()
		var evs []audit.Event
		for _, m := range []time.Duration{1, 2, 10, 3, 4, 11, 12, 5, 13} {
			e := changeEvent(t, tenant, "role.update")
			e.Time = at(m * time.Minute)
			evs = append(evs, e)
		}
		require.NoError(t, f.s.Audit.Append(f.ctx, evs...))
		f.verifyRanges(t, tenant, []rangeCase{
			// Seq 3 (minute 10) is the first at or after minute 3, seq 8 (minute 5)
			// the last before minute 6.
			{name: "a period that an earlier event's time falls in", from: at(3 * time.Minute), to: at(6 * time.Minute),
				checked: 6, anchor: 1, last: 8},
			// No event is stamped 6 to 9 minutes, yet the span is not empty: seq 3
			// (minute 10) is the first at or after minute 6, and seq 8 (minute 5) the
			// last before minute 10.
			{name: "a period holding no event", from: at(6 * time.Minute), to: at(10 * time.Minute),
				checked: 6, anchor: 1, last: 8},
			{name: "a period after the skew", from: at(12 * time.Minute), to: never, checked: 3, anchor: 5, last: 9},
			{name: "a period before the skew", from: at(time.Minute), to: at(2 * time.Minute), checked: 1, anchored: true, last: 1},
		})
	}},
}
