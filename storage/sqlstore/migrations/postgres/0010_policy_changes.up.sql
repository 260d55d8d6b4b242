-- +goose Up
-- callshield 0010: the per-tenant, versioned log of policy changes. Triggers log every
-- change of the rows a policy is compiled from under the tenant's policy version of the
-- changing transaction (every mutation increments it first), so no code path can change
-- a policy without the log knowing; an engine behind by a few versions then refreshes
-- only what changed (access.ChangeStore). Rows:
--   kind 'v': the tenant reached `version` (one per version: a gap in them means the log
--             no longer covers an older version, and the engine loads the whole policy);
--   kind 't': the tenant's row (its name); 'r': roles; 'p': projects; 'a': the allowlist;
--   kind 'u': user_id's membership, project memberships or account status.
-- user_id is the nil UUID for the kinds that name no user. The log keeps about the last
-- 1,024 versions of each tenant (older rows are pruned every 64 versions).
--
-- Every increment of a tenant's policy version also notifies the channel
-- callshield_policy with the payload '<tenant id> <version>', delivered when the
-- transaction commits (pglisten.Listener).

CREATE TABLE cs_policy_changes (
    tenant_id uuid   NOT NULL REFERENCES cs_tenants (id),
    version   bigint NOT NULL,
    kind      text   NOT NULL CHECK (kind IN ('v', 't', 'r', 'p', 'a', 'u')),
    user_id   uuid   NOT NULL,
    PRIMARY KEY (tenant_id, version, kind, user_id)
);

CREATE FUNCTION cs_policy_log(tenant uuid, kind text, usr uuid) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT id, policy_version, kind, usr FROM cs_tenants WHERE id = tenant
    ON CONFLICT DO NOTHING;
$$;

CREATE FUNCTION cs_policy_log_tenant() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.policy_version <> OLD.policy_version THEN
        INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
        VALUES (NEW.id, NEW.policy_version, 'v', '00000000-0000-0000-0000-000000000000')
        ON CONFLICT DO NOTHING;
        IF NEW.policy_version % 64 = 0 THEN
            DELETE FROM cs_policy_changes WHERE tenant_id = NEW.id AND version <= NEW.policy_version - 1024;
        END IF;
        PERFORM pg_notify('callshield_policy', NEW.id::text || ' ' || NEW.policy_version::text);
    END IF;
    IF NEW.name IS DISTINCT FROM OLD.name THEN
        PERFORM cs_policy_log(NEW.id, 't', '00000000-0000-0000-0000-000000000000');
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION cs_policy_log_user() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM cs_policy_log(OLD.tenant_id, 'u', OLD.user_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM cs_policy_log(NEW.tenant_id, 'u', NEW.user_id);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION cs_policy_log_account() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM cs_policy_log(OLD.tenant_id, 'u', OLD.id);
    ELSIF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM cs_policy_log(NEW.tenant_id, 'u', NEW.id);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION cs_policy_log_kind() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM cs_policy_log(OLD.tenant_id, TG_ARGV[0], '00000000-0000-0000-0000-000000000000');
    ELSE
        PERFORM cs_policy_log(NEW.tenant_id, TG_ARGV[0], '00000000-0000-0000-0000-000000000000');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER cs_tenants_policy_log AFTER UPDATE ON cs_tenants
    FOR EACH ROW EXECUTE FUNCTION cs_policy_log_tenant();
CREATE TRIGGER cs_members_policy_log AFTER INSERT OR UPDATE OR DELETE ON cs_members
    FOR EACH ROW EXECUTE FUNCTION cs_policy_log_user();
CREATE TRIGGER cs_project_members_policy_log AFTER INSERT OR UPDATE OR DELETE ON cs_project_members
    FOR EACH ROW EXECUTE FUNCTION cs_policy_log_user();
CREATE TRIGGER cs_users_policy_log AFTER INSERT OR UPDATE OR DELETE ON cs_users
    FOR EACH ROW EXECUTE FUNCTION cs_policy_log_account();
CREATE TRIGGER cs_roles_policy_log AFTER INSERT OR UPDATE OR DELETE ON cs_roles
    FOR EACH ROW EXECUTE FUNCTION cs_policy_log_kind('r');
CREATE TRIGGER cs_projects_policy_log AFTER INSERT OR UPDATE OR DELETE ON cs_projects
    FOR EACH ROW EXECUTE FUNCTION cs_policy_log_kind('p');
CREATE TRIGGER cs_allowlist_policy_log AFTER INSERT OR UPDATE OR DELETE ON cs_allowlist
    FOR EACH ROW EXECUTE FUNCTION cs_policy_log_kind('a');
