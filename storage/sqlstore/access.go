package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// The access.Store methods. Every mutation runs in one transaction (see mutate) whose
// first statement increments the tenant's policy version; on PostgreSQL that row lock
// serialises the tenant's mutations, on SQLite the write transaction does, so the
// existence and "in use" checks below cannot be invalidated before the commit. The
// composite foreign keys in the schema back the checks up.

// scanner is what *sql.Row and *sql.Rows share.
type scanner interface{ Scan(dest ...any) error }

// mutate runs fn as one access unit of work on tenant: it increments the tenant's
// policy version (storage.ErrNotFound if the tenant does not exist), runs fn and
// appends ev to the tenant's audit chain, all in one transaction.
func (s *Store) mutate(ctx context.Context, op string, tenant uuid.UUID, ev audit.Event, fn func(tx *sql.Tx) error) error {
	if err := checkEventFor(tenant, &ev); err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE cs_tenants SET policy_version = policy_version + 1 WHERE id = $1", tenant)
		if err != nil {
			return err
		}
		if err := affected(res, storage.ErrNotFound); err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			return err
		}
		return s.appendTx(ctx, tx, []audit.Event{ev})
	})
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, translate(err))
	}
	return nil
}

// affected returns errNone if res changed no row.
func affected(res sql.Result, errNone error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNone
	}
	return nil
}

// exists reports whether query returns a row.
func exists(ctx context.Context, q queryer, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// mustExist returns storage.ErrNotFound unless query returns a row.
func mustExist(ctx context.Context, q queryer, query string, args ...any) error {
	ok, err := exists(ctx, q, query, args...)
	if err == nil && !ok {
		err = storage.ErrNotFound
	}
	return err
}

// staleOrNotFound explains a conditional update that changed no row: storage.ErrStale
// if the row exists (its version differs), storage.ErrNotFound otherwise.
func staleOrNotFound(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	ok, err := exists(ctx, tx, query, args...)
	switch {
	case err != nil:
		return err
	case ok:
		return storage.ErrStale
	}
	return storage.ErrNotFound
}

const (
	qTenantExists  = "SELECT 1 FROM cs_tenants WHERE id = $1"
	qRoleExists    = "SELECT 1 FROM cs_roles WHERE tenant_id = $1 AND id = $2"
	qProjectExists = "SELECT 1 FROM cs_projects WHERE tenant_id = $1 AND id = $2"
	qMemberExists  = "SELECT 1 FROM cs_members WHERE tenant_id = $1 AND user_id = $2"
)

// notFoundIfEmpty turns an empty list into storage.ErrNotFound when its parent (the
// tenant, or a project) does not exist, so that a list of an unknown or foreign ID is
// told apart from an empty one exactly as a single read would be.
func notFoundIfEmpty[T any](ctx context.Context, q queryer, list []T, query string, args ...any) ([]T, error) {
	if len(list) > 0 {
		return list, nil
	}
	if err := mustExist(ctx, q, query, args...); err != nil {
		return nil, err
	}
	return list, nil
}

// wrapRead names the operation in a read error and maps sql.ErrNoRows to
// storage.ErrNotFound.
func wrapRead(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// Tenants.

const tenantColumns = "id, name, created_at, updated_at, version"

func scanTenant(r scanner) (access.Tenant, error) {
	var t access.Tenant
	err := r.Scan(&t.ID, &t.Name, timeCol{&t.CreatedAt}, timeCol{&t.UpdatedAt}, &t.Version)
	return t, err
}

// CreateTenant stores t with Version 1 and policy version 1, and its initial roles
// (each with Version 1; their Tenant must be t.ID, else ErrTenantMismatch). A tenant ID
// or role name already stored is storage.ErrConflict.
func (s *Store) CreateTenant(ctx context.Context, t access.Tenant, roles []access.Role, ev audit.Event) error {
	if err := checkEventFor(t.ID, &ev); err != nil {
		return fmt.Errorf("sqlstore: create tenant: %w", err)
	}
	for _, r := range roles {
		if r.Tenant != t.ID {
			return fmt.Errorf("sqlstore: create tenant: role %s: %w", r.ID, ErrTenantMismatch)
		}
	}
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO cs_tenants (id, name, created_at, updated_at, version, policy_version) VALUES ($1, $2, $3, $4, 1, 1)",
			t.ID, t.Name, s.d.timeArg(t.CreatedAt), s.d.timeArg(t.UpdatedAt)); err != nil {
			return err
		}
		for _, r := range roles {
			if err := s.insertRole(ctx, tx, r); err != nil {
				return err
			}
		}
		return s.appendTx(ctx, tx, []audit.Event{ev})
	})
	if err != nil {
		return fmt.Errorf("sqlstore: create tenant: %w", translate(err))
	}
	return nil
}

