-- +goose Up
-- callshield 0004: audit retention checkpoints and the indexes of the audit reports.
--
-- A purge deletes a tenant's oldest events and records the last deleted link (seq,
-- hash, time) as the tenant's checkpoint, sealed with a MAC (audit.Chain.Seal) that
-- only holders of the chain key can compute. Verification starts from it. The table is
-- apart from cs_audit_heads so that a purge never holds the lock that appends take.
CREATE TABLE cs_audit_checkpoints (
    tenant_id uuid        PRIMARY KEY REFERENCES cs_audit_heads (tenant_id),
    seq       bigint      NOT NULL CHECK (seq > 0),
    hash      bytea       NOT NULL,
    time      timestamptz NOT NULL,
    mac       bytea       NOT NULL
);

-- Report queries filter by tenant, kind, actor or target and a period, and read
-- newest first (ORDER BY time DESC, seq DESC). Each index below ends with (time, seq),
-- so that such a query is one backward range scan that stops after a page, with no
-- sort: login log (kind = login, + actor), change log (kind = change, + target),
-- action log (kind = action + actor), recording access (kind = recording + target),
-- and a user's history across kinds. They replace the (…, time) indexes of 0002.
-- On a large existing table, CREATE INDEX holds a write lock while it builds; such
-- deployments can create these indexes CONCURRENTLY beforehand with the same names.
CREATE INDEX IF NOT EXISTS cs_audit_events_time_seq_idx ON cs_audit_events (tenant_id, time, seq);
CREATE INDEX IF NOT EXISTS cs_audit_events_kind_time_idx ON cs_audit_events (tenant_id, kind, time, seq);
CREATE INDEX IF NOT EXISTS cs_audit_events_kind_actor_idx ON cs_audit_events (tenant_id, kind, actor_user, time, seq);
CREATE INDEX IF NOT EXISTS cs_audit_events_kind_target_idx ON cs_audit_events (tenant_id, kind, target_id, time, seq);
CREATE INDEX IF NOT EXISTS cs_audit_events_actor_time_idx ON cs_audit_events (tenant_id, actor_user, time, seq);
DROP INDEX cs_audit_events_time_idx;
DROP INDEX cs_audit_events_actor_idx;
DROP INDEX cs_audit_events_kind_idx;
DROP INDEX cs_audit_events_target_idx;
DROP INDEX cs_audit_events_project_idx;
