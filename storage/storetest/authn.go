package storetest

import (
	"crypto/rand"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cases of authn.Store. Besides the rules of its doc comments, they hold adapters
// to these choices, which the contract leaves open:
//
//   - A mutation of an unknown tenant is storage.ErrNotFound; AcceptInvitation and
//     ResetPassword answer authn.ErrTicketInvalid for every unusable link, an unknown
//     tenant included, so that a link tells nothing.
//   - Only AcceptInvitation, DeleteUser and SetStatus change the policy version (they
//     change memberships, or whether a membership grants anything: see
//     disabledMemberCases); every authn mutation appends exactly its event,
//     RevokeTickets even when no ticket was open.
//   - A ticket is open at t when it is unused, unrevoked and ExpiresAt is after t
//     (authn.Ticket.Open); a link used at the very instant it expires is invalid.
//     Revocations (re-invite, new reset link, RevokeTickets, DeleteUser) touch open
//     tickets only.
//   - AcceptInvitation sets UpdatedAt to now as well as StatusAt. ResetPassword and
//     ReplacePasswordHash change the password hash only, not Version nor UpdatedAt.
//     An existing tenant membership of the accepting user is replaced (CreatedAt kept),
//     existing project memberships are kept, as SetMember and SetProjectMember do.
//   - A tombstone is never written again: UpdateUser, ReplacePasswordHash and
//     CreateTicket of a deleted user are authn.ErrUserDeleted; SetStatus and DeleteUser
//     are authn.ErrInvalidTransition. DeleteUser also erases the e-mail kept in each of
//     the user's tickets: a tombstone keeps no address anywhere.
//   - SetStatus to or from StatusDeleted, or with a status that is not authn's, is
//     authn.ErrInvalidTransition.
//   - E-mails are compared exactly (the service stores them normalised); Users is
//     ordered by e-mail byte-wise.
//   - Settings are stored as given (zero fields included, meaning "the default"), their
//     durations to the microsecond. In PurgeCandidates a stored Retention of zero means
//     authn.DefaultRetention; the oldest StatusAt come first, and "older than the
//     retention" is strict.
//   - CreateInvitation with a ticket that is not an invitation of u, and CreateTicket of
//     an invitation, fail (the error is not prescribed) and change nothing.
//   - DeleteUser and SetStatus keep the last Admin as access.Store does, answering
//     access.ErrLastAdmin and changing nothing (see lastAdminCases): an Admin member
//     whose authn user is active, or who has no authn user, counts as one who can sign
//     in. access.Store's SetMember and RemoveMember count the same way in a store
//     that keeps accounts: they keep the last Admin who can sign in, not only the last
//     Admin member.
//   - OpenInvitation's "newest" breaks a tie of CreatedAt by the greater ticket ID
//     (byte-wise); the suite never stores two open invitations of one user, since a
//     re-invite revokes the earlier one.
func authnGroups() []group {
	return append([]group{
		{"settings", settingsCases},
		{"users and invitations", invitationCases},
		{"reset links and revocation", ticketCases},
		{"accepting invitations", acceptCases},
		{"passwords and lifecycle", lifecycleCases},
		{"purge candidates", purgeCases},
		{"tenant isolation", authnIsolationCases},
		{"units of work", authnUnitCases},
		{"concurrency", authnConcurrencyCases},
		{"last Admin", lastAdminCases},
		{"disabled members", disabledMemberCases},
		{"two-factor", twoFactorCases}, {"two-factor concurrency", twoFactorConcurrencyCases}, // twofactor.go
		{"two-factor reseal", twoFactorResealCases}, {"identity reseal", identityResealCases}, // twofactor_reseal.go
		{"expiry cleanup", expiredCleanupCases}, // authn_cleanup.go
	}, identityGroups()...) // identity.go
}

// runAuthn runs the authn.Store cases. An adapter that does not implement authn.Store
// yet (its Factory leaves Stores.Authn nil) skips them: the first group's stores are
// probed, and the remaining groups are skipped without calling the Factory.
func runAuthn(t *testing.T, newStores Factory) {
	t.Helper()
	unsupported := false
	for _, g := range authnGroups() {
		t.Run(g.name, func(t *testing.T) {
			if unsupported {
				t.Skip("the adapter does not implement authn.Store (Stores.Authn is nil)")
			}
			s := newStores(t)
			if s.Authn == nil {
				unsupported = true
				t.Skip("the adapter does not implement authn.Store (Stores.Authn is nil)")
			}
			require.NotNil(t, s.Access, "Factory returned no Access store")
			require.NotNil(t, s.Audit, "Factory returned no Audit store")
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, &fx{t: t, ctx: t.Context(), s: s})
				})
			}
		})
	}
}

// The suite's account times, all after base.
var (
	invitedAt  = at(10 * time.Minute)                                           // users and invitations are created
	invitedTTL = authn.DefaultInvitationTTL                                     // invitations expire at invitedAt+invitedTTL
	acceptedAt = at(time.Hour)                                                  // invitations are accepted
	resetFrom  = at(90 * time.Minute)                                           // reset links are created
	resetUntil = at(150 * time.Minute)                                          // and expire
	resetAt    = at(100 * time.Minute)                                          // and are used
	later      = at(48*time.Hour + 123*time.Millisecond + 457*time.Microsecond) // lifecycle changes
)

// newTokenHash returns a random token hash, as the SHA-256 of a fresh link secret.
func newTokenHash() [32]byte {
	var h [32]byte
	_, _ = rand.Read(h[:]) // crypto/rand.Read never fails
	return h
}

// userValue returns a valid, unstored invited user of tenant.
func userValue(tenant uuid.UUID, email, name string) authn.User {
	return authn.User{
		ID: newID(), Tenant: tenant, Email: email, Name: name, Status: authn.StatusInvited,
		StatusAt: invitedAt, CreatedAt: invitedAt, UpdatedAt: invitedAt,
	}
}

// invitationValue returns a valid, unstored invitation of u to role and projects.
func invitationValue(u authn.User, role uuid.UUID, projects ...uuid.UUID) authn.Ticket {
	return authn.Ticket{
		ID: newID(), Tenant: u.Tenant, User: u.ID, Purpose: authn.PurposeInvitation, Email: u.Email,
		TokenHash: newTokenHash(), Role: role, Projects: projects, CreatedBy: newID(),
		CreatedAt: invitedAt, ExpiresAt: invitedAt.Add(invitedTTL),
	}
}

// resetValue returns a valid, unstored password-reset ticket of u.
func resetValue(u authn.User) authn.Ticket {
	return authn.Ticket{
		ID: newID(), Tenant: u.Tenant, User: u.ID, Purpose: authn.PurposePasswordReset, Email: u.Email,
		TokenHash: newTokenHash(), CreatedBy: newID(), CreatedAt: resetFrom, ExpiresAt: resetUntil,
	}
}

// hashOf returns a distinct encoded password hash for who; the suite's hashes are
// marked so that a test can search for them.
func hashOf(who string) string {
	return "$argon2id$v=19$m=19456,t=2,p=1$HASH-SECRET-" + who
}

// invite stores a new invited user with email, invited to the tenant's Agent role and
// projects, and returns the user and the ticket as stored.
func (f *fx) invite(tn tenantFx, email string, projects ...uuid.UUID) (authn.User, authn.Ticket) {
	f.t.Helper()
	return f.inviteTo(tn.ID, tn.Agent.ID, email, projects...)
}

// inviteTo stores a new invited user of tenant, invited to role and projects.
func (f *fx) inviteTo(tenant, role uuid.UUID, email string, projects ...uuid.UUID) (authn.User, authn.Ticket) {
	f.t.Helper()
	u := userValue(tenant, email, "User "+email)
	tk := invitationValue(u, role, projects...)
	require.NoError(f.t, f.s.Authn.CreateInvitation(f.ctx, u, tk, changeEvent(f.t, tenant, "user.invite")))
	u.Version = 1
	return u, tk
}

// accept accepts the invitation tk at acceptedAt with hashOf(u's e-mail) and returns
// the activated user.
func (f *fx) accept(tk authn.Ticket) authn.User {
	f.t.Helper()
	u, err := f.s.Authn.AcceptInvitation(f.ctx, tk.Tenant, tk.TokenHash, acceptedAt, hashOf(tk.Email),
		changeEvent(f.t, tk.Tenant, "user.accept"))
	require.NoError(f.t, err)
	return u
}

// activeUser stores an invited user and accepts the invitation.
func (f *fx) activeUser(tn tenantFx, email string, projects ...uuid.UUID) (authn.User, authn.Ticket) {
	f.t.Helper()
	_, tk := f.invite(tn, email, projects...)
	u := f.accept(tk)
	tk.UsedAt = acceptedAt
	return u, tk
}

// createReset stores a password-reset ticket of u.
func (f *fx) createReset(u authn.User) authn.Ticket {
	f.t.Helper()
	tk := resetValue(u)
	require.NoError(f.t, f.s.Authn.CreateTicket(f.ctx, tk, false, changeEvent(f.t, u.Tenant, "user.reset_link")))
	return tk
}

// setStatus moves u from its status to `to` at `at` and returns it as stored.
func (f *fx) setStatus(u authn.User, to authn.Status, at time.Time) authn.User {
	f.t.Helper()
	require.NoError(f.t, f.s.Authn.SetStatus(f.ctx, u.Tenant, u.ID, u.Status, to, at, changeEvent(f.t, u.Tenant, "user.status")))
	return f.user(u.Tenant, u.ID)
}

// user reads a user that must exist.
func (f *fx) user(tenant, id uuid.UUID) authn.User {
	f.t.Helper()
	u, err := f.s.Authn.User(f.ctx, tenant, id)
	require.NoError(f.t, err)
	return u
}

// ticket reads a ticket that must exist.
func (f *fx) ticket(tk authn.Ticket) authn.Ticket {
	f.t.Helper()
	got, err := f.s.Authn.Ticket(f.ctx, tk.Tenant, tk.Purpose, tk.TokenHash)
	require.NoError(f.t, err)
	return got
}

// passwordHash reads the password hash of a user that must exist.
func (f *fx) passwordHash(tenant, id uuid.UUID) string {
	f.t.Helper()
	h, err := f.s.Authn.PasswordHash(f.ctx, tenant, id)
	require.NoError(f.t, err)
	return h
}

// lastEventID returns the ID of the tenant's newest event.
func (f *fx) lastEventID(tenant uuid.UUID) uuid.UUID {
	f.t.Helper()
	evs := f.allEvents(tenant)
	require.NotEmpty(f.t, evs)
	return evs[len(evs)-1].ID
}