// Tenant returns a tenant, or storage.ErrNotFound.
func (s *Store) Tenant(ctx context.Context, id uuid.UUID) (access.Tenant, error) {
	t, err := scanTenant(s.db.QueryRowContext(ctx, "SELECT "+tenantColumns+" FROM cs_tenants WHERE id = $1", id))
	if err != nil {
		return access.Tenant{}, wrapRead("tenant", err)
	}
	return t, nil
}

// UpdateTenant stores t's Name and UpdatedAt if t.Version is the stored version
// (storage.ErrStale otherwise), and increments the version.
func (s *Store) UpdateTenant(ctx context.Context, t access.Tenant, ev audit.Event) error {
	return s.mutate(ctx, "update tenant", t.ID, ev, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_tenants SET name = $2, updated_at = $3, version = version + 1 WHERE id = $1 AND version = $4",
			t.ID, t.Name, s.d.timeArg(t.UpdatedAt), t.Version)
		if err != nil {
			return err
		}
		return affected(res, storage.ErrStale) // mutate found the tenant
	})
}

// Roles.

func (s *Store) roleColumns() string {
	return "tenant_id, id, name, kind, " + s.d.rightsCol() + ", created_at, updated_at, version"
}

func scanRole(r scanner) (access.Role, error) {
	var x access.Role
	err := r.Scan(&x.Tenant, &x.ID, &x.Name, &x.Kind, stringsCol{&x.Rights},
		timeCol{&x.CreatedAt}, timeCol{&x.UpdatedAt}, &x.Version)
	return x, err
}

func scanRoles(rows *sql.Rows) (access.Role, error) { return scanRole(rows) }

func (s *Store) insertRole(ctx context.Context, tx *sql.Tx, r access.Role) error {
	_, err := tx.ExecContext(ctx,
		"INSERT INTO cs_roles (tenant_id, id, name, kind, rights, created_at, updated_at, version) "+
			"VALUES ($1, $2, $3, $4, $5, $6, $7, 1)",
		r.Tenant, r.ID, r.Name, string(r.Kind), s.d.rightsArg(r.Rights),
		s.d.timeArg(r.CreatedAt), s.d.timeArg(r.UpdatedAt))
	return err
}

// CreateRole stores r with Version 1. A role ID or name already stored in the tenant
// is storage.ErrConflict.
func (s *Store) CreateRole(ctx context.Context, r access.Role, ev audit.Event) error {
	return s.mutate(ctx, "create role", r.Tenant, ev, func(tx *sql.Tx) error {
		return s.insertRole(ctx, tx, r)
	})
}

// Role returns one role of the tenant, or storage.ErrNotFound.
func (s *Store) Role(ctx context.Context, tenant, id uuid.UUID) (access.Role, error) {
	r, err := scanRole(s.db.QueryRowContext(ctx,
		"SELECT "+s.roleColumns()+" FROM cs_roles WHERE tenant_id = $1 AND id = $2", tenant, id))
	if err != nil {
		return access.Role{}, wrapRead("role", err)
	}
	return r, nil
}

// Roles returns the tenant's roles ordered by name (byte-wise), or storage.ErrNotFound
// for an unknown tenant.
func (s *Store) Roles(ctx context.Context, tenant uuid.UUID) ([]access.Role, error) {
	rs, err := s.roles(ctx, s.db, tenant)
	if err == nil {
		rs, err = notFoundIfEmpty(ctx, s.db, rs, qTenantExists, tenant)
	}
	if err != nil {
		return nil, wrapRead("roles", err)
	}
	return rs, nil
}

