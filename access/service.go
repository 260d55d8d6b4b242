package access

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// ServiceOptions configure a [Service]. The zero value is valid.
type ServiceOptions struct {
	// Clock returns the current time. If nil, time.Now is used.
	Clock func() time.Time
}

// Service changes tenants, roles, projects, memberships and allowlists. Every method
// checks that the actor holds the right the change needs, writes the change and its
// change-log event in one store transaction, and invalidates the engine's cached policy
// so that the change applies on the next check.
//
// Rights cannot be escalated through it: an actor can grant only rights they hold
// themselves (in a role they create or edit, or by assigning a role to a user), and the
// tenant's last Admin cannot be demoted or removed.
type Service struct {
	store  Store
	engine *Engine
	clock  func() time.Time
}

// NewService returns a Service over store, invalidating engine's cache on changes.
func NewService(store Store, engine *Engine, opts ServiceOptions) *Service {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Service{store: store, engine: engine, clock: opts.Clock}
}

// System returns the subject the host uses for its own provisioning (creating the first
// Admin membership, scripted set-up): it passes every right check of [Service] and is
// recorded in the change log as the system. Never derive it from request input.
func System(tenant uuid.UUID) Subject {
	return Subject{Tenant: tenant, system: true}
}

func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// authorize loads the actor's tenant policy and checks right r with [Policy.Check]: in
// project if it is not nil, else in the actor's tenant role (a tenant-level operation
// such as creating a project needs ManageProjects in the tenant role).
func (s *Service) authorize(ctx context.Context, actor Subject, tenant uuid.UUID, r Right, project uuid.UUID) (*Policy, error) {
	if actor.Tenant != tenant || tenant == uuid.Nil {
		return nil, fmt.Errorf("%w: actor of another tenant", ErrForbidden)
	}
	p, err := s.engine.Policy(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if project != uuid.Nil && !p.HasProject(project) {
		// Another tenant's project, or none: "not found" for everyone (ASVS 8.2.2).
		return nil, fmt.Errorf("access: project %w", storage.ErrNotFound)
	}
	if actor.system {
		return p, nil
	}
	if !p.Check(actor, r, project) {
		return nil, fmt.Errorf("%w: %s required", ErrForbidden, r)
	}
	return p, nil
}

// grantable reports whether actor may hand out every right in set.
func grantable(p *Policy, actor Subject, set *RightSet) bool {
	if actor.system {
		return true
	}
	if p.memberRole(actor.User) == nil {
		return false
	}
	held := p.memberRights(actor.User)
	for i := range set {
		if set[i]&^held[i] != 0 {
			return false
		}
	}
	return true
}

func (s *Service) event(p *Policy, actor Subject, action string, target audit.Target, changes []audit.Change) (audit.Event, error) {
	role := "system"
	if !actor.system {
		if r, ok := p.Role(actor.User); ok {
			role = r.Name
		}
	}
	ev := audit.Event{
		Tenant:  actor.Tenant,
		Kind:    audit.KindChange,
		Action:  action,
		Actor:   audit.Actor{User: actor.User, Role: role, IP: actor.IP, UserAgent: actor.UserAgent, Session: actor.Session, Token: actor.Token},
		Target:  target,
		Outcome: audit.Success,
		Changes: changes,
	}
	return ev, audit.Prepare(&ev, s.now())
}

// validName trims a display name and checks it: 1 to 200 characters, valid UTF-8, no
// control characters.
func validName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return "", fmt.Errorf("%w: %q", ErrInvalidName, truncate(name, 64))
	}
	return name, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func newID() (uuid.UUID, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, fmt.Errorf("access: new id: %w", err)
	}
	return id, nil
}

// DefaultRoles returns the rights of the default roles created with every tenant:
// Admin holds every right (also those registered later); Supervisor sees statistics,
// reports, recordings and all calls of their projects; Agent sees only their own calls
// and widget data, without masked fields. Host rights registered with
// [RightInfo.DefaultFor] are added to the roles they name.
func DefaultRoles() map[RoleKind][]Right {
	d := map[RoleKind][]Right{
		KindSupervisor: {EditProfile, ViewReports, ExportReports, ListenRecordings, DownloadRecordings, ViewAllCalls, SeeMaskedFields},
		KindAgent:      {EditProfile},
	}
	for _, ri := range Rights() {
		for _, k := range ri.DefaultFor {
			if k == KindSupervisor || k == KindAgent {
				d[k] = append(d[k], ri.Right)
			}
		}
	}
	return d
}

