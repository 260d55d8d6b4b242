-- +goose Up
-- callshield 0015: session change notifications, and an index for the flow sweep.
--
-- Every transaction that ends a session (deletes its row) or changes what its
-- per-request lookup returns, other than a touch (last_seen, ip, user_agent,
-- last_url: telemetry), notifies the policy channel with
-- 's <tenant id> <old secret hash in hex>'. storage/pglisten passes it to
-- authn.Service, whose session cache drops that session; PostgreSQL delivers it at
-- commit, in commit order with the policy notifications and the listener's
-- heartbeats, so a heartbeat that comes back vouches that every earlier end was
-- announced. Status and idle-timeout changes reach here through the copies that
-- migration 0013's triggers write into the session rows.

CREATE FUNCTION cs_sessions_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR
       (OLD.secret_hash, OLD.user_id, OLD.kind, OLD.auth_at, OLD.expires_at, OLD.factors, OLD.restricted,
        OLD.wp_status, OLD.wp_since, OLD.wp_queue, OLD.wp_call, OLD.privilege, OLD.user_status, OLD.idle_us)
       IS DISTINCT FROM
       (NEW.secret_hash, NEW.user_id, NEW.kind, NEW.auth_at, NEW.expires_at, NEW.factors, NEW.restricted,
        NEW.wp_status, NEW.wp_since, NEW.wp_queue, NEW.wp_call, NEW.privilege, NEW.user_status, NEW.idle_us) THEN
        PERFORM pg_notify('callshield_policy', 's ' || OLD.tenant_id::text || ' ' || encode(OLD.secret_hash, 'hex'));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER cs_sessions_notify AFTER UPDATE OR DELETE ON cs_sessions
    FOR EACH ROW EXECUTE FUNCTION cs_sessions_notify();

-- The cross-tenant sweep of expired identity flows (DeleteExpiredIdentityFlows).
CREATE INDEX cs_identity_flows_expires_idx ON cs_identity_flows (expires_at);
