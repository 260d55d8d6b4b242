package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// base is the suite's reference time: UTC, with a microsecond part that a store keeping
// less than microsecond precision would lose.
var base = time.Date(2025, time.March, 14, 15, 9, 26, 535897000, time.UTC)

// at returns base+d.
func at(d time.Duration) time.Time { return base.Add(d) }

// newID returns a fresh UUIDv7, as the domain packages create them.
func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// preparer prepares events the way domain packages do before handing them to a store;
// it is never asked to store anything.
var preparer = audit.NewRecorder(nil, audit.Options{Clock: func() time.Time { return base }})

// prepared returns e after audit.Recorder.Prepare: ID and Time set, sanitized, valid.
func prepared(t testing.TB, e audit.Event) audit.Event {
	t.Helper()
	require.NoError(t, preparer.Prepare(&e))
	return e
}

// changeEvent returns the prepared change-log event an access mutation of tenant
// appends.
func changeEvent(t testing.TB, tenant uuid.UUID, action string) audit.Event {
	t.Helper()
	return prepared(t, audit.Event{
		Tenant:  tenant,
		Kind:    audit.KindChange,
		Action:  action,
		Outcome: audit.Success,
		Target:  audit.Target{Type: "test", ID: action},
	})
}

// fullEvent returns a prepared event of tenant with every field set, at time tm.
func fullEvent(t testing.TB, tenant uuid.UUID, tm time.Time) audit.Event {
	t.Helper()
	return prepared(t, audit.Event{
		Tenant: tenant,
		Time:   tm,
		Kind:   audit.KindChange,
		Action: "role.update",
		Actor: audit.Actor{
			User:      newID(),
			Role:      "Superviseur·e 监督 🛡️",
			IP:        netip.MustParseAddr("2001:db8:85a3::8a2e:370:7334"),
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
			Session:   newID(),
			Token:     newID(),
		},
		Target:  audit.Target{Type: "role", ID: newID().String(), Name: "Équipe 東京 🚀"},
		Project: newID(),
		Outcome: audit.Denied,
		Reason:  "ip_not_allowed",
		Changes: []audit.Change{
			{Field: "name", Old: "Agents", New: "Agents 東京 ✨"},
			audit.Secret("password"),
			{Field: "rights", Old: "calls.view_all", New: ""},
		},
		Details: map[string]string{
			"url":     "/api/v1/roles/42?x=1",
			"method":  "PATCH",
			"browser": "Firefox 128",
			"note":    "naïve 日本語 😀",
		},
	})
}

// fx is one case's stores and context, with builders of valid entities.
type fx struct {
	t   *testing.T
	ctx context.Context
	s   Stores
}

// tenantFx is a stored tenant with its three default roles.
type tenantFx struct {
	access.Tenant
	Admin, Supervisor, Agent access.Role
}

// tenantValue returns a valid, unstored tenant.
func tenantValue(name string) access.Tenant {
	return access.Tenant{ID: newID(), Name: name, CreatedAt: at(0), UpdatedAt: at(time.Second)}
}

// roleValue returns a valid, unstored custom role of tenant.
func roleValue(tenant uuid.UUID, name string, rights ...string) access.Role {
	return access.Role{
		ID: newID(), Tenant: tenant, Name: name, Kind: access.KindCustom, Rights: rights,
		CreatedAt: at(time.Minute), UpdatedAt: at(2 * time.Minute),
	}
}

// projectValue returns a valid, unstored project of tenant.
func projectValue(tenant uuid.UUID, name string) access.Project {
	return access.Project{ID: newID(), Tenant: tenant, Name: name, CreatedAt: at(time.Hour), UpdatedAt: at(2 * time.Hour)}
}

// defaultRoles returns the roles a tenant is created with.
func defaultRoles(tenant uuid.UUID) (admin, supervisor, agent access.Role) {
	admin = roleValue(tenant, "Admin")
	admin.Kind = access.KindAdmin
	supervisor = roleValue(tenant, "Supervisor", "calls.view_all", "reports.view")
	supervisor.Kind = access.KindSupervisor
	agent = roleValue(tenant, "Agent", "profile.edit")
	agent.Kind = access.KindAgent
	return admin, supervisor, agent
}

