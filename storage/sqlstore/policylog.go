package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// The policy read path: LoadPolicy and the change log of migration 0010 (access.ChangeStore), which triggers fill on every
// change of the rows a policy is compiled from.

var _ access.ChangeStore = (*Store)(nil)

// maxChangedUsers caps the users PolicyChanges reads one by one: beyond it (or beyond a
// quarter of the tenant's members) a full load is cheaper.
const maxChangedUsers = 4096

// compileMemberSelect reads members as Compile needs them: user, role and Disabled
// (derived from the account as in memberSelect).
const compileMemberSelect = "SELECT m.user_id, m.role_id, " +
	"CASE WHEN u.id IS NOT NULL AND u.status <> 'active' THEN 1 ELSE 0 END " +
	"FROM cs_members m LEFT JOIN cs_users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id "

// LoadPolicy reads what the tenant's policy is compiled from (see access.PolicyData:
// the tenant's name, the roles whole, the IDs of the projects, the members' roles and
// Disabled, the project memberships' roles, the allowlist) in one read-only
// transaction that sees a single snapshot (REPEATABLE READ on PostgreSQL), so the data
// and Version always belong together. It reads no timestamp or row version and sorts
// nothing but the allowlist, whose order is stored. It returns storage.ErrNotFound for
// an unknown tenant. (The engine loads a tenant in full only on a cold start or a gap
// in the change log; after that it reads only what changed, see PolicyChanges.)
func (s *Store) LoadPolicy(ctx context.Context, tenant uuid.UUID) (access.PolicyData, error) {
	var pd access.PolicyData
	err := s.inTx(ctx, s.d.snapshotTx(), func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT name, policy_version FROM cs_tenants WHERE id = $1", tenant).
			Scan(&pd.Tenant.Name, &pd.Version); err != nil {
			return err
		}
		pd.Tenant.ID = tenant
		var err error
		if pd.Roles, err = s.policyRoles(ctx, tx, tenant); err != nil {
			return err
		}
		if pd.Projects, err = projectIDs(ctx, tx, tenant); err != nil {
			return err
		}
		if pd.Members, err = compileMembers(ctx, tx, tenant, compileMemberSelect+"WHERE m.tenant_id = $1"); err != nil {
			return err
		}
		if pd.ProjectMembers, err = compileProjectMembers(ctx, tx, tenant,
			"SELECT project_id, user_id, role_id FROM cs_project_members WHERE tenant_id = $1"); err != nil {
			return err
		}
		pd.Allowlist, err = allowlist(ctx, tx, tenant)
		return err
	})
	if err != nil {
		return access.PolicyData{}, wrapRead("load policy", err)
	}
	return pd, nil
}

// policyRoles reads the tenant's roles whole (a policy hands them out: see
// access.PolicyData), in no particular order.
func (s *Store) policyRoles(ctx context.Context, q queryer, tenant uuid.UUID) ([]access.Role, error) {
	return collect(ctx, q, scanRoles, "SELECT "+s.roleColumns()+" FROM cs_roles WHERE tenant_id = $1", tenant)
}

func projectIDs(ctx context.Context, q queryer, tenant uuid.UUID) ([]access.Project, error) {
	return collect(ctx, q, func(rows *sql.Rows) (access.Project, error) {
		p := access.Project{Tenant: tenant}
		return p, rows.Scan(&p.ID)
	}, "SELECT id FROM cs_projects WHERE tenant_id = $1", tenant)
}

func compileMembers(ctx context.Context, q queryer, tenant uuid.UUID, query string, args ...any) ([]access.Member, error) {
	return collect(ctx, q, func(rows *sql.Rows) (access.Member, error) {
		m := access.Member{Tenant: tenant}
		var disabled int
		err := rows.Scan(&m.User, &m.Role, &disabled)
		m.Disabled = disabled != 0
		return m, err
	}, query, append([]any{tenant}, args...)...)
}

func compileProjectMembers(ctx context.Context, q queryer, tenant uuid.UUID, query string, args ...any) ([]access.ProjectMember, error) {
	return collect(ctx, q, func(rows *sql.Rows) (access.ProjectMember, error) {
		pm := access.ProjectMember{Tenant: tenant}
		return pm, rows.Scan(&pm.Project, &pm.User, nullUUIDCol{&pm.Role})
	}, query, append([]any{tenant}, args...)...)
}

