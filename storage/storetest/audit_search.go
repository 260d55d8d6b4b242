package storetest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// orders are the four result orders of audit.Query.
var orders = []audit.Order{audit.SeqAsc, audit.SeqDesc, audit.TimeAsc, audit.TimeDesc}

// storedFilterData appends a tenant's filter data whose times run against the chain
// order in places (as events of several instances do), and returns it with the events
// as stored (Seq set).
func (f *fx) storedFilterData(tenant uuid.UUID, n int) (*filterData, []audit.Event) {
	f.t.Helper()
	d := newFilterData(f.t, tenant, n)
	for i := range d.events {
		// Every third event is older than the one before it, and pairs share a
		// time, so that (time, seq) ties and disorder are both exercised.
		tm := at(time.Duration(i/2) * time.Minute)
		if i%3 == 2 {
			tm = at(time.Duration(i/2-3) * time.Minute)
		}
		d.events[i].Time = tm
	}
	require.NoError(f.t, f.s.Audit.Append(f.ctx, d.events...))
	stored := f.allEvents(tenant)
	require.Len(f.t, stored, n)
	return d, stored
}

// expect returns the IDs of the stored events that q matches, in q.Order, at most
// limit (0: all).
func expect(stored []audit.Event, q audit.Query, limit int) []uuid.UUID {
	var match []audit.Event
	for i := range stored {
		if q.Match(&stored[i]) {
			match = append(match, stored[i])
		}
	}
	slices.SortFunc(match, func(a, b audit.Event) int { return q.Order.Compare(&a, &b) })
	if limit > 0 && len(match) > limit {
		match = match[:limit]
	}
	return eventIDs(match)
}

// reportQueries are the filter combinations of the seed product's reports, newest
// first: the SQL adapter must serve each from an index.
func reportQueries(d *filterData) []filterQuery {
	from, to := at(3*time.Minute), at(15*time.Minute)
	period := func(e *audit.Event) bool { return !e.Time.Before(from) && e.Time.Before(to) }
	return []filterQuery{
		{"login log: kind and period", audit.Query{Kind: audit.KindLogin, From: from, To: to},
			func(e *audit.Event) bool { return e.Kind == audit.KindLogin && period(e) }},
		{"login log of a user", audit.Query{Kind: audit.KindLogin, User: d.users[0], From: from, To: to},
			func(e *audit.Event) bool { return e.Kind == audit.KindLogin && e.Actor.User == d.users[0] && period(e) }},
		{"change log: kind and period", audit.Query{Kind: audit.KindChange, From: from, To: to},
			func(e *audit.Event) bool { return e.Kind == audit.KindChange && period(e) }},
		{"change log of a target", audit.Query{Kind: audit.KindChange, Target: d.targets[0], From: from, To: to},
			func(e *audit.Event) bool {
				return e.Kind == audit.KindChange && e.Target.ID == d.targets[0] && period(e)
			}},
		{"action log of a user", audit.Query{Kind: audit.KindAction, User: d.users[1], From: from, To: to},
			func(e *audit.Event) bool {
				return e.Kind == audit.KindAction && e.Actor.User == d.users[1] && period(e)
			}},
		{"recording access of a recording", audit.Query{Kind: audit.KindRecording, Target: d.targets[2]},
			func(e *audit.Event) bool { return e.Kind == audit.KindRecording && e.Target.ID == d.targets[2] }},
		{"a user's history", audit.Query{User: d.users[0], From: from, To: to},
			func(e *audit.Event) bool { return e.Actor.User == d.users[0] && period(e) }},
	}
}

