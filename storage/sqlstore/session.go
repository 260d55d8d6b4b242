package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// The authn.SessionStore methods, over the tables of migration 0006 (cs_sessions,
// cs_pending_signins, cs_session_settings).
//
// The per-request lookup (SessionBySecret) is one query: the session by its unique
// (tenant_id, secret_hash) key; the row carries copies of its user's status and the
// tenant's idle timeout (migration 0013), and on SQLite the tenant's row is joined by
// primary key for the policy version. Session mutations do not
// take the tenant's row lock that account mutations take: they check no rule across
// the tenant, and their events serialise on the tenant's audit chain head anyway.
// TouchSession is a single conditional UPDATE without an event. A pending sign-in is
// consumed by a conditional DELETE in the transaction that inserts its session, so of
// racing completions one commits and the others find no row.

const sessionColumns = "s.tenant_id, s.id, s.user_id, s.kind, s.secret_hash, s.created_at, s.auth_at, s.last_seen, " +
	"s.expires_at, s.factors, s.restricted, s.ip, s.user_agent, s.last_url, s.wp_status, s.wp_since, s.wp_queue, s.wp_call, s.privilege, " +
	"s.privilege_version"

func sessionDest(x *authn.Session, factors, ip *string) []any {
	return []any{&x.Tenant, &x.ID, &x.User, &x.Kind, hashScan{&x.SecretHash}, timeCol{&x.CreatedAt}, timeCol{&x.AuthAt},
		timeCol{&x.LastSeen}, timeCol{&x.ExpiresAt}, factors, &x.Restricted, ip, &x.UserAgent, &x.LastURL,
		&x.Workplace.Status, nullTimeCol{&x.Workplace.StatusSince}, &x.Workplace.Queue, &x.Workplace.CallID, privilegeCol{&x.Privilege},
		&x.PrivilegeVersion}
}

// privilegeCol scans the privilege fingerprint, stored as a signed 64-bit integer.
type privilegeCol struct{ p *uint64 }

func (c privilegeCol) Scan(src any) error {
	var v sql.NullInt64
	if err := v.Scan(src); err != nil {
		return err
	}
	*c.p = uint64(v.Int64)
	return nil
}

func finishSession(x *authn.Session, factors, ip string) {
	x.Factors = nil
	if factors != "" {
		for _, f := range strings.Split(factors, ",") {
			x.Factors = append(x.Factors, authn.Factor(f))
		}
	}
	x.IP = addrOf(ip)
}

func scanSession(r scanner) (authn.Session, error) {
	var x authn.Session
	var factors, ip string
	if err := r.Scan(sessionDest(&x, &factors, &ip)...); err != nil {
		return authn.Session{}, err
	}
	finishSession(&x, factors, ip)
	return x, nil
}

func addrOf(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func factorsText(fs []authn.Factor) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = string(f)
	}
	return strings.Join(parts, ",")
}

// sessionTx runs fn and appends evs in one transaction; an unknown tenant is
// storage.ErrNotFound.
func (s *Store) sessionTx(ctx context.Context, op string, tenant uuid.UUID, evs []audit.Event, fn func(tx *sql.Tx) ([]audit.Event, error)) error {
	for i := range evs {
		if err := checkEventFor(tenant, &evs[i]); err != nil {
			return fmt.Errorf("sqlstore: %s: %w", op, err)
		}
	}
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, qTenantExists, tenant); err != nil {
			return err
		}
		out, err := fn(tx)
		if err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		return s.appendTx(ctx, tx, out)
	})
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, translate(err))
	}
	return nil
}

