-- +goose Up
-- callshield 0007: second factors (authn.TwoFactorStore): the active TOTP factor per
-- user, its recovery codes, and pending enrolments. Secrets are stored only sealed
-- (AES-256-GCM, bound to tenant and user), recovery codes only as SHA-256 hashes.
-- Encodings as in 0001.

CREATE TABLE cs_two_factor (
    tenant_id     TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    -- totp.Sealer output: version, key ID, nonce, ciphertext and tag. Never the secret.
    sealed_secret BLOB    NOT NULL CHECK (length(sealed_secret) BETWEEN 34 AND 161),
    -- The last accepted time step: only a later one is accepted (conditional UPDATE).
    last_step     INTEGER NOT NULL,
    enabled_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_users (tenant_id, id)
) STRICT;

CREATE TABLE cs_recovery_codes (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    -- SHA-256 of the normalised code; each is consumed with a conditional DELETE.
    code_hash BLOB NOT NULL CHECK (length(code_hash) = 32),
    PRIMARY KEY (tenant_id, user_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_two_factor (tenant_id, user_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE cs_two_factor_enrolments (
    tenant_id     TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    sealed_secret BLOB    NOT NULL CHECK (length(sealed_secret) BETWEEN 34 AND 161),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES cs_users (tenant_id, id)
) STRICT;

-- A tombstone keeps no second factor, whatever turns the user into one.
-- +goose StatementBegin
CREATE TRIGGER cs_users_two_factor_erase AFTER UPDATE OF status ON cs_users
    FOR EACH ROW WHEN NEW.status = 'deleted'
BEGIN
    DELETE FROM cs_two_factor WHERE tenant_id = NEW.tenant_id AND user_id = NEW.id;
    DELETE FROM cs_two_factor_enrolments WHERE tenant_id = NEW.tenant_id AND user_id = NEW.id;
END;
-- +goose StatementEnd
