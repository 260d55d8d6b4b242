package token

import (
	"context"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// Store keeps API tokens and their daily usage. It is implemented by storage/memory and
// storage/sqlstore over the same database as access.Store (a token's tenant must be
// one of its tenants), and storage/storetest holds every implementation to this
// contract.
//
// Rules every implementation follows:
//   - Every method is scoped by tenant: another tenant's tokens are never read, changed
//     or counted, and their IDs and hashes are reported as storage.ErrNotFound.
//   - Every mutation of a token is one unit of work that appends its audit event ev
//     (prepared, of the token's tenant) in the same transaction, or does nothing. A
//     mutation of an unknown tenant is storage.ErrNotFound. PurgeTokens, the retention
//     of dead tokens, appends no event: it changes no credential that still works.
//   - A user has at most one unrevoked token, whatever races: of two CreateToken calls
//     for one user (also from two app instances on one database) at most one succeeds,
//     and of two ReplaceToken calls of one token at most one.
//   - Tokens are deleted only by PurgeTokens: a revoked or expired token stays, with
//     its usage, for reports, until it has been dead for the host's retention.
//   - Times are stored in UTC with microsecond precision.
type Store interface {
	// CreateToken stores t as its user's token if, and only if, the user has no
	// unrevoked token (an expired one included: replace that with ReplaceToken);
	// otherwise it returns an error wrapping ErrExists and storage.ErrConflict and
	// changes nothing. A duplicate ID or hash is storage.ErrConflict. t is stored
	// unrevoked and unused: its RevokedAt and LastUsedAt are ignored (so in
	// ReplaceToken).
	CreateToken(ctx context.Context, t Token, ev audit.Event) error
	// CreateTokenAfter is CreateToken with one more condition, checked in the same unit
	// of work: no token of t.User in t.Tenant, revoked and expired ones included, has a
	// CreatedAt after `after`; otherwise it returns an error wrapping storage.ErrStale
	// and changes nothing (a user with an unrevoked token is ErrExists, as in
	// CreateToken, whatever the times). It is how a token is issued under
	// Options.RegenerateInterval: of concurrent calls for one user with one `after`,
	// also interleaved with revocations, at most one succeeds, since the token it
	// stores makes the others stale.
	CreateTokenAfter(ctx context.Context, t Token, after time.Time, ev audit.Event) error
	// ReplaceToken revokes old at t.CreatedAt and stores t, in one transaction, if,
	// and only if, old is t.User's unrevoked token; otherwise it returns
	// storage.ErrStale and changes nothing. It is how a token is regenerated: of two
	// racing regenerations one wins and the other is stale.
	ReplaceToken(ctx context.Context, old uuid.UUID, t Token, ev audit.Event) error
	// RevokeToken revokes the token id at `at` if it is unrevoked; an unknown or
	// already revoked token is storage.ErrNotFound and nothing changes.
	RevokeToken(ctx context.Context, tenant, id uuid.UUID, at time.Time, ev audit.Event) error
	// RevokeUserTokens revokes every unrevoked token of the user at `at` and returns
	// how many it revoked; it appends ev even when that is none.
	RevokeUserTokens(ctx context.Context, tenant, user uuid.UUID, at time.Time, ev audit.Event) (int, error)
	// PurgeTokens deletes the tenant's tokens revoked before `before` and those that
	// expired before it (revoked or not), with their usage rows, in one transaction,
	// and returns how many tokens it deleted. Live tokens, tokens that died at or after
	// `before`, and other tenants' tokens stay. It appends no audit event. An unknown
	// tenant is storage.ErrNotFound.
	PurgeTokens(ctx context.Context, tenant uuid.UUID, before time.Time) (int, error)

	// TokenByHash returns the token with this hash (revoked ones included): the
	// lookup of every request, an indexed single-row read.
	TokenByHash(ctx context.Context, tenant uuid.UUID, hash [32]byte) (Token, error)
	// Token returns one token, revoked ones included.
	Token(ctx context.Context, tenant, id uuid.UUID) (Token, error)
	// UserToken returns the user's unrevoked token, or storage.ErrNotFound.
	UserToken(ctx context.Context, tenant, user uuid.UUID) (Token, error)
	// LatestUserToken returns the user's most recently created token (the greatest
	// CreatedAt, then the greatest ID), revoked and expired ones included, or
	// storage.ErrNotFound if the user has none (or PurgeTokens deleted them all).
	LatestUserToken(ctx context.Context, tenant, user uuid.UUID) (Token, error)
	// Tokens returns the tenant's unrevoked tokens, ordered by user ID. An unknown
	// tenant is storage.ErrNotFound.
	Tokens(ctx context.Context, tenant uuid.UUID) ([]Token, error)

	// AddUsage adds each row's Requests and Errors to the stored counters of (Tenant,
	// Token, Day), creating the row if needed, and moves LastUsed (of the row and of
	// the token's LastUsedAt) forward to the row's LastUsed if it is later: additive
	// upserts, so that several app instances flushing the same token and day sum
	// correctly. The rows may be of several tenants; a row whose token is not a token
	// of the row's tenant is skipped. User is ignored (it is the token's). All rows
	// are added in one transaction, or none.
	AddUsage(ctx context.Context, rows []Usage) error
	// Usage returns the tenant's usage rows of q's days (of q.User's tokens, or of
	// every token when it is zero), ordered by day, then token ID.
	Usage(ctx context.Context, tenant uuid.UUID, q UsageQuery) ([]Usage, error)
}
