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
}

// String describes the broken link, such as "seq 42: hash mismatch".
func (b *BrokenLink) String() string {
	return fmt.Sprintf("seq %d: %s", b.Seq, b.Reason)
}

// VerifyResult is what [Verify] found.
type VerifyResult struct {
	// Checked is the number of events whose link was recomputed.
	Checked int
	// Anchor is the link verification started from: the retention checkpoint (or
	// the empty start of the chain) when Anchored, else the PrevHash of the first
	// event in the period, which is taken on trust.
	Anchor   Link
	Anchored bool
	// Last is the last link verified. Keep it outside the database (a SIEM, a
	// signed report): a later verification that does not reach it, or reaches it
	// with another hash, shows that the newest events were truncated together with
	// the chain head, which no check inside the database can see.
	Last Link
	// FirstBroken is the first link that did not verify, or nil if every link did.
	FirstBroken *BrokenLink
}

// OK reports whether every link verified.
func (r VerifyResult) OK() bool { return r.FirstBroken == nil }

// Verify recomputes the tenant's hash chain with chain and names the first broken link.
//
// It walks the events by Seq, in pages of MaxLimit (memory stays bounded whatever the
// length of the chain). With from zero, or at or before the retention checkpoint's
// time, it starts at the checkpoint, whose MAC it checks first ([Chain.Seal]), or at
// the start of the chain: every remaining event is then proved to descend from a
// trusted link. With a later from, it starts at the first event (lowest Seq) whose
// Time is at or after from and takes that event's PrevHash on trust. With to zero, it
// ends at the chain head and checks that the last event is the head; otherwise at the
// last event (highest Seq) whose Time is before to.
//
// A broken chain is not an error: err is nil and the result's FirstBroken says where.
// An error means that verification could not complete (the store failed, or returned a
// row it could not decode, which is itself a sign of tampering); it never means that
// the chain is intact.
//
// Verification runs while the tenant's events are appended and purged: events
// appended after it started are not checked, and a purge that deletes events ahead of
// it moves it to the new checkpoint.
func Verify(ctx context.Context, store ChainReader, chain Chain, tenant uuid.UUID, from, to time.Time) (VerifyResult, error) {
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
	if !v.anchor(st.Checkpoint) {
		return v.res, nil
	}
	end := st.Head.Seq
	if !to.IsZero() {
		last, err := v.store.Events(v.ctx, v.tenant, Query{To: to, AfterSeq: v.next - 1, BeforeSeq: end + 1, Order: SeqDesc, Limit: 1})
		if err != nil {
			return v.res, fmt.Errorf("audit: verify: %w", err)
		}
		if len(last) == 0 {
			return v.res, nil // nothing in the period
		}
		end = last[0].Seq
	}
	if !from.IsZero() && from.After(st.Checkpoint.Time) {
		first, err := v.store.Events(v.ctx, v.tenant, Query{From: from, AfterSeq: v.next - 1, BeforeSeq: end + 1, Limit: 1})
		if err != nil {
			return v.res, fmt.Errorf("audit: verify: %w", err)
		}
		if len(first) == 0 {
			return v.res, nil
		}
		if first[0].Seq > v.next { // start inside the chain, on trust
			v.next, v.prev = first[0].Seq, first[0].PrevHash
			v.res.Anchor, v.res.Anchored = Link{Seq: v.next - 1, Hash: v.prev}, false
		}
	}
	if err := v.walk(end); err != nil {
		return v.res, err
	}
	if v.res.FirstBroken == nil && to.IsZero() {
		v.checkHead(st.Head)
	}
	if v.res.FirstBroken == nil && to.IsZero() {
		return v.res, v.checkBeyondHead(st.Head)
	}
	return v.res, nil
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
// false if the checkpoint is broken.
func (v *verifier) anchor(cp Checkpoint) bool {
	v.next, v.prev = cp.Seq+1, cp.Hash
	if len(v.prev) == 0 {
		v.prev = nil
	}
	v.res.Anchor, v.res.Anchored = Link{Seq: cp.Seq, Hash: v.prev}, true
	v.res.Last = v.res.Anchor
	if !cp.IsZero() && !bytes.Equal(v.chain.Seal(v.tenant, cp), cp.MAC) {
		v.res.FirstBroken = &BrokenLink{Seq: cp.Seq, Reason: ReasonCheckpoint}
		return false
	}
	return true
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
			if !bytes.Equal(e.PrevHash, v.prev) || !bytes.Equal(v.link.Link(v.prev, e), e.Hash) {
				return v.broken(e)
			}
			v.res.Checked++
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
	if !bytes.Equal(v.chain.Seal(v.tenant, cp), cp.MAC) {
		v.res.FirstBroken = &BrokenLink{Seq: cp.Seq, Reason: ReasonCheckpoint}
		return false, nil
	}
	v.next, v.prev = cp.Seq+1, cp.Hash
	v.res.Anchor = Link{Seq: cp.Seq, Hash: cp.Hash}
	v.res.Last = v.res.Anchor
	return true, nil
}

// broken names the failure of event e, stored at v.next: "reordered" if the event
// that belongs at v.next is found among the following events, otherwise a prev or hash
// mismatch.
func (v *verifier) broken(e *Event) error {
	reason := ReasonHashMismatch
	if !bytes.Equal(e.PrevHash, v.prev) {
		reason = ReasonPrevMismatch
	}
	later, err := v.store.Events(v.ctx, v.tenant, Query{AfterSeq: e.Seq, Limit: MaxLimit})
	if err != nil {
		return fmt.Errorf("audit: verify: %w", err)
	}
	for i := range later {
		c := later[i]
		c.Seq = v.next
		if bytes.Equal(c.PrevHash, v.prev) && bytes.Equal(v.link.Link(v.prev, &c), c.Hash) {
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
