-- +goose Up
-- callshield 0003: accounts (authn.Store): users, one-time links (invitations, password
-- resets) and per-tenant account settings. As in 0001, every child row carries its
-- tenant_id and every foreign key includes it.
--
-- cs_members and cs_project_members (0001) deliberately get no foreign key to cs_users:
-- access.Store is usable without authn, and refers to user IDs only.

CREATE TABLE cs_users (
    tenant_id      uuid             NOT NULL REFERENCES cs_tenants (id),
    id             uuid             NOT NULL,
    -- The normalised address (authn.NormalizeEmail), compared and ordered byte by byte;
    -- '' once the user is deleted.
    email          text COLLATE "C" NOT NULL,
    name           text             NOT NULL,
    status         text             NOT NULL
        CHECK (status IN ('invited', 'active', 'blocked', 'archived', 'deleted')),
    status_at      timestamptz      NOT NULL,
    deleted_reason text             NOT NULL DEFAULT '',
    -- The encoded password hash (PHC string); '' when none is set. Never the password.
    password_hash  text             NOT NULL DEFAULT '',
    created_at     timestamptz      NOT NULL,
    updated_at     timestamptz      NOT NULL,
    version        bigint           NOT NULL CHECK (version > 0),
    PRIMARY KEY (tenant_id, id),
    -- A tombstone keeps no personal data, whatever writes it.
    CONSTRAINT cs_users_tombstone_check
        CHECK (status <> 'deleted' OR (email = '' AND name = '' AND password_hash = ''))
);
-- E-mails are unique per tenant among users who are not deleted; the index also serves
-- UserByEmail and Users (ordered by e-mail).
CREATE UNIQUE INDEX cs_users_email_key ON cs_users (tenant_id, email) WHERE status <> 'deleted';
-- The purge job's cross-tenant scan of archived users, oldest first.
CREATE INDEX cs_users_archived_idx ON cs_users (status_at) WHERE status = 'archived';

CREATE TABLE cs_tickets (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    purpose    text        NOT NULL CHECK (purpose IN ('invitation', 'password_reset')),
    -- The address the link was sent to; erased when the user is deleted.
    email      text        NOT NULL,
    -- SHA-256 of the link's secret; the secret itself is never stored.
    token_hash bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
    -- The role and projects promised by an invitation. No foreign keys: a role or
    -- project deleted since the invitation makes acceptance fail or skips the project.
    role_id    uuid,
    projects   uuid[]      NOT NULL DEFAULT '{}',
    created_by uuid,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_users (tenant_id, id),
    -- The lookup (and conditional consumption) of a link.
    CONSTRAINT cs_tickets_token_key UNIQUE (tenant_id, purpose, token_hash)
);
-- A user's tickets: revocation of the open ones, erasure of all of them. A user has a
-- handful, so one index serves both.
CREATE INDEX cs_tickets_user_idx ON cs_tickets (tenant_id, user_id, purpose);

CREATE TABLE cs_authn_settings (
    tenant_id           uuid        PRIMARY KEY REFERENCES cs_tenants (id),
    password_mode       text        NOT NULL,
    password_min_length integer     NOT NULL,
    password_min_score  integer     NOT NULL,
    require_two_factor  boolean     NOT NULL DEFAULT false,
    -- Durations in microseconds; 0 means the default.
    invitation_ttl_us   bigint      NOT NULL,
    reset_ttl_us        bigint      NOT NULL,
    retention_us        bigint      NOT NULL,
    updated_at          timestamptz NOT NULL,
    version             bigint      NOT NULL CHECK (version > 0)
);