func rightNames(rights []Right) ([]string, RightSet, error) {
	var set RightSet
	names := make([]string, 0, len(rights))
	for _, r := range rights {
		if !r.Valid() {
			return nil, set, fmt.Errorf("%w: %s", ErrUnknownRight, r)
		}
		if !set.Has(r) {
			set.Add(r)
			names = append(names, r.String())
		}
	}
	slices.Sort(names)
	return names, set, nil
}

// CreateTenant provisions a tenant with its default roles Admin, Supervisor and Agent.
// It is a host operation (no actor right is checked); the change log records the system
// as its author.
func (s *Service) CreateTenant(ctx context.Context, name string) (Tenant, error) {
	name, err := validName(name)
	if err != nil {
		return Tenant{}, err
	}
	id, err := newID()
	if err != nil {
		return Tenant{}, err
	}
	now := s.now()
	t := Tenant{ID: id, Name: name, CreatedAt: now, UpdatedAt: now, Version: 1}
	defaults := DefaultRoles()
	var roles []Role
	for _, k := range []RoleKind{KindAdmin, KindSupervisor, KindAgent} {
		rid, err := newID()
		if err != nil {
			return Tenant{}, err
		}
		names, _, _ := rightNames(defaults[k])
		if k == KindAdmin {
			names = []string{}
		}
		roles = append(roles, Role{ID: rid, Tenant: id, Name: defaultRoleName(k), Kind: k, Rights: names,
			CreatedAt: now, UpdatedAt: now, Version: 1})
	}
	ev, err := s.event(nil, System(id), "tenant.create", audit.Target{Type: "tenant", ID: id.String(), Name: name},
		[]audit.Change{{Field: "name", New: name}})
	if err != nil {
		return Tenant{}, err
	}
	if err := s.store.CreateTenant(ctx, t, roles, ev); err != nil {
		return Tenant{}, fmt.Errorf("access: create tenant: %w", err)
	}
	return t, nil
}

func defaultRoleName(k RoleKind) string {
	switch k {
	case KindAdmin:
		return "Admin"
	case KindSupervisor:
		return "Supervisor"
	default:
		return "Agent"
	}
}

// RenameTenant changes the tenant's name. It needs ManageCompany.
func (s *Service) RenameTenant(ctx context.Context, actor Subject, name string) (Tenant, error) {
	p, err := s.authorize(ctx, actor, actor.Tenant, ManageCompany, uuid.Nil)
	if err != nil {
		return Tenant{}, err
	}
	if name, err = validName(name); err != nil {
		return Tenant{}, err
	}
	t, err := s.store.Tenant(ctx, actor.Tenant)
	if err != nil {
		return Tenant{}, fmt.Errorf("access: rename tenant: %w", err)
	}
	ch, changed := audit.Changed("name", t.Name, name)
	if !changed {
		return t, nil
	}
	ev, err := s.event(p, actor, "tenant.update", audit.Target{Type: "tenant", ID: t.ID.String(), Name: name}, []audit.Change{ch})
	if err != nil {
		return Tenant{}, err
	}
	t.Name, t.UpdatedAt = name, s.now()
	if err := s.store.UpdateTenant(ctx, t, ev); err != nil {
		return Tenant{}, fmt.Errorf("access: rename tenant: %w", err)
	}
	t.Version++
	s.engine.Invalidate(t.ID)
	return t, nil
}

// RoleSpec is what an administrator sets on a role.
type RoleSpec struct {
	Name   string
	Rights []Right
}

