package memory

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// CreateTenant stores t with Version 1 and policy version 1, with its initial roles
// (each stored with Version 1), and appends ev. A tenant or role ID already stored, or
// two roles of one name, is storage.ErrConflict; a role whose Tenant is not t.ID is
// storage.ErrNotFound. On error nothing is stored.
func (s *Store) CreateTenant(ctx context.Context, t access.Tenant, roles []access.Role, ev audit.Event) error {
	if err := live(ctx); err != nil {
		return err
	}
	ev, err := eventOf(t.ID, ev)
	if err != nil {
		return err
	}
	t.CreatedAt, t.UpdatedAt, t.Version = utc(t.CreatedAt), utc(t.UpdatedAt), 1
	ts := &tenantState{
		tenant:         t,
		policyVersion:  1,
		roles:          make(map[uuid.UUID]access.Role, len(roles)),
		projects:       make(map[uuid.UUID]access.Project),
		members:        make(map[uuid.UUID]access.Member),
		projectMembers: make(map[uuid.UUID]map[uuid.UUID]access.ProjectMember),
	}
	for _, r := range roles {
		if r.Tenant != t.ID {
			return fmt.Errorf("memory: initial role %s is of tenant %s, not %s: %w", r.ID, r.Tenant, t.ID, storage.ErrNotFound)
		}
		if _, dup := ts.roles[r.ID]; dup {
			return fmt.Errorf("memory: role %s: %w", r.ID, storage.ErrConflict)
		}
		if ts.roleNamed(r.Name) {
			return fmt.Errorf("memory: role name %q: %w", r.Name, storage.ErrConflict)
		}
		ts.roles[r.ID] = newRole(r)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.tenants[t.ID]; dup {
		return fmt.Errorf("memory: tenant %s: %w", t.ID, storage.ErrConflict)
	}
	for id := range ts.roles {
		if _, dup := s.roleIDs[id]; dup {
			return fmt.Errorf("memory: role %s: %w", id, storage.ErrConflict)
		}
	}
	if err := s.checkEventIDs(ev); err != nil {
		return err
	}
	s.tenants[t.ID] = ts
	for id := range ts.roles {
		s.roleIDs[id] = struct{}{}
	}
	s.appendLocked(ev)
	return nil
}

// Tenant returns a tenant, or storage.ErrNotFound.
func (s *Store) Tenant(ctx context.Context, id uuid.UUID) (access.Tenant, error) {
	var t access.Tenant
	err := s.read(ctx, id, func(ts *tenantState) error {
		t = ts.tenant
		return nil
	})
	return t, err
}

// UpdateTenant stores t's Name and UpdatedAt with Version+1, if t.Version is the stored
// version (storage.ErrStale otherwise).
func (s *Store) UpdateTenant(ctx context.Context, t access.Tenant, ev audit.Event) error {
	return s.mutate(ctx, t.ID, ev, func(ts *tenantState) error {
		cur := ts.tenant
		if cur.Version != t.Version {
			return stale("tenant", t.ID, t.Version)
		}
		cur.Name, cur.UpdatedAt, cur.Version = t.Name, utc(t.UpdatedAt), cur.Version+1
		ts.tenant = cur
		ts.touch(touchTenant)
		return nil
	})
}

// CreateRole stores r with Version 1. An unknown tenant is storage.ErrNotFound; an ID
// already stored or a name already used in the tenant is storage.ErrConflict.
func (s *Store) CreateRole(ctx context.Context, r access.Role, ev audit.Event) error {
	return s.mutate(ctx, r.Tenant, ev, func(ts *tenantState) error {
		if _, dup := s.roleIDs[r.ID]; dup {
			return fmt.Errorf("memory: role %s: %w", r.ID, storage.ErrConflict)
		}
		if ts.roleNamed(r.Name) {
			return fmt.Errorf("memory: role name %q: %w", r.Name, storage.ErrConflict)
		}
		ts.roles[r.ID] = newRole(r)
		s.roleIDs[r.ID] = struct{}{}
		ts.touch(touchRoles)
		return nil
	})
}

// Role returns one role of the tenant, or storage.ErrNotFound.
func (s *Store) Role(ctx context.Context, tenant, id uuid.UUID) (access.Role, error) {
	var r access.Role
	err := s.read(ctx, tenant, func(ts *tenantState) error {
		cur, ok := ts.roles[id]
		if !ok {
			return notFound("role", id)
		}
		r = cloneRole(cur)
		return nil
	})
	return r, err
}

// Roles returns the tenant's roles ordered by name (byte-wise).
func (s *Store) Roles(ctx context.Context, tenant uuid.UUID) ([]access.Role, error) {
	var rs []access.Role
	err := s.read(ctx, tenant, func(ts *tenantState) error {
		rs = ts.sortedRoles()
		return nil
	})
	return rs, err
}

// UpdateRole stores r's Name, Rights and UpdatedAt with Version+1. Kind, CreatedAt and
// Tenant are never changed. An unknown role is storage.ErrNotFound, a version mismatch
// storage.ErrStale, a name used by another role of the tenant storage.ErrConflict.
func (s *Store) UpdateRole(ctx context.Context, r access.Role, ev audit.Event) error {
	return s.mutate(ctx, r.Tenant, ev, func(ts *tenantState) error {
		cur, ok := ts.roles[r.ID]
		switch {
		case !ok:
			return notFound("role", r.ID)
		case cur.Version != r.Version:
			return stale("role", r.ID, r.Version)
		case r.Name != cur.Name && ts.roleNamed(r.Name):
			return fmt.Errorf("memory: role name %q: %w", r.Name, storage.ErrConflict)
		}
		cur.Name, cur.Rights = r.Name, slices.Clone(r.Rights)
		cur.UpdatedAt, cur.Version = utc(r.UpdatedAt), cur.Version+1
		ts.roles[r.ID] = cur
		ts.touch(touchRoles)
		return nil
	})
}

// DeleteRole deletes a role. An unknown role is storage.ErrNotFound; a role that is a
// member's tenant role or a project override is access.ErrRoleInUse.
func (s *Store) DeleteRole(ctx context.Context, tenant, id uuid.UUID, ev audit.Event) error {
	return s.mutate(ctx, tenant, ev, func(ts *tenantState) error {
		if _, ok := ts.roles[id]; !ok {
			return notFound("role", id)
		}
		for _, m := range ts.members {
			if m.Role == id {
				return fmt.Errorf("memory: role %s is a member's role: %w", id, access.ErrRoleInUse)
			}
		}
		for _, pms := range ts.projectMembers {
			for _, pm := range pms {
				if pm.Role == id {
					return fmt.Errorf("memory: role %s is a project override: %w", id, access.ErrRoleInUse)
				}
			}
		}
		delete(ts.roles, id)
		delete(s.roleIDs, id)
		ts.touch(touchRoles)
		return nil
	})
}

// CreateProject stores p with Version 1. An unknown tenant is storage.ErrNotFound; an
// ID already stored or a name already used in the tenant is storage.ErrConflict.
func (s *Store) CreateProject(ctx context.Context, p access.Project, ev audit.Event) error {
	return s.mutate(ctx, p.Tenant, ev, func(ts *tenantState) error {
		if _, dup := s.projectIDs[p.ID]; dup {
			return fmt.Errorf("memory: project %s: %w", p.ID, storage.ErrConflict)
		}
		if ts.projectNamed(p.Name) {
			return fmt.Errorf("memory: project name %q: %w", p.Name, storage.ErrConflict)
		}
		p.CreatedAt, p.UpdatedAt, p.Version = utc(p.CreatedAt), utc(p.UpdatedAt), 1
		ts.projects[p.ID] = p
		s.projectIDs[p.ID] = struct{}{}
		ts.touch(touchProjects)
		return nil
	})
}

// Project returns one project of the tenant, or storage.ErrNotFound.
func (s *Store) Project(ctx context.Context, tenant, id uuid.UUID) (access.Project, error) {
	var p access.Project
	err := s.read(ctx, tenant, func(ts *tenantState) error {
		var ok bool
		if p, ok = ts.projects[id]; !ok {
			return notFound("project", id)
		}
		return nil
	})
	return p, err
}

// Projects returns the tenant's projects ordered by name (byte-wise).
func (s *Store) Projects(ctx context.Context, tenant uuid.UUID) ([]access.Project, error) {
	var ps []access.Project
	err := s.read(ctx, tenant, func(ts *tenantState) error {
		ps = ts.sortedProjects()
		return nil
	})
	return ps, err
}

// UpdateProject stores p's Name and UpdatedAt with Version+1. An unknown project is
// storage.ErrNotFound, a version mismatch storage.ErrStale, a name used by another
// project of the tenant storage.ErrConflict.
func (s *Store) UpdateProject(ctx context.Context, p access.Project, ev audit.Event) error {
	return s.mutate(ctx, p.Tenant, ev, func(ts *tenantState) error {
		cur, ok := ts.projects[p.ID]
		switch {
		case !ok:
			return notFound("project", p.ID)
		case cur.Version != p.Version:
			return stale("project", p.ID, p.Version)
		case p.Name != cur.Name && ts.projectNamed(p.Name):
			return fmt.Errorf("memory: project name %q: %w", p.Name, storage.ErrConflict)
		}
		cur.Name, cur.UpdatedAt, cur.Version = p.Name, utc(p.UpdatedAt), cur.Version+1
		ts.projects[p.ID] = cur
		ts.touch(touchProjects)
		return nil
	})
}

// DeleteProject deletes a project and its memberships, or returns storage.ErrNotFound.
func (s *Store) DeleteProject(ctx context.Context, tenant, id uuid.UUID, ev audit.Event) error {
	return s.mutate(ctx, tenant, ev, func(ts *tenantState) error {
		if _, ok := ts.projects[id]; !ok {
			return notFound("project", id)
		}
		ts.touch(touchProjects)
		for u := range ts.projectMembers[id] {
			ts.touch(touchUsers, u)
		}
		delete(ts.projects, id)
		delete(ts.projectMembers, id)
		delete(s.projectIDs, id)
		return nil
	})
}

// SetMember creates or replaces the user's tenant membership; CreatedAt is kept on
// replace. A role that is not the tenant's is storage.ErrNotFound. Giving the tenant's
// last Admin member, or its last Admin who can sign in, a role of another kind is
// access.ErrLastAdmin (see lastAdmin).
func (s *Store) SetMember(ctx context.Context, m access.Member, ev audit.Event) error {
	return s.mutate(ctx, m.Tenant, ev, func(ts *tenantState) error {
		if _, ok := ts.roles[m.Role]; !ok {
			return notFound("role", m.Role)
		}
		m.CreatedAt, m.UpdatedAt = utc(m.CreatedAt), utc(m.UpdatedAt)
		m.Disabled = false // derived from the account on every read, never stored
		if cur, ok := ts.members[m.User]; ok {
			m.CreatedAt = cur.CreatedAt
			if ts.roles[m.Role].Kind != access.KindAdmin && ts.lastAdmin(s.accountsOf(m.Tenant), m.User) {
				return access.ErrLastAdmin
			}
		}
		ts.members[m.User] = m
		ts.touch(touchUsers, m.User)
		return nil
	})
}

// Member returns a user's tenant membership, or storage.ErrNotFound.
func (s *Store) Member(ctx context.Context, tenant, user uuid.UUID) (access.Member, error) {
	var m access.Member
	err := s.read(ctx, tenant, func(ts *tenantState) error {
		var ok bool
		if m, ok = ts.members[user]; !ok {
			return notFound("member", user)
		}
		m.Disabled = !canSignIn(s.accountsOf(tenant), user)
		return nil
	})
	return m, err
}

// Members returns the tenant's members ordered by user ID (byte-wise).
func (s *Store) Members(ctx context.Context, tenant uuid.UUID) ([]access.Member, error) {
	var ms []access.Member
	err := s.read(ctx, tenant, func(ts *tenantState) error {
		ms = ts.sortedMembers(s.accountsOf(tenant))
		return nil
	})
	return ms, err
}

// RemoveMember deletes the user's tenant membership and all their project memberships,
// or returns storage.ErrNotFound. Removing the tenant's last Admin member, or its last
// Admin who can sign in, is access.ErrLastAdmin (see lastAdmin).
func (s *Store) RemoveMember(ctx context.Context, tenant, user uuid.UUID, ev audit.Event) error {
	return s.mutate(ctx, tenant, ev, func(ts *tenantState) error {
		if _, ok := ts.members[user]; !ok {
			return notFound("member", user)
		}
		if ts.lastAdmin(s.accountsOf(tenant), user) {
			return access.ErrLastAdmin
		}
		delete(ts.members, user)
		for _, pms := range ts.projectMembers {
			delete(pms, user)
		}
		ts.touch(touchUsers, user)
		return nil
	})
}

// SetProjectMember creates or replaces a project membership; CreatedAt is kept on
// replace. An unknown project, a user who is not a tenant member or a non-zero
// override role that is not the tenant's is storage.ErrNotFound.
func (s *Store) SetProjectMember(ctx context.Context, pm access.ProjectMember, ev audit.Event) error {
	return s.mutate(ctx, pm.Tenant, ev, func(ts *tenantState) error {
		if _, ok := ts.projects[pm.Project]; !ok {
			return notFound("project", pm.Project)
		}
		if _, ok := ts.members[pm.User]; !ok {
			return notFound("member", pm.User)
		}
		if _, ok := ts.roles[pm.Role]; pm.Role != uuid.Nil && !ok {
			return notFound("role", pm.Role)
		}
		pms := ts.projectMembers[pm.Project]
		if pms == nil {
			pms = make(map[uuid.UUID]access.ProjectMember)
			ts.projectMembers[pm.Project] = pms
		}
		pm.CreatedAt = utc(pm.CreatedAt)
		if cur, ok := pms[pm.User]; ok {
			pm.CreatedAt = cur.CreatedAt
		}
		pms[pm.User] = pm
		ts.touch(touchUsers, pm.User)
		return nil
	})
}

// ProjectMembers returns a project's members ordered by user ID (byte-wise), or
// storage.ErrNotFound for a project that is not the tenant's.
func (s *Store) ProjectMembers(ctx context.Context, tenant, project uuid.UUID) ([]access.ProjectMember, error) {
	var pms []access.ProjectMember
	err := s.read(ctx, tenant, func(ts *tenantState) error {
		if _, ok := ts.projects[project]; !ok {
			return notFound("project", project)
		}
		pms = sortedProjectMembers(ts.projectMembers[project])
		return nil
	})
	return pms, err
}

// RemoveProjectMember deletes one project membership, or returns storage.ErrNotFound.
func (s *Store) RemoveProjectMember(ctx context.Context, tenant, project, user uuid.UUID, ev audit.Event) error {
	return s.mutate(ctx, tenant, ev, func(ts *tenantState) error {
		if _, ok := ts.projects[project]; !ok {
			return notFound("project", project)
		}
		if _, ok := ts.projectMembers[project][user]; !ok {
			return notFound("project member", user)
		}
		delete(ts.projectMembers[project], user)
		ts.touch(touchUsers, user)
		return nil
	})
}

// SetAllowlist replaces the tenant's IP allowlist with the masked prefixes, in the
// order given. An invalid prefix is access.ErrInvalidPrefix and changes nothing.
func (s *Store) SetAllowlist(ctx context.Context, tenant uuid.UUID, prefixes []netip.Prefix, ev audit.Event) error {
	masked := make([]netip.Prefix, len(prefixes))
	for i, p := range prefixes {
		if !p.IsValid() {
			return fmt.Errorf("memory: allowlist entry %d: %w", i, access.ErrInvalidPrefix)
		}
		masked[i] = p.Masked()
	}
	return s.mutate(ctx, tenant, ev, func(ts *tenantState) error {
		ts.allowlist = masked
		ts.touch(touchAllowlist)
		return nil
	})
}

// Allowlist returns the tenant's IP allowlist.
func (s *Store) Allowlist(ctx context.Context, tenant uuid.UUID) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	err := s.read(ctx, tenant, func(ts *tenantState) error {
		ps = slices.Clone(ts.allowlist)
		return nil
	})
	return ps, err
}

