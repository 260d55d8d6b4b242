package audit

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store keeps events. Adapters in storage/memory and storage/sqlstore implement it; the
// conformance suite in storage/storetest holds them to this contract.
type Store interface {
	// Append stores the events, all or none, in the order given. Each event is
	// already validated and sanitized, with ID and Time set. The store assigns Seq,
	// PrevHash and Hash as the next links of each event's tenant chain.
	Append(ctx context.Context, events ...Event) error

	// Events returns a tenant's events that match q, oldest first, at most q.Limit of
	// them (a store may cap the limit). Events of other tenants are never returned.
	Events(ctx context.Context, tenant uuid.UUID, q Query) ([]Event, error)
}

// Query filters a tenant's events. Zero fields do not filter.
type Query struct {
	From, To time.Time // From inclusive, To exclusive
	Kind     Kind
	Action   string
	User     uuid.UUID // the actor
	Target   string    // the target ID
	Project  uuid.UUID
	Outcome  Outcome
	AfterSeq int64 // cursor: only events after this chain position
	Limit    int   // 0 means the store's default (100)
}

// DefaultLimit is the page size when Query.Limit is zero; MaxLimit caps it.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// EffectiveLimit returns the page size a store should use for q.
func (q Query) EffectiveLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultLimit
	case q.Limit > MaxLimit:
		return MaxLimit
	}
	return q.Limit
}

// Match reports whether e passes q's filters (not the cursor or limit). Adapters that
// filter in Go (the memory store) use it so that every adapter filters alike.
func (q Query) Match(e *Event) bool {
	return (q.From.IsZero() || !e.Time.Before(q.From)) &&
		(q.To.IsZero() || e.Time.Before(q.To)) &&
		(q.Kind == "" || e.Kind == q.Kind) &&
		(q.Action == "" || e.Action == q.Action) &&
		(q.User == uuid.Nil || e.Actor.User == q.User) &&
		(q.Target == "" || e.Target.ID == q.Target) &&
		(q.Project == uuid.Nil || e.Project == q.Project) &&
		(q.Outcome == "" || e.Outcome == q.Outcome) &&
		e.Seq > q.AfterSeq
}
