package authn

import (
	"context"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// Store keeps accounts, one-time links (invitations, password resets) and account
// settings. It is implemented by storage/memory and storage/sqlstore over the same
// database as access.Store, because some of its units of work change access data too
// (accepting an invitation creates the membership; deleting a user removes it).
// storage/storetest holds every implementation to this contract.
//
// Rules every implementation follows (besides those of access.Store):
//   - Every method is scoped by tenant; another tenant's IDs are storage.ErrNotFound.
//   - Every mutation is one transaction that also appends its audit event(s).
//   - Single-use things are consumed with a conditional write, so that of two racing
//     calls (also from two app instances on one database) at most one succeeds.
//   - E-mails are unique per tenant among users that are not deleted
//     (storage.ErrConflict).
type Store interface {
	IdentityStore  // linked identities (store_identity.go)
	SessionStore   // sessions, pending sign-ins, session settings (store_session.go)
	TwoFactorStore // second factors: store_twofactor.go

	// Settings returns a tenant's stored settings, or storage.ErrNotFound if none were
	// ever stored (the defaults apply).
	Settings(ctx context.Context, tenant uuid.UUID) (Settings, error)
	// SetSettings stores s; s.Version must be the stored version (0 when none is stored)
	// or it fails with storage.ErrStale. The stored version becomes s.Version+1.
	SetSettings(ctx context.Context, s Settings, ev audit.Event) error

	// CreateInvitation stores an invitation ticket t for user u. If u.Version is 0, u is
	// a new user (status invited) and is inserted with Version 1. Otherwise u must be
	// stored with that Version and status invited (storage.ErrStale otherwise); it is
	// stored with u's Name and UpdatedAt at Version+1, and its open invitations are
	// revoked at t.CreatedAt: a re-invite voids the earlier link.
	CreateInvitation(ctx context.Context, u User, t Ticket, ev audit.Event) error
	// CreateTicket stores a ticket of another purpose (password reset) for an existing
	// user, revoking the user's open tickets of the same purpose at t.CreatedAt. With
	// clearPassword the user's password hash is erased in the same transaction, so that
	// an administrator's forced reset takes the old password away at once.
	CreateTicket(ctx context.Context, t Ticket, clearPassword bool, ev audit.Event) error
	// Ticket returns the ticket of this purpose with this token hash.
	Ticket(ctx context.Context, tenant uuid.UUID, purpose Purpose, tokenHash [32]byte) (Ticket, error)
	// OpenInvitation returns the user's newest invitation (greatest CreatedAt, then
	// greatest ID) that is open at now (Ticket.Open), or storage.ErrNotFound if the user
	// has none (an unknown user or tenant included). The role it promises is the one
	// the service judges a user without a membership by.
	OpenInvitation(ctx context.Context, tenant, user uuid.UUID, now time.Time) (Ticket, error)
	// RevokeTickets revokes the user's open tickets of a purpose at `at` and returns
	// how many were revoked.
	RevokeTickets(ctx context.Context, tenant, user uuid.UUID, purpose Purpose, at time.Time, ev audit.Event) (int, error)
	// DeleteExpiredTickets removes the tickets, of every tenant, whose ExpiresAt is
	// not after now (used, revoked or neither: none of them can be used again) and
	// returns how many. It touches no ticket that expires after now, of any tenant,
	// nor the tickets' users, and appends no event. It is a cross-tenant write for
	// the cleanup job only (Service.CleanupSessions).
	DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error)

	// AcceptInvitation consumes the invitation with this token hash if, and only if, it
	// is open at now (unused, unrevoked, ExpiresAt after now) and its user is invited:
	// it marks the ticket used, sets the user's password hash, status active and
	// StatusAt now (Version+1), creates the user's tenant membership with the ticket's
	// role and a project membership for each of the ticket's projects that still exists,
	// increments the tenant's policy version and appends ev — all or nothing. Otherwise
	// it returns ErrTicketInvalid and changes nothing. It returns the activated user.
	AcceptInvitation(ctx context.Context, tenant uuid.UUID, tokenHash [32]byte, now time.Time, passwordHash string, ev audit.Event) (User, error)
	// ResetPassword consumes an open password-reset ticket the same way and sets the
	// user's password hash; the user must be active (ErrTicketInvalid otherwise).
	ResetPassword(ctx context.Context, tenant uuid.UUID, tokenHash [32]byte, now time.Time, passwordHash string, ev audit.Event) (User, error)

	// User returns a user, deleted ones (tombstones) included.
	User(ctx context.Context, tenant, id uuid.UUID) (User, error)
	// UserByEmail returns the user who is not deleted with this normalised e-mail.
	UserByEmail(ctx context.Context, tenant uuid.UUID, email string) (User, error)
	// Users returns the tenant's users that are not deleted, ordered by e-mail.
	Users(ctx context.Context, tenant uuid.UUID) ([]User, error)
	// UpdateUser stores u's Name and UpdatedAt, conditional on u.Version.
	UpdateUser(ctx context.Context, u User, ev audit.Event) error

	// PasswordHash returns the user's encoded password hash ("" if none is set).
	PasswordHash(ctx context.Context, tenant, user uuid.UUID) (string, error)
	// ReplacePasswordHash sets the user's password hash to newHash if, and only if, it is
	// still oldHash (storage.ErrStale otherwise): a rehash on sign-in never overwrites a
	// password changed meanwhile.
	ReplacePasswordHash(ctx context.Context, tenant, user uuid.UUID, oldHash, newHash string, ev audit.Event) error

	// SetStatus moves the user from status `from` to `to` at `at` (StatusAt, UpdatedAt,
	// Version+1) if, and only if, the stored status is `from` (ErrInvalidTransition
	// otherwise). Memberships are kept: a blocked or archived user's data stays for
	// reports. `to` must not be StatusDeleted (use DeleteUser). Moving a user from
	// active to another status when they are an Admin member of the tenant and no
	// other Admin member who can sign in (whose user is active, or who has no user)
	// would remain is access.ErrLastAdmin, settled under the tenant's lock like
	// access.Store's last-Admin rule, and nothing changes.
	SetStatus(ctx context.Context, tenant, user uuid.UUID, from, to Status, at time.Time, ev audit.Event) error
	// DeleteUser turns a user whose status is one of `from` into a tombstone at `at`:
	// status deleted with reason, e-mail, name and password hash erased, tenant and
	// project memberships removed (policy version incremented), open tickets revoked.
	// A user in another status is ErrInvalidTransition and nothing changes. Deleting
	// the tenant's last Admin member, or an active Admin member when no other Admin
	// member who can sign in would remain, is access.ErrLastAdmin and nothing changes.
	DeleteUser(ctx context.Context, tenant, user uuid.UUID, from []Status, reason string, at time.Time, ev audit.Event) error

	// PurgeCandidates returns archived users, of any tenant, whose StatusAt is older
	// than their tenant's retention (Settings.Retention, or DefaultRetention when the
	// tenant has no settings) at now, at most limit of them. It is the one cross-tenant
	// read, for the purge job only, and returns IDs only.
	PurgeCandidates(ctx context.Context, now time.Time, limit int) ([]UserRef, error)
}

// UserRef names a user of a tenant.
type UserRef struct {
	Tenant uuid.UUID
	User   uuid.UUID
}