// PolicyVersion returns the tenant's policy version, or storage.ErrNotFound.
func (s *Store) PolicyVersion(ctx context.Context, tenant uuid.UUID) (int64, error) {
	var v int64
	err := s.read(ctx, tenant, func(ts *tenantState) error {
		v = ts.policyVersion
		return nil
	})
	return v, err
}

// LoadPolicy returns what the tenant's policy is compiled from, or storage.ErrNotFound:
// the fields access.PolicyData lists and no other (as a SQL store reads them), in no
// particular order (map order, which changes from call to call, so that no caller
// comes to rely on one).
func (s *Store) LoadPolicy(ctx context.Context, tenant uuid.UUID) (access.PolicyData, error) {
	var pd access.PolicyData
	err := s.read(ctx, tenant, func(ts *tenantState) error {
		as := s.accountsOf(tenant)
		pd = access.PolicyData{
			Tenant:    access.Tenant{ID: ts.tenant.ID, Name: ts.tenant.Name},
			Version:   ts.policyVersion,
			Roles:     ts.policyRoles(),
			Projects:  make([]access.Project, 0, len(ts.projects)),
			Members:   make([]access.Member, 0, len(ts.members)),
			Allowlist: slices.Clone(ts.allowlist),
		}
		for id := range ts.projects {
			pd.Projects = append(pd.Projects, access.Project{ID: id, Tenant: tenant})
		}
		for _, m := range ts.members {
			pd.Members = append(pd.Members, access.Member{Tenant: tenant, User: m.User, Role: m.Role, Disabled: !canSignIn(as, m.User)})
		}
		for _, pms := range ts.projectMembers {
			for _, pm := range pms {
				pd.ProjectMembers = append(pd.ProjectMembers, access.ProjectMember{Tenant: tenant, Project: pm.Project, User: pm.User, Role: pm.Role})
			}
		}
		return nil
	})
	return pd, err
}

