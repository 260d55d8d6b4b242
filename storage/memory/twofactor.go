package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// The authn.TwoFactorStore methods. Their state lives in twoFactorState, under the
// store's one lock like everything else, so each method is one atomic unit of work and
// the single-use rules (a step after the last one, a recovery code still there, the
// enrolment still pending) are checked and applied under the same lock: of concurrent
// calls, one succeeds.

// twoFactorKey names a user of a tenant.
type twoFactorKey struct{ tenant, user uuid.UUID }

// twoFactorState is every tenant's second factors.
type twoFactorState struct {
	active   map[twoFactorKey]authn.TwoFactor
	pending  map[twoFactorKey]authn.TwoFactorEnrolment
	recovery map[twoFactorKey][][]byte
}

// init makes the maps on first use (the zero twoFactorState is empty).
func (st *twoFactorState) init() {
	if st.active == nil {
		st.active = make(map[twoFactorKey]authn.TwoFactor)
		st.pending = make(map[twoFactorKey]authn.TwoFactorEnrolment)
		st.recovery = make(map[twoFactorKey][][]byte)
	}
}

// forget erases every second-factor row of a user (DeleteUser: a tombstone keeps none).
// The caller holds the write lock.
func (st *twoFactorState) forget(tenant, user uuid.UUID) {
	k := twoFactorKey{tenant, user}
	delete(st.active, k)
	delete(st.pending, k)
	delete(st.recovery, k)
}

// liveUser checks that user is a user of the account state who is not deleted.
func liveUser(as *authnState, user uuid.UUID) error {
	u, ok := as.users[user]
	switch {
	case !ok:
		return notFound("user", user)
	case u.Status == authn.StatusDeleted:
		return fmt.Errorf("memory: user %s: %w", user, authn.ErrUserDeleted)
	}
	return nil
}

// checkHashes refuses recovery-code hashes that are not 32 bytes, and returns copies.
func checkHashes(hashes [][]byte) ([][]byte, error) {
	out := make([][]byte, len(hashes))
	for i, h := range hashes {
		if len(h) != 32 {
			return nil, fmt.Errorf("memory: recovery code hash of %d bytes, not 32", len(h))
		}
		out[i] = bytes.Clone(h)
	}
	return out, nil
}

// SetTwoFactorEnrolment stores the user's pending enrolment, replacing an earlier one.
func (s *Store) SetTwoFactorEnrolment(ctx context.Context, e authn.TwoFactorEnrolment, ev audit.Event) error {
	return s.mutateAccounts(ctx, e.Tenant, ev, nil, func(_ *tenantState, as *authnState) (bool, error) {
		if err := liveUser(as, e.User); err != nil {
			return false, err
		}
		s.twoFactor.init()
		k := twoFactorKey{e.Tenant, e.User}
		if _, on := s.twoFactor.active[k]; on {
			return false, fmt.Errorf("memory: user %s has two-factor on: %w", e.User, storage.ErrConflict)
		}
		e.Sealed = bytes.Clone(e.Sealed)
		e.CreatedAt, e.ExpiresAt = utc(e.CreatedAt), utc(e.ExpiresAt)
		s.twoFactor.pending[k] = e
		return false, nil
	})
}

// TwoFactorEnrolment returns the user's pending enrolment, or storage.ErrNotFound.
func (s *Store) TwoFactorEnrolment(ctx context.Context, tenant, user uuid.UUID) (authn.TwoFactorEnrolment, error) {
	var e authn.TwoFactorEnrolment
	err := s.read(ctx, tenant, func(*tenantState) error {
		got, ok := s.twoFactor.pending[twoFactorKey{tenant, user}]
		if !ok {
			return notFound("two-factor enrolment of user", user)
		}
		e = got
		e.Sealed = bytes.Clone(got.Sealed)
		return nil
	})
	return e, err
}

