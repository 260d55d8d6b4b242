package token_test

import (
	"context"
	"testing"
	"time"

	"github.com/callshield/callshield/token"
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
