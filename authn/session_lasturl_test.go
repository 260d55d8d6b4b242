package authn_test

import (
	"context"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A session's last URL is stored in a column: a secret or a card number in the path
// is redacted or masked there, as in the action log.
func TestSessionLastURLHoldsNoSecrets(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, "ann@example.com")
	e.clock.Advance(31 * time.Second)
	const link = "csinv_AZJ3q8m2Yc7kLpX0vN4tR6sWbE1uHgFd"
	_, err := e.svc.ValidateSession(ctx, res.Token.Reveal(), authn.Request{Meta: authn.Meta{IP: officeIP},
		Path: "/accept/" + link + "/card/4111111111111111"}, 30*time.Second)
	require.NoError(t, err)
	all, err := e.svc.ActiveSessions(ctx, e.admin)
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, "/accept/[REDACTED]/card/************1111", all[0].LastURL)
}
