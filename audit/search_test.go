package audit

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScopeApplyFailsClosed(t *testing.T) {
	p1, p2, p3 := uuid.New(), uuid.New(), uuid.New()
	sorted := func(ids ...uuid.UUID) []uuid.UUID {
		slices.SortFunc(ids, compareUUID)
		return ids
	}
	cases := []struct {
		name  string
		scope Scope
		q     Query
		ok    bool
		want  []uuid.UUID // q.Projects after Apply
	}{
		{"the zero scope sees nothing", Scope{}, Query{}, false, nil},
		{"an empty project list sees nothing", Scope{Projects: []uuid.UUID{}}, Query{}, false, nil},
		{"all projects: unrestricted", Scope{AllProjects: true}, Query{}, true, nil},
		{"all projects keeps the caller's own list", Scope{AllProjects: true}, Query{Projects: []uuid.UUID{p1}}, true, []uuid.UUID{p1}},
		{"projects", Scope{Projects: []uuid.UUID{p2, p1}}, Query{}, true, sorted(p1, p2)},
		{"tenant-wide only", Scope{TenantWide: true}, Query{}, true, []uuid.UUID{uuid.Nil}},
		{"projects and tenant-wide", Scope{Projects: []uuid.UUID{p1}, TenantWide: true}, Query{}, true, sorted(p1, uuid.Nil)},
		{"a Project inside the scope", Scope{Projects: []uuid.UUID{p1, p2}}, Query{Project: p2}, true, sorted(p1, p2)},
		{"a Project outside the scope", Scope{Projects: []uuid.UUID{p1}}, Query{Project: p3}, false, nil},
		{"the caller's list is intersected", Scope{Projects: []uuid.UUID{p1, p2}}, Query{Projects: []uuid.UUID{p2, p3}}, true, []uuid.UUID{p2}},
		{"an intersection that is empty", Scope{Projects: []uuid.UUID{p1}}, Query{Projects: []uuid.UUID{p3}}, false, nil},
		{"duplicates are removed", Scope{Projects: []uuid.UUID{p1, p1}}, Query{}, true, []uuid.UUID{p1}},
		{"uuid.Nil is no project", Scope{Projects: []uuid.UUID{uuid.Nil}}, Query{}, false, nil},
		{"uuid.Nil beside a project", Scope{Projects: []uuid.UUID{uuid.Nil, p1}}, Query{}, true, []uuid.UUID{p1}},
		{"uuid.Nil with TenantWide", Scope{Projects: []uuid.UUID{uuid.Nil}, TenantWide: true}, Query{}, true, []uuid.UUID{uuid.Nil}},
	}
	for _, c := range cases {
		got, ok := c.scope.Apply(c.q)
		assert.Equal(t, c.ok, ok, c.name)
		if ok {
			assert.Equal(t, c.want, got.Projects, c.name)
		}
	}
	// Admits agrees with Apply: an event passes the filter Apply gives the store
	// exactly when Admits lets it through, for every scope above.
	for _, c := range cases {
		q, ok := c.scope.Apply(Query{})
		for _, e := range []Event{{Seq: 1, Project: p1}, {Seq: 1, Project: p2}, {Seq: 1, Project: p3}, {Seq: 1}} {
			assert.Equal(t, c.scope.Admits(&e), ok && q.Match(&e), "%s: event of project %v", c.name, e.Project)
		}
	}
	for _, e := range []Event{{Project: p1}, {Project: p3}, {}} {
		assert.True(t, Scope{AllProjects: true}.Admits(&e))
		assert.False(t, Scope{}.Admits(&e))
	}
	assert.True(t, Scope{Projects: []uuid.UUID{p1}}.Admits(&Event{Project: p1}))
	assert.False(t, Scope{Projects: []uuid.UUID{p1}}.Admits(&Event{}))
	assert.True(t, Scope{TenantWide: true}.Admits(&Event{}))
}

// countingStore serves Events from a slice and counts the calls.
type countingStore struct {
	events []Event
	calls  int
	limits []int
	fail   error
}

func (s *countingStore) Append(context.Context, ...Event) error { return errors.New("read-only") }

func (s *countingStore) Events(_ context.Context, _ uuid.UUID, q Query) ([]Event, error) {
	s.calls++
	s.limits = append(s.limits, q.Limit)
	if s.fail != nil && s.calls > 1 {
		return nil, s.fail
	}
	var out []Event
	for i := range s.events {
		if q.Match(&s.events[i]) {
			out = append(out, s.events[i])
		}
	}
	slices.SortFunc(out, func(a, b Event) int { return q.Order.Compare(&a, &b) })
	return out[:min(len(out), q.EffectiveLimit())], nil
}

func numbered(n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{Seq: int64(i + 1), Time: testNow.Add(time.Duration(n-i) * time.Second), ID: uuid.New()}
	}
	return evs
}