// accountState is what one user has in the stores.
type accountState struct {
	User    authn.User
	UserErr error
	Hash    string
	HashErr error
}

// accountsSnapshot is everything of a tenant that authn and access keep: the access
// snapshot (policy data and events) and the accounts, tickets and settings named.
type accountsSnapshot struct {
	snapshot
	Users       []authn.User
	UsersErr    bool
	Accounts    map[uuid.UUID]accountState
	Tickets     []authn.Ticket // as read back (a zero Ticket if not found)
	ticketKeys  []authn.Ticket // the tickets named, to read them again
	Settings    authn.Settings
	SettingsErr bool
}

// accounts reads everything of tenant, the users and tickets named included, to
// compare before and after an operation that must change nothing.
func (f *fx) accounts(tenant uuid.UUID, users []uuid.UUID, tickets ...authn.Ticket) accountsSnapshot {
	f.t.Helper()
	s := accountsSnapshot{
		snapshot:   f.snapshot(tenant),
		Accounts:   make(map[uuid.UUID]accountState),
		ticketKeys: tickets,
	}
	var err error
	s.Users, err = f.s.Authn.Users(f.ctx, tenant)
	s.UsersErr = err != nil
	for _, id := range users {
		var a accountState
		a.User, a.UserErr = f.s.Authn.User(f.ctx, tenant, id)
		a.Hash, a.HashErr = f.s.Authn.PasswordHash(f.ctx, tenant, id)
		s.Accounts[id] = a
	}
	for _, tk := range tickets {
		got, _ := f.s.Authn.Ticket(f.ctx, tenant, tk.Purpose, tk.TokenHash)
		got.Projects = orNil(got.Projects)
		s.Tickets = append(s.Tickets, got)
	}
	s.Settings, err = f.s.Authn.Settings(f.ctx, tenant)
	s.SettingsErr = err != nil
	return s
}

// assertAccountsUnchanged checks that everything of tenant read by accounts is still
// as it was.
func (f *fx) assertAccountsUnchanged(before accountsSnapshot, tenant uuid.UUID, msgAndArgs ...any) {
	f.t.Helper()
	users := make([]uuid.UUID, 0, len(before.Accounts))
	for id := range before.Accounts {
		users = append(users, id)
	}
	after := f.accounts(tenant, users, before.ticketKeys...)
	f.assertUnchanged(before.snapshot, tenant, msgAndArgs...)
	assert.Equal(f.t, before.Users, after.Users, msgAndArgs...)
	assert.Equal(f.t, before.UsersErr, after.UsersErr, msgAndArgs...)
	for id, a := range before.Accounts {
		b := after.Accounts[id]
		assert.Equal(f.t, a.User, b.User, msgAndArgs...)
		assert.Equal(f.t, a.UserErr == nil, b.UserErr == nil, msgAndArgs...)
		assert.Equal(f.t, a.Hash, b.Hash, msgAndArgs...)
	}
	assert.Equal(f.t, before.Tickets, after.Tickets, msgAndArgs...)
	assert.Equal(f.t, before.Settings, after.Settings, msgAndArgs...)
	assert.Equal(f.t, before.SettingsErr, after.SettingsErr, msgAndArgs...)
}

func assertUser(t testing.TB, want, got authn.User) {
	t.Helper()
	assertTime(t, want.StatusAt, got.StatusAt, "User.StatusAt")
	assertTime(t, want.CreatedAt, got.CreatedAt, "User.CreatedAt")
	assertTime(t, want.UpdatedAt, got.UpdatedAt, "User.UpdatedAt")
	want.StatusAt, want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	got.StatusAt, got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

func assertTicket(t testing.TB, want, got authn.Ticket) {
	t.Helper()
	assertTime(t, want.CreatedAt, got.CreatedAt, "Ticket.CreatedAt")
	assertTime(t, want.ExpiresAt, got.ExpiresAt, "Ticket.ExpiresAt")
	assertTime(t, want.UsedAt, got.UsedAt, "Ticket.UsedAt")
	assertTime(t, want.RevokedAt, got.RevokedAt, "Ticket.RevokedAt")
	want.CreatedAt, want.ExpiresAt, want.UsedAt, want.RevokedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	got.CreatedAt, got.ExpiresAt, got.UsedAt, got.RevokedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	want.Projects, got.Projects = orNil(want.Projects), orNil(got.Projects)
	assert.Equal(t, want, got)
}

func emails(us []authn.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Email
	}
	return out
}

