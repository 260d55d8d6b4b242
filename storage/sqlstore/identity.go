package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// The authn.IdentityStore methods, over the tables of migration 0009
// (cs_identity_flows, cs_identities).
//
// Flows are consumed with one DELETE ... RETURNING conditional on the expiry: of
// racing consumptions (on one instance or many) only the one whose DELETE removes the
// row gets the flow. Identity mutations are authn units of work (authnTx: the tenant's
// row locked first, the audit event appended last), so the checks CreateIdentity and
// DeleteIdentity make (who holds an (issuer, subject), how many ways to sign in a user
// keeps) still hold at commit; the unique key (tenant_id, issuer, subject) backs the
// first one. The choices the contract leaves open are those of storage/memory.

const identityColumns = "tenant_id, id, user_id, provider, issuer, subject, email, status, confirm_hash, " +
	"confirm_expires_at, token_sealed, created_at, confirmed_at"

func scanIdentity(r scanner) (authn.Identity, error) {
	var id authn.Identity
	var confirm, sealed []byte
	err := r.Scan(&id.Tenant, &id.ID, &id.User, &id.Provider, &id.Issuer, &id.Subject, &id.Email, &id.Status,
		&confirm, nullTimeCol{&id.ConfirmExpiresAt}, &sealed, timeCol{&id.CreatedAt}, nullTimeCol{&id.ConfirmedAt})
	if err != nil {
		return id, err
	}
	switch len(confirm) {
	case 0:
	case 32:
		copy(id.ConfirmHash[:], confirm)
	default:
		return id, fmt.Errorf("%w: identity %s: confirmation hash of %d bytes", ErrCorrupt, id.ID, len(confirm))
	}
	if len(sealed) > 0 {
		id.SealedToken = append([]byte(nil), sealed...)
	}
	return id, nil
}

func scanIdentities(rows *sql.Rows) (authn.Identity, error) { return scanIdentity(rows) }

// CreateIdentityFlow stores f and removes the tenant's flows that expired before
// f.CreatedAt, in one transaction; it appends no audit event. An unknown tenant is
// storage.ErrNotFound, a token hash already stored storage.ErrConflict.
func (s *Store) CreateIdentityFlow(ctx context.Context, f authn.IdentityFlow) error {
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM cs_identity_flows WHERE tenant_id = $1 AND expires_at < $2",
			f.Tenant, s.d.timeArg(f.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			"INSERT INTO cs_identity_flows (tenant_id, token_hash, purpose, provider, user_id, session_id, created_at, expires_at) "+
				"VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			f.Tenant, f.TokenHash[:], string(f.Purpose), f.Provider, nullUUID(f.User), nullUUID(f.Session),
			s.d.timeArg(f.CreatedAt), s.d.timeArg(f.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: create identity flow: %w", translate(err))
	}
	return nil
}

// DeleteExpiredIdentityFlows deletes the flows of every tenant whose expires_at is not
// after now and returns how many. The table holds short-lived rows only (bounded per
// address by authn), so the scan across tenants stays small.
func (s *Store) DeleteExpiredIdentityFlows(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, "DELETE FROM cs_identity_flows WHERE expires_at <= $1", s.d.timeArg(now))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired identity flows: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired identity flows: %w", err)
	}
	return int(n), nil
}

// ConsumeIdentityFlow deletes and returns the tenant's flow with this token hash if it
// expires after now, in one DELETE ... RETURNING; otherwise authn.ErrFlowInvalid.
func (s *Store) ConsumeIdentityFlow(ctx context.Context, tenant uuid.UUID, tokenHash [32]byte, now time.Time) (authn.IdentityFlow, error) {
	var f authn.IdentityFlow
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		var hash []byte
		err := tx.QueryRowContext(ctx,
			"DELETE FROM cs_identity_flows WHERE tenant_id = $1 AND token_hash = $2 AND expires_at > $3 "+
				"RETURNING tenant_id, token_hash, purpose, provider, user_id, session_id, created_at, expires_at",
			tenant, tokenHash[:], s.d.timeArg(now)).Scan(&f.Tenant, &hash, &f.Purpose, &f.Provider,
			nullUUIDCol{&f.User}, nullUUIDCol{&f.Session}, timeCol{&f.CreatedAt}, timeCol{&f.ExpiresAt})
		if errors.Is(err, sql.ErrNoRows) {
			return authn.ErrFlowInvalid
		}
		if err == nil && len(hash) != 32 {
			return fmt.Errorf("%w: identity flow token hash of %d bytes", ErrCorrupt, len(hash))
		}
		copy(f.TokenHash[:], hash)
		return err
	})
	if err != nil {
		return authn.IdentityFlow{}, fmt.Errorf("sqlstore: consume identity flow: %w", err)
	}
	return f, nil
}

