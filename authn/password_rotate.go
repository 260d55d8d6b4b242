package authn

import (
	"context"

	"github.com/callshield/callshield/access"
)

// ChangePasswordAndRotate is [Service.ChangePassword] for a signed-in user's own
// session (actor.Session set by the middleware): after the password is changed it
// gives the current session a new secret (ASVS 7.2.4: a new secret at every privilege
// change), keeping the session's absolute deadline, and returns it. The old secret
// stops working at once; the host sets the new one with [Cookie.Set]. The rotation is
// its own transaction after the change: if it fails the password is already changed,
// the error says so ("authn: rotate session") and the old secret keeps working until
// the host retries [Service.RotateSession] or signs the user out.
func (s *Service) ChangePasswordAndRotate(ctx context.Context, actor access.Subject, current, next Password, endOtherSessions bool) (SessionToken, error) {
	if err := s.ChangePassword(ctx, actor, current, next, endOtherSessions); err != nil {
		return SessionToken{}, err
	}
	return s.rotateSession(ctx, actor, EndPasswordChanged, nil)
}
