-- +goose Up
-- callshield 0011: the tenants' public names (see the PostgreSQL migration of the same
-- number). UUIDs are TEXT in canonical form; names compare byte by byte (BINARY).

CREATE TABLE cs_tenant_names (
    name      TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES cs_tenants (id),
    kind      TEXT NOT NULL CHECK (kind IN ('slug', 'domain'))
) STRICT;
CREATE INDEX cs_tenant_names_tenant_idx ON cs_tenant_names (tenant_id);
CREATE UNIQUE INDEX cs_tenant_names_slug_key ON cs_tenant_names (tenant_id) WHERE kind = 'slug';