// CreateIdentity stores the pending identity id of an existing user who is not
// deleted, replacing a pending identity of the same (issuer, subject) that is the same
// user's or whose confirmation expired at now; any other of that (issuer, subject) is
// storage.ErrConflict (the unique key settles a race the tenant lock would not).
func (s *Store) CreateIdentity(ctx context.Context, id authn.Identity, now time.Time, ev audit.Event) error {
	if id.Status != authn.IdentityPending || id.ConfirmHash == [32]byte{} || id.Issuer == "" || id.Subject == "" {
		return fmt.Errorf("sqlstore: create identity: must be pending with a confirmation hash, issuer and subject: %w", storage.ErrConflict)
	}
	return s.authnTx(ctx, "create identity", id.Tenant, ev, false, nil, func(tx *sql.Tx) error {
		st, err := userStatus(ctx, tx, id.Tenant, id.User)
		switch {
		case err != nil:
			return err
		case st == authn.StatusDeleted:
			return authn.ErrUserDeleted
		}
		if _, err := tx.ExecContext(ctx,
			"DELETE FROM cs_identities WHERE tenant_id = $1 AND issuer = $2 AND subject = $3 AND status = 'pending' "+
				"AND (user_id = $4 OR confirm_expires_at <= $5)",
			id.Tenant, id.Issuer, id.Subject, id.User, s.d.timeArg(now)); err != nil {
			return err
		}
		var sealed any
		if len(id.SealedToken) > 0 {
			sealed = id.SealedToken
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO cs_identities ("+identityColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11, NULL)",
			id.Tenant, id.ID, id.User, id.Provider, id.Issuer, id.Subject, id.Email, id.ConfirmHash[:],
			s.d.timeArg(id.ConfirmExpiresAt), sealed, s.d.timeArg(id.CreatedAt))
		return err
	})
}

// IdentityByConfirmation returns the tenant's pending identity with this confirmation
// hash, or storage.ErrNotFound.
func (s *Store) IdentityByConfirmation(ctx context.Context, tenant uuid.UUID, confirmHash [32]byte) (authn.Identity, error) {
	id, err := scanIdentity(s.db.QueryRowContext(ctx,
		"SELECT "+identityColumns+" FROM cs_identities WHERE tenant_id = $1 AND confirm_hash = $2", tenant, confirmHash[:]))
	if err != nil {
		return authn.Identity{}, wrapRead("identity by confirmation", err)
	}
	return id, nil
}

// ConfirmIdentity activates the pending identity with this confirmation hash in one
// conditional UPDATE (confirmation not expired at now, user not deleted), or returns
// authn.ErrTicketInvalid having changed nothing.
func (s *Store) ConfirmIdentity(ctx context.Context, tenant uuid.UUID, confirmHash [32]byte, now time.Time, ev audit.Event) (authn.Identity, error) {
	var id authn.Identity
	err := s.authnTx(ctx, "confirm identity", tenant, ev, false, authn.ErrTicketInvalid, func(tx *sql.Tx) error {
		var err error
		id, err = scanIdentity(tx.QueryRowContext(ctx,
			"UPDATE cs_identities SET status = 'active', confirmed_at = $3, confirm_hash = NULL, confirm_expires_at = NULL "+
				"WHERE tenant_id = $1 AND confirm_hash = $2 AND status = 'pending' AND confirm_expires_at > $3 "+
				"AND EXISTS (SELECT 1 FROM cs_users u WHERE u.tenant_id = cs_identities.tenant_id "+
				"AND u.id = cs_identities.user_id AND u.status <> 'deleted') RETURNING "+identityColumns,
			tenant, confirmHash[:], s.d.timeArg(now)))
		if errors.Is(err, sql.ErrNoRows) {
			return authn.ErrTicketInvalid
		}
		return err
	})
	if err != nil {
		return authn.Identity{}, err
	}
	return id, nil
}

// Identity returns one identity of the tenant, or storage.ErrNotFound.
func (s *Store) Identity(ctx context.Context, tenant, id uuid.UUID) (authn.Identity, error) {
	out, err := scanIdentity(s.db.QueryRowContext(ctx,
		"SELECT "+identityColumns+" FROM cs_identities WHERE tenant_id = $1 AND id = $2", tenant, id))
	if err != nil {
		return authn.Identity{}, wrapRead("identity", err)
	}
	return out, nil
}

// IdentityBySubject returns the tenant's identity with this issuer and subject
// (compared byte-wise), or storage.ErrNotFound.
func (s *Store) IdentityBySubject(ctx context.Context, tenant uuid.UUID, issuer, subject string) (authn.Identity, error) {
	out, err := scanIdentity(s.db.QueryRowContext(ctx,
		"SELECT "+identityColumns+" FROM cs_identities WHERE tenant_id = $1 AND issuer = $2 AND subject = $3",
		tenant, issuer, subject))
	if err != nil {
		return authn.Identity{}, wrapRead("identity by subject", err)
	}
	return out, nil
}

// Identities returns the user's identities, oldest first, then by ID; an unknown
// tenant is storage.ErrNotFound.
func (s *Store) Identities(ctx context.Context, tenant, user uuid.UUID) ([]authn.Identity, error) {
	ids, err := collect(ctx, s.db, scanIdentities,
		"SELECT "+identityColumns+" FROM cs_identities WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id",
		tenant, user)
	if err == nil {
		ids, err = notFoundIfEmpty(ctx, s.db, ids, qTenantExists, tenant)
	}
	if err != nil {
		return nil, wrapRead("identities", err)
	}
	if ids == nil {
		ids = []authn.Identity{}
	}
	return ids, nil
}

// SetIdentityToken replaces the sealed token of the user's active identity id, in one
// conditional UPDATE.
func (s *Store) SetIdentityToken(ctx context.Context, tenant, user, id uuid.UUID, sealed []byte, ev audit.Event) error {
	var arg any
	if len(sealed) > 0 {
		arg = sealed
	}
	return s.authnTx(ctx, "set identity token", tenant, ev, false, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_identities SET token_sealed = $4 WHERE tenant_id = $1 AND id = $2 AND user_id = $3 AND status = 'active'",
			tenant, id, user, arg)
		if err != nil {
			return err
		}
		return affected(res, storage.ErrNotFound)
	})
}