func (s *Store) roles(ctx context.Context, q queryer, tenant uuid.UUID) ([]access.Role, error) {
	return collect(ctx, q, scanRoles,
		"SELECT "+s.roleColumns()+" FROM cs_roles WHERE tenant_id = $1 ORDER BY name", tenant)
}

// UpdateRole stores r's Name, Rights and UpdatedAt if r.Version is the stored version
// (storage.ErrStale otherwise; storage.ErrNotFound for an unknown role), and increments
// the version. A name taken by another role of the tenant is storage.ErrConflict.
func (s *Store) UpdateRole(ctx context.Context, r access.Role, ev audit.Event) error {
	return s.mutate(ctx, "update role", r.Tenant, ev, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_roles SET name = $3, rights = $4, updated_at = $5, version = version + 1 "+
				"WHERE tenant_id = $1 AND id = $2 AND version = $6",
			r.Tenant, r.ID, r.Name, s.d.rightsArg(r.Rights), s.d.timeArg(r.UpdatedAt), r.Version)
		if err != nil {
			return err
		}
		if affected(res, storage.ErrStale) != nil {
			return staleOrNotFound(ctx, tx, qRoleExists, r.Tenant, r.ID)
		}
		return nil
	})
}

// DeleteRole deletes a role: storage.ErrNotFound if the tenant has no such role,
// access.ErrRoleInUse if it is a member's tenant role or a project override.
func (s *Store) DeleteRole(ctx context.Context, tenant, id uuid.UUID, ev audit.Event) error {
	return s.mutate(ctx, "delete role", tenant, ev, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, qRoleExists, tenant, id); err != nil {
			return err
		}
		var inUse bool
		if err := tx.QueryRowContext(ctx,
			"SELECT EXISTS (SELECT 1 FROM cs_members WHERE tenant_id = $1 AND role_id = $2) "+
				"OR EXISTS (SELECT 1 FROM cs_project_members WHERE tenant_id = $1 AND role_id = $2)",
			tenant, id).Scan(&inUse); err != nil {
			return err
		}
		if inUse {
			return access.ErrRoleInUse
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM cs_roles WHERE tenant_id = $1 AND id = $2", tenant, id)
		return err
	})
}

// Projects.

const projectColumns = "tenant_id, id, name, created_at, updated_at, version"

func scanProject(r scanner) (access.Project, error) {
	var p access.Project
	err := r.Scan(&p.Tenant, &p.ID, &p.Name, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}, &p.Version)
	return p, err
}

func scanProjects(rows *sql.Rows) (access.Project, error) { return scanProject(rows) }

// CreateProject stores p with Version 1. A project ID or name already stored in the
// tenant is storage.ErrConflict.
func (s *Store) CreateProject(ctx context.Context, p access.Project, ev audit.Event) error {
	return s.mutate(ctx, "create project", p.Tenant, ev, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			"INSERT INTO cs_projects (tenant_id, id, name, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, 1)",
			p.Tenant, p.ID, p.Name, s.d.timeArg(p.CreatedAt), s.d.timeArg(p.UpdatedAt))
		return err
	})
}

// Project returns one project of the tenant, or storage.ErrNotFound.
func (s *Store) Project(ctx context.Context, tenant, id uuid.UUID) (access.Project, error) {
	p, err := scanProject(s.db.QueryRowContext(ctx,
		"SELECT "+projectColumns+" FROM cs_projects WHERE tenant_id = $1 AND id = $2", tenant, id))
	if err != nil {
		return access.Project{}, wrapRead("project", err)
	}
	return p, nil
}

// Projects returns the tenant's projects ordered by name (byte-wise), or
// storage.ErrNotFound for an unknown tenant.
func (s *Store) Projects(ctx context.Context, tenant uuid.UUID) ([]access.Project, error) {
	ps, err := projects(ctx, s.db, tenant)
	if err == nil {
		ps, err = notFoundIfEmpty(ctx, s.db, ps, qTenantExists, tenant)
	}
	if err != nil {
		return nil, wrapRead("projects", err)
	}
	return ps, nil
}

func projects(ctx context.Context, q queryer, tenant uuid.UUID) ([]access.Project, error) {
	return collect(ctx, q, scanProjects,
		"SELECT "+projectColumns+" FROM cs_projects WHERE tenant_id = $1 ORDER BY name", tenant)
}

