package authn

import (
	"context"
	"errors"
	"fmt"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// Authenticate checks an e-mail and password for a tenant and returns the user. It is
// the password step of the sign-in flow without the rest of it: [Service.SignIn] runs
// this step and then makes a session (or a pending sign-in).
//
// Every failure the client can cause returns ErrInvalidCredentials after the same work:
// an unknown e-mail is hashed against a dummy hash, and a blocked, archived or invited
// user's password is verified before the status is looked at, so neither the answer nor
// its timing tells which part was wrong (ASVS 6.3.8). The login log records the real
// reason (unknown_user, wrong_password, user_blocked, ...); an attempt against a tenant
// that does not exist is answered the same way and recorded nowhere. A hash stored
// with weaker parameters than the current ones (or imported bcrypt) is replaced on
// success.
//
// The IP allowlist rule: from an address outside the tenant's allowlist, every attempt
// that does not sign in is answered ErrIPNotAllowed, whatever was wrong (unknown
// e-mail, wrong password, a user who may not sign in, a locked account, or a right
// password of a user whose role does not bypass the allowlist). The answer from
// outside therefore does not depend on the password, so the allowlist is no oracle for
// guesses, and it tells nothing about which accounts exist or which roles bypass it:
// only a right password of a user whose role bypasses the allowlist (ignore allowed IPs)
// signs in from outside. Inside the allowlist (or with none) failures are
// ErrInvalidCredentials as above.
func (s *Service) Authenticate(ctx context.Context, tenant uuid.UUID, email string, pw Password, meta Meta) (User, error) {
	u, _, err := s.passwordFactor(ctx, tenant, email, pw, meta)
	return u, err
}

// passwordFactor is the password step: it verifies the password, then the user's
// status and address, records the step's login-log event and returns the user and the
// policy it was judged by.
func (s *Service) passwordFactor(ctx context.Context, tenant uuid.UUID, email string, pw Password, meta Meta) (User, *access.Policy, error) {
	ev := audit.Event{Tenant: tenant, Kind: audit.KindLogin, Action: "login.password",
		Actor: audit.Actor{IP: meta.IP, UserAgent: meta.UserAgent}, Details: map[string]string{"factor": string(FactorPassword)}}
	norm, emailErr := NormalizeEmail(email)
	if emailErr == nil {
		ev.Target = audit.Target{Type: "user", Name: norm}
	}
	// outside: the address is outside the tenant's allowlist, so every failure is
	// answered ErrIPNotAllowed (see Authenticate). It is known only once the policy is
	// read, after the password's hashing, which every path does first.
	outside := false
	fail := func(reason string, err error) (User, *access.Policy, error) {
		ev.Outcome, ev.Reason = audit.Failure, reason
		s.record(ctx, ev)
		if outside && errors.Is(err, ErrInvalidCredentials) {
			err = ErrIPNotAllowed
		}
		return User{}, nil, err
	}
	var u User
	var err error
	if emailErr == nil {
		u, err = s.store.UserByEmail(ctx, tenant, norm)
	}
	if emailErr != nil || errors.Is(err, storage.ErrNotFound) {
		// Busy exactly as a known account would be: otherwise a flood that fills the
		// hashing queue would make "busy" mean "this account exists".
		busy := s.opts.Hasher.DummyVerify(ctx, pw)
		p, perr := s.engine.Policy(ctx, tenant)
		if tenant == uuid.Nil || errors.Is(perr, storage.ErrNotFound) {
			// No such tenant, so no login log to write to: recording would start an
			// audit chain for every tenant ID an attacker makes up.
			if busy != nil {
				return User{}, nil, busy
			}
			return User{}, nil, ErrInvalidCredentials
		}
		outside = perr == nil && !p.Allowlist().Allows(meta.IP)
		if busy != nil {
			return fail("busy", busy)
		}
		// Counted against the address (password spraying), as a known account's
		// failure is; the answer is the same whether the address is locked or not.
		refused, terr := s.addressRefused(ctx, tenant, throttleFirst, meta.IP)
		if terr == nil {
			terr = s.countAddressFailure(ctx, tenant, throttleFirst, meta.IP)
		}
		if terr != nil {
			return fail("storage_error", terr)
		}
		if refused {
			return fail("address_throttled", ErrInvalidCredentials)
		}
		return fail("unknown_user", ErrInvalidCredentials)
	}
	if err != nil {
		return fail("storage_error", fmt.Errorf("authn: authenticate: %w", err))
	}
	ev.Actor.User, ev.Target.ID = u.ID, u.ID.String()
	lock, err := s.checkThrottle(ctx, tenant, u.ID, throttleFirst, meta.IP)
	if err != nil {
		return fail("storage_error", err)
	}
	// The hash is read even when the attempt is refused, so that a refused attempt
	// does the same work as a wrong password.
	encoded, err := s.store.PasswordHash(ctx, tenant, u.ID)
	if err != nil {
		return fail("storage_error", fmt.Errorf("authn: authenticate: %w", err))
	}
	var ok, rehash bool
	if encoded == "" || lock != "" { // invited, the password was erased by a forced reset, or refused
		err = s.opts.Hasher.DummyVerify(ctx, pw)
	} else {
		ok, rehash, err = s.opts.Hasher.Verify(ctx, pw, encoded)
	}
	p, perr := s.engine.Policy(ctx, tenant)
	outside = perr == nil && !p.Allowlist().Allows(meta.IP)
	if errors.Is(err, ErrBusy) {
		return fail("busy", err) // not a failed sign-in: answer 503, the client retries
	}
	if lock != "" || !ok {
		// A refused attempt counts against the address, not the account (throttle.go).
		if terr := s.countFailure(ctx, tenant, u.ID, throttleFirst, meta.IP, lock); terr != nil {
			return fail("storage_error", terr)
		}
		if lock != "" {
			return fail(lock, ErrInvalidCredentials)
		}
		return fail("wrong_password", ErrInvalidCredentials)
	}
	switch {
	case !u.CanSignIn():
		return fail("user_"+string(u.Status), ErrInvalidCredentials)
	}
	if perr != nil {
		return fail("policy_unavailable", perr)
	}
	if !p.AllowsIP(access.Subject{Tenant: tenant, User: u.ID}, meta.IP) {
		return fail("ip_not_allowed", ErrIPNotAllowed)
	}
	if err := s.resetThrottle(ctx, tenant, u.ID, throttleFirst, meta.IP); err != nil {
		return fail("storage_error", err)
	}
	if rehash {
		s.rehash(ctx, u, pw, encoded)
	}
	if r, ok := p.Role(u.ID); ok {
		ev.Actor.Role = r.Name
	}
	ev.Outcome = audit.Success
	s.record(ctx, ev)
	return u, p, nil
}

// ErrIPNotAllowed: the client's address is outside the tenant's IP allowlist (and the
// sign-in did not succeed). From outside the allowlist every failed sign-in gets it,
// whether or not the credentials were right (see [Service.Authenticate]).
var ErrIPNotAllowed = errors.New("authn: sign-in from this address is not allowed")

func (s *Service) record(ctx context.Context, ev audit.Event) {
	if s.opts.Audit == nil {
		return
	}
	_ = s.opts.Audit.Record(context.WithoutCancel(ctx), ev)
}

// rehash replaces an outdated hash after a successful verification. A failure leaves the
// old hash in place, which still verifies; it is retried at the next sign-in.
func (s *Service) rehash(ctx context.Context, u User, pw Password, old string) {
	encoded, err := s.opts.Hasher.Hash(ctx, pw)
	if err != nil {
		return
	}
	ev := audit.Event{Tenant: u.Tenant, Kind: audit.KindChange, Action: "password.rehash",
		Actor: audit.Actor{User: u.ID, Role: "system"}, Target: userTarget(u), Outcome: audit.Success,
		Changes: []audit.Change{audit.Secret("password_hash")}}
	if audit.Prepare(&ev, s.now()) != nil {
		return
	}
	_ = s.store.ReplacePasswordHash(ctx, u.Tenant, u.ID, old, encoded, ev)
}

// ChangePassword changes the actor's own password. It needs EditProfile and the current
// password (ASVS 6.2.3); the new one must pass the tenant's policy. With
// endOtherSessions, every other session of the user is ended (ASVS 7.4.3). The current
// session keeps its secret: a password change is a privilege change, so a host
// serving a signed-in user calls [Service.ChangePasswordAndRotate] instead, which
// also rotates the current session and returns the new secret for the cookie.
func (s *Service) ChangePassword(ctx context.Context, actor access.Subject, current, next Password, endOtherSessions bool) error {
	p, err := s.authorize(ctx, actor, access.EditProfile)
	if err != nil {
		return err
	}
	u, err := s.user(ctx, actor.Tenant, actor.User)
	if err != nil {
		return err
	}
	old, err := s.store.PasswordHash(ctx, actor.Tenant, u.ID)
	if err != nil {
		return fmt.Errorf("authn: change password: %w", err)
	}
	if old == "" {
		if err := s.opts.Hasher.DummyVerify(ctx, current); err != nil {
			return err
		}
		return ErrWrongPassword
	}
	ok, _, err := s.opts.Hasher.Verify(ctx, current, old)
	if errors.Is(err, ErrBusy) {
		return err
	}
	if !ok {
		return ErrWrongPassword
	}
	if err := s.checkPassword(ctx, p, u.Email, next); err != nil {
		return err
	}
	encoded, err := s.opts.Hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	ev, err := s.changeEvent(p, actor, "password.change", userTarget(u), []audit.Change{audit.Secret("password")})
	if err != nil {
		return err
	}
	if err := s.store.ReplacePasswordHash(ctx, actor.Tenant, u.ID, old, encoded, ev); err != nil {
		return fmt.Errorf("authn: change password: %w", err)
	}
	if endOtherSessions {
		return s.endSessions(ctx, actor, actor.Tenant, u.ID, actor.Session, EndPasswordChanged)
	}
	return nil
}

// ForcePasswordReset makes an active user choose a new password: their current password
// stops working at once and a single-use reset link (valid for the tenant's ResetTTL) is
// mailed to them. The administrator never sees or chooses the password. It needs
// UserManagement and every right of the user's role.
func (s *Service) ForcePasswordReset(ctx context.Context, actor access.Subject, user uuid.UUID) error {
	p, err := s.authorizeOver(ctx, actor, user)
	if err != nil {
		return err
	}
	u, err := s.user(ctx, actor.Tenant, user)
	if err != nil {
		return err
	}
	if u.Status != StatusActive {
		return fmt.Errorf("%w: only active users can reset their password", ErrInvalidTransition)
	}
	st, err := s.Settings(ctx, actor.Tenant)
	if err != nil {
		return err
	}
	token, hash, err := newLinkToken(s.opts.Rand, PurposePasswordReset, actor.Tenant)
	if err != nil {
		return err
	}
	tid, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("authn: new id: %w", err)
	}
	now := s.now()
	t := Ticket{ID: tid, Tenant: actor.Tenant, User: u.ID, Purpose: PurposePasswordReset, Email: u.Email,
		TokenHash: hash, CreatedBy: actor.User, CreatedAt: now, ExpiresAt: now.Add(st.ResetTTL)}
	ev, err := s.changeEvent(p, actor, "password.reset_forced", userTarget(u), []audit.Change{audit.Secret("password")})
	if err != nil {
		return err
	}
	if err := s.store.CreateTicket(ctx, t, true, ev); err != nil {
		return fmt.Errorf("authn: force password reset: %w", err)
	}
	if err := s.endSessions(ctx, actor, actor.Tenant, u.ID, uuid.Nil, EndPasswordReset); err != nil {
		return err
	}
	mail := Mail{To: u.Email, Subject: "Choose a new password for " + p.TenantName(),
		Text: "An administrator of " + p.TenantName() + " asked you to choose a new password.\n\n" +
			"Choose it here:\n" + s.opts.LinkURL(PurposePasswordReset, token) + "\n\nThe link can be used once and expires on " +
			t.ExpiresAt.Format("2 January 2006 15:04 MST") + ".\n"}
	if err := s.opts.Mailer.Send(ctx, mail); err != nil {
		return fmt.Errorf("authn: reset link stored but not mailed (force the reset again to retry): %w", err)
	}
	return nil
}

// ResetPassword sets a new password with a reset link's secret. The link is single-use;
// every session of the user is ended. From an address outside the tenant's allowlist
// (unless the user's role bypasses it) it returns ErrIPNotAllowed and the link stays
// open.
func (s *Service) ResetPassword(ctx context.Context, token string, pw Password, meta Meta) (User, error) {
	u, tenant, err := s.useTicket(ctx, PurposePasswordReset, token, pw, meta, "password.reset",
		[]audit.Change{audit.Secret("password")}, s.store.ResetPassword)
	if err != nil {
		return User{}, err
	}
	return u, s.endSessions(ctx, access.System(tenant), tenant, u.ID, uuid.Nil, EndPasswordReset)
}
