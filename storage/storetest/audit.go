package storetest

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runAudit(t *testing.T, newStores Factory) {
	runGroups(t, newStores, []group{
		{"append and query", auditCases},
		{"event IDs per tenant", auditIDCases},
		{"concurrency", auditConcurrencyCases},
		{"search", auditSearchCases},
		{"verification and retention", auditRetentionCases},
		{"key rotation", auditKeyCases},
		{"key retirement", auditKeyRetirementCases},
	})
}

var auditCases = []testCase{
	// Every field, including an IPv6 actor address, redacted changes, details and
	// Unicode text, survives the round trip; so does the system actor's zero Actor
	// (no user, no address) and an event with no changes or details.
	{"Append stores every field of an event, and Events returns it", func(t *testing.T, f *fx) {
		tenant := newID()
		full := fullEvent(t, tenant, at(time.Minute))
		ipv4 := fullEvent(t, tenant, at(2*time.Minute))
		ipv4.Actor.IP = netip.MustParseAddr("203.0.113.9")
		ipv4.Kind, ipv4.Action, ipv4.Outcome, ipv4.Reason = audit.KindLogin, "login", audit.Failure, "wrong_password"
		system := prepared(t, audit.Event{Tenant: tenant, Kind: "retention.purge", Action: "purge", Outcome: audit.Success, Time: at(3 * time.Minute)})
		// An IPv4-mapped IPv6 address stays IPv6, a zone is kept, and free text of
		// MaxFieldLen bytes is kept whole.
		mapped := fullEvent(t, tenant, at(4*time.Minute))
		mapped.Actor.IP = netip.MustParseAddr("::ffff:192.0.2.33")
		zoned := fullEvent(t, tenant, at(5*time.Minute))
		zoned.Actor.IP = netip.MustParseAddr("fe80::1%eth0")
		zoned.Reason = strings.Repeat("é", audit.MaxFieldLen/2)
		zoned.Actor.UserAgent = strings.Repeat("東京", audit.MaxFieldLen/6) + "abcd"
		require.Len(t, zoned.Actor.UserAgent, audit.MaxFieldLen)
		require.NoError(t, f.s.Audit.Append(f.ctx, full, ipv4, system, mapped, zoned))

		got := f.allEvents(tenant)
		require.Len(t, got, 5)
		assertEvent(t, full, got[0])
		assertEvent(t, ipv4, got[1])
		assertEvent(t, system, got[2])
		assertEvent(t, mapped, got[3])
		assertEvent(t, zoned, got[4])
		assert.False(t, got[2].Actor.IP.IsValid(), "the system actor has no address")
		verifyChain(t, f.s.Chain, got)
	}},
	// The store, not the caller, assigns the chain fields: whatever Seq, PrevHash,
	// Hash and KeyID an event carries, it is stored as the next link, under the
	// chain's current key.
	{"Append assigns Seq from 1 and links each Hash to the previous one, ignoring chain fields passed in", func(t *testing.T, f *fx) {
		tenant := newID()
		for i := range 5 {
			e := changeEvent(t, tenant, "role.update")
			e.Seq, e.PrevHash, e.Hash, e.KeyID = 99, []byte("forged prev"), []byte("forged hash"), 77
			if i == 0 {
				e.Seq = 0
			}
			require.NoError(t, f.s.Audit.Append(f.ctx, e))
		}
		got := f.allEvents(tenant)
		require.Len(t, got, 5)
		verifyChain(t, f.s.Chain, got)
	}},
	// Events come back in Seq (append) order, not Time order, and a batch spanning two
	// tenants extends each tenant's own chain.
	{"Append of several events stores them in the order given, each in its tenant's own chain", func(t *testing.T, f *fx) {
		a, b := newID(), newID()
		batch := []audit.Event{
			fullEvent(t, a, at(5*time.Minute)),
			fullEvent(t, b, at(time.Minute)),
			fullEvent(t, a, at(time.Minute)), // earlier than the one before it
			fullEvent(t, a, at(3*time.Minute)),
			fullEvent(t, b, at(2*time.Minute)),
		}
		require.NoError(t, f.s.Audit.Append(f.ctx, batch...))
		require.NoError(t, f.s.Audit.Append(f.ctx, changeEvent(t, b, "role.create")))
		gotA, gotB := f.allEvents(a), f.allEvents(b)
		assert.Equal(t, eventIDs([]audit.Event{batch[0], batch[2], batch[3]}), eventIDs(gotA))
		assert.Equal(t, []uuid.UUID{batch[1].ID, batch[4].ID}, eventIDs(gotB)[:2])
		assert.Len(t, gotB, 3)
		verifyChain(t, f.s.Chain, gotA)
		verifyChain(t, f.s.Chain, gotB)
	}},
	{"Append of no events stores nothing and succeeds", func(t *testing.T, f *fx) {
		require.NoError(t, f.s.Audit.Append(f.ctx))
		tenant := newID()
		require.NoError(t, f.s.Audit.Append(f.ctx, changeEvent(t, tenant, "role.create")))
		require.NoError(t, f.s.Audit.Append(f.ctx))
		got := f.allEvents(tenant)
		assert.Len(t, got, 1)
		verifyChain(t, f.s.Chain, got)
	}},
	// A batch is all or none: an event ID already stored (or repeated in the batch)
	// fails the whole batch, and the chain head does not move.
	{"Append of a batch holding a duplicate event ID is ErrConflict and stores none of it", func(t *testing.T, f *fx) {
		tenant := newID()
		first := changeEvent(t, tenant, "role.create")
		require.NoError(t, f.s.Audit.Append(f.ctx, first))

		dupStored := changeEvent(t, tenant, "role.update")
		dupStored.ID = first.ID
		err := f.s.Audit.Append(f.ctx, changeEvent(t, tenant, "role.update"), dupStored)
		assert.ErrorIs(t, err, storage.ErrConflict, "an ID already stored")
		assert.ErrorIs(t, err, audit.ErrDuplicateEvent, "an ID already stored")

		twice := changeEvent(t, tenant, "role.delete")
		err = f.s.Audit.Append(f.ctx, changeEvent(t, tenant, "role.update"), twice, twice)
		assert.ErrorIs(t, err, storage.ErrConflict, "an ID repeated in the batch")
		assert.ErrorIs(t, err, audit.ErrDuplicateEvent, "an ID repeated in the batch")

		// The failure of one tenant's event fails the other tenants' events of the batch.
		other := newID()
		err = f.s.Audit.Append(f.ctx, changeEvent(t, other, "role.update"), dupStored)
		assert.ErrorIs(t, err, storage.ErrConflict, "a batch spanning two tenants")
		assert.Empty(t, f.allEvents(other))

		got := f.allEvents(tenant)
		assert.Equal(t, []uuid.UUID{first.ID}, eventIDs(got))

		next := changeEvent(t, tenant, "role.update")
		require.NoError(t, f.s.Audit.Append(f.ctx, next))
		got = f.allEvents(tenant)
		assert.Equal(t, []uuid.UUID{first.ID, next.ID}, eventIDs(got))
		verifyChain(t, f.s.Chain, got)
	}},
	{"Events of a tenant with no events is empty", func(t *testing.T, f *fx) {
		require.NoError(t, f.s.Audit.Append(f.ctx, changeEvent(t, newID(), "role.create")))
		got, err := f.s.Audit.Events(f.ctx, newID(), audit.Query{})
		require.NoError(t, err)
		assert.Empty(t, got)
	}},
	// From is inclusive and To exclusive, to the microsecond.
	{"Events filters by period, From inclusive and To exclusive", func(t *testing.T, f *fx) {
		tenant := newID()
		var evs []audit.Event
		for i := range 6 {
			evs = append(evs, fullEvent(t, tenant, at(time.Duration(i)*time.Second)))
		}
		require.NoError(t, f.s.Audit.Append(f.ctx, evs...))
		cases := []struct {
			q    audit.Query
			want []int
		}{
			{audit.Query{From: at(2 * time.Second)}, []int{2, 3, 4, 5}},
			{audit.Query{From: at(2*time.Second + time.Microsecond)}, []int{3, 4, 5}},
			{audit.Query{To: at(2 * time.Second)}, []int{0, 1}},
			{audit.Query{To: at(2*time.Second + time.Microsecond)}, []int{0, 1, 2}},
			{audit.Query{From: at(time.Second), To: at(4 * time.Second)}, []int{1, 2, 3}},
			{audit.Query{From: at(3 * time.Second), To: at(3 * time.Second)}, nil},
			{audit.Query{From: at(time.Hour)}, nil},
			// A non-UTC bound names the same instant.
			{audit.Query{From: at(4 * time.Second).In(time.FixedZone("UTC+9", 9*3600))}, []int{4, 5}},
		}
		for _, c := range cases {
			got, err := f.s.Audit.Events(f.ctx, tenant, c.q)
			require.NoError(t, err)
			assert.Equal(t, pick(evs, c.want...), eventIDs(got), "From %v To %v", c.q.From, c.q.To)
		}
	}},
	{"Events filters by kind, action, actor, target, project and outcome", func(t *testing.T, f *fx) {
		tenant := newID()
		d := newFilterData(t, tenant, 36)
		require.NoError(t, f.s.Audit.Append(f.ctx, d.events...))
		for _, c := range d.queries() {
			got, err := f.s.Audit.Events(f.ctx, tenant, c.q)
			require.NoError(t, err)
			want := d.matching(c.match)
			require.NotEmpty(t, want, "%s: the data must hold matching events", c.name)
			assert.Equal(t, want, eventIDs(got), c.name)
		}
	}},
	{"Events pages with AfterSeq and Limit, visiting every event once, in Seq order", func(t *testing.T, f *fx) {
		tenant := newID()
		d := newFilterData(t, tenant, 37)
		require.NoError(t, f.s.Audit.Append(f.ctx, d.events...))
		for _, c := range append(d.queries(), filterQuery{"no filter", audit.Query{}, func(*audit.Event) bool { return true }}) {
			var ids []uuid.UUID
			q := c.q
			q.Limit = 4
			for pages := 0; ; pages++ {
				require.Less(t, pages, 40, "%s: pagination does not end", c.name)
				page, err := f.s.Audit.Events(f.ctx, tenant, q)
				require.NoError(t, err)
				require.LessOrEqual(t, len(page), q.Limit)
				for _, e := range page {
					require.Greater(t, e.Seq, q.AfterSeq, "%s: an event at or before the cursor", c.name)
					q.AfterSeq = e.Seq
					ids = append(ids, e.ID)
				}
				if len(page) < q.Limit {
					break
				}
			}
			assert.Equal(t, d.matching(c.match), ids, c.name)
		}
	}},
	// Limit 0 (or negative) is DefaultLimit; a Limit over MaxLimit is capped at it.
	{"Events returns at most Query.EffectiveLimit events", func(t *testing.T, f *fx) {
		tenant := newID()
		evs := make([]audit.Event, audit.MaxLimit+1)
		for i := range evs {
			evs[i] = changeEvent(t, tenant, "role.update")
		}
		require.NoError(t, f.s.Audit.Append(f.ctx, evs...))
		for _, limit := range []int{0, -1, 1, 7, audit.DefaultLimit + 1, audit.MaxLimit, audit.MaxLimit + 1, 1 << 30} {
			q := audit.Query{Limit: limit}
			got, err := f.s.Audit.Events(f.ctx, tenant, q)
			require.NoError(t, err)
			if assert.Len(t, got, q.EffectiveLimit(), "Limit %d", limit) {
				assert.Equal(t, eventIDs(evs[:len(got)]), eventIDs(got), "Limit %d: the oldest first", limit)
			}
		}
		got, err := f.s.Audit.Events(f.ctx, tenant, audit.Query{AfterSeq: audit.MaxLimit - 2, Limit: audit.MaxLimit})
		require.NoError(t, err)
		assert.Equal(t, eventIDs(evs[audit.MaxLimit-2:]), eventIDs(got), "the last page")
	}},
	// Another tenant's events never show, even when every filter matches them.
	{"Events of a tenant never include another tenant's events", func(t *testing.T, f *fx) {
		a, b := newID(), newID()
		ea := fullEvent(t, a, at(time.Minute))
		eb := fullEvent(t, b, at(time.Minute))
		require.NoError(t, f.s.Audit.Append(f.ctx, ea, eb))
		for name, q := range map[string]audit.Query{
			"no filter":        {},
			"A's user":         {User: ea.Actor.User},
			"A's target":       {Target: ea.Target.ID},
			"A's project":      {Project: ea.Project},
			"A's every filter": {From: ea.Time, To: ea.Time.Add(time.Microsecond), Kind: ea.Kind, Action: ea.Action, User: ea.Actor.User, Target: ea.Target.ID, Project: ea.Project, Outcome: ea.Outcome},
		} {
			got, err := f.s.Audit.Events(f.ctx, b, q)
			require.NoError(t, err)
			assert.NotContains(t, eventIDs(got), ea.ID, name)
		}
		got, err := f.s.Audit.Events(f.ctx, uuid.Nil, audit.Query{})
		require.NoError(t, err)
		assert.Empty(t, got, "the nil tenant")
	}},
	// Neither the events passed to Append nor those returned share memory with the
	// store (SQL adapters pass trivially; an in-memory adapter must copy).
	{"events passed in and returned are copies", func(t *testing.T, f *fx) {
		tenant := newID()
		e := fullEvent(t, tenant, at(time.Minute))
		want := e
		want.Changes = append([]audit.Change(nil), e.Changes...)
		want.Details = map[string]string{}
		for k, v := range e.Details {
			want.Details[k] = v
		}
		require.NoError(t, f.s.Audit.Append(f.ctx, e))
		e.Changes[0].New = "tampered"
		e.Details["url"] = "tampered"

		got := f.allEvents(tenant)
		require.Len(t, got, 1)
		got[0].Changes[0].Old = "tampered"
		got[0].Details["method"] = "tampered"
		got[0].Hash[0] ^= 0xff
		got[0].PrevHash = append(got[0].PrevHash, 1)

		again := f.allEvents(tenant)
		require.Len(t, again, 1)
		assertEvent(t, want, again[0])
		verifyChain(t, f.s.Chain, again)
	}},
}

