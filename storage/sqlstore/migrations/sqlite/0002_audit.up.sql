-- +goose Up
-- callshield 0002: the audit log. Each tenant's events form a hash chain; the chain
-- head (last seq and hash) is one row per tenant, updated by every append inside its
-- (immediate) write transaction, so that concurrent writers extend one gap-free chain.
--
-- The audit tables deliberately have no foreign key to cs_tenants: the audit log is
-- usable on its own, and a tenant's trail must outlive changes to (or the deletion of)
-- its access rows. Encodings as in 0001; changes and details are JSON text.

CREATE TABLE cs_audit_heads (
    tenant_id TEXT    PRIMARY KEY NOT NULL,
    seq       INTEGER NOT NULL CHECK (seq >= 0),
    hash      BLOB
) STRICT;

CREATE TABLE cs_audit_events (
    tenant_id        TEXT    NOT NULL REFERENCES cs_audit_heads (tenant_id),
    seq              INTEGER NOT NULL CHECK (seq > 0),
    id               TEXT    NOT NULL,
    time             INTEGER NOT NULL,
    kind             TEXT    NOT NULL,
    action           TEXT    NOT NULL,
    actor_user       TEXT,
    actor_role       TEXT    NOT NULL,
    -- netip.Addr text form ('' when unknown).
    actor_ip         TEXT    NOT NULL,
    actor_user_agent TEXT    NOT NULL,
    actor_session    TEXT,
    actor_token      TEXT,
    target_type      TEXT    NOT NULL,
    target_id        TEXT    NOT NULL,
    target_name      TEXT    NOT NULL,
    project_id       TEXT,
    outcome          TEXT    NOT NULL,
    reason           TEXT    NOT NULL,
    changes          TEXT    CHECK (changes IS NULL OR json_valid(changes)),
    details          TEXT    CHECK (details IS NULL OR json_valid(details)),
    prev_hash        BLOB,
    hash             BLOB    NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    CONSTRAINT cs_audit_events_id_key UNIQUE (tenant_id, id)
) STRICT;
CREATE INDEX cs_audit_events_time_idx ON cs_audit_events (tenant_id, time);
CREATE INDEX cs_audit_events_actor_idx ON cs_audit_events (tenant_id, actor_user, time);
CREATE INDEX cs_audit_events_kind_idx ON cs_audit_events (tenant_id, kind, time);
CREATE INDEX cs_audit_events_target_idx ON cs_audit_events (tenant_id, target_id, time);
CREATE INDEX cs_audit_events_project_idx ON cs_audit_events (tenant_id, project_id, time);
