-- +goose Up
-- callshield 0001: the access schema (tenants, roles, projects, memberships, IP
-- allowlists). Every table is prefixed cs_ so that it can live beside the host's own
-- tables. Every child row carries its tenant_id, and every foreign key includes it, so
-- that no row can ever reference a parent of another tenant.

CREATE TABLE cs_tenants (
    id             uuid        PRIMARY KEY,
    name           text        NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint      NOT NULL CHECK (version > 0),
    -- Increased by every access mutation of the tenant, in the same transaction.
    policy_version bigint      NOT NULL CHECK (policy_version > 0)
);

CREATE TABLE cs_roles (
    tenant_id  uuid             NOT NULL REFERENCES cs_tenants (id),
    id         uuid             NOT NULL,
    -- COLLATE "C": names are unique and ordered byte by byte, whatever the database's
    -- default collation, exactly like the other adapters.
    name       text COLLATE "C" NOT NULL,
    kind       text             NOT NULL,
    rights     text[]           NOT NULL,
    created_at timestamptz      NOT NULL,
    updated_at timestamptz      NOT NULL,
    version    bigint           NOT NULL CHECK (version > 0),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT cs_roles_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE cs_projects (
    tenant_id  uuid             NOT NULL REFERENCES cs_tenants (id),
    id         uuid             NOT NULL,
    name       text COLLATE "C" NOT NULL,
    created_at timestamptz      NOT NULL,
    updated_at timestamptz      NOT NULL,
    version    bigint           NOT NULL CHECK (version > 0),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT cs_projects_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE cs_members (
    tenant_id  uuid        NOT NULL REFERENCES cs_tenants (id),
    user_id    uuid        NOT NULL,
    role_id    uuid        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, role_id) REFERENCES cs_roles (tenant_id, id)
);
CREATE INDEX cs_members_role_idx ON cs_members (tenant_id, role_id);

CREATE TABLE cs_project_members (
    tenant_id  uuid        NOT NULL REFERENCES cs_tenants (id),
    project_id uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    -- NULL: the member's tenant role applies in this project.
    role_id    uuid,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, project_id, user_id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES cs_projects (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_members (tenant_id, user_id),
    FOREIGN KEY (tenant_id, role_id) REFERENCES cs_roles (tenant_id, id)
);
CREATE INDEX cs_project_members_user_idx ON cs_project_members (tenant_id, user_id);
CREATE INDEX cs_project_members_role_idx ON cs_project_members (tenant_id, role_id)
    WHERE role_id IS NOT NULL;

CREATE TABLE cs_allowlist (
    tenant_id uuid    NOT NULL REFERENCES cs_tenants (id),
    -- The entry's position: the allowlist is returned in the order it was set.
    position  integer NOT NULL CHECK (position >= 0),
    prefix    cidr    NOT NULL,
    PRIMARY KEY (tenant_id, position)
);
