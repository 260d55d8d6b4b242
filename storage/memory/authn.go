package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// The authn.Store methods. Accounts live beside the access data of their tenant and
// every method runs under the store's one lock, so that each is one atomic unit of
// work, like the access mutations: a mutation checks every rule first, then changes
// the state and appends its event, or returns an error having changed nothing.
//
// Choices the authn.Store contract leaves open, settled alike in every adapter (and
// held by storage/storetest):
//   - A mutation of an unknown tenant is storage.ErrNotFound, except AcceptInvitation
//     and ResetPassword, for which any unusable link is authn.ErrTicketInvalid.
//   - Only AcceptInvitation, SetStatus, DeleteUser, and CreateInvitation of a user who
//     is already a member, increment the tenant's policy version: they are the ones
//     that change memberships or whether a member may sign in (access.Member.Disabled).
//   - A new invited user is stored with Status invited whatever u.Status says.
//   - Tickets: "open" is Ticket.Open at the time given (unused, unrevoked, not
//     expired); revocations touch open tickets only.
//   - A tombstone (a deleted user) is never written again: UpdateUser,
//     ReplacePasswordHash and CreateTicket of a deleted user are authn.ErrUserDeleted,
//     SetStatus and DeleteUser authn.ErrInvalidTransition. DeleteUser also erases the
//     e-mail address kept in each of the user's tickets.
//   - AcceptInvitation sets UpdatedAt to now together with StatusAt; ResetPassword and
//     ReplacePasswordHash change the password hash only (not Version nor UpdatedAt:
//     the hash has its own compare-and-swap).
//   - Settings durations are kept to the microsecond, like the SQL adapters.
//   - One last-Admin rule holds for access and authn alike (see lastAdmin and
//     adminsBesides): SetMember demoting, RemoveMember and DeleteUser of the tenant's
//     last Admin member, or of its last Admin who can sign in, and SetStatus taking
//     sign-in (active to another status) from its last Admin who can sign in, are
//     access.ErrLastAdmin and change nothing.
//   - PurgeCandidates lists the oldest StatusAt first; a stored Retention of zero or
//     less means authn.DefaultRetention; limit <= 0 returns nothing.

// authnState is one tenant's accounts.
type authnState struct {
	users map[uuid.UUID]authn.User
	// hashes holds the encoded password hash of each user that has one.
	hashes map[uuid.UUID]string
	// emails indexes the users that are not deleted by e-mail: the uniqueness rule.
	emails  map[string]uuid.UUID
	tickets map[uuid.UUID]authn.Ticket
	// tokens indexes tickets by purpose and token hash: the lookup of a link.
	tokens   map[ticketKey]uuid.UUID
	settings *authn.Settings
}

type ticketKey struct {
	purpose authn.Purpose
	hash    [32]byte
}

func newAuthnState() *authnState {
	return &authnState{
		users:   make(map[uuid.UUID]authn.User),
		hashes:  make(map[uuid.UUID]string),
		emails:  make(map[string]uuid.UUID),
		tickets: make(map[uuid.UUID]authn.Ticket),
		tokens:  make(map[ticketKey]uuid.UUID),
	}
}

// noAccounts is the state read for a tenant that has never stored an account. It is
// never written.
var noAccounts = newAuthnState()

// errPurpose reports a ticket handed to the method of another purpose.
var errPurpose = errors.New("memory: ticket purpose not accepted by this method")

// Settings returns the tenant's stored settings, or storage.ErrNotFound if none were
// stored (or the tenant is unknown).
func (s *Store) Settings(ctx context.Context, tenant uuid.UUID) (authn.Settings, error) {
	var st authn.Settings
	err := s.readAccounts(ctx, tenant, func(as *authnState) error {
		if as.settings == nil {
			return notFound("authn settings of tenant", tenant)
		}
		st = *as.settings
		st.RequireTwoFactorRoles = slices.Clone(st.RequireTwoFactorRoles)
		return nil
	})
	return st, err
}

