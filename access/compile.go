package access

import (
	"slices"
	"unsafe"

	"github.com/google/uuid"
)

// Compile builds a Policy from d. Memberships that refer to unknown roles, projects or
// users, and right names not in the catalog, grant nothing: compilation never fails and
// never widens access. Of duplicate project memberships the first one counts; of
// duplicate members the last one; of duplicate roles the first one. A tenant's first
// 65,535 projects and roles (each by ID) are indexed; memberships of projects beyond
// them grant nothing.
//
// Compile reads only the fields [PolicyData] lists (of roles, the whole row is kept,
// for [Policy.Role]), and the order of d's lists does not matter: shuffled, they
// compile to a policy that answers every question the same (roles and projects are
// indexed in ID order).
//
// A member marked [Member.Disabled] (their account may not sign in) holds no right:
// Check and Scope deny them everything, AllowsIP judges their address by the allowlist
// alone, and they can grant nothing. They keep their role and projects, so that
// [Policy.Role] still tells who may manage them.
func Compile(d PolicyData) *Policy {
	p := &Policy{
		tenant:  d.Tenant.ID,
		name:    d.Tenant.Name,
		version: d.Version,
		allow:   NewAllowlist(d.Allowlist),
	}
	p.setRoles(d.Roles)
	p.setProjects(d.Projects)
	n := 0
	for i := range d.Members {
		if d.Members[i].Tenant == p.tenant {
			n++
		}
	}
	set := newMemberSet(n, 0)
	p.compileMembers(set, d.Members, d.ProjectMembers)
	p.members.base = set
	return p
}

// setRoles compiles the tenant's roles, keeping the indices of the roles p already
// has: slots refer to roles by index. New roles are indexed in ID order (of duplicate
// IDs the first counts), so that the input order does not matter. A role p had that
// roles lacks keeps its index with no rights. It returns false if the roles do not fit
// the index.
func (p *Policy) setRoles(roles []Role) bool {
	t := &p.members
	old := p.roles
	roles = slices.Clone(roles)
	slices.SortStableFunc(roles, func(a, b Role) int { return compareUUID(a.ID, b.ID) })
	p.roles = make(map[uuid.UUID]*compiledRole, len(roles))
	rights := make([]RightSet, len(t.rights), len(t.rights)+len(roles))
	list := make([]*compiledRole, len(t.roles), len(t.roles)+len(roles))
	for i, cr := range t.roles {
		list[i] = &compiledRole{role: cr.role, idx: cr.idx} // no rights unless still there
	}
	for _, r := range roles {
		if r.Tenant != p.tenant {
			continue
		}
		if _, dup := p.roles[r.ID]; dup {
			continue
		}
		idx := len(list)
		if prev := old[r.ID]; prev != nil {
			idx = int(prev.idx)
		} else if idx > 0xffff {
			if old != nil {
				return false
			}
			continue
		}
		cr := &compiledRole{role: r, idx: uint16(idx)}
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
		if idx == len(list) {
			list = append(list, cr)
			rights = append(rights, cr.rights)
		} else {
			list[idx], rights[idx] = cr, cr.rights
		}
	}
	t.roles, t.rights = list, rights
	return true
}

// setProjects indexes the tenant's projects, keeping the indices of the projects p
// already has. It returns false if the projects do not fit the index.
func (p *Policy) setProjects(projects []Project) bool {
	t := &p.members
	p.projects = make(map[uuid.UUID]struct{}, len(projects))
	p.all = p.all[:0:0]
	for _, pr := range projects {
		if pr.Tenant == p.tenant {
			p.projects[pr.ID] = struct{}{}
			p.all = append(p.all, pr.ID)
		}
	}
	slices.SortFunc(p.all, compareUUID)
	p.all = slices.Compact(p.all)
	if t.projectIDs == nil {
		t.projectIDs = p.all[:min(len(p.all), maxProjectIndex)]
	} else {
		known := make(map[uuid.UUID]struct{}, len(t.projectIDs))
		for _, id := range t.projectIDs {
			known[id] = struct{}{}
		}
		ids := slices.Clone(t.projectIDs)
		for _, id := range p.all {
			if _, ok := known[id]; !ok {
				ids = append(ids, id)
			}
		}
		if len(ids) > maxProjectIndex {
			return false
		}
		t.projectIDs = ids
	}
	t.projects = newProjectIndex(t.projectIDs, func(i int) bool {
		_, ok := p.projects[t.projectIDs[i]]
		return ok
	})
	return true
}

