package access

import (
	"net/netip"
	"slices"

	"github.com/google/uuid"
)

// Policy is one tenant's compiled, immutable access policy at one version: who has which
// role, which projects each user belongs to with which rights, and the IP allowlist.
// Every method is safe for concurrent use, allocation-free on the decision path, and
// never touches storage. Obtain the current one from [Engine.Policy]; build one for
// tests with [Compile].
//
// A nil *Policy denies everything.
type Policy struct {
	tenant   uuid.UUID
	name     string
	version  int64
	members  memberTable
	projects map[uuid.UUID]struct{}
	roles    map[uuid.UUID]*compiledRole
	allow    *Allowlist
	all      []uuid.UUID // every project, sorted
}

type compiledRole struct {
	role   Role
	idx    uint16 // index in memberTable.rights and .roles
	rights RightSet
}

// allRights is the Admin role's set: every bit, so that host rights registered later are
// granted too.
var allRights = func() RightSet {
	var s RightSet
	for i := range s {
		s[i] = ^uint64(0)
	}
	s[0] &^= 1 // the zero Right is never granted
	return s
}()

// Compile builds a Policy from d. Memberships that refer to unknown roles, projects or
// users, and right names not in the catalog, grant nothing: compilation never fails and
// never widens access. Of duplicate project memberships the first one counts.
//
// A member marked [Member.Disabled] (their account may not sign in) holds no right:
// Check and Scope deny them everything, AllowsIP judges their address by the allowlist
// alone, and they can grant nothing. They keep their role and projects, so that
// [Policy.Role] still tells who may manage them.
func Compile(d PolicyData) *Policy {
	p := &Policy{
		tenant:   d.Tenant.ID,
		name:     d.Tenant.Name,
		version:  d.Version,
		projects: make(map[uuid.UUID]struct{}, len(d.Projects)),
		roles:    make(map[uuid.UUID]*compiledRole, len(d.Roles)),
		allow:    NewAllowlist(d.Allowlist),
	}
	t := &p.members
	for _, r := range d.Roles {
		if r.Tenant != d.Tenant.ID || len(t.roles) > 0xffff {
			continue
		}
		if _, dup := p.roles[r.ID]; dup {
			continue
		}
		cr := &compiledRole{role: r, idx: uint16(len(t.roles))}
		if r.Kind == KindAdmin {
			cr.rights = allRights
		} else {
			for _, name := range r.Rights {
				if right, err := ParseRight(name); err == nil {
					cr.rights.Add(right)
				}
			}
		}
		p.roles[r.ID] = cr
		t.roles = append(t.roles, cr)
		t.rights = append(t.rights, cr.rights)
	}
	for _, pr := range d.Projects {
		if pr.Tenant == d.Tenant.ID {
			p.projects[pr.ID] = struct{}{}
			p.all = append(p.all, pr.ID)
		}
	}
	slices.SortFunc(p.all, compareUUID)
	p.all = slices.Compact(p.all)
	members := make(map[uuid.UUID]uint16, len(d.Members))
	var disabled map[uuid.UUID]bool
	for _, m := range d.Members {
		cr := p.roles[m.Role]
		if m.Tenant != d.Tenant.ID || cr == nil {
			continue
		}
		members[m.User] = cr.idx
		if m.Disabled {
			if disabled == nil {
				disabled = make(map[uuid.UUID]bool)
			}
			disabled[m.User] = true
		} else if disabled != nil {
			delete(disabled, m.User)
		}
	}
	grants := make(map[uuid.UUID][]slotGrant)
	for _, pm := range d.ProjectMembers {
		base, ok := members[pm.User]
		if pm.Tenant != d.Tenant.ID || !ok {
			continue
		}
		if _, ok := p.projects[pm.Project]; !ok {
			continue
		}
		role := base
		if pm.Role != uuid.Nil {
			cr := p.roles[pm.Role]
			if cr == nil {
				continue // an override to an unknown role grants nothing
			}
			role = cr.idx
		}
		grants[pm.User] = append(grants[pm.User], slotGrant{project: pm.Project, role: role})
	}
	t.build(members, grants, disabled)
	return p
}