// UpdateProject stores p's Name and UpdatedAt if p.Version is the stored version
// (storage.ErrStale otherwise; storage.ErrNotFound for an unknown project), and
// increments the version. A name taken by another project is storage.ErrConflict.
func (s *Store) UpdateProject(ctx context.Context, p access.Project, ev audit.Event) error {
	return s.mutate(ctx, "update project", p.Tenant, ev, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_projects SET name = $3, updated_at = $4, version = version + 1 "+
				"WHERE tenant_id = $1 AND id = $2 AND version = $5",
			p.Tenant, p.ID, p.Name, s.d.timeArg(p.UpdatedAt), p.Version)
		if err != nil {
			return err
		}
		if affected(res, storage.ErrStale) != nil {
			return staleOrNotFound(ctx, tx, qProjectExists, p.Tenant, p.ID)
		}
		return nil
	})
}

// DeleteProject deletes a project and its memberships, or returns storage.ErrNotFound.
func (s *Store) DeleteProject(ctx context.Context, tenant, id uuid.UUID, ev audit.Event) error {
	return s.mutate(ctx, "delete project", tenant, ev, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			"DELETE FROM cs_project_members WHERE tenant_id = $1 AND project_id = $2", tenant, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM cs_projects WHERE tenant_id = $1 AND id = $2", tenant, id)
		if err != nil {
			return err
		}
		return affected(res, storage.ErrNotFound)
	})
}

// Members.

// memberSelect reads members (m) with Member.Disabled derived from their account (u):
// a member whose authn user exists and is not active holds no right. The join is on
// cs_users' primary key.
const memberSelect = "SELECT m.tenant_id, m.user_id, m.role_id, m.created_at, m.updated_at, " +
	"CASE WHEN u.id IS NOT NULL AND u.status <> 'active' THEN 1 ELSE 0 END " +
	"FROM cs_members m LEFT JOIN cs_users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id "

func scanMember(r scanner) (access.Member, error) {
	var m access.Member
	var disabled int
	err := r.Scan(&m.Tenant, &m.User, &m.Role, timeCol{&m.CreatedAt}, timeCol{&m.UpdatedAt}, &disabled)
	m.Disabled = disabled != 0
	return m, err
}

func scanMembers(rows *sql.Rows) (access.Member, error) { return scanMember(rows) }

// SetMember creates or replaces the user's tenant membership; on replace, the stored
// CreatedAt is kept. m.Role must be a role of the tenant (storage.ErrNotFound
// otherwise). Giving the tenant's last Admin member, or its last Admin who can sign in,
// a role of another kind is access.ErrLastAdmin (see notLastAdmin).
func (s *Store) SetMember(ctx context.Context, m access.Member, ev audit.Event) error {
	return s.mutate(ctx, "set member", m.Tenant, ev, func(tx *sql.Tx) error {
		var kind string
		err := tx.QueryRowContext(ctx, "SELECT kind FROM cs_roles WHERE tenant_id = $1 AND id = $2", m.Tenant, m.Role).Scan(&kind)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: role %s: %w", m.Role, storage.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if access.RoleKind(kind) != access.KindAdmin {
			if err := notLastAdmin(ctx, tx, m.Tenant, m.User); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO cs_members (tenant_id, user_id, role_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) "+
				"ON CONFLICT (tenant_id, user_id) DO UPDATE SET role_id = excluded.role_id, updated_at = excluded.updated_at",
			m.Tenant, m.User, m.Role, s.d.timeArg(m.CreatedAt), s.d.timeArg(m.UpdatedAt))
		return err
	})
}

// Member returns a user's tenant membership, or storage.ErrNotFound.
func (s *Store) Member(ctx context.Context, tenant, user uuid.UUID) (access.Member, error) {
	m, err := scanMember(s.db.QueryRowContext(ctx,
		memberSelect+"WHERE m.tenant_id = $1 AND m.user_id = $2", tenant, user))
	if err != nil {
		return access.Member{}, wrapRead("member", err)
	}
	return m, nil
}