var auditSearchCases = []testCase{
	// Each order sorts as audit.Order.Compare says: Seq, or (Time, Seq) with ties on
	// Time broken by Seq, ascending or descending.
	{"Events returns events in each Order, time orders breaking ties by Seq", func(t *testing.T, f *fx) {
		tenant := newID()
		_, stored := f.storedFilterData(tenant, 30)
		for _, o := range orders {
			q := audit.Query{Order: o, Limit: audit.MaxLimit}
			got, err := f.s.Audit.Events(f.ctx, tenant, q)
			require.NoError(t, err)
			assert.Equal(t, expect(stored, q, 0), eventIDs(got), "order %s", o)
		}
	}},
	// Keyset pagination: the Cursor of the next page is the position of the last
	// event of this one; every matching event is visited once, in order, for every
	// order and filter.
	{"Events pages with Cursor in every Order, visiting every matching event once", func(t *testing.T, f *fx) {
		tenant := newID()
		d, stored := f.storedFilterData(tenant, 41)
		queries := append(d.queries(), reportQueries(d)...)
		queries = append(queries, filterQuery{"no filter", audit.Query{}, func(*audit.Event) bool { return true }})
		for _, o := range orders {
			for _, c := range queries {
				q := c.q
				q.Order, q.Limit = o, 4
				var ids []uuid.UUID
				for pages := 0; ; pages++ {
					require.Less(t, pages, 40, "%s/%s: pagination does not end", o, c.name)
					page, err := f.s.Audit.Events(f.ctx, tenant, q)
					require.NoError(t, err)
					ids = append(ids, eventIDs(page)...)
					if len(page) < q.Limit {
						break
					}
					q.Cursor = audit.PositionOf(&page[len(page)-1])
				}
				full := c.q
				full.Order = o
				want := expect(stored, full, 0)
				require.NotEmpty(t, want, "%s: the data must hold matching events", c.name)
				assert.Equal(t, want, ids, "%s/%s", o, c.name)
			}
		}
	}},
	{"Events bounds Seq with AfterSeq and BeforeSeq in every Order", func(t *testing.T, f *fx) {
		tenant := newID()
		_, stored := f.storedFilterData(tenant, 20)
		for _, o := range orders {
			for _, b := range [][2]int64{{0, 5}, {5, 0}, {3, 9}, {8, 9}, {8, 8}, {0, 1}, {19, 0}} {
				q := audit.Query{Order: o, AfterSeq: b[0], BeforeSeq: b[1], Limit: audit.MaxLimit}
				got, err := f.s.Audit.Events(f.ctx, tenant, q)
				require.NoError(t, err)
				assert.Equal(t, expect(stored, q, 0), eventIDs(got), "%s after %d before %d", o, b[0], b[1])
			}
		}
	}},
	{"Events with ID returns that event only, and nothing for another tenant's ID", func(t *testing.T, f *fx) {
		a, b := newID(), newID()
		_, stored := f.storedFilterData(a, 10)
		require.NoError(t, f.s.Audit.Append(f.ctx, changeEvent(t, b, "role.create")))
		for _, e := range []audit.Event{stored[0], stored[7]} {
			got, err := f.s.Audit.Events(f.ctx, a, audit.Query{ID: e.ID})
			require.NoError(t, err)
			if assert.Len(t, got, 1) {
				assertEvent(t, e, got[0])
				assert.Equal(t, e.Seq, got[0].Seq)
			}
			got, err = f.s.Audit.Events(f.ctx, b, audit.Query{ID: e.ID})
			require.NoError(t, err)
			assert.Empty(t, got, "A's event ID asked of tenant B")
		}
		got, err := f.s.Audit.Events(f.ctx, a, audit.Query{ID: newID()})
		require.NoError(t, err)
		assert.Empty(t, got, "an unknown ID")
	}},
	// uuid.Nil in Projects stands for events without a project.
	{"Events with Projects admits the listed projects, and events without one for uuid.Nil", func(t *testing.T, f *fx) {
		tenant := newID()
		d, stored := f.storedFilterData(tenant, 24)
		for name, ps := range map[string][]uuid.UUID{
			"one project":            {d.projects[0]},
			"both projects":          {d.projects[1], d.projects[0]},
			"no project":             {uuid.Nil},
			"a project or none":      {d.projects[1], uuid.Nil},
			"an unknown project":     {newID()},
			"unknown and no project": {newID(), uuid.Nil},
		} {
			for _, o := range []audit.Order{audit.SeqAsc, audit.TimeDesc} {
				q := audit.Query{Projects: ps, Order: o, Limit: audit.MaxLimit}
				got, err := f.s.Audit.Events(f.ctx, tenant, q)
				require.NoError(t, err)
				assert.Equal(t, expect(stored, q, 0), eventIDs(got), "%s, %s", name, o)
			}
		}
	}},
	{"Events with an unknown Order is ErrInvalidQuery", func(t *testing.T, f *fx) {
		tenant := newID()
		require.NoError(t, f.s.Audit.Append(f.ctx, changeEvent(t, tenant, "role.create")))
		for _, o := range []audit.Order{-1, 4, 99} {
			_, err := f.s.Audit.Events(f.ctx, tenant, audit.Query{Order: o})
			assert.ErrorIs(t, err, audit.ErrInvalidQuery, "order %d", o)
		}
	}},
	// The reader-facing search: the zero Scope sees nothing (fail closed), a project
	// scope sees its projects' events and, only with TenantWide, events without a
	// project; AllProjects sees everything.
	{"Search shows only what the reader's Scope admits (uuid.Nil in Projects included), and nothing for the zero Scope", func(t *testing.T, f *fx) {
		tenant := newID()
		d, stored := f.storedFilterData(tenant, 30)
		scopes := map[string]audit.Scope{
			"zero scope":             {},
			"all projects":           {AllProjects: true},
			"one project":            {Projects: []uuid.UUID{d.projects[0]}},
			"tenant-wide only":       {TenantWide: true},
			"one project and tenant": {Projects: []uuid.UUID{d.projects[1]}, TenantWide: true},
			"a foreign project":      {Projects: []uuid.UUID{newID()}},
			// uuid.Nil is no project: it admits no tenant-wide event, in
			// Search as in Admits.
			"uuid.Nil as a project":    {Projects: []uuid.UUID{uuid.Nil}},
			"uuid.Nil and a project":   {Projects: []uuid.UUID{uuid.Nil, d.projects[0]}},
			"uuid.Nil with TenantWide": {Projects: []uuid.UUID{uuid.Nil}, TenantWide: true},
		}
		for name, sc := range scopes {
			for _, c := range append(reportQueries(d), filterQuery{"no filter", audit.Query{}, nil}) {
				q := c.q
				q.Order = audit.TimeDesc
				q.Limit = audit.MaxLimit
				page, err := audit.Search(f.ctx, f.s.Audit, tenant, sc, q, "")
				require.NoError(t, err)
				var want []uuid.UUID
				for _, id := range expect(stored, q, 0) {
					i := slices.IndexFunc(stored, func(e audit.Event) bool { return e.ID == id })
					if sc.Admits(&stored[i]) {
						want = append(want, id)
					}
				}
				assert.Equal(t, want, eventIDs(page.Events), "%s: %s", name, c.name)
				if name == "zero scope" {
					assert.Empty(t, page.Events, "the zero Scope fails closed")
				}
			}
		}
		// A Query.Project outside the scope is empty, not an error.
		page, err := audit.Search(f.ctx, f.s.Audit, tenant, scopes["one project"], audit.Query{Project: d.projects[1]}, "")
		require.NoError(t, err)
		assert.Empty(t, page.Events)
	}},
	{"Search pages with opaque cursors, newest first, and refuses a cursor of another order", func(t *testing.T, f *fx) {
		tenant := newID()
		_, stored := f.storedFilterData(tenant, 23)
		q := audit.Query{Order: audit.TimeDesc, Limit: 5}
		var ids []uuid.UUID
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10)
			page, err := audit.Search(f.ctx, f.s.Audit, tenant, audit.Scope{AllProjects: true}, q, cursor)
			require.NoError(t, err)
			ids = append(ids, eventIDs(page.Events)...)
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		assert.Equal(t, expect(stored, audit.Query{Order: audit.TimeDesc}, 0), ids)
		_, err := audit.Search(f.ctx, f.s.Audit, tenant, audit.Scope{AllProjects: true}, audit.Query{Order: audit.SeqAsc}, cursor)
		assert.ErrorIs(t, err, audit.ErrInvalidQuery, "a TimeDesc cursor used with SeqAsc")
		_, err = audit.Search(f.ctx, f.s.Audit, tenant, audit.Scope{AllProjects: true}, q, "not a cursor!")
		assert.ErrorIs(t, err, audit.ErrInvalidQuery)
	}},
	// Tenant isolation of the reader-facing functions: whatever the scope, filters
	// and cursor, tenant B's search and export never show A's events.
	{"Search, SearchAll and the exports of tenant B never include tenant A's events", func(t *testing.T, f *fx) {
		a, b := newID(), newID()
		da, storedA := f.storedFilterData(a, 12)
		_, storedB := f.storedFilterData(b, 12)
		all := audit.Scope{AllProjects: true, Projects: da.projects[:], TenantWide: true}
		aIDs := eventIDs(storedA)
		for _, c := range append(reportQueries(da), filterQuery{"no filter", audit.Query{}, nil}) {
			for _, o := range orders {
				q := c.q
				q.Order = o
				// A cursor taken from A's events must not lead into them either.
				page, err := audit.Search(f.ctx, f.s.Audit, b, all, q, audit.EncodeCursor(o, audit.PositionOf(&storedA[0])))
				require.NoError(t, err)
				for _, id := range eventIDs(page.Events) {
					assert.NotContains(t, aIDs, id, "%s/%s", o, c.name)
				}
			}
		}
		var csvOut, jsonOut bytes.Buffer
		n, err := audit.ExportCSV(f.ctx, &csvOut, audit.SearchAll(f.ctx, f.s.Audit, b, all, audit.Query{Limit: 5}))
		require.NoError(t, err)
		assert.Equal(t, len(storedB), n)
		rows, err := csv.NewReader(&csvOut).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, len(storedB)+1)
		for i, row := range rows[1:] {
			assert.Equal(t, storedB[i].ID.String(), row[1], "CSV row %d", i)
		}
		n, err = audit.ExportJSONL(f.ctx, &jsonOut, audit.SearchAll(f.ctx, f.s.Audit, b, all, audit.Query{Limit: 7}))
		require.NoError(t, err)
		assert.Equal(t, len(storedB), n)
		lines := strings.Split(strings.TrimSuffix(jsonOut.String(), "\n"), "\n")
		require.Len(t, lines, len(storedB))
		for i, l := range lines {
			var v struct{ ID, Tenant string }
			require.NoError(t, json.Unmarshal([]byte(l), &v))
			assert.Equal(t, storedB[i].ID.String(), v.ID)
			assert.Equal(t, b.String(), v.Tenant)
		}
		assert.NotContains(t, csvOut.String()+jsonOut.String(), a.String(), "tenant A appears nowhere")
	}},
}
