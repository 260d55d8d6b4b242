-- +goose Up
-- callshield 0011: the tenants' public names (access.TenantDirectory): at most one slug
-- and any number of domains per tenant, by which a sign-in page finds its tenant. A
-- name is unique across tenants (the primary key), stored normalised (lower case; see
-- access.NormalizeTenantName) and compared byte by byte.

CREATE TABLE cs_tenant_names (
    name      text COLLATE "C" PRIMARY KEY,
    tenant_id uuid             NOT NULL REFERENCES cs_tenants (id),
    kind      text             NOT NULL CHECK (kind IN ('slug', 'domain'))
);
-- A tenant's names (TenantNames, SetTenantNames), and at most one slug per tenant.
CREATE INDEX cs_tenant_names_tenant_idx ON cs_tenant_names (tenant_id);
CREATE UNIQUE INDEX cs_tenant_names_slug_key ON cs_tenant_names (tenant_id) WHERE kind = 'slug';