// SetSettings stores st if st.Version is the stored version (0 when none is stored;
// storage.ErrStale otherwise), with Version+1.
func (s *Store) SetSettings(ctx context.Context, st authn.Settings, ev audit.Event) error {
	return s.mutateAccounts(ctx, st.Tenant, ev, nil, func(_ *tenantState, as *authnState) (bool, error) {
		var cur int64
		if as.settings != nil {
			cur = as.settings.Version
		}
		if st.Version != cur {
			return false, stale("authn settings of tenant", st.Tenant, st.Version)
		}
		st.InvitationTTL = st.InvitationTTL.Truncate(time.Microsecond)
		st.ResetTTL = st.ResetTTL.Truncate(time.Microsecond)
		st.Retention = st.Retention.Truncate(time.Microsecond)
		st.UpdatedAt, st.Version = utc(st.UpdatedAt), cur+1
		st.RequireTwoFactorRoles = slices.Clone(st.RequireTwoFactorRoles)
		as.settings = &st
		return false, nil
	})
}

// CreateInvitation stores the invitation t for u: a new user (u.Version 0, stored
// invited with Version 1) or a re-invited one (stored with u.Version and status
// invited, else storage.ErrStale), whose earlier open invitations are revoked at
// t.CreatedAt. An e-mail taken by a user who is not deleted, or a user, ticket ID or
// token hash already stored, is storage.ErrConflict. t must be an invitation of u. A
// new user who is already a member of the tenant (without an account until now) is
// disabled by it, so it then increments the policy version, logging that user.
func (s *Store) CreateInvitation(ctx context.Context, u authn.User, t authn.Ticket, ev audit.Event) error {
	return s.mutateAccounts(ctx, u.Tenant, ev, nil, func(ts *tenantState, as *authnState) (bool, error) {
		if err := ticketOf(u, t, authn.PurposeInvitation); err != nil {
			return false, err
		}
		if err := as.ticketFree(t); err != nil {
			return false, err
		}
		if u.Version == 0 {
			if _, dup := as.users[u.ID]; dup {
				return false, fmt.Errorf("memory: user %s: %w", u.ID, storage.ErrConflict)
			}
			if _, taken := as.emails[u.Email]; taken {
				return false, fmt.Errorf("memory: e-mail of user %s: %w", u.ID, storage.ErrConflict)
			}
			u.Status, u.DeletedReason, u.Version = authn.StatusInvited, "", 1
			u.StatusAt, u.CreatedAt, u.UpdatedAt = utc(u.StatusAt), utc(u.CreatedAt), utc(u.UpdatedAt)
			as.users[u.ID] = u
			as.emails[u.Email] = u.ID
			if _, member := ts.members[u.ID]; member {
				// A member without an account (added through access) now has an
				// invited one: they may not sign in, so their membership grants
				// nothing (access.Member.Disabled), a change of the policy.
				as.addTicket(t)
				ts.touch(touchUsers, u.ID)
				return true, nil
			}
		} else {
			cur, ok := as.users[u.ID]
			switch {
			case !ok:
				return false, notFound("user", u.ID)
			case cur.Version != u.Version || cur.Status != authn.StatusInvited:
				return false, stale("invited user", u.ID, u.Version)
			}
			cur.Name, cur.UpdatedAt, cur.Version = u.Name, utc(u.UpdatedAt), cur.Version+1
			as.users[u.ID] = cur
			as.revoke(u.ID, authn.PurposeInvitation, utc(t.CreatedAt))
		}
		as.addTicket(t)
		return false, nil
	})
}

// CreateTicket stores t, a ticket of another purpose than invitation for an existing
// user of t.Tenant (storage.ErrNotFound otherwise; authn.ErrUserDeleted for a
// tombstone), and revokes the user's open tickets of that purpose at t.CreatedAt. A
// ticket ID or token hash already stored is storage.ErrConflict.
func (s *Store) CreateTicket(ctx context.Context, t authn.Ticket, clearPassword bool, ev audit.Event) error {
	return s.mutateAccounts(ctx, t.Tenant, ev, nil, func(_ *tenantState, as *authnState) (bool, error) {
		if t.Purpose != authn.PurposePasswordReset {
			return false, fmt.Errorf("%w: %q", errPurpose, t.Purpose)
		}
		u, ok := as.users[t.User]
		switch {
		case !ok:
			return false, notFound("user", t.User)
		case u.Status == authn.StatusDeleted:
			return false, fmt.Errorf("memory: user %s: %w", t.User, authn.ErrUserDeleted)
		}
		if err := as.ticketFree(t); err != nil {
			return false, err
		}
		as.revoke(t.User, t.Purpose, utc(t.CreatedAt))
		as.addTicket(t)
		if clearPassword {
			delete(as.hashes, t.User)
		}
		return false, nil
	})
}