var auditConcurrencyCases = []testCase{
	// Many writers appending to one tenant at once never fork the chain or reuse a
	// Seq: the store serialises appends on the tenant's chain head.
	{"concurrent Append to one tenant from 50 goroutines yields Seq 1..N with every link valid", func(t *testing.T, f *fx) {
		tenant := newID()
		// Half the appends are of one event, half of three.
		batches := make([][]audit.Event, racers)
		var all []audit.Event
		for i := range batches {
			batches[i] = []audit.Event{changeEvent(t, tenant, "role.update")}
			if i%2 == 0 {
				batches[i] = append(batches[i], changeEvent(t, tenant, "role.update"), changeEvent(t, tenant, "role.update"))
			}
			all = append(all, batches[i]...)
		}
		// A reader racing with the writers sees a gap-free, valid prefix of the chain.
		stop := readWhile(func() bool {
			page, err := f.s.Audit.Events(f.ctx, tenant, audit.Query{Limit: audit.MaxLimit})
			return assert.NoError(t, err) && verifyChain(t, f.s.Chain, page)
		})
		errs := race(racers, func(i int) error { return f.s.Audit.Append(f.ctx, batches[i]...) })
		stop()
		for i, err := range errs {
			assert.NoError(t, err, "writer %d", i)
		}
		got := f.allEvents(tenant)
		assert.Len(t, got, len(all))
		verifyChain(t, f.s.Chain, got)
		assert.ElementsMatch(t, eventIDs(all), eventIDs(got), "every event stored once")
		// A batch's events are consecutive links, in the order given.
		pos := make(map[uuid.UUID]int, len(got))
		for i, e := range got {
			pos[e.ID] = i
		}
		for _, b := range batches {
			for j := 1; j < len(b); j++ {
				assert.Equal(t, pos[b[0].ID]+j, pos[b[j].ID], "a batch was interleaved with another append")
			}
		}
	}},
	{"concurrent Append to several tenants keeps one valid chain per tenant", func(t *testing.T, f *fx) {
		const tenants = 4
		ids := make([]uuid.UUID, tenants)
		for i := range ids {
			ids[i] = newID()
		}
		// Each batch spans every tenant, in a rotating order.
		batches := make([][]audit.Event, writers)
		for w := range batches {
			for i := range tenants {
				batches[w] = append(batches[w], changeEvent(t, ids[(w+i)%tenants], "role.update"))
			}
		}
		for i, err := range race(writers, func(i int) error { return f.s.Audit.Append(f.ctx, batches[i]...) }) {
			assert.NoError(t, err, "writer %d", i)
		}
		for _, id := range ids {
			got := f.allEvents(id)
			assert.Len(t, got, writers)
			verifyChain(t, f.s.Chain, got)
		}
	}},
}