// policyRoles returns the tenant's roles whole (see access.PolicyData), in map order.
func (ts *tenantState) policyRoles() []access.Role {
	rs := make([]access.Role, 0, len(ts.roles))
	for _, r := range ts.roles {
		rs = append(rs, cloneRole(r))
	}
	return rs
}

// read runs fn on the tenant's state under the read lock; an unknown tenant is
// storage.ErrNotFound. fn must copy what it returns.
func (s *Store) read(ctx context.Context, tenant uuid.UUID, fn func(*tenantState) error) error {
	if err := live(ctx); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ts, ok := s.tenants[tenant]
	if !ok {
		return notFound("tenant", tenant)
	}
	return fn(ts)
}

// mutate runs one access mutation of tenant as a unit of work (see unitOfWork); every
// access mutation increments the tenant's policy version.
func (s *Store) mutate(ctx context.Context, tenant uuid.UUID, ev audit.Event, apply func(*tenantState) error) error {
	return s.unitOfWork(ctx, tenant, ev, nil, func(ts *tenantState) (bool, error) {
		return true, apply(ts)
	})
}

// unitOfWork is the one shape of every mutation: under the write lock it runs apply,
// which checks every rule before it changes anything, so that when it returns an error
// nothing has changed; then, if apply asks for it, it increments the tenant's policy
// version, and it appends ev to the tenant's audit chain. An unknown tenant is
// unknownTenant (storage.ErrNotFound if nil).
func (s *Store) unitOfWork(ctx context.Context, tenant uuid.UUID, ev audit.Event, unknownTenant error,
	apply func(*tenantState) (bumpPolicy bool, err error)) error {
	if err := live(ctx); err != nil {
		return err
	}
	ev, err := eventOf(tenant, ev)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, ok := s.tenants[tenant]
	if !ok {
		if unknownTenant != nil {
			return fmt.Errorf("memory: tenant %s: %w", tenant, unknownTenant)
		}
		return notFound("tenant", tenant)
	}
	if err := s.checkEventIDs(ev); err != nil {
		return err
	}
	ts.beginChanges()
	bump, err := apply(ts)
	if err != nil {
		return err
	}
	if bump {
		ts.policyVersion++
		ts.commitChanges(ts.policyVersion)
	}
	s.appendLocked(ev)
	s.announceLocked(tenant)
	return nil
}