// memberRights returns the rights the user holds through their tenant role: none for a
// non-member or a disabled member.
func (p *Policy) memberRights(user uuid.UUID) *RightSet {
	if p == nil {
		return &noRights
	}
	if s := p.members.find(user); s != nil && s.flags&slotDisabled == 0 {
		return &p.members.rights[s.role]
	}
	return &noRights
}

var noRights RightSet

// memberRole returns the user's tenant role, or nil for a non-member. A disabled
// member's role is returned too: it is their standing, not their rights.
func (p *Policy) memberRole(user uuid.UUID) *compiledRole {
	if p == nil {
		return nil
	}
	if s := p.members.find(user); s != nil {
		return p.members.roles[s.role]
	}
	return nil
}

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

// Tenant returns the tenant the policy belongs to.
func (p *Policy) Tenant() uuid.UUID {
	if p == nil {
		return uuid.Nil
	}
	return p.tenant
}

// TenantName returns the tenant's name at the policy's version.
func (p *Policy) TenantName() string {
	if p == nil {
		return ""
	}
	return p.name
}

// Version returns the tenant policy version the snapshot was compiled from.
func (p *Policy) Version() int64 {
	if p == nil {
		return 0
	}
	return p.version
}

// Check reports whether s holds right r in project. It is the decision every request
// makes: a map lookup and a bit test, with no allocation and no storage call.
//
// With the zero project (uuid.Nil) it checks the user's tenant role: use it for
// tenant-wide rights (ManageRoles, UserManagement, ...). With a project it checks the
// user's rights in that project: their project-role override if they have one, else
// their tenant role, if they are a member of the project or their tenant role holds
// SeeAllProjects. Everything else is denied: another tenant's subject, an unknown user,
// project or right, the zero Right, and every right of a member whose account may not
// sign in ([Member.Disabled]: blocked, archived, invited).
func (p *Policy) Check(s Subject, r Right, project uuid.UUID) bool {
	if p == nil || s.Tenant != p.tenant {
		return false
	}
	t := &p.members
	m := t.find(s.User)
	if m == nil || m.flags&slotDisabled != 0 {
		return false
	}
	if project == uuid.Nil {
		return t.rights[m.role].Has(r)
	}
	if role, ok := t.grant(m, project); ok {
		return t.rights[role].Has(r)
	}
	if m.flags&slotSeeAll != 0 {
		if _, ok := p.projects[project]; ok {
			return t.rights[m.role].Has(r)
		}
	}
	return false
}

// AllowsIP reports whether s may work from ip: the tenant's allowlist is empty, ip is in
// it, or s's tenant role holds IgnoreAllowedIPs (a disabled member holds no right, so
// only the allowlist speaks for them). It denies unknown subjects. Check it at login and
// on every request (ASVS 8.2.4).
func (p *Policy) AllowsIP(s Subject, ip netip.Addr) bool {
	if p == nil || s.Tenant != p.tenant {
		return false
	}
	if p.memberRole(s.User) == nil {
		return false
	}
	return p.memberRights(s.User).Has(IgnoreAllowedIPs) || p.allow.Allows(ip)
}

// disabled reports whether user is a member marked [Member.Disabled].
func (p *Policy) disabled(user uuid.UUID) bool {
	if p == nil {
		return false
	}
	s := p.members.find(user)
	return s != nil && s.flags&slotDisabled != 0
}

// RoleAllowsIP reports whether a holder of the tenant role may act from ip: the role
// bypasses the allowlist (IgnoreAllowedIPs) or the allowlist admits ip. It is
// [Policy.AllowsIP] for someone who is not a member yet, such as an invited user whose
// role is fixed by the invitation. An unknown role is false.
func (p *Policy) RoleAllowsIP(role uuid.UUID, ip netip.Addr) bool {
	if p == nil {
		return false
	}
	cr := p.roles[role]
	if cr == nil {
		return false
	}
	return cr.rights.Has(IgnoreAllowedIPs) || p.allow.Allows(ip)
}

// Allowlist returns the tenant's compiled IP allowlist.
func (p *Policy) Allowlist() *Allowlist {
	if p == nil {
		return nil
	}
	return p.allow
}

// Role returns the user's tenant role; ok is false for an unknown user.
func (p *Policy) Role(user uuid.UUID) (Role, bool) {
	if p == nil {
		return Role{}, false
	}
	cr := p.memberRole(user)
	if cr == nil {
		return Role{}, false
	}
	return cr.role, true
}

