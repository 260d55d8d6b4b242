package access

import (
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// Tenant is a company: the unit of isolation. Every other entity carries its tenant's
// ID and no store read ever crosses tenants.
type Tenant struct {
	ID        uuid.UUID
	Name      string
	CreatedAt time.Time // UTC
	UpdatedAt time.Time // UTC
	// Version is the optimistic-concurrency version of the row; updates must pass the
	// version they read and fail with storage.ErrStale otherwise.
	Version int64
}

// RoleKind tells the default roles apart from custom ones.
type RoleKind string

// Role kinds. The three defaults are created with every tenant.
const (
	KindAdmin      RoleKind = "admin"      // every right, always; cannot be edited or deleted
	KindSupervisor RoleKind = "supervisor" // editable, cannot be deleted
	KindAgent      RoleKind = "agent"      // editable, cannot be deleted
	KindCustom     RoleKind = "custom"
)

// Role is a named set of rights in one tenant. A user has one role in the tenant and
// may have another role in a given project (a per-project override).
type Role struct {
	ID     uuid.UUID
	Tenant uuid.UUID
	Name   string
	Kind   RoleKind
	// Rights are the stable names of the granted rights, sorted. Names of rights this
	// process has not registered are kept but grant nothing. The Admin role grants every
	// right whatever this field holds.
	Rights    []string
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// Project isolates data inside a tenant: its calls, chats and forms are seen only by its
// members and by holders of [SeeAllProjects].
type Project struct {
	ID        uuid.UUID
	Tenant    uuid.UUID
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// Member is a user's membership of a tenant, with their role. User IDs come from the
// authn package; access only refers to them.
type Member struct {
	Tenant    uuid.UUID
	User      uuid.UUID
	Role      uuid.UUID
	CreatedAt time.Time
	UpdatedAt time.Time
	// Disabled reports that the member's account may not sign in: a store that also
	// keeps authn accounts sets it on every read (Member, Members, LoadPolicy) when
	// the member's user exists and is not active (invited, blocked, archived,
	// deleted). A member without an account (a host using access without authn) is
	// never disabled. [Compile] grants a disabled member no right at all, so that a
	// blocked user is denied by the policy itself, whichever caller asks; their role
	// still tells who may manage them. It is derived, never stored: SetMember ignores
	// it.
	Disabled bool
}

// ProjectMember makes a tenant member a member of a project. Role, when not zero,
// overrides the member's tenant role inside this project.
type ProjectMember struct {
	Tenant    uuid.UUID
	Project   uuid.UUID
	User      uuid.UUID
	Role      uuid.UUID // zero: the member's tenant role applies
	CreatedAt time.Time
}

// PolicyData is everything a tenant's policy is compiled from, read in one consistent
// snapshot by [Store.LoadPolicy]. It holds only what [Compile] reads; every other field
// is zero (read those with the listing methods of [Store]):
//
//   - Tenant: ID and Name.
//   - Roles: every field, CreatedAt, UpdatedAt and Version included. A policy hands
//     its roles out whole ([Policy.Role], [Policy.Roles], [Policy.RoleByKind]), and
//     callers pass that Version to [Service.UpdateRole]; a tenant has a handful of
//     roles, so reading them whole costs nothing.
//   - Projects: ID and Tenant.
//   - Members: Tenant, User, Role and Disabled.
//   - ProjectMembers: Tenant, Project, User and Role.
//   - Allowlist: the prefixes, in the order [Store.SetAllowlist] stored them.
//
// Roles, Projects, Members and ProjectMembers come in no particular order, and
// Compile builds the same policy whatever their order.
type PolicyData struct {
	Tenant         Tenant
	Version        int64 // the tenant's policy version at the time of the read
	Roles          []Role
	Projects       []Project
	Members        []Member
	ProjectMembers []ProjectMember
	Allowlist      []netip.Prefix
}