// Ticket returns the tenant's ticket of this purpose with this token hash, whatever
// its state (used, revoked, expired), or storage.ErrNotFound.
func (s *Store) Ticket(ctx context.Context, tenant uuid.UUID, purpose authn.Purpose, tokenHash [32]byte) (authn.Ticket, error) {
	var t authn.Ticket
	err := s.readAccounts(ctx, tenant, func(as *authnState) error {
		id, ok := as.tokens[ticketKey{purpose, tokenHash}]
		if !ok {
			return fmt.Errorf("memory: ticket: %w", storage.ErrNotFound)
		}
		t = cloneTicket(as.tickets[id])
		return nil
	})
	return t, err
}

// OpenInvitation returns the user's newest invitation open at now (greatest CreatedAt,
// then greatest ID), or storage.ErrNotFound if there is none.
func (s *Store) OpenInvitation(ctx context.Context, tenant, user uuid.UUID, now time.Time) (authn.Ticket, error) {
	var t authn.Ticket
	err := s.readAccounts(ctx, tenant, func(as *authnState) error {
		found := false
		for _, c := range as.tickets {
			if c.User != user || c.Purpose != authn.PurposeInvitation || !c.Open(now) {
				continue
			}
			if !found || c.CreatedAt.After(t.CreatedAt) ||
				c.CreatedAt.Equal(t.CreatedAt) && bytes.Compare(c.ID[:], t.ID[:]) > 0 {
				t, found = c, true
			}
		}
		if !found {
			return fmt.Errorf("memory: open invitation of user %s: %w", user, storage.ErrNotFound)
		}
		t = cloneTicket(t)
		return nil
	})
	return t, err
}

