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

// TestLastAdminCountsMembersWithoutAccount (issue 14, decision): the last-Admin rule
// counts an Admin member who has no authn account as one who can sign in, because
// access is usable without authn (a host signing users in with its own identity
// provider keeps no accounts here). So the last Admin with an account may be blocked
// while an account-less Admin member remains; and that member, now the last Admin who
// can sign in, cannot be demoted or removed. With authn, provision the first Admin
// through authn.Provision, so that every Admin has an account.
func TestLastAdminCountsMembersWithoutAccount(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t) // e.admin is an Admin member without an account
	boss := e.onboard(t, "boss@example.com", access.KindAdmin)
	require.NoError(t, e.svc.Block(ctx, e.admin, boss.ID), "the account-less Admin counts as one who can sign in")

	_, err := e.acc.SetMember(ctx, access.System(e.tenant.ID), e.admin.User, e.roles[access.KindAgent])
	assert.ErrorIs(t, err, access.ErrLastAdmin, "the account-less Admin is now the last who can sign in")
	assert.ErrorIs(t, e.acc.RemoveMember(ctx, access.System(e.tenant.ID), e.admin.User), access.ErrLastAdmin)
}

// TestInvitationTTLUpTo30Days (issue 14, decision): the product promises 7 days, and a
// tenant may choose up to 30 (documented at Settings.InvitationTTL); the link expires
// exactly then, and the mail says when.
func TestInvitationTTLUpTo30Days(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	st, err := e.svc.Settings(ctx, e.tenant.ID)
	require.NoError(t, err)
	assert.Equal(t, 7*24*time.Hour, st.InvitationTTL, "the default is the promised 7 days")
	st.InvitationTTL = 31 * 24 * time.Hour
	_, err = e.svc.UpdateSettings(ctx, e.admin, st)
	assert.ErrorIs(t, err, authn.ErrInvalidSettings, "more than 30 days is refused")
	st.InvitationTTL = 30 * 24 * time.Hour
	_, err = e.svc.UpdateSettings(ctx, e.admin, st)
	require.NoError(t, err)

	inv, err := e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "late@example.com", Name: "Late", Role: e.roles[access.KindAgent]})
	require.NoError(t, err)
	assert.Equal(t, e.clock.Now().UTC().Truncate(time.Microsecond).Add(30*24*time.Hour), inv.ExpiresAt)
	m, ok := e.outbox.Last("late@example.com")
	require.True(t, ok)
	assert.Contains(t, m.Text, inv.ExpiresAt.Format("2 January 2006"), "the mail states the expiry")
	link := e.linkFor(t, "late@example.com")
	e.clock.Advance(30*24*time.Hour - time.Second)
	_, err = e.svc.AcceptInvitation(ctx, link, authn.NewPassword(goodPassword), authn.Meta{})
	assert.NoError(t, err, "still valid just before 30 days")
}
