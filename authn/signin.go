package authn

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// SignInResult is the outcome of a sign-in step: either a session, or a pending sign-in
// that still owes a step.
type SignInResult struct {
	// Session and Token are set when the user is signed in. Give Token to the client
	// once (SetSessionCookie); it is the only copy.
	Session *Session
	Token   SessionToken
	// Pending and PendingToken are set when a second factor is owed: the client keeps
	// PendingToken for [Service.CompleteSignIn].
	Pending      *PendingSignIn
	PendingToken SessionToken
}

// secondFactor is what the two-factor code plugs into the flow (the Service's second
// field, nil when no user has a second factor).
type secondFactor interface {
	// enrolled reports whether the user has an active second factor.
	enrolled(ctx context.Context, tenant, user uuid.UUID) (bool, error)
	// verify checks (and consumes: replay protection) a code of factor f for the user.
	// A wrong code returns an error wrapping ErrInvalidCredentials.
	verify(ctx context.Context, tenant, user uuid.UUID, f Factor, code string, meta Meta) error
}

// SignIn signs a user in with e-mail and password: the password step
// ([Service.Authenticate], with its answers and throttling), then the shared rest of
// the flow: a pending sign-in when the user has a second factor, else a new session
// (restricted to two-factor enrolment when the tenant requires a second factor the user
// does not have yet). Each step is one login-log event.
func (s *Service) SignIn(ctx context.Context, tenant uuid.UUID, email string, pw Password, meta Meta) (SignInResult, error) {
	u, _, err := s.passwordFactor(ctx, tenant, email, pw, meta)
	if err != nil {
		return SignInResult{}, err
	}
	return s.signInAfterFirstFactor(ctx, u, FactorPassword, nil, meta)
}

// signInAfterFirstFactor is the shared rest of the flow for any verified first factor
// (password, linked identity): status, IP allowlist, second factor owed?, then a session
// or a pending sign-in, each outcome recorded in the login log. Throttling of the first
// factor is the caller's (see throttle.go). details are added to the step's event
// (for a linked identity: its provider and issuer; never a secret).
func (s *Service) signInAfterFirstFactor(ctx context.Context, u User, f Factor, details map[string]string, meta Meta) (SignInResult, error) {
	if !f.valid() || f.second() {
		return SignInResult{}, fmt.Errorf("authn: %q is not a first factor", f)
	}
	kind, err := kindOf(meta)
	if err != nil {
		return SignInResult{}, err
	}
	// The step's event: for the password, passwordFactor recorded its success already,
	// so this one is stored only if the flow fails here (or for other factors).
	ev := loginEvent(u, "login."+string(f), f, meta)
	maps.Copy(ev.Details, details)
	fail := func(reason string, err error) (SignInResult, error) {
		ev.Outcome, ev.Reason = audit.Failure, reason
		s.record(ctx, ev)
		return SignInResult{}, err
	}
	p, err := s.engine.Policy(ctx, u.Tenant)
	if err != nil {
		return fail("policy_unavailable", err)
	}
	if !u.CanSignIn() {
		outside := !p.Allowlist().Allows(meta.IP)
		if outside {
			return fail("user_"+string(u.Status), ErrIPNotAllowed)
		}
		return fail("user_"+string(u.Status), ErrInvalidCredentials)
	}
	if !p.AllowsIP(access.Subject{Tenant: u.Tenant, User: u.ID}, meta.IP) {
		return fail("ip_not_allowed", ErrIPNotAllowed)
	}
	if r, ok := p.Role(u.ID); ok {
		ev.Actor.Role = r.Name
	}
	enrolled := false
	if s.second != nil {
		if enrolled, err = s.second.enrolled(ctx, u.Tenant, u.ID); err != nil {
			return fail("storage_error", fmt.Errorf("authn: second factor: %w", err))
		}
	}
	if enrolled {
		pev := ev
		pev.Action = "login.pending"
		return s.startPending(ctx, u, f, kind, meta, pev)
	}
	st, err := s.Settings(ctx, u.Tenant)
	if err != nil {
		return fail("storage_error", err)
	}
	restricted := twoFactorEnforced && st.TwoFactorRequiredFor(p, u.ID)
	var step *audit.Event
	if f != FactorPassword {
		step = &ev
	}
	return s.startSession(ctx, u, p, []Factor{f}, restricted, kind, meta, [32]byte{}, step)
}

