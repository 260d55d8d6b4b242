package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// The authn.TwoFactorStore methods, over the tables of migration 0007 (cs_two_factor,
// cs_recovery_codes, cs_two_factor_enrolments).
//
// The single-use rules are each one conditional statement, which settles races between
// transactions and between app instances on one database alike:
//   - a time step: UPDATE cs_two_factor SET last_step = $step WHERE … AND last_step <
//     $step; whoever changes the row wins, every other call finds no row;
//   - a recovery code: DELETE FROM cs_recovery_codes WHERE … AND code_hash = $hash;
//   - confirming an enrolment: DELETE FROM cs_two_factor_enrolments WHERE … AND
//     sealed_secret = $pending AND expires_at > $now, the first statement of the
//     transaction that then inserts the factor and its codes.
//
// Mutations other than UseTOTPStep run as authnTx units of work (the tenant's row lock,
// the statement, the audit event). UseTOTPStep is the one statement alone: it has no
// event of its own (the sign-in's login-log event records the factor) and takes no
// tenant lock, so sign-ins do not queue behind the tenant's administration.
//
// A trigger of 0007 erases a user's second-factor rows when the user becomes a
// tombstone, so DeleteUser (authn.go) needs no change of its own.

// errRecoveryHash reports a recovery-code hash that is not a SHA-256.
var errRecoveryHash = errors.New("sqlstore: recovery code hash is not 32 bytes")

// checkRecoveryHashes refuses hashes that are not 32 bytes before any work is done.
func checkRecoveryHashes(hashes [][]byte) error {
	for _, h := range hashes {
		if len(h) != 32 {
			return errRecoveryHash
		}
	}
	return nil
}

// liveUserTx checks, inside tx, that the user exists and is not deleted.
func liveUserTx(ctx context.Context, tx *sql.Tx, tenant, user uuid.UUID) error {
	st, err := userStatus(ctx, tx, tenant, user)
	if err != nil {
		return err
	}
	if st == authn.StatusDeleted {
		return authn.ErrUserDeleted
	}
	return nil
}

// SetTwoFactorEnrolment stores the user's pending enrolment, replacing an earlier one.
func (s *Store) SetTwoFactorEnrolment(ctx context.Context, e authn.TwoFactorEnrolment, ev audit.Event) error {
	return s.authnTx(ctx, "set two-factor enrolment", e.Tenant, ev, false, nil, func(tx *sql.Tx) error {
		if err := liveUserTx(ctx, tx, e.Tenant, e.User); err != nil {
			return err
		}
		on, err := exists(ctx, tx, "SELECT 1 FROM cs_two_factor WHERE tenant_id = $1 AND user_id = $2", e.Tenant, e.User)
		if err != nil {
			return err
		}
		if on {
			return fmt.Errorf("two-factor is on: %w", storage.ErrConflict)
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO cs_two_factor_enrolments (tenant_id, user_id, sealed_secret, created_at, expires_at) "+
				"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, user_id) DO UPDATE SET "+
				"sealed_secret = excluded.sealed_secret, created_at = excluded.created_at, expires_at = excluded.expires_at",
			e.Tenant, e.User, e.Sealed, s.d.timeArg(e.CreatedAt), s.d.timeArg(e.ExpiresAt))
		return err
	})
}

// TwoFactorEnrolment returns the user's pending enrolment, or storage.ErrNotFound.
func (s *Store) TwoFactorEnrolment(ctx context.Context, tenant, user uuid.UUID) (authn.TwoFactorEnrolment, error) {
	e := authn.TwoFactorEnrolment{Tenant: tenant, User: user}
	err := s.db.QueryRowContext(ctx,
		"SELECT sealed_secret, created_at, expires_at FROM cs_two_factor_enrolments WHERE tenant_id = $1 AND user_id = $2",
		tenant, user).Scan(&e.Sealed, timeCol{&e.CreatedAt}, timeCol{&e.ExpiresAt})
	if err != nil {
		return authn.TwoFactorEnrolment{}, wrapRead("two-factor enrolment", err)
	}
	return e, nil
}

