package audit

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// BreakReason says how a chain link is broken.
type BreakReason string

// Reasons of a [BrokenLink].
const (
	// ReasonHashMismatch: the event's Hash is not the link recomputed from the
	// previous Hash and the event's fields, so a field was edited (or the hash was
	// recomputed without the chain's key).
	ReasonHashMismatch BreakReason = "hash mismatch"
	// ReasonPrevMismatch: the event's PrevHash is not the previous event's Hash.
	ReasonPrevMismatch BreakReason = "prev mismatch"
	// ReasonGap: the event with this Seq is missing (deleted), whether in the middle,
	// at the start (after the checkpoint) or at the end (before the chain head).
	ReasonGap BreakReason = "gap"
	// ReasonReordered: the event stored at this Seq belongs elsewhere in the chain,
	// and the event that belongs here was found later (rows' Seq were swapped).
	ReasonReordered BreakReason = "reordered"
	// ReasonCheckpoint: the retention checkpoint's MAC does not verify, so it was
	// edited or forged; nothing after it can be trusted.
	ReasonCheckpoint BreakReason = "checkpoint mismatch"
	// ReasonHeadMismatch: the newest event is not the chain head the store recorded
	// (its hashes were rewritten, or the head was).
	ReasonHeadMismatch BreakReason = "head mismatch"
	// ReasonUnknownKey: the event (or, with a zero EventID, the checkpoint) is linked
	// under a key ID, [BrokenLink].KeyID, that the Chain's ring does not hold: the key
	// was retired too early, or the ID was edited. [Verify] also returns an
	// *[UnknownKeyError].
	ReasonUnknownKey BreakReason = "unknown key"
	// ReasonUnkeyed: the event (or checkpoint) claims an unkeyed link (key ID 0)
	// while the Chain's ring holds keys. A keyed chain never writes one, so this is a
	// downgrade attempt: plain SHA-256 that anyone could have computed.
	ReasonUnkeyed BreakReason = "unkeyed link in a keyed chain"
)

// BrokenLink is the first link that did not verify.
type BrokenLink struct {
	// Seq is the position of the broken link: the event that does not verify, or
	// the first missing Seq of a gap.
	Seq int64
	// EventID is the event stored at Seq; zero for a gap (the event is gone) and
	// for a broken checkpoint.
	EventID uuid.UUID
	Reason  BreakReason
	// KeyID is the key ID the ring does not hold, for ReasonUnknownKey; 0 otherwise.
	KeyID uint32
}

// String describes the broken link, such as "seq 42: hash mismatch" or "seq 42:
// unknown key ID 3".
func (b *BrokenLink) String() string {
	if b.Reason == ReasonUnknownKey {
		return fmt.Sprintf("seq %d: unknown key ID %d", b.Seq, b.KeyID)
	}
	return fmt.Sprintf("seq %d: %s", b.Seq, b.Reason)
}

// VerifyResult is what [Verify] found.
type VerifyResult struct {
	// Checked is the number of events of the range whose link was recomputed. The
	// events just outside a range, whose links are checked too (see [Verify]), are not
	// counted.
	Checked int
	// Anchor is the link verification started from. When Anchored, it is the
	// retention checkpoint (its MAC checked) or the empty start of the chain, so every
	// verified event is proved to descend from a trusted link. Otherwise (a range
	// starting later in the chain) it is the PrevHash of the event just before the
	// range, at Anchor.Seq+1, which is taken on trust.
	Anchor   Link
	Anchored bool
	// Last is the last link verified: the range's last event, or for an empty range
	// the event before it. Keep it outside the database (a SIEM, a signed report): a
	// later verification that does not reach it, or reaches it with another hash,
	// shows that the newest events were truncated together with the chain head,
	// which no check inside the database can see.
	Last Link
	// FirstBroken is the first link that did not verify, or nil if every link did.
	// It may lie just outside the range: at the event before or after it, or after
	// the chain head.
	FirstBroken *BrokenLink
	// KeyIDs counts the events counted in Checked by the key ID they are linked
	// under. After a full verification that found no broken link, a key ID absent
	// here and other than AnchorKeyID is used by no stored event of the tenant up to
	// the head read (see [KeyUsage]).
	KeyIDs map[uint32]int
	// AnchorKeyID is the key ID the retention checkpoint is sealed under, when
	// verification started from one (Anchored, with Anchor.Seq > 0); 0 otherwise.
	AnchorKeyID uint32
}