func kindOf(meta Meta) (SessionKind, error) {
	if meta.Kind == "" {
		return SessionAdmin, nil
	}
	if !meta.Kind.valid() {
		return "", fmt.Errorf("authn: unknown session kind %q", meta.Kind)
	}
	return meta.Kind, nil
}

func loginEvent(u User, action string, f Factor, meta Meta) audit.Event {
	return audit.Event{Tenant: u.Tenant, Kind: audit.KindLogin, Action: action,
		Actor:   audit.Actor{User: u.ID, IP: meta.IP, UserAgent: meta.UserAgent},
		Target:  audit.Target{Type: "user", ID: u.ID.String(), Name: u.Email},
		Details: map[string]string{"factor": string(f)}}
}

// startPending creates a pending sign-in owing a second factor; ev (the login-log
// event of the step) is stored with it.
func (s *Service) startPending(ctx context.Context, u User, f Factor, kind SessionKind, meta Meta, ev audit.Event) (SignInResult, error) {
	tok, hash, err := newSessionToken(s.opts.Rand, pendingPrefix, u.Tenant)
	if err != nil {
		return SignInResult{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return SignInResult{}, fmt.Errorf("authn: new id: %w", err)
	}
	now := s.now()
	p := PendingSignIn{ID: id, Tenant: u.Tenant, User: u.ID, Factor: f, Kind: kind, IP: meta.IP,
		UserAgent: meta.UserAgent, CreatedAt: now, ExpiresAt: now.Add(PendingSignInTTL), SecretHash: hash}
	ev.Outcome, ev.Reason = audit.Success, "second_factor_owed"
	if err := audit.Prepare(&ev, now); err != nil {
		return SignInResult{}, err
	}
	if err := s.store.CreatePending(ctx, p, ev); err != nil {
		return SignInResult{}, fmt.Errorf("authn: pending sign-in: %w", err)
	}
	return SignInResult{Pending: &p, PendingToken: tok}, nil
}

// startSession creates a session for u with a fresh secret and its session event;
// step, if not nil, is the login-log event of the step that completed, stored with
// them. A non-zero pending is the pending sign-in the session consumes.
func (s *Service) startSession(ctx context.Context, u User, p *access.Policy, factors []Factor, restricted bool,
	kind SessionKind, meta Meta, pending [32]byte, step *audit.Event) (SignInResult, error) {
	st, err := s.SessionSettings(ctx, u.Tenant)
	if err != nil {
		return SignInResult{}, err
	}
	tok, hash, err := newSessionToken(s.opts.Rand, sessionPrefix, u.Tenant)
	if err != nil {
		return SignInResult{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return SignInResult{}, fmt.Errorf("authn: new id: %w", err)
	}
	now := s.now()
	sess := Session{ID: id, Tenant: u.Tenant, User: u.ID, Kind: kind, CreatedAt: now, AuthAt: now, LastSeen: now,
		ExpiresAt: now.Add(st.Lifetime), Factors: factors, Restricted: restricted, IP: meta.IP,
		UserAgent: meta.UserAgent, SecretHash: hash, Privilege: p.Privilege(u.ID),
		PrivilegeVersion: p.Version()}
	actor := audit.Actor{User: u.ID, IP: meta.IP, UserAgent: meta.UserAgent, Session: id}
	if r, ok := p.Role(u.ID); ok {
		actor.Role = r.Name
	}
	start := audit.Event{Tenant: u.Tenant, Kind: audit.KindSession, Action: "session.start",
		Actor:   actor,
		Target:  audit.Target{Type: "session", ID: id.String(), Name: u.Email},
		Outcome: audit.Success,
		Details: map[string]string{"kind": string(kind), "factors": joinFactors(factors), "restricted": fmt.Sprint(restricted)}}
	limit := audit.Event{Tenant: u.Tenant, Kind: audit.KindSession, Action: "session.end",
		Actor: audit.Actor{User: u.ID, Role: "system"}, Target: userTarget(u), Outcome: audit.Success, Reason: "limit"}
	if restricted {
		start.Reason = "two_factor_enrolment_required"
	}
	var evs []audit.Event
	var failed audit.Event
	if step != nil {
		failed = *step
		ok := *step
		ok.Outcome, ok.Actor.Session, ok.Actor.Role = audit.Success, id, actor.Role
		evs = append(evs, ok)
	} else {
		failed = loginEvent(u, "login.session", factors[len(factors)-1], meta)
	}
	evs = append(evs, start)
	for i := range evs {
		if err := audit.Prepare(&evs[i], now); err != nil {
			return SignInResult{}, err
		}
	}
	if err := audit.Prepare(&limit, now); err != nil {
		return SignInResult{}, err
	}
	_, err = s.store.CreateSession(ctx, SessionStart{Session: sess, Pending: pending, MaxPerUser: st.MaxPerUser,
		RefuseOverLimit: st.RefuseOverLimit, LimitEvent: limit}, evs)
	switch {
	case errors.Is(err, ErrPendingInvalid), errors.Is(err, ErrSessionLimit):
		failed.Outcome, failed.Reason = audit.Failure, reasonOf(err)
		s.record(ctx, failed)
		return SignInResult{}, err
	case err != nil:
		return SignInResult{}, fmt.Errorf("authn: create session: %w", err)
	}
	return SignInResult{Session: &sess, Token: tok}, nil
}

func reasonOf(err error) string {
	if errors.Is(err, ErrSessionLimit) {
		return "session_limit"
	}
	return "pending_invalid"
}

func joinFactors(fs []Factor) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = string(f)
	}
	return strings.Join(parts, ",")
}