var settingsCases = []testCase{
	{"Settings of a tenant that stored none, or of an unknown tenant, is ErrNotFound", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		_, err := f.s.Authn.Settings(f.ctx, tn.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Authn.Settings(f.ctx, newID())
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	// Durations keep microseconds (the adapters' precision), so whole seconds, the
	// unit administrators set, always round-trip.
	{"SetSettings stores every field with Version+1, durations to the microsecond", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		st := authn.Settings{
			Tenant: tn.ID, PasswordMode: "classes", PasswordMinLength: 15, PasswordMinScore: 3, RequireTwoFactor: true,
			RequireTwoFactorRoles: []uuid.UUID{newID(), newID()},
			InvitationTTL:         72*time.Hour + 7*time.Second + 3*time.Microsecond,
			ResetTTL:              15*time.Minute + 1*time.Microsecond,
			Retention:             3650 * 24 * time.Hour,
			UpdatedAt:             at(time.Minute),
		}
		require.NoError(t, f.s.Authn.SetSettings(f.ctx, st, changeEvent(t, tn.ID, "settings.set")))
		got, err := f.s.Authn.Settings(f.ctx, tn.ID)
		require.NoError(t, err)
		assertTime(t, st.UpdatedAt, got.UpdatedAt, "Settings.UpdatedAt")
		want := st
		want.Version, want.UpdatedAt, got.UpdatedAt = 1, time.Time{}, time.Time{}
		assert.Equal(t, want, got)

		// Zero fields mean "the default" and are stored as zero.
		zero := authn.Settings{Tenant: tn.ID, UpdatedAt: at(2 * time.Minute), Version: 1}
		require.NoError(t, f.s.Authn.SetSettings(f.ctx, zero, changeEvent(t, tn.ID, "settings.set")))
		got, err = f.s.Authn.Settings(f.ctx, tn.ID)
		require.NoError(t, err)
		assertTime(t, zero.UpdatedAt, got.UpdatedAt, "Settings.UpdatedAt")
		want = zero
		want.Version, want.UpdatedAt, got.UpdatedAt = 2, time.Time{}, time.Time{}
		assert.Equal(t, want, got)
		assert.Len(t, f.allEvents(tn.ID), 3, "each SetSettings appends its event")
	}},
	{"SetSettings with another Version than the stored one is ErrStale and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		st := authn.Settings{Tenant: tn.ID, PasswordMode: "nist", UpdatedAt: at(time.Minute), Version: 1}
		before := f.accounts(tn.ID, nil)
		err := f.s.Authn.SetSettings(f.ctx, st, changeEvent(t, tn.ID, "settings.set"))
		assert.ErrorIs(t, err, storage.ErrStale, "version 1 when none is stored")
		f.assertAccountsUnchanged(before, tn.ID)

		st.Version = 0
		require.NoError(t, f.s.Authn.SetSettings(f.ctx, st, changeEvent(t, tn.ID, "settings.set")))
		before = f.accounts(tn.ID, nil)
		for _, v := range []int64{0, 2, -1} {
			st.Version, st.PasswordMode = v, "classes"
			err := f.s.Authn.SetSettings(f.ctx, st, changeEvent(t, tn.ID, "settings.set"))
			assert.ErrorIs(t, err, storage.ErrStale, "version %d", v)
		}
		f.assertAccountsUnchanged(before, tn.ID)
	}},
	{"SetSettings of an unknown tenant is ErrNotFound", func(t *testing.T, f *fx) {
		ghost := newID()
		err := f.s.Authn.SetSettings(f.ctx, authn.Settings{Tenant: ghost, UpdatedAt: at(0)}, changeEvent(t, ghost, "settings.set"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		assert.Empty(t, f.allEvents(ghost))
	}},
}

var invitationCases = []testCase{
	{"CreateInvitation stores a new user (invited, Version 1) and its ticket, every field", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p1, p2 := f.createProject(tn.ID, "Sales"), f.createProject(tn.ID, "Support")
		u := userValue(tn.ID, "zoë.müller@example.com", "Zoë Müller — 東京 🚀")
		u.StatusAt, u.CreatedAt, u.UpdatedAt = at(time.Second), at(2*time.Second), at(3*time.Second)
		u.Version = 0
		tk := invitationValue(u, tn.Supervisor.ID, p2.ID, p1.ID, p2.ID)
		ev := fullEvent(t, tn.ID, at(time.Minute))
		require.NoError(t, f.s.Authn.CreateInvitation(f.ctx, u, tk, ev))

		u.Version = 1
		assertUser(t, u, f.user(tn.ID, u.ID))
		assertTicket(t, tk, f.ticket(tk))
		assert.Equal(t, "", f.passwordHash(tn.ID, u.ID), "an invited user has no password")
		assert.Equal(t, ev.ID, f.lastEventID(tn.ID), "the invitation appends its event")
		verifyChain(t, f.s.Chain, f.allEvents(tn.ID))
	}},
	// A ticket created by the system has no creator; a reset-style ticket has no role
	// or projects: zero values round-trip as zero.
	{"CreateInvitation round-trips zero creator, role and projects", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u := userValue(tn.ID, "ann@example.com", "Ann")
		tk := invitationValue(u, uuid.Nil)
		tk.CreatedBy = uuid.Nil
		require.NoError(t, f.s.Authn.CreateInvitation(f.ctx, u, tk, changeEvent(t, tn.ID, "user.invite")))
		assertTicket(t, tk, f.ticket(tk))
	}},
	{"CreateInvitation of an unknown tenant is ErrNotFound", func(t *testing.T, f *fx) {
		ghost := newID()
		u := userValue(ghost, "ann@example.com", "Ann")
		err := f.s.Authn.CreateInvitation(f.ctx, u, invitationValue(u, newID()), changeEvent(t, ghost, "user.invite"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		assert.Empty(t, f.allEvents(ghost))
	}},
	{"User of an unknown ID is ErrNotFound; Users of an unknown tenant is ErrNotFound, of a tenant without users empty", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		_, err := f.s.Authn.User(f.ctx, tn.ID, newID())
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Authn.PasswordHash(f.ctx, tn.ID, newID())
		assert.ErrorIs(t, err, storage.ErrNotFound)
		us, err := f.s.Authn.Users(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Empty(t, us)
		_, err = f.s.Authn.Users(f.ctx, newID())
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	{"Users lists the users who are not deleted, ordered by e-mail byte-wise", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		for _, e := range []string{"zed@x.io", "ánna@x.io", "bob@x.io", "bob.smith@x.io", "bob-x@x.io", "b@x.io", "Bob@x.io"} {
			f.invite(tn, e)
		}
		gone, _ := f.invite(tn, "gone@x.io")
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, gone.ID, []authn.Status{authn.StatusInvited},
			authn.ReasonRemoved, later, changeEvent(t, tn.ID, "user.delete")))
		us, err := f.s.Authn.Users(f.ctx, tn.ID)
		require.NoError(t, err)
		want := []string{"Bob@x.io", "b@x.io", "bob-x@x.io", "bob.smith@x.io", "bob@x.io", "zed@x.io", "ánna@x.io"}
		require.True(t, sort.StringsAreSorted(want))
		assert.Equal(t, want, emails(us))
		for _, u := range us {
			assert.Equal(t, authn.StatusInvited, u.Status)
		}
	}},
	{"UserByEmail finds the user who is not deleted, comparing e-mails exactly", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, _ := f.invite(tn, "ann@example.com")
		got, err := f.s.Authn.UserByEmail(f.ctx, tn.ID, "ann@example.com")
		require.NoError(t, err)
		assertUser(t, u, got)
		for _, e := range []string{"Ann@example.com", "ann@example.com ", "ann@example.co", ""} {
			_, err := f.s.Authn.UserByEmail(f.ctx, tn.ID, e)
			assert.ErrorIs(t, err, storage.ErrNotFound, "%q", e)
		}
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, u.ID, []authn.Status{authn.StatusInvited},
			authn.ReasonRemoved, later, changeEvent(t, tn.ID, "user.delete")))
		_, err = f.s.Authn.UserByEmail(f.ctx, tn.ID, "ann@example.com")
		assert.ErrorIs(t, err, storage.ErrNotFound, "a deleted user is not found by e-mail")
		_, err = f.s.Authn.UserByEmail(f.ctx, tn.ID, "")
		assert.ErrorIs(t, err, storage.ErrNotFound, "a tombstone's erased e-mail finds nothing")
	}},
	{"e-mails are unique per tenant among users who are not deleted", func(t *testing.T, f *fx) {
		a, b := f.createTenant("A"), f.createTenant("B")
		first, _ := f.invite(a, "ann@example.com")
		before := f.accounts(a.ID, []uuid.UUID{first.ID})

		dup := userValue(a.ID, "ann@example.com", "Another Ann")
		dupTk := invitationValue(dup, a.Agent.ID)
		err := f.s.Authn.CreateInvitation(f.ctx, dup, dupTk, changeEvent(t, a.ID, "user.invite"))
		assert.ErrorIs(t, err, storage.ErrConflict)
		f.assertAccountsUnchanged(before, a.ID)
		_, err = f.s.Authn.User(f.ctx, a.ID, dup.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "the duplicate user was not stored")
		_, err = f.s.Authn.Ticket(f.ctx, a.ID, authn.PurposeInvitation, dupTk.TokenHash)
		assert.ErrorIs(t, err, storage.ErrNotFound, "the duplicate's ticket was not stored")

		f.invite(b, "ann@example.com") // another tenant: fine

		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, a.ID, first.ID, []authn.Status{authn.StatusInvited},
			authn.ReasonRemoved, later, changeEvent(t, a.ID, "user.delete")))
		again, _ := f.invite(a, "ann@example.com")
		got, err := f.s.Authn.UserByEmail(f.ctx, a.ID, "ann@example.com")
		require.NoError(t, err)
		assert.Equal(t, again.ID, got.ID, "a deleted user's e-mail can be invited again")
	}},
	{"CreateInvitation with a user ID, ticket ID or token hash already stored is ErrConflict and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, tk := f.invite(tn, "ann@example.com")
		before := f.accounts(tn.ID, []uuid.UUID{u.ID}, tk)

		sameID := userValue(tn.ID, "other@example.com", "Other")
		sameID.ID = u.ID
		sameTicketID := userValue(tn.ID, "third@example.com", "Third")
		sameHash := userValue(tn.ID, "fourth@example.com", "Fourth")
		for name, c := range map[string]struct {
			u  authn.User
			tk func(authn.Ticket) authn.Ticket
		}{
			"user ID":    {sameID, func(x authn.Ticket) authn.Ticket { return x }},
			"ticket ID":  {sameTicketID, func(x authn.Ticket) authn.Ticket { x.ID = tk.ID; return x }},
			"token hash": {sameHash, func(x authn.Ticket) authn.Ticket { x.TokenHash = tk.TokenHash; return x }},
		} {
			err := f.s.Authn.CreateInvitation(f.ctx, c.u, c.tk(invitationValue(c.u, tn.Agent.ID)), changeEvent(t, tn.ID, "user.invite"))
			assert.ErrorIs(t, err, storage.ErrConflict, name)
			f.assertAccountsUnchanged(before, tn.ID, name)
		}
	}},
	// A re-invite voids the earlier link (the security requirement "a re-invite voids
	// the earlier link"): it is revoked at the new ticket's CreatedAt.
	{"re-inviting an invited user at its Version stores Name and UpdatedAt with Version+1 and voids the earlier link", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, first := f.invite(tn, "ann@example.com")
		re := u
		re.Name, re.UpdatedAt = "Ann Smith 安", at(24*time.Hour)
		re.CreatedAt, re.StatusAt = at(-time.Hour), at(-time.Hour) // ignored
		second := invitationValue(re, tn.Supervisor.ID)
		second.CreatedAt, second.ExpiresAt = at(24*time.Hour), at(24*time.Hour+invitedTTL)
		require.NoError(t, f.s.Authn.CreateInvitation(f.ctx, re, second, changeEvent(t, tn.ID, "user.reinvite")))

		want := u
		want.Name, want.UpdatedAt, want.Version = re.Name, re.UpdatedAt, 2
		assertUser(t, want, f.user(tn.ID, u.ID))
		first.RevokedAt = second.CreatedAt
		assertTicket(t, first, f.ticket(first))
		assertTicket(t, second, f.ticket(second))

		_, err := f.s.Authn.AcceptInvitation(f.ctx, tn.ID, first.TokenHash, at(25*time.Hour), hashOf("x"), changeEvent(t, tn.ID, "user.accept"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid, "the earlier link is void")
		got, err := f.s.Authn.AcceptInvitation(f.ctx, tn.ID, second.TokenHash, at(25*time.Hour), hashOf("x"), changeEvent(t, tn.ID, "user.accept"))
		require.NoError(t, err, "the new link works")
		assert.Equal(t, authn.StatusActive, got.Status)
	}},
	// OpenInvitation is how the service judges a user who has no membership yet (an
	// invited user) by the role their pending invitation promises.
	{"OpenInvitation returns the user's newest open invitation, every field, and no other user's", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		u, first := f.invite(tn, "ann@example.com", p.ID)
		f.invite(tn, "bob@example.com") // another user's invitation, newer
		got, err := f.s.Authn.OpenInvitation(f.ctx, tn.ID, u.ID, acceptedAt)
		require.NoError(t, err)
		assertTicket(t, first, got)

		re := u
		re.UpdatedAt = at(24 * time.Hour)
		second := invitationValue(re, tn.Admin.ID)
		second.CreatedAt, second.ExpiresAt = at(24*time.Hour), at(24*time.Hour+invitedTTL)
		require.NoError(t, f.s.Authn.CreateInvitation(f.ctx, re, second, changeEvent(t, tn.ID, "user.reinvite")))
		got, err = f.s.Authn.OpenInvitation(f.ctx, tn.ID, u.ID, at(25*time.Hour))
		require.NoError(t, err)
		assertTicket(t, second, got)
		assert.Equal(t, tn.Admin.ID, got.Role, "the re-invite's role, not the first one's")
		// Open is strict: the last microsecond before ExpiresAt still counts.
		got, err = f.s.Authn.OpenInvitation(f.ctx, tn.ID, u.ID, second.ExpiresAt.Add(-time.Microsecond))
		require.NoError(t, err)
		assert.Equal(t, second.ID, got.ID)
	}},
	{"OpenInvitation of a user whose invitation expired, was used or revoked, of an unknown user or of another tenant is ErrNotFound", func(t *testing.T, f *fx) {
		tn, other := f.createTenant("Acme"), f.createTenant("Other")
		expired, expiredTk := f.invite(tn, "ann@example.com")
		active, _ := f.activeUser(tn, "bob@example.com")
		f.createReset(active) // open, but not an invitation
		revoked, _ := f.invite(tn, "cid@example.com")
		_, err := f.s.Authn.RevokeTickets(f.ctx, tn.ID, revoked.ID, authn.PurposeInvitation, acceptedAt, changeEvent(t, tn.ID, "invitation.revoke"))
		require.NoError(t, err)
		pending, _ := f.invite(tn, "dan@example.com")

		cases := []struct {
			name         string
			tenant, user uuid.UUID
			now          time.Time
		}{
			{"expired (at ExpiresAt)", tn.ID, expired.ID, expiredTk.ExpiresAt},
			{"used", tn.ID, active.ID, resetAt},
			{"revoked", tn.ID, revoked.ID, resetAt},
			{"unknown user", tn.ID, newID(), resetAt},
			{"another tenant's user", other.ID, pending.ID, resetAt},
			{"unknown tenant", newID(), pending.ID, resetAt},
		}
		for _, c := range cases {
			_, err := f.s.Authn.OpenInvitation(f.ctx, c.tenant, c.user, c.now)
			assert.ErrorIs(t, err, storage.ErrNotFound, c.name)
		}
		_, err = f.s.Authn.OpenInvitation(f.ctx, tn.ID, pending.ID, resetAt)
		assert.NoError(t, err, "the open one is found in its own tenant")
	}},
	{"re-inviting with a stale Version, a user who is no longer invited or an unknown user fails and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, tk := f.invite(tn, "ann@example.com")
		active, activeTk := f.activeUser(tn, "bob@example.com")
		before := f.accounts(tn.ID, []uuid.UUID{u.ID, active.ID}, tk, activeTk)
		for _, v := range []int64{2, -1} {
			re := u
			re.Version = v
			err := f.s.Authn.CreateInvitation(f.ctx, re, invitationValue(re, tn.Agent.ID), changeEvent(t, tn.ID, "user.reinvite"))
			assert.ErrorIs(t, err, storage.ErrStale, "version %d", v)
		}
		err := f.s.Authn.CreateInvitation(f.ctx, active, invitationValue(active, tn.Agent.ID), changeEvent(t, tn.ID, "user.reinvite"))
		assert.ErrorIs(t, err, storage.ErrStale, "an active user cannot be re-invited")
		ghost := userValue(tn.ID, "ghost@example.com", "Ghost")
		ghost.Version = 1
		err = f.s.Authn.CreateInvitation(f.ctx, ghost, invitationValue(ghost, tn.Agent.ID), changeEvent(t, tn.ID, "user.reinvite"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		f.assertAccountsUnchanged(before, tn.ID)
	}},
	{"CreateInvitation with a ticket of another user, tenant or purpose fails and changes nothing", func(t *testing.T, f *fx) {
		tn, other := f.createTenant("Acme"), f.createTenant("Other")
		before, beforeOther := f.accounts(tn.ID, nil), f.accounts(other.ID, nil)
		u := userValue(tn.ID, "ann@example.com", "Ann")
		for name, spoil := range map[string]func(*authn.Ticket){
			"another user":   func(x *authn.Ticket) { x.User = newID() },
			"another tenant": func(x *authn.Ticket) { x.Tenant = other.ID },
			"reset purpose":  func(x *authn.Ticket) { x.Purpose = authn.PurposePasswordReset },
			"no purpose":     func(x *authn.Ticket) { x.Purpose = "" },
		} {
			tk := invitationValue(u, tn.Agent.ID)
			spoil(&tk)
			err := f.s.Authn.CreateInvitation(f.ctx, u, tk, changeEvent(t, tn.ID, "user.invite"))
			assert.Error(t, err, name)
			_, err = f.s.Authn.User(f.ctx, tn.ID, u.ID)
			assert.ErrorIs(t, err, storage.ErrNotFound, name)
		}
		f.assertAccountsUnchanged(before, tn.ID)
		f.assertAccountsUnchanged(beforeOther, other.ID)
	}},
	{"UpdateUser stores Name and UpdatedAt with Version+1, conditional on Version", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, _ := f.activeUser(tn, "ann@example.com")
		upd := u
		upd.Name, upd.UpdatedAt = "Ann — 更新 ✨", later
		upd.Email, upd.Status, upd.StatusAt, upd.CreatedAt = "evil@example.com", authn.StatusBlocked, at(0), at(0) // ignored
		require.NoError(t, f.s.Authn.UpdateUser(f.ctx, upd, changeEvent(t, tn.ID, "user.update")))
		want := u
		want.Name, want.UpdatedAt, want.Version = upd.Name, later, u.Version+1
		assertUser(t, want, f.user(tn.ID, u.ID))

		before := f.accounts(tn.ID, []uuid.UUID{u.ID})
		for _, v := range []int64{u.Version, u.Version + 2, 0} {
			upd.Version = v
			err := f.s.Authn.UpdateUser(f.ctx, upd, changeEvent(t, tn.ID, "user.update"))
			assert.ErrorIs(t, err, storage.ErrStale, "version %d", v)
		}
		ghost := userValue(tn.ID, "ghost@example.com", "Ghost")
		err := f.s.Authn.UpdateUser(f.ctx, ghost, changeEvent(t, tn.ID, "user.update"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		f.assertAccountsUnchanged(before, tn.ID)
	}},
}

var ticketCases = []testCase{
	{"CreateTicket stores a reset link, every field, and revokes the user's earlier open reset link only", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, inv := f.invite(tn, "ann@example.com") // an invited user's invitation is of another purpose
		first := f.createReset(u)
		assertTicket(t, first, f.ticket(first))

		second := resetValue(u)
		second.CreatedAt, second.CreatedBy = resetFrom.Add(time.Minute), uuid.Nil
		ev := changeEvent(t, tn.ID, "user.reset_link")
		require.NoError(t, f.s.Authn.CreateTicket(f.ctx, second, false, ev))
		assert.Equal(t, ev.ID, f.lastEventID(tn.ID))
		first.RevokedAt = second.CreatedAt
		assertTicket(t, first, f.ticket(first))
		assertTicket(t, second, f.ticket(second))
		assertTicket(t, inv, f.ticket(inv))
		assertUser(t, u, f.user(tn.ID, u.ID))
	}},
	{"CreateTicket with clearPassword erases the password hash in the same transaction, and only then", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, _ := f.activeUser(tn, "ann@example.com")
		other, _ := f.activeUser(tn, "bob@example.com")
		f.createReset(u)
		h, err := f.s.Authn.PasswordHash(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		require.NotEmpty(t, h, "a reset link alone keeps the password")
		forced := resetValue(u)
		forced.CreatedAt = resetFrom.Add(time.Minute)
		require.NoError(t, f.s.Authn.CreateTicket(f.ctx, forced, true, changeEvent(t, tn.ID, "user.reset_link")))
		h, err = f.s.Authn.PasswordHash(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Empty(t, h, "a forced reset takes the old password away")
		h, err = f.s.Authn.PasswordHash(f.ctx, tn.ID, other.ID)
		require.NoError(t, err)
		assert.NotEmpty(t, h, "another user's password is untouched")
		assertTicket(t, forced, f.ticket(forced))
	}},
	{"CreateTicket of an invitation, for an unknown user or with a stored ID or token hash fails and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, _ := f.activeUser(tn, "ann@example.com")
		tk := f.createReset(u)
		before := f.accounts(tn.ID, []uuid.UUID{u.ID}, tk)

		inv := resetValue(u)
		inv.Purpose = authn.PurposeInvitation
		assert.Error(t, f.s.Authn.CreateTicket(f.ctx, inv, false, changeEvent(t, tn.ID, "user.reset_link")), "an invitation")
		ghost := resetValue(userValue(tn.ID, "ghost@example.com", "Ghost"))
		assert.ErrorIs(t, f.s.Authn.CreateTicket(f.ctx, ghost, false, changeEvent(t, tn.ID, "user.reset_link")), storage.ErrNotFound)
		dupHash := resetValue(u)
		dupHash.TokenHash = tk.TokenHash
		assert.ErrorIs(t, f.s.Authn.CreateTicket(f.ctx, dupHash, true, changeEvent(t, tn.ID, "user.reset_link")), storage.ErrConflict,
			"a failed forced reset does not erase the password either")
		dupID := resetValue(u)
		dupID.ID = tk.ID
		assert.ErrorIs(t, f.s.Authn.CreateTicket(f.ctx, dupID, true, changeEvent(t, tn.ID, "user.reset_link")), storage.ErrConflict)
		f.assertAccountsUnchanged(before, tn.ID)
	}},
	{"Ticket of an unknown token hash, or of a known hash under another purpose, is ErrNotFound", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		_, inv := f.invite(tn, "ann@example.com")
		_, err := f.s.Authn.Ticket(f.ctx, tn.ID, authn.PurposeInvitation, newTokenHash())
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Authn.Ticket(f.ctx, tn.ID, authn.PurposePasswordReset, inv.TokenHash)
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	{"RevokeTickets revokes the user's open tickets of one purpose and counts them", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, inv := f.activeUser(tn, "ann@example.com")
		tk := f.createReset(u)
		ev := changeEvent(t, tn.ID, "user.revoke_links")
		n, err := f.s.Authn.RevokeTickets(f.ctx, tn.ID, u.ID, authn.PurposePasswordReset, resetAt, ev)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		assert.Equal(t, ev.ID, f.lastEventID(tn.ID))
		tk.RevokedAt = resetAt
		assertTicket(t, tk, f.ticket(tk))
		assertTicket(t, inv, f.ticket(inv))

		// Nothing open any more: none revoked, the event is still appended.
		ev = changeEvent(t, tn.ID, "user.revoke_links")
		n, err = f.s.Authn.RevokeTickets(f.ctx, tn.ID, u.ID, authn.PurposePasswordReset, later, ev)
		require.NoError(t, err)
		assert.Equal(t, 0, n)
		assert.Equal(t, ev.ID, f.lastEventID(tn.ID))
		assertTicket(t, tk, f.ticket(tk))

		// An expired ticket is not open: it is not revoked nor counted.
		expired := f.createReset(u)
		n, err = f.s.Authn.RevokeTickets(f.ctx, tn.ID, u.ID, authn.PurposePasswordReset, expired.ExpiresAt, changeEvent(t, tn.ID, "user.revoke_links"))
		require.NoError(t, err)
		assert.Equal(t, 0, n)
		assertTicket(t, expired, f.ticket(expired))

		_, err = f.s.Authn.RevokeTickets(f.ctx, tn.ID, newID(), authn.PurposePasswordReset, later, changeEvent(t, tn.ID, "user.revoke_links"))
		assert.ErrorIs(t, err, storage.ErrNotFound, "an unknown user")
	}},
	{"ResetPassword consumes an open reset link and sets the password hash only", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, _ := f.activeUser(tn, "ann@example.com")
		tk := f.createReset(u)
		ev := changeEvent(t, tn.ID, "user.reset_password")
		pv := f.policyVersion(tn.ID)
		got, err := f.s.Authn.ResetPassword(f.ctx, tn.ID, tk.TokenHash, resetAt, hashOf("new"), ev)
		require.NoError(t, err)
		assertUser(t, u, got)
		assertUser(t, u, f.user(tn.ID, u.ID))
		assert.Equal(t, hashOf("new"), f.passwordHash(tn.ID, u.ID))
		tk.UsedAt = resetAt
		assertTicket(t, tk, f.ticket(tk))
		assert.Equal(t, ev.ID, f.lastEventID(tn.ID))
		assert.Equal(t, pv, f.policyVersion(tn.ID), "a password reset does not change the policy")

		before := f.accounts(tn.ID, []uuid.UUID{u.ID}, tk)
		_, err = f.s.Authn.ResetPassword(f.ctx, tn.ID, tk.TokenHash, resetAt, hashOf("again"), changeEvent(t, tn.ID, "user.reset_password"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid, "a reset link works once")
		f.assertAccountsUnchanged(before, tn.ID)
	}},
	{"ResetPassword of an expired, revoked or unknown link, or for a user who is not active, is ErrTicketInvalid and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, _ := f.activeUser(tn, "ann@example.com")
		blocked, _ := f.activeUser(tn, "bob@example.com")
		blockedTk := f.createReset(blocked)
		f.setStatus(blocked, authn.StatusBlocked, resetFrom.Add(time.Second))
		revoked := f.createReset(u)
		_, err := f.s.Authn.RevokeTickets(f.ctx, tn.ID, u.ID, authn.PurposePasswordReset, resetFrom.Add(time.Second), changeEvent(t, tn.ID, "user.revoke_links"))
		require.NoError(t, err)
		open := f.createReset(u)
		before := f.accounts(tn.ID, []uuid.UUID{u.ID, blocked.ID}, revoked, open, blockedTk)
		for name, c := range map[string]struct {
			hash [32]byte
			now  time.Time
		}{
			"expired (at ExpiresAt)": {open.TokenHash, open.ExpiresAt},
			"expired (after)":        {open.TokenHash, later},
			"revoked":                {revoked.TokenHash, resetAt},
			"unknown":                {newTokenHash(), resetAt},
			"blocked user":           {blockedTk.TokenHash, resetAt},
		} {
			_, err := f.s.Authn.ResetPassword(f.ctx, tn.ID, c.hash, c.now, hashOf("new"), changeEvent(t, tn.ID, "user.reset_password"))
			assert.ErrorIs(t, err, authn.ErrTicketInvalid, name)
		}
		f.assertAccountsUnchanged(before, tn.ID)
	}},
	// The purpose is part of the lookup: a link of one kind cannot be replayed as the
	// other.
	{"an invitation link is not a reset link, nor the other way round", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		invited, inv := f.invite(tn, "ann@example.com")
		active, _ := f.activeUser(tn, "bob@example.com")
		reset := f.createReset(active)
		before := f.accounts(tn.ID, []uuid.UUID{invited.ID, active.ID}, inv, reset)
		_, err := f.s.Authn.ResetPassword(f.ctx, tn.ID, inv.TokenHash, resetAt, hashOf("x"), changeEvent(t, tn.ID, "user.reset_password"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid)
		_, err = f.s.Authn.AcceptInvitation(f.ctx, tn.ID, reset.TokenHash, resetAt, hashOf("x"), changeEvent(t, tn.ID, "user.accept"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid)
		f.assertAccountsUnchanged(before, tn.ID)
	}},
}

