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

// Append stores the events, all or none, in the order given, as the next links of
// their tenants' hash chains: each event gets Seq = previous Seq + 1 (1 for a tenant's
// first), PrevHash = the previous event's Hash (nil for the first) and Hash =
// Options.Chain.Link(PrevHash, event). Seq, PrevHash and Hash passed in are ignored.
//
// Events must be prepared (audit.Recorder.Prepare): an event without ID or Time, or one
// that fails audit.Event.Validate, is rejected with an *audit.InvalidEventError. An
// event ID already stored, or repeated in the batch, is storage.ErrConflict. In either
// case nothing is stored.
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
	if err := s.checkEventIDs(batch...); err != nil {
		return err
	}
	for i := range batch {
		s.appendLocked(batch[i])
	}
	return nil
}

// Events returns the tenant's events that match q, in Seq order, at most
// q.EffectiveLimit() of them.
func (s *Store) Events(ctx context.Context, tenant uuid.UUID, q audit.Query) ([]audit.Event, error) {
	if err := live(ctx); err != nil {
		return nil, err
	}
	limit := q.EffectiveLimit()
	s.mu.RLock()
	defer s.mu.RUnlock()
	chain := s.chains[tenant]
	// Seq increases along the slice: start at the first event after the cursor.
	start := sort.Search(len(chain), func(i int) bool { return chain[i].Seq > q.AfterSeq })
	out := make([]audit.Event, 0, min(limit, len(chain)-start))
	for i := start; i < len(chain) && len(out) < limit; i++ {
		if q.Match(&chain[i]) {
			out = append(out, cloneEvent(chain[i]))
		}
	}
	return out, nil
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

// checkEventIDs reports storage.ErrConflict if an event ID is already stored or repeats
// within events. s.mu must be held.
func (s *Store) checkEventIDs(events ...audit.Event) error {
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i := range events {
		id := events[i].ID
		_, stored := s.eventIDs[id]
		_, repeated := seen[id]
		if stored || repeated {
			return fmt.Errorf("memory: audit event %s: %w", id, storage.ErrConflict)
		}
		seen[id] = struct{}{}
	}
	return nil
}

// appendLocked links e to its tenant's chain head and stores it. e must be checked and
// owned by the store; s.mu must be held for writing.
func (s *Store) appendLocked(e audit.Event) {
	chain := s.chains[e.Tenant]
	e.Seq, e.PrevHash = 1, nil
	if n := len(chain); n > 0 {
		e.Seq = chain[n-1].Seq + 1
		e.PrevHash = bytes.Clone(chain[n-1].Hash)
	}
	e.Hash = s.chain.Link(e.PrevHash, &e)
	s.chains[e.Tenant] = append(chain, e)
	s.eventIDs[e.ID] = struct{}{}
}

// cloneEvent returns a deep copy of e.
func cloneEvent(e audit.Event) audit.Event {
	e.Changes = slices.Clone(e.Changes)
	e.Details = maps.Clone(e.Details)
	e.PrevHash = bytes.Clone(e.PrevHash)
	e.Hash = bytes.Clone(e.Hash)
	return e
}