// CreateRole creates a custom role. It needs ManageRoles, and every right in spec must
// be one the actor holds.
func (s *Service) CreateRole(ctx context.Context, actor Subject, spec RoleSpec) (Role, error) {
	p, err := s.authorize(ctx, actor, actor.Tenant, ManageRoles, uuid.Nil)
	if err != nil {
		return Role{}, err
	}
	name, err := validName(spec.Name)
	if err != nil {
		return Role{}, err
	}
	names, set, err := rightNames(spec.Rights)
	if err != nil {
		return Role{}, err
	}
	if !grantable(p, actor, &set) {
		return Role{}, fmt.Errorf("%w: cannot grant rights the actor does not hold", ErrForbidden)
	}
	id, err := newID()
	if err != nil {
		return Role{}, err
	}
	now := s.now()
	r := Role{ID: id, Tenant: actor.Tenant, Name: name, Kind: KindCustom, Rights: names, CreatedAt: now, UpdatedAt: now, Version: 1}
	ev, err := s.event(p, actor, "role.create", audit.Target{Type: "role", ID: id.String(), Name: name}, []audit.Change{
		{Field: "name", New: name}, {Field: "rights", New: strings.Join(names, ",")},
	})
	if err != nil {
		return Role{}, err
	}
	if err := s.store.CreateRole(ctx, r, ev); err != nil {
		return Role{}, fmt.Errorf("access: create role: %w", err)
	}
	s.engine.Invalidate(actor.Tenant)
	return r, nil
}

// UpdateRole replaces a role's name and rights. It needs ManageRoles; rights added or
// removed must be ones the actor holds (someone with only ManageRoles cannot strip
// ListenRecordings from the Supervisor role: that would demote every Supervisor, whom
// they could not demote one by one); a right whose name this process has not
// registered may be removed by anyone allowed to edit the role; the Admin role cannot be edited (ErrBuiltinRole). version is
// the role's Version as the actor saw it (storage.ErrStale if it moved since); pass 0 to
// update whatever is current.
func (s *Service) UpdateRole(ctx context.Context, actor Subject, id uuid.UUID, version int64, spec RoleSpec) (Role, error) {
	p, err := s.authorize(ctx, actor, actor.Tenant, ManageRoles, uuid.Nil)
	if err != nil {
		return Role{}, err
	}
	name, err := validName(spec.Name)
	if err != nil {
		return Role{}, err
	}
	names, _, err := rightNames(spec.Rights)
	if err != nil {
		return Role{}, err
	}
	r, err := s.store.Role(ctx, actor.Tenant, id)
	if err != nil {
		return Role{}, fmt.Errorf("access: update role: %w", err)
	}
	if version != 0 && version != r.Version {
		return Role{}, fmt.Errorf("access: update role: %w", storage.ErrStale)
	}
	if r.Kind == KindAdmin {
		return Role{}, fmt.Errorf("%w: the Admin role holds every right", ErrBuiltinRole)
	}
	// Only rights the actor holds may change, added or removed: stripping a right the
	// actor lacks from a role held by users above them would demote those users,
	// which SetMember refuses (nobody manages a user above them).
	var changed RightSet
	for _, n := range names {
		if !slices.Contains(r.Rights, n) {
			rr, _ := ParseRight(n)
			changed.Add(rr)
		}
	}
	for _, n := range r.Rights {
		if !slices.Contains(names, n) {
			if rr, err := ParseRight(n); err == nil {
				changed.Add(rr)
			}
		}
	}
	if !grantable(p, actor, &changed) {
		return Role{}, fmt.Errorf("%w: cannot grant or remove rights the actor does not hold", ErrForbidden)
	}
	var changes []audit.Change
	if ch, ok := audit.Changed("name", r.Name, name); ok {
		changes = append(changes, ch)
	}
	if ch, ok := audit.Changed("rights", strings.Join(r.Rights, ","), strings.Join(names, ",")); ok {
		changes = append(changes, ch)
	}
	if len(changes) == 0 {
		return r, nil
	}
	ev, err := s.event(p, actor, "role.update", audit.Target{Type: "role", ID: id.String(), Name: name}, changes)
	if err != nil {
		return Role{}, err
	}
	r.Name, r.Rights, r.UpdatedAt = name, names, s.now()
	if err := s.store.UpdateRole(ctx, r, ev); err != nil {
		return Role{}, fmt.Errorf("access: update role: %w", err)
	}
	r.Version++
	s.engine.Invalidate(actor.Tenant)
	return r, nil
}

