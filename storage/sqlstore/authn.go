package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// Compile-time check: a *Store is an authn.Store too.
var _ authn.Store = (*Store)(nil)

// The authn.Store methods, over the tables of migration 0003 (cs_users, cs_tickets,
// cs_authn_settings).
//
// Every mutation is one transaction (see authnTx) whose first statement locks the
// tenant's row: AcceptInvitation, DeleteUser and SetStatus, which change memberships or
// whether they grant anything, increment its policy version as access mutations do; the others take the same row lock with
// SELECT ... FOR NO KEY UPDATE (SQLite's write transaction serialises them anyway).
// The tenant's mutations, access and authn alike, are therefore serialised, the checks
// a mutation makes still hold at its commit, and every transaction takes its locks in
// one order (tenant row, then rows of the tenant, then the audit chain head), so they
// cannot deadlock one another.
//
// Links are consumed with one conditional UPDATE (unused, unrevoked, not expired, of
// this tenant, purpose and token hash): whichever transaction commits it first wins,
// and every other finds no row and answers authn.ErrTicketInvalid, on one instance or
// many. Its effects (user, memberships, event) are in the same transaction, so a
// failure after the consumption rolls the consumption back too.
//
// The choices the contract leaves open are those of storage/memory and are held by
// storage/storetest: an unknown tenant is storage.ErrNotFound, except for
// AcceptInvitation and ResetPassword (authn.ErrTicketInvalid); only AcceptInvitation,
// DeleteUser and SetStatus change the policy version; revocations touch open tickets only
// (authn.Ticket.Open); AcceptInvitation sets UpdatedAt with StatusAt, the password
// methods change the hash only; a tombstone is never written again (UpdateUser,
// ReplacePasswordHash, CreateTicket: authn.ErrUserDeleted; SetStatus, DeleteUser:
// authn.ErrInvalidTransition), and DeleteUser erases the e-mail kept in the user's
// tickets; settings durations keep microseconds; PurgeCandidates lists the oldest first
// and treats a stored Retention of zero as authn.DefaultRetention; DeleteUser and
// SetStatus keep the tenant's last Admin (access.ErrLastAdmin) by the rule SetMember
// and RemoveMember follow (see notLastAdmin and adminsBesides).

// errTicketMismatch reports a ticket handed to a method it does not belong to: an
// invitation given to CreateTicket, a ticket of another user given to
// CreateInvitation.
var errTicketMismatch = errors.New("sqlstore: ticket does not fit the operation")

