-- +goose Up
-- callshield 0002: the audit log. Each tenant's events form a hash chain; the chain
-- head (last seq and hash) is one row per tenant, locked by every append so that
-- several app instances sharing the database extend one gap-free chain.
--
-- The audit tables deliberately have no foreign key to cs_tenants: the audit log is
-- usable on its own, and a tenant's trail must outlive changes to (or the deletion of)
-- its access rows.

CREATE TABLE cs_audit_heads (
    tenant_id uuid   PRIMARY KEY,
    seq       bigint NOT NULL CHECK (seq >= 0),
    hash      bytea
);

CREATE TABLE cs_audit_events (
    tenant_id        uuid        NOT NULL REFERENCES cs_audit_heads (tenant_id),
    seq              bigint      NOT NULL CHECK (seq > 0),
    id               uuid        NOT NULL,
    time             timestamptz NOT NULL,
    kind             text        NOT NULL,
    action           text        NOT NULL,
    actor_user       uuid,
    actor_role       text        NOT NULL,
    -- netip.Addr text form ('' when unknown); text rather than inet keeps zones and
    -- the exact form that the hash chain covers.
    actor_ip         text        NOT NULL,
    actor_user_agent text        NOT NULL,
    actor_session    uuid,
    actor_token      uuid,
    target_type      text        NOT NULL,
    target_id        text        NOT NULL,
    target_name      text        NOT NULL,
    project_id       uuid,
    outcome          text        NOT NULL,
    reason           text        NOT NULL,
    changes          jsonb,
    details          jsonb,
    prev_hash        bytea,
    hash             bytea       NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    CONSTRAINT cs_audit_events_id_key UNIQUE (tenant_id, id)
);
CREATE INDEX cs_audit_events_time_idx ON cs_audit_events (tenant_id, time);
CREATE INDEX cs_audit_events_actor_idx ON cs_audit_events (tenant_id, actor_user, time);
CREATE INDEX cs_audit_events_kind_idx ON cs_audit_events (tenant_id, kind, time);
CREATE INDEX cs_audit_events_target_idx ON cs_audit_events (tenant_id, target_id, time);
CREATE INDEX cs_audit_events_project_idx ON cs_audit_events (tenant_id, project_id, time);
