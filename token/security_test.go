package token_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/memory"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A request authenticated by an API token must not mint a token: otherwise a leaked
// token (or one issued with an expiry) turns itself into a fresh, never-expiring one
// and locks its owner's copy out.
func TestATokenCannotIssueOrRegenerateATokenItself(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	tk, sec, err := e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "short", ExpiresAt: e.clock.Now().Add(time.Hour)})
	require.NoError(t, err)

	// The subject the middleware puts in the context of a token request.
	viaToken := ann
	viaToken.Token = tk.ID
	_, _, err = e.tokens.Regenerate(ctx, viaToken, token.IssueRequest{Name: "forever"})
	assert.ErrorIs(t, err, token.ErrForbidden, "a token does not regenerate itself")
	_, _, err = e.tokens.Issue(ctx, viaToken, token.IssueRequest{Name: "forever"})
	assert.ErrorIs(t, err, token.ErrForbidden, "nor issue one")

	got, err := e.tokens.Verify(ctx, sec.Reveal())
	require.NoError(t, err, "the token is unchanged")
	assert.Equal(t, tk.ID, got.ID)
	assert.Equal(t, tk.ExpiresAt, got.ExpiresAt)

	// It may still revoke itself (giving up a credential is always allowed).
	require.NoError(t, e.tokens.Revoke(ctx, viaToken, ann.User))
}

// The zero Token is no token: it must not report itself active, so that a host that
// checks Active on the record of a failed Verify (Token{} for an unknown token) denies.
func TestZeroTokenIsNotActive(t *testing.T) {
	assert.False(t, token.Token{}.Active(time.Now()))
	e := newEnv(t, envOptions{})
	got, err := e.tokens.Verify(context.Background(), mintToken(t, e.tenant.ID))
	require.ErrorIs(t, err, token.ErrUnknown)
	assert.False(t, got.Active(e.clock.Now()), "the record of an unknown token is not active")
}

// barrierStore holds every UserToken read until n of them have been made, so that n
// racing Issue calls all see the same current token before any of them writes.
type barrierStore struct {
	*memory.Store
	arrived sync.WaitGroup
}

func (b *barrierStore) UserToken(ctx context.Context, tenant, user uuid.UUID) (token.Token, error) {
	t, err := b.Store.UserToken(ctx, tenant, user)
	b.arrived.Done()
	b.arrived.Wait()
	return t, err
}

// Of Issue calls racing for a user whose token has expired (each replaces it), one
// succeeds and the others return ErrExists, as Issue promises: not storage.ErrStale,
// which a host maps to something else (the example server retries only ErrExists).
func TestIssueRaceOverAnExpiredTokenIsErrExists(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	_, _, err := e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "short", ExpiresAt: e.clock.Now().Add(time.Minute)})
	require.NoError(t, err)
	e.clock.Advance(time.Minute)

	const n = 8
	bs := &barrierStore{Store: e.store}
	bs.arrived.Add(n)
	svc, err := token.NewService(bs, e.engine, token.Options{Users: token.StatusFunc(e.userStatus), Actions: e.writer,
		Clock: e.clock.Now, After: never})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(context.Background()) })

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, _, errs[i] = svc.Issue(ctx, ann, token.IssueRequest{Name: "race"}) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		assert.ErrorIs(t, err, token.ErrExists)
		assert.NotErrorIs(t, err, storage.ErrStale)
	}
	assert.Equal(t, 1, ok)
}

// blockDuringIssue reports the user's status as it is, and on the first call blocks
// them right after reading it: a block that lands between Issue's status check and
// its store write.
type blockDuringIssue struct {
	t    *testing.T
	e    *env
	user uuid.UUID
	once sync.Once
}

func (b *blockDuringIssue) Active(ctx context.Context, tenant, user uuid.UUID) (bool, error) {
	active, err := token.StatusFunc(b.e.userStatus).Active(ctx, tenant, user)
	b.once.Do(func() { require.NoError(b.t, b.e.accounts.Block(ctx, b.e.admin, b.user)) })
	return active, err
}

// A user blocked while their Issue is under way (the block's revocation finds no token
// yet) must not end up with a token that works again once they are unblocked:
// unblocking never brings a token back.
func TestIssueRacingABlockLeavesNoToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	svc, err := token.NewService(e.store, e.engine, token.Options{Users: &blockDuringIssue{t: t, e: e, user: ann.User},
		Actions: e.writer, Clock: e.clock.Now, After: never})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(context.Background()) })

	_, sec, err := svc.Issue(ctx, ann, token.IssueRequest{Name: "CI"})
	assert.ErrorIs(t, err, token.ErrForbidden, "the user was blocked before the token was stored")
	_, err = e.store.UserToken(ctx, e.tenant.ID, ann.User)
	assert.ErrorIs(t, err, storage.ErrNotFound, "no active token is left")

	require.NoError(t, e.accounts.Unblock(ctx, e.admin, ann.User))
	if !sec.IsZero() {
		_, err = e.tokens.Verify(ctx, sec.Reveal())
		assert.ErrorIs(t, err, token.ErrInvalid, "the token does not come back with the unblock")
	}
}
