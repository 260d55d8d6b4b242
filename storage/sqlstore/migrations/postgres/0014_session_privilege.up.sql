-- +goose Up
-- callshield 0014: the fingerprint of the user's role assignments a session's secret
-- was issued under (access.Policy.Privilege, a 64-bit value stored as bigint); a
-- request that finds it changed gives the session a new secret. 0 (rows from before)
-- rotates at the next request.

ALTER TABLE cs_sessions ADD COLUMN privilege bigint NOT NULL DEFAULT 0;