// DeleteIdentity removes the user's identity id; with keepSignIn, not the user's last
// way to sign in (authn.ErrLastSignInMethod), counted under the tenant lock.
func (s *Store) DeleteIdentity(ctx context.Context, tenant, user, id uuid.UUID, keepSignIn bool, ev audit.Event) error {
	return s.authnTx(ctx, "delete identity", tenant, ev, false, nil, func(tx *sql.Tx) error {
		var status authn.IdentityStatus
		err := tx.QueryRowContext(ctx, "SELECT status FROM cs_identities WHERE tenant_id = $1 AND id = $2 AND user_id = $3",
			tenant, id, user).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		if keepSignIn && status == authn.IdentityActive {
			var ways int
			if err := tx.QueryRowContext(ctx,
				"SELECT (SELECT count(*) FROM cs_users WHERE tenant_id = $1 AND id = $2 AND password_hash <> '') + "+
					"(SELECT count(*) FROM cs_identities WHERE tenant_id = $1 AND user_id = $2 AND id <> $3 AND status = 'active')",
				tenant, user, id).Scan(&ways); err != nil {
				return err
			}
			if ways == 0 {
				return authn.ErrLastSignInMethod
			}
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM cs_identities WHERE tenant_id = $1 AND id = $2", tenant, id)
		return err
	})
}

// SealedIdentityTokens returns up to limit identities of every tenant that hold a
// sealed token, after the one named by after, in primary-key order (uuid order is the
// bytes' in both dialects, as in SealedTwoFactors).
func (s *Store) SealedIdentityTokens(ctx context.Context, after authn.IdentityRef, limit int) ([]authn.Identity, error) {
	if limit <= 0 {
		return nil, nil
	}
	ids, err := collect(ctx, s.db, scanIdentities,
		"SELECT "+identityColumns+" FROM cs_identities WHERE (tenant_id, id) > ($1, $2) AND token_sealed IS NOT NULL "+
			"ORDER BY tenant_id, id LIMIT $3",
		after.Tenant, after.ID, min(limit, authn.SealedPageMax))
	if err != nil {
		return nil, wrapRead("sealed identity tokens", err)
	}
	return ids, nil
}

// ReplaceIdentityToken replaces the identity's sealed token by sealed if the stored one
// is still old, in one conditional UPDATE.
func (s *Store) ReplaceIdentityToken(ctx context.Context, tenant, id uuid.UUID, old, sealed []byte) error {
	if len(sealed) == 0 {
		return errors.New("sqlstore: replace identity token: no sealed token")
	}
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE cs_identities SET token_sealed = $4 WHERE tenant_id = $1 AND id = $2 AND token_sealed = $3",
			tenant, id, old, sealed)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return staleOrNotFound(ctx, tx, "SELECT 1 FROM cs_identities WHERE tenant_id = $1 AND id = $2", tenant, id)
	})
	if err != nil {
		return fmt.Errorf("sqlstore: replace identity token: %w", translate(err))
	}
	return nil
}
