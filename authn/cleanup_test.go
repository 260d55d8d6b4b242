package authn_test

import (
	"context"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cleanup job removes the links and two-factor enrolments that expired, and only
// those: a live link still works after it, an expired one is refused as before, the
// invited user whose link expired stays invited, and no event is written.
func TestCleanupRemovesExpiredLinksAndEnrolments(t *testing.T) {
	ctx := context.Background()
	e := newTFEnv(t)
	ann := e.onboard(t, "ann@example.com", access.KindAgent) // her invitation is used
	_, err := e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "bob@example.com", Name: "Bob", Role: e.roles[access.KindAgent]})
	require.NoError(t, err)
	bobLink := e.linkFor(t, "bob@example.com")
	actor, _ := e.session(t, ann)
	_, err = e.svc.StartTwoFactor(ctx, actor)
	require.NoError(t, err)
	// The events other than sessions' (Ann's session reaches its deadline on the way,
	// and the cleanup ends it with its own event).
	events := func() int {
		evs, err := e.store.Events(ctx, e.tenant.ID, audit.Query{Limit: audit.MaxLimit})
		require.NoError(t, err)
		n := 0
		for _, ev := range evs {
			if ev.Kind != audit.KindSession {
				n++
			}
		}
		return n
	}

	rep, err := e.svc.CleanupSessions(ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Tickets+rep.Enrolments, "nothing has expired yet")
	_, err = e.store.TwoFactorEnrolment(ctx, e.tenant.ID, ann.ID)
	require.NoError(t, err, "the open enrolment is kept")

	// The enrolment expires unconfirmed.
	e.clock.Advance(authn.TwoFactorEnrolmentTTL)
	n := events()
	rep, err = e.svc.CleanupSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, [2]int{0, 1}, [2]int{rep.Tickets, rep.Enrolments})
	_, err = e.store.TwoFactorEnrolment(ctx, e.tenant.ID, ann.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "removed at the instant it expired")
	_, err = e.svc.ConfirmTwoFactor(ctx, actor, "123456")
	assert.ErrorIs(t, err, authn.ErrEnrolmentInvalid, "refused as before")
	st, err := e.svc.TwoFactorStatusOf(ctx, actor, ann.ID)
	require.NoError(t, err)
	assert.False(t, st.Pending || st.Enabled)
	assert.Equal(t, n, events(), "no event")

	// Three days on, Carol is invited; four days later Bob's invitation and Ann's used
	// one have expired, Carol's has not.
	e.clock.Advance(3 * 24 * time.Hour)
	_, err = e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "carol@example.com", Name: "Carol", Role: e.roles[access.KindAgent]})
	require.NoError(t, err)
	carolLink := e.linkFor(t, "carol@example.com")
	e.clock.Advance(4 * 24 * time.Hour)
	n = events()
	rep, err = e.svc.CleanupSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, [2]int{2, 0}, [2]int{rep.Tickets, rep.Enrolments})
	assert.Equal(t, n, events(), "no event")

	_, err = e.svc.AcceptInvitation(ctx, bobLink, authn.NewPassword(goodPassword), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrTicketInvalid, "an expired link is refused as before")
	bob, err := e.store.UserByEmail(ctx, e.tenant.ID, "bob@example.com")
	require.NoError(t, err)
	assert.Equal(t, authn.StatusInvited, bob.Status, "Bob stays invited, to be invited again")
	carol, err := e.svc.AcceptInvitation(ctx, carolLink, authn.NewPassword(goodPassword), authn.Meta{})
	require.NoError(t, err, "a live link works after the cleanup")
	assert.Equal(t, authn.StatusActive, carol.Status)

	rep, err = e.svc.CleanupSessions(ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Tickets+rep.Enrolments, "idempotent")
}
