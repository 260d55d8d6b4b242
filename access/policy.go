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
	members  map[uuid.UUID]*member
	projects map[uuid.UUID]struct{}
	roles    map[uuid.UUID]*compiledRole
	allow    *Allowlist
	all      []uuid.UUID // every project, sorted
}

type compiledRole struct {
	role   Role
	rights RightSet
}

type member struct {
	user   uuid.UUID
	role   *compiledRole
	seeAll bool    // the tenant role holds SeeAllProjects
	grants []grant // project memberships, sorted by project ID
}

type grant struct {
	project uuid.UUID
	rights  *RightSet
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
// never widens access.
func Compile(d PolicyData) *Policy {
	p := &Policy{
		tenant:   d.Tenant.ID,
		name:     d.Tenant.Name,
		version:  d.Version,
		members:  make(map[uuid.UUID]*member, len(d.Members)),
		projects: make(map[uuid.UUID]struct{}, len(d.Projects)),
		roles:    make(map[uuid.UUID]*compiledRole, len(d.Roles)),
		allow:    NewAllowlist(d.Allowlist),
	}
	for _, r := range d.Roles {
		if r.Tenant != d.Tenant.ID {
			continue
		}
		cr := &compiledRole{role: r}
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
	}
	for _, pr := range d.Projects {
		if pr.Tenant == d.Tenant.ID {
			p.projects[pr.ID] = struct{}{}
			p.all = append(p.all, pr.ID)
		}
	}
	slices.SortFunc(p.all, compareUUID)
	for _, m := range d.Members {
		cr := p.roles[m.Role]
		if m.Tenant != d.Tenant.ID || cr == nil {
			continue
		}
		p.members[m.User] = &member{user: m.User, role: cr, seeAll: cr.rights.Has(SeeAllProjects)}
	}
	for _, pm := range d.ProjectMembers {
		m := p.members[pm.User]
		if pm.Tenant != d.Tenant.ID || m == nil {
			continue
		}
		if _, ok := p.projects[pm.Project]; !ok {
			continue
		}
		rights := &m.role.rights
		if pm.Role != uuid.Nil {
			cr := p.roles[pm.Role]
			if cr == nil {
				continue // an override to an unknown role grants nothing
			}
			rights = &cr.rights
		}
		m.grants = append(m.grants, grant{project: pm.Project, rights: rights})
	}
	for _, m := range p.members {
		slices.SortFunc(m.grants, func(a, b grant) int { return compareUUID(a.project, b.project) })
	}
	return p
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
// project or right, the zero Right.
func (p *Policy) Check(s Subject, r Right, project uuid.UUID) bool {
	if p == nil || s.Tenant != p.tenant {
		return false
	}
	m := p.members[s.User]
	if m == nil {
		return false
	}
	if project == uuid.Nil {
		return m.role.rights.Has(r)
	}
	if rights := m.rightsIn(project); rights != nil {
		return rights.Has(r)
	}
	if m.seeAll {
		if _, ok := p.projects[project]; ok {
			return m.role.rights.Has(r)
		}
	}
	return false
}

// rightsIn returns the member's rights in a project they are a member of, or nil.
func (m *member) rightsIn(project uuid.UUID) *RightSet {
	g := m.grants
	if len(g) <= 8 {
		for i := range g {
			if g[i].project == project {
				return g[i].rights
			}
		}
		return nil
	}
	lo, hi := 0, len(g)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch c := compareUUID(g[mid].project, project); {
		case c == 0:
			return g[mid].rights
		case c < 0:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return nil
}

// AllowsIP reports whether s may work from ip: the tenant's allowlist is empty, ip is in
// it, or s's tenant role holds IgnoreAllowedIPs. It denies unknown subjects. Check it at
// login and on every request (ASVS 8.2.4).
func (p *Policy) AllowsIP(s Subject, ip netip.Addr) bool {
	if p == nil || s.Tenant != p.tenant {
		return false
	}
	m := p.members[s.User]
	if m == nil {
		return false
	}
	return m.role.rights.Has(IgnoreAllowedIPs) || p.allow.Allows(ip)
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
	m := p.members[user]
	if m == nil {
		return Role{}, false
	}
	return m.role.role, true
}

// Projects returns the projects the user is a member of, sorted; it does not expand
// SeeAllProjects (use [Policy.Scope] for data access).
func (p *Policy) Projects(user uuid.UUID) []uuid.UUID {
	if p == nil {
		return nil
	}
	m := p.members[user]
	if m == nil {
		return nil
	}
	out := make([]uuid.UUID, len(m.grants))
	for i, g := range m.grants {
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
	m := p.members[s.User]
	info, ok := r.Info()
	if m == nil || !ok {
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
	if m.seeAll {
		for _, project := range p.all {
			rights := m.rightsIn(project)
			if rights == nil {
				rights = &m.role.rights
			}
			add(project, rights)
		}
		return sc
	}
	for _, g := range m.grants {
		add(g.project, g.rights)
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
