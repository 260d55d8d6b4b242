package authn

// TEMPORARY: stand-ins for the sessions work (CONTRACT-signin.md) until it is on main.
// Deleted at the merge.

import (
	"context"
	"errors"
	"time"

	"github.com/callshield/callshield/access"
)

type Factor string

const (
	FactorTOTP         Factor = "totp"
	FactorRecoveryCode Factor = "recovery_code"
)

type SessionToken struct{}

var ErrReauthRequired = errors.New("authn: re-authentication required")

var shimRecent = true

func (s *Service) requireRecentAuth(ctx context.Context, actor access.Subject, within time.Duration) error {
	if !shimRecent {
		return ErrReauthRequired
	}
	return nil
}

func (s *Service) rotateAfterEnrolment(ctx context.Context, actor access.Subject) (SessionToken, error) {
	return SessionToken{}, nil
}