// SessionSettings returns the tenant's stored session settings.
func (s *Store) SessionSettings(ctx context.Context, tenant uuid.UUID) (authn.SessionSettings, error) {
	var st authn.SessionSettings
	err := s.db.QueryRowContext(ctx,
		"SELECT tenant_id, idle_us, lifetime_us, max_per_user, refuse_over_limit, lock_threshold, lock_duration_us, "+
			"updated_at, version FROM cs_session_settings WHERE tenant_id = $1", tenant).
		Scan(&st.Tenant, durationCol{&st.IdleTimeout}, durationCol{&st.Lifetime}, &st.MaxPerUser, &st.RefuseOverLimit,
			&st.LockThreshold, durationCol{&st.LockDuration}, timeCol{&st.UpdatedAt}, &st.Version)
	if err != nil {
		return authn.SessionSettings{}, wrapRead("session settings", err)
	}
	return st, nil
}

// SetSessionSettings stores st, conditional on st.Version.
func (s *Store) SetSessionSettings(ctx context.Context, st authn.SessionSettings, ev audit.Event) error {
	return s.sessionTx(ctx, "set session settings", st.Tenant, []audit.Event{ev}, func(tx *sql.Tx) ([]audit.Event, error) {
		args := []any{st.Tenant, st.IdleTimeout.Microseconds(), st.Lifetime.Microseconds(), st.MaxPerUser, st.RefuseOverLimit,
			st.LockThreshold, st.LockDuration.Microseconds(), s.d.timeArg(st.UpdatedAt)}
		var res sql.Result
		var err error
		if st.Version == 0 {
			res, err = tx.ExecContext(ctx, "INSERT INTO cs_session_settings (tenant_id, idle_us, lifetime_us, max_per_user, "+
				"refuse_over_limit, lock_threshold, lock_duration_us, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1) "+
				"ON CONFLICT (tenant_id) DO NOTHING", args...)
		} else {
			res, err = tx.ExecContext(ctx, "UPDATE cs_session_settings SET idle_us = $2, lifetime_us = $3, max_per_user = $4, "+
				"refuse_over_limit = $5, lock_threshold = $6, lock_duration_us = $7, updated_at = $8, version = version + 1 "+
				"WHERE tenant_id = $1 AND version = $9", append(args, st.Version)...)
		}
		if err != nil {
			return nil, err
		}
		if err := affected(res, storage.ErrStale); err != nil {
			return nil, err
		}
		if st.Lifetime > 0 {
			// A shorter lifetime cuts the live sessions' deadlines; none is extended.
			// (Each changed row is announced by migration 0015's trigger.)
			q := "UPDATE cs_sessions SET expires_at = created_at + $2 * interval '1 microsecond' " +
				"WHERE tenant_id = $1 AND expires_at > created_at + $2 * interval '1 microsecond'"
			if s.d == SQLite {
				q = "UPDATE cs_sessions SET expires_at = created_at + $2 WHERE tenant_id = $1 AND expires_at > created_at + $2"
			}
			if _, err := tx.ExecContext(ctx, q, st.Tenant, st.Lifetime.Microseconds()); err != nil {
				return nil, err
			}
		}
		return []audit.Event{ev}, nil
	})
}

