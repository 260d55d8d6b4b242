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

// The authn.IdentityStore methods: linked identities and their authorization-code
// flows, under the store's one lock like every other method. Choices the contract
// leaves open, settled as in the SQL adapter (and held by storage/storetest):
//   - A flow is "open" at t while t is before its ExpiresAt; consuming removes it.
//   - CreateIdentity replaces a pending identity of the same (issuer, subject) when it
//     is the same user's or its confirmation expired; ConfirmIdentity erases the
//     confirmation hash and expiry.
//   - DeleteIdentity with keepSignIn counts a non-empty password hash and the user's
//     other active identities as ways to sign in; removing a pending identity is
//     always allowed.

// identityState holds every tenant's identities and flows. Its maps are made on first
// write; the store's lock guards it.
type identityState struct {
	flows    map[uuid.UUID]map[[32]byte]authn.IdentityFlow // tenant → token hash → flow
	ids      map[uuid.UUID]map[uuid.UUID]authn.Identity    // tenant → identity ID → identity
	subjects map[subjectKey]uuid.UUID
	confirms map[confirmKey]uuid.UUID // (tenant, confirmation hash) → identity ID
}

type confirmKey struct {
	tenant uuid.UUID
	hash   [32]byte
}

type subjectKey struct {
	tenant          uuid.UUID
	issuer, subject string
}

func (is *identityState) init() {
	if is.flows == nil {
		is.flows = make(map[uuid.UUID]map[[32]byte]authn.IdentityFlow)
		is.ids = make(map[uuid.UUID]map[uuid.UUID]authn.Identity)
		is.subjects = make(map[subjectKey]uuid.UUID)
		is.confirms = make(map[confirmKey]uuid.UUID)
	}
}

