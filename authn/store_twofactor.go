package authn

import (
	"context"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// TwoFactor is a user's active second factor (TOTP) as stored. The secret is only ever
// stored sealed (totp.Sealer, bound with totp.BindAAD to the tenant, the user and the
// default totp.Config), never in clear.
type TwoFactor struct {
	Tenant uuid.UUID
	User   uuid.UUID
	// Sealed is the sealed TOTP secret.
	Sealed []byte
	// LastStep is the last time step accepted (replay protection): only a later step
	// is ever accepted again.
	LastStep int64
	// EnabledAt is when the user confirmed the enrolment.
	EnabledAt time.Time
}

// TwoFactorEnrolment is a started, unconfirmed enrolment ("Connect" pressed, no code
// typed yet). Its secret lives only sealed here, between start and confirm, so that
// any app instance can confirm it; it is never in a cookie or in clear.
type TwoFactorEnrolment struct {
	Tenant uuid.UUID
	User   uuid.UUID
	// Sealed is the sealed secret, under associated data distinct from an active
	// secret's (see the service), so that a pending secret cannot be copied into the
	// active row.
	Sealed    []byte
	CreatedAt time.Time
	// ExpiresAt: after it, the enrolment cannot be confirmed.
	ExpiresAt time.Time
}

// TwoFactorStore keeps second factors: the active factor per user (sealed secret and
// last used step), its recovery codes (SHA-256 hashes only) and pending enrolments.
// It is part of [Store]; storage/storetest holds every implementation to it.
//
// Rules besides those of [Store]: every method is tenant-scoped (another tenant's user
// is storage.ErrNotFound), but for the cross-tenant ones of the system jobs
// (DeleteExpiredTwoFactorEnrolments, SealedTwoFactors), whose docs say so; single-use
// things are consumed by a conditional write, so of concurrent calls, on one instance
// or many sharing a database, at most one succeeds; a deleted user (tombstone) keeps
// none of these rows (DeleteUser erases them).
type TwoFactorStore interface {
	// SetTwoFactorEnrolment stores e as the user's pending enrolment, replacing an
	// earlier one, and appends ev. The user must exist and not be deleted
	// (storage.ErrNotFound, ErrUserDeleted), and must not have an active factor
	// (storage.ErrConflict): enrolling again needs turning the factor off first.
	SetTwoFactorEnrolment(ctx context.Context, e TwoFactorEnrolment, ev audit.Event) error
	// TwoFactorEnrolment returns the user's pending enrolment, expired or not, or
	// storage.ErrNotFound.
	TwoFactorEnrolment(ctx context.Context, tenant, user uuid.UUID) (TwoFactorEnrolment, error)
	// DeleteExpiredTwoFactorEnrolments removes the pending enrolments, of every
	// tenant, whose ExpiresAt is not after now (EnableTwoFactor refuses them) and
	// returns how many. It touches no enrolment that expires after now, of any
	// tenant, no active factor and no recovery code, and appends no event. It is a
	// cross-tenant write for the cleanup job only (Service.CleanupSessions).
	DeleteExpiredTwoFactorEnrolments(ctx context.Context, now time.Time) (int, error)
	// EnableTwoFactor confirms the user's pending enrolment if, and only if, it is
	// still the one whose sealed secret is pending and it is open at f.EnabledAt
	// (ExpiresAt after it): it deletes the enrolment, stores f as the active factor
	// (f.Sealed, the secret sealed anew for the active row, and f.LastStep, the
	// confirming code's step), stores the recovery-code hashes (each 32 bytes; any
	// other length is an error and nothing changes) and appends ev, all or nothing.
	// Otherwise (no such enrolment, replaced, expired, confirmed meanwhile) it returns
	// storage.ErrNotFound and changes nothing.
	EnableTwoFactor(ctx context.Context, f TwoFactor, pending []byte, recovery [][]byte, ev audit.Event) error
	// TwoFactor returns the user's active factor, or storage.ErrNotFound.
	TwoFactor(ctx context.Context, tenant, user uuid.UUID) (TwoFactor, error)
	// UseTOTPStep records step as the user's last used step if, and only if, it is
	// after the stored one (UPDATE … SET last_step = $step WHERE … AND last_step <
	// $step), and reports whether it did. Of concurrent calls with one step, one
	// reports true. storage.ErrNotFound if the user has no active factor. It writes no
	// audit event: the sign-in it is part of writes the login-log event.
	UseTOTPStep(ctx context.Context, tenant, user uuid.UUID, step int64) (bool, error)
	// RecoveryCodeHashes returns the hashes of the user's unused recovery codes (empty
	// when there are none, or no active factor).
	RecoveryCodeHashes(ctx context.Context, tenant, user uuid.UUID) ([][]byte, error)
	// UseRecoveryCode deletes the user's unused recovery code with this hash, if it is
	// still there, appends ev and returns how many remain; with ok false (and no event)
	// when the hash is not, or no longer, among them. Of concurrent calls with one
	// hash, one reports ok.
	UseRecoveryCode(ctx context.Context, tenant, user uuid.UUID, hash []byte, ev audit.Event) (remaining int, ok bool, err error)
	// ReplaceRecoveryCodes voids the user's recovery codes and stores hashes (each 32
	// bytes) instead, appending ev. storage.ErrNotFound if the user has no active
	// factor.
	ReplaceRecoveryCodes(ctx context.Context, tenant, user uuid.UUID, hashes [][]byte, ev audit.Event) error
	// DisableTwoFactor deletes the user's active factor, recovery codes and pending
	// enrolment and appends ev. storage.ErrNotFound if the user has neither an active
	// factor nor a pending enrolment (nothing changes, no event).
	DisableTwoFactor(ctx context.Context, tenant, user uuid.UUID, ev audit.Event) error
	// TwoFactorUsers returns the IDs of the tenant's users with an active factor, in
	// no particular order (for the user list's "has 2FA").
	TwoFactorUsers(ctx context.Context, tenant uuid.UUID) ([]uuid.UUID, error)

	// SealedTwoFactors returns up to limit active factors, of every tenant, that come
	// after the factor named by after in the order of (tenant ID, user ID) compared as
	// bytes; the zero UserRef starts at the first. Passing the last one returned as
	// the next after visits every factor that exists throughout the walk exactly once.
	// A limit of 0 or less returns none, and one above [SealedPageMax] is
	// SealedPageMax. It is a cross-tenant read for the reseal job only
	// (Service.ResealSecrets); it appends no event.
	SealedTwoFactors(ctx context.Context, after UserRef, limit int) ([]TwoFactor, error)
	// ReplaceTwoFactorSecret replaces the sealed secret of the user's active factor by
	// sealed if, and only if, the stored one is still old, byte for byte (a compare
	// and swap): storage.ErrStale if it is another (the factor was turned off and
	// enrolled again, or resealed by another run), storage.ErrNotFound if the user has
	// no active factor (another tenant's user included). It changes nothing else (not
	// LastStep, not the recovery codes) and appends no event: the reseal job records
	// one event per run. An empty sealed is an error and nothing changes.
	ReplaceTwoFactorSecret(ctx context.Context, tenant, user uuid.UUID, old, sealed []byte) error
}

// SealedPageMax bounds the page of a store's cross-tenant walks of sealed values
// ([TwoFactorStore.SealedTwoFactors], [IdentityStore.SealedIdentityTokens]).
const SealedPageMax = 1000
