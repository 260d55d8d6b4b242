-- +goose Up
-- callshield 0016: the policy version a session's privilege fingerprint was computed
-- at (see the PostgreSQL migration of the same number).

ALTER TABLE cs_sessions ADD COLUMN privilege_version INTEGER NOT NULL DEFAULT 0;
