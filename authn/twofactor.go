package authn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn/totp"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// Two-factor authentication with an authenticator app (TOTP, RFC 6238) and recovery
// codes. The algorithms are authn/totp's; this file is the service part: enrolment
// ("Connect"), the second factor of the sign-in flow, recovery codes, turning 2FA off,
// and what the user list shows.
//
// Secrets: the TOTP secret is sealed with Options.TwoFactorSealer (AES-256-GCM) bound
// with totp.BindAAD to the tenant and the user, so that a sealed secret copied to
// another user's row fails to open; the pending enrolment's secret is sealed under
// associated data of its own, so that it cannot be copied into the active row either.
// Recovery codes are stored as SHA-256 hashes. No secret, code or URI reaches an
// event, an error or a log.

// Two-factor defaults.
const (
	// TwoFactorEnrolmentTTL is how long a started enrolment can be confirmed.
	TwoFactorEnrolmentTTL = 10 * time.Minute
	// RecoveryCodeCount is how many recovery codes enrolment and regeneration make.
	RecoveryCodeCount = totp.DefaultRecoveryCodes
)

// Errors of two-factor authentication.
var (
	// ErrTwoFactorNotConfigured: Options.TwoFactorSealer is nil, so secrets cannot be
	// sealed or opened. Enrolment is refused, and so is the second factor of a user
	// who has one (fail closed).
	ErrTwoFactorNotConfigured = errors.New("authn: two-factor is not configured (Options.TwoFactorSealer)")
	// ErrTwoFactorEnabled: the user has two-factor on already; turn it off first.
	ErrTwoFactorEnabled = errors.New("authn: two-factor is already on")
	// ErrTwoFactorNotEnabled: the user has no active second factor.
	ErrTwoFactorNotEnabled = errors.New("authn: two-factor is not on")
	// ErrEnrolmentInvalid: no started enrolment to confirm (never started, expired,
	// replaced by a newer start, or confirmed already). Start again.
	ErrEnrolmentInvalid = errors.New("authn: no open two-factor enrolment; start again")
	// ErrInvalidCode: the code typed to confirm an enrolment is wrong. (A wrong code
	// at sign-in is ErrInvalidCredentials.)
	ErrInvalidCode = errors.New("authn: invalid code")
)

// twoFactorConfig is the TOTP configuration of every enrolment: SHA-1, 6 digits,
// 30 s, ±1 step, the only parameters every authenticator app honours. It is bound into
// the sealed secret (BindAAD), so changing it later needs a stored Config per user.
var twoFactorConfig = totp.Config{}

// TwoFactorSetup is what starting an enrolment returns, to show once: the QR code
// (Key.PNG), the otpauth URI it holds (Key.URI) and the secret for typing in
// (Key.Secret().Base32()). totp.Key redacts itself in logs and encodings. Nothing is
// active until [Service.ConfirmTwoFactor].
type TwoFactorSetup struct {
	Key       totp.Key
	ExpiresAt time.Time
}

// TwoFactorEnabled is what confirming an enrolment returns.
type TwoFactorEnabled struct {
	// RecoveryCodes are shown to the user once; only their hashes are stored.
	RecoveryCodes []totp.RecoveryCode
	// Session is the actor's new session secret (the old one stopped working): set
	// it as the session cookie.
	Session SessionToken
}

// TwoFactorStatus is what an administrator (or the user) may see of a user's second
// factor: whether it is on, since when, and how many recovery codes are left; never
// the secret or a code.
type TwoFactorStatus struct {
	Enabled           bool
	EnabledAt         time.Time
	RecoveryCodesLeft int
	// Pending: an enrolment was started and not confirmed yet (it may have expired).
	Pending bool
}

// activeAAD binds a sealed active secret to its tenant and user.
func activeAAD(tenant, user uuid.UUID) ([]byte, error) {
	return totp.BindAAD(tenant, user, twoFactorConfig)
}

// pendingAAD binds a sealed pending secret to its tenant and user, distinct from
// activeAAD.
func pendingAAD(tenant, user uuid.UUID) ([]byte, error) {
	b, err := totp.BindAAD(tenant, user, twoFactorConfig)
	return append(b, "/pending"...), err
}

// sealer returns the configured sealer or ErrTwoFactorNotConfigured.
func (s *Service) sealer() (*totp.Sealer, error) {
	if s.opts.TwoFactorSealer == nil {
		return nil, ErrTwoFactorNotConfigured
	}
	return s.opts.TwoFactorSealer, nil
}

