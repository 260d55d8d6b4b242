package memory

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// Compile-time check: the store supports verification and retention.
var _ audit.Retainer = (*Store)(nil)

// auditState is the bookkeeping of the audit chains besides their events. Its zero
// value is ready: the maps are made on first use, under Store.mu.
type auditState struct {
	// heads holds each tenant's newest link. It is kept apart from the events
	// because a purge may delete every event, and the next append must still
	// continue the chain.
	heads map[uuid.UUID]audit.Link
	// checkpoints holds each tenant's last purged link.
	checkpoints map[uuid.UUID]audit.Checkpoint
}

// Append stores the events, all or none, in the order given, as the next links of
// their tenants' hash chains: each event gets Seq = previous Seq + 1 (1 for a tenant's
// first), PrevHash = the previous event's Hash (nil for the first), KeyID =
// Options.Chain.CurrentKeyID() and Hash = Options.Chain.Link(PrevHash, event). Seq,
// PrevHash, KeyID and Hash passed in are ignored. With an Options.Chain that fails
// audit.Chain.Validate, every Append fails with that error.
//
// Events must be prepared (audit.Recorder.Prepare): an event without ID or Time, or one
// that fails audit.Event.Validate, is rejected with an *audit.InvalidEventError. An
// event ID already stored for its tenant, or repeated for one tenant in the batch, is
// an error wrapping both storage.ErrConflict and audit.ErrDuplicateEvent; the same ID
// may be stored for several tenants. In either case nothing is stored.
func (s *Store) Append(ctx context.Context, events ...audit.Event) error {
	if err := live(ctx); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	batch := make([]audit.Event, len(events))
	for i := range events {
		e := cloneEvent(events[i])
		if err := checkEvent(&e); err != nil {
			return err
		}
		batch[i] = e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chainErr != nil {
		return fmt.Errorf("memory: append: %w", s.chainErr)
	}
	if err := s.checkEventIDs(batch...); err != nil {
		return err
	}
	for i := range batch {
		s.appendLocked(batch[i])
	}
	return nil
}

// Events returns the tenant's events that match q, in q.Order, at most
// q.EffectiveLimit() of them. Seq orders walk the tenant's chain from the right end;
// time orders sort the matching events, which costs O(n log n) for n events of the
// tenant: the memory store is meant for tests and small deployments.
func (s *Store) Events(ctx context.Context, tenant uuid.UUID, q audit.Query) ([]audit.Event, error) {
	if err := live(ctx); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("memory: events: %w", err)
	}
	limit := q.EffectiveLimit()
	s.mu.RLock()
	defer s.mu.RUnlock()
	chain := s.chains[tenant]
	var out []audit.Event
	switch q.Order {
	case audit.SeqAsc:
		// Seq increases along the slice: start at the first event after the cursor.
		after := max(q.AfterSeq, q.Cursor.Seq)
		start := sort.Search(len(chain), func(i int) bool { return chain[i].Seq > after })
		for i := start; i < len(chain) && len(out) < limit; i++ {
			if q.Match(&chain[i]) {
				out = append(out, cloneEvent(chain[i]))
			}
		}
	case audit.SeqDesc:
		// Start at the last event before the cursor and BeforeSeq.
		before := q.Cursor.Seq
		if q.BeforeSeq > 0 && (before <= 0 || q.BeforeSeq < before) {
			before = q.BeforeSeq
		}
		end := len(chain)
		if before > 0 {
			end = sort.Search(len(chain), func(i int) bool { return chain[i].Seq >= before })
		}
		for i := end - 1; i >= 0 && len(out) < limit && chain[i].Seq > q.AfterSeq; i-- {
			if q.Match(&chain[i]) {
				out = append(out, cloneEvent(chain[i]))
			}
		}
	default:
		var match []*audit.Event
		for i := range chain {
			if q.Match(&chain[i]) {
				match = append(match, &chain[i])
			}
		}
		slices.SortFunc(match, q.Order.Compare)
		for _, e := range match[:min(limit, len(match))] {
			out = append(out, cloneEvent(*e))
		}
	}
	return out, nil
}