// OK reports whether every link verified.
func (r VerifyResult) OK() bool { return r.FirstBroken == nil }

// Verify recomputes the tenant's hash chain with chain and names the first broken link.
//
// With from and to zero it verifies the whole chain: it starts at the retention
// checkpoint, whose MAC it checks first ([Chain.Seal]), or at the start of the chain,
// walks every event by Seq, and checks that the last one is the chain head recorded by
// the store and that no event lies beyond it. Every remaining event is then proved to
// descend from a trusted link, and any edited, deleted, inserted or reordered event is
// found.
//
// With from or to set it verifies a range: the span of Seq from the first event
// (lowest Seq) whose Time is at or after from to the last event (highest Seq) whose
// Time is before to. Every stored event whose Time is in [from, to) lies in that span,
// even if the instances that wrote them had skewed clocks; the span may also hold
// events stamped outside the period, which are verified too. A range verification
// proves, besides every link of the span, that the span is joined to its neighbours:
//   - At the start, the event at the Seq just before the span must be stored, its link
//     must verify, and the span's first event must link to its Hash. Its PrevHash is
//     taken on trust ([VerifyResult].Anchored is false), unless the span begins within
//     one event of the checkpoint (or of the chain start), or from is zero or at or
//     before the checkpoint's Time, in which case verification starts from the
//     checkpoint as for the whole chain.
//   - At the end, if the span ends before the chain head, the event at the next Seq
//     must be stored and link to the span's last Hash. If the span reaches the head
//     (to is zero, or no newer event is stamped before to), its last event must be
//     the chain head the store recorded and no event may lie beyond it, as for the
//     whole chain: a head rolled back over later events is found.
//
// An empty span (no event in the period) is proved the same way, by the join of the
// events on either side of where it would be. So a range verification detects editing,
// reordering or deleting any event of the span, the events at its edges included, and
// deleting any run of events next to it on either side (the gap is named at its first
// missing Seq). When the events' Times increase with Seq, no event stamped in the
// period can then be deleted unseen. Only links are compared at the edges, never
// times. With a keyed Chain this holds against anyone without the key. What a range
// verification does not prove: anything about events further outside the span; nor,
// with clock skew, the deletion of an event stamped in the period that sat apart from
// it among events stamped outside it (the span is found from the events still stored).
// Only a full verification sees every deletion. A range verification reads the span
// plus a few single events, whatever the length of the chain.
//
// It walks the events in pages of MaxLimit, so memory stays bounded whatever the
// length of the range.
//
// A broken chain is not an error: err is nil and the result's FirstBroken says where.
// An error means that verification could not complete (the store failed, or returned a
// row it could not decode, which is itself a sign of tampering); it never means that
// the chain is intact.
//
// Verification runs while the tenant's events are appended and purged: events
// appended after it started are not checked, and a purge that deletes events ahead of
// it moves it to the new checkpoint.
//
// Each event is checked with the ring key its KeyID names. An event or checkpoint
// under a key ID that the ring does not hold stops verification: FirstBroken names it
// (ReasonUnknownKey, with the ID) and err is an *[UnknownKeyError]. One that claims an
// unkeyed link (key ID 0) in a keyed ring is ReasonUnkeyed: a downgrade is never
// accepted. Events and checkpoints with [LegacyKeyID] may carry the version 1 link that
// was computed before key IDs existed (under Keys[1], or SHA-256 for an unkeyed ring),
// so that chains stored before migration 0020 verify unchanged.
func Verify(ctx context.Context, store ChainReader, chain Chain, tenant uuid.UUID, from, to time.Time) (VerifyResult, error) {
	if err := chain.Validate(); err != nil {
		return VerifyResult{}, fmt.Errorf("audit: verify: %w", err)
	}
	v := verifier{ctx: ctx, store: store, chain: chain, link: chain.Linker(), tenant: tenant}
	return v.run(from, to)
}

