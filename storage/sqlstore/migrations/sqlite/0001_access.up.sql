-- +goose Up
-- callshield 0001: the access schema (tenants, roles, projects, memberships, IP
-- allowlists). Every table is prefixed cs_ so that it can live beside the host's own
-- tables. Every child row carries its tenant_id, and every foreign key includes it, so
-- that no row can ever reference a parent of another tenant. Foreign keys are enforced
-- only on connections opened with PRAGMA foreign_keys=1 (see sqlstore.SQLiteDSN).
--
-- Encodings: UUIDs are TEXT in canonical lower-case form (uuid.UUID.String), times are
-- INTEGER microseconds since the Unix epoch (UTC), role rights a JSON array of names,
-- prefixes TEXT (netip.Prefix.String, masked). Tables are STRICT, so a value of the
-- wrong type is rejected rather than converted.

CREATE TABLE cs_tenants (
    id             TEXT    PRIMARY KEY NOT NULL,
    name           TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    version        INTEGER NOT NULL CHECK (version > 0),
    -- Increased by every access mutation of the tenant, in the same transaction.
    policy_version INTEGER NOT NULL CHECK (policy_version > 0)
) STRICT;

CREATE TABLE cs_roles (
    tenant_id  TEXT    NOT NULL REFERENCES cs_tenants (id),
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    rights     TEXT    NOT NULL CHECK (json_valid(rights) AND json_type(rights) = 'array'),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL CHECK (version > 0),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT cs_roles_name_key UNIQUE (tenant_id, name)
) STRICT;

CREATE TABLE cs_projects (
    tenant_id  TEXT    NOT NULL REFERENCES cs_tenants (id),
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL CHECK (version > 0),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT cs_projects_name_key UNIQUE (tenant_id, name)
) STRICT;

CREATE TABLE cs_members (
    tenant_id  TEXT    NOT NULL REFERENCES cs_tenants (id),
    user_id    TEXT    NOT NULL,
    role_id    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, role_id) REFERENCES cs_roles (tenant_id, id)
) STRICT;
CREATE INDEX cs_members_role_idx ON cs_members (tenant_id, role_id);

CREATE TABLE cs_project_members (
    tenant_id  TEXT    NOT NULL REFERENCES cs_tenants (id),
    project_id TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    -- NULL: the member's tenant role applies in this project.
    role_id    TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, project_id, user_id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES cs_projects (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_members (tenant_id, user_id),
    FOREIGN KEY (tenant_id, role_id) REFERENCES cs_roles (tenant_id, id)
) STRICT;
CREATE INDEX cs_project_members_user_idx ON cs_project_members (tenant_id, user_id);
CREATE INDEX cs_project_members_role_idx ON cs_project_members (tenant_id, role_id)
    WHERE role_id IS NOT NULL;

CREATE TABLE cs_allowlist (
    tenant_id TEXT    NOT NULL REFERENCES cs_tenants (id),
    -- The entry's position: the allowlist is returned in the order it was set.
    position  INTEGER NOT NULL CHECK (position >= 0),
    prefix    TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, position)
) STRICT;