func TestSearchZeroScopeNeverReadsTheStore(t *testing.T) {
	s := &countingStore{events: numbered(5)}
	page, err := Search(context.Background(), s, testTenant, Scope{}, Query{}, "")
	require.NoError(t, err)
	assert.Empty(t, page.Events)
	assert.Empty(t, page.Next)
	for range SearchAll(context.Background(), s, testTenant, Scope{}, Query{}) {
		t.Fatal("SearchAll yielded an event for the zero Scope")
	}
	page, err = Search(context.Background(), s, uuid.Nil, Scope{AllProjects: true}, Query{}, "")
	require.NoError(t, err)
	assert.Empty(t, page.Events, "the nil tenant")
	assert.Zero(t, s.calls)
}

func TestAllPagesThroughEveryEventInOrder(t *testing.T) {
	evs := numbered(2503)
	for _, o := range []Order{SeqAsc, SeqDesc, TimeAsc, TimeDesc} {
		s := &countingStore{events: evs}
		var got []int64
		for e, err := range All(context.Background(), s, testTenant, Query{Order: o}) {
			require.NoError(t, err)
			got = append(got, e.Seq)
		}
		require.Len(t, got, len(evs), o.String())
		assert.True(t, slices.IsSortedFunc(got, func(a, b int64) int {
			return o.Compare(&Event{Seq: a, Time: evs[a-1].Time}, &Event{Seq: b, Time: evs[b-1].Time})
		}), o.String())
		assert.Equal(t, 3, s.calls, "pages of MaxLimit")
		for _, l := range s.limits {
			assert.Equal(t, MaxLimit, l)
		}
	}
	// A failing page ends the iteration with its error.
	s := &countingStore{events: evs, fail: errors.New("boom")}
	var n int
	var last error
	for _, err := range All(context.Background(), s, testTenant, Query{}) {
		if err != nil {
			last = err
			break
		}
		n++
	}
	assert.Equal(t, MaxLimit, n)
	assert.EqualError(t, last, "boom")
	// So does an invalid order, and a cancelled context.
	for _, err := range All(context.Background(), s, testTenant, Query{Order: 9}) {
		assert.ErrorIs(t, err, ErrInvalidQuery)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, err := range All(ctx, s, testTenant, Query{}) {
		assert.ErrorIs(t, err, context.Canceled)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, o := range []Order{SeqAsc, SeqDesc, TimeAsc, TimeDesc} {
		p := Position{Seq: 123456789, Time: testNow}
		c := EncodeCursor(o, p)
		got, err := DecodeCursor(c, o)
		require.NoError(t, err)
		if o == TimeAsc || o == TimeDesc {
			assert.True(t, got.Time.Equal(p.Time))
			assert.Equal(t, time.UTC, got.Time.Location())
		} else {
			assert.True(t, got.Time.IsZero(), "seq cursors carry no time")
		}
		assert.Equal(t, p.Seq, got.Seq)
		for _, other := range []Order{SeqAsc, SeqDesc, TimeAsc, TimeDesc} {
			if other != o {
				_, err := DecodeCursor(c, other)
				assert.ErrorIs(t, err, ErrInvalidQuery, "%s cursor decoded as %s", o, other)
			}
		}
	}
	for _, bad := range []string{"x", "!!!!", EncodeCursor(SeqAsc, Position{Seq: 0}), EncodeCursor(SeqAsc, Position{Seq: -5}),
		EncodeCursor(SeqAsc, Position{Seq: 1}) + "AA", string(make([]byte, 100))} {
		_, err := DecodeCursor(bad, SeqAsc)
		assert.ErrorIs(t, err, ErrInvalidQuery, "%q", bad)
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(EncodeCursor(TimeDesc, Position{Seq: 42, Time: testNow}), int(TimeDesc))
	f.Add(EncodeCursor(SeqAsc, Position{Seq: 1}), int(SeqAsc))
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, s string, o int) {
		order := Order(o % 4)
		p, err := DecodeCursor(s, order)
		if err != nil {
			return
		}
		if p.Seq <= 0 {
			t.Fatalf("decoded a non-positive Seq %d", p.Seq)
		}
		// What decodes re-encodes to a cursor that decodes to the same position.
		again, err := DecodeCursor(EncodeCursor(order, p), order)
		if err != nil || again.Seq != p.Seq || !again.Time.Equal(p.Time) {
			t.Fatalf("round trip of %+v: %+v, %v", p, again, err)
		}
	})
}

func TestSearchPagesWithNext(t *testing.T) {
	s := &countingStore{events: numbered(25)}
	q := Query{Order: TimeDesc, Limit: 10}
	var seqs []int64
	cursor := ""
	for range 5 {
		page, err := Search(context.Background(), s, testTenant, Scope{AllProjects: true}, q, cursor)
		require.NoError(t, err)
		for _, e := range page.Events {
			seqs = append(seqs, e.Seq)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	want := make([]int64, 25)
	for i := range want {
		want[i] = int64(i + 1) // the oldest Seq has the newest time
	}
	assert.Equal(t, want, seqs)
	_, err := Search(context.Background(), s, testTenant, Scope{AllProjects: true}, Query{Order: 7}, "")
	assert.ErrorIs(t, err, ErrInvalidQuery)
}
