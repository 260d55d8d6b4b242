package access

import (
	"context"
	"net/netip"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// Store keeps tenants, roles, projects, memberships and IP allowlists. It is implemented
// by storage/memory and storage/sqlstore, and storage/storetest holds every
// implementation to this contract.
//
// Rules every implementation follows:
//   - Every method is scoped by tenant: rows of another tenant are never read, changed
//     or counted, and their IDs are reported as storage.ErrNotFound.
//   - Every mutation is one unit of work: it applies the change, increments the tenant's
//     policy version and appends ev (a prepared audit event, see audit.Recorder.Prepare)
//     in one transaction, or does none of it.
//   - Times are stored in UTC with at least microsecond precision.
//   - Updates are conditional on the Version passed in: a mismatch is storage.ErrStale
//     and changes nothing; a successful update stores Version+1.
//   - Names (roles, projects) are unique per tenant, compared exactly (byte-wise) and
//     listed in byte order; a duplicate is storage.ErrConflict.
//   - ev must belong to the tenant of the change (audit.ErrInvalidEvent otherwise).
//   - List methods of an unknown tenant return storage.ErrNotFound.
//   - Creating stores Version 1; updates store UpdatedAt; Kind and CreatedAt never change.
type Store interface {
	TenantDirectory // tenants' slugs and domains (store_tenant_names.go)

	// CreateTenant stores t (Version 1) with its initial roles.
	CreateTenant(ctx context.Context, t Tenant, roles []Role, ev audit.Event) error
	// Tenant returns a tenant.
	Tenant(ctx context.Context, id uuid.UUID) (Tenant, error)
	// UpdateTenant stores t's Name.
	UpdateTenant(ctx context.Context, t Tenant, ev audit.Event) error

	// CreateRole stores r (Version 1).
	CreateRole(ctx context.Context, r Role, ev audit.Event) error
	// Role returns one role of the tenant.
	Role(ctx context.Context, tenant, id uuid.UUID) (Role, error)
	// Roles returns the tenant's roles ordered by name.
	Roles(ctx context.Context, tenant uuid.UUID) ([]Role, error)
	// UpdateRole stores r's Name and Rights.
	UpdateRole(ctx context.Context, r Role, ev audit.Event) error
	// DeleteRole deletes a role. A role that is a member's tenant role or a project
	// override fails with ErrRoleInUse and changes nothing.
	DeleteRole(ctx context.Context, tenant, id uuid.UUID, ev audit.Event) error

	// CreateProject stores p (Version 1).
	CreateProject(ctx context.Context, p Project, ev audit.Event) error
	// Project returns one project of the tenant.
	Project(ctx context.Context, tenant, id uuid.UUID) (Project, error)
	// Projects returns the tenant's projects ordered by name.
	Projects(ctx context.Context, tenant uuid.UUID) ([]Project, error)
	// UpdateProject stores p's Name.
	UpdateProject(ctx context.Context, p Project, ev audit.Event) error
	// DeleteProject deletes a project and its memberships.
	DeleteProject(ctx context.Context, tenant, id uuid.UUID, ev audit.Event) error

	// SetMember creates or replaces the user's tenant membership. m.Role must be a role
	// of the tenant (storage.ErrNotFound otherwise). CreatedAt is kept on replace.
	// Moving the tenant's last Admin to a role of another kind fails with ErrLastAdmin
	// and changes nothing: the store settles this, so that two app instances demoting
	// the last two Admins at once cannot both succeed. The rule (the same for
	// RemoveMember, and for authn.Store's DeleteUser) refuses when the user is an
	// Admin-kind member and no other Admin-kind member would remain, or the user can
	// sign in and no other Admin-kind member who can sign in would remain. A member
	// can sign in unless the store also keeps authn accounts and their account is not
	// active (blocked, archived, invited): a store without accounts counts members.
	SetMember(ctx context.Context, m Member, ev audit.Event) error
	// Member returns a user's tenant membership.
	Member(ctx context.Context, tenant, user uuid.UUID) (Member, error)
	// Members returns the tenant's members ordered by user ID.
	Members(ctx context.Context, tenant uuid.UUID) ([]Member, error)
	// RemoveMember deletes the user's tenant membership and all their project
	// memberships. Removing the tenant's last Admin (see SetMember for the rule) fails
	// with ErrLastAdmin and changes nothing.
	RemoveMember(ctx context.Context, tenant, user uuid.UUID, ev audit.Event) error

	// SetProjectMember creates or replaces a project membership. The project, the user's
	// tenant membership and a non-zero override role must exist in the tenant
	// (storage.ErrNotFound otherwise).
	SetProjectMember(ctx context.Context, pm ProjectMember, ev audit.Event) error
	// ProjectMembers returns a project's members ordered by user ID.
	ProjectMembers(ctx context.Context, tenant, project uuid.UUID) ([]ProjectMember, error)
	// RemoveProjectMember deletes one project membership.
	RemoveProjectMember(ctx context.Context, tenant, project, user uuid.UUID, ev audit.Event) error

	// SetAllowlist replaces the tenant's IP allowlist (empty: no restriction).
	// Prefixes are stored masked (netip.Prefix.Masked) and returned in the order given.
	SetAllowlist(ctx context.Context, tenant uuid.UUID, prefixes []netip.Prefix, ev audit.Event) error
	// Allowlist returns the tenant's IP allowlist.
	Allowlist(ctx context.Context, tenant uuid.UUID) ([]netip.Prefix, error)

	// PolicyVersion returns the tenant's policy version: a number that every mutation
	// above increases. It is the cheap freshness check of [Engine].
	PolicyVersion(ctx context.Context, tenant uuid.UUID) (int64, error)
	// LoadPolicy reads everything a policy is compiled from, in one consistent read,
	// and nothing else: the fields [PolicyData] lists, every other field zero, the
	// lists in no particular order (the allowlist in its stored order). An engine
	// calls it on a cold start and after a gap in the change log, for the whole
	// tenant, so an implementation reads no column and sorts no list that Compile
	// does not need.
	LoadPolicy(ctx context.Context, tenant uuid.UUID) (PolicyData, error)
}
