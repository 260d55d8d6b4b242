-- +goose Up
-- callshield 0009: linked identities (authn.IdentityStore): accounts at OpenID Connect
-- or OAuth providers linked to users, and the short-lived state of the
-- authorization-code flows that link and use them.

-- One row per flow between its start and its callback. Only the SHA-256 of the flow
-- secret is stored: the state, nonce and PKCE verifier are derived from the secret,
-- which only the browser holds. Consuming a flow deletes its row.
CREATE TABLE cs_identity_flows (
    tenant_id  uuid        NOT NULL REFERENCES cs_tenants (id),
    token_hash bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
    purpose    text        NOT NULL CHECK (purpose IN ('link', 'sign_in')),
    provider   text        NOT NULL,
    -- The user and session a link flow is bound to; NULL for sign-in flows.
    user_id    uuid,
    session_id uuid,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, token_hash)
);
-- The removal of a tenant's expired flows when a new one starts.
CREATE INDEX cs_identity_flows_expiry_idx ON cs_identity_flows (tenant_id, expires_at);

CREATE TABLE cs_identities (
    tenant_id          uuid             NOT NULL,
    id                 uuid             NOT NULL,
    user_id            uuid             NOT NULL,
    provider           text             NOT NULL,
    -- The identity's key at the provider, compared byte by byte. Never the e-mail.
    issuer             text COLLATE "C" NOT NULL CHECK (issuer <> ''),
    subject            text COLLATE "C" NOT NULL CHECK (subject <> ''),
    -- The provider's e-mail claim when linked, for display only.
    email              text             NOT NULL,
    status             text             NOT NULL CHECK (status IN ('pending', 'active')),
    -- SHA-256 of the mailed confirmation link's secret, and its expiry, while pending.
    confirm_hash       bytea            CHECK (octet_length(confirm_hash) = 32),
    confirm_expires_at timestamptz,
    -- The provider's refresh token sealed (AES-GCM) by the host's key; NULL unless the
    -- host keeps tokens. Never in clear.
    token_sealed       bytea,
    created_at         timestamptz      NOT NULL,
    confirmed_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_users (tenant_id, id),
    -- One (issuer, subject) belongs to at most one user of a tenant.
    CONSTRAINT cs_identities_subject_key UNIQUE (tenant_id, issuer, subject),
    CONSTRAINT cs_identities_pending_check CHECK (
        (status = 'pending' AND confirm_hash IS NOT NULL AND confirm_expires_at IS NOT NULL AND confirmed_at IS NULL) OR
        (status = 'active' AND confirm_hash IS NULL AND confirm_expires_at IS NULL AND confirmed_at IS NOT NULL))
);
CREATE UNIQUE INDEX cs_identities_confirm_key ON cs_identities (tenant_id, confirm_hash) WHERE confirm_hash IS NOT NULL;
CREATE INDEX cs_identities_user_idx ON cs_identities (tenant_id, user_id);