// CreateSession stores a new session (see authn.SessionStore).
func (s *Store) CreateSession(ctx context.Context, st authn.SessionStart, evs []audit.Event) ([]uuid.UUID, error) {
	x := st.Session
	tenant := x.Tenant
	var ended []uuid.UUID
	if st.MaxPerUser > 0 && !st.RefuseOverLimit {
		// The template of the per-session events (LimitEventFor copies it).
		if err := checkEventFor(tenant, &st.LimitEvent); err != nil {
			return nil, fmt.Errorf("sqlstore: create session: %w", err)
		}
	}
	err := s.sessionTx(ctx, "create session", tenant, evs, func(tx *sql.Tx) ([]audit.Event, error) {
		ended = nil
		now := s.d.timeArg(x.CreatedAt)
		if st.Pending != ([32]byte{}) {
			res, err := tx.ExecContext(ctx, "DELETE FROM cs_pending_signins WHERE tenant_id = $1 AND secret_hash = $2 "+
				"AND user_id = $3 AND expires_at > $4 AND attempts < $5", tenant, st.Pending[:], x.User, now, authn.MaxPendingAttempts)
			if err != nil {
				return nil, err
			}
			if err := affected(res, authn.ErrPendingInvalid); err != nil {
				return nil, err
			}
		}
		out := evs
		if st.MaxPerUser > 0 {
			// Serialise the user's sign-ins, so that two cannot both pass the count.
			if err := mustExist(ctx, tx, "SELECT 1 FROM cs_users WHERE tenant_id = $1 AND id = $2"+s.d.noKeyLock(), tenant, x.User); err != nil {
				return nil, err
			}
			ids, err := collect(ctx, tx, func(r *sql.Rows) (uuid.UUID, error) {
				var id uuid.UUID
				return id, r.Scan(&id)
			}, "SELECT id FROM cs_sessions WHERE tenant_id = $1 AND user_id = $2 AND expires_at > $3 ORDER BY created_at, id",
				tenant, x.User, now)
			if err != nil {
				return nil, err
			}
			if n := len(ids) + 1 - st.MaxPerUser; n > 0 {
				if st.RefuseOverLimit {
					return nil, authn.ErrSessionLimit
				}
				out = slices.Clone(evs)
				for _, id := range ids[:n] {
					if _, err := tx.ExecContext(ctx, "DELETE FROM cs_sessions WHERE tenant_id = $1 AND id = $2", tenant, id); err != nil {
						return nil, err
					}
					ended = append(ended, id)
					// One "session.end" event per ended session, in this transaction.
					ev, err := st.LimitEventFor(id)
					if err != nil {
						return nil, err
					}
					out = append(out, ev)
				}
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO cs_sessions (tenant_id, id, user_id, kind, secret_hash, created_at, auth_at, "+
			"last_seen, expires_at, factors, restricted, ip, user_agent, last_url, wp_status, wp_since, wp_queue, wp_call, privilege, "+
			"privilege_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
			tenant, x.ID, x.User, string(x.Kind), x.SecretHash[:], now, s.d.timeArg(x.AuthAt), s.d.timeArg(x.LastSeen),
			s.d.timeArg(x.ExpiresAt), factorsText(x.Factors), x.Restricted, addrText(x.IP), x.UserAgent, x.LastURL,
			x.Workplace.Status, s.d.nullTimeArg(x.Workplace.StatusSince), x.Workplace.Queue, x.Workplace.CallID, int64(x.Privilege),
			x.PrivilegeVersion)
		if err != nil {
			return nil, err
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// noKeyLock is the suffix of a SELECT that locks a row as an UPDATE of non-key columns
// would (PostgreSQL); SQLite's write transactions are serial.
func (d Dialect) noKeyLock() string {
	if d == SQLite {
		return ""
	}
	return " FOR NO KEY UPDATE"
}

// SessionBySecret is the per-request lookup: one indexed read of one session row,
// which carries copies of its user's status and the tenant's idle timeout (kept exact
// by migration 0013's triggers). On SQLite it also joins the tenant's row by primary
// key for the policy version; on PostgreSQL it does not (a join costs more there than
// the rest of the query; the access engine's change listener vouches for the policy
// without a round trip, see authn.SessionRecord). It does not read back the tenant
// and secret hash it is looked up by (they are its key).
func (s *Store) SessionBySecret(ctx context.Context, tenant uuid.UUID, secretHash [32]byte) (authn.SessionRecord, error) {
	var rec authn.SessionRecord
	var factors, ip string
	x := &rec.Session
	dest := []any{&x.ID, &x.User, &x.Kind, timeCol{&x.CreatedAt}, timeCol{&x.AuthAt}, timeCol{&x.LastSeen}, timeCol{&x.ExpiresAt},
		&factors, &x.Restricted, &ip, &x.UserAgent, &x.LastURL,
		&x.Workplace.Status, nullTimeCol{&x.Workplace.StatusSince}, &x.Workplace.Queue, &x.Workplace.CallID,
		privilegeCol{&x.Privilege}, &x.PrivilegeVersion, &rec.UserStatus, durationCol{&rec.IdleTimeout}, &rec.PolicyVersion}
	q := sessionBySecretPostgres
	if s.d == SQLite {
		q = sessionBySecretSQLite
	} else {
		dest = dest[:len(dest)-1]
	}
	if err := s.db.QueryRowContext(ctx, q, tenant, secretHash[:]).Scan(dest...); err != nil {
		return authn.SessionRecord{}, wrapRead("session", err)
	}
	finishSession(x, factors, ip)
	x.Tenant, x.SecretHash = tenant, secretHash
	return rec, nil
}

const sessionLookupColumns = "s.id, s.user_id, s.kind, s.created_at, s.auth_at, s.last_seen, s.expires_at, s.factors, " +
	"s.restricted, s.ip, s.user_agent, s.last_url, s.wp_status, s.wp_since, s.wp_queue, s.wp_call, s.privilege, s.privilege_version, s.user_status, s.idle_us"

// The per-request lookup queries, one per dialect, built once.
const (
	sessionBySecretPostgres = "SELECT " + sessionLookupColumns + " FROM cs_sessions s WHERE s.tenant_id = $1 AND s.secret_hash = $2"
	sessionBySecretSQLite   = "SELECT " + sessionLookupColumns + ", t.policy_version FROM cs_sessions s " +
		"JOIN cs_tenants t ON t.id = s.tenant_id WHERE s.tenant_id = $1 AND s.secret_hash = $2"
)

// Session returns a session by ID.
func (s *Store) Session(ctx context.Context, tenant, id uuid.UUID) (authn.Session, error) {
	x, err := scanSession(s.db.QueryRowContext(ctx, "SELECT "+sessionColumns+" FROM cs_sessions s WHERE s.tenant_id = $1 AND s.id = $2", tenant, id))
	if err != nil {
		return authn.Session{}, wrapRead("session", err)
	}
	return x, nil
}

// Sessions returns the tenant's sessions (of one user unless user is uuid.Nil), newest
// first; an unknown tenant is storage.ErrNotFound.
func (s *Store) Sessions(ctx context.Context, tenant, user uuid.UUID) ([]authn.Session, error) {
	var out []authn.Session
	err := s.inTx(ctx, s.d.snapshotTx(), func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, qTenantExists, tenant); err != nil {
			return err
		}
		q := "SELECT " + sessionColumns + " FROM cs_sessions s WHERE s.tenant_id = $1"
		args := []any{tenant}
		if user != uuid.Nil {
			q += " AND s.user_id = $2"
			args = append(args, user)
		}
		var err error
		out, err = collect(ctx, tx, func(r *sql.Rows) (authn.Session, error) { return scanSession(r) },
			q+" ORDER BY s.created_at DESC, s.id DESC", args...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: sessions: %w", translate(err))
	}
	return out, nil
}

// TouchSession records a request on the session if its LastSeen is before `before`:
// one conditional UPDATE.
func (s *Store) TouchSession(ctx context.Context, tenant, id uuid.UUID, seen, before time.Time, t authn.SessionTouch) (bool, error) {
	res, err := s.execWrite(ctx, "UPDATE cs_sessions SET last_seen = $3, ip = $4, user_agent = $5, last_url = $6 "+
		"WHERE tenant_id = $1 AND id = $2 AND last_seen < $7",
		tenant, id, s.d.timeArg(seen), t.IP, t.UserAgent, t.URL, s.d.timeArg(before))
	if err != nil {
		return false, fmt.Errorf("sqlstore: touch session: %w", translate(err))
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// execWrite runs one write statement outside a transaction, in turn with the other
// writers on SQLite (see Store.writer).
func (s *Store) execWrite(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s.writer != nil {
		select {
		case s.writer <- struct{}{}:
			defer func() { <-s.writer }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.db.ExecContext(ctx, query, args...)
}

// RotateSession replaces the session's secret hash, conditional on the old one.
func (s *Store) RotateSession(ctx context.Context, tenant, id uuid.UUID, oldHash, newHash [32]byte, r authn.SessionRotation, ev audit.Event) error {
	return s.sessionTx(ctx, "rotate session", tenant, []audit.Event{ev}, func(tx *sql.Tx) ([]audit.Event, error) {
		res, err := tx.ExecContext(ctx, "UPDATE cs_sessions SET secret_hash = $4, auth_at = $5, factors = $6, restricted = $7, "+
			"privilege = $8, privilege_version = $9 WHERE tenant_id = $1 AND id = $2 AND secret_hash = $3", tenant, id, oldHash[:],
			newHash[:], s.d.timeArg(r.AuthAt), factorsText(r.Factors), r.Restricted, int64(r.Privilege), r.PrivilegeVersion)
		if err != nil {
			return nil, err
		}
		if err := affected(res, storage.ErrStale); err != nil {
			if err := mustExist(ctx, tx, "SELECT 1 FROM cs_sessions WHERE tenant_id = $1 AND id = $2", tenant, id); err != nil {
				return nil, err
			}
			return nil, err
		}
		return []audit.Event{ev}, nil
	})
}

// SetSessionAuth sets the session's AuthAt.
func (s *Store) SetSessionAuth(ctx context.Context, tenant, id uuid.UUID, authAt time.Time, ev audit.Event) error {
	return s.sessionTx(ctx, "set session auth", tenant, []audit.Event{ev}, func(tx *sql.Tx) ([]audit.Event, error) {
		res, err := tx.ExecContext(ctx, "UPDATE cs_sessions SET auth_at = $3 WHERE tenant_id = $1 AND id = $2", tenant, id, s.d.timeArg(authAt))
		if err != nil {
			return nil, err
		}
		return []audit.Event{ev}, affected(res, storage.ErrNotFound)
	})
}

// UpdateWorkplace sets a workplace session's state: one UPDATE, no event.
func (s *Store) UpdateWorkplace(ctx context.Context, tenant, id uuid.UUID, w authn.WorkplaceState) error {
	res, err := s.execWrite(ctx, "UPDATE cs_sessions SET wp_status = $3, wp_since = $4, wp_queue = $5, wp_call = $6 "+
		"WHERE tenant_id = $1 AND id = $2 AND kind = 'workplace'", tenant, id, w.Status, s.d.nullTimeArg(w.StatusSince), w.Queue, w.CallID)
	if err == nil {
		err = affected(res, storage.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: update workplace: %w", translate(err))
	}
	return nil
}

// EndSessions deletes the selected sessions and appends ev.
func (s *Store) EndSessions(ctx context.Context, tenant uuid.UUID, sel authn.SessionSelector, ev audit.Event) (int, error) {
	set := 0
	q := "DELETE FROM cs_sessions WHERE tenant_id = $1 AND id <> $2"
	args := []any{tenant, sel.Except}
	if sel.ID != uuid.Nil {
		set++
		q += " AND id = $3"
		args = append(args, sel.ID)
	}
	if sel.User != uuid.Nil {
		set++
		q += " AND user_id = $3"
		args = append(args, sel.User)
	}
	if sel.All {
		set++
	}
	if set != 1 {
		return 0, errors.New("sqlstore: session selector must set exactly one of ID, User and All")
	}
	var n int64
	err := s.sessionTx(ctx, "end sessions", tenant, []audit.Event{ev}, func(tx *sql.Tx) ([]audit.Event, error) {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		n, err = res.RowsAffected()
		return []audit.Event{ev}, err
	})
	return int(n), err
}

// ExpiredSessions returns sessions of any tenant whose deadline is not after now.
func (s *Store) ExpiredSessions(ctx context.Context, now time.Time, limit int) ([]authn.SessionRef, error) {
	if limit <= 0 {
		return nil, nil
	}
	refs, err := collect(ctx, s.db, func(r *sql.Rows) (authn.SessionRef, error) {
		var ref authn.SessionRef
		return ref, r.Scan(&ref.Tenant, &ref.Session, &ref.User)
	}, "SELECT tenant_id, id, user_id FROM cs_sessions WHERE expires_at <= $1 ORDER BY expires_at, id LIMIT $2", s.d.timeArg(now), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: expired sessions: %w", err)
	}
	return refs, nil
}

// CreatePending stores a pending sign-in and appends ev.
func (s *Store) CreatePending(ctx context.Context, p authn.PendingSignIn, ev audit.Event) error {
	return s.sessionTx(ctx, "create pending sign-in", p.Tenant, []audit.Event{ev}, func(tx *sql.Tx) ([]audit.Event, error) {
		_, err := tx.ExecContext(ctx, "INSERT INTO cs_pending_signins (tenant_id, id, user_id, factor, kind, ip, user_agent, "+
			"secret_hash, created_at, expires_at, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
			p.Tenant, p.ID, p.User, string(p.Factor), string(p.Kind), addrText(p.IP), p.UserAgent, p.SecretHash[:],
			s.d.timeArg(p.CreatedAt), s.d.timeArg(p.ExpiresAt), p.Attempts)
		return []audit.Event{ev}, err
	})
}

// PendingBySecret returns the pending sign-in with this secret hash.
func (s *Store) PendingBySecret(ctx context.Context, tenant uuid.UUID, secretHash [32]byte) (authn.PendingSignIn, error) {
	var p authn.PendingSignIn
	var ip string
	err := s.db.QueryRowContext(ctx, "SELECT tenant_id, id, user_id, factor, kind, ip, user_agent, secret_hash, created_at, "+
		"expires_at, attempts FROM cs_pending_signins WHERE tenant_id = $1 AND secret_hash = $2", tenant, secretHash[:]).
		Scan(&p.Tenant, &p.ID, &p.User, &p.Factor, &p.Kind, &ip, &p.UserAgent, hashScan{&p.SecretHash}, timeCol{&p.CreatedAt},
			timeCol{&p.ExpiresAt}, &p.Attempts)
	if err != nil {
		return authn.PendingSignIn{}, wrapRead("pending sign-in", err)
	}
	p.IP = addrOf(ip)
	return p, nil
}

// FailPending counts a failed attempt of an open pending sign-in: one conditional
// UPDATE ... RETURNING.
func (s *Store) FailPending(ctx context.Context, tenant uuid.UUID, secretHash [32]byte, now time.Time, ev audit.Event) (int, error) {
	var n int
	err := s.sessionTx(ctx, "fail pending sign-in", tenant, []audit.Event{ev}, func(tx *sql.Tx) ([]audit.Event, error) {
		err := tx.QueryRowContext(ctx, "UPDATE cs_pending_signins SET attempts = attempts + 1 WHERE tenant_id = $1 AND "+
			"secret_hash = $2 AND expires_at > $3 AND attempts < $4 RETURNING attempts",
			tenant, secretHash[:], s.d.timeArg(now), authn.MaxPendingAttempts).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, authn.ErrPendingInvalid
		}
		return []audit.Event{ev}, err
	})
	return n, err
}

// DeleteExpiredPending removes pending sign-ins whose ExpiresAt is not after now.
func (s *Store) DeleteExpiredPending(ctx context.Context, now time.Time) (int, error) {
	res, err := s.execWrite(ctx, "DELETE FROM cs_pending_signins WHERE expires_at <= $1", s.d.timeArg(now))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired pending sign-ins: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
