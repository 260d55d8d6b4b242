-- +goose Up
-- callshield 0013: the per-request session lookup reads one row of one table. Each
-- session row carries a copy of the two things every request checks besides the
-- session itself: its user's status and the tenant's stored idle timeout. Triggers keep
-- the copies equal to their sources inside the transactions that change them, so every
-- path that blocks, archives or deletes a user, or changes the idle timeout, updates
-- the copies atomically, and no lookup can see a session out of step with its user:
--   - a new session takes its user's status with FOR SHARE: it waits for a concurrent
--     status change to commit and then reads its result; a status change that starts
--     after it waits for it and then updates it too;
--   - a new session and a settings change exclude each other with a transaction-level
--     advisory lock on the tenant (shared for sessions, exclusive for settings), so a
--     session started while the idle timeout changes gets the new one either way.
-- The tenant's policy version is not read with the session on PostgreSQL: the access
-- engine's change listener (storage/pglisten) vouches for it without a round trip.

ALTER TABLE cs_sessions
    ADD COLUMN user_status text   NOT NULL DEFAULT 'active',
    ADD COLUMN idle_us     bigint NOT NULL DEFAULT 0;

UPDATE cs_sessions s SET user_status = u.status
FROM cs_users u WHERE u.tenant_id = s.tenant_id AND u.id = s.user_id;
UPDATE cs_sessions s SET idle_us = ss.idle_us
FROM cs_session_settings ss WHERE ss.tenant_id = s.tenant_id;

-- The advisory lock key of a tenant's session settings (a collision between two
-- tenants only makes one wait for the other).
CREATE FUNCTION cs_session_settings_lock_key(tenant uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtextextended('cs_session_settings:' || tenant::text, 0);
$$;

CREATE FUNCTION cs_sessions_copy() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    st text;
BEGIN
    SELECT u.status INTO st FROM cs_users u
    WHERE u.tenant_id = NEW.tenant_id AND u.id = NEW.user_id FOR SHARE;
    IF FOUND THEN
        NEW.user_status := st; -- else the foreign key refuses the row
    END IF;
    PERFORM pg_advisory_xact_lock_shared(cs_session_settings_lock_key(NEW.tenant_id));
    NEW.idle_us := COALESCE((SELECT ss.idle_us FROM cs_session_settings ss WHERE ss.tenant_id = NEW.tenant_id), 0);
    RETURN NEW;
END $$;
CREATE TRIGGER cs_sessions_copy BEFORE INSERT ON cs_sessions
    FOR EACH ROW EXECUTE FUNCTION cs_sessions_copy();

CREATE FUNCTION cs_users_status_copy() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cs_sessions SET user_status = NEW.status
    WHERE tenant_id = NEW.tenant_id AND user_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER cs_users_status_copy AFTER UPDATE OF status ON cs_users
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION cs_users_status_copy();

CREATE FUNCTION cs_session_settings_copy() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(cs_session_settings_lock_key(NEW.tenant_id));
    UPDATE cs_sessions SET idle_us = NEW.idle_us
    WHERE tenant_id = NEW.tenant_id AND idle_us <> NEW.idle_us;
    RETURN NULL;
END $$;
CREATE TRIGGER cs_session_settings_copy AFTER INSERT OR UPDATE OF idle_us ON cs_session_settings
    FOR EACH ROW EXECUTE FUNCTION cs_session_settings_copy();
