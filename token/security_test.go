package token_test

import (
	"context"
	"testing"
	"time"

	"github.com/callshield/callshield/token"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The zero Token is no token: it must not report itself active, so that a host that
// checks Active on the record of a failed Verify (Token{} for an unknown token) denies.
func TestZeroTokenIsNotActive(t *testing.T) {
	assert.False(t, token.Token{}.Active(time.Now()))
	e := newEnv(t, envOptions{})
	got, err := e.tokens.Verify(context.Background(), mintToken(t, e.tenant.ID))
	require.ErrorIs(t, err, token.ErrUnknown)
	assert.False(t, got.Active(e.clock.Now()), "the record of an unknown token is not active")
}