type verifier struct {
	ctx    context.Context
	store  ChainReader
	chain  Chain
	link   *Linker // chain's
	tenant uuid.UUID
	res    VerifyResult

	next int64  // the Seq expected next
	prev []byte // the Hash the next event must link to
}

func (v *verifier) run(from, to time.Time) (VerifyResult, error) {
	st, err := v.store.AuditState(v.ctx, v.tenant)
	if err != nil {
		return v.res, fmt.Errorf("audit: verify: %w", err)
	}
	if ok, err := v.anchor(st.Checkpoint); !ok || err != nil {
		return v.res, err
	}
	// The range is the Seq span [start, end]: from the first event at or after from to
	// the last event before to. Every event whose Time is in [from, to) lies in it,
	// whatever the order of the events' times; when none does, start is end+1.
	end := st.Head.Seq
	if !to.IsZero() {
		last, err := v.store.Events(v.ctx, v.tenant, Query{To: to, AfterSeq: v.next - 1, BeforeSeq: end + 1, Order: SeqDesc, Limit: 1})
		if err != nil {
			return v.res, fmt.Errorf("audit: verify: %w", err)
		}
		end = v.next - 1 // no event before to: an empty range at the anchor
		if len(last) > 0 {
			end = last[0].Seq
		}
	}
	start := v.next
	if !from.IsZero() && from.After(st.Checkpoint.Time) {
		first, err := v.store.Events(v.ctx, v.tenant, Query{From: from, AfterSeq: v.next - 1, BeforeSeq: end + 1, Limit: 1})
		if err != nil {
			return v.res, fmt.Errorf("audit: verify: %w", err)
		}
		start = end + 1 // no event at or after from: an empty range after end
		if len(first) > 0 {
			start = first[0].Seq
		}
	}
	if start > v.next {
		if err := v.joinStart(start); err != nil || v.res.FirstBroken != nil {
			return v.res, err
		}
	}
	if err := v.walk(end); err != nil || v.res.FirstBroken != nil {
		return v.res, err
	}
	if end < st.Head.Seq {
		return v.res, v.joinEnd(st.Head.Seq)
	}
	v.checkHead(st.Head)
	if v.res.FirstBroken == nil {
		return v.res, v.checkBeyondHead(st.Head)
	}
	return v.res, nil
}

// joinStart joins a range that starts at Seq start, after the first event following
// the anchor, to the chain before it. The event before the range must be stored at
// start-1 (else the events after the last one found are a gap) and its own link must
// verify; its PrevHash is taken on trust, unless it is the first event after the
// anchor, whose PrevHash must be the anchor's Hash. The walk then checks that the
// range's first event links to it. Only links are compared, never times: with clock
// skew the event before the range may be stamped later than from.
func (v *verifier) joinStart(start int64) error {
	before, err := v.store.Events(v.ctx, v.tenant, Query{AfterSeq: v.next - 1, BeforeSeq: start, Order: SeqDesc, Limit: 1})
	if err != nil {
		return fmt.Errorf("audit: verify: %w", err)
	}
	if len(before) == 0 || before[0].Seq < start-1 {
		if len(before) > 0 {
			v.next = before[0].Seq + 1
		}
		// A purge running meanwhile may have deleted the events: missing then
		// anchors at its checkpoint, and the walk reads on from there.
		_, err := v.missing()
		return err
	}
	p := &before[0]
	if p.Seq > v.next { // not the first event after the anchor: trust its PrevHash
		v.next, v.prev = p.Seq, p.PrevHash
		v.res.Anchor, v.res.Anchored = Link{Seq: p.Seq - 1, Hash: p.PrevHash}, false
		v.res.Last = v.res.Anchor
	}
	if r := v.link.check(v.prev, p); r != "" {
		return v.broken(p, r)
	}
	v.next, v.prev = start, p.Hash
	v.res.Last = Link{Seq: p.Seq, Hash: p.Hash}
	return nil
}