// sessionActor refuses subjects without a session (API tokens, system) for the
// operations of one's own account.
func sessionActor(actor access.Subject) error {
	if !actor.Valid() || actor.IsSystem() || actor.Token != uuid.Nil || actor.Session == uuid.Nil {
		return fmt.Errorf("%w: a signed-in session is required", ErrForbidden)
	}
	return nil
}

// issuerName turns the tenant's name into an issuer an authenticator app lists: the
// characters a key URI cannot carry (':', and '&' and '+', see totp.NewKey) and
// control characters become spaces, runs of spaces one; an empty result is the
// product name.
func (s *Service) issuerName(tenantName string) string {
	clean := strings.Map(func(r rune) rune {
		if r == ':' || r == '&' || r == '+' || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, tenantName)
	clean = strings.Join(strings.Fields(clean), " ")
	if clean == "" {
		return s.opts.ProductName
	}
	return clean
}

// StartTwoFactor starts the actor's enrolment ("Connect"): a new 160-bit secret, its
// QR code and otpauth URI (issuer: the tenant's name; account: the user's e-mail),
// valid for TwoFactorEnrolmentTTL. It needs a signed-in session that proved a factor
// recently (ErrReauthRequired: call Reauthenticate first; ASVS 7.5.1), works in a
// restricted session (one that may only enrol), and replaces an earlier unconfirmed
// enrolment. The secret is stored only sealed; nothing is active until
// [Service.ConfirmTwoFactor]. A user with two-factor on gets ErrTwoFactorEnabled.
func (s *Service) StartTwoFactor(ctx context.Context, actor access.Subject) (TwoFactorSetup, error) {
	if err := sessionActor(actor); err != nil {
		return TwoFactorSetup{}, err
	}
	sl, err := s.sealer()
	if err != nil {
		return TwoFactorSetup{}, err
	}
	if err := s.requireRecentAuth(ctx, actor, 0); err != nil {
		return TwoFactorSetup{}, err
	}
	u, err := s.user(ctx, actor.Tenant, actor.User)
	if err != nil {
		return TwoFactorSetup{}, err
	}
	if !u.CanSignIn() {
		return TwoFactorSetup{}, fmt.Errorf("%w: the user may not sign in", ErrForbidden)
	}
	p, err := s.engine.Policy(ctx, actor.Tenant)
	if err != nil {
		return TwoFactorSetup{}, err
	}
	key, err := totp.GenerateKey(s.opts.Rand, s.issuerName(p.TenantName()), u.Email, twoFactorConfig)
	if err != nil {
		return TwoFactorSetup{}, fmt.Errorf("authn: two-factor key: %w", err)
	}
	aad, err := pendingAAD(actor.Tenant, actor.User)
	if err != nil {
		return TwoFactorSetup{}, err
	}
	sealed, err := sl.Seal(key.Secret(), aad)
	if err != nil {
		return TwoFactorSetup{}, fmt.Errorf("authn: seal two-factor secret: %w", err)
	}
	now := s.now()
	e := TwoFactorEnrolment{Tenant: actor.Tenant, User: actor.User, Sealed: sealed, CreatedAt: now, ExpiresAt: now.Add(TwoFactorEnrolmentTTL)}
	ev, err := s.changeEvent(p, actor, "two_factor.start", userTarget(u), []audit.Change{
		{Field: "expires_at", New: e.ExpiresAt.Format(time.RFC3339)}})
	if err != nil {
		return TwoFactorSetup{}, err
	}
	if err := s.store.SetTwoFactorEnrolment(ctx, e, ev); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return TwoFactorSetup{}, ErrTwoFactorEnabled
		}
		return TwoFactorSetup{}, fmt.Errorf("authn: start two-factor: %w", err)
	}
	return TwoFactorSetup{Key: key, ExpiresAt: e.ExpiresAt}, nil
}