// DeleteRole deletes a custom role. It needs ManageRoles and every right of the role
// (as for editing it). A default role fails with ErrBuiltinRole, a role still assigned
// to a user or project membership with ErrRoleInUse.
func (s *Service) DeleteRole(ctx context.Context, actor Subject, id uuid.UUID) error {
	p, err := s.authorize(ctx, actor, actor.Tenant, ManageRoles, uuid.Nil)
	if err != nil {
		return err
	}
	r, err := s.store.Role(ctx, actor.Tenant, id)
	if err != nil {
		return fmt.Errorf("access: delete role: %w", err)
	}
	if r.Kind != KindCustom {
		return fmt.Errorf("%w: %s cannot be deleted", ErrBuiltinRole, r.Name)
	}
	if cr := p.roles[id]; cr != nil && !grantable(p, actor, &cr.rights) {
		return fmt.Errorf("%w: cannot delete a role with rights the actor does not hold", ErrForbidden)
	}
	ev, err := s.event(p, actor, "role.delete", audit.Target{Type: "role", ID: id.String(), Name: r.Name},
		[]audit.Change{{Field: "name", Old: r.Name}, {Field: "rights", Old: strings.Join(r.Rights, ",")}})
	if err != nil {
		return err
	}
	if err := s.store.DeleteRole(ctx, actor.Tenant, id, ev); err != nil {
		return fmt.Errorf("access: delete role: %w", err)
	}
	s.engine.Invalidate(actor.Tenant)
	return nil
}

// CreateProject creates a project. It needs ManageProjects (tenant-wide).
func (s *Service) CreateProject(ctx context.Context, actor Subject, name string) (Project, error) {
	p, err := s.authorize(ctx, actor, actor.Tenant, ManageProjects, uuid.Nil)
	if err != nil {
		return Project{}, err
	}
	if name, err = validName(name); err != nil {
		return Project{}, err
	}
	id, err := newID()
	if err != nil {
		return Project{}, err
	}
	now := s.now()
	pr := Project{ID: id, Tenant: actor.Tenant, Name: name, CreatedAt: now, UpdatedAt: now, Version: 1}
	ev, err := s.event(p, actor, "project.create", audit.Target{Type: "project", ID: id.String(), Name: name},
		[]audit.Change{{Field: "name", New: name}})
	if err != nil {
		return Project{}, err
	}
	if err := s.store.CreateProject(ctx, pr, ev); err != nil {
		return Project{}, fmt.Errorf("access: create project: %w", err)
	}
	s.engine.Invalidate(actor.Tenant)
	return pr, nil
}

// RenameProject renames a project. It needs ManageProjects in that project.
func (s *Service) RenameProject(ctx context.Context, actor Subject, id uuid.UUID, name string) (Project, error) {
	p, err := s.authorize(ctx, actor, actor.Tenant, ManageProjects, id)
	if err != nil {
		return Project{}, err
	}
	if name, err = validName(name); err != nil {
		return Project{}, err
	}
	pr, err := s.store.Project(ctx, actor.Tenant, id)
	if err != nil {
		return Project{}, fmt.Errorf("access: rename project: %w", err)
	}
	ch, changed := audit.Changed("name", pr.Name, name)
	if !changed {
		return pr, nil
	}
	ev, err := s.event(p, actor, "project.update", audit.Target{Type: "project", ID: id.String(), Name: name}, []audit.Change{ch})
	if err != nil {
		return Project{}, err
	}
	pr.Name, pr.UpdatedAt = name, s.now()
	if err := s.store.UpdateProject(ctx, pr, ev); err != nil {
		return Project{}, fmt.Errorf("access: rename project: %w", err)
	}
	pr.Version++
	s.engine.Invalidate(actor.Tenant)
	return pr, nil
}

// DeleteProject deletes a project and its memberships. It needs ManageProjects
// (tenant-wide).
func (s *Service) DeleteProject(ctx context.Context, actor Subject, id uuid.UUID) error {
	p, err := s.authorize(ctx, actor, actor.Tenant, ManageProjects, uuid.Nil)
	if err != nil {
		return err
	}
	pr, err := s.store.Project(ctx, actor.Tenant, id)
	if err != nil {
		return fmt.Errorf("access: delete project: %w", err)
	}
	ev, err := s.event(p, actor, "project.delete", audit.Target{Type: "project", ID: id.String(), Name: pr.Name},
		[]audit.Change{{Field: "name", Old: pr.Name}})
	if err != nil {
		return err
	}
	if err := s.store.DeleteProject(ctx, actor.Tenant, id, ev); err != nil {
		return fmt.Errorf("access: delete project: %w", err)
	}
	s.engine.Invalidate(actor.Tenant)
	return nil
}

