package access

import (
	"context"
	"net/netip"

	"github.com/google/uuid"
)

// ChangeStore is implemented by stores that keep a per-tenant, versioned log of policy
// changes (storage/memory and storage/sqlstore do). With it, [Engine] refreshes a
// cached policy by applying what changed since its version instead of loading and
// compiling the whole tenant: after one user's change, work in proportion to that
// user, not to the tenant. A store without it is reloaded in full.
type ChangeStore interface {
	// PolicyChanges returns what changed in the tenant's policy data after version
	// since, read in one consistent snapshot together with the data it names. When the
	// log cannot tell (it no longer reaches back to since, or the changes are too many
	// to be cheaper than a full load) it sets Full, and the caller loads the policy.
	// An unknown tenant is storage.ErrNotFound.
	PolicyChanges(ctx context.Context, tenant uuid.UUID, since int64) (PolicyChanges, error)
}

// PolicyChanges is the difference between a tenant's policy data at one version and at
// Version, as [ChangeStore.PolicyChanges] reads it. The lists hold current data, read
// in the same snapshot as Version, so applying them to the older policy gives exactly
// the policy [Compile] builds from a [Store.LoadPolicy] at Version.
type PolicyChanges struct {
	// Version is the tenant's policy version the changes bring a policy to.
	Version int64
	// Full reports that the changes cannot be told (the log has a gap, or they are
	// too many): load the whole policy instead. The other fields are then empty.
	Full bool
	// Tenant is set if the tenant's row (its name) changed.
	Tenant *Tenant
	// Roles holds all of the tenant's roles if RolesChanged.
	Roles        []Role
	RolesChanged bool
	// Projects holds all of the tenant's projects if ProjectsChanged (IDs suffice).
	Projects        []Project
	ProjectsChanged bool
	// Allowlist holds the tenant's allowlist if AllowlistChanged.
	Allowlist        []netip.Prefix
	AllowlistChanged bool
	// Users are the users whose tenant membership, project memberships or account
	// status changed; Members and ProjectMembers hold their current rows (a user of
	// Users without a Member row is no member any more).
	Users          []uuid.UUID
	Members        []Member
	ProjectMembers []ProjectMember
}