// authnTx runs fn as one authn unit of work on tenant: it locks the tenant's row (and
// increments its policy version if bumpPolicy), runs fn and appends ev, all in one
// transaction. An unknown tenant is unknownTenant, or storage.ErrNotFound if that is
// nil.
func (s *Store) authnTx(ctx context.Context, op string, tenant uuid.UUID, ev audit.Event, bumpPolicy bool,
	unknownTenant error, fn func(tx *sql.Tx) error) error {
	if err := checkEventFor(tenant, &ev); err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if err := s.lockTenant(ctx, tx, tenant, bumpPolicy); err != nil {
			if errors.Is(err, storage.ErrNotFound) && unknownTenant != nil {
				return unknownTenant
			}
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

// lockTenant locks the tenant's row until the end of tx, incrementing its policy
// version if bumpPolicy; storage.ErrNotFound if there is no such tenant.
func (s *Store) lockTenant(ctx context.Context, tx *sql.Tx, tenant uuid.UUID, bumpPolicy bool) error {
	if bumpPolicy {
		res, err := tx.ExecContext(ctx, "UPDATE cs_tenants SET policy_version = policy_version + 1 WHERE id = $1", tenant)
		if err != nil {
			return err
		}
		return affected(res, storage.ErrNotFound)
	}
	query := "SELECT 1 FROM cs_tenants WHERE id = $1"
	if s.d == Postgres {
		// The lock an UPDATE of a non-key column takes: it conflicts with the policy
		// version increments of access mutations, not with foreign-key checks.
		query += " FOR NO KEY UPDATE"
	}
	return mustExist(ctx, tx, query, tenant)
}

// Encodings of the authn columns.

// nullTimeArg is the argument for a nullable time column: NULL for the zero time.
func (d Dialect) nullTimeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.timeArg(t)
}

// nullTimeCol scans a nullable time column; NULL is the zero time.
type nullTimeCol struct{ t *time.Time }

func (c nullTimeCol) Scan(v any) error {
	if v == nil {
		*c.t = time.Time{}
		return nil
	}
	return timeCol(c).Scan(v)
}

// uuidsArg encodes a ticket's projects for a uuid[] column (PostgreSQL) or JSON array
// text (SQLite). NOT NULL: nil is stored as the empty list.
func (d Dialect) uuidsArg(ids []uuid.UUID) any {
	if ids == nil {
		ids = []uuid.UUID{}
	}
	if d == SQLite {
		b, _ := json.Marshal(ids) // UUIDs always marshal
		return string(b)
	}
	return ids
}

// uuidsCol is the select-list expression that reads a ticket's projects as JSON text.
func (d Dialect) uuidsCol(col string) string {
	if d == SQLite {
		return col
	}
	return "to_json(" + col + ")"
}

// inUUIDs is the condition "col is one of the UUIDs of parameter param" (bound with
// uuidsArg).
func (d Dialect) inUUIDs(col, param string) string {
	if d == SQLite {
		return col + " IN (SELECT value FROM json_each(" + param + "))"
	}
	return col + " = ANY(" + param + ")"
}

// uuidsScan scans a JSON array of UUIDs; the empty list reads as nil.
type uuidsScan struct{ ids *[]uuid.UUID }

func (c uuidsScan) Scan(v any) error {
	var out []uuid.UUID
	if err := (jsonCol{&out}).Scan(v); err != nil {
		return err
	}
	if len(out) == 0 {
		out = nil
	}
	*c.ids = out
	return nil
}

// hashScan scans a 32-byte token hash.
type hashScan struct{ h *[32]byte }

func (c hashScan) Scan(v any) error {
	b, ok := v.([]byte)
	if !ok || len(b) != len(c.h) {
		return fmt.Errorf("%w: token hash of %d bytes", ErrCorrupt, len(b))
	}
	copy(c.h[:], b)
	return nil
}

// durationCol scans microseconds into a time.Duration.
type durationCol struct{ d *time.Duration }

func (c durationCol) Scan(v any) error {
	us, ok := v.(int64)
	if !ok || us > math.MaxInt64/int64(time.Microsecond) || us < math.MinInt64/int64(time.Microsecond) {
		return fmt.Errorf("%w: duration %v", ErrCorrupt, v)
	}
	*c.d = time.Duration(us) * time.Microsecond
	return nil
}

// Users.

const userColumns = "tenant_id, id, email, name, status, status_at, deleted_reason, created_at, updated_at, version"

const qUserExists = "SELECT 1 FROM cs_users WHERE tenant_id = $1 AND id = $2"

func scanUser(r scanner) (authn.User, error) {
	var u authn.User
	err := r.Scan(&u.Tenant, &u.ID, &u.Email, &u.Name, &u.Status, timeCol{&u.StatusAt}, &u.DeletedReason,
		timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, &u.Version)
	return u, err
}

func scanUsers(rows *sql.Rows) (authn.User, error) { return scanUser(rows) }

// userStatus returns the stored status of a user, storage.ErrNotFound if there is none.
func userStatus(ctx context.Context, q queryer, tenant, user uuid.UUID) (authn.Status, error) {
	var st authn.Status
	err := q.QueryRowContext(ctx, "SELECT status FROM cs_users WHERE tenant_id = $1 AND id = $2", tenant, user).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", storage.ErrNotFound
	}
	return st, err
}

// explainUserWrite explains a conditional update of a live user that changed no row:
// storage.ErrNotFound for an unknown user, authn.ErrUserDeleted for a tombstone, and
// otherwise stale.
func explainUserWrite(ctx context.Context, tx *sql.Tx, tenant, user uuid.UUID, stale error) error {
	st, err := userStatus(ctx, tx, tenant, user)
	switch {
	case err != nil:
		return err
	case st == authn.StatusDeleted:
		return authn.ErrUserDeleted
	}
	return stale
}

// User returns a user of the tenant, tombstones included, or storage.ErrNotFound.
func (s *Store) User(ctx context.Context, tenant, id uuid.UUID) (authn.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx,
		"SELECT "+userColumns+" FROM cs_users WHERE tenant_id = $1 AND id = $2", tenant, id))
	if err != nil {
		return authn.User{}, wrapRead("user", err)
	}
	return u, nil
}

// UserByEmail returns the tenant's user who is not deleted with this e-mail (compared
// byte-wise: pass it normalised), or storage.ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, tenant uuid.UUID, email string) (authn.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx,
		"SELECT "+userColumns+" FROM cs_users WHERE tenant_id = $1 AND email = $2 AND status <> 'deleted'", tenant, email))
	if err != nil {
		return authn.User{}, wrapRead("user by e-mail", err)
	}
	return u, nil
}

