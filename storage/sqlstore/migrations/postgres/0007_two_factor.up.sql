-- +goose Up
-- callshield 0007: second factors (authn.TwoFactorStore): the active TOTP factor per
-- user, its recovery codes, and pending enrolments. Secrets are stored only sealed
-- (AES-256-GCM, bound to tenant and user), recovery codes only as SHA-256 hashes.

CREATE TABLE cs_two_factor (
    tenant_id     uuid        NOT NULL,
    user_id       uuid        NOT NULL,
    -- totp.Sealer output: version, key ID, nonce, ciphertext and tag. Never the secret.
    sealed_secret bytea       NOT NULL CHECK (octet_length(sealed_secret) BETWEEN 34 AND 161),
    -- The last accepted time step: only a later one is accepted (conditional UPDATE).
    last_step     bigint      NOT NULL,
    enabled_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_users (tenant_id, id)
);

CREATE TABLE cs_recovery_codes (
    tenant_id uuid  NOT NULL,
    user_id   uuid  NOT NULL,
    -- SHA-256 of the normalised code; each is consumed with a conditional DELETE.
    code_hash bytea NOT NULL CHECK (octet_length(code_hash) = 32),
    PRIMARY KEY (tenant_id, user_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_two_factor (tenant_id, user_id) ON DELETE CASCADE
);

CREATE TABLE cs_two_factor_enrolments (
    tenant_id     uuid        NOT NULL,
    user_id       uuid        NOT NULL,
    sealed_secret bytea       NOT NULL CHECK (octet_length(sealed_secret) BETWEEN 34 AND 161),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_users (tenant_id, id)
);

-- A tombstone keeps no second factor, whatever turns the user into one.
-- +goose StatementBegin
CREATE FUNCTION cs_two_factor_erase() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM cs_two_factor WHERE tenant_id = NEW.tenant_id AND user_id = NEW.id;
    DELETE FROM cs_two_factor_enrolments WHERE tenant_id = NEW.tenant_id AND user_id = NEW.id;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER cs_users_two_factor_erase AFTER UPDATE OF status ON cs_users
    FOR EACH ROW WHEN (NEW.status = 'deleted') EXECUTE FUNCTION cs_two_factor_erase();