// joinEnd joins a range that ended before the chain head (as read when verification
// began) to the chain after it: the event at v.next must be stored and link to the
// last verified Hash, else the gap, or the event's broken link, is the first broken
// link. The event is not counted in Checked.
func (v *verifier) joinEnd(head int64) error {
	if v.next > head {
		return nil // a purge running meanwhile moved the anchor past the head
	}
	after, err := v.store.Events(v.ctx, v.tenant, Query{AfterSeq: v.next - 1, BeforeSeq: v.next + 1, Limit: 1})
	if err != nil {
		return fmt.Errorf("audit: verify: %w", err)
	}
	if len(after) == 0 {
		_, err := v.missing()
		return err
	}
	e := &after[0]
	if r := v.link.check(v.prev, e); r != "" {
		return v.broken(e, r)
	}
	return nil
}

// checkBeyondHead looks for events after the chain head, which an append would have
// moved: rows inserted behind the store's back, or a head rolled back to hide them.
// Events appended since verification began are told apart by the head read again.
func (v *verifier) checkBeyondHead(head Link) error {
	beyond, err := v.store.Events(v.ctx, v.tenant, Query{AfterSeq: head.Seq, Limit: 1})
	if err != nil || len(beyond) == 0 {
		return err
	}
	st, err := v.store.AuditState(v.ctx, v.tenant)
	if err != nil {
		return fmt.Errorf("audit: verify: %w", err)
	}
	if st.Head.Seq < beyond[0].Seq {
		v.res.FirstBroken = &BrokenLink{Seq: beyond[0].Seq, EventID: beyond[0].ID, Reason: ReasonHeadMismatch}
	}
	return nil
}

// anchor starts verification at the checkpoint cp, after checking its MAC. It reports
// false if the checkpoint is broken, with an *UnknownKeyError if the ring lacks its key.
func (v *verifier) anchor(cp Checkpoint) (bool, error) {
	v.next, v.prev = cp.Seq+1, cp.Hash
	if len(v.prev) == 0 {
		v.prev = nil
	}
	v.res.Anchor, v.res.Anchored = Link{Seq: cp.Seq, Hash: v.prev}, true
	v.res.Last = v.res.Anchor
	if cp.IsZero() {
		return true, nil
	}
	if err := v.checkpoint(cp); err != nil || v.res.FirstBroken != nil {
		return false, err
	}
	v.res.AnchorKeyID = cp.KeyID
	return true, nil
}

// checkpoint checks cp's MAC, setting FirstBroken (and returning an *UnknownKeyError
// for a key the ring lacks) if it does not verify.
func (v *verifier) checkpoint(cp Checkpoint) error {
	switch r := v.chain.checkSeal(v.tenant, cp); r {
	case "":
		return nil
	case ReasonUnknownKey:
		v.res.FirstBroken = &BrokenLink{Seq: cp.Seq, Reason: r, KeyID: cp.KeyID}
		return &UnknownKeyError{Tenant: v.tenant, Seq: cp.Seq, Checkpoint: true, KeyID: cp.KeyID}
	case ReasonUnkeyed:
		v.res.FirstBroken = &BrokenLink{Seq: cp.Seq, Reason: r}
	default:
		v.res.FirstBroken = &BrokenLink{Seq: cp.Seq, Reason: ReasonCheckpoint}
	}
	return nil
}