// DeleteExpiredTickets removes the tickets of every tenant whose ExpiresAt is not
// after now, with their token index entries, and returns how many.
func (s *Store) DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error) {
	if err := live(ctx); err != nil {
		return 0, err
	}
	now = utc(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, as := range s.accounts {
		for id, t := range as.tickets {
			if t.ExpiresAt.After(now) {
				continue
			}
			delete(as.tickets, id)
			if k := (ticketKey{t.Purpose, t.TokenHash}); as.tokens[k] == id {
				delete(as.tokens, k)
			}
			n++
		}
	}
	return n, nil
}

// RevokeTickets revokes the user's open tickets of purpose at `at` and returns how
// many it revoked (the event is appended even when none was open). An unknown user is
// storage.ErrNotFound.
func (s *Store) RevokeTickets(ctx context.Context, tenant, user uuid.UUID, purpose authn.Purpose, at time.Time, ev audit.Event) (int, error) {
	var n int
	err := s.mutateAccounts(ctx, tenant, ev, nil, func(_ *tenantState, as *authnState) (bool, error) {
		if _, ok := as.users[user]; !ok {
			return false, notFound("user", user)
		}
		n = as.revoke(user, purpose, utc(at))
		return false, nil
	})
	return n, err
}

// AcceptInvitation consumes the open invitation with this token hash, activates its
// invited user with passwordHash, gives them the ticket's role and its projects that
// still exist, increments the policy version and appends ev, or returns
// authn.ErrTicketInvalid (also when the ticket's role no longer exists) having changed
// nothing. An existing tenant membership of the user is replaced (its CreatedAt kept)
// and existing project memberships are kept, as SetMember and SetProjectMember do.
func (s *Store) AcceptInvitation(ctx context.Context, tenant uuid.UUID, tokenHash [32]byte, now time.Time, passwordHash string, ev audit.Event) (authn.User, error) {
	var u authn.User
	now = utc(now)
	err := s.mutateAccounts(ctx, tenant, ev, authn.ErrTicketInvalid, func(ts *tenantState, as *authnState) (bool, error) {
		t, err := as.openTicket(authn.PurposeInvitation, tokenHash, now)
		if err != nil {
			return false, err
		}
		cur, ok := as.users[t.User]
		if !ok || cur.Status != authn.StatusInvited {
			return false, fmt.Errorf("memory: invited user: %w", authn.ErrTicketInvalid)
		}
		if _, ok := ts.roles[t.Role]; !ok {
			return false, fmt.Errorf("memory: role of invitation: %w", authn.ErrTicketInvalid)
		}

		t.UsedAt = now
		as.tickets[t.ID] = t
		cur.Status, cur.StatusAt, cur.UpdatedAt, cur.Version = authn.StatusActive, now, now, cur.Version+1
		as.users[cur.ID] = cur
		as.hashes[cur.ID] = passwordHash
		m := access.Member{Tenant: tenant, User: cur.ID, Role: t.Role, CreatedAt: now, UpdatedAt: now}
		if old, ok := ts.members[cur.ID]; ok {
			m.CreatedAt = old.CreatedAt
		}
		ts.members[cur.ID] = m
		ts.touch(touchUsers, cur.ID)
		for _, p := range t.Projects {
			if _, ok := ts.projects[p]; !ok {
				continue // deleted since the invitation
			}
			pms := ts.projectMembers[p]
			if pms == nil {
				pms = make(map[uuid.UUID]access.ProjectMember)
				ts.projectMembers[p] = pms
			}
			if _, ok := pms[cur.ID]; !ok {
				pms[cur.ID] = access.ProjectMember{Tenant: tenant, Project: p, User: cur.ID, CreatedAt: now}
			}
		}
		u = cur
		return true, nil
	})
	if err != nil {
		return authn.User{}, err
	}
	return u, nil
}

// ResetPassword consumes the open password-reset ticket with this token hash and sets
// its active user's password hash, or returns authn.ErrTicketInvalid having changed
// nothing. The user's Version and UpdatedAt are unchanged.
func (s *Store) ResetPassword(ctx context.Context, tenant uuid.UUID, tokenHash [32]byte, now time.Time, passwordHash string, ev audit.Event) (authn.User, error) {
	var u authn.User
	now = utc(now)
	err := s.mutateAccounts(ctx, tenant, ev, authn.ErrTicketInvalid, func(_ *tenantState, as *authnState) (bool, error) {
		t, err := as.openTicket(authn.PurposePasswordReset, tokenHash, now)
		if err != nil {
			return false, err
		}
		cur, ok := as.users[t.User]
		if !ok || cur.Status != authn.StatusActive {
			return false, fmt.Errorf("memory: user of reset link is not active: %w", authn.ErrTicketInvalid)
		}
		t.UsedAt = now
		as.tickets[t.ID] = t
		as.hashes[cur.ID] = passwordHash
		u = cur
		return false, nil
	})
	if err != nil {
		return authn.User{}, err
	}
	return u, nil
}

// User returns a user of the tenant, tombstones included, or storage.ErrNotFound.
func (s *Store) User(ctx context.Context, tenant, id uuid.UUID) (authn.User, error) {
	var u authn.User
	err := s.readAccounts(ctx, tenant, func(as *authnState) error {
		var ok bool
		if u, ok = as.users[id]; !ok {
			return notFound("user", id)
		}
		return nil
	})
	return u, err
}

// UserByEmail returns the tenant's user who is not deleted with this e-mail (compared
// exactly: pass it normalised), or storage.ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, tenant uuid.UUID, email string) (authn.User, error) {
	var u authn.User
	err := s.readAccounts(ctx, tenant, func(as *authnState) error {
		id, ok := as.emails[email]
		if !ok {
			return fmt.Errorf("memory: user by e-mail: %w", storage.ErrNotFound)
		}
		u = as.users[id]
		return nil
	})
	return u, err
}

// Users returns the tenant's users that are not deleted, ordered by e-mail
// (byte-wise), or storage.ErrNotFound for an unknown tenant.
func (s *Store) Users(ctx context.Context, tenant uuid.UUID) ([]authn.User, error) {
	var us []authn.User
	err := s.readAccounts(ctx, tenant, func(as *authnState) error {
		us = make([]authn.User, 0, len(as.emails))
		for _, id := range as.emails {
			us = append(us, as.users[id])
		}
		slices.SortFunc(us, func(a, b authn.User) int { return strings.Compare(a.Email, b.Email) })
		return nil
	})
	return us, err
}

