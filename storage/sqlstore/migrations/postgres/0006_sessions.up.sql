-- +goose Up
-- callshield 0006: sessions, pending sign-ins, session settings and throttling counters
-- (authn.SessionStore, authn.ThrottleStore). Secrets are never stored: a session or
-- pending sign-in is found by the SHA-256 of its secret.

CREATE TABLE cs_sessions (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('admin', 'workplace')),
    secret_hash bytea       NOT NULL CHECK (octet_length(secret_hash) = 32),
    created_at  timestamptz NOT NULL,
    auth_at     timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    -- The factors proved at sign-in, comma-separated ("password,totp").
    factors     text        NOT NULL,
    restricted  boolean     NOT NULL,
    ip          text        NOT NULL,
    user_agent  text        NOT NULL,
    last_url    text        NOT NULL,
    -- The agent workplace state (kind 'workplace').
    wp_status   text        NOT NULL DEFAULT '',
    wp_since    timestamptz,
    wp_queue    text        NOT NULL DEFAULT '',
    wp_call     text        NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_users (tenant_id, id),
    -- The per-request lookup.
    CONSTRAINT cs_sessions_secret_key UNIQUE (tenant_id, secret_hash)
);
-- A user's sessions (listing, ending, the concurrent-session limit).
CREATE INDEX cs_sessions_user_idx ON cs_sessions (tenant_id, user_id);
-- The cleanup job's cross-tenant scan of sessions past their deadline.
CREATE INDEX cs_sessions_expires_idx ON cs_sessions (expires_at);

CREATE TABLE cs_pending_signins (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    factor      text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('admin', 'workplace')),
    ip          text        NOT NULL,
    user_agent  text        NOT NULL,
    secret_hash bytea       NOT NULL CHECK (octet_length(secret_hash) = 32),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_users (tenant_id, id),
    CONSTRAINT cs_pending_signins_secret_key UNIQUE (tenant_id, secret_hash)
);
CREATE INDEX cs_pending_signins_expires_idx ON cs_pending_signins (expires_at);

CREATE TABLE cs_session_settings (
    tenant_id         uuid        PRIMARY KEY REFERENCES cs_tenants (id),
    -- Durations in microseconds; 0 means the default.
    idle_us           bigint      NOT NULL,
    lifetime_us       bigint      NOT NULL,
    max_per_user      integer     NOT NULL,
    refuse_over_limit boolean     NOT NULL,
    lock_threshold    integer     NOT NULL,
    lock_duration_us  bigint      NOT NULL,
    updated_at        timestamptz NOT NULL,
    version           bigint      NOT NULL CHECK (version > 0)
);

-- Failure counters of the throttle: one row per key (account, address or pair, and
-- factor kind), incremented and read in one statement.
CREATE TABLE cs_throttle (
    tenant_id  uuid        NOT NULL REFERENCES cs_tenants (id),
    key        text        NOT NULL,
    count      integer     NOT NULL CHECK (count > 0),
    first_at   timestamptz NOT NULL,
    last_at    timestamptz NOT NULL,
    -- When the count reached the key's threshold (NULL: not locked); the lock lasts
    -- from there and attempts during it do not extend it.
    locked_at  timestamptz,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX cs_throttle_expires_idx ON cs_throttle (expires_at);