var acceptCases = []testCase{
	{"AcceptInvitation activates the user, consumes the link, creates the memberships and increments the policy version", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p1, p2 := f.createProject(tn.ID, "Sales"), f.createProject(tn.ID, "Support")
		f.createProject(tn.ID, "Not invited to")
		u, tk := f.inviteTo(tn.ID, tn.Supervisor.ID, "ann@example.com", p2.ID, p1.ID)
		pv := f.policyVersion(tn.ID)
		ev := fullEvent(t, tn.ID, acceptedAt)
		got, err := f.s.Authn.AcceptInvitation(f.ctx, tn.ID, tk.TokenHash, acceptedAt, hashOf("ann"), ev)
		require.NoError(t, err)

		want := u
		want.Status, want.StatusAt, want.UpdatedAt, want.Version = authn.StatusActive, acceptedAt, acceptedAt, 2
		assertUser(t, want, got)
		assertUser(t, want, f.user(tn.ID, u.ID))
		assert.Equal(t, hashOf("ann"), f.passwordHash(tn.ID, u.ID))
		tk.UsedAt = acceptedAt
		assertTicket(t, tk, f.ticket(tk))

		pd := f.loadPolicy(tn.ID)
		assert.Equal(t, pv+1, pd.Version, "the policy version is incremented once")
		wantPolicy := policyView(access.PolicyData{
			Members: []access.Member{{Tenant: tn.ID, User: u.ID, Role: tn.Supervisor.ID}},
			ProjectMembers: []access.ProjectMember{
				{Tenant: tn.ID, Project: p1.ID, User: u.ID},
				{Tenant: tn.ID, Project: p2.ID, User: u.ID},
			},
		})
		assert.Equal(t, wantPolicy.Members, pd.Members)
		assert.Equal(t, wantPolicy.ProjectMembers, pd.ProjectMembers)
		events := f.allEvents(tn.ID)
		assertEvent(t, ev, events[len(events)-1])
		verifyChain(t, f.s.Chain, events)
	}},
	{"AcceptInvitation skips the projects deleted since the invitation", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		kept, gone := f.createProject(tn.ID, "Kept"), f.createProject(tn.ID, "Gone")
		u, tk := f.invite(tn, "ann@example.com", gone.ID, kept.ID)
		require.NoError(t, f.s.Access.DeleteProject(f.ctx, tn.ID, gone.ID, changeEvent(t, tn.ID, "project.delete")))
		f.accept(tk)
		assert.Equal(t, []access.ProjectMember{{Tenant: tn.ID, Project: kept.ID, User: u.ID}}, f.loadPolicy(tn.ID).ProjectMembers)
	}},
	// The invitation promised a role that no longer exists: it cannot be honoured, and
	// nothing happens (no member without a role, no active user without a member).
	{"AcceptInvitation after its role was deleted is ErrTicketInvalid and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		role := f.createRole(tn.ID, "Night shift", "calls.view_all")
		p := f.createProject(tn.ID, "Sales")
		u, tk := f.inviteTo(tn.ID, role.ID, "ann@example.com", p.ID)
		require.NoError(t, f.s.Access.DeleteRole(f.ctx, tn.ID, role.ID, changeEvent(t, tn.ID, "role.delete")))
		before := f.accounts(tn.ID, []uuid.UUID{u.ID}, tk)
		_, err := f.s.Authn.AcceptInvitation(f.ctx, tn.ID, tk.TokenHash, acceptedAt, hashOf("ann"), changeEvent(t, tn.ID, "user.accept"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid)
		f.assertAccountsUnchanged(before, tn.ID)
	}},
	{"AcceptInvitation of an expired, used, revoked or unknown link is ErrTicketInvalid and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		pending, open := f.invite(tn, "ann@example.com", p.ID)
		accepted, used := f.activeUser(tn, "bob@example.com", p.ID)
		revokedUser, revoked := f.invite(tn, "cid@example.com", p.ID)
		_, err := f.s.Authn.RevokeTickets(f.ctx, tn.ID, revokedUser.ID, authn.PurposeInvitation, acceptedAt, changeEvent(t, tn.ID, "user.revoke_links"))
		require.NoError(t, err)
		before := f.accounts(tn.ID, []uuid.UUID{pending.ID, accepted.ID, revokedUser.ID}, open, used, revoked)
		for name, c := range map[string]struct {
			hash [32]byte
			now  time.Time
		}{
			"expired (at ExpiresAt)": {open.TokenHash, open.ExpiresAt},
			"expired (after)":        {open.TokenHash, open.ExpiresAt.Add(time.Microsecond)},
			"used":                   {used.TokenHash, acceptedAt},
			"revoked":                {revoked.TokenHash, acceptedAt.Add(time.Second)},
			"unknown":                {newTokenHash(), acceptedAt},
		} {
			_, err := f.s.Authn.AcceptInvitation(f.ctx, tn.ID, c.hash, c.now, hashOf("x"), changeEvent(t, tn.ID, "user.accept"))
			assert.ErrorIs(t, err, authn.ErrTicketInvalid, name)
		}
		f.assertAccountsUnchanged(before, tn.ID)
		pending = f.user(tn.ID, pending.ID)
		assert.Equal(t, authn.StatusInvited, pending.Status)
	}},
	{"AcceptInvitation for a user who is no longer invited is ErrTicketInvalid and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, tk := f.invite(tn, "ann@example.com")
		f.setStatus(u, authn.StatusBlocked, acceptedAt.Add(-time.Minute))
		before := f.accounts(tn.ID, []uuid.UUID{u.ID}, tk)
		_, err := f.s.Authn.AcceptInvitation(f.ctx, tn.ID, tk.TokenHash, acceptedAt, hashOf("ann"), changeEvent(t, tn.ID, "user.accept"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid)
		f.assertAccountsUnchanged(before, tn.ID)
	}},
	{"AcceptInvitation of an unknown tenant is ErrTicketInvalid", func(t *testing.T, f *fx) {
		ghost := newID()
		_, err := f.s.Authn.AcceptInvitation(f.ctx, ghost, newTokenHash(), acceptedAt, hashOf("x"), changeEvent(t, ghost, "user.accept"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid)
		_, err = f.s.Authn.ResetPassword(f.ctx, ghost, newTokenHash(), acceptedAt, hashOf("x"), changeEvent(t, ghost, "user.reset_password"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid)
		assert.Empty(t, f.allEvents(ghost))
	}},
	// An existing tenant membership (set through access.Store before the user
	// accepted) is replaced with the invitation's role, as SetMember would.
	{"AcceptInvitation replaces an existing membership with the invitation's role", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, tk := f.inviteTo(tn.ID, tn.Supervisor.ID, "ann@example.com")
		m := access.Member{Tenant: tn.ID, User: u.ID, Role: tn.Agent.ID, CreatedAt: at(time.Minute), UpdatedAt: at(time.Minute)}
		require.NoError(t, f.s.Access.SetMember(f.ctx, m, changeEvent(t, tn.ID, "member.set")))
		f.accept(tk)
		got, err := f.s.Access.Member(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assertMember(t, access.Member{Tenant: tn.ID, User: u.ID, Role: tn.Supervisor.ID, CreatedAt: m.CreatedAt, UpdatedAt: acceptedAt}, got)
	}},
}

var lifecycleCases = []testCase{
	{"PasswordHash is empty until set; ReplacePasswordHash is a compare-and-swap", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, tk := f.invite(tn, "ann@example.com")
		assert.Equal(t, "", f.passwordHash(tn.ID, u.ID))
		u = f.accept(tk)
		h1 := hashOf(tk.Email)
		assert.Equal(t, h1, f.passwordHash(tn.ID, u.ID))

		ev := changeEvent(t, tn.ID, "user.rehash")
		require.NoError(t, f.s.Authn.ReplacePasswordHash(f.ctx, tn.ID, u.ID, h1, hashOf("v2"), ev))
		assert.Equal(t, hashOf("v2"), f.passwordHash(tn.ID, u.ID))
		assert.Equal(t, ev.ID, f.lastEventID(tn.ID))
		assertUser(t, u, f.user(tn.ID, u.ID)) // Version and UpdatedAt unchanged

		// A rehash computed from the old hash lost the race to a password change.
		before := f.accounts(tn.ID, []uuid.UUID{u.ID})
		err := f.s.Authn.ReplacePasswordHash(f.ctx, tn.ID, u.ID, h1, hashOf("v3"), changeEvent(t, tn.ID, "user.rehash"))
		assert.ErrorIs(t, err, storage.ErrStale)
		err = f.s.Authn.ReplacePasswordHash(f.ctx, tn.ID, newID(), h1, hashOf("v3"), changeEvent(t, tn.ID, "user.rehash"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		f.assertAccountsUnchanged(before, tn.ID)
	}},
	// Blocking and archiving keep the memberships (reports still work) but the policy
	// changes: a blocked member holds no right (access.Member.Disabled), so the
	// policy version moves and every instance recompiles.
	{"SetStatus moves a user from the stored status only, keeping memberships and moving the policy version", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		u, _ := f.activeUser(tn, "ann@example.com", p.ID)
		pd := f.loadPolicy(tn.ID)

		ev := changeEvent(t, tn.ID, "user.block")
		require.NoError(t, f.s.Authn.SetStatus(f.ctx, tn.ID, u.ID, authn.StatusActive, authn.StatusBlocked, later, ev))
		want := u
		want.Status, want.StatusAt, want.UpdatedAt, want.Version = authn.StatusBlocked, later, later, u.Version+1
		assertUser(t, want, f.user(tn.ID, u.ID))
		assert.Equal(t, ev.ID, f.lastEventID(tn.ID))
		after := f.loadPolicy(tn.ID)
		assert.Equal(t, pd.Version+1, after.Version, "the policy version is incremented once")
		require.Len(t, after.Members, 1)
		assert.True(t, after.Members[0].Disabled, "the blocked member is disabled")
		after.Members[0].Disabled = false
		pd.Version = after.Version
		assert.Equal(t, pd, after, "memberships are kept")
		assert.Equal(t, hashOf(u.Email), f.passwordHash(tn.ID, u.ID), "the password is kept")

		before := f.accounts(tn.ID, []uuid.UUID{u.ID})
		err := f.s.Authn.SetStatus(f.ctx, tn.ID, u.ID, authn.StatusActive, authn.StatusBlocked, later, changeEvent(t, tn.ID, "user.block"))
		assert.ErrorIs(t, err, authn.ErrInvalidTransition, "the user is no longer active")
		err = f.s.Authn.SetStatus(f.ctx, tn.ID, newID(), authn.StatusActive, authn.StatusBlocked, later, changeEvent(t, tn.ID, "user.block"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		f.assertAccountsUnchanged(before, tn.ID)

		archived := f.setStatus(want, authn.StatusArchived, later.Add(time.Hour))
		assert.Equal(t, authn.StatusArchived, archived.Status)
		assertTime(t, later.Add(time.Hour), archived.StatusAt, "StatusAt")
	}},
	{"SetStatus to or from deleted, or with an unknown status, is ErrInvalidTransition and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, _ := f.activeUser(tn, "ann@example.com")
		before := f.accounts(tn.ID, []uuid.UUID{u.ID})
		for _, c := range [][2]authn.Status{
			{authn.StatusActive, authn.StatusDeleted},
			{authn.StatusDeleted, authn.StatusActive},
			{authn.StatusActive, "superuser"},
			{"", authn.StatusBlocked},
		} {
			err := f.s.Authn.SetStatus(f.ctx, tn.ID, u.ID, c[0], c[1], later, changeEvent(t, tn.ID, "user.status"))
			assert.ErrorIs(t, err, authn.ErrInvalidTransition, "%s to %s", c[0], c[1])
		}
		f.assertAccountsUnchanged(before, tn.ID)
	}},
	// ASVS 14.2.7 and the lifecycle: a removed user keeps only its ID; memberships go
	// (the policy changes), links die, and the e-mail is free again.
	{"DeleteUser erases the personal data, removes the memberships, revokes open links and increments the policy version", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		u, inv := f.activeUser(tn, "ann@example.com", p.ID)
		reset := f.createReset(u)
		other, _ := f.activeUser(tn, "bob@example.com", p.ID)
		pv := f.policyVersion(tn.ID)

		ev := changeEvent(t, tn.ID, "user.delete")
		deletedAt := resetAt // while the reset link is open
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, u.ID, []authn.Status{authn.StatusActive, authn.StatusBlocked},
			authn.ReasonRemoved, deletedAt, ev))
		want := authn.User{
			ID: u.ID, Tenant: tn.ID, Status: authn.StatusDeleted, StatusAt: deletedAt, DeletedReason: authn.ReasonRemoved,
			CreatedAt: u.CreatedAt, UpdatedAt: deletedAt, Version: u.Version + 1,
		}
		assertUser(t, want, f.user(tn.ID, u.ID))
		assert.Equal(t, "", f.passwordHash(tn.ID, u.ID), "the password hash is erased")
		us, err := f.s.Authn.Users(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{"bob@example.com"}, emails(us))

		pd := f.loadPolicy(tn.ID)
		assert.Equal(t, pv+1, pd.Version)
		assert.Equal(t, []access.Member{{Tenant: tn.ID, User: other.ID, Role: tn.Agent.ID}}, pd.Members)
		assert.Equal(t, []access.ProjectMember{{Tenant: tn.ID, Project: p.ID, User: other.ID}}, pd.ProjectMembers)

		reset.RevokedAt, reset.Email = deletedAt, ""
		assertTicket(t, reset, f.ticket(reset))
		inv.Email = ""
		assertTicket(t, inv, f.ticket(inv))
		assert.Equal(t, ev.ID, f.lastEventID(tn.ID))
		_, err = f.s.Authn.ResetPassword(f.ctx, tn.ID, reset.TokenHash, resetAt, hashOf("x"), changeEvent(t, tn.ID, "user.reset_password"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid)
	}},
	{"DeleteUser of an invited user voids the invitation", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, tk := f.invite(tn, "ann@example.com")
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, u.ID, []authn.Status{authn.StatusInvited}, authn.ReasonRemoved, acceptedAt, changeEvent(t, tn.ID, "user.delete")))
		_, err := f.s.Authn.AcceptInvitation(f.ctx, tn.ID, tk.TokenHash, acceptedAt, hashOf("x"), changeEvent(t, tn.ID, "user.accept"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid)
		assertUser(t, authn.User{ID: u.ID, Tenant: tn.ID, Status: authn.StatusDeleted, StatusAt: acceptedAt,
			DeletedReason: authn.ReasonRemoved, CreatedAt: u.CreatedAt, UpdatedAt: acceptedAt, Version: 2}, f.user(tn.ID, u.ID))
	}},
	{"DeleteUser of a user in a status not listed, or deleted already, is ErrInvalidTransition and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, _ := f.activeUser(tn, "ann@example.com")
		before := f.accounts(tn.ID, []uuid.UUID{u.ID})
		for _, from := range [][]authn.Status{nil, {authn.StatusArchived}, {authn.StatusInvited, authn.StatusBlocked}} {
			err := f.s.Authn.DeleteUser(f.ctx, tn.ID, u.ID, from, authn.ReasonRemoved, later, changeEvent(t, tn.ID, "user.delete"))
			assert.ErrorIs(t, err, authn.ErrInvalidTransition, "from %v", from)
		}
		err := f.s.Authn.DeleteUser(f.ctx, tn.ID, newID(), []authn.Status{authn.StatusActive}, authn.ReasonRemoved, later, changeEvent(t, tn.ID, "user.delete"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		f.assertAccountsUnchanged(before, tn.ID)

		all := []authn.Status{authn.StatusInvited, authn.StatusActive, authn.StatusBlocked, authn.StatusArchived, authn.StatusDeleted}
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, u.ID, all, authn.ReasonRetention, later, changeEvent(t, tn.ID, "user.delete")))
		before = f.accounts(tn.ID, []uuid.UUID{u.ID})
		err = f.s.Authn.DeleteUser(f.ctx, tn.ID, u.ID, all, authn.ReasonRemoved, later.Add(time.Hour), changeEvent(t, tn.ID, "user.delete"))
		assert.ErrorIs(t, err, authn.ErrInvalidTransition, "deleting twice")
		f.assertAccountsUnchanged(before, tn.ID)
		assert.Equal(t, authn.ReasonRetention, f.user(tn.ID, u.ID).DeletedReason)
	}},
	// A tombstone must not get personal data back through any write.
	{"a deleted user is never written again", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, _ := f.activeUser(tn, "ann@example.com")
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, u.ID, []authn.Status{authn.StatusActive}, authn.ReasonRemoved, later, changeEvent(t, tn.ID, "user.delete")))
		gone := f.user(tn.ID, u.ID)
		before := f.accounts(tn.ID, []uuid.UUID{u.ID})

		upd := gone
		upd.Name = "Ann again"
		assert.ErrorIs(t, f.s.Authn.UpdateUser(f.ctx, upd, changeEvent(t, tn.ID, "user.update")), authn.ErrUserDeleted)
		assert.ErrorIs(t, f.s.Authn.ReplacePasswordHash(f.ctx, tn.ID, u.ID, "", hashOf("x"), changeEvent(t, tn.ID, "user.rehash")), authn.ErrUserDeleted)
		assert.ErrorIs(t, f.s.Authn.CreateTicket(f.ctx, resetValue(gone), false, changeEvent(t, tn.ID, "user.reset_link")), authn.ErrUserDeleted)
		assert.ErrorIs(t, f.s.Authn.SetStatus(f.ctx, tn.ID, u.ID, authn.StatusDeleted, authn.StatusActive, later, changeEvent(t, tn.ID, "user.status")), authn.ErrInvalidTransition)
		re := gone
		re.Name, re.Email = "Ann", "ann@example.com"
		assert.ErrorIs(t, f.s.Authn.CreateInvitation(f.ctx, re, invitationValue(re, tn.Agent.ID), changeEvent(t, tn.ID, "user.reinvite")), storage.ErrStale)
		f.assertAccountsUnchanged(before, tn.ID)
	}},
	// The store never sees a plaintext link or password (the service hashes them), so
	// what it can be held to is this: it keeps the hashes it is given exactly, and puts
	// none of them into the audit trail, which holds only the events it was handed.
	{"password and token hashes are stored as given and never reach the audit trail", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, tk := f.invite(tn, "ann@example.com")
		assert.Equal(t, tk.TokenHash, f.ticket(tk).TokenHash)
		f.accept(tk)
		reset := f.createReset(u)
		_, err := f.s.Authn.ResetPassword(f.ctx, tn.ID, reset.TokenHash, resetAt, hashOf("reset"), changeEvent(t, tn.ID, "user.reset_password"))
		require.NoError(t, err)
		require.NoError(t, f.s.Authn.ReplacePasswordHash(f.ctx, tn.ID, u.ID, hashOf("reset"), hashOf("rehash"), changeEvent(t, tn.ID, "user.rehash")))
		assert.Equal(t, hashOf("rehash"), f.passwordHash(tn.ID, u.ID))

		dump := fmt.Sprintf("%+v", f.allEvents(tn.ID))
		assert.NotContains(t, dump, "HASH-SECRET")
		for _, h := range [][32]byte{tk.TokenHash, reset.TokenHash} {
			assert.NotContains(t, dump, fmt.Sprintf("%x", h[:]))
			assert.NotContains(t, dump, fmt.Sprint(h[:]))
		}
	}},
}

