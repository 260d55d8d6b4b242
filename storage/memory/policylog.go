package memory

import (
	"context"
	"slices"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
)

// The memory adapter's policy change log (access.ChangeStore): each unit of work that
// increments a tenant's policy version records what it touched (ts.touch), and
// PolicyChanges tells an engine what changed after its version. A unit of work that
// bumps the version without touching anything (an authn path that does not name its
// user) is logged as a full change: the engine then loads the whole policy, so nothing
// is ever missed, only done the slow way.

var _ access.ChangeStore = (*Store)(nil)

// changeLogLen is how many versions the log keeps per tenant; an engine further
// behind loads the whole policy.
const changeLogLen = 1024

const (
	touchTenant = 1 << iota
	touchRoles
	touchProjects
	touchAllowlist
	touchUsers
	touchFull
)

// changeLog is one tenant's log: the touches of the running unit of work, and the
// last changeLogLen versions' changes.
type changeLog struct {
	pending      uint8
	pendingUsers []uuid.UUID
	entries      []loggedChange // by version, contiguous
}

type loggedChange struct {
	version int64
	kinds   uint8
	users   []uuid.UUID
}

// touch records that the running unit of work changed kind (and, for touchUsers, the
// given users).
func (ts *tenantState) touch(kind uint8, users ...uuid.UUID) {
	if ts.changes == nil {
		ts.changes = &changeLog{}
	}
	ts.changes.pending |= kind
	ts.changes.pendingUsers = append(ts.changes.pendingUsers, users...)
}

// beginChanges forgets the touches of a unit of work that did not commit.
func (ts *tenantState) beginChanges() {
	if ts.changes != nil {
		ts.changes.pending, ts.changes.pendingUsers = 0, nil
	}
}

// commitChanges logs the touches under the version the unit of work moved to.
func (ts *tenantState) commitChanges(version int64) {
	if ts.changes == nil {
		ts.changes = &changeLog{}
	}
	c := ts.changes
	kinds := c.pending
	if kinds == 0 {
		kinds = touchFull
	}
	c.entries = append(c.entries, loggedChange{version: version, kinds: kinds, users: c.pendingUsers})
	if len(c.entries) > changeLogLen {
		c.entries = slices.Delete(c.entries, 0, len(c.entries)-changeLogLen)
	}
	c.pending, c.pendingUsers = 0, nil
}

// PolicyChanges returns what changed in the tenant's policy data after version since
// (see access.ChangeStore): Full when the log does not reach back to since, when a
// change was not itemised, or when more than a quarter of the members (at least 4,096
// users) changed. An unknown tenant is storage.ErrNotFound.
func (s *Store) PolicyChanges(ctx context.Context, tenant uuid.UUID, since int64) (access.PolicyChanges, error) {
	var ch access.PolicyChanges
	err := s.read(ctx, tenant, func(ts *tenantState) error {
		ch.Version = ts.policyVersion
		if since == ts.policyVersion {
			return nil
		}
		var entries []loggedChange
		if ts.changes != nil {
			entries = ts.changes.entries
		}
		i, _ := slices.BinarySearchFunc(entries, since+1, func(e loggedChange, v int64) int { return int(e.version - v) })
		if since > ts.policyVersion || i == len(entries) || entries[i].version != since+1 {
			ch.Full = true
			return nil
		}
		var kinds uint8
		users := map[uuid.UUID]struct{}{}
		for _, e := range entries[i:] {
			kinds |= e.kinds
			for _, u := range e.users {
				users[u] = struct{}{}
			}
		}
		if kinds&touchFull != 0 || len(users) > max(4096, len(ts.members)/4) {
			ch.Full = true
			return nil
		}
		if kinds&touchTenant != 0 {
			t := ts.tenant
			ch.Tenant = &t
		}
		if kinds&touchRoles != 0 {
			ch.Roles, ch.RolesChanged = ts.policyRoles(), true
		}
		if kinds&touchProjects != 0 {
			ch.Projects, ch.ProjectsChanged = ts.sortedProjects(), true
		}
		if kinds&touchAllowlist != 0 {
			ch.Allowlist, ch.AllowlistChanged = slices.Clone(ts.allowlist), true
		}
		as := s.accountsOf(tenant)
		for u := range users {
			ch.Users = append(ch.Users, u)
			if m, ok := ts.members[u]; ok {
				m.Disabled = !canSignIn(as, u)
				ch.Members = append(ch.Members, m)
			}
		}
		slices.SortFunc(ch.Users, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
		for _, pms := range ts.projectMembers {
			for _, u := range ch.Users {
				if pm, ok := pms[u]; ok {
					ch.ProjectMembers = append(ch.ProjectMembers, pm)
				}
			}
		}
		return nil
	})
	return ch, err
}
