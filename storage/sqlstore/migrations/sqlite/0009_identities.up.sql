-- +goose Up
-- callshield 0009: linked identities (authn.IdentityStore): accounts at OpenID Connect
-- or OAuth providers linked to users, and the short-lived state of the
-- authorization-code flows that link and use them. Encodings as in 0001 and 0003.

-- One row per flow between its start and its callback. Only the SHA-256 of the flow
-- secret is stored: the state, nonce and PKCE verifier are derived from the secret,
-- which only the browser holds. Consuming a flow deletes its row.
CREATE TABLE cs_identity_flows (
    tenant_id  TEXT    NOT NULL REFERENCES cs_tenants (id),
    token_hash BLOB    NOT NULL CHECK (length(token_hash) = 32),
    purpose    TEXT    NOT NULL CHECK (purpose IN ('link', 'sign_in')),
    provider   TEXT    NOT NULL,
    -- The user and session a link flow is bound to; NULL for sign-in flows.
    user_id    TEXT,
    session_id TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, token_hash)
) STRICT;
-- The removal of a tenant's expired flows when a new one starts.
CREATE INDEX cs_identity_flows_expiry_idx ON cs_identity_flows (tenant_id, expires_at);

CREATE TABLE cs_identities (
    tenant_id          TEXT    NOT NULL,
    id                 TEXT    NOT NULL,
    user_id            TEXT    NOT NULL,
    provider           TEXT    NOT NULL,
    -- The identity's key at the provider, compared byte by byte. Never the e-mail.
    issuer             TEXT    NOT NULL CHECK (issuer <> ''),
    subject            TEXT    NOT NULL CHECK (subject <> ''),
    -- The provider's e-mail claim when linked, for display only.
    email              TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'active')),
    -- SHA-256 of the mailed confirmation link's secret, and its expiry, while pending.
    confirm_hash       BLOB    CHECK (length(confirm_hash) = 32),
    confirm_expires_at INTEGER,
    -- The provider's refresh token sealed (AES-GCM) by the host's key; NULL unless the
    -- host keeps tokens. Never in clear.
    token_sealed       BLOB,
    created_at         INTEGER NOT NULL,
    confirmed_at       INTEGER,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_users (tenant_id, id),
    -- One (issuer, subject) belongs to at most one user of a tenant.
    CONSTRAINT cs_identities_subject_key UNIQUE (tenant_id, issuer, subject),
    CONSTRAINT cs_identities_pending_check CHECK (
        (status = 'pending' AND confirm_hash IS NOT NULL AND confirm_expires_at IS NOT NULL AND confirmed_at IS NULL) OR
        (status = 'active' AND confirm_hash IS NULL AND confirm_expires_at IS NULL AND confirmed_at IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX cs_identities_confirm_key ON cs_identities (tenant_id, confirm_hash) WHERE confirm_hash IS NOT NULL;
CREATE INDEX cs_identities_user_idx ON cs_identities (tenant_id, user_id);