// EnableTwoFactor turns the pending enrolment whose sealed secret is pending, open at
// f.EnabledAt, into the active factor f with its recovery codes.
func (s *Store) EnableTwoFactor(ctx context.Context, f authn.TwoFactor, pending []byte, recovery [][]byte, ev audit.Event) error {
	if err := checkRecoveryHashes(recovery); err != nil {
		return err
	}
	return s.authnTx(ctx, "enable two-factor", f.Tenant, ev, false, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"DELETE FROM cs_two_factor_enrolments WHERE tenant_id = $1 AND user_id = $2 AND sealed_secret = $3 AND expires_at > $4",
			f.Tenant, f.User, pending, s.d.timeArg(f.EnabledAt))
		if err != nil {
			return err
		}
		if err := affected(res, storage.ErrNotFound); err != nil {
			return err
		}
		if err := liveUserTx(ctx, tx, f.Tenant, f.User); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO cs_two_factor (tenant_id, user_id, sealed_secret, last_step, enabled_at) VALUES ($1, $2, $3, $4, $5)",
			f.Tenant, f.User, f.Sealed, f.LastStep, s.d.timeArg(f.EnabledAt)); err != nil {
			return err
		}
		return s.insertRecoveryCodes(ctx, tx, f.Tenant, f.User, recovery)
	})
}

// insertRecoveryCodes inserts the user's recovery-code hashes.
func (s *Store) insertRecoveryCodes(ctx context.Context, tx *sql.Tx, tenant, user uuid.UUID, hashes [][]byte) error {
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO cs_recovery_codes (tenant_id, user_id, code_hash) VALUES ($1, $2, $3)",
			tenant, user, h); err != nil {
			return err
		}
	}
	return nil
}

// TwoFactor returns the user's active factor, or storage.ErrNotFound.
func (s *Store) TwoFactor(ctx context.Context, tenant, user uuid.UUID) (authn.TwoFactor, error) {
	f := authn.TwoFactor{Tenant: tenant, User: user}
	err := s.db.QueryRowContext(ctx,
		"SELECT sealed_secret, last_step, enabled_at FROM cs_two_factor WHERE tenant_id = $1 AND user_id = $2",
		tenant, user).Scan(&f.Sealed, &f.LastStep, timeCol{&f.EnabledAt})
	if err != nil {
		return authn.TwoFactor{}, wrapRead("two-factor", err)
	}
	return f, nil
}

// UseTOTPStep records step if it is after the user's last used step, in one
// conditional UPDATE.
func (s *Store) UseTOTPStep(ctx context.Context, tenant, user uuid.UUID, step int64) (bool, error) {
	var used bool
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_two_factor SET last_step = $3 WHERE tenant_id = $1 AND user_id = $2 AND last_step < $3",
			tenant, user, step)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			used = err == nil
			return err
		}
		// No row changed: an older step, or no factor at all.
		return mustExist(ctx, tx, "SELECT 1 FROM cs_two_factor WHERE tenant_id = $1 AND user_id = $2", tenant, user)
	})
	if err != nil {
		return false, fmt.Errorf("sqlstore: use TOTP step: %w", translate(err))
	}
	return used, nil
}

// RecoveryCodeHashes returns the hashes of the user's unused recovery codes.
func (s *Store) RecoveryCodeHashes(ctx context.Context, tenant, user uuid.UUID) ([][]byte, error) {
	hs, err := collect(ctx, s.db, func(r *sql.Rows) ([]byte, error) {
		var h []byte
		return h, r.Scan(&h)
	}, "SELECT code_hash FROM cs_recovery_codes WHERE tenant_id = $1 AND user_id = $2", tenant, user)
	if err != nil {
		return nil, wrapRead("recovery codes", err)
	}
	return hs, nil
}

// errNoRecoveryCode rolls UseRecoveryCode's transaction back (no event) when the hash
// is not there.
var errNoRecoveryCode = errors.New("sqlstore: recovery code not found")

// UseRecoveryCode deletes the recovery code with this hash if it is still unused, in one
// conditional DELETE.
func (s *Store) UseRecoveryCode(ctx context.Context, tenant, user uuid.UUID, hash []byte, ev audit.Event) (int, bool, error) {
	if len(hash) != 32 {
		return 0, false, nil
	}
	var remaining int
	err := s.authnTx(ctx, "use recovery code", tenant, ev, false, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"DELETE FROM cs_recovery_codes WHERE tenant_id = $1 AND user_id = $2 AND code_hash = $3",
			tenant, user, hash)
		if err != nil {
			return err
		}
		if affected(res, errNoRecoveryCode) != nil {
			return errNoRecoveryCode
		}
		return tx.QueryRowContext(ctx, "SELECT count(*) FROM cs_recovery_codes WHERE tenant_id = $1 AND user_id = $2",
			tenant, user).Scan(&remaining)
	})
	if errors.Is(err, errNoRecoveryCode) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return remaining, true, nil
}

