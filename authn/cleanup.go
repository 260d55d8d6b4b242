package authn

import (
	"context"
	"fmt"
)

// ExpiredReport is what [Service.CleanupExpired] removed.
type ExpiredReport struct {
	// Tickets is the number of one-time links (invitations, password resets) removed
	// because they had expired, whether used, revoked or never opened.
	Tickets int
	// Enrolments is the number of two-factor enrolments removed because they had
	// expired unconfirmed.
	Enrolments int
}

// CleanupExpired removes, in every tenant, the one-time links (invitations and
// password resets, [Store.DeleteExpiredTickets]) and the started two-factor
// enrolments ([TwoFactorStore.DeleteExpiredTwoFactorEnrolments]) that expired at or
// before now. Both are refused once expired, so no outcome changes: an expired link
// is [ErrTicketInvalid] before and after, an expired enrolment [ErrEnrolmentInvalid]
// (the user starts again), and an invited user whose invitation expired stays
// invited, to be invited again. What goes are rows that would otherwise stay for
// ever: a link's secret hash and the address it was mailed to, an enrolment's sealed
// TOTP secret. Nothing that has not expired is touched, in any tenant. It writes no
// audit event: issuing, using and revoking a link, and starting an enrolment, were
// recorded when they happened.
//
// It is the body of a periodic job, like [Service.CleanupSessions] (hourly is
// plenty); it is safe on several instances at once. When one step fails, the report
// holds what the steps before it removed.
func (s *Service) CleanupExpired(ctx context.Context) (ExpiredReport, error) {
	var rep ExpiredReport
	now := s.now()
	var err error
	if rep.Tickets, err = s.store.DeleteExpiredTickets(ctx, now); err != nil {
		return rep, fmt.Errorf("authn: cleanup: %w", err)
	}
	if rep.Enrolments, err = s.store.DeleteExpiredTwoFactorEnrolments(ctx, now); err != nil {
		return rep, fmt.Errorf("authn: cleanup: %w", err)
	}
	return rep, nil
}