// PolicyChanges returns what changed in the tenant's policy data after version since
// (see access.ChangeStore), read in one snapshot with the data it names. It answers
// Full when the log no longer reaches back to since (or since is not a version the
// tenant had), and when more users changed than maxChangedUsers or a quarter of the
// tenant's members. An unknown tenant is storage.ErrNotFound.
func (s *Store) PolicyChanges(ctx context.Context, tenant uuid.UUID, since int64) (access.PolicyChanges, error) {
	var ch access.PolicyChanges
	err := s.inTx(ctx, s.d.snapshotTx(), func(tx *sql.Tx) error {
		var name string
		if err := tx.QueryRowContext(ctx, "SELECT name, policy_version FROM cs_tenants WHERE id = $1", tenant).
			Scan(&name, &ch.Version); err != nil {
			return err
		}
		switch {
		case since == ch.Version:
			return nil
		case since < 1 || since > ch.Version:
			ch.Full = true
			return nil
		}
		rows, err := tx.QueryContext(ctx,
			"SELECT kind, user_id, count(*) FROM cs_policy_changes WHERE tenant_id = $1 AND version > $2 "+
				"GROUP BY kind, user_id LIMIT $3", tenant, since, maxChangedUsers+8)
		if err != nil {
			return err
		}
		defer rows.Close()
		var versions int64
		var kinds string
		for rows.Next() {
			var kind string
			var user uuid.UUID
			var n int64
			if err := rows.Scan(&kind, &user, &n); err != nil {
				return err
			}
			switch kind {
			case "v":
				versions = n
			case "u":
				ch.Users = append(ch.Users, user)
			default:
				kinds += kind
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if versions != ch.Version-since || len(ch.Users) > maxChangedUsers {
			return fullChanges(&ch)
		}
		if len(ch.Users) > 64 {
			var members int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM cs_members WHERE tenant_id = $1", tenant).Scan(&members); err != nil {
				return err
			}
			if len(ch.Users) > members/4 {
				return fullChanges(&ch)
			}
		}
		if strings.Contains(kinds, "t") {
			ch.Tenant = &access.Tenant{ID: tenant, Name: name}
		}
		if strings.Contains(kinds, "r") {
			if ch.Roles, err = s.policyRoles(ctx, tx, tenant); err != nil {
				return err
			}
			ch.RolesChanged = true
		}
		if strings.Contains(kinds, "p") {
			if ch.Projects, err = projectIDs(ctx, tx, tenant); err != nil {
				return err
			}
			ch.ProjectsChanged = true
		}
		if strings.Contains(kinds, "a") {
			if ch.Allowlist, err = allowlist(ctx, tx, tenant); err != nil {
				return err
			}
			ch.AllowlistChanged = true
		}
		if len(ch.Users) == 0 {
			return nil
		}
		in, arg := s.d.uuidSet(ch.Users)
		if ch.Members, err = compileMembers(ctx, tx, tenant, compileMemberSelect+"WHERE m.tenant_id = $1 AND m.user_id "+in, arg); err != nil {
			return err
		}
		ch.ProjectMembers, err = compileProjectMembers(ctx, tx, tenant,
			"SELECT project_id, user_id, role_id FROM cs_project_members WHERE tenant_id = $1 AND user_id "+in, arg)
		return err
	})
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			err = storage.ErrNotFound
		}
		return access.PolicyChanges{}, wrapRead("policy changes", err)
	}
	return ch, nil
}

func fullChanges(ch *access.PolicyChanges) error {
	*ch = access.PolicyChanges{Version: ch.Version, Full: true}
	return nil
}

// uuidSet returns the condition "IN the set" for the query's second parameter, and
// that parameter: a uuid[] on PostgreSQL, a JSON array on SQLite.
func (d Dialect) uuidSet(ids []uuid.UUID) (string, any) {
	texts := make([]string, len(ids))
	for i, id := range ids {
		texts[i] = id.String()
	}
	if d == Postgres {
		return "= ANY($2::uuid[])", "{" + strings.Join(texts, ",") + "}"
	}
	b, _ := json.Marshal(texts) // strings always marshal
	return "IN (SELECT value FROM json_each($2))", string(b)
}