// createTenant stores a tenant named name with its default roles.
func (f *fx) createTenant(name string) tenantFx {
	f.t.Helper()
	tn := tenantValue(name)
	admin, supervisor, agent := defaultRoles(tn.ID)
	require.NoError(f.t, f.s.Access.CreateTenant(f.ctx, tn, []access.Role{admin, supervisor, agent},
		changeEvent(f.t, tn.ID, "tenant.create")))
	tn.Version, admin.Version, supervisor.Version, agent.Version = 1, 1, 1, 1
	return tenantFx{Tenant: tn, Admin: admin, Supervisor: supervisor, Agent: agent}
}

// createRole stores a custom role and returns it as stored.
func (f *fx) createRole(tenant uuid.UUID, name string, rights ...string) access.Role {
	f.t.Helper()
	r := roleValue(tenant, name, rights...)
	require.NoError(f.t, f.s.Access.CreateRole(f.ctx, r, changeEvent(f.t, tenant, "role.create")))
	r.Version = 1
	return r
}

// createProject stores a project and returns it as stored.
func (f *fx) createProject(tenant uuid.UUID, name string) access.Project {
	f.t.Helper()
	p := projectValue(tenant, name)
	require.NoError(f.t, f.s.Access.CreateProject(f.ctx, p, changeEvent(f.t, tenant, "project.create")))
	p.Version = 1
	return p
}

// setMember makes a new user a member of tenant with role and returns the membership.
func (f *fx) setMember(tenant, role uuid.UUID) access.Member {
	f.t.Helper()
	m := access.Member{Tenant: tenant, User: newID(), Role: role, CreatedAt: at(3 * time.Hour), UpdatedAt: at(4 * time.Hour)}
	require.NoError(f.t, f.s.Access.SetMember(f.ctx, m, changeEvent(f.t, tenant, "member.set")))
	return m
}

// setProjectMember adds user to project, with an override role or uuid.Nil.
func (f *fx) setProjectMember(tenant, project, user, role uuid.UUID) access.ProjectMember {
	f.t.Helper()
	pm := access.ProjectMember{Tenant: tenant, Project: project, User: user, Role: role, CreatedAt: at(5 * time.Hour)}
	require.NoError(f.t, f.s.Access.SetProjectMember(f.ctx, pm, changeEvent(f.t, tenant, "project_member.set")))
	return pm
}

// allEvents returns every event of tenant, paging through Events.
func (f *fx) allEvents(tenant uuid.UUID) []audit.Event {
	f.t.Helper()
	var all []audit.Event
	q := audit.Query{Limit: audit.MaxLimit}
	for {
		page, err := f.s.Audit.Events(f.ctx, tenant, q)
		require.NoError(f.t, err)
		all = append(all, page...)
		if len(page) < q.Limit {
			return all
		}
		q.AfterSeq = page[len(page)-1].Seq
	}
}