// walk verifies the events from v.next to end.
func (v *verifier) walk(end int64) error {
	for v.next <= end {
		page, err := v.store.Events(v.ctx, v.tenant, Query{AfterSeq: v.next - 1, BeforeSeq: end + 1, Limit: MaxLimit})
		if err != nil {
			return fmt.Errorf("audit: verify: %w", err)
		}
		refetch := false
		for i := 0; i < len(page) && !refetch; i++ {
			e := &page[i]
			switch {
			case e.Seq < v.next:
				continue // purged meanwhile: the anchor moved past it
			case e.Seq > v.next:
				if refetch, err = v.missing(); err != nil || v.res.FirstBroken != nil {
					return err
				}
				continue
			}
			if r := v.link.check(v.prev, e); r != "" {
				return v.broken(e, r)
			}
			v.res.Checked++
			if v.res.KeyIDs == nil {
				v.res.KeyIDs = make(map[uint32]int, 2)
			}
			v.res.KeyIDs[e.KeyID]++
			v.prev, v.next = e.Hash, e.Seq+1
			v.res.Last = Link{Seq: e.Seq, Hash: e.Hash}
		}
		if len(page) == 0 {
			if refetch, err = v.missing(); err != nil || v.res.FirstBroken != nil {
				return err
			}
		}
	}
	return nil
}

// missing handles the absence of the event at v.next. A purge running at the same time
// may have deleted it: if the checkpoint has moved to or past v.next, verification
// continues from the new checkpoint (after checking its MAC) and missing reports true,
// so that the caller reads again from there. Otherwise the gap is the first broken
// link.
func (v *verifier) missing() (bool, error) {
	st, err := v.store.AuditState(v.ctx, v.tenant)
	if err != nil {
		return false, fmt.Errorf("audit: verify: %w", err)
	}
	cp := st.Checkpoint
	if cp.Seq < v.next {
		v.res.FirstBroken = &BrokenLink{Seq: v.next, Reason: ReasonGap}
		return false, nil
	}
	if err := v.checkpoint(cp); err != nil || v.res.FirstBroken != nil {
		return false, err
	}
	v.next, v.prev = cp.Seq+1, cp.Hash
	v.res.Anchor, v.res.Anchored = Link{Seq: cp.Seq, Hash: cp.Hash}, true
	v.res.AnchorKeyID = cp.KeyID
	v.res.Last = v.res.Anchor
	return true, nil
}

// broken names the failure reason of event e, stored at v.next. A key the ring lacks
// is an *UnknownKeyError and a downgrade is named as such; a prev or hash mismatch is
// "reordered" instead if the event that belongs at v.next is found among the
// following events.
func (v *verifier) broken(e *Event, reason BreakReason) error {
	switch reason {
	case ReasonUnknownKey:
		v.res.FirstBroken = &BrokenLink{Seq: e.Seq, EventID: e.ID, Reason: reason, KeyID: e.KeyID}
		return &UnknownKeyError{Tenant: v.tenant, Seq: e.Seq, KeyID: e.KeyID}
	case ReasonUnkeyed:
		v.res.FirstBroken = &BrokenLink{Seq: e.Seq, EventID: e.ID, Reason: reason}
		return nil
	}
	later, err := v.store.Events(v.ctx, v.tenant, Query{AfterSeq: e.Seq, Limit: MaxLimit})
	if err != nil {
		return fmt.Errorf("audit: verify: %w", err)
	}
	for i := range later {
		c := later[i]
		c.Seq = v.next
		if v.link.check(v.prev, &c) == "" {
			reason = ReasonReordered
			break
		}
	}
	v.res.FirstBroken = &BrokenLink{Seq: e.Seq, EventID: e.ID, Reason: reason}
	return nil
}

// checkHead compares the last verified link with the chain head.
func (v *verifier) checkHead(head Link) {
	switch {
	case head.Seq > v.res.Last.Seq:
		v.res.FirstBroken = &BrokenLink{Seq: v.res.Last.Seq + 1, Reason: ReasonGap}
	case head.Seq < v.res.Last.Seq || !bytes.Equal(head.Hash, v.res.Last.Hash):
		v.res.FirstBroken = &BrokenLink{Seq: v.res.Last.Seq, Reason: ReasonHeadMismatch}
	}
}
