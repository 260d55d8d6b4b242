-- +goose Up
-- callshield 0017: migration 0015's session notifications also cover a TRUNCATE of
-- cs_sessions (an operator signing everyone out, a restore script), which fires no
-- row trigger: one statement-level notification 's *' tells every listener to empty
-- its session cache. The row trigger now also compares privilege_version (0016), so
-- that no column the lookup returns changes unannounced.

CREATE OR REPLACE FUNCTION cs_sessions_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR
       (OLD.secret_hash, OLD.user_id, OLD.kind, OLD.auth_at, OLD.expires_at, OLD.factors, OLD.restricted,
        OLD.wp_status, OLD.wp_since, OLD.wp_queue, OLD.wp_call, OLD.privilege, OLD.privilege_version,
        OLD.user_status, OLD.idle_us, OLD.created_at, OLD.id)
       IS DISTINCT FROM
       (NEW.secret_hash, NEW.user_id, NEW.kind, NEW.auth_at, NEW.expires_at, NEW.factors, NEW.restricted,
        NEW.wp_status, NEW.wp_since, NEW.wp_queue, NEW.wp_call, NEW.privilege, NEW.privilege_version,
        NEW.user_status, NEW.idle_us, NEW.created_at, NEW.id) THEN
        PERFORM pg_notify('callshield_policy', 's ' || OLD.tenant_id::text || ' ' || encode(OLD.secret_hash, 'hex'));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION cs_sessions_notify_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('callshield_policy', 's *');
    RETURN NULL;
END $$;
CREATE TRIGGER cs_sessions_notify_truncate AFTER TRUNCATE ON cs_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION cs_sessions_notify_truncate();
