-- +goose Up
-- callshield 0008: API tokens (token.Store) and their daily usage. Encodings as in
-- 0001; the token hash is a 32-byte BLOB. No foreign key to cs_users: token.Store
-- refers to user IDs only, like access.Store's memberships.

CREATE TABLE cs_tokens (
    tenant_id    TEXT    NOT NULL REFERENCES cs_tenants (id),
    id           TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    -- SHA-256 of the token's random part; the token itself is never stored.
    token_hash   BLOB    NOT NULL CHECK (length(token_hash) = 32),
    created_by   TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    -- Moved forward by the usage flush (bounded writes), never per request.
    last_used_at INTEGER,
    revoked_at   INTEGER,
    PRIMARY KEY (tenant_id, id),
    -- The lookup of every request.
    CONSTRAINT cs_tokens_hash_key UNIQUE (tenant_id, token_hash)
) STRICT;
-- One unrevoked token per user, whatever races: the backstop of the store's rule.
CREATE UNIQUE INDEX cs_tokens_active_key ON cs_tokens (tenant_id, user_id) WHERE revoked_at IS NULL;

CREATE TABLE cs_token_usage (
    tenant_id    TEXT    NOT NULL,
    token_id     TEXT    NOT NULL,
    -- The token's user, copied from cs_tokens by the upsert, for the per-user report.
    user_id      TEXT    NOT NULL,
    -- The calendar day in the tenant's time zone, 'YYYY-MM-DD' (orders as text).
    day          TEXT    NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    requests     INTEGER NOT NULL CHECK (requests >= 0),
    errors       INTEGER NOT NULL CHECK (errors >= 0),
    last_used_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, token_id, day),
    FOREIGN KEY (tenant_id, token_id) REFERENCES cs_tokens (tenant_id, id)
) STRICT;
-- The tenant's report for a period, and one user's.
CREATE INDEX cs_token_usage_day_idx ON cs_token_usage (tenant_id, day);
CREATE INDEX cs_token_usage_user_idx ON cs_token_usage (tenant_id, user_id, day);