// UpdateUser stores u's Name and UpdatedAt with Version+1 if u.Version is the stored
// version: storage.ErrNotFound for an unknown user, authn.ErrUserDeleted for a
// tombstone, storage.ErrStale for another version.
func (s *Store) UpdateUser(ctx context.Context, u authn.User, ev audit.Event) error {
	return s.mutateAccounts(ctx, u.Tenant, ev, nil, func(_ *tenantState, as *authnState) (bool, error) {
		cur, ok := as.users[u.ID]
		switch {
		case !ok:
			return false, notFound("user", u.ID)
		case cur.Status == authn.StatusDeleted:
			return false, fmt.Errorf("memory: user %s: %w", u.ID, authn.ErrUserDeleted)
		case cur.Version != u.Version:
			return false, stale("user", u.ID, u.Version)
		}
		cur.Name, cur.UpdatedAt, cur.Version = u.Name, utc(u.UpdatedAt), cur.Version+1
		as.users[u.ID] = cur
		return false, nil
	})
}

// PasswordHash returns the user's encoded password hash ("" if none is set), or
// storage.ErrNotFound.
func (s *Store) PasswordHash(ctx context.Context, tenant, user uuid.UUID) (string, error) {
	var h string
	err := s.readAccounts(ctx, tenant, func(as *authnState) error {
		if _, ok := as.users[user]; !ok {
			return notFound("user", user)
		}
		h = as.hashes[user]
		return nil
	})
	return h, err
}

// ReplacePasswordHash sets the user's password hash to newHash if it is still oldHash
// (storage.ErrStale otherwise): storage.ErrNotFound for an unknown user,
// authn.ErrUserDeleted for a tombstone.
func (s *Store) ReplacePasswordHash(ctx context.Context, tenant, user uuid.UUID, oldHash, newHash string, ev audit.Event) error {
	return s.mutateAccounts(ctx, tenant, ev, nil, func(_ *tenantState, as *authnState) (bool, error) {
		cur, ok := as.users[user]
		switch {
		case !ok:
			return false, notFound("user", user)
		case cur.Status == authn.StatusDeleted:
			return false, fmt.Errorf("memory: user %s: %w", user, authn.ErrUserDeleted)
		case as.hashes[user] != oldHash:
			return false, fmt.Errorf("memory: password hash of user %s changed: %w", user, storage.ErrStale)
		}
		as.hashes[user] = newHash
		return false, nil
	})
}

// SetStatus moves the user from `from` to `to` at `at` (StatusAt, UpdatedAt,
// Version+1) if the stored status is `from`, and increments the tenant's policy
// version: whether the user may sign in decides whether their membership grants
// anything (access.Member.Disabled). A stored status other than `from`, a
// `to` of StatusDeleted, a `from` of StatusDeleted or a status that is not one of
// authn's is authn.ErrInvalidTransition; an unknown user storage.ErrNotFound. Moving
// the tenant's last Admin who can sign in from active to another status is
// access.ErrLastAdmin.
func (s *Store) SetStatus(ctx context.Context, tenant, user uuid.UUID, from, to authn.Status, at time.Time, ev audit.Event) error {
	if err := checkTransition(from, to); err != nil {
		return err
	}
	return s.mutateAccounts(ctx, tenant, ev, nil, func(ts *tenantState, as *authnState) (bool, error) {
		cur, ok := as.users[user]
		switch {
		case !ok:
			return false, notFound("user", user)
		case cur.Status != from:
			return false, fmt.Errorf("memory: user %s is %s, not %s: %w", user, cur.Status, from, authn.ErrInvalidTransition)
		}
		if from == authn.StatusActive && to != authn.StatusActive {
			if self, _, othersSignIn := ts.adminsBesides(as, user); self && othersSignIn == 0 {
				return false, fmt.Errorf("memory: user %s is the last Admin who can sign in: %w", user, access.ErrLastAdmin)
			}
		}
		at := utc(at)
		cur.Status, cur.StatusAt, cur.UpdatedAt, cur.Version = to, at, at, cur.Version+1
		as.users[user] = cur
		ts.touch(touchUsers, user)
		return true, nil
	})
}