// DeleteExpiredTwoFactorEnrolments removes the pending enrolments of every tenant
// whose ExpiresAt is not after now and returns how many.
func (s *Store) DeleteExpiredTwoFactorEnrolments(ctx context.Context, now time.Time) (int, error) {
	if err := live(ctx); err != nil {
		return 0, err
	}
	now = utc(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, e := range s.twoFactor.pending {
		if !e.ExpiresAt.After(now) {
			delete(s.twoFactor.pending, k)
			n++
		}
	}
	return n, nil
}

// EnableTwoFactor turns the pending enrolment whose sealed secret is pending, open at
// f.EnabledAt, into the active factor f with its recovery codes.
func (s *Store) EnableTwoFactor(ctx context.Context, f authn.TwoFactor, pending []byte, recovery [][]byte, ev audit.Event) error {
	hashes, err := checkHashes(recovery)
	if err != nil {
		return err
	}
	return s.mutateAccounts(ctx, f.Tenant, ev, nil, func(_ *tenantState, as *authnState) (bool, error) {
		if err := liveUser(as, f.User); err != nil {
			return false, err
		}
		s.twoFactor.init()
		k := twoFactorKey{f.Tenant, f.User}
		e, ok := s.twoFactor.pending[k]
		if !ok || !bytes.Equal(e.Sealed, pending) || !e.ExpiresAt.After(utc(f.EnabledAt)) {
			return false, notFound("open two-factor enrolment of user", f.User)
		}
		if _, on := s.twoFactor.active[k]; on { // unreachable: an enrolment is refused then
			return false, fmt.Errorf("memory: user %s has two-factor on: %w", f.User, storage.ErrConflict)
		}
		delete(s.twoFactor.pending, k)
		f.Sealed, f.EnabledAt = bytes.Clone(f.Sealed), utc(f.EnabledAt)
		s.twoFactor.active[k] = f
		s.twoFactor.recovery[k] = hashes
		return false, nil
	})
}

// TwoFactor returns the user's active factor, or storage.ErrNotFound.
func (s *Store) TwoFactor(ctx context.Context, tenant, user uuid.UUID) (authn.TwoFactor, error) {
	var f authn.TwoFactor
	err := s.read(ctx, tenant, func(*tenantState) error {
		got, ok := s.twoFactor.active[twoFactorKey{tenant, user}]
		if !ok {
			return notFound("two-factor of user", user)
		}
		f = got
		f.Sealed = bytes.Clone(got.Sealed)
		return nil
	})
	return f, err
}

// UseTOTPStep records step if it is after the user's last used step.
func (s *Store) UseTOTPStep(ctx context.Context, tenant, user uuid.UUID, step int64) (bool, error) {
	if err := live(ctx); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := twoFactorKey{tenant, user}
	f, ok := s.twoFactor.active[k]
	if !ok {
		return false, notFound("two-factor of user", user)
	}
	if step <= f.LastStep {
		return false, nil
	}
	f.LastStep = step
	s.twoFactor.active[k] = f
	return true, nil
}

// RecoveryCodeHashes returns the hashes of the user's unused recovery codes (none for
// an unknown tenant or user).
func (s *Store) RecoveryCodeHashes(ctx context.Context, tenant, user uuid.UUID) ([][]byte, error) {
	if err := live(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out [][]byte
	for _, h := range s.twoFactor.recovery[twoFactorKey{tenant, user}] {
		out = append(out, bytes.Clone(h))
	}
	return out, nil
}

// UseRecoveryCode deletes the recovery code with this hash if it is still unused.
func (s *Store) UseRecoveryCode(ctx context.Context, tenant, user uuid.UUID, hash []byte, ev audit.Event) (int, bool, error) {
	remaining, used := 0, false
	err := s.mutateAccounts(ctx, tenant, ev, nil, func(_ *tenantState, _ *authnState) (bool, error) {
		k := twoFactorKey{tenant, user}
		hs := s.twoFactor.recovery[k]
		for i, h := range hs {
			if len(hash) == 32 && bytes.Equal(h, hash) {
				s.twoFactor.recovery[k] = append(hs[:i:i], hs[i+1:]...)
				remaining, used = len(hs)-1, true
				return false, nil
			}
		}
		return false, errNotUsed
	})
	if errors.Is(err, errNotUsed) {
		return 0, false, nil
	}
	return remaining, used, err
}

// errNotUsed makes mutateAccounts change nothing and append no event when a recovery
// code is not there; UseRecoveryCode turns it into ok == false.
var errNotUsed = errors.New("memory: recovery code not found")

// ReplaceRecoveryCodes voids the user's recovery codes and stores hashes instead.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, tenant, user uuid.UUID, hashes [][]byte, ev audit.Event) error {
	hs, err := checkHashes(hashes)
	if err != nil {
		return err
	}
	return s.mutateAccounts(ctx, tenant, ev, nil, func(_ *tenantState, _ *authnState) (bool, error) {
		k := twoFactorKey{tenant, user}
		if _, on := s.twoFactor.active[k]; !on {
			return false, notFound("two-factor of user", user)
		}
		s.twoFactor.recovery[k] = hs
		return false, nil
	})
}

// DisableTwoFactor deletes the user's factor, recovery codes and pending enrolment.
func (s *Store) DisableTwoFactor(ctx context.Context, tenant, user uuid.UUID, ev audit.Event) error {
	return s.mutateAccounts(ctx, tenant, ev, nil, func(_ *tenantState, _ *authnState) (bool, error) {
		k := twoFactorKey{tenant, user}
		_, on := s.twoFactor.active[k]
		_, pending := s.twoFactor.pending[k]
		if !on && !pending {
			return false, notFound("two-factor of user", user)
		}
		s.twoFactor.forget(tenant, user)
		return false, nil
	})
}

// TwoFactorUsers returns the tenant's users with an active factor (none for an
// unknown tenant). It scans every tenant's factors: fine for the memory store's sizes.
func (s *Store) TwoFactorUsers(ctx context.Context, tenant uuid.UUID) ([]uuid.UUID, error) {
	if err := live(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []uuid.UUID
	for k := range s.twoFactor.active {
		if k.tenant == tenant {
			out = append(out, k.user)
		}
	}
	return out, nil
}

// SealedTwoFactors returns up to limit active factors of every tenant after the one
// named by after, in the order of (tenant, user) as bytes. It sorts every factor of
// every tenant per call: fine for the memory store's sizes.
func (s *Store) SealedTwoFactors(ctx context.Context, after authn.UserRef, limit int) ([]authn.TwoFactor, error) {
	if err := live(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	limit = min(limit, authn.SealedPageMax)
	cmp := func(a, b twoFactorKey) int {
		if c := bytes.Compare(a.tenant[:], b.tenant[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.user[:], b.user[:])
	}
	from := twoFactorKey{after.Tenant, after.User}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var keys []twoFactorKey
	for k := range s.twoFactor.active {
		if cmp(k, from) > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, cmp)
	out := make([]authn.TwoFactor, 0, min(limit, len(keys)))
	for _, k := range keys[:min(limit, len(keys))] {
		f := s.twoFactor.active[k]
		f.Sealed = bytes.Clone(f.Sealed)
		out = append(out, f)
	}
	return out, nil
}

// ReplaceTwoFactorSecret replaces the user's sealed secret by sealed if the stored one
// is still old.
func (s *Store) ReplaceTwoFactorSecret(ctx context.Context, tenant, user uuid.UUID, old, sealed []byte) error {
	if err := live(ctx); err != nil {
		return err
	}
	if len(sealed) == 0 {
		return errors.New("memory: replace two-factor secret: no sealed secret")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := twoFactorKey{tenant, user}
	f, ok := s.twoFactor.active[k]
	if !ok {
		return notFound("two-factor of user", user)
	}
	if !bytes.Equal(f.Sealed, old) {
		return fmt.Errorf("memory: two-factor secret of user %s changed: %w", user, storage.ErrStale)
	}
	f.Sealed = bytes.Clone(sealed)
	s.twoFactor.active[k] = f
	return nil
}
