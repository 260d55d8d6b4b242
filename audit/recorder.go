package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

	// Mirror, if not nil, receives every event once it is stored, as one record (see
	// [LogEvent]), for shipping to a SIEM. Events hold no secrets.
	Mirror *slog.Logger
}

// Recorder writes events synchronously: [Recorder.Record] returns only once the event
// is stored. It is safe for concurrent use.
type Recorder struct {
	store  Store
	clock  func() time.Time
	mirror *slog.Logger
}

// NewRecorder returns a Recorder writing to store.
func NewRecorder(store Store, opts Options) *Recorder {
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Recorder{store: store, clock: clock, mirror: opts.Mirror}
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
//
// For login and session events ([KindLogin], [KindSession]) with a user agent, Prepare
// also fills the details "browser", "browser_version", "os" and "device" from the
// parsed User-Agent ([ParseUserAgent]), leaving alone any of them already set and
// omitting what the parser does not recognise.
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
	if (e.Kind == KindLogin || e.Kind == KindSession) && e.Actor.UserAgent != "" {
		addUserAgentDetails(e)
	}
	return e.Validate()
}

// addUserAgentDetails fills the browser details of e from its (sanitized) user agent.
// Details is copied before it is changed: it may be shared with the caller.
func addUserAgentDetails(e *Event) {
	ua := ParseUserAgent(e.Actor.UserAgent)
	add := map[string]string{
		DetailBrowser:        ua.Browser,
		DetailBrowserVersion: ua.Version,
		DetailOS:             ua.OS,
		DetailDevice:         ua.Device,
	}
	var d map[string]string
	for k, v := range add {
		if _, set := e.Details[k]; set || v == "" {
			continue
		}
		if d == nil {
			d = make(map[string]string, len(e.Details)+len(add))
			for k, v := range e.Details {
				d[k] = v
			}
		}
		d[k] = Clean(v)
	}
	if d != nil {
		e.Details = d
	}
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
	if r.mirror != nil {
		LogEvent(ctx, r.mirror, &e)
	}
	return nil
}

// Events returns a tenant's events matching q (see [Store.Events]).
func (r *Recorder) Events(ctx context.Context, tenant uuid.UUID, q Query) ([]Event, error) {
	return r.store.Events(ctx, tenant, q)
}