// compileMembers adds the members and their project memberships to set, by the rules
// of Compile: the tenant's rows only, a member's role must be a role of the policy, a
// membership's project a project of the policy and its override (if any) a role of the
// policy; the first of duplicate memberships counts, the last of duplicate members.
func (p *Policy) compileMembers(set *memberSet, members []Member, pms []ProjectMember) {
	for i := range members {
		m := &members[i]
		cr := p.roles[m.Role]
		if m.Tenant != p.tenant || cr == nil {
			continue
		}
		s := &set.slots[set.add(m.User)]
		s.role = cr.idx
		s.flags = set.flag
		if m.Disabled {
			s.flags |= slotDisabled
		}
	}
	// Two passes over the memberships: count each slot's grants, then place them in
	// one flat buffer, each slot's in input order; then sort and pack each slot's.
	t := &p.members
	pos := make([]int32, len(pms))
	vals := make([]packedGrant, len(pms))
	counts := make([]uint32, len(set.slots)+1)
	var lastRole uuid.UUID
	var lastIdx uint16
	lastOK := false
	for i := range pms {
		pm := &pms[i]
		pos[i] = -1
		if pm.Tenant != p.tenant {
			continue
		}
		at := set.position(pm.User)
		if at < 0 {
			continue
		}
		pi, ok := t.projects.lookup(pm.Project)
		if !ok {
			continue
		}
		role := set.slots[at].role
		if pm.Role != uuid.Nil {
			if !lastOK || pm.Role != lastRole {
				cr := p.roles[pm.Role]
				lastRole, lastOK = pm.Role, cr != nil
				if cr != nil {
					lastIdx = cr.idx
				}
			}
			if !lastOK {
				continue // an override to an unknown role grants nothing
			}
			role = lastIdx
		}
		pos[i], vals[i] = int32(at), packedGrant{project: pi, role: role}
		counts[at+1]++
	}
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	flat := make([]packedGrant, counts[len(counts)-1])
	fill := slices.Clone(counts[:len(counts)-1])
	for i, at := range pos {
		if at >= 0 {
			flat[fill[at]] = vals[i]
			fill[at]++
		}
	}
	for at := range set.slots {
		gs := flat[counts[at]:counts[at+1]]
		if len(gs) == 0 {
			continue
		}
		// Stable insertion sort by project (a member has a handful), then drop the
		// later duplicates.
		for i := 1; i < len(gs); i++ {
			for j := i; j > 0 && gs[j].project < gs[j-1].project; j-- {
				gs[j], gs[j-1] = gs[j-1], gs[j]
			}
		}
		gs = slices.CompactFunc(gs, func(a, b packedGrant) bool { return a.project == b.project })
		set.setGrants(&set.slots[at], gs)
	}
}

// apply returns p brought to the changes' version by applying them: work in
// proportion to what changed, not to the tenant's size. It returns nil if the changes
// cannot be applied incrementally (the caller loads the whole policy).
func (p *Policy) apply(ch PolicyChanges) *Policy {
	if ch.Full || ch.Version < p.version {
		return nil
	}
	np := *p
	np.version = ch.Version
	if ch.Tenant != nil {
		if ch.Tenant.ID != p.tenant {
			return nil
		}
		np.name = ch.Tenant.Name
	}
	if ch.RolesChanged && !np.setRoles(ch.Roles) {
		return nil
	}
	if ch.ProjectsChanged && !np.setProjects(ch.Projects) {
		return nil
	}
	if ch.AllowlistChanged {
		np.allow = NewAllowlist(ch.Allowlist)
	}
	if len(ch.Users) == 0 {
		return &np
	}
	changed := make(map[uuid.UUID]struct{}, len(ch.Users))
	for _, u := range ch.Users {
		changed[u] = struct{}{}
	}
	old := p.members.over
	size := len(ch.Users)
	if old != nil {
		size += len(old.slots)
	}
	over := newMemberSet(size, slotOverlay)
	var buf []packedGrant
	if old != nil {
		for i := range old.slots {
			if _, ok := changed[old.slots[i].user]; !ok {
				buf = over.copySlot(old, &old.slots[i], buf)
			}
		}
	}
	var members []Member
	for _, m := range ch.Members {
		if _, ok := changed[m.User]; ok {
			members = append(members, m)
		}
	}
	var pms []ProjectMember
	for _, pm := range ch.ProjectMembers {
		if _, ok := changed[pm.User]; ok {
			pms = append(pms, pm)
		}
	}
	np.members.over = over
	np.compileMembersOver(over, members, pms)
	for _, u := range ch.Users {
		if over.position(u) < 0 && p.members.base.position(u) >= 0 {
			s := &over.slots[over.add(u)]
			s.flags |= slotRemoved
		}
	}
	return &np
}