// ConfirmTwoFactor confirms the actor's started enrolment with the first code their app
// shows: two-factor turns on (the secret sealed for the user's row, the code's time
// step recorded as used so that the setup code cannot be replayed as the first sign-in
// code), RecoveryCodeCount recovery codes are made and returned to show once, a
// change-log event without any secret is written, and the actor's session gets a new
// secret (returned; the old one stops working) that is no longer restricted.
//
// Errors: ErrEnrolmentInvalid when there is no open enrolment (expired, replaced,
// confirmed already: start again), ErrInvalidCode for a wrong, malformed or reused code
// (the enrolment stays open until it expires), ErrTwoFactorNotConfigured, and
// ErrSessionInvalid when the session ended before it could be rotated: two-factor is
// on then, and RecoveryCodes is set in the result all the same, to be shown.
func (s *Service) ConfirmTwoFactor(ctx context.Context, actor access.Subject, code string) (TwoFactorEnabled, error) {
	if err := sessionActor(actor); err != nil {
		return TwoFactorEnabled{}, err
	}
	sl, err := s.sealer()
	if err != nil {
		return TwoFactorEnabled{}, err
	}
	u, err := s.user(ctx, actor.Tenant, actor.User)
	if err != nil {
		return TwoFactorEnabled{}, err
	}
	if !u.CanSignIn() {
		return TwoFactorEnabled{}, fmt.Errorf("%w: the user may not sign in", ErrForbidden)
	}
	now := s.now()
	e, err := s.store.TwoFactorEnrolment(ctx, actor.Tenant, actor.User)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return TwoFactorEnabled{}, ErrEnrolmentInvalid
	case err != nil:
		return TwoFactorEnabled{}, fmt.Errorf("authn: two-factor enrolment: %w", err)
	case !e.ExpiresAt.After(now):
		return TwoFactorEnabled{}, ErrEnrolmentInvalid
	}
	paad, err := pendingAAD(actor.Tenant, actor.User)
	if err != nil {
		return TwoFactorEnabled{}, err
	}
	secret, err := sl.Open(e.Sealed, paad)
	if err != nil {
		return TwoFactorEnabled{}, fmt.Errorf("authn: open two-factor enrolment: %w", err)
	}
	step, err := totp.Verify(secret, code, now, 0, twoFactorConfig)
	if err != nil {
		if errors.Is(err, totp.ErrInvalidCode) || errors.Is(err, totp.ErrMalformedCode) || errors.Is(err, totp.ErrReplayed) {
			return TwoFactorEnabled{}, ErrInvalidCode
		}
		return TwoFactorEnabled{}, fmt.Errorf("authn: verify code: %w", err)
	}
	aad, err := activeAAD(actor.Tenant, actor.User)
	if err != nil {
		return TwoFactorEnabled{}, err
	}
	sealed, err := sl.Seal(secret, aad)
	if err != nil {
		return TwoFactorEnabled{}, fmt.Errorf("authn: seal two-factor secret: %w", err)
	}
	codes, hashes, err := s.newRecoveryCodes()
	if err != nil {
		return TwoFactorEnabled{}, err
	}
	p, err := s.engine.Policy(ctx, actor.Tenant)
	if err != nil {
		return TwoFactorEnabled{}, err
	}
	ev, err := s.changeEvent(p, actor, "two_factor.enable", userTarget(u), []audit.Change{
		{Field: "two_factor", Old: "off", New: "on"}, {Field: "recovery_codes", New: strconv.Itoa(len(codes))}})
	if err != nil {
		return TwoFactorEnabled{}, err
	}
	f := TwoFactor{Tenant: actor.Tenant, User: actor.User, Sealed: sealed, LastStep: step, EnabledAt: now}
	if err := s.store.EnableTwoFactor(ctx, f, e.Sealed, hashes, ev); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return TwoFactorEnabled{}, ErrEnrolmentInvalid
		}
		return TwoFactorEnabled{}, fmt.Errorf("authn: enable two-factor: %w", err)
	}
	tok, err := s.rotateAfterEnrolment(ctx, actor)
	if err != nil {
		return TwoFactorEnabled{RecoveryCodes: codes}, err
	}
	return TwoFactorEnabled{RecoveryCodes: codes, Session: tok}, nil
}

// rotateAfterEnrolment gives the actor's session a new secret once two-factor is on:
// the session is no longer restricted, and proved the app's code just now.
func (s *Service) rotateAfterEnrolment(ctx context.Context, actor access.Subject) (SessionToken, error) {
	now := s.now()
	return s.rotateSession(ctx, actor, "two_factor_enabled", func(r *SessionRotation) {
		r.Restricted, r.AuthAt = false, now
		if !slices.Contains(r.Factors, FactorTOTP) {
			r.Factors = append(slices.Clone(r.Factors), FactorTOTP)
		}
	})
}

// newRecoveryCodes makes a set of recovery codes and their hashes.
func (s *Service) newRecoveryCodes() ([]totp.RecoveryCode, [][]byte, error) {
	codes, err := totp.NewRecoveryCodes(s.opts.Rand, RecoveryCodeCount)
	if err != nil {
		return nil, nil, fmt.Errorf("authn: recovery codes: %w", err)
	}
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		hashes[i] = c.Hash()
	}
	return codes, hashes, nil
}

