-- +goose Up
-- callshield 0018: indexes for the expiry cleanup (authn.Service.CleanupExpired), so
-- that its cross-tenant deletes of expired links and two-factor enrolments read only
-- the expired rows instead of scanning the tables.

CREATE INDEX cs_tickets_expires_idx ON cs_tickets (expires_at);
CREATE INDEX cs_two_factor_enrolments_expires_idx ON cs_two_factor_enrolments (expires_at);
