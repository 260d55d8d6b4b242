package authn

import (
	"context"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// IdentityStore keeps linked identities (a user's Google, Facebook or other OpenID
// Connect account) and the short-lived state of the authorization-code flows that
// create and use them. It is part of [Store]; storage/storetest holds every adapter to
// it.
//
// Rules besides those of Store:
//   - An identity is keyed by (tenant, issuer, subject), never by e-mail: one (issuer,
//     subject) belongs to at most one user of a tenant, settled by the store when two
//     links race (storage.ErrConflict for the loser).
//   - Flow rows are protocol state, not account data: creating and consuming them
//     appends no audit event (the outcome of the flow is recorded instead). Consuming a
//     flow removes it, so that of two racing consumptions at most one gets it.
//   - DeleteUser removes the user's identities with the rest of their personal data.
type IdentityStore interface {
	// CreateIdentityFlow stores a flow. An unknown tenant is storage.ErrNotFound; a
	// token hash already stored is storage.ErrConflict. It also removes the tenant's
	// flows that expired before f.CreatedAt.
	CreateIdentityFlow(ctx context.Context, f IdentityFlow) error
	// ConsumeIdentityFlow removes and returns the tenant's flow with this token hash if,
	// and only if, it expires after now; otherwise (unknown, consumed, expired, another
	// tenant) it returns ErrFlowInvalid.
	ConsumeIdentityFlow(ctx context.Context, tenant uuid.UUID, tokenHash [32]byte, now time.Time) (IdentityFlow, error)
	// DeleteExpiredIdentityFlows removes the flows, of every tenant, whose ExpiresAt is
	// not after now (those ConsumeIdentityFlow refuses), and returns how many. It is
	// for the cleanup job; it appends no audit event.
	DeleteExpiredIdentityFlows(ctx context.Context, now time.Time) (int, error)

	// CreateIdentity stores id, a pending identity of an existing user who is not
	// deleted (storage.ErrNotFound, ErrUserDeleted). An identity of the tenant with the
	// same issuer and subject is replaced if it is pending and either of the same user
	// or its confirmation expired at now; any other is storage.ErrConflict, and nothing
	// changes. An ID or confirmation hash already stored is storage.ErrConflict.
	CreateIdentity(ctx context.Context, id Identity, now time.Time, ev audit.Event) error
	// IdentityByConfirmation returns the tenant's pending identity with this
	// confirmation hash, whatever its expiry, or storage.ErrNotFound.
	IdentityByConfirmation(ctx context.Context, tenant uuid.UUID, confirmHash [32]byte) (Identity, error)
	// ConfirmIdentity activates the tenant's pending identity with this confirmation
	// hash if, and only if, its confirmation expires after now and its user is not
	// deleted: Status active, ConfirmedAt now, the confirmation hash erased (a link is
	// used once). Otherwise it returns ErrTicketInvalid and changes nothing.
	ConfirmIdentity(ctx context.Context, tenant uuid.UUID, confirmHash [32]byte, now time.Time, ev audit.Event) (Identity, error)
	// Identity returns one identity of the tenant, or storage.ErrNotFound.
	Identity(ctx context.Context, tenant, id uuid.UUID) (Identity, error)
	// IdentityBySubject returns the tenant's identity (pending or active) with this
	// issuer and subject, compared exactly, or storage.ErrNotFound.
	IdentityBySubject(ctx context.Context, tenant uuid.UUID, issuer, subject string) (Identity, error)
	// Identities returns the user's identities, oldest first (then by ID); none is an
	// empty list, an unknown tenant storage.ErrNotFound.
	Identities(ctx context.Context, tenant, user uuid.UUID) ([]Identity, error)
	// SetIdentityToken replaces the sealed provider token of the user's active identity
	// id (storage.ErrNotFound if the user has no such active identity).
	SetIdentityToken(ctx context.Context, tenant, user, id uuid.UUID, sealed []byte, ev audit.Event) error
	// DeleteIdentity removes the user's identity id (storage.ErrNotFound if the user
	// has no such identity). With keepSignIn, removing an active identity when the user
	// would be left with neither a password hash nor another active identity is
	// ErrLastSignInMethod and nothing changes; the check and the removal are one unit
	// of work, so two racing unlinks cannot remove the last two ways.
	DeleteIdentity(ctx context.Context, tenant, user, id uuid.UUID, keepSignIn bool, ev audit.Event) error

	// SealedIdentityTokens returns up to limit identities (pending or active) that
	// hold a sealed provider token, of every tenant, that come after the identity
	// named by after in the order of (tenant ID, identity ID) compared as bytes; the
	// zero IdentityRef starts at the first. Passing the last one returned as the next
	// after visits every such identity that exists throughout the walk exactly once.
	// A limit of 0 or less returns none, and one above [SealedPageMax] is
	// SealedPageMax. It is a cross-tenant read for the reseal job only
	// (Service.ResealSecrets); it appends no event.
	SealedIdentityTokens(ctx context.Context, after IdentityRef, limit int) ([]Identity, error)
	// ReplaceIdentityToken replaces the sealed provider token of the tenant's identity
	// id by sealed if, and only if, the stored one is still old, byte for byte (a
	// compare and swap): storage.ErrStale if it is another or none (the token was
	// refreshed or dropped, or resealed by another run), storage.ErrNotFound if the
	// tenant has no such identity (another tenant's included). It changes nothing else
	// and appends no event: the reseal job records one per run. An empty sealed is an
	// error and nothing changes.
	ReplaceIdentityToken(ctx context.Context, tenant, id uuid.UUID, old, sealed []byte) error
}

// IdentityRef names an identity of a tenant: the cursor of
// [IdentityStore.SealedIdentityTokens].
type IdentityRef struct {
	Tenant uuid.UUID
	ID     uuid.UUID
}
