package authn

import (
	"context"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
)

// TestSecondFactor is a second factor for the tests of the sign-in flow: users in
// Enrolled have one, and Code is the one right code (consumed once unless Reusable).
type TestSecondFactor struct {
	Enrolled map[uuid.UUID]bool
	Code     string
	Used     map[string]bool
	// Verifying, if set, is called at the start of every verification (a test counts
	// or holds them).
	Verifying func()
}

func (f *TestSecondFactor) enrolled(_ context.Context, _, user uuid.UUID) (bool, error) {
	return f.Enrolled[user], nil
}

func (f *TestSecondFactor) verify(_ context.Context, _, user uuid.UUID, _ Factor, code string, _ Meta) error {
	if f.Verifying != nil {
		f.Verifying()
	}
	if code != f.Code {
		return ErrInvalidCredentials
	}
	return nil
}

// SetSecondFactor plugs f into s's sign-in flow.
// A nil f removes it.
func SetSecondFactor(s *Service, f *TestSecondFactor) {
	if f == nil {
		s.second = nil
		return
	}
	s.second = f
}

// RequireRecentAuth exposes requireRecentAuth.
func RequireRecentAuth(ctx context.Context, s *Service, actor access.Subject, within time.Duration) error {
	return s.requireRecentAuth(ctx, actor, within)
}