// ReplaceRecoveryCodes voids the user's recovery codes and stores hashes instead.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, tenant, user uuid.UUID, hashes [][]byte, ev audit.Event) error {
	if err := checkRecoveryHashes(hashes); err != nil {
		return err
	}
	return s.authnTx(ctx, "replace recovery codes", tenant, ev, false, nil, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, "SELECT 1 FROM cs_two_factor WHERE tenant_id = $1 AND user_id = $2", tenant, user); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM cs_recovery_codes WHERE tenant_id = $1 AND user_id = $2", tenant, user); err != nil {
			return err
		}
		return s.insertRecoveryCodes(ctx, tx, tenant, user, hashes)
	})
}

// DisableTwoFactor deletes the user's factor (its recovery codes by cascade) and pending
// enrolment.
func (s *Store) DisableTwoFactor(ctx context.Context, tenant, user uuid.UUID, ev audit.Event) error {
	return s.authnTx(ctx, "disable two-factor", tenant, ev, false, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM cs_recovery_codes WHERE tenant_id = $1 AND user_id = $2", tenant, user); err != nil {
			return err
		}
		var n int64
		for _, table := range []string{"cs_two_factor", "cs_two_factor_enrolments"} {
			res, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE tenant_id = $1 AND user_id = $2", tenant, user)
			if err != nil {
				return err
			}
			c, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += c
		}
		if n == 0 {
			return storage.ErrNotFound
		}
		return nil
	})
}

// TwoFactorUsers returns the tenant's users with an active factor.
func (s *Store) TwoFactorUsers(ctx context.Context, tenant uuid.UUID) ([]uuid.UUID, error) {
	ids, err := collect(ctx, s.db, func(r *sql.Rows) (uuid.UUID, error) {
		var id uuid.UUID
		return id, r.Scan(&id)
	}, "SELECT user_id FROM cs_two_factor WHERE tenant_id = $1", tenant)
	if err != nil {
		return nil, wrapRead("two-factor users", err)
	}
	return ids, nil
}

// SealedTwoFactors returns up to limit active factors of every tenant after the one
// named by after, in primary-key order. uuid is compared as bytes by PostgreSQL and
// stored as lower-case canonical text in SQLite, whose order is the bytes' too.
func (s *Store) SealedTwoFactors(ctx context.Context, after authn.UserRef, limit int) ([]authn.TwoFactor, error) {
	if limit <= 0 {
		return nil, nil
	}
	fs, err := collect(ctx, s.db, func(r *sql.Rows) (authn.TwoFactor, error) {
		var f authn.TwoFactor
		return f, r.Scan(&f.Tenant, &f.User, &f.Sealed, &f.LastStep, timeCol{&f.EnabledAt})
	}, "SELECT tenant_id, user_id, sealed_secret, last_step, enabled_at FROM cs_two_factor "+
		"WHERE (tenant_id, user_id) > ($1, $2) ORDER BY tenant_id, user_id LIMIT $3",
		after.Tenant, after.User, min(limit, authn.SealedPageMax))
	if err != nil {
		return nil, wrapRead("sealed two-factors", err)
	}
	return fs, nil
}

// ReplaceTwoFactorSecret replaces the user's sealed secret by sealed if the stored one
// is still old, in one conditional UPDATE.
func (s *Store) ReplaceTwoFactorSecret(ctx context.Context, tenant, user uuid.UUID, old, sealed []byte) error {
	if len(sealed) == 0 {
		return errors.New("sqlstore: replace two-factor secret: no sealed secret")
	}
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_two_factor SET sealed_secret = $4 WHERE tenant_id = $1 AND user_id = $2 AND sealed_secret = $3",
			tenant, user, old, sealed)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return staleOrNotFound(ctx, tx, "SELECT 1 FROM cs_two_factor WHERE tenant_id = $1 AND user_id = $2", tenant, user)
	})
	if err != nil {
		return fmt.Errorf("sqlstore: replace two-factor secret: %w", translate(err))
	}
	return nil
}