// policyView returns d as the LoadPolicy contract (access.PolicyData) defines it, for
// comparing by value: only the fields LoadPolicy fills (the tenant's ID and Name;
// roles whole; projects' ID and Tenant; members' Tenant, User, Role and Disabled;
// project memberships' Tenant, Project, User and Role), the rest zero, and every list
// but the allowlist (whose order is stored) sorted: roles and projects by ID, members
// by user, project memberships by project then user. Empty lists and rights are nil.
// Apply it to both sides: to what a case builds from its fixtures or the listing
// methods, and to what LoadPolicy returned.
func policyView(d access.PolicyData) access.PolicyData {
	out := access.PolicyData{
		Tenant:    access.Tenant{ID: d.Tenant.ID, Name: d.Tenant.Name},
		Version:   d.Version,
		Allowlist: orNil(slices.Clone(d.Allowlist)),
	}
	for _, r := range d.Roles {
		r.Rights = orNil(slices.Clone(r.Rights))
		out.Roles = append(out.Roles, r)
	}
	for _, p := range d.Projects {
		out.Projects = append(out.Projects, access.Project{ID: p.ID, Tenant: p.Tenant})
	}
	for _, m := range d.Members {
		out.Members = append(out.Members, access.Member{Tenant: m.Tenant, User: m.User, Role: m.Role, Disabled: m.Disabled})
	}
	for _, pm := range d.ProjectMembers {
		out.ProjectMembers = append(out.ProjectMembers,
			access.ProjectMember{Tenant: pm.Tenant, Project: pm.Project, User: pm.User, Role: pm.Role})
	}
	slices.SortFunc(out.Roles, func(a, b access.Role) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	slices.SortFunc(out.Projects, func(a, b access.Project) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	slices.SortFunc(out.Members, func(a, b access.Member) int { return bytes.Compare(a.User[:], b.User[:]) })
	slices.SortFunc(out.ProjectMembers, func(a, b access.ProjectMember) int {
		if c := bytes.Compare(a.Project[:], b.Project[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.User[:], b.User[:])
	})
	return out
}

// loadPolicy returns the policyView of tenant's LoadPolicy.
func (f *fx) loadPolicy(tenant uuid.UUID) access.PolicyData {
	f.t.Helper()
	pd, err := f.s.Access.LoadPolicy(f.ctx, tenant)
	require.NoError(f.t, err)
	return policyView(pd)
}

// snapshot is everything a tenant has in the stores.
type snapshot struct {
	Policy    access.PolicyData // its policyView
	PolicyErr error
	Events    []audit.Event
}

// snapshot reads everything of tenant, to compare before and after an operation that
// must change nothing. An unknown tenant has no policy data (PolicyErr is set).
func (f *fx) snapshot(tenant uuid.UUID) snapshot {
	f.t.Helper()
	pd, err := f.s.Access.LoadPolicy(f.ctx, tenant)
	return snapshot{Policy: policyView(pd), PolicyErr: err, Events: f.allEvents(tenant)}
}

// assertUnchanged checks that tenant's state is still before.
func (f *fx) assertUnchanged(before snapshot, tenant uuid.UUID, msgAndArgs ...any) {
	f.t.Helper()
	after := f.snapshot(tenant)
	assert.Equal(f.t, before.PolicyErr == nil, after.PolicyErr == nil, msgAndArgs...)
	assert.Equal(f.t, before.Policy, after.Policy, msgAndArgs...)
	assert.Equal(f.t, before.Events, after.Events, msgAndArgs...)
}

// policyVersion returns tenant's policy version.
func (f *fx) policyVersion(tenant uuid.UUID) int64 {
	f.t.Helper()
	v, err := f.s.Access.PolicyVersion(f.ctx, tenant)
	require.NoError(f.t, err)
	return v
}

// verifyChain checks that events are a tenant's whole chain: Seq 1..N, each PrevHash
// the previous Hash and each Hash recomputed with chain.
// It reports whether they are.
func verifyChain(t testing.TB, chain audit.Chain, events []audit.Event) bool {
	t.Helper()
	var prev []byte
	for i := range events {
		e := &events[i]
		ok := assert.Equal(t, int64(i+1), e.Seq, "event %d: Seq", i)
		if i == 0 {
			ok = assert.Empty(t, e.PrevHash, "first event: PrevHash") && ok
		} else {
			ok = assert.Equal(t, prev, e.PrevHash, "event Seq %d: PrevHash is not the previous Hash", e.Seq) && ok
		}
		ok = assert.Equal(t, chain.CurrentKeyID(), e.KeyID, "event Seq %d: KeyID is not the chain's current key", e.Seq) && ok
		ok = assert.Equal(t, chain.Link(prev, e), e.Hash, "event Seq %d: Hash does not re-link", e.Seq) && ok
		if !ok {
			return false
		}
		prev = e.Hash
	}
	return true
}

// tally counts errs: nil ones and those that are expected; any other error fails the
// test.
func tally(t *testing.T, errs []error, expected error) (ok, matched int) {
	t.Helper()
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, expected):
			matched++
		default:
			t.Errorf("racer %d: unexpected error: %v", i, err)
		}
	}
	return ok, matched
}