// Projects returns the projects the user is a member of, sorted; it does not expand
// SeeAllProjects (use [Policy.Scope] for data access).
func (p *Policy) Projects(user uuid.UUID) []uuid.UUID {
	if p == nil {
		return nil
	}
	m := p.members.find(user)
	if m == nil {
		return nil
	}
	gs := p.members.grants(m)
	out := make([]uuid.UUID, len(gs))
	for i, g := range gs {
		out[i] = g.project
	}
	return out
}

// Scope is the part of a tenant's records a subject may read under one right, for use in
// the host's own queries (see [Policy.Scope]). The zero Scope grants nothing.
type Scope struct {
	// Tenant is the tenant every query must be filtered by, always.
	Tenant uuid.UUID
	// User is the subject, for own-records filters.
	User uuid.UUID
	// Projects are the projects whose records are all readable, sorted.
	Projects []uuid.UUID
	// OwnProjects are projects where only records owned by User are readable, sorted.
	OwnProjects []uuid.UUID
}

// Empty reports whether the scope grants nothing.
func (sc Scope) Empty() bool { return len(sc.Projects) == 0 && len(sc.OwnProjects) == 0 }

// Allows reports whether a record of tenant, project and owner is inside the scope.
func (sc Scope) Allows(tenant, project, owner uuid.UUID) bool {
	if tenant != sc.Tenant || sc.Tenant == uuid.Nil {
		return false
	}
	if _, ok := slices.BinarySearchFunc(sc.Projects, project, compareUUID); ok {
		return true
	}
	_, ok := slices.BinarySearchFunc(sc.OwnProjects, project, compareUUID)
	return ok && owner == sc.User && owner != uuid.Nil
}

// Scope tells the host which records s may read under right r: the projects whose
// records are all readable, and (for rights marked OwnFallback, such as ViewAllCalls)
// the projects where only s's own records are. Holders of SeeAllProjects get every
// project of the tenant. An unknown subject or right gets the empty scope.
//
// Scope allocates; call it once per query, not per row.
func (p *Policy) Scope(s Subject, r Right) Scope {
	if p == nil || s.Tenant != p.tenant {
		return Scope{}
	}
	t := &p.members
	m := t.find(s.User)
	info, ok := r.Info()
	if m == nil || !ok || m.flags&slotDisabled != 0 {
		return Scope{}
	}
	sc := Scope{Tenant: p.tenant, User: s.User}
	add := func(project uuid.UUID, rights *RightSet) {
		switch {
		case rights.Has(r):
			sc.Projects = append(sc.Projects, project)
		case info.OwnFallback:
			sc.OwnProjects = append(sc.OwnProjects, project)
		}
	}
	if m.flags&slotSeeAll != 0 {
		for _, project := range p.all {
			role, ok := t.grant(m, project)
			if !ok {
				role = m.role
			}
			add(project, &t.rights[role])
		}
		return sc
	}
	for _, g := range t.grants(m) {
		add(g.project, &t.rights[g.role])
	}
	return sc
}

// CanAssignRole reports whether actor may give a user the tenant role: they hold
// UserManagement and every right of the role (rights cannot be escalated by assigning
// roles). An unknown role is false. The authn package checks it before inviting.
func (p *Policy) CanAssignRole(actor Subject, role uuid.UUID) bool {
	if p == nil || actor.Tenant != p.tenant {
		return false
	}
	cr := p.roles[role]
	if cr == nil {
		return false
	}
	if actor.system {
		return true
	}
	return p.Check(actor, UserManagement, uuid.Nil) && grantable(p, actor, &cr.rights)
}

// HasProject reports whether the project exists in the policy's tenant.
func (p *Policy) HasProject(project uuid.UUID) bool {
	if p == nil {
		return false
	}
	_, ok := p.projects[project]
	return ok
}

// IsSystem reports whether s is the host's provisioning subject from [System].
func (s Subject) IsSystem() bool { return s.system }

// Roles returns the tenant's roles at the policy's version, in no particular order.
func (p *Policy) Roles() []Role {
	if p == nil {
		return nil
	}
	out := make([]Role, 0, len(p.roles))
	for _, cr := range p.roles {
		out = append(out, cr.role)
	}
	return out
}
