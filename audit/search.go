package audit

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"iter"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Scope is the part of a tenant's audit log that a reader may see, by project. Build it
// from the reader's access: with access.Policy, AllProjects for holders of
// access.SeeAllProjects, Projects from Policy.Scope(subject, right).Projects otherwise.
//
// The zero Scope sees nothing: Search fails closed for a reader whose scope the host
// forgot to fill.
type Scope struct {
	// AllProjects admits every event of the tenant, with or without a project.
	AllProjects bool
	// Projects admits the events of these projects. uuid.Nil is not a project: it
	// is ignored here, and the events without a project are admitted by TenantWide
	// alone, by Apply (the store's filter) and Admits alike.
	Projects []uuid.UUID
	// TenantWide admits the events that belong to no project: logins, sessions, role
	// and tenant settings changes. A reader scoped to some projects does not see them
	// unless the host decides they may (for example, holders of a "view login log"
	// right see the login log of the whole tenant).
	TenantWide bool
}

// Apply restricts q to the scope. It returns false if the scope admits none of the
// events q asks for (the zero Scope, or q.Project outside the scope), in which case
// the result is empty without asking the store.
func (s Scope) Apply(q Query) (Query, bool) {
	if s.AllProjects {
		return q, true
	}
	// Every entry of the filter passes admitsProject, the one definition Admits
	// uses too: uuid.Nil, which the stores read as "no project", enters the filter
	// only with TenantWide.
	allowed := slices.DeleteFunc(slices.Clone(s.Projects), func(p uuid.UUID) bool { return !s.admitsProject(p) })
	if s.TenantWide {
		allowed = append(allowed, uuid.Nil)
	}
	if len(q.Projects) > 0 { // intersect with the caller's own list
		allowed = slices.DeleteFunc(allowed, func(p uuid.UUID) bool { return !slices.Contains(q.Projects, p) })
	}
	if q.Project != uuid.Nil && !slices.Contains(allowed, q.Project) {
		return q, false
	}
	if len(allowed) == 0 {
		return q, false
	}
	slices.SortFunc(allowed, func(a, b uuid.UUID) int { return compareUUID(a, b) })
	q.Projects = slices.Compact(allowed)
	return q, true
}

// Admits reports whether the scope lets its reader see e.
func (s Scope) Admits(e *Event) bool {
	return s.admitsProject(e.Project)
}

// admitsProject reports whether the scope admits the events of project p, uuid.Nil
// standing for the events without a project. It is the one definition of a Scope:
// Admits asks it, and Apply builds the store's filter from it.
func (s Scope) admitsProject(p uuid.UUID) bool {
	switch {
	case s.AllProjects:
		return true
	case p == uuid.Nil:
		return s.TenantWide
	}
	return slices.Contains(s.Projects, p)
}

// Page is one page of a [Search].
type Page struct {
	Events []Event
	// Next is the cursor of the next page, or "" after the last one. A page that
	// ends exactly at the last event still has a Next, whose page is empty.
	Next string
}

// Search returns one page of the tenant's events that match q and that scope admits,
// in q.Order, starting after cursor ("" for the first page; Page.Next for the next).
// Reports use Order TimeDesc (newest first) with a period, and filters the SQL adapter
// serves from indexes: Kind with User or Target.
//
// A cursor is opaque and names the query order it was made for: a cursor of another
// order, or one that does not decode, is an *[InvalidQueryError]. A cursor carries no
// authority: the scope and tenant are applied to every page, so an edited cursor can
// only move within what the reader may see.
func Search(ctx context.Context, store Store, tenant uuid.UUID, scope Scope, q Query, cursor string) (Page, error) {
	if err := q.Validate(); err != nil {
		return Page{}, err
	}
	if cursor != "" {
		pos, err := DecodeCursor(cursor, q.Order)
		if err != nil {
			return Page{}, err
		}
		q.Cursor = pos
	}
	q, ok := scope.Apply(q)
	if !ok || tenant == uuid.Nil {
		return Page{}, nil
	}
	evs, err := store.Events(ctx, tenant, q)
	if err != nil {
		return Page{}, err
	}
	p := Page{Events: evs}
	if len(evs) > 0 && len(evs) >= q.EffectiveLimit() {
		p.Next = EncodeCursor(q.Order, PositionOf(&evs[len(evs)-1]))
	}
	return p, nil
}

// SearchAll iterates over every event of the tenant that matches q and that scope
// admits, in q.Order, fetching pages of q.Limit events (MaxLimit if zero) as it goes.
// Memory stays bounded by one page whatever the number of events, so it feeds the
// exporters ([ExportCSV], [ExportJSONL]). A failure ends the iteration with the error.
func SearchAll(ctx context.Context, store Store, tenant uuid.UUID, scope Scope, q Query) iter.Seq2[Event, error] {
	q, ok := scope.Apply(q)
	if !ok || tenant == uuid.Nil {
		return func(func(Event, error) bool) {}
	}
	return All(ctx, store, tenant, q)
}

// All iterates over every event of the tenant that matches q, in q.Order, one page of
// q.Limit events (MaxLimit if zero) at a time, advancing q.Cursor from page to page.
// It applies no [Scope]: it is for trusted jobs (verification, archiving); code that
// shows events to a person uses [SearchAll].
func All(ctx context.Context, store Store, tenant uuid.UUID, q Query) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := q.Validate(); err != nil {
			yield(Event{}, err)
			return
		}
		if q.Limit <= 0 {
			q.Limit = MaxLimit
		}
		limit := q.EffectiveLimit()
		for {
			if err := ctx.Err(); err != nil {
				yield(Event{}, err)
				return
			}
			page, err := store.Events(ctx, tenant, q)
			if err != nil {
				yield(Event{}, err)
				return
			}
			for i := range page {
				if !yield(page[i], nil) {
					return
				}
			}
			if len(page) < limit {
				return
			}
			q.Cursor = PositionOf(&page[len(page)-1])
		}
	}
}

// cursorVersion is the first byte of an encoded cursor.
const cursorVersion = 1

// EncodeCursor returns the opaque cursor of position p in order o: URL-safe base64 of
// a version byte, the order, the Seq and, for time orders, the Time in microseconds.
func EncodeCursor(o Order, p Position) string {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen64)
	b = append(b, cursorVersion, byte(o))
	b = binary.AppendVarint(b, p.Seq)
	if o == TimeAsc || o == TimeDesc {
		b = binary.AppendVarint(b, p.Time.UnixMicro())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor returns the position that [EncodeCursor] encoded for order o. A cursor
// that does not decode, or was made for another order, is an *[InvalidQueryError].
func DecodeCursor(s string, o Order) (Position, error) {
	bad := &InvalidQueryError{Field: "cursor", Reason: "is malformed"}
	if len(s) > 64 {
		return Position{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 3 || b[0] != cursorVersion {
		return Position{}, bad
	}
	if Order(b[1]) != o {
		return Position{}, &InvalidQueryError{Field: "cursor", Reason: "belongs to another order"}
	}
	b = b[2:]
	seq, n := binary.Varint(b)
	if n <= 0 || seq <= 0 {
		return Position{}, bad
	}
	b = b[n:]
	p := Position{Seq: seq}
	if o == TimeAsc || o == TimeDesc {
		us, n := binary.Varint(b)
		if n <= 0 {
			return Position{}, bad
		}
		b = b[n:]
		p.Time = time.UnixMicro(us).UTC()
	}
	if len(b) != 0 {
		return Position{}, bad
	}
	return p, nil
}

// compareUUID orders UUIDs by their bytes.
func compareUUID(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
