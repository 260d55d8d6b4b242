-- +goose Up
-- callshield 0003: accounts (authn.Store): users, one-time links (invitations, password
-- resets) and per-tenant account settings. Encodings as in 0001; a ticket's projects
-- are a JSON array of UUIDs, its token hash a 32-byte BLOB.
--
-- cs_members and cs_project_members (0001) deliberately get no foreign key to cs_users:
-- access.Store is usable without authn, and refers to user IDs only.

CREATE TABLE cs_users (
    tenant_id      TEXT    NOT NULL REFERENCES cs_tenants (id),
    id             TEXT    NOT NULL,
    -- The normalised address (authn.NormalizeEmail), compared and ordered byte by byte
    -- (BINARY collation); '' once the user is deleted.
    email          TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    status         TEXT    NOT NULL
        CHECK (status IN ('invited', 'active', 'blocked', 'archived', 'deleted')),
    status_at      INTEGER NOT NULL,
    deleted_reason TEXT    NOT NULL DEFAULT '',
    -- The encoded password hash (PHC string); '' when none is set. Never the password.
    password_hash  TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    version        INTEGER NOT NULL CHECK (version > 0),
    PRIMARY KEY (tenant_id, id),
    -- A tombstone keeps no personal data, whatever writes it.
    CONSTRAINT cs_users_tombstone_check
        CHECK (status <> 'deleted' OR (email = '' AND name = '' AND password_hash = ''))
) STRICT;
-- E-mails are unique per tenant among users who are not deleted; the index also serves
-- UserByEmail and Users (ordered by e-mail).
CREATE UNIQUE INDEX cs_users_email_key ON cs_users (tenant_id, email) WHERE status <> 'deleted';
-- The purge job's cross-tenant scan of archived users, oldest first.
CREATE INDEX cs_users_archived_idx ON cs_users (status_at) WHERE status = 'archived';

CREATE TABLE cs_tickets (
    tenant_id  TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('invitation', 'password_reset')),
    -- The address the link was sent to; erased when the user is deleted.
    email      TEXT    NOT NULL,
    -- SHA-256 of the link's secret; the secret itself is never stored.
    token_hash BLOB    NOT NULL CHECK (length(token_hash) = 32),
    -- The role and projects promised by an invitation. No foreign keys: a role or
    -- project deleted since the invitation makes acceptance fail or skips the project.
    role_id    TEXT,
    projects   TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(projects) AND json_type(projects) = 'array'),
    created_by TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_users (tenant_id, id),
    -- The lookup (and conditional consumption) of a link.
    CONSTRAINT cs_tickets_token_key UNIQUE (tenant_id, purpose, token_hash)
) STRICT;
-- A user's tickets: revocation of the open ones, erasure of all of them. A user has a
-- handful, so one index serves both.
CREATE INDEX cs_tickets_user_idx ON cs_tickets (tenant_id, user_id, purpose);

CREATE TABLE cs_authn_settings (
    tenant_id           TEXT    PRIMARY KEY NOT NULL REFERENCES cs_tenants (id),
    password_mode       TEXT    NOT NULL,
    password_min_length INTEGER NOT NULL,
    password_min_score  INTEGER NOT NULL,
    require_two_factor  INTEGER NOT NULL DEFAULT 0 CHECK (require_two_factor IN (0, 1)),
    -- Durations in microseconds; 0 means the default.
    invitation_ttl_us   INTEGER NOT NULL,
    reset_ttl_us        INTEGER NOT NULL,
    retention_us        INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    version             INTEGER NOT NULL CHECK (version > 0)
) STRICT;
