-- +goose Up
-- callshield 0013: each session row carries a copy of its user's status and of the
-- tenant's stored idle timeout (see the PostgreSQL migration of the same number).
-- Triggers keep the copies equal to their sources in the transactions that change
-- them; SQLite runs one writing transaction at a time, so no lock is needed. The
-- SQLite lookup still reads the tenant's policy version with the session (a join by
-- primary key costs next to nothing in process), as SQLite has no change listener.

ALTER TABLE cs_sessions ADD COLUMN user_status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE cs_sessions ADD COLUMN idle_us INTEGER NOT NULL DEFAULT 0;

UPDATE cs_sessions SET
    user_status = COALESCE((SELECT u.status FROM cs_users u
        WHERE u.tenant_id = cs_sessions.tenant_id AND u.id = cs_sessions.user_id), user_status),
    idle_us = COALESCE((SELECT ss.idle_us FROM cs_session_settings ss
        WHERE ss.tenant_id = cs_sessions.tenant_id), 0);

CREATE TRIGGER cs_sessions_copy AFTER INSERT ON cs_sessions
BEGIN
    UPDATE cs_sessions SET
        user_status = COALESCE((SELECT u.status FROM cs_users u
            WHERE u.tenant_id = NEW.tenant_id AND u.id = NEW.user_id), user_status),
        idle_us = COALESCE((SELECT ss.idle_us FROM cs_session_settings ss
            WHERE ss.tenant_id = NEW.tenant_id), 0)
    WHERE tenant_id = NEW.tenant_id AND id = NEW.id;
END;

CREATE TRIGGER cs_users_status_copy AFTER UPDATE OF status ON cs_users
WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE cs_sessions SET user_status = NEW.status
    WHERE tenant_id = NEW.tenant_id AND user_id = NEW.id;
END;

CREATE TRIGGER cs_session_settings_copy_insert AFTER INSERT ON cs_session_settings
BEGIN
    UPDATE cs_sessions SET idle_us = NEW.idle_us WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER cs_session_settings_copy_update AFTER UPDATE OF idle_us ON cs_session_settings
WHEN OLD.idle_us <> NEW.idle_us
BEGIN
    UPDATE cs_sessions SET idle_us = NEW.idle_us WHERE tenant_id = NEW.tenant_id;
END;