// ErrLastAdmin: the change would leave the tenant without an Admin.
var ErrLastAdmin = errors.New("access: the tenant's last Admin cannot be demoted or removed")

func adminCount(p *Policy) int {
	n := 0
	p.members.each(func(s *memberSlot) {
		if p.members.roles[s.role].role.Kind == KindAdmin {
			n++
		}
	})
	return n
}

// SetMember gives a user a tenant role (making them a member of the tenant if they were
// not). It needs UserManagement, and the actor must hold every right of the role.
// Moving the tenant's last Admin to a role of another kind is ErrLastAdmin; the store
// settles it (see [Store]), counting, when it keeps authn accounts too, only the Admins
// who can sign in: with one active and one blocked Admin, the active one stays.
func (s *Service) SetMember(ctx context.Context, actor Subject, user, role uuid.UUID) (Member, error) {
	p, err := s.authorize(ctx, actor, actor.Tenant, UserManagement, uuid.Nil)
	if err != nil {
		return Member{}, err
	}
	if user == uuid.Nil {
		return Member{}, fmt.Errorf("access: set member: %w", storage.ErrNotFound)
	}
	cr := p.roles[role]
	if cr == nil {
		return Member{}, fmt.Errorf("access: set member: role %w", storage.ErrNotFound)
	}
	if !grantable(p, actor, &cr.rights) {
		return Member{}, fmt.Errorf("%w: cannot assign a role with rights the actor does not hold", ErrForbidden)
	}
	old := p.memberRole(user)
	oldRole := ""
	if old != nil {
		if old == cr {
			m, err := s.store.Member(ctx, actor.Tenant, user)
			if err != nil {
				return Member{}, fmt.Errorf("access: set member: %w", err)
			}
			return m, nil
		}
		oldRole = old.role.Name
		if !p.CanManage(actor, user) {
			return Member{}, fmt.Errorf("%w: cannot change the role of a user with rights the actor does not hold (tenant role or project overrides)", ErrForbidden)
		}
		if old.role.Kind == KindAdmin && cr.role.Kind != KindAdmin && adminCount(p) <= 1 {
			return Member{}, ErrLastAdmin
		}
	}
	ev, err := s.event(p, actor, "member.set_role", audit.Target{Type: "user", ID: user.String()},
		[]audit.Change{{Field: "role", Old: oldRole, New: cr.role.Name}})
	if err != nil {
		return Member{}, err
	}
	now := s.now()
	m := Member{Tenant: actor.Tenant, User: user, Role: role, CreatedAt: now, UpdatedAt: now}
	if err := s.store.SetMember(ctx, m, ev); err != nil {
		return Member{}, fmt.Errorf("access: set member: %w", err)
	}
	s.engine.Invalidate(actor.Tenant)
	return m, nil
}

// RemoveMember removes a user from the tenant's memberships and all its projects. It
// needs UserManagement. Removing the tenant's last Admin is ErrLastAdmin (see
// [Service.SetMember]).
func (s *Service) RemoveMember(ctx context.Context, actor Subject, user uuid.UUID) error {
	p, err := s.authorize(ctx, actor, actor.Tenant, UserManagement, uuid.Nil)
	if err != nil {
		return err
	}
	old := p.memberRole(user)
	if old == nil {
		return fmt.Errorf("access: remove member: %w", storage.ErrNotFound)
	}
	if !p.CanManage(actor, user) {
		return fmt.Errorf("%w: cannot remove a user with rights the actor does not hold (tenant role or project overrides)", ErrForbidden)
	}
	if old.role.Kind == KindAdmin && adminCount(p) <= 1 {
		return ErrLastAdmin
	}
	ev, err := s.event(p, actor, "member.remove", audit.Target{Type: "user", ID: user.String()},
		[]audit.Change{{Field: "role", Old: old.role.Name}})
	if err != nil {
		return err
	}
	if err := s.store.RemoveMember(ctx, actor.Tenant, user, ev); err != nil {
		return fmt.Errorf("access: remove member: %w", err)
	}
	s.engine.Invalidate(actor.Tenant)
	return nil
}

