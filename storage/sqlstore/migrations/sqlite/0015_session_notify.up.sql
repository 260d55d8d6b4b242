-- +goose Up
-- callshield 0015: an index for the cross-tenant sweep of expired identity flows
-- (DeleteExpiredIdentityFlows). The PostgreSQL migration of the same number also adds
-- session change notifications; SQLite has none, so authn's session cache stays empty
-- on SQLite and every request reads its session (a local read).

CREATE INDEX cs_identity_flows_expires_idx ON cs_identity_flows (expires_at);
