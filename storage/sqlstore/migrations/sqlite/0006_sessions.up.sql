-- +goose Up
-- callshield 0006: sessions, pending sign-ins, session settings and throttling counters
-- (authn.SessionStore, authn.ThrottleStore). Encodings as in 0001. Secrets are never
-- stored: a session or pending sign-in is found by the SHA-256 of its secret.

CREATE TABLE cs_sessions (
    tenant_id   TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('admin', 'workplace')),
    secret_hash BLOB    NOT NULL CHECK (length(secret_hash) = 32),
    created_at  INTEGER NOT NULL,
    auth_at     INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    -- The factors proved at sign-in, comma-separated ("password,totp").
    factors     TEXT    NOT NULL,
    restricted  INTEGER NOT NULL CHECK (restricted IN (0, 1)),
    ip          TEXT    NOT NULL,
    user_agent  TEXT    NOT NULL,
    last_url    TEXT    NOT NULL,
    -- The agent workplace state (kind 'workplace').
    wp_status   TEXT    NOT NULL DEFAULT '',
    wp_since    INTEGER,
    wp_queue    TEXT    NOT NULL DEFAULT '',
    wp_call     TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_users (tenant_id, id),
    -- The per-request lookup.
    CONSTRAINT cs_sessions_secret_key UNIQUE (tenant_id, secret_hash)
) STRICT;
-- A user's sessions (listing, ending, the concurrent-session limit).
CREATE INDEX cs_sessions_user_idx ON cs_sessions (tenant_id, user_id);
-- The cleanup job's cross-tenant scan of sessions past their deadline.
CREATE INDEX cs_sessions_expires_idx ON cs_sessions (expires_at);

CREATE TABLE cs_pending_signins (
    tenant_id   TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    factor      TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('admin', 'workplace')),
    ip          TEXT    NOT NULL,
    user_agent  TEXT    NOT NULL,
    secret_hash BLOB    NOT NULL CHECK (length(secret_hash) = 32),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_users (tenant_id, id),
    CONSTRAINT cs_pending_signins_secret_key UNIQUE (tenant_id, secret_hash)
) STRICT;
CREATE INDEX cs_pending_signins_expires_idx ON cs_pending_signins (expires_at);

CREATE TABLE cs_session_settings (
    tenant_id         TEXT    PRIMARY KEY NOT NULL REFERENCES cs_tenants (id),
    -- Durations in microseconds; 0 means the default.
    idle_us           INTEGER NOT NULL,
    lifetime_us       INTEGER NOT NULL,
    max_per_user      INTEGER NOT NULL,
    refuse_over_limit INTEGER NOT NULL CHECK (refuse_over_limit IN (0, 1)),
    lock_threshold    INTEGER NOT NULL,
    lock_duration_us  INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    version           INTEGER NOT NULL CHECK (version > 0)
) STRICT;

-- Failure counters of the throttle: one row per key (account, address or pair, and
-- factor kind), incremented and read in one statement.
CREATE TABLE cs_throttle (
    tenant_id  TEXT    NOT NULL REFERENCES cs_tenants (id),
    key        TEXT    NOT NULL,
    count      INTEGER NOT NULL CHECK (count > 0),
    first_at   INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    -- When the count reached the key's threshold (NULL: not locked); the lock lasts
    -- from there and attempts during it do not extend it.
    locked_at  INTEGER,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
) STRICT;
CREATE INDEX cs_throttle_expires_idx ON cs_throttle (expires_at);