// pick returns the IDs of evs at the given indexes.
func pick(evs []audit.Event, idx ...int) []uuid.UUID {
	var out []uuid.UUID
	for _, i := range idx {
		out = append(out, evs[i].ID)
	}
	return out
}

// filterData is a tenant's events spread over every filterable field, so that each
// filter selects some events and leaves out others.
type filterData struct {
	events   []audit.Event
	users    [2]uuid.UUID
	projects [2]uuid.UUID
	targets  [3]string
}

func newFilterData(t testing.TB, tenant uuid.UUID, n int) *filterData {
	d := &filterData{
		users:    [2]uuid.UUID{newID(), newID()},
		projects: [2]uuid.UUID{newID(), newID()},
		targets:  [3]string{newID().String(), newID().String(), "t-3"},
	}
	kinds := []audit.Kind{audit.KindChange, audit.KindLogin, audit.KindAction, audit.KindRecording, audit.KindSession}
	actions := []string{"role.update", "login", "page.view", "recording.listen"}
	outcomes := []audit.Outcome{audit.Success, audit.Failure, audit.Denied}
	for i := range n {
		e := audit.Event{
			Tenant:  tenant,
			Time:    at(time.Duration(i) * time.Minute),
			Kind:    kinds[i%len(kinds)],
			Action:  actions[i%len(actions)],
			Target:  audit.Target{Type: "thing", ID: d.targets[i%3]},
			Outcome: outcomes[i%len(outcomes)],
		}
		if i%3 != 2 { // some events have no actor user, some no project
			e.Actor.User = d.users[i%2]
		}
		if i%4 != 3 {
			e.Project = d.projects[i%2]
		}
		d.events = append(d.events, prepared(t, e))
	}
	return d
}