// DeleteUser turns a user whose status is one of `from` into a tombstone at `at`:
// status deleted with reason, e-mail, name and password hash erased, Version+1,
// memberships removed (policy version incremented), open tickets revoked and the
// e-mail kept in every ticket of the user erased. Another status (a tombstone
// included) is authn.ErrInvalidTransition; an unknown user storage.ErrNotFound. The
// tenant's last Admin member, or its last Admin who can sign in, is
// access.ErrLastAdmin.
func (s *Store) DeleteUser(ctx context.Context, tenant, user uuid.UUID, from []authn.Status, reason string, at time.Time, ev audit.Event) error {
	return s.mutateAccounts(ctx, tenant, ev, nil, func(ts *tenantState, as *authnState) (bool, error) {
		cur, ok := as.users[user]
		switch {
		case !ok:
			return false, notFound("user", user)
		case cur.Status == authn.StatusDeleted || !slices.Contains(from, cur.Status):
			return false, fmt.Errorf("memory: user %s is %s: %w", user, cur.Status, authn.ErrInvalidTransition)
		}
		if ts.lastAdmin(as, user) {
			return false, fmt.Errorf("memory: user %s is the last Admin: %w", user, access.ErrLastAdmin)
		}
		at := utc(at)
		delete(as.emails, cur.Email)
		delete(as.hashes, user)
		s.twoFactor.forget(tenant, user)
		cur.Status, cur.DeletedReason, cur.Email, cur.Name = authn.StatusDeleted, reason, "", ""
		cur.StatusAt, cur.UpdatedAt, cur.Version = at, at, cur.Version+1
		as.users[user] = cur
		delete(ts.members, user)
		for _, pms := range ts.projectMembers {
			delete(pms, user)
		}
		ts.touch(touchUsers, user)
		for id, t := range as.tickets {
			if t.User != user {
				continue
			}
			if t.Open(at) {
				t.RevokedAt = at
			}
			t.Email = ""
			as.tickets[id] = t
		}
		s.identities.deleteUser(tenant, user)
		return true, nil
	})
}

