package authn

import (
	"context"
	"net/netip"

	"github.com/google/uuid"
)

// throttleKind separates the counts of first factors (password, linked identity,
// links) from those of second factors (TOTP, recovery codes).
type throttleKind string

const (
	throttleFirst  throttleKind = "first"
	throttleSecond throttleKind = "second"
)

// checkThrottle reports why an attempt of the user's factor kind from ip must be
// refused without looking at the secret ("" if it may proceed).
func (s *Service) checkThrottle(ctx context.Context, tenant, user uuid.UUID, kind throttleKind, ip netip.Addr) (string, error) {
	return "", nil
}

// countFailure counts a failed attempt.
func (s *Service) countFailure(ctx context.Context, tenant, user uuid.UUID, kind throttleKind, ip netip.Addr) error {
	return nil
}

// resetThrottle clears the account's count of kind after a success.
func (s *Service) resetThrottle(ctx context.Context, tenant, user uuid.UUID, kind throttleKind) error {
	return nil
}