// Users returns the tenant's users who are not deleted, ordered by e-mail (byte-wise),
// or storage.ErrNotFound for an unknown tenant.
func (s *Store) Users(ctx context.Context, tenant uuid.UUID) ([]authn.User, error) {
	us, err := collect(ctx, s.db, scanUsers,
		"SELECT "+userColumns+" FROM cs_users WHERE tenant_id = $1 AND status <> 'deleted' ORDER BY email", tenant)
	if err == nil {
		us, err = notFoundIfEmpty(ctx, s.db, us, qTenantExists, tenant)
	}
	if err != nil {
		return nil, wrapRead("users", err)
	}
	if us == nil {
		us = []authn.User{}
	}
	return us, nil
}

// UpdateUser stores u's Name and UpdatedAt with Version+1 if u.Version is the stored
// version: storage.ErrNotFound for an unknown user, authn.ErrUserDeleted for a
// tombstone, storage.ErrStale for another version.
func (s *Store) UpdateUser(ctx context.Context, u authn.User, ev audit.Event) error {
	return s.authnTx(ctx, "update user", u.Tenant, ev, false, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_users SET name = $3, updated_at = $4, version = version + 1 "+
				"WHERE tenant_id = $1 AND id = $2 AND version = $5 AND status <> 'deleted'",
			u.Tenant, u.ID, u.Name, s.d.timeArg(u.UpdatedAt), u.Version)
		if err != nil {
			return err
		}
		if affected(res, storage.ErrStale) != nil {
			return explainUserWrite(ctx, tx, u.Tenant, u.ID, storage.ErrStale)
		}
		return nil
	})
}

// PasswordHash returns the user's encoded password hash ("" if none is set), or
// storage.ErrNotFound.
func (s *Store) PasswordHash(ctx context.Context, tenant, user uuid.UUID) (string, error) {
	var h string
	err := s.db.QueryRowContext(ctx, "SELECT password_hash FROM cs_users WHERE tenant_id = $1 AND id = $2",
		tenant, user).Scan(&h)
	if err != nil {
		return "", wrapRead("password hash", err)
	}
	return h, nil
}

// ReplacePasswordHash sets the user's password hash to newHash if it is still oldHash
// (storage.ErrStale otherwise), in one conditional UPDATE: storage.ErrNotFound for an
// unknown user, authn.ErrUserDeleted for a tombstone.
func (s *Store) ReplacePasswordHash(ctx context.Context, tenant, user uuid.UUID, oldHash, newHash string, ev audit.Event) error {
	return s.authnTx(ctx, "replace password hash", tenant, ev, false, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_users SET password_hash = $4 "+
				"WHERE tenant_id = $1 AND id = $2 AND password_hash = $3 AND status <> 'deleted'",
			tenant, user, oldHash, newHash)
		if err != nil {
			return err
		}
		if affected(res, storage.ErrStale) != nil {
			return explainUserWrite(ctx, tx, tenant, user, storage.ErrStale)
		}
		return nil
	})
}

// SetStatus moves the user from `from` to `to` at `at` (StatusAt, UpdatedAt,
// Version+1), conditional on the stored status being `from`, and increments the
// tenant's policy version: the status decides whether the user's membership grants
// anything (access.Member.Disabled), so every instance must recompile. A stored status other
// than `from`, a `to` or `from` of StatusDeleted, or a status that is not one of
// authn's is authn.ErrInvalidTransition; an unknown user storage.ErrNotFound. Moving
// the tenant's last Admin who can sign in from active to another status is
// access.ErrLastAdmin (see adminsBesides).
func (s *Store) SetStatus(ctx context.Context, tenant, user uuid.UUID, from, to authn.Status, at time.Time, ev audit.Event) error {
	if !from.Valid() || !to.Valid() || from == authn.StatusDeleted || to == authn.StatusDeleted {
		return fmt.Errorf("sqlstore: set status %q to %q (use DeleteUser to delete): %w", from, to, authn.ErrInvalidTransition)
	}
	return s.authnTx(ctx, "set status", tenant, ev, true, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_users SET status = $4, status_at = $5, updated_at = $5, version = version + 1 "+
				"WHERE tenant_id = $1 AND id = $2 AND status = $3",
			tenant, user, string(from), string(to), s.d.timeArg(at))
		if err != nil {
			return err
		}
		if affected(res, storage.ErrNotFound) != nil {
			if err := mustExist(ctx, tx, qUserExists, tenant, user); err != nil {
				return err
			}
			return authn.ErrInvalidTransition
		}
		if from != authn.StatusActive || to == authn.StatusActive {
			return nil
		}
		// Under the tenant lock, so that of two Admins blocking each other one is refused;
		// the error rolls the UPDATE back.
		a, err := adminsBesides(ctx, tx, tenant, user)
		if err == nil && a.self && a.othersSignIn == 0 {
			err = access.ErrLastAdmin
		}
		return err
	})
}