// AddProjectMember makes a tenant member a member of a project, optionally with a role
// override for that project (uuid.Nil for none), or changes their override. It needs
// ManageProjects in the project; the actor must hold every right of the override role
// and stand at or above the user ([Policy.CanManage]: every right of their tenant role
// and of all their project overrides), so that a project lead cannot give an Admin the
// Agent role in their project. authn's invitations follow the same rule
// ([Policy.CanInviteToProject]).
func (s *Service) AddProjectMember(ctx context.Context, actor Subject, project, user, role uuid.UUID) (ProjectMember, error) {
	p, err := s.authorize(ctx, actor, actor.Tenant, ManageProjects, project)
	if err != nil {
		return ProjectMember{}, err
	}
	target, member := p.standing(user)
	if !member {
		return ProjectMember{}, fmt.Errorf("access: add project member: member %w", storage.ErrNotFound)
	}
	if err := p.projectMemberRule(actor, project, &target, role); err != nil {
		return ProjectMember{}, fmt.Errorf("access: add project member: %w", err)
	}
	override := ""
	if role != uuid.Nil {
		override = p.roles[role].role.Name
	}
	ev, err := s.event(p, actor, "project.member_set", audit.Target{Type: "user", ID: user.String()},
		[]audit.Change{{Field: "project", New: project.String()}, {Field: "role_override", New: override}})
	if err != nil {
		return ProjectMember{}, err
	}
	ev.Project = project
	pm := ProjectMember{Tenant: actor.Tenant, Project: project, User: user, Role: role, CreatedAt: s.now()}
	if err := s.store.SetProjectMember(ctx, pm, ev); err != nil {
		return ProjectMember{}, fmt.Errorf("access: add project member: %w", err)
	}
	s.engine.Invalidate(actor.Tenant)
	return pm, nil
}

// RemoveProjectMember removes a user from a project. It needs ManageProjects in the
// project, and the actor must stand at or above the user ([Policy.CanManage]).
func (s *Service) RemoveProjectMember(ctx context.Context, actor Subject, project, user uuid.UUID) error {
	p, err := s.authorize(ctx, actor, actor.Tenant, ManageProjects, project)
	if err != nil {
		return err
	}
	if _, member := p.standing(user); member && !p.CanManage(actor, user) {
		return fmt.Errorf("%w: cannot remove a user with rights the actor does not hold from a project", ErrForbidden)
	}
	ev, err := s.event(p, actor, "project.member_remove", audit.Target{Type: "user", ID: user.String()},
		[]audit.Change{{Field: "project", Old: project.String()}})
	if err != nil {
		return err
	}
	ev.Project = project
	if err := s.store.RemoveProjectMember(ctx, actor.Tenant, project, user, ev); err != nil {
		return fmt.Errorf("access: remove project member: %w", err)
	}
	s.engine.Invalidate(actor.Tenant)
	return nil
}

// SetAllowlist replaces the tenant's IP allowlist with the parsed entries (see
// [ParsePrefixes]); an empty list removes the restriction. It needs ManageCompany. An
// actor without IgnoreAllowedIPs cannot set a list that excludes their own address
// (Subject.IP), so that nobody locks themselves out by mistake.
func (s *Service) SetAllowlist(ctx context.Context, actor Subject, entries []string) ([]netip.Prefix, error) {
	p, err := s.authorize(ctx, actor, actor.Tenant, ManageCompany, uuid.Nil)
	if err != nil {
		return nil, err
	}
	prefixes, err := ParsePrefixes(entries)
	if err != nil {
		return nil, err
	}
	if !actor.system && len(prefixes) > 0 && !p.Check(actor, IgnoreAllowedIPs, uuid.Nil) &&
		!NewAllowlist(prefixes).Allows(actor.IP) {
		return nil, fmt.Errorf("%w: the new allowlist would exclude your own address", ErrForbidden)
	}
	oldS := prefixStrings(p.allow.Prefixes())
	newS := prefixStrings(prefixes)
	ch, changed := audit.Changed("allowlist", oldS, newS)
	if !changed {
		return prefixes, nil
	}
	ev, err := s.event(p, actor, "tenant.allowlist_set", audit.Target{Type: "tenant", ID: actor.Tenant.String()}, []audit.Change{ch})
	if err != nil {
		return nil, err
	}
	if err := s.store.SetAllowlist(ctx, actor.Tenant, prefixes, ev); err != nil {
		return nil, fmt.Errorf("access: set allowlist: %w", err)
	}
	s.engine.Invalidate(actor.Tenant)
	return prefixes, nil
}

func prefixStrings(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}