// Members returns the tenant's members ordered by user ID, or storage.ErrNotFound for
// an unknown tenant.
func (s *Store) Members(ctx context.Context, tenant uuid.UUID) ([]access.Member, error) {
	ms, err := members(ctx, s.db, tenant)
	if err == nil {
		ms, err = notFoundIfEmpty(ctx, s.db, ms, qTenantExists, tenant)
	}
	if err != nil {
		return nil, wrapRead("members", err)
	}
	return ms, nil
}

// members orders by user_id: the byte order of the UUIDs on both dialects (PostgreSQL
// compares uuid values as bytes; SQLite compares their fixed-width lower-case hex).
func members(ctx context.Context, q queryer, tenant uuid.UUID) ([]access.Member, error) {
	return collect(ctx, q, scanMembers,
		memberSelect+"WHERE m.tenant_id = $1 ORDER BY m.user_id", tenant)
}

// RemoveMember deletes the user's tenant membership and all their project memberships,
// or returns storage.ErrNotFound. Removing the tenant's last Admin member, or its last
// Admin who can sign in, is access.ErrLastAdmin (see notLastAdmin).
func (s *Store) RemoveMember(ctx context.Context, tenant, user uuid.UUID, ev audit.Event) error {
	return s.mutate(ctx, "remove member", tenant, ev, func(tx *sql.Tx) error {
		if err := notLastAdmin(ctx, tx, tenant, user); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"DELETE FROM cs_project_members WHERE tenant_id = $1 AND user_id = $2", tenant, user); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM cs_members WHERE tenant_id = $1 AND user_id = $2", tenant, user)
		if err != nil {
			return err
		}
		return affected(res, storage.ErrNotFound)
	})
}

// Project members.

const projectMemberColumns = "tenant_id, project_id, user_id, role_id, created_at"

func scanProjectMembers(rows *sql.Rows) (access.ProjectMember, error) {
	var pm access.ProjectMember
	err := rows.Scan(&pm.Tenant, &pm.Project, &pm.User, nullUUIDCol{&pm.Role}, timeCol{&pm.CreatedAt})
	return pm, err
}

// SetProjectMember creates or replaces a project membership; on replace, the stored
// CreatedAt is kept and the override role replaced. The project, the user's tenant
// membership and a non-zero override role must exist in the tenant
// (storage.ErrNotFound otherwise).
func (s *Store) SetProjectMember(ctx context.Context, pm access.ProjectMember, ev audit.Event) error {
	return s.mutate(ctx, "set project member", pm.Tenant, ev, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, qProjectExists, pm.Tenant, pm.Project); err != nil {
			return err
		}
		if err := mustExist(ctx, tx, qMemberExists, pm.Tenant, pm.User); err != nil {
			return err
		}
		if pm.Role != uuid.Nil {
			if err := mustExist(ctx, tx, qRoleExists, pm.Tenant, pm.Role); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx,
			"INSERT INTO cs_project_members (tenant_id, project_id, user_id, role_id, created_at) VALUES ($1, $2, $3, $4, $5) "+
				"ON CONFLICT (tenant_id, project_id, user_id) DO UPDATE SET role_id = excluded.role_id",
			pm.Tenant, pm.Project, pm.User, nullUUID(pm.Role), s.d.timeArg(pm.CreatedAt))
		return err
	})
}

// ProjectMembers returns a project's members ordered by user ID, or storage.ErrNotFound
// for a project that is not the tenant's.
func (s *Store) ProjectMembers(ctx context.Context, tenant, project uuid.UUID) ([]access.ProjectMember, error) {
	pms, err := collect(ctx, s.db, scanProjectMembers,
		"SELECT "+projectMemberColumns+" FROM cs_project_members WHERE tenant_id = $1 AND project_id = $2 ORDER BY user_id",
		tenant, project)
	if err == nil {
		pms, err = notFoundIfEmpty(ctx, s.db, pms, qProjectExists, tenant, project)
	}
	if err != nil {
		return nil, wrapRead("project members", err)
	}
	return pms, nil
}