// CompleteSignIn completes a pending sign-in with a second factor (f is FactorTOTP or
// FactorRecoveryCode): the code is verified (and consumed) by the two-factor code, and
// the pending sign-in becomes a session with a new secret. It must come from the
// address the sign-in started from. A wrong code is ErrInvalidCredentials and counts
// against the pending sign-in's attempts (MaxPendingAttempts) and the second-factor
// throttle (from an address outside the tenant's allowlist every failure is
// ErrIPNotAllowed, a right code's too); an unknown, completed, expired or used-up
// pending sign-in is ErrPendingInvalid. At most MaxPendingAttempts codes are ever
// verified for one pending sign-in, concurrent ones included, and of concurrent
// completions at most one succeeds.
func (s *Service) CompleteSignIn(ctx context.Context, pendingToken string, f Factor, code string, meta Meta) (SignInResult, error) {
	if !f.second() {
		return SignInResult{}, fmt.Errorf("authn: %q is not a second factor", f)
	}
	tenant, hash, ok := parseSessionToken(pendingPrefix, pendingToken)
	if !ok {
		return SignInResult{}, ErrPendingInvalid
	}
	pend, err := s.store.PendingBySecret(ctx, tenant, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return SignInResult{}, ErrPendingInvalid
	}
	if err != nil {
		return SignInResult{}, fmt.Errorf("authn: pending sign-in: %w", err)
	}
	now := s.now()
	u, err := s.user(ctx, tenant, pend.User)
	if errors.Is(err, ErrUserDeleted) || errors.Is(err, storage.ErrNotFound) {
		return SignInResult{}, ErrPendingInvalid
	}
	if err != nil {
		return SignInResult{}, err
	}
	ev := loginEvent(u, "login."+string(f), f, meta)
	// outside: the address is outside the tenant's allowlist (it may have changed since
	// the first factor), so every failure is answered ErrIPNotAllowed, as at the first
	// factor: a right code must not be told from a wrong one by the error.
	outside := false
	fail := func(reason string, err error) (SignInResult, error) {
		ev.Outcome, ev.Reason = audit.Failure, reason
		s.record(ctx, ev)
		if outside && errors.Is(err, ErrInvalidCredentials) {
			err = ErrIPNotAllowed
		}
		return SignInResult{}, err
	}
	switch {
	case !pend.Open(now):
		return fail("pending_expired", ErrPendingInvalid)
	case pend.IP != meta.IP:
		return fail("address_changed", ErrPendingInvalid)
	case s.second == nil:
		return fail("no_second_factor", ErrPendingInvalid)
	}
	p, err := s.engine.Policy(ctx, tenant)
	if err != nil {
		return fail("policy_unavailable", err)
	}
	outside = !p.AllowsIP(access.Subject{Tenant: tenant, User: u.ID}, meta.IP)
	lock, err := s.checkThrottle(ctx, tenant, u.ID, throttleSecond, meta.IP)
	if err != nil {
		return fail("storage_error", err)
	}
	// The attempt is counted before the code is looked at, each count one atomic write,
	// so that a burst of concurrent guesses that all read the pending sign-in and the
	// throttle before any failure was recorded still gets at most MaxPendingAttempts
	// verifications of this pending sign-in, and no more than the throttle allows. A
	// refused attempt goes through the same steps (and store round trips) as a wrong
	// code, so that neither its answer nor its timing tells a locked account.
	switch ok, rerr := s.reservePendingAttempt(ctx, pend, now); {
	case rerr != nil:
		return fail("storage_error", rerr)
	case !ok:
		return fail("pending_attempts_used", ErrPendingInvalid)
	}
	if lock, err = s.reserveAttempt(ctx, tenant, u.ID, throttleSecond, meta.IP, lock); err != nil {
		return fail("storage_error", err)
	}
	if lock == "" {
		err = s.second.verify(ctx, tenant, u.ID, f, code, meta)
	} else {
		// The second factor's read that a verification makes, without looking at the
		// code.
		if _, eerr := s.second.enrolled(ctx, tenant, u.ID); eerr != nil {
			return fail("storage_error", eerr)
		}
		err = ErrInvalidCredentials
	}
	if errors.Is(err, ErrInvalidCredentials) {
		reason := "wrong_code"
		if lock != "" {
			reason = lock
		}
		// The pair (and, within the pair's threshold, the account) counted it already.
		if terr := s.countAddressFailure(ctx, tenant, throttleSecond, meta.IP); terr != nil {
			return fail("storage_error", terr)
		}
		ev.Outcome, ev.Reason = audit.Failure, reason
		if perr := audit.Prepare(&ev, now); perr != nil {
			return SignInResult{}, perr
		}
		if _, ferr := s.store.FailPending(ctx, tenant, hash, now, ev); ferr != nil && !errors.Is(ferr, ErrPendingInvalid) {
			return SignInResult{}, fmt.Errorf("authn: pending sign-in: %w", ferr)
		}
		if outside {
			return SignInResult{}, ErrIPNotAllowed
		}
		return SignInResult{}, ErrInvalidCredentials
	}
	if err != nil {
		return fail("second_factor_error", err)
	}
	switch {
	case !u.CanSignIn():
		return fail("user_"+string(u.Status), ErrInvalidCredentials)
	case !p.AllowsIP(access.Subject{Tenant: tenant, User: u.ID}, meta.IP):
		return fail("ip_not_allowed", ErrIPNotAllowed)
	}
	if err := s.resetThrottle(ctx, tenant, u.ID, throttleSecond, meta.IP); err != nil {
		return fail("storage_error", err)
	}
	if r, ok := p.Role(u.ID); ok {
		ev.Actor.Role = r.Name
	}
	return s.startSession(ctx, u, p, []Factor{pend.Factor, f}, false, pend.Kind, meta, hash, &ev)
}

// pendingAttemptKey is the throttle key that counts the verifications of a pending
// sign-in's second factor.
func pendingAttemptKey(p PendingSignIn) string { return "v:" + p.ID.String() }

// reservePendingAttempt counts one verification of p's second factor with the throttle
// store's atomic increment-and-read and reports whether it is within
// MaxPendingAttempts. (The pending sign-in's own Attempts counts failures once they are
// known, too late to bound concurrent guesses.) The counter outlives the pending
// sign-in: each count lasts PendingSignInTTL.
func (s *Service) reservePendingAttempt(ctx context.Context, p PendingSignIn, now time.Time) (bool, error) {
	sts, err := s.store.HitThrottle(ctx, p.Tenant, []ThrottleHit{{Key: pendingAttemptKey(p),
		Threshold: MaxPendingAttempts + 1, Window: PendingSignInTTL, Lock: PendingSignInTTL}}, now)
	if err != nil {
		return false, fmt.Errorf("authn: pending sign-in attempt: %w", err)
	}
	return sts[0].Count <= MaxPendingAttempts, nil
}