// PurgeCandidates returns up to limit archived users of any tenant whose StatusAt is
// more than their tenant's retention before now, oldest StatusAt first.
func (s *Store) PurgeCandidates(ctx context.Context, now time.Time, limit int) ([]authn.UserRef, error) {
	if err := live(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	now = utc(now)
	type candidate struct {
		ref authn.UserRef
		at  time.Time
	}
	var cs []candidate
	s.mu.RLock()
	for tenant, as := range s.accounts {
		retention := authn.DefaultRetention
		if as.settings != nil && as.settings.Retention > 0 {
			retention = as.settings.Retention
		}
		cutoff := now.Add(-retention)
		for _, u := range as.users {
			if u.Status == authn.StatusArchived && u.StatusAt.Before(cutoff) {
				cs = append(cs, candidate{authn.UserRef{Tenant: tenant, User: u.ID}, u.StatusAt})
			}
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(cs, func(a, b candidate) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		if c := bytes.Compare(a.ref.Tenant[:], b.ref.Tenant[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.ref.User[:], b.ref.User[:])
	})
	out := make([]authn.UserRef, 0, min(limit, len(cs)))
	for _, c := range cs[:min(limit, len(cs))] {
		out = append(out, c.ref)
	}
	return out, nil
}

// readAccounts runs fn on the tenant's accounts under the read lock; an unknown tenant
// is storage.ErrNotFound. fn must copy what it returns.
func (s *Store) readAccounts(ctx context.Context, tenant uuid.UUID, fn func(*authnState) error) error {
	return s.read(ctx, tenant, func(*tenantState) error {
		return fn(s.accountsOf(tenant))
	})
}

// mutateAccounts runs one authn mutation of tenant as a unit of work (see unitOfWork),
// giving apply the tenant's account state as well.
func (s *Store) mutateAccounts(ctx context.Context, tenant uuid.UUID, ev audit.Event, unknownTenant error,
	apply func(*tenantState, *authnState) (bumpPolicy bool, err error)) error {
	return s.unitOfWork(ctx, tenant, ev, unknownTenant, func(ts *tenantState) (bool, error) {
		as := s.accounts[tenant]
		if as == nil {
			as = newAuthnState()
			s.accounts[tenant] = as
		}
		return apply(ts, as)
	})
}

// ticketOf checks that t is a ticket of purpose for u, in u's tenant.
func ticketOf(u authn.User, t authn.Ticket, purpose authn.Purpose) error {
	if t.Purpose != purpose {
		return fmt.Errorf("%w: %q", errPurpose, t.Purpose)
	}
	if t.Tenant != u.Tenant || t.User != u.ID {
		return fmt.Errorf("memory: ticket %s is not of user %s of tenant %s: %w", t.ID, u.ID, u.Tenant, storage.ErrNotFound)
	}
	return nil
}

// ticketFree reports storage.ErrConflict if t's ID or token hash is already stored.
func (as *authnState) ticketFree(t authn.Ticket) error {
	if _, dup := as.tickets[t.ID]; dup {
		return fmt.Errorf("memory: ticket %s: %w", t.ID, storage.ErrConflict)
	}
	if _, dup := as.tokens[ticketKey{t.Purpose, t.TokenHash}]; dup {
		return fmt.Errorf("memory: ticket token hash: %w", storage.ErrConflict)
	}
	return nil
}

// addTicket stores t as given, its times in UTC microseconds.
func (as *authnState) addTicket(t authn.Ticket) {
	t = cloneTicket(t)
	t.CreatedAt, t.ExpiresAt = utc(t.CreatedAt), utc(t.ExpiresAt)
	if !t.UsedAt.IsZero() {
		t.UsedAt = utc(t.UsedAt)
	}
	if !t.RevokedAt.IsZero() {
		t.RevokedAt = utc(t.RevokedAt)
	}
	as.tickets[t.ID] = t
	as.tokens[ticketKey{t.Purpose, t.TokenHash}] = t.ID
}

// revoke revokes the user's tickets of purpose that are open at `at`, and returns how
// many it revoked.
func (as *authnState) revoke(user uuid.UUID, purpose authn.Purpose, at time.Time) int {
	n := 0
	for id, t := range as.tickets {
		if t.User == user && t.Purpose == purpose && t.Open(at) {
			t.RevokedAt = at
			as.tickets[id] = t
			n++
		}
	}
	return n
}

// openTicket returns the ticket of purpose with this token hash if it is open at now,
// or authn.ErrTicketInvalid.
func (as *authnState) openTicket(purpose authn.Purpose, tokenHash [32]byte, now time.Time) (authn.Ticket, error) {
	id, ok := as.tokens[ticketKey{purpose, tokenHash}]
	if !ok || !as.tickets[id].Open(now) {
		return authn.Ticket{}, fmt.Errorf("memory: %s ticket: %w", purpose, authn.ErrTicketInvalid)
	}
	return cloneTicket(as.tickets[id]), nil
}

// adminsBesides reports whether user is a member of the tenant whose role is of the
// Admin kind, and counts the other such members: all of them, and those who can sign
// in (their authn user is active, or they have no authn user: a host may use access
// without authn). SetStatus keeps the last Admin who can sign in with it; lastAdmin
// builds the rule of SetMember, RemoveMember and DeleteUser on it.
func (ts *tenantState) adminsBesides(as *authnState, user uuid.UUID) (self bool, others, othersSignIn int) {
	for u, m := range ts.members {
		if ts.roles[m.Role].Kind != access.KindAdmin {
			continue
		}
		if u == user {
			self = true
			continue
		}
		others++
		if canSignIn(as, u) {
			othersSignIn++
		}
	}
	return self, others, othersSignIn
}

// canSignIn reports whether a member can sign in as far as authn is concerned: their
// user is active, or they have no authn user (a host may use access without authn).
func canSignIn(as *authnState, user uuid.UUID) bool {
	acc, ok := as.users[user]
	return !ok || acc.Status == authn.StatusActive
}

// accountsOf returns the tenant's accounts, or noAccounts if it never stored one. The
// caller holds the store's lock.
func (s *Store) accountsOf(tenant uuid.UUID) *authnState {
	if as := s.accounts[tenant]; as != nil {
		return as
	}
	return noAccounts
}

// checkTransition refuses a SetStatus that could never succeed.
func checkTransition(from, to authn.Status) error {
	if !from.Valid() || !to.Valid() || from == authn.StatusDeleted || to == authn.StatusDeleted {
		return fmt.Errorf("memory: status %q to %q (use DeleteUser to delete): %w", from, to, authn.ErrInvalidTransition)
	}
	return nil
}

func cloneTicket(t authn.Ticket) authn.Ticket {
	t.Projects = slices.Clone(t.Projects)
	return t
}