// DeleteUser turns a user whose status is one of `from` into a tombstone at `at`:
// status deleted with reason, e-mail, name and password hash erased, Version+1, its
// tenant and project memberships deleted (the policy version incremented), its open
// tickets revoked and the e-mail kept in each of its tickets erased. Another status (a
// tombstone included) is authn.ErrInvalidTransition; an unknown user
// storage.ErrNotFound. The tenant's last Admin member, or its last Admin who can sign
// in, is access.ErrLastAdmin (see adminsBesides).
func (s *Store) DeleteUser(ctx context.Context, tenant, user uuid.UUID, from []authn.Status, reason string, at time.Time, ev audit.Event) error {
	return s.authnTx(ctx, "delete user", tenant, ev, true, nil, func(tx *sql.Tx) error {
		st, err := userStatus(ctx, tx, tenant, user)
		if err != nil {
			return err
		}
		if st == authn.StatusDeleted || !slices.Contains(from, st) {
			return authn.ErrInvalidTransition
		}
		if err := notLastAdmin(ctx, tx, tenant, user); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_users SET status = 'deleted', deleted_reason = $4, email = '', name = '', password_hash = '', "+
				"status_at = $5, updated_at = $5, version = version + 1 WHERE tenant_id = $1 AND id = $2 AND status = $3",
			tenant, user, string(st), reason, s.d.timeArg(at))
		if err != nil {
			return err
		}
		if err := affected(res, authn.ErrInvalidTransition); err != nil {
			return err // the tenant lock makes this unreachable; fail closed anyway
		}
		if _, err := tx.ExecContext(ctx,
			"DELETE FROM cs_project_members WHERE tenant_id = $1 AND user_id = $2", tenant, user); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"DELETE FROM cs_members WHERE tenant_id = $1 AND user_id = $2", tenant, user); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, // linked identities (migration 0009)
			"DELETE FROM cs_identities WHERE tenant_id = $1 AND user_id = $2", tenant, user); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			"UPDATE cs_tickets SET email = '', revoked_at = CASE "+
				"WHEN used_at IS NULL AND revoked_at IS NULL AND expires_at > $3 THEN $3 ELSE revoked_at END "+
				"WHERE tenant_id = $1 AND user_id = $2",
			tenant, user, s.d.timeArg(at))
		return err
	})
}

// admins is what adminsBesides counts.
type admins struct {
	self         bool // user is an Admin member
	selfSignIn   bool // and can sign in
	others       int  // the other Admin members
	othersSignIn int  // those of them who can sign in
}

// adminsBesides reports whether user is a member of the tenant whose role is of the
// Admin kind, and counts the other such members: all of them, and those who can sign
// in (their authn user is active, or they have no authn user: a host may use access
// without authn). SetStatus keeps the last Admin who can sign in with it; notLastAdmin
// builds the rule of SetMember, RemoveMember and DeleteUser on it. It runs inside the
// mutation's transaction after the tenant's row is locked (SQLite: the write lock
// taken), so the count still holds at commit and of two Admins removing or blocking
// each other one is refused.
func adminsBesides(ctx context.Context, tx *sql.Tx, tenant, user uuid.UUID) (admins, error) {
	var a admins
	var self, selfSignIn int
	err := tx.QueryRowContext(ctx,
		"SELECT COALESCE(SUM(CASE WHEN m.user_id = $2 THEN 1 ELSE 0 END), 0), "+
			"COALESCE(SUM(CASE WHEN m.user_id = $2 AND (u.id IS NULL OR u.status = 'active') THEN 1 ELSE 0 END), 0), "+
			"COALESCE(SUM(CASE WHEN m.user_id <> $2 THEN 1 ELSE 0 END), 0), "+
			"COALESCE(SUM(CASE WHEN m.user_id <> $2 AND (u.id IS NULL OR u.status = 'active') THEN 1 ELSE 0 END), 0) "+
			"FROM cs_members m JOIN cs_roles r ON r.tenant_id = m.tenant_id AND r.id = m.role_id "+
			"LEFT JOIN cs_users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id "+
			"WHERE m.tenant_id = $1 AND r.kind = 'admin'", tenant, user).Scan(&self, &selfSignIn, &a.others, &a.othersSignIn)
	a.self, a.selfSignIn = self > 0, selfSignIn > 0
	return a, err
}