// DisableTwoFactor turns a user's two-factor off (and cancels a started enrolment),
// deleting the sealed secret and the recovery codes, with a change-log event.
//
// For oneself it needs EditProfile and a recent re-authentication (ErrReauthRequired;
// ASVS 7.5.1) in a signed-in session. For another user it needs UserManagement and
// every right of the user's role (nobody manages a user above them). If the tenant
// requires two-factor, the user must enrol again at their next sign-in.
// ErrTwoFactorNotEnabled when there is nothing to turn off.
func (s *Service) DisableTwoFactor(ctx context.Context, actor access.Subject, user uuid.UUID) error {
	var p *access.Policy
	var err error
	if user == actor.User && !actor.IsSystem() {
		if err := sessionActor(actor); err != nil {
			return err
		}
		if p, err = s.authorize(ctx, actor, access.EditProfile); err != nil {
			return err
		}
		if err := s.requireRecentAuth(ctx, actor, 0); err != nil {
			return err
		}
		st, err := s.Settings(ctx, actor.Tenant)
		if err != nil {
			return err
		}
		if st.TwoFactorRequiredFor(p, user) {
			return ErrTwoFactorRequired // an administrator may reset it (a lost device)
		}
	} else if p, err = s.authorizeOver(ctx, actor, user); err != nil {
		return err
	}
	u, err := s.user(ctx, actor.Tenant, user)
	if err != nil {
		return err
	}
	ev, err := s.changeEvent(p, actor, "two_factor.disable", userTarget(u), []audit.Change{
		{Field: "two_factor", Old: "on", New: "off"}})
	if err != nil {
		return err
	}
	if err := s.store.DisableTwoFactor(ctx, actor.Tenant, user, ev); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return ErrTwoFactorNotEnabled
		}
		return fmt.Errorf("authn: disable two-factor: %w", err)
	}
	return nil
}

// RegenerateRecoveryCodes voids the actor's recovery codes and returns a new set of
// RecoveryCodeCount to show once. It needs a signed-in session and a recent
// re-authentication (ErrReauthRequired), and ErrTwoFactorNotEnabled without 2FA.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, actor access.Subject) ([]totp.RecoveryCode, error) {
	if err := sessionActor(actor); err != nil {
		return nil, err
	}
	if err := s.requireRecentAuth(ctx, actor, 0); err != nil {
		return nil, err
	}
	u, err := s.user(ctx, actor.Tenant, actor.User)
	if err != nil {
		return nil, err
	}
	p, err := s.engine.Policy(ctx, actor.Tenant)
	if err != nil {
		return nil, err
	}
	codes, hashes, err := s.newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	ev, err := s.changeEvent(p, actor, "two_factor.recovery_regenerate", userTarget(u), []audit.Change{
		{Field: "recovery_codes", New: strconv.Itoa(len(codes))}})
	if err != nil {
		return nil, err
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, actor.Tenant, actor.User, hashes, ev); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrTwoFactorNotEnabled
		}
		return nil, fmt.Errorf("authn: regenerate recovery codes: %w", err)
	}
	return codes, nil
}

// TwoFactorStatusOf returns whether a user has two-factor on, and how many recovery
// codes are left. It needs UserManagement, or the actor is the user.
func (s *Service) TwoFactorStatusOf(ctx context.Context, actor access.Subject, user uuid.UUID) (TwoFactorStatus, error) {
	if user != actor.User || actor.IsSystem() {
		if _, err := s.authorize(ctx, actor, access.UserManagement); err != nil {
			return TwoFactorStatus{}, err
		}
	}
	var st TwoFactorStatus
	f, err := s.store.TwoFactor(ctx, actor.Tenant, user)
	switch {
	case err == nil:
		st.Enabled, st.EnabledAt = true, f.EnabledAt
		hs, err := s.store.RecoveryCodeHashes(ctx, actor.Tenant, user)
		if err != nil {
			return TwoFactorStatus{}, fmt.Errorf("authn: recovery codes: %w", err)
		}
		st.RecoveryCodesLeft = len(hs)
	case !errors.Is(err, storage.ErrNotFound):
		return TwoFactorStatus{}, fmt.Errorf("authn: two-factor: %w", err)
	}
	_, err = s.store.TwoFactorEnrolment(ctx, actor.Tenant, user)
	switch {
	case err == nil:
		st.Pending = true
	case !errors.Is(err, storage.ErrNotFound):
		return TwoFactorStatus{}, fmt.Errorf("authn: two-factor enrolment: %w", err)
	}
	return st, nil
}

