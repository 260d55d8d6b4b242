package sqlstore

import (
	"context"
	"database/sql"
	"slices"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// The access.TenantDirectory methods, over cs_tenant_names (migration 0011). A name is
// the table's primary key, so two tenants can never hold one name, also when they set
// it at once from two instances: the second insert violates the key and the whole
// SetTenantNames is storage.ErrConflict.

// SetTenantNames replaces the tenant's slug and domains under the tenant's row lock,
// without changing the policy version, and appends ev.
func (s *Store) SetTenantNames(ctx context.Context, tenant uuid.UUID, names access.TenantNames, ev audit.Event) error {
	return s.authnTx(ctx, "set tenant names", tenant, ev, false, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM cs_tenant_names WHERE tenant_id = $1", tenant); err != nil {
			return err
		}
		insert := func(name, kind string) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO cs_tenant_names (name, tenant_id, kind) VALUES ($1, $2, $3)", name, tenant, kind)
			return err
		}
		if names.Slug != "" {
			if err := insert(names.Slug, "slug"); err != nil {
				return err
			}
		}
		for _, d := range names.Domains {
			if err := insert(d, "domain"); err != nil {
				return err
			}
		}
		return nil
	})
}

// TenantNames returns the tenant's names, or storage.ErrNotFound for an unknown tenant.
func (s *Store) TenantNames(ctx context.Context, tenant uuid.UUID) (access.TenantNames, error) {
	var out access.TenantNames
	err := s.inTx(ctx, s.d.snapshotTx(), func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, qTenantExists, tenant); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT name, kind FROM cs_tenant_names WHERE tenant_id = $1 ORDER BY name", tenant)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name, kind string
			if err := rows.Scan(&name, &kind); err != nil {
				return err
			}
			if kind == "slug" {
				out.Slug = name
			} else {
				out.Domains = append(out.Domains, name)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return access.TenantNames{}, wrapRead("tenant names", err)
	}
	slices.Sort(out.Domains)
	return out, nil
}

// TenantByName returns the tenant holding the slug or domain, or storage.ErrNotFound.
func (s *Store) TenantByName(ctx context.Context, name string) (access.Tenant, error) {
	t, err := scanTenant(s.db.QueryRowContext(ctx,
		"SELECT t.id, t.name, t.created_at, t.updated_at, t.version FROM cs_tenant_names n "+
			"JOIN cs_tenants t ON t.id = n.tenant_id WHERE n.name = $1", name))
	if err != nil {
		return access.Tenant{}, wrapRead("tenant by name", err)
	}
	return t, nil
}
