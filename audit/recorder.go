package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ErrNotRecorded wraps every storage failure of [Recorder.Record]: the event was not
// stored, and a caller recording a security-relevant change should refuse the change.
var ErrNotRecorded = errors.New("audit: event not recorded")

// Options configure a [Recorder]. The zero value is valid.
type Options struct {
	// Clock returns the current time. If nil, time.Now is used. Times are stored in UTC
	// with microsecond precision (the precision of PostgreSQL's timestamptz).
	Clock func() time.Time
}

// Recorder writes events synchronously: [Recorder.Record] returns only once the event
// is stored. It is safe for concurrent use.
type Recorder struct {
	store Store
	clock func() time.Time
}

// NewRecorder returns a Recorder writing to store.
func NewRecorder(store Store, opts Options) *Recorder {
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Recorder{store: store, clock: clock}
}

// Prepare fills the event's ID (UUIDv7) and Time (now, UTC, microseconds) when zero,
// sanitizes its free-text fields against log injection and validates it. Stores that
// append events in the same transaction as a change (see access.Store) receive
// prepared events.
func (r *Recorder) Prepare(e *Event) error {
	return Prepare(e, r.clock())
}

// Prepare fills the event's ID (UUIDv7) when zero and its Time with now when zero,
// stores the time in UTC with microsecond precision, sanitizes the free-text fields
// against log injection and validates the event.
func Prepare(e *Event, now time.Time) error {
	if e.ID == uuid.Nil {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("audit: event id: %w", err)
		}
		e.ID = id
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.Sanitize()
	return e.Validate()
}

// Record prepares and stores one event. An invalid event returns an
// *[InvalidEventError]; a storage failure returns an error wrapping [ErrNotRecorded].
func (r *Recorder) Record(ctx context.Context, e Event) error {
	if err := r.Prepare(&e); err != nil {
		return err
	}
	if err := r.store.Append(ctx, e); err != nil {
		return fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	return nil
}

// Events returns a tenant's events matching q (see [Store.Events]).
func (r *Recorder) Events(ctx context.Context, tenant uuid.UUID, q Query) ([]Event, error) {
	return r.store.Events(ctx, tenant, q)
}
