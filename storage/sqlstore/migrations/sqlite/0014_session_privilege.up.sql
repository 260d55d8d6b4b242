-- +goose Up
-- callshield 0014: the fingerprint of the user's role assignments a session's secret
-- was issued under (see the PostgreSQL migration of the same number).

ALTER TABLE cs_sessions ADD COLUMN privilege INTEGER NOT NULL DEFAULT 0;