// RemoveProjectMember deletes one project membership, or returns storage.ErrNotFound.
func (s *Store) RemoveProjectMember(ctx context.Context, tenant, project, user uuid.UUID, ev audit.Event) error {
	return s.mutate(ctx, "remove project member", tenant, ev, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"DELETE FROM cs_project_members WHERE tenant_id = $1 AND project_id = $2 AND user_id = $3",
			tenant, project, user)
		if err != nil {
			return err
		}
		return affected(res, storage.ErrNotFound)
	})
}

// Allowlist.

// SetAllowlist replaces the tenant's IP allowlist with prefixes, masked, in the order
// given. An invalid prefix is access.ErrInvalidPrefix and changes nothing.
func (s *Store) SetAllowlist(ctx context.Context, tenant uuid.UUID, prefixes []netip.Prefix, ev audit.Event) error {
	texts := make([]string, len(prefixes))
	for i, p := range prefixes {
		if !p.IsValid() {
			return fmt.Errorf("sqlstore: set allowlist: entry %d: %w", i, access.ErrInvalidPrefix)
		}
		texts[i] = p.Masked().String()
	}
	return s.mutate(ctx, "set allowlist", tenant, ev, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM cs_allowlist WHERE tenant_id = $1", tenant); err != nil {
			return err
		}
		if len(texts) == 0 {
			return nil
		}
		var b strings.Builder
		args := []any{tenant}
		b.WriteString("INSERT INTO cs_allowlist (tenant_id, position, prefix) VALUES ")
		for i, t := range texts {
			if i > 0 {
				b.WriteString(", ")
			}
			args = append(args, i, t)
			fmt.Fprintf(&b, "($1, $%d, $%d)", len(args)-1, len(args))
		}
		_, err := tx.ExecContext(ctx, b.String(), args...)
		return err
	})
}

// Allowlist returns the tenant's IP allowlist in the order it was set (empty: no
// restriction), or storage.ErrNotFound for an unknown tenant.
func (s *Store) Allowlist(ctx context.Context, tenant uuid.UUID) ([]netip.Prefix, error) {
	ps, err := allowlist(ctx, s.db, tenant)
	if err == nil {
		ps, err = notFoundIfEmpty(ctx, s.db, ps, qTenantExists, tenant)
	}
	if err != nil {
		return nil, wrapRead("allowlist", err)
	}
	return ps, nil
}

func allowlist(ctx context.Context, q queryer, tenant uuid.UUID) ([]netip.Prefix, error) {
	return collect(ctx, q, func(rows *sql.Rows) (netip.Prefix, error) {
		var text string
		if err := rows.Scan(&text); err != nil {
			return netip.Prefix{}, err
		}
		p, err := netip.ParsePrefix(text)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%w: allowlist of tenant %s: %w", ErrCorrupt, tenant, err)
		}
		return p, nil
	}, "SELECT prefix FROM cs_allowlist WHERE tenant_id = $1 ORDER BY position", tenant)
}

// Policy.

// PolicyVersion returns the tenant's policy version, or storage.ErrNotFound.
func (s *Store) PolicyVersion(ctx context.Context, tenant uuid.UUID) (int64, error) {
	var v int64
	if err := s.db.QueryRowContext(ctx, "SELECT policy_version FROM cs_tenants WHERE id = $1", tenant).Scan(&v); err != nil {
		return 0, wrapRead("policy version", err)
	}
	return v, nil
}

// notLastAdmin returns access.ErrLastAdmin if taking user out of the tenant's Admin
// members (removing their membership, giving them a role of another kind, deleting
// their account) would leave the tenant without an Admin: user is an Admin member, and
// no other Admin member would remain, or user can sign in and no other Admin who can
// sign in would remain (see adminsBesides). It is the one last-Admin rule of
// SetMember, RemoveMember and DeleteUser. It runs inside the mutation's transaction,
// after the tenant row is locked (PostgreSQL) or the write lock taken (SQLite), so
// concurrent demotions and removals are serialised and at most all but one succeed.
func notLastAdmin(ctx context.Context, tx *sql.Tx, tenant, user uuid.UUID) error {
	a, err := adminsBesides(ctx, tx, tenant, user)
	if err != nil {
		return err
	}
	if a.self && (a.others == 0 || a.selfSignIn && a.othersSignIn == 0) {
		return access.ErrLastAdmin
	}
	return nil
}
