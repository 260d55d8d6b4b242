package audit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Store keeps events. Adapters in storage/memory and storage/sqlstore implement it; the
// conformance suite in storage/storetest holds them to this contract.
//
// Store is the required part. Verification ([Verify]) also needs [ChainReader], and
// retention ([Purge], [PurgeAll]) needs [Retainer]; both adapters of this module
// implement all three.
type Store interface {
	// Append stores the events, all or none, in the order given. Each event is
	// already validated and sanitized, with ID and Time set. The store assigns Seq,
	// PrevHash and Hash as the next links of each event's tenant chain.
	//
	// An event ID already stored for its tenant, or repeated for its tenant in the
	// batch, fails the batch with an error wrapping [ErrDuplicateEvent] (and
	// storage.ErrConflict). IDs are scoped to their tenant: another tenant's event
	// with the same ID is no duplicate. A failed Append has stored nothing, so it is
	// safe to retry; a retry after a failure whose commit was in fact acknowledged
	// late reports ErrDuplicateEvent, which is how [Writer] recognises an event that
	// was written after all.
	Append(ctx context.Context, events ...Event) error

	// Events returns a tenant's events that match q, in q.Order (Seq order by
	// default), at most q.EffectiveLimit() of them (a store may cap the limit). Events
	// of other tenants are never returned.
	//
	// Events is the raw query: it applies the filters it is given and nothing else.
	// Code that shows events to a person uses [Search], which requires the reader's
	// [Scope] and so cannot forget the project restriction.
	Events(ctx context.Context, tenant uuid.UUID, q Query) ([]Event, error)
}

// ChainReader is a [Store] that reports where each tenant's chain begins and ends, which
// [Verify] needs to anchor verification at a trusted link and to detect events deleted
// from either end.
type ChainReader interface {
	Store

	// AuditState returns the tenant's checkpoint and chain head, read together in one
	// snapshot. A tenant without events has the zero ChainState.
	AuditState(ctx context.Context, tenant uuid.UUID) (ChainState, error)
}

// Retainer is a [ChainReader] that can delete a tenant's oldest events, for retention.
// Call it through [Purge] or [PurgeAll], which verify what they are about to delete.
type Retainer interface {
	ChainReader

	// PurgeAudit deletes the tenant's events with Seq <= cp.Seq and records cp as the
	// tenant's checkpoint, in one transaction. cp must name a stored event: if the
	// event at cp.Seq does not exist or its Hash is not cp.Hash, or if the tenant's
	// checkpoint is already at or after cp.Seq (another purge went first), it returns
	// an error wrapping [ErrCheckpointStale] and changes nothing. It returns the
	// number of events deleted. The chain head is kept, so later appends continue the
	// chain after the purged events.
	PurgeAudit(ctx context.Context, tenant uuid.UUID, cp Checkpoint) (int64, error)

	// AuditTenants returns every tenant that has a chain (that ever had an event
	// appended), ordered by ID.
	AuditTenants(ctx context.Context) ([]uuid.UUID, error)
}

// Store errors. Adapters wrap them (together with their storage sentinels), and callers
// test them with errors.Is.
var (
	// ErrDuplicateEvent: Append was given an event whose ID is already stored for its
	// tenant, or is repeated for its tenant within the batch. Nothing of the batch was
	// stored.
	ErrDuplicateEvent = errors.New("audit: duplicate event ID")

	// ErrCheckpointStale: PurgeAudit was given a checkpoint that does not match the
	// stored events, or that another purge has already passed. Nothing changed.
	ErrCheckpointStale = errors.New("audit: checkpoint does not match the stored chain")
)

// Link is a position in a tenant's chain: an event's Seq and Hash.
type Link struct {
	Seq  int64
	Hash []byte
}

// Checkpoint is the last link a purge removed: the Seq, Hash and Time of the newest
// deleted event. Verification of the remaining events starts from it, so the oldest
// remaining event's PrevHash must equal Hash. MAC is [Chain.Seal] of the checkpoint:
// with a keyed Chain, someone who can write to the database but does not hold the key
// cannot forge a checkpoint to hide deleted events.
//
// KeyID is the ID of the ring key MAC was sealed with ([Chain.CurrentKeyID] when
// [Purge] wrote it; 0 for an unkeyed chain). It is covered by MAC.
type Checkpoint struct {
	Seq   int64
	Hash  []byte
	Time  time.Time
	MAC   []byte
	KeyID uint32
}

// IsZero reports whether c is the zero Checkpoint: nothing was ever purged.
func (c Checkpoint) IsZero() bool { return c.Seq == 0 }

// ChainState is where a tenant's chain begins and ends in a store.
type ChainState struct {
	// Checkpoint is the last purged link; zero if nothing was purged.
	Checkpoint Checkpoint
	// Head is the newest event's Seq and Hash; zero if no event was ever appended.
	// After a purge of every event, Head equals the checkpoint's link.
	Head Link
}

// Order is the order in which [Store.Events] returns events. The zero Order is
// [SeqAsc], the chain order.
type Order int