// AuditState returns the tenant's checkpoint and chain head.
func (s *Store) AuditState(ctx context.Context, tenant uuid.UUID) (audit.ChainState, error) {
	if err := live(ctx); err != nil {
		return audit.ChainState{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	head := s.audit.heads[tenant]
	cp := s.audit.checkpoints[tenant]
	return audit.ChainState{
		Checkpoint: cloneCheckpoint(cp),
		Head:       audit.Link{Seq: head.Seq, Hash: bytes.Clone(head.Hash)},
	}, nil
}

// PurgeAudit deletes the tenant's events up to and including cp.Seq and records cp as
// its checkpoint (see audit.Retainer): all or nothing, under the store's lock. A
// checkpoint that names no stored event, or another Hash, or that is not after the
// current checkpoint, is an error wrapping audit.ErrCheckpointStale and
// storage.ErrStale. The purged event IDs may be used again, as in the SQL adapters.
func (s *Store) PurgeAudit(ctx context.Context, tenant uuid.UUID, cp audit.Checkpoint) (int64, error) {
	if err := live(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stale := func(why string) error {
		return fmt.Errorf("memory: purge audit to seq %d: %s: %w: %w", cp.Seq, why, audit.ErrCheckpointStale, storage.ErrStale)
	}
	if cur := s.audit.checkpoints[tenant]; cp.Seq <= cur.Seq {
		return 0, stale("the checkpoint is already there")
	}
	chain := s.chains[tenant]
	i, found := sort.Find(len(chain), func(i int) int { return cmpInt(cp.Seq, chain[i].Seq) })
	if !found || !bytes.Equal(chain[i].Hash, cp.Hash) {
		return 0, stale("no stored event has this seq and hash")
	}
	for _, e := range chain[:i+1] {
		delete(s.eventIDs, keyOf(&e))
	}
	// A new slice, so that the purged events' memory is freed.
	s.chains[tenant] = slices.Clone(chain[i+1:])
	if s.audit.checkpoints == nil {
		s.audit.checkpoints = make(map[uuid.UUID]audit.Checkpoint)
	}
	cp = cloneCheckpoint(cp)
	cp.Time = utc(cp.Time)
	s.audit.checkpoints[tenant] = cp
	return int64(i + 1), nil
}

// AuditTenants returns every tenant that has an audit chain, ordered by ID.
func (s *Store) AuditTenants(ctx context.Context) ([]uuid.UUID, error) {
	if err := live(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := slices.Collect(maps.Keys(s.audit.heads))
	slices.SortFunc(out, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkEvent normalizes e's time like the SQL adapters and rejects an event that was not
// prepared: the store fails closed rather than chain an event it cannot vouch for.
func checkEvent(e *audit.Event) error {
	if e.ID == uuid.Nil {
		return &audit.InvalidEventError{Field: "ID", Reason: "is required"}
	}
	if e.Time.IsZero() {
		return &audit.InvalidEventError{Field: "Time", Reason: "is required"}
	}
	if err := e.Validate(); err != nil {
		return err
	}
	e.Time = utc(e.Time)
	return nil
}

// eventKey identifies a stored audit event: an event ID is unique within its tenant.
type eventKey struct{ tenant, id uuid.UUID }

func keyOf(e *audit.Event) eventKey { return eventKey{e.Tenant, e.ID} }

// checkEventIDs reports an error wrapping storage.ErrConflict and
// audit.ErrDuplicateEvent if an event ID is already stored for its tenant or repeats
// for one tenant within events. s.mu must be held.
func (s *Store) checkEventIDs(events ...audit.Event) error {
	seen := make(map[eventKey]struct{}, len(events))
	for i := range events {
		k := keyOf(&events[i])
		_, stored := s.eventIDs[k]
		_, repeated := seen[k]
		if stored || repeated {
			return fmt.Errorf("memory: audit event %s: %w: %w", k.id, storage.ErrConflict, audit.ErrDuplicateEvent)
		}
		seen[k] = struct{}{}
	}
	return nil
}

// appendLocked links e to its tenant's chain head and stores it. e must be checked and
// owned by the store; s.mu must be held for writing.
func (s *Store) appendLocked(e audit.Event) {
	if s.audit.heads == nil {
		s.audit.heads = make(map[uuid.UUID]audit.Link)
	}
	head := s.audit.heads[e.Tenant]
	e.Seq, e.PrevHash = head.Seq+1, bytes.Clone(head.Hash)
	e.KeyID = s.chain.CurrentKeyID()
	e.Hash = s.chain.Link(e.PrevHash, &e)
	s.chains[e.Tenant] = append(s.chains[e.Tenant], e)
	s.eventIDs[keyOf(&e)] = struct{}{}
	s.audit.heads[e.Tenant] = audit.Link{Seq: e.Seq, Hash: bytes.Clone(e.Hash)}
}

// cloneEvent returns a deep copy of e.
func cloneEvent(e audit.Event) audit.Event {
	e.Changes = slices.Clone(e.Changes)
	e.Details = maps.Clone(e.Details)
	e.PrevHash = bytes.Clone(e.PrevHash)
	e.Hash = bytes.Clone(e.Hash)
	return e
}

// cloneCheckpoint returns a deep copy of cp.
func cloneCheckpoint(cp audit.Checkpoint) audit.Checkpoint {
	cp.Hash = bytes.Clone(cp.Hash)
	cp.MAC = bytes.Clone(cp.MAC)
	return cp
}