var purgeCases = []testCase{
	// ASVS 14.2.7: each tenant's own retention, or the default when it stored none (or
	// stored zero), decides; only archived users qualify, and "older than" is strict.
	{"PurgeCandidates returns the archived users past their own tenant's retention", func(t *testing.T, f *fx) {
		now := at(400 * 24 * time.Hour)
		a, b, c := f.createTenant("Default"), f.createTenant("Thirty days"), f.createTenant("Stored zero")
		require.NoError(t, f.s.Authn.SetSettings(f.ctx, authn.Settings{Tenant: b.ID, Retention: 30 * 24 * time.Hour, UpdatedAt: at(0)},
			changeEvent(t, b.ID, "settings.set")))
		require.NoError(t, f.s.Authn.SetSettings(f.ctx, authn.Settings{Tenant: c.ID, UpdatedAt: at(0)}, changeEvent(t, c.ID, "settings.set")))

		var want []authn.UserRef
		archive := func(tn tenantFx, email string, ago time.Duration, candidate bool) {
			u, _ := f.invite(tn, email)
			f.setStatus(u, authn.StatusArchived, now.Add(-ago))
			if candidate {
				want = append(want, authn.UserRef{Tenant: tn.ID, User: u.ID})
			}
		}
		day := 24 * time.Hour
		archive(a, "a-old@x.io", authn.DefaultRetention+day, true)
		archive(a, "a-young@x.io", authn.DefaultRetention-day, false)
		archive(a, "a-edge@x.io", authn.DefaultRetention, false)
		archive(b, "b-old@x.io", 31*day, true)
		archive(b, "b-young@x.io", 29*day, false)
		archive(b, "b-edge@x.io", 30*day, false)
		archive(b, "b-ancient@x.io", 300*day, true)
		archive(c, "c-old@x.io", authn.DefaultRetention+time.Second, true)
		archive(c, "c-young@x.io", 31*day, false)
		// Users past any retention, but not archived, are not candidates.
		blocked, _ := f.invite(b, "b-blocked@x.io")
		f.setStatus(blocked, authn.StatusBlocked, now.Add(-300*day))
		deleted, _ := f.invite(b, "b-deleted@x.io")
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, b.ID, deleted.ID, []authn.Status{authn.StatusInvited}, authn.ReasonRemoved,
			now.Add(-300*day), changeEvent(t, b.ID, "user.delete")))
		f.invite(a, "a-invited@x.io")

		got, err := f.s.Authn.PurgeCandidates(f.ctx, now, 10000)
		require.NoError(t, err)
		mine := map[uuid.UUID]bool{a.ID: true, b.ID: true, c.ID: true}
		var own []authn.UserRef
		for _, r := range got {
			if mine[r.Tenant] {
				own = append(own, r)
			}
		}
		assert.ElementsMatch(t, want, own)
	}},
	{"PurgeCandidates returns at most limit users, the oldest first; limit 0 returns none", func(t *testing.T, f *fx) {
		now := at(400 * 24 * time.Hour)
		tn := f.createTenant("Acme")
		for i := range 5 {
			u, _ := f.invite(tn, fmt.Sprintf("user%d@x.io", i))
			f.setStatus(u, authn.StatusArchived, now.Add(-authn.DefaultRetention-time.Duration(i+1)*time.Hour))
		}
		got, err := f.s.Authn.PurgeCandidates(f.ctx, now, 3)
		require.NoError(t, err)
		require.Len(t, got, 3)
		var prev time.Time
		for _, r := range got {
			u := f.user(r.Tenant, r.User)
			assert.Equal(t, authn.StatusArchived, u.Status)
			assert.False(t, u.StatusAt.Before(prev), "candidates are ordered oldest first")
			prev = u.StatusAt
		}
		got, err = f.s.Authn.PurgeCandidates(f.ctx, now, 0)
		require.NoError(t, err)
		assert.Empty(t, got)
	}},
}