// Orders. Seq orders follow the chain (append order) and are what verification and
// full exports use. Time orders sort by event Time, ties broken by Seq; report screens
// use [TimeDesc] (newest first), which the SQL adapter serves from its (…, time, seq)
// indexes without sorting.
const (
	SeqAsc Order = iota
	SeqDesc
	TimeAsc
	TimeDesc
)

// Valid reports whether o is one of the four orders.
func (o Order) Valid() bool { return o >= SeqAsc && o <= TimeDesc }

// String returns the order's name, such as "time_desc".
func (o Order) String() string {
	switch o {
	case SeqAsc:
		return "seq_asc"
	case SeqDesc:
		return "seq_desc"
	case TimeAsc:
		return "time_asc"
	case TimeDesc:
		return "time_desc"
	}
	return "invalid"
}

// Compare orders a and b as o does: negative if a comes first.
func (o Order) Compare(a, b *Event) int {
	var c int
	switch o {
	case TimeAsc, TimeDesc:
		c = a.Time.Compare(b.Time)
		if c == 0 {
			c = cmp.Compare(a.Seq, b.Seq)
		}
	default:
		c = cmp.Compare(a.Seq, b.Seq)
	}
	if o == SeqDesc || o == TimeDesc {
		c = -c
	}
	return c
}

// Position is a place in a result order, the key of keyset pagination: the Seq and
// Time of the last event of a page. Seq orders use only Seq. The zero Position is the
// start.
type Position struct {
	Seq  int64
	Time time.Time
}

// PositionOf returns e's position.
func PositionOf(e *Event) Position { return Position{Seq: e.Seq, Time: e.Time} }

// Query filters a tenant's events. Zero fields do not filter.
type Query struct {
	From, To time.Time // From inclusive, To exclusive
	Kind     Kind
	Action   string
	User     uuid.UUID // the actor
	Target   string    // the target ID
	Project  uuid.UUID
	Outcome  Outcome
	// ID selects the one event with this ID.
	ID uuid.UUID
	// Projects, if not empty, admits only events whose Project is in the list;
	// uuid.Nil in the list stands for events without a project. [Scope.Apply] sets it.
	Projects []uuid.UUID

	// AfterSeq and BeforeSeq bound Seq: only events with AfterSeq < Seq, and Seq <
	// BeforeSeq when BeforeSeq > 0. They apply in every Order.
	AfterSeq  int64
	BeforeSeq int64

	// Order is the result order; the zero Order is SeqAsc.
	Order Order
	// Cursor, if not zero, admits only events strictly after it in Order: the
	// cursor of the next page is the Position of the last event of this one.
	Cursor Position

	Limit int // 0 means the store's default (100)
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

// Match reports whether e passes q's filters, Seq bounds and Cursor; only the order and
// the limit are left to the caller. Adapters that filter in Go (the memory store) use
// it so that every adapter filters alike.
func (q Query) Match(e *Event) bool {
	return (q.From.IsZero() || !e.Time.Before(q.From)) &&
		(q.To.IsZero() || e.Time.Before(q.To)) &&
		(q.Kind == "" || e.Kind == q.Kind) &&
		(q.Action == "" || e.Action == q.Action) &&
		(q.User == uuid.Nil || e.Actor.User == q.User) &&
		(q.Target == "" || e.Target.ID == q.Target) &&
		(q.Project == uuid.Nil || e.Project == q.Project) &&
		(q.Outcome == "" || e.Outcome == q.Outcome) &&
		(q.ID == uuid.Nil || e.ID == q.ID) &&
		(len(q.Projects) == 0 || slices.Contains(q.Projects, e.Project)) &&
		e.Seq > q.AfterSeq &&
		(q.BeforeSeq <= 0 || e.Seq < q.BeforeSeq) &&
		q.afterCursor(e)
}

// afterCursor reports whether e comes strictly after q.Cursor in q.Order.
func (q Query) afterCursor(e *Event) bool {
	if q.Cursor.Seq <= 0 {
		return true
	}
	c := Event{Seq: q.Cursor.Seq, Time: q.Cursor.Time}
	return q.Order.Compare(e, &c) > 0
}

// Validate checks the parts of q a store cannot interpret otherwise: the Order.
func (q Query) Validate() error {
	if !q.Order.Valid() {
		return &InvalidQueryError{Field: "Order", Reason: "is not a known order"}
	}
	return nil
}

// ErrInvalidQuery is wrapped by every *[InvalidQueryError].
var ErrInvalidQuery = errors.New("audit: invalid query")

// InvalidQueryError says which part of a query or cursor is unacceptable.
type InvalidQueryError struct {
	Field  string
	Reason string
}

// Error says which part of the query is unacceptable.
func (e *InvalidQueryError) Error() string {
	return "audit: invalid query: " + e.Field + " " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalidQuery) true.
func (e *InvalidQueryError) Unwrap() error { return ErrInvalidQuery }

// sameContent reports whether a and b are the same event apart from the chain fields
// that a store assigns (Seq, PrevHash, Hash): their canonical encodings agree.
func sameContent(a, b *Event) bool {
	x, y := *a, *b
	x.Seq, y.Seq = 0, 0
	x.KeyID, y.KeyID = 0, 0
	return bytes.Equal(Chain{}.Link(nil, &x), Chain{}.Link(nil, &y))
}