// filterQuery is a query and the predicate it must be equivalent to.
type filterQuery struct {
	name  string
	q     audit.Query
	match func(*audit.Event) bool
}

func (d *filterData) queries() []filterQuery {
	return []filterQuery{
		{"Kind", audit.Query{Kind: audit.KindLogin}, func(e *audit.Event) bool { return e.Kind == audit.KindLogin }},
		{"Action", audit.Query{Action: "page.view"}, func(e *audit.Event) bool { return e.Action == "page.view" }},
		{"User", audit.Query{User: d.users[1]}, func(e *audit.Event) bool { return e.Actor.User == d.users[1] }},
		{"Target", audit.Query{Target: d.targets[2]}, func(e *audit.Event) bool { return e.Target.ID == d.targets[2] }},
		{"Project", audit.Query{Project: d.projects[0]}, func(e *audit.Event) bool { return e.Project == d.projects[0] }},
		{"Outcome", audit.Query{Outcome: audit.Denied}, func(e *audit.Event) bool { return e.Outcome == audit.Denied }},
		{"User and Outcome", audit.Query{User: d.users[0], Outcome: audit.Success}, func(e *audit.Event) bool {
			return e.Actor.User == d.users[0] && e.Outcome == audit.Success
		}},
		{"Kind, Project and period", audit.Query{Kind: audit.KindChange, Project: d.projects[0], From: at(5 * time.Minute), To: at(31 * time.Minute)},
			func(e *audit.Event) bool {
				return e.Kind == audit.KindChange && e.Project == d.projects[0] &&
					!e.Time.Before(at(5*time.Minute)) && e.Time.Before(at(31*time.Minute))
			}},
		{"Action and Target", audit.Query{Action: "login", Target: d.targets[1]}, func(e *audit.Event) bool {
			return e.Action == "login" && e.Target.ID == d.targets[1]
		}},
		// The SQL adapter's target index leaves out the action log (migration 0005);
		// the results must not differ.
		{"Kind action and Target", audit.Query{Kind: audit.KindAction, Target: d.targets[0]}, func(e *audit.Event) bool {
			return e.Kind == audit.KindAction && e.Target.ID == d.targets[0]
		}},
		{"Kind session and Target", audit.Query{Kind: audit.KindSession, Target: d.targets[1]}, func(e *audit.Event) bool {
			return e.Kind == audit.KindSession && e.Target.ID == d.targets[1]
		}},
	}
}

// matching returns the IDs of the events match accepts, in append order.
func (d *filterData) matching(match func(*audit.Event) bool) []uuid.UUID {
	var out []uuid.UUID
	for i := range d.events {
		if match(&d.events[i]) {
			out = append(out, d.events[i].ID)
		}
	}
	return out
}
