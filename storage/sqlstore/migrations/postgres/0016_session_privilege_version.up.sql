-- +goose Up
-- callshield 0016: the policy version a session's privilege fingerprint (0014) was
-- computed at. A request rotates the session for a changed fingerprint only under a
-- policy of a later version, so that an instance whose policy lags another's never
-- rotates a session back (a rotation ping-pong during the listener's lag). 0 (rows
-- from before) lets any policy rotate, as before.

ALTER TABLE cs_sessions ADD COLUMN privilege_version bigint NOT NULL DEFAULT 0;
