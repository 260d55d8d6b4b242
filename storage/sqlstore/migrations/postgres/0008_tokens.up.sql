-- +goose Up
-- callshield 0008: API tokens (token.Store) and their daily usage. As in 0001, every
-- child row carries its tenant_id and every foreign key includes it. No foreign key to
-- cs_users: token.Store refers to user IDs only, like access.Store's memberships.

CREATE TABLE cs_tokens (
    tenant_id    uuid        NOT NULL REFERENCES cs_tenants (id),
    id           uuid        NOT NULL,
    user_id      uuid        NOT NULL,
    name         text        NOT NULL,
    -- SHA-256 of the token's random part; the token itself is never stored.
    token_hash   bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
    created_by   uuid,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    -- Moved forward by the usage flush (bounded writes), never per request.
    last_used_at timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    -- The lookup of every request.
    CONSTRAINT cs_tokens_hash_key UNIQUE (tenant_id, token_hash)
);
-- One unrevoked token per user, whatever races: the backstop of the store's rule.
CREATE UNIQUE INDEX cs_tokens_active_key ON cs_tokens (tenant_id, user_id) WHERE revoked_at IS NULL;

CREATE TABLE cs_token_usage (
    tenant_id    uuid             NOT NULL,
    token_id     uuid             NOT NULL,
    -- The token's user, copied from cs_tokens by the upsert, for the per-user report.
    user_id      uuid             NOT NULL,
    -- The calendar day in the tenant's time zone, 'YYYY-MM-DD' (orders as text).
    day          text COLLATE "C" NOT NULL CHECK (day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
    requests     bigint           NOT NULL CHECK (requests >= 0),
    errors       bigint           NOT NULL CHECK (errors >= 0),
    last_used_at timestamptz      NOT NULL,
    PRIMARY KEY (tenant_id, token_id, day),
    FOREIGN KEY (tenant_id, token_id) REFERENCES cs_tokens (tenant_id, id)
);
-- The tenant's report for a period, and one user's.
CREATE INDEX cs_token_usage_day_idx ON cs_token_usage (tenant_id, day);
CREATE INDEX cs_token_usage_user_idx ON cs_token_usage (tenant_id, user_id, day);