// accountsFx is a tenant with accounts of each kind: an invited user with an open
// invitation to a project, an active user of that project with an open reset link,
// and stored settings.
type accountsFx struct {
	tenantFx
	Project          access.Project
	Invited, Active  authn.User
	Invitation, Used authn.Ticket
	Reset            authn.Ticket
}

func (f *fx) accountsTenant(name string) accountsFx {
	f.t.Helper()
	tn := accountsFx{tenantFx: f.createTenant(name)}
	tn.Project = f.createProject(tn.ID, "Sales")
	tn.Invited, tn.Invitation = f.invite(tn.tenantFx, "ann@example.com", tn.Project.ID)
	tn.Active, tn.Used = f.activeUser(tn.tenantFx, "bob@example.com", tn.Project.ID)
	tn.Reset = f.createReset(tn.Active)
	require.NoError(f.t, f.s.Authn.SetSettings(f.ctx, authn.Settings{Tenant: tn.ID, PasswordMode: "classes", UpdatedAt: at(0)},
		changeEvent(f.t, tn.ID, "settings.set")))
	return tn
}

func (p accountsFx) snapshot(f *fx) accountsSnapshot {
	return f.accounts(p.ID, []uuid.UUID{p.Invited.ID, p.Active.ID}, p.Invitation, p.Used, p.Reset)
}