// CreateIdentityFlow stores f and removes the tenant's flows that expired before
// f.CreatedAt. It appends no audit event.
func (s *Store) CreateIdentityFlow(ctx context.Context, f authn.IdentityFlow) error {
	if err := live(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[f.Tenant]; !ok {
		return notFound("tenant", f.Tenant)
	}
	is := &s.identities
	is.init()
	flows := is.flows[f.Tenant]
	if flows == nil {
		flows = make(map[[32]byte]authn.IdentityFlow)
		is.flows[f.Tenant] = flows
	}
	if _, dup := flows[f.TokenHash]; dup {
		return fmt.Errorf("memory: identity flow: %w", storage.ErrConflict)
	}
	created := utc(f.CreatedAt)
	for h, old := range flows {
		if old.ExpiresAt.Before(created) {
			delete(flows, h)
		}
	}
	f.CreatedAt, f.ExpiresAt = created, utc(f.ExpiresAt)
	flows[f.TokenHash] = f
	return nil
}

// DeleteExpiredIdentityFlows removes the flows of every tenant whose ExpiresAt is not
// after now and returns how many.
func (s *Store) DeleteExpiredIdentityFlows(ctx context.Context, now time.Time) (int, error) {
	if err := live(ctx); err != nil {
		return 0, err
	}
	now = utc(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, flows := range s.identities.flows {
		for h, f := range flows {
			if !f.ExpiresAt.After(now) {
				delete(flows, h)
				n++
			}
		}
	}
	return n, nil
}

// ConsumeIdentityFlow removes and returns the tenant's flow with this token hash if it
// expires after now, or returns authn.ErrFlowInvalid.
func (s *Store) ConsumeIdentityFlow(ctx context.Context, tenant uuid.UUID, tokenHash [32]byte, now time.Time) (authn.IdentityFlow, error) {
	if err := live(ctx); err != nil {
		return authn.IdentityFlow{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.identities.flows[tenant][tokenHash]
	if !ok || !utc(now).Before(f.ExpiresAt) {
		return authn.IdentityFlow{}, fmt.Errorf("memory: identity flow: %w", authn.ErrFlowInvalid)
	}
	delete(s.identities.flows[tenant], tokenHash)
	return f, nil
}

// CreateIdentity stores the pending identity id of an existing user who is not
// deleted, replacing a pending identity of the same (issuer, subject) that is the same
// user's or whose confirmation expired at now; any other of that (issuer, subject) is
// storage.ErrConflict.
func (s *Store) CreateIdentity(ctx context.Context, id authn.Identity, now time.Time, ev audit.Event) error {
	now = utc(now)
	return s.unitOfWork(ctx, id.Tenant, ev, nil, func(*tenantState) (bool, error) {
		u, ok := s.accountsOf(id.Tenant).users[id.User]
		switch {
		case !ok:
			return false, notFound("user", id.User)
		case u.Status == authn.StatusDeleted:
			return false, fmt.Errorf("memory: user %s: %w", id.User, authn.ErrUserDeleted)
		case id.Status != authn.IdentityPending || id.ConfirmHash == [32]byte{} || id.Issuer == "" || id.Subject == "":
			return false, fmt.Errorf("memory: identity must be pending with a confirmation hash, issuer and subject: %w", storage.ErrConflict)
		}
		is := &s.identities
		is.init()
		tenantIDs := is.ids[id.Tenant]
		if _, dup := tenantIDs[id.ID]; dup {
			return false, fmt.Errorf("memory: identity %s: %w", id.ID, storage.ErrConflict)
		}
		if _, dup := is.confirms[confirmKey{id.Tenant, id.ConfirmHash}]; dup {
			return false, fmt.Errorf("memory: identity confirmation hash: %w", storage.ErrConflict)
		}
		sk := subjectKey{id.Tenant, id.Issuer, id.Subject}
		if curID, taken := is.subjects[sk]; taken {
			cur := tenantIDs[curID]
			replaceable := cur.Status == authn.IdentityPending && (cur.User == id.User || !now.Before(cur.ConfirmExpiresAt))
			if !replaceable {
				return false, fmt.Errorf("memory: identity (issuer, subject) is linked: %w", storage.ErrConflict)
			}
			is.remove(cur)
		}
		if tenantIDs == nil {
			tenantIDs = make(map[uuid.UUID]authn.Identity)
			is.ids[id.Tenant] = tenantIDs
		}
		id.CreatedAt, id.ConfirmExpiresAt, id.ConfirmedAt = utc(id.CreatedAt), utc(id.ConfirmExpiresAt), time.Time{}
		id.SealedToken = bytes.Clone(id.SealedToken)
		tenantIDs[id.ID] = id
		is.subjects[sk] = id.ID
		is.confirms[confirmKey{id.Tenant, id.ConfirmHash}] = id.ID
		return false, nil
	})
}

// remove deletes an identity and its indexes. The caller holds the lock.
func (is *identityState) remove(id authn.Identity) {
	delete(is.ids[id.Tenant], id.ID)
	delete(is.subjects, subjectKey{id.Tenant, id.Issuer, id.Subject})
	if id.ConfirmHash != [32]byte{} {
		delete(is.confirms, confirmKey{id.Tenant, id.ConfirmHash})
	}
}

// deleteUser removes every identity of a user; DeleteUser calls it under the lock.
func (is *identityState) deleteUser(tenant, user uuid.UUID) {
	for _, id := range is.ids[tenant] {
		if id.User == user {
			is.remove(id)
		}
	}
}

// IdentityByConfirmation returns the tenant's pending identity with this
// confirmation hash, or storage.ErrNotFound.
func (s *Store) IdentityByConfirmation(ctx context.Context, tenant uuid.UUID, confirmHash [32]byte) (authn.Identity, error) {
	var id authn.Identity
	err := s.read(ctx, tenant, func(*tenantState) error {
		iid, ok := s.identities.confirms[confirmKey{tenant, confirmHash}]
		if !ok {
			return fmt.Errorf("memory: identity by confirmation: %w", storage.ErrNotFound)
		}
		id = cloneIdentity(s.identities.ids[tenant][iid])
		return nil
	})
	return id, err
}

// ConfirmIdentity activates the pending identity with this confirmation hash if its
// confirmation expires after now and its user is not deleted, or returns
// authn.ErrTicketInvalid having changed nothing.
func (s *Store) ConfirmIdentity(ctx context.Context, tenant uuid.UUID, confirmHash [32]byte, now time.Time, ev audit.Event) (authn.Identity, error) {
	var id authn.Identity
	now = utc(now)
	err := s.unitOfWork(ctx, tenant, ev, authn.ErrTicketInvalid, func(*tenantState) (bool, error) {
		is := &s.identities
		iid, ok := is.confirms[confirmKey{tenant, confirmHash}]
		if !ok {
			return false, fmt.Errorf("memory: identity confirmation: %w", authn.ErrTicketInvalid)
		}
		cur := is.ids[tenant][iid]
		u, ok := s.accountsOf(tenant).users[cur.User]
		if !now.Before(cur.ConfirmExpiresAt) || !ok || u.Status == authn.StatusDeleted {
			return false, fmt.Errorf("memory: identity confirmation: %w", authn.ErrTicketInvalid)
		}
		delete(is.confirms, confirmKey{tenant, confirmHash})
		cur.Status, cur.ConfirmedAt, cur.ConfirmHash, cur.ConfirmExpiresAt = authn.IdentityActive, now, [32]byte{}, time.Time{}
		is.ids[tenant][iid] = cur
		id = cloneIdentity(cur)
		return false, nil
	})
	return id, err
}

// Identity returns one identity of the tenant, or storage.ErrNotFound.
func (s *Store) Identity(ctx context.Context, tenant, id uuid.UUID) (authn.Identity, error) {
	var out authn.Identity
	err := s.read(ctx, tenant, func(*tenantState) error {
		cur, ok := s.identities.ids[tenant][id]
		if !ok {
			return notFound("identity", id)
		}
		out = cloneIdentity(cur)
		return nil
	})
	return out, err
}

// IdentityBySubject returns the tenant's identity with this issuer and subject, or
// storage.ErrNotFound.
func (s *Store) IdentityBySubject(ctx context.Context, tenant uuid.UUID, issuer, subject string) (authn.Identity, error) {
	var out authn.Identity
	err := s.read(ctx, tenant, func(*tenantState) error {
		iid, ok := s.identities.subjects[subjectKey{tenant, issuer, subject}]
		if !ok {
			return fmt.Errorf("memory: identity by subject: %w", storage.ErrNotFound)
		}
		out = cloneIdentity(s.identities.ids[tenant][iid])
		return nil
	})
	return out, err
}

// Identities returns the user's identities, oldest first, then by ID.
func (s *Store) Identities(ctx context.Context, tenant, user uuid.UUID) ([]authn.Identity, error) {
	var out []authn.Identity
	err := s.read(ctx, tenant, func(*tenantState) error {
		out = []authn.Identity{}
		for _, id := range s.identities.ids[tenant] {
			if id.User == user {
				out = append(out, cloneIdentity(id))
			}
		}
		slices.SortFunc(out, func(a, b authn.Identity) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return bytes.Compare(a.ID[:], b.ID[:])
		})
		return nil
	})
	return out, err
}

// SetIdentityToken replaces the sealed token of the user's active identity id.
func (s *Store) SetIdentityToken(ctx context.Context, tenant, user, id uuid.UUID, sealed []byte, ev audit.Event) error {
	return s.unitOfWork(ctx, tenant, ev, nil, func(*tenantState) (bool, error) {
		cur, ok := s.identities.ids[tenant][id]
		if !ok || cur.User != user || cur.Status != authn.IdentityActive {
			return false, notFound("active identity", id)
		}
		cur.SealedToken = bytes.Clone(sealed)
		if len(cur.SealedToken) == 0 {
			cur.SealedToken = nil
		}
		s.identities.ids[tenant][id] = cur
		return false, nil
	})
}

// DeleteIdentity removes the user's identity id; with keepSignIn, not the user's last
// way to sign in (authn.ErrLastSignInMethod).
func (s *Store) DeleteIdentity(ctx context.Context, tenant, user, id uuid.UUID, keepSignIn bool, ev audit.Event) error {
	return s.unitOfWork(ctx, tenant, ev, nil, func(*tenantState) (bool, error) {
		is := &s.identities
		cur, ok := is.ids[tenant][id]
		if !ok || cur.User != user {
			return false, notFound("identity", id)
		}
		if keepSignIn && cur.Status == authn.IdentityActive && s.accountsOf(tenant).hashes[user] == "" {
			others := 0
			for _, o := range is.ids[tenant] {
				if o.User == user && o.ID != id && o.Status == authn.IdentityActive {
					others++
				}
			}
			if others == 0 {
				return false, fmt.Errorf("memory: identity %s: %w", id, authn.ErrLastSignInMethod)
			}
		}
		is.remove(cur)
		return false, nil
	})
}

func cloneIdentity(id authn.Identity) authn.Identity {
	id.SealedToken = bytes.Clone(id.SealedToken)
	return id
}

// SealedIdentityTokens returns up to limit identities of every tenant that hold a
// sealed token, after the one named by after, in the order of (tenant, ID) as bytes.
// It sorts every such identity per call: fine for the memory store's sizes.
func (s *Store) SealedIdentityTokens(ctx context.Context, after authn.IdentityRef, limit int) ([]authn.Identity, error) {
	if err := live(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	limit = min(limit, authn.SealedPageMax)
	cmp := func(a, b authn.IdentityRef) int {
		if c := bytes.Compare(a.Tenant[:], b.Tenant[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var refs []authn.IdentityRef
	for tenant, ids := range s.identities.ids {
		for id, cur := range ids {
			if ref := (authn.IdentityRef{Tenant: tenant, ID: id}); len(cur.SealedToken) > 0 && cmp(ref, after) > 0 {
				refs = append(refs, ref)
			}
		}
	}
	slices.SortFunc(refs, cmp)
	out := make([]authn.Identity, 0, min(limit, len(refs)))
	for _, ref := range refs[:min(limit, len(refs))] {
		out = append(out, cloneIdentity(s.identities.ids[ref.Tenant][ref.ID]))
	}
	return out, nil
}

// ReplaceIdentityToken replaces the identity's sealed token by sealed if the stored
// one is still old.
func (s *Store) ReplaceIdentityToken(ctx context.Context, tenant, id uuid.UUID, old, sealed []byte) error {
	if err := live(ctx); err != nil {
		return err
	}
	if len(sealed) == 0 {
		return errors.New("memory: replace identity token: no sealed token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.identities.ids[tenant][id]
	if !ok {
		return notFound("identity", id)
	}
	if len(cur.SealedToken) == 0 || !bytes.Equal(cur.SealedToken, old) {
		return fmt.Errorf("memory: sealed token of identity %s changed: %w", id, storage.ErrStale)
	}
	cur.SealedToken = bytes.Clone(sealed)
	s.identities.ids[tenant][id] = cur
	return nil
}
