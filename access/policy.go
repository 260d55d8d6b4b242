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
// How r is decided depends on whether it is project-scoped ([RightInfo.ProjectScoped]):
//
//   - A tenant-wide right (UserManagement, ManageRoles, ManageCompany, SeeAllProjects,
//     ...) is decided on the user's tenant role alone, whatever project is named: a
//     project override role never grants it.
//   - A project-scoped right (ListenRecordings, SeeMaskedFields, ViewAllCalls, ...) in
//     a project is decided by the user's override role in that project if they have
//     one, else by their tenant role, if they are a member of the project or their
//     tenant role holds SeeAllProjects.
//   - A project-scoped right with the zero project (uuid.Nil) is the tenant-level
//     answer: their tenant role holds it. That is right for tenant-level decisions
//     (may they create projects, should the menu show "Reports") and wrong for any
//     record of a project: a supervisor of Sales only holds ListenRecordings in their
//     tenant role, not in Support. To decide about a project's data use the record's
//     project, or [Policy.CheckIn], which answers the zero project with "in every
//     project"; [Guard.Require] does.
//
// Everything else is denied: another tenant's subject, an unknown user, project or
// right, the zero Right, and every right of a member whose account may not sign in
// ([Member.Disabled]: blocked, archived, invited).
func (p *Policy) Check(s Subject, r Right, project uuid.UUID) bool {
	if p == nil || s.Tenant != p.tenant {
		return false
	}
	t := &p.members
	m := t.find(s.User)
	if m == nil || m.flags&slotDisabled != 0 {
		return false
	}
	if project == uuid.Nil || !r.projectScoped() {
		return t.rights[m.role].Has(r)
	}
	return p.inProject(m, r, project)
}

// inProject decides a project-scoped right in a project (see Check).
func (p *Policy) inProject(m *memberSlot, r Right, project uuid.UUID) bool {
	t := &p.members
	if role, ok := t.grant(m, project); ok {
		return t.rights[role].Has(r)
	}
	if t.seeAll(m) {
		if _, ok := p.projects[project]; ok {
			return t.rights[m.role].Has(r)
		}
	}
	return false
}

// CheckIn is [Policy.Check] for decisions about a project's data, where a project-scoped
// right must never be granted for "no project": with a project it answers as Check;
// with the zero project it reports whether s holds a project-scoped r in every project
// of the tenant (their tenant role holds SeeAllProjects and r, and none of their
// override roles lacks r). A tenant-wide right is decided on the tenant role either
// way. A supervisor of Sales therefore passes CheckIn(s, ListenRecordings, sales) and
// fails CheckIn(s, ListenRecordings, uuid.Nil); an Admin passes both. It is what
// [Guard.Require] decides with, and what a host should pass to mask.ForViewer when it
// cannot name the record's project. It does not allocate.
func (p *Policy) CheckIn(s Subject, r Right, project uuid.UUID) bool {
	if p == nil || s.Tenant != p.tenant {
		return false
	}
	t := &p.members
	m := t.find(s.User)
	if m == nil || m.flags&slotDisabled != 0 {
		return false
	}
	if !r.projectScoped() {
		return t.rights[m.role].Has(r)
	}
	if project == uuid.Nil {
		return t.everywhere(m, r)
	}
	return p.inProject(m, r, project)
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

// MemberRoles returns the IDs of the roles user holds: their tenant role first, then
// each distinct project override role, in project order (nil for a non-member). A
// disabled member's roles are returned too: they are the member's standing, not their
// rights. It is for rules that attach to roles, such as authn's per-role two-factor
// requirement.
func (p *Policy) MemberRoles(user uuid.UUID) []uuid.UUID {
	if p == nil {
		return nil
	}
	t := &p.members
	m := t.find(user)
	if m == nil {
		return nil
	}
	out := []uuid.UUID{t.roles[m.role].role.ID}
	for _, g := range t.grants(m) {
		if id := t.roles[g.role].role.ID; !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// Privilege returns a fingerprint of user's assignments: their tenant role and each
// project membership with its role (the override, or the tenant role). Built from
// IDs, not from a compiled policy's internal indices, it is the same on every
// instance for the same assignments; it is 0 for a non-member. authn stores it with a
// session and gives the session a new secret when it changes (a role change is a
// privilege change, ASVS 7.2.4). An edit of a role's rights does not change it: the
// fingerprint follows who holds which role, not what the roles grant (every session
// of the role would otherwise rotate at once). It does not allocate for a member with
// up to 8 project memberships.
func (p *Policy) Privilege(user uuid.UUID) uint64 {
	if p == nil {
		return 0
	}
	t := &p.members
	m := t.find(user)
	if m == nil {
		return 0
	}
	// A sum of per-assignment hashes: independent of the order of the grants.
	h := fnv64(0, uuid.Nil, t.roles[m.role].role.ID)
	var buf [8]packedGrant
	for _, g := range t.setOf(m).packed(m, buf[:0]) {
		h += fnv64(1, t.projectIDs[g.project], t.roles[g.role].role.ID)
	}
	if h == 0 {
		h = 1 // 0 means "no member"
	}
	return h
}

// fnv64 is FNV-1a over a tag byte and two IDs.
func fnv64(tag byte, a, b uuid.UUID) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	h = (h ^ uint64(tag)) * prime
	for _, c := range a {
		h = (h ^ uint64(c)) * prime
	}
	for _, c := range b {
		h = (h ^ uint64(c)) * prime
	}
	return h
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
// project of the tenant. The projects are always those s sees (their memberships, or
// every project with SeeAllProjects); in each, r is decided as [Policy.Check] decides
// it there, so a tenant-wide right follows the tenant role and a project override
// grants only project-scoped rights. An unknown subject or right gets the empty scope.
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
	// A tenant-wide right is decided on the tenant role in every project the subject
	// sees, as Check decides it; a project-scoped one by the role in the project.
	scoped := r.projectScoped()
	add := func(project uuid.UUID, role uint16) {
		if !scoped {
			role = m.role
		}
		rights := &t.rights[role]
		switch {
		case rights.Has(r):
			sc.Projects = append(sc.Projects, project)
		case info.OwnFallback:
			sc.OwnProjects = append(sc.OwnProjects, project)
		}
	}
	if t.seeAll(m) {
		for _, project := range p.all {
			role, ok := t.grant(m, project)
			if !ok {
				role = m.role
			}
			add(project, role)
		}
		return sc
	}
	for _, g := range t.grants(m) {
		add(g.project, g.role)
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