// eventOf returns a checked copy of the event of a mutation of tenant. An event of
// another tenant is rejected: a change in one tenant must never write into another
// tenant's audit chain.
func eventOf(tenant uuid.UUID, ev audit.Event) (audit.Event, error) {
	ev = cloneEvent(ev)
	if err := checkEvent(&ev); err != nil {
		return audit.Event{}, err
	}
	if ev.Tenant != tenant {
		return audit.Event{}, &audit.InvalidEventError{Field: "Tenant", Reason: "is not the tenant of the change"}
	}
	return ev, nil
}

func (ts *tenantState) roleNamed(name string) bool {
	for _, r := range ts.roles {
		if r.Name == name {
			return true
		}
	}
	return false
}

func (ts *tenantState) projectNamed(name string) bool {
	for _, p := range ts.projects {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (ts *tenantState) sortedRoles() []access.Role {
	rs := make([]access.Role, 0, len(ts.roles))
	for _, r := range ts.roles {
		rs = append(rs, cloneRole(r))
	}
	slices.SortFunc(rs, func(a, b access.Role) int { return strings.Compare(a.Name, b.Name) })
	return rs
}

func (ts *tenantState) sortedProjects() []access.Project {
	ps := make([]access.Project, 0, len(ts.projects))
	for _, p := range ts.projects {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b access.Project) int { return strings.Compare(a.Name, b.Name) })
	return ps
}

// sortedMembers returns the members ordered by user ID, each marked Disabled when
// their account in as may not sign in.
func (ts *tenantState) sortedMembers(as *authnState) []access.Member {
	ms := make([]access.Member, 0, len(ts.members))
	for _, m := range ts.members {
		m.Disabled = !canSignIn(as, m.User)
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b access.Member) int { return bytes.Compare(a.User[:], b.User[:]) })
	return ms
}

