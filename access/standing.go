package access

import (
	"fmt"

	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// standing returns every right user holds through their tenant role and through each
// of their project override roles: the measure by which "nobody manages a user above
// them" judges them (a project override can raise a user above their tenant role, in
// that project). A disabled member is judged by their roles all the same: blocking
// someone does not make them manageable by those below them. ok is false for a user
// who is not a member.
func (p *Policy) standing(user uuid.UUID) (set RightSet, ok bool) {
	if p == nil {
		return set, false
	}
	t := &p.members
	m := t.find(user)
	if m == nil {
		return set, false
	}
	set = t.rights[m.role]
	for _, g := range t.grants(m) {
		r := &t.rights[g.role]
		for i := range set {
			set[i] |= r[i]
		}
	}
	return set, true
}

// CanManage reports whether actor stands at or above user: the actor (through their
// tenant role, which must grant them something: they are a member who is not
// disabled) holds every right user holds through their tenant role and every project
// override role. It is the one rule "nobody manages a user above them" of every change
// to another user's access: access's SetMember, RemoveMember, AddProjectMember and
// RemoveProjectMember, and authn's Block, Remove and the other lifecycle changes. It
// says nothing about the right the change needs (UserManagement, ManageProjects),
// which is checked separately. A user who is not a member is false (authn judges such
// a user by the role their open invitation promises). The [System] subject stands
// above everyone.
func (p *Policy) CanManage(actor Subject, user uuid.UUID) bool {
	if p == nil || actor.Tenant != p.tenant {
		return false
	}
	if actor.system {
		return true
	}
	set, ok := p.standing(user)
	return ok && grantable(p, actor, &set)
}

// projectMemberRule is the one rule of giving a user a membership of project, with the
// override role (uuid.Nil: none): the actor holds ManageProjects in the project, every
// right of the override role, and every right of target (the user's standing, or for
// someone who is not a member yet, the tenant role they are invited with). It serves
// [Service.AddProjectMember] and, through [Policy.CanInviteToProject], invitations, so
// that an invitation grants only what its author could grant directly.
func (p *Policy) projectMemberRule(actor Subject, project uuid.UUID, target *RightSet, override uuid.UUID) error {
	if p == nil || actor.Tenant != p.tenant || actor.Tenant == uuid.Nil {
		return fmt.Errorf("%w: actor of another tenant", ErrForbidden)
	}
	if !p.HasProject(project) {
		return fmt.Errorf("access: project %w", storage.ErrNotFound)
	}
	if !actor.system && !p.Check(actor, ManageProjects, project) {
		return fmt.Errorf("%w: %s required in the project", ErrForbidden, ManageProjects)
	}
	if override != uuid.Nil {
		cr := p.roles[override]
		if cr == nil {
			return fmt.Errorf("access: override role %w", storage.ErrNotFound)
		}
		if !grantable(p, actor, &cr.rights) {
			return fmt.Errorf("%w: cannot assign a role with rights the actor does not hold", ErrForbidden)
		}
	}
	if target != nil && !grantable(p, actor, target) {
		return fmt.Errorf("%w: the user holds rights the actor does not", ErrForbidden)
	}
	return nil
}

// CanInviteToProject returns nil if actor may invite someone with the tenant role into
// project: the rule of [Service.AddProjectMember] (ManageProjects in the project, and
// every right of the person added, here the role they are invited with), so that an
// invitation grants only what its author could grant directly. Otherwise it returns an
// error wrapping ErrForbidden, or storage.ErrNotFound for an unknown project or role.
// authn's Invite calls it for every project of an invitation.
func (p *Policy) CanInviteToProject(actor Subject, project, role uuid.UUID) error {
	if p == nil {
		return fmt.Errorf("%w: no policy", ErrForbidden)
	}
	cr := p.roles[role]
	if cr == nil {
		return fmt.Errorf("access: role %w", storage.ErrNotFound)
	}
	return p.projectMemberRule(actor, project, &cr.rights, uuid.Nil)
}
