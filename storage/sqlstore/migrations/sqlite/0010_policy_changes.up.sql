-- +goose Up
-- callshield 0010: the per-tenant, versioned log of policy changes (see the PostgreSQL
-- migration of the same number for the rows' meaning). Triggers log every change of the
-- rows a policy is compiled from under the tenant's policy version of the changing
-- transaction; the log keeps about the last 1,024 versions of each tenant. (INSERT OR IGNORE
-- cannot be used: the conflict policy of the statement that fires a trigger overrides
-- the trigger's, so each insert checks for its row itself.) SQLite has no
-- notifications: engines in this process are invalidated by the Service, and other
-- processes on the same file read the policy version per request.

CREATE TABLE cs_policy_changes (
    tenant_id TEXT    NOT NULL REFERENCES cs_tenants (id),
    version   INTEGER NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('v', 't', 'r', 'p', 'a', 'u')),
    user_id   TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, version, kind, user_id)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER cs_tenants_policy_version AFTER UPDATE OF policy_version ON cs_tenants
WHEN NEW.policy_version <> OLD.policy_version
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT NEW.id, NEW.policy_version, 'v', '00000000-0000-0000-0000-000000000000'
    WHERE NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = NEW.id AND c.version = NEW.policy_version AND c.kind = 'v' AND c.user_id = '00000000-0000-0000-0000-000000000000');
    DELETE FROM cs_policy_changes
    WHERE NEW.policy_version % 64 = 0 AND tenant_id = NEW.id AND version <= NEW.policy_version - 1024;
END;

CREATE TRIGGER cs_tenants_policy_name AFTER UPDATE OF name ON cs_tenants
WHEN NEW.name IS NOT OLD.name
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT NEW.id, NEW.policy_version, 't', '00000000-0000-0000-0000-000000000000'
    WHERE NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = NEW.id AND c.version = NEW.policy_version AND c.kind = 't' AND c.user_id = '00000000-0000-0000-0000-000000000000');
END;

CREATE TRIGGER cs_members_policy_insert AFTER INSERT ON cs_members
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'u', NEW.user_id FROM cs_tenants t WHERE t.id = NEW.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'u' AND c.user_id = NEW.user_id);
END;
CREATE TRIGGER cs_members_policy_update AFTER UPDATE ON cs_members
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'u', OLD.user_id FROM cs_tenants t WHERE t.id = OLD.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'u' AND c.user_id = OLD.user_id);
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'u', NEW.user_id FROM cs_tenants t WHERE t.id = NEW.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'u' AND c.user_id = NEW.user_id);
END;
CREATE TRIGGER cs_members_policy_delete AFTER DELETE ON cs_members
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'u', OLD.user_id FROM cs_tenants t WHERE t.id = OLD.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'u' AND c.user_id = OLD.user_id);
END;

CREATE TRIGGER cs_project_members_policy_insert AFTER INSERT ON cs_project_members
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'u', NEW.user_id FROM cs_tenants t WHERE t.id = NEW.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'u' AND c.user_id = NEW.user_id);
END;
CREATE TRIGGER cs_project_members_policy_update AFTER UPDATE ON cs_project_members
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'u', OLD.user_id FROM cs_tenants t WHERE t.id = OLD.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'u' AND c.user_id = OLD.user_id);
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'u', NEW.user_id FROM cs_tenants t WHERE t.id = NEW.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'u' AND c.user_id = NEW.user_id);
END;
CREATE TRIGGER cs_project_members_policy_delete AFTER DELETE ON cs_project_members
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'u', OLD.user_id FROM cs_tenants t WHERE t.id = OLD.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'u' AND c.user_id = OLD.user_id);
END;

CREATE TRIGGER cs_users_policy_insert AFTER INSERT ON cs_users
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'u', NEW.id FROM cs_tenants t WHERE t.id = NEW.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'u' AND c.user_id = NEW.id);
END;
CREATE TRIGGER cs_users_policy_status AFTER UPDATE OF status ON cs_users
WHEN NEW.status IS NOT OLD.status
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'u', NEW.id FROM cs_tenants t WHERE t.id = NEW.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'u' AND c.user_id = NEW.id);
END;
CREATE TRIGGER cs_users_policy_delete AFTER DELETE ON cs_users
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'u', OLD.id FROM cs_tenants t WHERE t.id = OLD.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'u' AND c.user_id = OLD.id);
END;

CREATE TRIGGER cs_roles_policy_insert AFTER INSERT ON cs_roles
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'r', '00000000-0000-0000-0000-000000000000' FROM cs_tenants t WHERE t.id = NEW.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'r' AND c.user_id = '00000000-0000-0000-0000-000000000000');
END;
CREATE TRIGGER cs_roles_policy_update AFTER UPDATE ON cs_roles
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'r', '00000000-0000-0000-0000-000000000000' FROM cs_tenants t WHERE t.id = NEW.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'r' AND c.user_id = '00000000-0000-0000-0000-000000000000');
END;
CREATE TRIGGER cs_roles_policy_delete AFTER DELETE ON cs_roles
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'r', '00000000-0000-0000-0000-000000000000' FROM cs_tenants t WHERE t.id = OLD.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'r' AND c.user_id = '00000000-0000-0000-0000-000000000000');
END;

CREATE TRIGGER cs_projects_policy_insert AFTER INSERT ON cs_projects
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'p', '00000000-0000-0000-0000-000000000000' FROM cs_tenants t WHERE t.id = NEW.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'p' AND c.user_id = '00000000-0000-0000-0000-000000000000');
END;
CREATE TRIGGER cs_projects_policy_update AFTER UPDATE ON cs_projects
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'p', '00000000-0000-0000-0000-000000000000' FROM cs_tenants t WHERE t.id = NEW.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'p' AND c.user_id = '00000000-0000-0000-0000-000000000000');
END;
CREATE TRIGGER cs_projects_policy_delete AFTER DELETE ON cs_projects
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'p', '00000000-0000-0000-0000-000000000000' FROM cs_tenants t WHERE t.id = OLD.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'p' AND c.user_id = '00000000-0000-0000-0000-000000000000');
END;

CREATE TRIGGER cs_allowlist_policy_insert AFTER INSERT ON cs_allowlist
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'a', '00000000-0000-0000-0000-000000000000' FROM cs_tenants t WHERE t.id = NEW.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'a' AND c.user_id = '00000000-0000-0000-0000-000000000000');
END;
CREATE TRIGGER cs_allowlist_policy_delete AFTER DELETE ON cs_allowlist
BEGIN
    INSERT INTO cs_policy_changes (tenant_id, version, kind, user_id)
    SELECT t.id, t.policy_version, 'a', '00000000-0000-0000-0000-000000000000' FROM cs_tenants t WHERE t.id = OLD.tenant_id
    AND NOT EXISTS (SELECT 1 FROM cs_policy_changes c
        WHERE c.tenant_id = t.id AND c.version = t.policy_version AND c.kind = 'a' AND c.user_id = '00000000-0000-0000-0000-000000000000');
END;