// markTwoFactor sets User.TwoFactor on each of users.
func (s *Service) markTwoFactor(ctx context.Context, tenant uuid.UUID, users []User) error {
	ids, err := s.store.TwoFactorUsers(ctx, tenant)
	if err != nil {
		return fmt.Errorf("authn: two-factor users: %w", err)
	}
	on := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		on[id] = true
	}
	for i := range users {
		users[i].TwoFactor = on[users[i].ID]
	}
	return nil
}

// twoFactor is the Service's second factor of the sign-in flow (the secondFactor of
// signin.go).
type twoFactor struct{ s *Service }

// enrolled reports whether the user has an active second factor. A storage error is
// returned (and the sign-in fails closed).
func (t twoFactor) enrolled(ctx context.Context, tenant, user uuid.UUID) (bool, error) {
	_, err := t.s.store.TwoFactor(ctx, tenant, user)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("authn: two-factor: %w", err)
}

// verify checks and consumes a TOTP code (its step must be after the last used one,
// recorded with a conditional update) or a recovery code (deleted with a conditional
// delete, audited with the number left). Any wrong, malformed, replayed or used code is
// an error wrapping ErrInvalidCredentials; the reason is in the error's text for the
// login log ("wrong_code", "replayed"), never the code.
func (t twoFactor) verify(ctx context.Context, tenant, user uuid.UUID, f Factor, code string, meta Meta) error {
	s := t.s
	switch f {
	case FactorTOTP:
		return s.verifyTOTP(ctx, tenant, user, code)
	case FactorRecoveryCode:
		return s.useRecoveryCode(ctx, tenant, user, code, meta)
	}
	return fmt.Errorf("authn: %q is not a second factor", f)
}

// errReplayed is the ErrInvalidCredentials of a code whose step was used already.
var errReplayed = fmt.Errorf("%w: code already used", ErrInvalidCredentials)

func (s *Service) verifyTOTP(ctx context.Context, tenant, user uuid.UUID, code string) error {
	sl, err := s.sealer()
	if err != nil {
		return err
	}
	f, err := s.store.TwoFactor(ctx, tenant, user)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: no second factor", ErrInvalidCredentials)
	}
	if err != nil {
		return fmt.Errorf("authn: two-factor: %w", err)
	}
	aad, err := activeAAD(tenant, user)
	if err != nil {
		return err
	}
	secret, err := sl.Open(f.Sealed, aad)
	if err != nil {
		// Tampered, moved from another row, or an unknown key: fail closed, and not as
		// a wrong code (it is not the user's mistake, and must not count as one).
		return fmt.Errorf("authn: open two-factor secret: %w", err)
	}
	step, err := totp.Verify(secret, code, s.now(), f.LastStep, twoFactorConfig)
	switch {
	case errors.Is(err, totp.ErrReplayed):
		return errReplayed
	case errors.Is(err, totp.ErrInvalidCode) || errors.Is(err, totp.ErrMalformedCode):
		return fmt.Errorf("%w: wrong code", ErrInvalidCredentials)
	case err != nil:
		return fmt.Errorf("authn: verify code: %w", err)
	}
	used, err := s.store.UseTOTPStep(ctx, tenant, user, step)
	if err != nil {
		return fmt.Errorf("authn: use TOTP step: %w", err)
	}
	if !used {
		return errReplayed // a concurrent sign-in used this step (or a later one) first
	}
	return nil
}

func (s *Service) useRecoveryCode(ctx context.Context, tenant, user uuid.UUID, code string, meta Meta) error {
	hashes, err := s.store.RecoveryCodeHashes(ctx, tenant, user)
	if err != nil {
		return fmt.Errorf("authn: recovery codes: %w", err)
	}
	i, ok := totp.MatchRecoveryCode(code, hashes)
	if !ok {
		return fmt.Errorf("%w: wrong recovery code", ErrInvalidCredentials)
	}
	u, err := s.user(ctx, tenant, user)
	if err != nil {
		return err
	}
	ev := audit.Event{Tenant: tenant, Kind: audit.KindChange, Action: "two_factor.recovery_used",
		Actor:  audit.Actor{User: user, IP: meta.IP, UserAgent: meta.UserAgent},
		Target: userTarget(u), Outcome: audit.Success,
		Changes: []audit.Change{{Field: "recovery_codes", Old: strconv.Itoa(len(hashes)), New: strconv.Itoa(len(hashes) - 1)}}}
	if err := audit.Prepare(&ev, s.now()); err != nil {
		return err
	}
	_, used, err := s.store.UseRecoveryCode(ctx, tenant, user, hashes[i], ev)
	if err != nil {
		return fmt.Errorf("authn: use recovery code: %w", err)
	}
	if !used {
		return errReplayed // used by a concurrent sign-in
	}
	return nil
}