// PurgeCandidates returns up to limit archived users of any tenant whose StatusAt is
// more than their tenant's retention before now (authn.DefaultRetention when the
// tenant stored no settings, or a Retention of zero), oldest StatusAt first. It scans
// the partial index of archived users in StatusAt order.
func (s *Store) PurgeCandidates(ctx context.Context, now time.Time, limit int) ([]authn.UserRef, error) {
	if limit <= 0 {
		return nil, nil
	}
	cutoff := "$1::timestamptz - (CASE WHEN st.retention_us > 0 THEN st.retention_us ELSE $2 END) * interval '1 microsecond'"
	if s.d == SQLite {
		cutoff = "$1 - (CASE WHEN st.retention_us > 0 THEN st.retention_us ELSE $2 END)"
	}
	refs, err := collect(ctx, s.db, func(rows *sql.Rows) (authn.UserRef, error) {
		var r authn.UserRef
		err := rows.Scan(&r.Tenant, &r.User)
		return r, err
	}, "SELECT u.tenant_id, u.id FROM cs_users u LEFT JOIN cs_authn_settings st ON st.tenant_id = u.tenant_id "+
		"WHERE u.status = 'archived' AND u.status_at < "+cutoff+
		" ORDER BY u.status_at, u.tenant_id, u.id LIMIT $3",
		s.d.timeArg(now), authn.DefaultRetention.Microseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: purge candidates: %w", err)
	}
	return refs, nil
}

// Tickets.

func (s *Store) ticketColumns() string {
	return "tenant_id, id, user_id, purpose, email, token_hash, role_id, " + s.d.uuidsCol("projects") +
		", created_by, created_at, expires_at, used_at, revoked_at"
}

func scanTicket(r scanner) (authn.Ticket, error) {
	var t authn.Ticket
	err := r.Scan(&t.Tenant, &t.ID, &t.User, &t.Purpose, &t.Email, hashScan{&t.TokenHash}, nullUUIDCol{&t.Role},
		uuidsScan{&t.Projects}, nullUUIDCol{&t.CreatedBy}, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt},
		nullTimeCol{&t.UsedAt}, nullTimeCol{&t.RevokedAt})
	return t, err
}

func (s *Store) insertTicket(ctx context.Context, tx *sql.Tx, t authn.Ticket) error {
	_, err := tx.ExecContext(ctx,
		"INSERT INTO cs_tickets (tenant_id, id, user_id, purpose, email, token_hash, role_id, projects, created_by, "+
			"created_at, expires_at, used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
		t.Tenant, t.ID, t.User, string(t.Purpose), t.Email, t.TokenHash[:], nullUUID(t.Role), s.d.uuidsArg(t.Projects),
		nullUUID(t.CreatedBy), s.d.timeArg(t.CreatedAt), s.d.timeArg(t.ExpiresAt),
		s.d.nullTimeArg(t.UsedAt), s.d.nullTimeArg(t.RevokedAt))
	return err
}