// readWhile calls read over and over on another goroutine, at least once, until read
// returns false or the returned stop is called; stop waits for the last call.
// Concurrency cases use it to check that reads racing with writes see consistent state.
func readWhile(read func() bool) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for read() {
			select {
			case <-done:
				return
			default:
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// assertTime checks that got is want, in UTC.
func assertTime(t testing.TB, want, got time.Time, field string) {
	t.Helper()
	assert.True(t, want.Equal(got), "%s: want %v, got %v", field, want, got)
	assert.Equal(t, time.UTC, got.Location(), "%s is not UTC", field)
}

func assertTenant(t testing.TB, want, got access.Tenant) {
	t.Helper()
	assertTime(t, want.CreatedAt, got.CreatedAt, "Tenant.CreatedAt")
	assertTime(t, want.UpdatedAt, got.UpdatedAt, "Tenant.UpdatedAt")
	want.CreatedAt, want.UpdatedAt, got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

func assertRole(t testing.TB, want, got access.Role) {
	t.Helper()
	assertTime(t, want.CreatedAt, got.CreatedAt, "Role.CreatedAt")
	assertTime(t, want.UpdatedAt, got.UpdatedAt, "Role.UpdatedAt")
	want.CreatedAt, want.UpdatedAt, got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	want.Rights, got.Rights = orNil(want.Rights), orNil(got.Rights)
	assert.Equal(t, want, got)
}

func assertRoles(t testing.TB, want, got []access.Role) {
	t.Helper()
	if assert.Equal(t, names(want), names(got), "role names, in order") && assert.Len(t, got, len(want)) {
		for i := range want {
			assertRole(t, want[i], got[i])
		}
	}
}

func assertProject(t testing.TB, want, got access.Project) {
	t.Helper()
	assertTime(t, want.CreatedAt, got.CreatedAt, "Project.CreatedAt")
	assertTime(t, want.UpdatedAt, got.UpdatedAt, "Project.UpdatedAt")
	want.CreatedAt, want.UpdatedAt, got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

func assertProjects(t testing.TB, want, got []access.Project) {
	t.Helper()
	if assert.Equal(t, projectNames(want), projectNames(got), "project names, in order") {
		for i := range want {
			assertProject(t, want[i], got[i])
		}
	}
}

func assertMember(t testing.TB, want, got access.Member) {
	t.Helper()
	assertTime(t, want.CreatedAt, got.CreatedAt, "Member.CreatedAt")
	assertTime(t, want.UpdatedAt, got.UpdatedAt, "Member.UpdatedAt")
	want.CreatedAt, want.UpdatedAt, got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

func assertMembers(t testing.TB, want, got []access.Member) {
	t.Helper()
	if assert.Len(t, got, len(want), "members") {
		for i := range want {
			assertMember(t, want[i], got[i])
		}
	}
}

func assertProjectMember(t testing.TB, want, got access.ProjectMember) {
	t.Helper()
	assertTime(t, want.CreatedAt, got.CreatedAt, "ProjectMember.CreatedAt")
	want.CreatedAt, got.CreatedAt = time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

func assertProjectMembers(t testing.TB, want, got []access.ProjectMember) {
	t.Helper()
	if assert.Len(t, got, len(want), "project members") {
		for i := range want {
			assertProjectMember(t, want[i], got[i])
		}
	}
}

// assertEvent checks that got is want as stored: every field equal, the time in UTC.
// Seq, PrevHash, Hash and KeyID, which the store assigns, are checked by verifyChain.
func assertEvent(t testing.TB, want, got audit.Event) {
	t.Helper()
	assertTime(t, want.Time, got.Time, "Event.Time")
	want.Time, got.Time = time.Time{}, time.Time{}
	want.Seq, want.PrevHash, want.Hash, want.KeyID = 0, nil, nil, 0
	got.Seq, got.PrevHash, got.Hash, got.KeyID = 0, nil, nil, 0
	want.Changes, got.Changes = orNil(want.Changes), orNil(got.Changes)
	if len(want.Details) == 0 {
		want.Details = nil
	}
	if len(got.Details) == 0 {
		got.Details = nil
	}
	assert.Equal(t, want, got)
}

// eventIDs returns the IDs of events, in order.
func eventIDs(events []audit.Event) []uuid.UUID {
	var ids []uuid.UUID
	for i := range events {
		ids = append(ids, events[i].ID)
	}
	return ids
}

func names(rs []access.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

func projectNames(ps []access.Project) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func orNil[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

// name returns a distinct name for the i-th of many entities.
func name(prefix string, i int) string { return fmt.Sprintf("%s %03d", prefix, i) }