var authnIsolationCases = []testCase{
	// ASVS 8.2.2 / 8.4.1 for accounts: every method given tenant B and one of tenant
	// A's IDs, e-mails or token hashes answers as if it did not exist, and changes
	// nothing in either tenant.
	{"every method given tenant B and tenant A's user, e-mail or link answers not found and changes nothing", func(t *testing.T, f *fx) {
		a, b := f.accountsTenant("A"), f.accountsTenant("B")
		// B's users are new users of B: distinct IDs, same e-mails as A's.
		beforeA, beforeB := a.snapshot(f), b.snapshot(f)
		ev := func(action string) audit.Event { return changeEvent(t, b.ID, action) }
		notFound := map[string]error{}
		_, notFound["User"] = f.s.Authn.User(f.ctx, b.ID, a.Active.ID)
		_, notFound["PasswordHash"] = f.s.Authn.PasswordHash(f.ctx, b.ID, a.Active.ID)
		_, notFound["Ticket"] = f.s.Authn.Ticket(f.ctx, b.ID, authn.PurposeInvitation, a.Invitation.TokenHash)
		_, notFound["Ticket (reset)"] = f.s.Authn.Ticket(f.ctx, b.ID, authn.PurposePasswordReset, a.Reset.TokenHash)
		_, notFound["OpenInvitation"] = f.s.Authn.OpenInvitation(f.ctx, b.ID, a.Invited.ID, acceptedAt)
		_, notFound["RevokeTickets"] = f.s.Authn.RevokeTickets(f.ctx, b.ID, a.Active.ID, authn.PurposePasswordReset, resetAt, ev("user.revoke_links"))
		upd := a.Active
		upd.Tenant, upd.Name = b.ID, "Hijacked"
		notFound["UpdateUser"] = f.s.Authn.UpdateUser(f.ctx, upd, ev("user.update"))
		notFound["ReplacePasswordHash"] = f.s.Authn.ReplacePasswordHash(f.ctx, b.ID, a.Active.ID, hashOf(a.Active.Email), hashOf("evil"), ev("user.rehash"))
		notFound["SetStatus"] = f.s.Authn.SetStatus(f.ctx, b.ID, a.Active.ID, authn.StatusActive, authn.StatusBlocked, later, ev("user.block"))
		notFound["DeleteUser"] = f.s.Authn.DeleteUser(f.ctx, b.ID, a.Active.ID, []authn.Status{authn.StatusActive}, authn.ReasonRemoved, later, ev("user.delete"))
		reset := resetValue(a.Active)
		reset.Tenant = b.ID
		notFound["CreateTicket"] = f.s.Authn.CreateTicket(f.ctx, reset, false, ev("user.reset_link"))
		re := a.Invited
		re.Tenant = b.ID
		notFound["CreateInvitation (re-invite)"] = f.s.Authn.CreateInvitation(f.ctx, re, invitationValue(re, b.Agent.ID), ev("user.reinvite"))
		for name, err := range notFound {
			assert.ErrorIs(t, err, storage.ErrNotFound, name)
		}
		_, err := f.s.Authn.AcceptInvitation(f.ctx, b.ID, a.Invitation.TokenHash, acceptedAt, hashOf("evil"), ev("user.accept"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid, "AcceptInvitation")
		_, err = f.s.Authn.ResetPassword(f.ctx, b.ID, a.Reset.TokenHash, resetAt, hashOf("evil"), ev("user.reset_password"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid, "ResetPassword")

		f.assertAccountsUnchanged(beforeA, a.ID)
		f.assertAccountsUnchanged(beforeB, b.ID)
	}},
	{"list and e-mail lookups of tenant B return tenant B's users only", func(t *testing.T, f *fx) {
		a, b := f.accountsTenant("A"), f.accountsTenant("B")
		for _, tn := range []accountsFx{a, b} {
			us, err := f.s.Authn.Users(f.ctx, tn.ID)
			require.NoError(t, err)
			if assert.Len(t, us, 2) {
				assertUser(t, tn.Invited, us[0])
				assertUser(t, f.user(tn.ID, tn.Active.ID), us[1])
			}
			got, err := f.s.Authn.UserByEmail(f.ctx, tn.ID, "ann@example.com")
			require.NoError(t, err)
			assert.Equal(t, tn.Invited.ID, got.ID)
			st, err := f.s.Authn.Settings(f.ctx, tn.ID)
			require.NoError(t, err)
			assert.Equal(t, tn.ID, st.Tenant)
		}
		// A's settings change leaves B's alone.
		require.NoError(t, f.s.Authn.SetSettings(f.ctx, authn.Settings{Tenant: a.ID, PasswordMode: "nist", UpdatedAt: later, Version: 1},
			changeEvent(t, a.ID, "settings.set")))
		st, err := f.s.Authn.Settings(f.ctx, b.ID)
		require.NoError(t, err)
		assert.Equal(t, "classes", st.PasswordMode)
		assert.Equal(t, int64(1), st.Version)
	}},
	// A change in one tenant never writes into another tenant's audit chain.
	{"an authn mutation whose event belongs to another tenant is ErrInvalidEvent and changes nothing", func(t *testing.T, f *fx) {
		a, b := f.accountsTenant("A"), f.accountsTenant("B")
		beforeA, beforeB := a.snapshot(f), b.snapshot(f)
		for _, m := range authnMutations(a) {
			err := m.do(f, changeEvent(t, b.ID, "cross.tenant"))
			assert.ErrorIs(t, err, audit.ErrInvalidEvent, m.name)
		}
		f.assertAccountsUnchanged(beforeA, a.ID)
		f.assertAccountsUnchanged(beforeB, b.ID)
	}},
}

// authnMutation is one authn mutation of a accountsFx; each succeeds when run once,
// in order, on a fresh pair.
type authnMutation struct {
	name string
	do   func(f *fx, ev audit.Event) error
}

func authnMutations(p accountsFx) []authnMutation {
	newcomer := userValue(p.ID, "cid@example.com", "Cid")
	reinvited := newcomer
	reinvited.Name, reinvited.Version = "Cid Again", 1
	return []authnMutation{
		{"SetSettings", func(f *fx, ev audit.Event) error {
			return f.s.Authn.SetSettings(f.ctx, authn.Settings{Tenant: p.ID, UpdatedAt: later, Version: 1}, ev)
		}},
		{"CreateInvitation (new user)", func(f *fx, ev audit.Event) error {
			return f.s.Authn.CreateInvitation(f.ctx, newcomer, invitationValue(newcomer, p.Agent.ID), ev)
		}},
		{"CreateInvitation (re-invite)", func(f *fx, ev audit.Event) error {
			return f.s.Authn.CreateInvitation(f.ctx, reinvited, invitationValue(reinvited, p.Agent.ID), ev)
		}},
		{"RevokeTickets", func(f *fx, ev audit.Event) error {
			_, err := f.s.Authn.RevokeTickets(f.ctx, p.ID, newcomer.ID, authn.PurposeInvitation, acceptedAt, ev)
			return err
		}},
		{"AcceptInvitation", func(f *fx, ev audit.Event) error {
			_, err := f.s.Authn.AcceptInvitation(f.ctx, p.ID, p.Invitation.TokenHash, acceptedAt, hashOf("ann"), ev)
			return err
		}},
		{"ResetPassword", func(f *fx, ev audit.Event) error {
			_, err := f.s.Authn.ResetPassword(f.ctx, p.ID, p.Reset.TokenHash, resetAt, hashOf("reset"), ev)
			return err
		}},
		{"CreateTicket", func(f *fx, ev audit.Event) error {
			return f.s.Authn.CreateTicket(f.ctx, resetValue(p.Active), false, ev)
		}},
		{"UpdateUser", func(f *fx, ev audit.Event) error {
			u, err := f.s.Authn.User(f.ctx, p.ID, p.Active.ID)
			if err != nil {
				return err
			}
			u.Name = "Renamed"
			return f.s.Authn.UpdateUser(f.ctx, u, ev)
		}},
		{"ReplacePasswordHash", func(f *fx, ev audit.Event) error {
			h, err := f.s.Authn.PasswordHash(f.ctx, p.ID, p.Active.ID)
			if err != nil {
				return err
			}
			return f.s.Authn.ReplacePasswordHash(f.ctx, p.ID, p.Active.ID, h, h+"-rehashed", ev)
		}},
		{"SetStatus", func(f *fx, ev audit.Event) error {
			return f.s.Authn.SetStatus(f.ctx, p.ID, p.Active.ID, authn.StatusActive, authn.StatusBlocked, later, ev)
		}},
		{"DeleteUser", func(f *fx, ev audit.Event) error {
			return f.s.Authn.DeleteUser(f.ctx, p.ID, p.Active.ID, []authn.Status{authn.StatusBlocked}, authn.ReasonRemoved, later, ev)
		}},
	}
}

var authnUnitCases = []testCase{
	// Each mutation and its event are one transaction: with an event that cannot be
	// appended (its ID is stored already) the mutation does not happen either; with a
	// good event it happens, appends exactly that event, and changes the policy
	// version only if it changes memberships.
	{"every authn mutation happens together with its event, or not at all", func(t *testing.T, f *fx) {
		p := f.accountsTenant("Acme")
		bumps := map[string]bool{"AcceptInvitation": true, "DeleteUser": true, "SetStatus": true}
		for _, m := range authnMutations(p) {
			before := p.snapshot(f)
			dup := changeEvent(t, p.ID, "dup.event")
			dup.ID = before.Events[len(before.Events)-1].ID
			err := m.do(f, dup)
			assert.ErrorIs(t, err, storage.ErrConflict, "%s with an event ID already stored", m.name)
			f.assertAccountsUnchanged(before, p.ID, m.name)

			ev := fullEvent(t, p.ID, later)
			require.NoError(t, m.do(f, ev), m.name)
			events := f.allEvents(p.ID)
			if assert.Len(t, events, len(before.Events)+1, "%s: one event appended", m.name) {
				assertEvent(t, ev, events[len(events)-1])
			}
			verifyChain(t, f.s.Chain, events)
			want := before.Policy.Version
			if bumps[m.name] {
				want++
			}
			assert.Equal(t, want, f.policyVersion(p.ID), "%s: policy version", m.name)
		}
	}},
}

// acceptRacers is how many goroutines race to accept one invitation.
const acceptRacers = 100

var authnConcurrencyCases = []testCase{
	// Single use under concurrency (the invitation requirement; DESIGN "races are
	// settled by the store"): of many simultaneous acceptances of one link, exactly one
	// succeeds, and only its effects and its event are stored.
	{"100 concurrent AcceptInvitation of one link: exactly one succeeds", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		u, tk := f.invite(tn, "ann@example.com", p.ID)
		pv := f.policyVersion(tn.ID)
		eventsBefore := len(f.allEvents(tn.ID))
		evs := make([]audit.Event, acceptRacers)
		for i := range evs {
			evs[i] = changeEvent(t, tn.ID, "user.accept")
		}
		errs := race(acceptRacers, func(i int) error {
			_, err := f.s.Authn.AcceptInvitation(f.ctx, tn.ID, tk.TokenHash, acceptedAt, hashOf(fmt.Sprint(i)), evs[i])
			return err
		})
		winner := oneWinner(t, errs, authn.ErrTicketInvalid)
		require.NotEqual(t, -1, winner, "no acceptance succeeded")
		assert.Equal(t, hashOf(fmt.Sprint(winner)), f.passwordHash(tn.ID, u.ID), "the winner's password is stored")
		assert.Equal(t, int64(2), f.user(tn.ID, u.ID).Version, "the user was activated once")
		assert.Equal(t, pv+1, f.policyVersion(tn.ID), "the policy changed once")
		events := f.allEvents(tn.ID)
		if assert.Len(t, events, eventsBefore+1, "exactly one event appended") {
			assert.Equal(t, evs[winner].ID, events[len(events)-1].ID)
		}
		verifyChain(t, f.s.Chain, events)
		pd, err := f.s.Access.LoadPolicy(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Len(t, pd.Members, 1)
		assert.Len(t, pd.ProjectMembers, 1)
	}},
	{"concurrent ResetPassword of one link: exactly one succeeds", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, _ := f.activeUser(tn, "ann@example.com")
		tk := f.createReset(u)
		evs := make([]audit.Event, writers)
		for i := range evs {
			evs[i] = changeEvent(t, tn.ID, "user.reset_password")
		}
		errs := race(writers, func(i int) error {
			_, err := f.s.Authn.ResetPassword(f.ctx, tn.ID, tk.TokenHash, resetAt, hashOf(fmt.Sprint(i)), evs[i])
			return err
		})
		winner := oneWinner(t, errs, authn.ErrTicketInvalid)
		if winner >= 0 {
			assert.Equal(t, hashOf(fmt.Sprint(winner)), f.passwordHash(tn.ID, u.ID))
		}
	}},
	{"concurrent invitations of one e-mail: exactly one succeeds", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		users := make([]authn.User, writers)
		tks := make([]authn.Ticket, writers)
		evs := make([]audit.Event, writers)
		for i := range writers {
			users[i] = userValue(tn.ID, "ann@example.com", fmt.Sprint("Ann ", i))
			tks[i] = invitationValue(users[i], tn.Agent.ID)
			evs[i] = changeEvent(t, tn.ID, "user.invite")
		}
		errs := race(writers, func(i int) error { return f.s.Authn.CreateInvitation(f.ctx, users[i], tks[i], evs[i]) })
		winner := oneWinner(t, errs, storage.ErrConflict)
		us, err := f.s.Authn.Users(f.ctx, tn.ID)
		require.NoError(t, err)
		if assert.Len(t, us, 1) && winner >= 0 {
			assert.Equal(t, users[winner].ID, us[0].ID)
		}
	}},
	// A sign-in rehash racing with password changes never overwrites them.
	{"concurrent ReplacePasswordHash from one old hash: exactly one succeeds", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, _ := f.activeUser(tn, "ann@example.com")
		old := f.passwordHash(tn.ID, u.ID)
		evs := make([]audit.Event, writers)
		for i := range evs {
			evs[i] = changeEvent(t, tn.ID, "user.rehash")
		}
		errs := race(writers, func(i int) error {
			return f.s.Authn.ReplacePasswordHash(f.ctx, tn.ID, u.ID, old, hashOf(fmt.Sprint(i)), evs[i])
		})
		if winner := oneWinner(t, errs, storage.ErrStale); winner >= 0 {
			assert.Equal(t, hashOf(fmt.Sprint(winner)), f.passwordHash(tn.ID, u.ID))
		}
	}},
}

// oneWinner checks that exactly one of errs is nil and every other is loser, and
// returns the winner's index (-1 if there is none).
func oneWinner(t *testing.T, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		if err == nil {
			assert.Equal(t, -1, winner, "two racers succeeded")
			winner = i
			continue
		}
		assert.ErrorIs(t, err, loser, "racer %d", i)
	}
	assert.NotEqual(t, -1, winner, "no racer succeeded")
	return winner
}