// revokeTickets revokes the user's tickets of purpose that are open at `at`, and
// returns how many it revoked.
func (s *Store) revokeTickets(ctx context.Context, tx *sql.Tx, tenant, user uuid.UUID, purpose authn.Purpose, at time.Time) (int, error) {
	res, err := tx.ExecContext(ctx,
		"UPDATE cs_tickets SET revoked_at = $4 WHERE tenant_id = $1 AND user_id = $2 AND purpose = $3 "+
			"AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $4",
		tenant, user, string(purpose), s.d.timeArg(at))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// CreateInvitation stores the invitation t for u: a new user (u.Version 0, inserted
// invited with Version 1) or a re-invited one (conditional on u.Version and status
// invited, storage.ErrStale otherwise; storage.ErrNotFound for an unknown user), whose
// earlier open invitations are revoked at t.CreatedAt. An e-mail taken by a user who is
// not deleted, or a user, ticket ID or token hash already stored, is
// storage.ErrConflict. t must be an invitation of u (ErrTenantMismatch for another
// tenant). A new user who is already a member of the tenant is disabled by it, so it
// then increments the policy version.
func (s *Store) CreateInvitation(ctx context.Context, u authn.User, t authn.Ticket, ev audit.Event) error {
	switch {
	case t.Tenant != u.Tenant:
		return fmt.Errorf("sqlstore: create invitation: ticket %s: %w", t.ID, ErrTenantMismatch)
	case t.User != u.ID || t.Purpose != authn.PurposeInvitation:
		return fmt.Errorf("sqlstore: create invitation: %w: ticket %s of user %s, purpose %q", errTicketMismatch, t.ID, t.User, t.Purpose)
	}
	return s.authnTx(ctx, "create invitation", u.Tenant, ev, false, nil, func(tx *sql.Tx) error {
		if u.Version == 0 {
			// A new user who is already a member (added through access, without an
			// account until now) may not sign in once invited, so their membership
			// grants nothing (access.Member.Disabled): move the policy version first,
			// so that the change log's trigger records the user under the new version.
			if _, err := tx.ExecContext(ctx,
				"UPDATE cs_tenants SET policy_version = policy_version + 1 WHERE id = $1 AND EXISTS "+
					"(SELECT 1 FROM cs_members WHERE tenant_id = $1 AND user_id = $2)", u.Tenant, u.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx,
				"INSERT INTO cs_users (tenant_id, id, email, name, status, status_at, deleted_reason, password_hash, "+
					"created_at, updated_at, version) VALUES ($1, $2, $3, $4, 'invited', $5, '', '', $6, $7, 1)",
				u.Tenant, u.ID, u.Email, u.Name, s.d.timeArg(u.StatusAt), s.d.timeArg(u.CreatedAt),
				s.d.timeArg(u.UpdatedAt)); err != nil {
				return err
			}
		} else {
			res, err := tx.ExecContext(ctx,
				"UPDATE cs_users SET name = $3, updated_at = $4, version = version + 1 "+
					"WHERE tenant_id = $1 AND id = $2 AND version = $5 AND status = 'invited'",
				u.Tenant, u.ID, u.Name, s.d.timeArg(u.UpdatedAt), u.Version)
			if err != nil {
				return err
			}
			if affected(res, storage.ErrStale) != nil {
				return staleOrNotFound(ctx, tx, qUserExists, u.Tenant, u.ID)
			}
			if _, err := s.revokeTickets(ctx, tx, u.Tenant, u.ID, authn.PurposeInvitation, t.CreatedAt); err != nil {
				return err
			}
		}
		return s.insertTicket(ctx, tx, t)
	})
}

// CreateTicket stores t, a password-reset ticket of an existing user of t.Tenant
// (storage.ErrNotFound otherwise; authn.ErrUserDeleted for a tombstone), and revokes
// the user's open tickets of that purpose at t.CreatedAt. A ticket ID or token hash
// already stored is storage.ErrConflict.
func (s *Store) CreateTicket(ctx context.Context, t authn.Ticket, clearPassword bool, ev audit.Event) error {
	if t.Purpose != authn.PurposePasswordReset {
		return fmt.Errorf("sqlstore: create ticket: %w: purpose %q", errTicketMismatch, t.Purpose)
	}
	return s.authnTx(ctx, "create ticket", t.Tenant, ev, false, nil, func(tx *sql.Tx) error {
		st, err := userStatus(ctx, tx, t.Tenant, t.User)
		switch {
		case err != nil:
			return err
		case st == authn.StatusDeleted:
			return authn.ErrUserDeleted
		}
		if _, err := s.revokeTickets(ctx, tx, t.Tenant, t.User, t.Purpose, t.CreatedAt); err != nil {
			return err
		}
		if clearPassword {
			if _, err := tx.ExecContext(ctx, "UPDATE cs_users SET password_hash = '' WHERE tenant_id = $1 AND id = $2",
				t.Tenant, t.User); err != nil {
				return err
			}
		}
		return s.insertTicket(ctx, tx, t)
	})
}

// Ticket returns the tenant's ticket of this purpose with this token hash, whatever its
// state (used, revoked, expired), or storage.ErrNotFound.
func (s *Store) Ticket(ctx context.Context, tenant uuid.UUID, purpose authn.Purpose, tokenHash [32]byte) (authn.Ticket, error) {
	t, err := scanTicket(s.db.QueryRowContext(ctx,
		"SELECT "+s.ticketColumns()+" FROM cs_tickets WHERE tenant_id = $1 AND purpose = $2 AND token_hash = $3",
		tenant, string(purpose), tokenHash[:]))
	if err != nil {
		return authn.Ticket{}, wrapRead("ticket", err)
	}
	return t, nil
}

// OpenInvitation returns the user's newest invitation open at now (greatest
// created_at, then greatest ID), or storage.ErrNotFound if there is none. The
// "open" condition is the one revokeTickets and consumeTicket use.
func (s *Store) OpenInvitation(ctx context.Context, tenant, user uuid.UUID, now time.Time) (authn.Ticket, error) {
	t, err := scanTicket(s.db.QueryRowContext(ctx,
		"SELECT "+s.ticketColumns()+" FROM cs_tickets WHERE tenant_id = $1 AND user_id = $2 AND purpose = $3 "+
			"AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $4 ORDER BY created_at DESC, id DESC LIMIT 1",
		tenant, user, string(authn.PurposeInvitation), s.d.timeArg(now)))
	if err != nil {
		return authn.Ticket{}, wrapRead("open invitation", err)
	}
	return t, nil
}

// RevokeTickets revokes the user's open tickets of purpose at `at` and returns how many
// it revoked; the event is appended even when none was open. An unknown user is
// storage.ErrNotFound.
func (s *Store) RevokeTickets(ctx context.Context, tenant, user uuid.UUID, purpose authn.Purpose, at time.Time, ev audit.Event) (int, error) {
	var n int
	err := s.authnTx(ctx, "revoke tickets", tenant, ev, false, nil, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, qUserExists, tenant, user); err != nil {
			return err
		}
		var err error
		n, err = s.revokeTickets(ctx, tx, tenant, user, purpose, at)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// consumedTicket is what the consumption of a link returns.
type consumedTicket struct {
	user     uuid.UUID
	role     uuid.UUID
	projects []uuid.UUID
}

// consumeTicket marks the tenant's ticket of purpose with this token hash used at now
// if, and only if, it is open at now, in one conditional UPDATE; otherwise it returns
// authn.ErrTicketInvalid. Of concurrent calls, only the one whose UPDATE commits first
// finds the row open.
func (s *Store) consumeTicket(ctx context.Context, tx *sql.Tx, tenant uuid.UUID, purpose authn.Purpose,
	tokenHash [32]byte, now time.Time) (consumedTicket, error) {
	var c consumedTicket
	err := tx.QueryRowContext(ctx,
		"UPDATE cs_tickets SET used_at = $4 WHERE tenant_id = $1 AND purpose = $2 AND token_hash = $3 "+
			"AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $4 "+
			"RETURNING user_id, role_id, "+s.d.uuidsCol("projects"),
		tenant, string(purpose), tokenHash[:], s.d.timeArg(now)).Scan(&c.user, nullUUIDCol{&c.role}, uuidsScan{&c.projects})
	if errors.Is(err, sql.ErrNoRows) {
		return c, authn.ErrTicketInvalid
	}
	return c, err
}

// AcceptInvitation consumes the open invitation with this token hash (see
// consumeTicket), activates its invited user with passwordHash (status active,
// StatusAt and UpdatedAt now, Version+1), gives them the ticket's role (replacing an
// existing membership's role, its CreatedAt kept) and a membership of each of the
// ticket's projects that still exists (existing ones kept), increments the tenant's
// policy version and appends ev, in one transaction. An unusable link, a user who is
// not invited, a role that no longer exists or an unknown tenant is
// authn.ErrTicketInvalid, and nothing changes.
func (s *Store) AcceptInvitation(ctx context.Context, tenant uuid.UUID, tokenHash [32]byte, now time.Time, passwordHash string, ev audit.Event) (authn.User, error) {
	var u authn.User
	err := s.authnTx(ctx, "accept invitation", tenant, ev, true, authn.ErrTicketInvalid, func(tx *sql.Tx) error {
		c, err := s.consumeTicket(ctx, tx, tenant, authn.PurposeInvitation, tokenHash, now)
		if err != nil {
			return err
		}
		if c.role == uuid.Nil {
			return authn.ErrTicketInvalid
		}
		if err := mustExist(ctx, tx, qRoleExists, tenant, c.role); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return authn.ErrTicketInvalid // the promised role was deleted: the link cannot be honoured
			}
			return err
		}
		u, err = scanUser(tx.QueryRowContext(ctx,
			"UPDATE cs_users SET password_hash = $3, status = 'active', status_at = $4, updated_at = $4, version = version + 1 "+
				"WHERE tenant_id = $1 AND id = $2 AND status = 'invited' RETURNING "+userColumns,
			tenant, c.user, passwordHash, s.d.timeArg(now)))
		if errors.Is(err, sql.ErrNoRows) {
			return authn.ErrTicketInvalid
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO cs_members (tenant_id, user_id, role_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) "+
				"ON CONFLICT (tenant_id, user_id) DO UPDATE SET role_id = excluded.role_id, updated_at = excluded.updated_at",
			tenant, c.user, c.role, s.d.timeArg(now)); err != nil {
			return err
		}
		if len(c.projects) == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO cs_project_members (tenant_id, project_id, user_id, role_id, created_at) "+
				"SELECT tenant_id, id, $2, NULL, $3 FROM cs_projects WHERE tenant_id = $1 AND "+s.d.inUUIDs("id", "$4")+
				" ON CONFLICT (tenant_id, project_id, user_id) DO NOTHING",
			tenant, c.user, s.d.timeArg(now), s.d.uuidsArg(c.projects))
		return err
	})
	if err != nil {
		return authn.User{}, err
	}
	return u, nil
}