func sortedProjectMembers(m map[uuid.UUID]access.ProjectMember) []access.ProjectMember {
	pms := make([]access.ProjectMember, 0, len(m))
	for _, pm := range m {
		pms = append(pms, pm)
	}
	slices.SortFunc(pms, func(a, b access.ProjectMember) int { return bytes.Compare(a.User[:], b.User[:]) })
	return pms
}

// newRole returns r as stored by a create: Version 1, UTC times, its own Rights.
func newRole(r access.Role) access.Role {
	r.CreatedAt, r.UpdatedAt, r.Version = utc(r.CreatedAt), utc(r.UpdatedAt), 1
	r.Rights = slices.Clone(r.Rights)
	return r
}

func cloneRole(r access.Role) access.Role {
	r.Rights = slices.Clone(r.Rights)
	return r
}

func notFound(what string, id uuid.UUID) error {
	return fmt.Errorf("memory: %s %s: %w", what, id, storage.ErrNotFound)
}

func stale(what string, id uuid.UUID, version int64) error {
	return fmt.Errorf("memory: %s %s version %d: %w", what, id, version, storage.ErrStale)
}

// lastAdmin reports whether taking user out of the tenant's Admin members (removing
// their membership, giving them a role of another kind, deleting their account) would
// leave the tenant without an Admin: user is an Admin member, and no other Admin member
// would remain, or user can sign in and no other Admin who can sign in would remain
// (see adminsBesides). It is the one last-Admin rule of SetMember, RemoveMember and
// DeleteUser; as holds the tenant's accounts (noAccounts if it has none).
func (ts *tenantState) lastAdmin(as *authnState, user uuid.UUID) bool {
	self, others, othersSignIn := ts.adminsBesides(as, user)
	return self && (others == 0 || canSignIn(as, user) && othersSignIn == 0)
}
