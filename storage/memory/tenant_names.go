package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// tenantNameState indexes every tenant's slug and domains, store-wide, as the SQL
// adapters' primary key on the name does.
type tenantNameState struct {
	owner map[string]uuid.UUID // name → tenant
	names map[uuid.UUID]access.TenantNames
}

// SetTenantNames replaces the tenant's slug and domains. A name another tenant holds is
// storage.ErrConflict; the policy version is not changed.
func (s *Store) SetTenantNames(ctx context.Context, tenant uuid.UUID, names access.TenantNames, ev audit.Event) error {
	names = access.TenantNames{Slug: names.Slug, Domains: slices.Clone(names.Domains)}
	slices.Sort(names.Domains)
	all := names.Domains
	if names.Slug != "" {
		all = append([]string{names.Slug}, all...)
	}
	return s.unitOfWork(ctx, tenant, ev, nil, func(*tenantState) (bool, error) {
		st := &s.tenantNames
		for i, n := range all {
			if owner, ok := st.owner[n]; ok && owner != tenant || slices.Contains(all[:i], n) {
				return false, fmt.Errorf("memory: tenant name %q: %w", n, storage.ErrConflict)
			}
		}
		if st.owner == nil {
			st.owner, st.names = make(map[string]uuid.UUID), make(map[uuid.UUID]access.TenantNames)
		}
		old := st.names[tenant]
		if old.Slug != "" {
			delete(st.owner, old.Slug)
		}
		for _, d := range old.Domains {
			delete(st.owner, d)
		}
		for _, n := range all {
			st.owner[n] = tenant
		}
		st.names[tenant] = names
		return false, nil
	})
}

// TenantNames returns the tenant's names, or storage.ErrNotFound for an unknown tenant.
func (s *Store) TenantNames(ctx context.Context, tenant uuid.UUID) (access.TenantNames, error) {
	var out access.TenantNames
	err := s.read(ctx, tenant, func(*tenantState) error {
		n := s.tenantNames.names[tenant]
		out = access.TenantNames{Slug: n.Slug, Domains: slices.Clone(n.Domains)}
		return nil
	})
	return out, err
}

// TenantByName returns the tenant holding the slug or domain, or storage.ErrNotFound.
func (s *Store) TenantByName(ctx context.Context, name string) (access.Tenant, error) {
	if err := live(ctx); err != nil {
		return access.Tenant{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.tenantNames.owner[name]
	if !ok {
		return access.Tenant{}, fmt.Errorf("memory: tenant name %q: %w", name, storage.ErrNotFound)
	}
	return s.tenants[id].tenant, nil
}