// ResetPassword consumes the open password-reset ticket with this token hash (see
// consumeTicket) and sets its active user's password hash, in one transaction with ev.
// An unusable link, a user who is not active or an unknown tenant is
// authn.ErrTicketInvalid, and nothing changes. The user's Version and UpdatedAt are
// unchanged.
func (s *Store) ResetPassword(ctx context.Context, tenant uuid.UUID, tokenHash [32]byte, now time.Time, passwordHash string, ev audit.Event) (authn.User, error) {
	var u authn.User
	err := s.authnTx(ctx, "reset password", tenant, ev, false, authn.ErrTicketInvalid, func(tx *sql.Tx) error {
		c, err := s.consumeTicket(ctx, tx, tenant, authn.PurposePasswordReset, tokenHash, now)
		if err != nil {
			return err
		}
		u, err = scanUser(tx.QueryRowContext(ctx,
			"UPDATE cs_users SET password_hash = $3 WHERE tenant_id = $1 AND id = $2 AND status = 'active' RETURNING "+userColumns,
			tenant, c.user, passwordHash))
		if errors.Is(err, sql.ErrNoRows) {
			return authn.ErrTicketInvalid
		}
		return err
	})
	if err != nil {
		return authn.User{}, err
	}
	return u, nil
}

// Settings.