// compileMembersOver compiles members and memberships into the overlay set, whose
// earlier slots (carried over) already have their grants.
func (p *Policy) compileMembersOver(over *memberSet, members []Member, pms []ProjectMember) {
	fresh := newMemberSet(len(members), slotOverlay)
	p.compileMembers(fresh, members, pms)
	var buf []packedGrant
	for i := range fresh.slots {
		buf = over.copySlot(fresh, &fresh.slots[i], buf)
	}
}

// overlaySize returns how many members the overlay holds.
func (p *Policy) overlaySize() int {
	if p.members.over == nil {
		return 0
	}
	return len(p.members.over.slots)
}

// compacted returns p with its overlay folded into a new base: the same decisions,
// looked up in one set. It copies every member (time in proportion to the tenant);
// the engine runs it in the background.
func (p *Policy) compacted() *Policy {
	np := *p
	t := &p.members
	n := 0
	t.each(func(*memberSlot) { n++ })
	base := newMemberSet(n, 0)
	var buf []packedGrant
	t.each(func(m *memberSlot) { buf = base.copySlot(t.setOf(m), m, buf) })
	np.members.base, np.members.over = base, nil
	return &np
}

// rebased returns cur (a later snapshot of the same base as from) on the base of
// compact (from, compacted): cur's overlay slots that differ from from's are kept.
// It returns nil if cur does not share from's base.
func rebased(cur, from, compact *Policy) *Policy {
	if cur.members.base != from.members.base {
		return nil
	}
	np := *cur
	np.members.base = compact.members.base
	np.members.over = nil
	if co := cur.members.over; co != nil {
		fo := from.members.over
		over := newMemberSet(len(co.slots), slotOverlay)
		var a, b []packedGrant
		for i := range co.slots {
			m := &co.slots[i]
			if f := fo.find(m.user); f != nil && f.role == m.role && f.flags == m.flags {
				a, b = co.packed(m, a), fo.packed(f, b)
				if slices.Equal(a, b) {
					continue // folded into the compacted base as it is
				}
			}
			if m.flags&slotRemoved != 0 && compact.members.base.position(m.user) < 0 {
				continue
			}
			a = over.copySlot(co, m, a)
		}
		if fo != nil {
			// A member of from's overlay that cur no longer knows at all (added, then
			// removed again) is in the compacted base: mark them removed.
			for i := range fo.slots {
				if u := fo.slots[i].user; co.position(u) < 0 && compact.members.base.position(u) >= 0 {
					over.slots[over.add(u)].flags |= slotRemoved
				}
			}
		}
		if len(over.slots) > 0 {
			np.members.over = over
		}
	} else if from.members.over != nil {
		return nil // cannot happen: an overlay only grows until it is compacted
	}
	return &np
}

// bytes estimates the memory the policy holds, for the engine's budget.
func (p *Policy) bytes() int64 {
	t := &p.members
	n := t.base.bytes() + t.over.bytes()
	n += len(t.rights)*int(unsafe.Sizeof(RightSet{})) + len(t.roles)*160 + len(p.roles)*64
	n += len(t.projectIDs)*16 + len(t.projects.slots)*int(unsafe.Sizeof(projectSlot{})) + len(p.projects)*40 + len(p.all)*16
	if p.allow != nil {
		n += len(p.allow.Prefixes()) * 64
	}
	return int64(n) + 256
}
