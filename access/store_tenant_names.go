package access

import (
	"context"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// TenantNames are how people find their tenant before they sign in: at most one slug
// ("acme", for a sign-in form or app.example.com/acme) and any number of domains
// ("calls.acme.com", for a host serving each tenant on its own name). Every name is
// unique across all tenants, and stored normalised ([NormalizeTenantName]).
type TenantNames struct {
	Slug    string   // "" for none
	Domains []string // sorted
}

// TenantDirectory keeps the tenants' names. It is part of [Store].
//
// Rules besides those of Store: a name is unique across tenants (a slug and a domain
// never collide: domains contain a dot, slugs do not); names are stored as given
// (the service normalises them) and compared exactly; changing names does not change
// the policy version.
type TenantDirectory interface {
	// SetTenantNames replaces the tenant's slug and domains and appends ev, in one
	// transaction. A name held by another tenant is storage.ErrConflict and changes
	// nothing; an unknown tenant storage.ErrNotFound.
	SetTenantNames(ctx context.Context, tenant uuid.UUID, names TenantNames, ev audit.Event) error
	// TenantNames returns the tenant's names (empty when it has none), or
	// storage.ErrNotFound for an unknown tenant.
	TenantNames(ctx context.Context, tenant uuid.UUID) (TenantNames, error)
	// TenantByName returns the tenant holding the slug or domain, or
	// storage.ErrNotFound. It is the one access read that is not scoped by a tenant:
	// it answers only which tenant a public name belongs to, for a sign-in page.
	TenantByName(ctx context.Context, name string) (Tenant, error)
}