// Settings returns the tenant's stored settings, or storage.ErrNotFound if none were
// stored (or the tenant is unknown).
func (s *Store) Settings(ctx context.Context, tenant uuid.UUID) (authn.Settings, error) {
	var st authn.Settings
	var roles string
	err := s.db.QueryRowContext(ctx,
		"SELECT tenant_id, password_mode, password_min_length, password_min_score, require_two_factor, invitation_ttl_us, "+
			"reset_ttl_us, retention_us, updated_at, version, require_two_factor_roles FROM cs_authn_settings WHERE tenant_id = $1", tenant).
		Scan(&st.Tenant, &st.PasswordMode, &st.PasswordMinLength, &st.PasswordMinScore, &st.RequireTwoFactor, durationCol{&st.InvitationTTL},
			durationCol{&st.ResetTTL}, durationCol{&st.Retention}, timeCol{&st.UpdatedAt}, &st.Version, &roles)
	if err != nil {
		return authn.Settings{}, wrapRead("authn settings", err)
	}
	if roles != "" {
		for _, r := range strings.Split(roles, ",") {
			id, err := uuid.Parse(r)
			if err != nil {
				return authn.Settings{}, fmt.Errorf("sqlstore: authn settings: require_two_factor_roles: %w", err)
			}
			st.RequireTwoFactorRoles = append(st.RequireTwoFactorRoles, id)
		}
	}
	return st, nil
}

// SetSettings stores st if st.Version is the stored version (0 when none is stored;
// storage.ErrStale otherwise), with Version+1. Durations are stored in microseconds
// (anything finer is dropped); an unknown tenant is storage.ErrNotFound.
func (s *Store) SetSettings(ctx context.Context, st authn.Settings, ev audit.Event) error {
	return s.authnTx(ctx, "set authn settings", st.Tenant, ev, false, nil, func(tx *sql.Tx) error {
		args := []any{st.Tenant, st.PasswordMode, st.PasswordMinLength, st.PasswordMinScore,
			st.InvitationTTL.Microseconds(), st.ResetTTL.Microseconds(), st.Retention.Microseconds(),
			s.d.timeArg(st.UpdatedAt), st.RequireTwoFactor, uuidList(st.RequireTwoFactorRoles)}
		// Version 0: the first settings, unless another call stored some meanwhile.
		query := "INSERT INTO cs_authn_settings (tenant_id, password_mode, password_min_length, password_min_score, " +
			"invitation_ttl_us, reset_ttl_us, retention_us, updated_at, require_two_factor, require_two_factor_roles, version) " +
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1) ON CONFLICT (tenant_id) DO NOTHING"
		if st.Version != 0 {
			query = "UPDATE cs_authn_settings SET password_mode = $2, password_min_length = $3, password_min_score = $4, " +
				"invitation_ttl_us = $5, reset_ttl_us = $6, retention_us = $7, updated_at = $8, require_two_factor = $9, " +
				"require_two_factor_roles = $10, version = version + 1 WHERE tenant_id = $1 AND version = $11"
			args = append(args, st.Version)
		}
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		return affected(res, storage.ErrStale)
	})
}

// uuidList is a list of IDs as one text column: comma-separated, in the given order.
func uuidList(ids []uuid.UUID) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id.String()
	}
	return strings.Join(parts, ",")
}
