package storetest

import (
	"testing"
	"time"

	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The expiry cleanups (authn.Service.CleanupSessions): DeleteExpiredTickets and
// DeleteExpiredTwoFactorEnrolments. They are the cross-tenant writes of a periodic
// job, so the cases hold adapters to this: what expired at or before now goes in every
// tenant (at the very instant of ExpiresAt too, as Ticket.Open and EnableTwoFactor
// refuse it then), and nothing that expires later goes, in any tenant; neither the
// users, nor active factors and their recovery codes, are touched; no event is
// appended; a second run finds nothing.
var expiredCleanupCases = []testCase{
	{"DeleteExpiredTickets removes every tenant's expired links and keeps each live one", func(t *testing.T, f *fx) {
		now := resetUntil
		tn := f.createTenant("Link sweep")
		other := f.createTenant("Link sweep other")

		// tn: an invitation that expired unused, one still open, one used (expiring
		// later), and a reset link revoked by a newer one that is still open.
		gone := func(tn tenantFx, email string) (authn.User, authn.Ticket) {
			u := userValue(tn.ID, email, "User "+email)
			tk := invitationValue(u, tn.Agent.ID)
			tk.ExpiresAt = at(30 * time.Minute)
			require.NoError(t, f.s.Authn.CreateInvitation(f.ctx, u, tk, changeEvent(t, tn.ID, "user.invite")))
			return u, tk
		}
		expiredUser, expiredInv := gone(tn, "late@example.com")
		openUser, openInv := f.invite(tn, "open@example.com")
		active, usedInv := f.activeUser(tn, "ann@example.com")
		revokedReset := f.createReset(active) // expires at now exactly
		liveReset := resetValue(active)
		liveReset.ExpiresAt = now.Add(time.Microsecond)
		require.NoError(t, f.s.Authn.CreateTicket(f.ctx, liveReset, false, changeEvent(t, tn.ID, "user.reset_link")))
		require.False(t, f.ticket(revokedReset).RevokedAt.IsZero(), "the newer reset revoked it")

		// other: an expired invitation and reset, and live ones.
		_, otherExpiredInv := gone(other, "late@example.com")
		otherOpenUser, otherOpenInv := f.invite(other, "open@example.com")
		otherActive, _ := f.activeUser(other, "bob@example.com")
		otherExpiredReset := f.createReset(otherActive)
		otherLiveReset := resetValue(otherActive)
		otherLiveReset.ExpiresAt = now.Add(time.Hour)
		require.NoError(t, f.s.Authn.CreateTicket(f.ctx, otherLiveReset, false, changeEvent(t, other.ID, "user.reset_link")))

		expired := []authn.Ticket{expiredInv, revokedReset, otherExpiredInv, otherExpiredReset}
		live := []authn.Ticket{openInv, usedInv, liveReset, otherOpenInv, otherLiveReset}
		before := make([]authn.Ticket, len(live))
		for i, tk := range live {
			before[i] = f.ticket(tk)
		}
		users := map[uuid.UUID][]authn.User{}
		for _, tn := range []uuid.UUID{tn.ID, other.ID} {
			us, err := f.s.Authn.Users(f.ctx, tn)
			require.NoError(t, err)
			users[tn] = us
		}
		events := map[uuid.UUID]int{tn.ID: len(f.allEvents(tn.ID)), other.ID: len(f.allEvents(other.ID))}

		n, err := f.s.Authn.DeleteExpiredTickets(f.ctx, now)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, len(expired), "every expired ticket is counted")
		for _, tk := range expired {
			_, err := f.s.Authn.Ticket(f.ctx, tk.Tenant, tk.Purpose, tk.TokenHash)
			assert.ErrorIs(t, err, storage.ErrNotFound, "expired %s of %s is removed", tk.Purpose, tk.Email)
		}
		for i, tk := range live {
			assert.Equal(t, before[i], f.ticket(tk), "live %s of %s is kept as it was", tk.Purpose, tk.Email)
		}
		got, err := f.s.Authn.OpenInvitation(f.ctx, tn.ID, openUser.ID, now)
		require.NoError(t, err)
		assert.Equal(t, openInv.ID, got.ID, "the open invitation still promises its role")
		got, err = f.s.Authn.OpenInvitation(f.ctx, other.ID, otherOpenUser.ID, now)
		require.NoError(t, err)
		assert.Equal(t, otherOpenInv.ID, got.ID, "in the other tenant too")
		_, err = f.s.Authn.OpenInvitation(f.ctx, tn.ID, expiredUser.ID, now)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		for tn, want := range users {
			us, err := f.s.Authn.Users(f.ctx, tn)
			require.NoError(t, err)
			assert.Equal(t, want, us, "no user changes, the invited one whose link expired included")
			assert.Len(t, f.allEvents(tn), events[tn], "appends no event")
		}

		// The live links still work after the sweep.
		_, err = f.s.Authn.ResetPassword(f.ctx, other.ID, otherLiveReset.TokenHash, now, hashOf("new"), changeEvent(t, other.ID, "user.reset"))
		assert.NoError(t, err)

		n, err = f.s.Authn.DeleteExpiredTickets(f.ctx, now)
		require.NoError(t, err)
		assert.Zero(t, n, "nothing left to remove")
	}},
	{"DeleteExpiredTwoFactorEnrolments removes every tenant's expired enrolments and nothing else", func(t *testing.T, f *fx) {
		now := at(2 * time.Hour)
		tn := f.createTenant("Enrolment sweep")
		other := f.createTenant("Enrolment sweep other")
		enrol := func(tn tenantFx, email string, created time.Time) authn.TwoFactorEnrolment {
			u, _ := f.activeUser(tn, email)
			e := enrolmentValue(u, created) // expires 10 minutes after created
			require.NoError(t, f.s.Authn.SetTwoFactorEnrolment(f.ctx, e, changeEvent(t, tn.ID, "two_factor.start")))
			return e
		}
		expired := []authn.TwoFactorEnrolment{
			enrol(tn, "old@example.com", at(time.Hour)),
			enrol(tn, "edge@example.com", now.Add(-10*time.Minute)), // expires at now exactly
			enrol(other, "old@example.com", at(time.Hour)),
		}
		live := []authn.TwoFactorEnrolment{
			enrol(tn, "new@example.com", now.Add(-9*time.Minute)),
			enrol(other, "new@example.com", now.Add(-time.Minute)),
		}
		before := make([]authn.TwoFactorEnrolment, len(live))
		for i, e := range live {
			got, err := f.s.Authn.TwoFactorEnrolment(f.ctx, e.Tenant, e.User)
			require.NoError(t, err)
			before[i] = got
		}
		// Users with an active factor (enrolled at(time.Hour), long expired as an
		// enrolment): the factor and its codes are another thing and stay.
		withFactor := []authn.User{f.twoFactorUser(tn, "on@example.com", 7), f.twoFactorUser(other, "on@example.com", 9)}
		factors := make([]authn.TwoFactor, len(withFactor))
		for i, u := range withFactor {
			fa, err := f.s.Authn.TwoFactor(f.ctx, u.Tenant, u.ID)
			require.NoError(t, err)
			factors[i] = fa
		}
		events := map[uuid.UUID]int{tn.ID: len(f.allEvents(tn.ID)), other.ID: len(f.allEvents(other.ID))}

		n, err := f.s.Authn.DeleteExpiredTwoFactorEnrolments(f.ctx, now)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, len(expired), "every expired enrolment is counted")
		for _, e := range expired {
			_, err := f.s.Authn.TwoFactorEnrolment(f.ctx, e.Tenant, e.User)
			assert.ErrorIs(t, err, storage.ErrNotFound, "an expired enrolment is removed")
		}
		for i, e := range live {
			got, err := f.s.Authn.TwoFactorEnrolment(f.ctx, e.Tenant, e.User)
			require.NoError(t, err, "a live enrolment is kept")
			assert.Equal(t, before[i], got)
		}
		for i, u := range withFactor {
			fa, err := f.s.Authn.TwoFactor(f.ctx, u.Tenant, u.ID)
			require.NoError(t, err, "an active factor is kept")
			assert.Equal(t, factors[i], fa)
			codes, err := f.s.Authn.RecoveryCodeHashes(f.ctx, u.Tenant, u.ID)
			require.NoError(t, err)
			assert.Len(t, codes, 10, "with its recovery codes")
		}
		for tn, want := range events {
			assert.Len(t, f.allEvents(tn), want, "appends no event")
		}

		// A live enrolment can still be confirmed after the sweep.
		e := live[1]
		require.NoError(t, f.s.Authn.EnableTwoFactor(f.ctx, factorOf(e, now), e.Sealed, recoveryHashes(3), changeEvent(t, other.ID, "two_factor.enable")))

		n, err = f.s.Authn.DeleteExpiredTwoFactorEnrolments(f.ctx, now)
		require.NoError(t, err)
		assert.Zero(t, n, "nothing left to remove")
	}},
}
