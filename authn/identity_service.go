package authn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// IdentityFlowStart is the start of an authorization-code flow: send the browser to
// URL, and keep Token in a short-lived cookie (HttpOnly, Secure, SameSite=Lax, path of
// the callback, expiring at ExpiresAt) until the callback, which passes it back. The
// flow's state, nonce and PKCE verifier are derived from Token, so a callback is only
// accepted from the browser that started the flow. [FlowCookie] writes the cookie.
type IdentityFlowStart struct {
	URL       string
	Token     LinkToken
	ExpiresAt time.Time
	// TTL is how long the flow is valid from its start (IdentityOptions.FlowTTL): the
	// cookie's Max-Age, which unlike ExpiresAt does not depend on the client's clock.
	TTL time.Duration
}

// Callback is what the provider's redirect brings back to the host's callback
// handler, together with the flow cookie.
type Callback struct {
	// Flow is the value of the flow cookie (IdentityFlowStart.Token.Reveal()).
	Flow string
	// State and Code are the callback's "state" and "code" query parameters.
	State string
	Code  string
}

// String redacts the callback: its flow secret (from which the PKCE verifier is
// derived) and its authorization code are secrets.
func (cb Callback) String() string { return "authn.Callback" + redacted }

// GoString redacts the callback.
func (cb Callback) GoString() string { return cb.String() }

// Format redacts the callback for every fmt verb.
func (cb Callback) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, cb.String()) }

// LogValue redacts the callback in slog output.
func (cb Callback) LogValue() slog.Value { return slog.StringValue(cb.String()) }

// MarshalJSON redacts the callback.
func (cb Callback) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// provider returns the configured provider of this name.
func (s *Service) provider(name string) (IdentityProvider, error) {
	for _, p := range s.opts.Identity.Providers {
		if p.Name() == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownProvider, name)
}

// IdentityProviders returns the names of the configured providers, in configuration
// order, for the sign-in page and the profile.
func (s *Service) IdentityProviders() []string {
	names := make([]string, len(s.opts.Identity.Providers))
	for i, p := range s.opts.Identity.Providers {
		names[i] = p.Name()
	}
	return names
}

// startFlow stores a new flow and returns its start.
func (s *Service) startFlow(ctx context.Context, tenant uuid.UUID, purpose FlowPurpose, provider string, user, session uuid.UUID) (IdentityFlowStart, error) {
	p, err := s.provider(provider)
	if err != nil {
		return IdentityFlowStart{}, err
	}
	tok, _, err := newLinkToken(s.opts.Rand, PurposeIdentityFlow, tenant)
	if err != nil {
		return IdentityFlowStart{}, err
	}
	fs, err := deriveFlow(tok.Reveal())
	if err != nil {
		return IdentityFlowStart{}, err
	}
	now := s.now()
	f := IdentityFlow{Tenant: tenant, TokenHash: fs.hash, Purpose: purpose, Provider: p.Name(), User: user,
		Session: session, CreatedAt: now, ExpiresAt: now.Add(s.opts.Identity.FlowTTL)}
	if err := s.store.CreateIdentityFlow(ctx, f); err != nil {
		return IdentityFlowStart{}, fmt.Errorf("authn: start identity flow: %w", err)
	}
	return IdentityFlowStart{URL: p.AuthCodeURL(fs.state, fs.nonce, fs.verifier), Token: tok, ExpiresAt: f.ExpiresAt,
		TTL: s.opts.Identity.FlowTTL}, nil
}

// flowFailure is a failed callback: the error for the caller, the reason for the
// audit event, and whether a real flow of the tenant was found (only then is the
// failure recorded: a made-up flow cookie names a made-up tenant).
type flowFailure struct {
	err    error
	reason string
	found  bool
}

// completeFlow checks a callback against its flow and redeems the code: it consumes
// the flow (single use, before anything else, so that a replayed callback never
// reaches the provider), checks its purpose and state, and has the provider exchange
// the code with the flow's verifier and verify the answer against its nonce.
func (s *Service) completeFlow(ctx context.Context, purpose FlowPurpose, tenant uuid.UUID, cb Callback) (IdentityFlow, ExternalIdentity, *flowFailure) {
	fs, err := deriveFlow(cb.Flow)
	if err != nil {
		return IdentityFlow{}, ExternalIdentity{}, &flowFailure{ErrFlowInvalid, "flow_malformed", false}
	}
	if tenant != uuid.Nil && fs.tenant != tenant {
		return IdentityFlow{}, ExternalIdentity{}, &flowFailure{ErrFlowInvalid, "flow_other_tenant", false}
	}
	f, err := s.store.ConsumeIdentityFlow(ctx, fs.tenant, fs.hash, s.now())
	switch {
	case errors.Is(err, ErrFlowInvalid):
		return IdentityFlow{}, ExternalIdentity{}, &flowFailure{ErrFlowInvalid, "flow_unknown", false}
	case err != nil:
		return IdentityFlow{}, ExternalIdentity{}, &flowFailure{fmt.Errorf("authn: identity flow: %w", err), "storage_error", false}
	}
	if f.Purpose != purpose {
		return f, ExternalIdentity{}, &flowFailure{ErrFlowInvalid, "flow_purpose", true}
	}
	if !fs.stateMatches(cb.State) {
		return f, ExternalIdentity{}, &flowFailure{ErrFlowInvalid, "state_mismatch", true}
	}
	p, err := s.provider(f.Provider)
	if err != nil {
		return f, ExternalIdentity{}, &flowFailure{err, "provider_unknown", true}
	}
	if cb.Code == "" || len(cb.Code) > 4096 {
		return f, ExternalIdentity{}, &flowFailure{ErrIdentityInvalid, "code_missing", true}
	}
	ext, err := p.Exchange(ctx, cb.Code, fs.verifier, fs.nonce)
	if err != nil {
		if !errors.Is(err, ErrIdentityInvalid) {
			err = fmt.Errorf("%w: %w", ErrIdentityInvalid, err)
		}
		return f, ExternalIdentity{}, &flowFailure{err, "identity_invalid", true}
	}
	if ext.Issuer == "" || ext.Subject == "" || len(ext.Issuer) > 512 || len(ext.Subject) > 512 {
		return f, ExternalIdentity{}, &flowFailure{fmt.Errorf("%w: no issuer or subject", ErrIdentityInvalid), "identity_invalid", true}
	}
	return f, ext, nil
}

// linkActor checks that actor may link identities of their own: a user signed in
// with a session (not an API token, not the system) who may edit their profile.
func (s *Service) linkActor(ctx context.Context, actor access.Subject) (*access.Policy, User, error) {
	if actor.IsSystem() || actor.Session == uuid.Nil || actor.Token != uuid.Nil {
		return nil, User{}, ErrSessionRequired
	}
	p, err := s.authorize(ctx, actor, access.EditProfile)
	if err != nil {
		return nil, User{}, err
	}
	u, err := s.user(ctx, actor.Tenant, actor.User)
	if err != nil {
		return nil, User{}, err
	}
	if !u.CanSignIn() {
		return nil, User{}, fmt.Errorf("%w: the user is %s", ErrForbidden, u.Status)
	}
	return p, u, nil
}

// StartLink starts linking an identity of the named provider to the actor, from their
// profile. The actor must be signed in with a session and may edit their profile; the
// flow is bound to that session and user and expires after IdentityOptions.FlowTTL.
func (s *Service) StartLink(ctx context.Context, actor access.Subject, provider string) (IdentityFlowStart, error) {
	if _, _, err := s.linkActor(ctx, actor); err != nil {
		return IdentityFlowStart{}, err
	}
	return s.startFlow(ctx, actor.Tenant, FlowLink, provider, actor.User, actor.Session)
}

// CompleteLink handles the provider's callback of a link flow started by
// [Service.StartLink], in the same session. It verifies the callback (flow cookie,
// state, code exchange with the PKCE verifier, ID token), stores the identity as
// pending and mails the user a confirmation link: the identity signs in only once the
// user confirms it ([Service.ConfirmIdentity]). The identity is linked to the actor,
// whatever e-mail address the provider reports: no account is ever found or linked by
// e-mail.
//
// A callback of another session or user, a reused or expired flow, or a wrong state is
// ErrFlowInvalid; an answer that does not verify ErrIdentityInvalid; an identity linked
// to another user of the tenant ErrIdentityTaken, and to this user ErrIdentityLinked.
func (s *Service) CompleteLink(ctx context.Context, actor access.Subject, cb Callback) (Identity, error) {
	p, u, err := s.linkActor(ctx, actor)
	if err != nil {
		return Identity{}, err
	}
	fail := func(ff *flowFailure, provider string) (Identity, error) {
		if ff.found {
			ev, err := s.changeEvent(p, actor, "identity.link", userTarget(u), nil)
			if err == nil {
				ev.Outcome, ev.Reason = audit.Failure, ff.reason
				if provider != "" {
					ev.Details = map[string]string{"provider": provider}
				}
				s.record(ctx, ev)
			}
		}
		return Identity{}, ff.err
	}
	f, ext, ff := s.completeFlow(ctx, FlowLink, actor.Tenant, cb)
	if ff != nil {
		return fail(ff, f.Provider)
	}
	if f.User != actor.User || f.Session != actor.Session {
		return fail(&flowFailure{ErrFlowInvalid, "flow_other_session", true}, f.Provider)
	}
	switch cur, err := s.store.IdentityBySubject(ctx, actor.Tenant, ext.Issuer, ext.Subject); {
	case err == nil && cur.User == u.ID && cur.Status == IdentityActive:
		return fail(&flowFailure{ErrIdentityLinked, "identity_linked", true}, f.Provider)
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return Identity{}, fmt.Errorf("authn: link identity: %w", err)
	}
	now := s.now()
	idID, err := uuid.NewV7()
	if err != nil {
		return Identity{}, fmt.Errorf("authn: new id: %w", err)
	}
	tok, hash, err := newLinkToken(s.opts.Rand, PurposeIdentityConfirm, actor.Tenant)
	if err != nil {
		return Identity{}, err
	}
	email, _ := NormalizeEmail(ext.Email) // display only; an unusable claim is dropped
	id := Identity{ID: idID, Tenant: actor.Tenant, User: u.ID, Provider: f.Provider, Issuer: ext.Issuer,
		Subject: ext.Subject, Email: email, Status: IdentityPending, ConfirmHash: hash,
		ConfirmExpiresAt: now.Add(s.opts.Identity.ConfirmTTL), CreatedAt: now}
	changes := []audit.Change{{Field: "provider", New: id.Provider}, {Field: "issuer", New: id.Issuer},
		{Field: "subject", New: id.Subject}, {Field: "email", New: id.Email}, {Field: "status", New: string(IdentityPending)}}
	if s.opts.Identity.TokenSealer != nil && !ext.RefreshToken.IsZero() {
		id.SealedToken, err = s.opts.Identity.TokenSealer.Seal([]byte(ext.RefreshToken.Reveal()), identityAAD(id))
		if err != nil {
			return Identity{}, fmt.Errorf("authn: seal provider token: %w", err)
		}
		changes = append(changes, audit.Secret("refresh_token"))
	}
	ev, err := s.changeEvent(p, actor, "identity.link", userTarget(u), changes)
	if err != nil {
		return Identity{}, err
	}
	ev.Details = map[string]string{"identity": id.ID.String()}
	if err := s.store.CreateIdentity(ctx, id, now, ev); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return fail(&flowFailure{ErrIdentityTaken, "identity_taken", true}, f.Provider)
		}
		return Identity{}, fmt.Errorf("authn: link identity: %w", err)
	}
	// The mail names the account's address only if the provider verified it: an
	// unverified claim could be the user's own address on an account of someone who
	// had their session for a moment.
	account := id.Provider + " account"
	switch {
	case id.Email != "" && ext.EmailVerified:
		account += " " + id.Email
	case id.Email != "":
		account += " (its e-mail address is not verified by " + id.Provider + ")"
	}
	mail := Mail{To: u.Email, Subject: "Confirm signing in to " + p.TenantName() + " with " + id.Provider,
		Text: "You, or someone signed in as you, asked to link the " + account + " to your user of " +
			p.TenantName() + ", so that it can be used to sign in.\n\nIf it was you, confirm it here:\n" +
			s.opts.LinkURL(PurposeIdentityConfirm, tok) + "\n\nThe link can be used once and expires on " +
			id.ConfirmExpiresAt.Format("2 January 2006 15:04 MST") +
			".\nIf it was not you, do not open the link, and change your password.\n"}
	if err := s.opts.Mailer.Send(ctx, mail); err != nil {
		return shown(id), fmt.Errorf("authn: identity stored as pending but the confirmation was not mailed (link again to retry): %w", err)
	}
	return shown(id), nil
}

// identityAAD binds a sealed provider token to its tenant, user and identity, so that
// a sealed token copied to another row fails to open.
func identityAAD(id Identity) []byte {
	aad := make([]byte, 0, 26+48)
	aad = append(aad, "callshield identity token"...)
	aad = append(aad, id.Tenant[:]...)
	aad = append(aad, id.User[:]...)
	return append(aad, id.ID[:]...)
}

// shown returns an identity as the service hands it out: without its confirmation hash
// and sealed token.
func shown(id Identity) Identity {
	id.ConfirmHash, id.SealedToken = [32]byte{}, nil
	return id
}

// ConfirmIdentity confirms a pending identity with the secret of the mailed link: from
// then on it signs the user in. The link is used once and expires after
// IdentityOptions.ConfirmTTL; any unusable link is ErrTicketInvalid. Unusable links
// count against the client's address as those of invitations do (see openLink), and
// a locked address gets ErrTicketInvalid for every link without a lookup.
func (s *Service) ConfirmIdentity(ctx context.Context, token string, meta Meta) (Identity, error) {
	tenant, hash, err := ParseLinkToken(PurposeIdentityConfirm, token)
	if err != nil {
		return Identity{}, ErrTicketInvalid
	}
	return behindLinkThrottle(ctx, s, tenant, meta.IP, func() (Identity, error) {
		return s.confirmIdentity(ctx, tenant, hash, meta)
	})
}

// confirmIdentity is ConfirmIdentity past the address throttle.
func (s *Service) confirmIdentity(ctx context.Context, tenant uuid.UUID, hash [32]byte, meta Meta) (Identity, error) {
	id, err := s.store.IdentityByConfirmation(ctx, tenant, hash)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return Identity{}, ErrTicketInvalid
	case err != nil:
		return Identity{}, fmt.Errorf("authn: confirm identity: %w", err)
	}
	now := s.now()
	if !now.Before(id.ConfirmExpiresAt) {
		return Identity{}, ErrTicketInvalid
	}
	u, err := s.store.User(ctx, tenant, id.User)
	if err != nil {
		return Identity{}, ErrTicketInvalid
	}
	ev := audit.Event{Tenant: tenant, Kind: audit.KindChange, Action: "identity.confirm",
		Actor: audit.Actor{User: u.ID, IP: meta.IP, UserAgent: meta.UserAgent}, Target: userTarget(u),
		Outcome: audit.Success, Details: map[string]string{"identity": id.ID.String(), "provider": id.Provider},
		Changes: []audit.Change{{Field: "status", Old: string(IdentityPending), New: string(IdentityActive)}}}
	if err := audit.Prepare(&ev, now); err != nil {
		return Identity{}, err
	}
	id, err = s.store.ConfirmIdentity(ctx, tenant, hash, now, ev)
	switch {
	case errors.Is(err, ErrTicketInvalid):
		return Identity{}, ErrTicketInvalid
	case err != nil:
		return Identity{}, fmt.Errorf("authn: confirm identity: %w", err)
	}
	return shown(id), nil
}

// Identities lists a user's linked identities, pending ones included (without their
// confirmation hashes and tokens). A user lists their own with EditProfile; another
// user's needs UserManagement.
func (s *Service) Identities(ctx context.Context, actor access.Subject, user uuid.UUID) ([]Identity, error) {
	r := access.EditProfile
	if user != actor.User || actor.IsSystem() {
		r = access.UserManagement
	}
	if _, err := s.authorize(ctx, actor, r); err != nil {
		return nil, err
	}
	ids, err := s.store.Identities(ctx, actor.Tenant, user)
	if err != nil {
		return nil, fmt.Errorf("authn: identities: %w", err)
	}
	for i := range ids {
		ids[i] = shown(ids[i])
	}
	return ids, nil
}

// Unlink removes one of the actor's own identities. It needs EditProfile, and is
// refused with ErrLastSignInMethod when the user would be left with no way to sign in
// (no password and no other confirmed identity); the store settles two racing unlinks.
func (s *Service) Unlink(ctx context.Context, actor access.Subject, identity uuid.UUID) error {
	p, err := s.authorize(ctx, actor, access.EditProfile)
	if err != nil {
		return err
	}
	return s.deleteIdentity(ctx, p, actor, actor.User, identity, true, "identity.unlink")
}

// RemoveIdentity removes a linked identity of another user, e.g. one whose provider
// account was compromised. It needs UserManagement and every right of the user's role
// (nobody manages a user above them, or themselves: use [Service.Unlink]). It may
// remove the user's last way to sign in; [Service.ForcePasswordReset] gives them one.
func (s *Service) RemoveIdentity(ctx context.Context, actor access.Subject, user, identity uuid.UUID) error {
	p, err := s.authorizeOver(ctx, actor, user)
	if err != nil {
		return err
	}
	return s.deleteIdentity(ctx, p, actor, user, identity, false, "identity.remove")
}

func (s *Service) deleteIdentity(ctx context.Context, p *access.Policy, actor access.Subject, user, identity uuid.UUID, keepSignIn bool, action string) error {
	id, err := s.store.Identity(ctx, actor.Tenant, identity)
	if err == nil && id.User != user {
		err = storage.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("authn: %s: %w", action, err)
	}
	u, err := s.user(ctx, actor.Tenant, user)
	if err != nil {
		return err
	}
	ev, err := s.changeEvent(p, actor, action, userTarget(u), []audit.Change{
		{Field: "provider", Old: id.Provider}, {Field: "issuer", Old: id.Issuer}, {Field: "subject", Old: id.Subject},
		{Field: "status", Old: string(id.Status)}})
	if err != nil {
		return err
	}
	ev.Details = map[string]string{"identity": id.ID.String()}
	if err := s.store.DeleteIdentity(ctx, actor.Tenant, user, identity, keepSignIn, ev); err != nil {
		if errors.Is(err, ErrLastSignInMethod) {
			return ErrLastSignInMethod
		}
		return fmt.Errorf("authn: %s: %w", action, err)
	}
	return nil
}

// IdentityToken returns the provider refresh token kept for one of the actor's own
// identities (IdentityOptions.TokenSealer must be set, and the provider must have
// issued one: storage.ErrNotFound otherwise). It needs EditProfile.
func (s *Service) IdentityToken(ctx context.Context, actor access.Subject, identity uuid.UUID) (ProviderToken, error) {
	if _, err := s.authorize(ctx, actor, access.EditProfile); err != nil {
		return ProviderToken{}, err
	}
	id, err := s.store.Identity(ctx, actor.Tenant, identity)
	if err == nil && (id.User != actor.User || len(id.SealedToken) == 0 || s.opts.Identity.TokenSealer == nil) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return ProviderToken{}, fmt.Errorf("authn: identity token: %w", err)
	}
	plain, err := s.opts.Identity.TokenSealer.Open(id.SealedToken, identityAAD(id))
	if err != nil {
		return ProviderToken{}, fmt.Errorf("authn: open provider token: %w", err)
	}
	return NewProviderToken(string(plain)), nil
}

// StartIdentitySignIn starts signing in to a tenant (known from the sign-in page)
// with the named provider, for a client at meta.IP. The flow expires after
// IdentityOptions.FlowTTL; its secret goes into a cookie (see [IdentityFlowStart]).
//
// Anyone can start flows, and each is a row until it is used or expires, so the starts
// are bounded per client address (an IPv6 client by its /64) and tenant: at most
// IdentityOptions.MaxFlowsPerAddress starts, each within FlowTTL of the previous one,
// after which starts from that address are refused with ErrTooManyFlows, and nothing
// is stored, for FlowTTL. The count is a counter of the throttle store, in the same
// write as any failure count (one statement), and a successful sign-in with a linked
// identity from the address clears it, so an office behind one address is refused
// only when its starts outrun its sign-ins. Expired flows are removed by
// [Service.CleanupSessions] and as new flows start.
func (s *Service) StartIdentitySignIn(ctx context.Context, tenant uuid.UUID, provider string, meta Meta) (IdentityFlowStart, error) {
	if tenant == uuid.Nil {
		return IdentityFlowStart{}, fmt.Errorf("authn: start identity sign-in: tenant %w", storage.ErrNotFound)
	}
	if _, err := s.provider(provider); err != nil {
		return IdentityFlowStart{}, err
	}
	if err := s.countFlowStart(ctx, tenant, meta.IP); err != nil {
		return IdentityFlowStart{}, err
	}
	return s.startFlow(ctx, tenant, FlowSignIn, provider, uuid.Nil, uuid.Nil)
}

// flowStartKey is the throttle key that counts the sign-in flows started from ip.
func flowStartKey(ip netip.Addr) string { return "f:" + netOf(ip) }

// countFlowStart counts one sign-in flow start from ip and refuses it
// (ErrTooManyFlows) once the address has started MaxFlowsPerAddress of them: the
// counter locks at the one after, for FlowTTL, and starts during the lock are refused.
func (s *Service) countFlowStart(ctx context.Context, tenant uuid.UUID, ip netip.Addr) error {
	ttl := s.opts.Identity.FlowTTL
	now := s.now()
	sts, err := s.store.HitThrottle(ctx, tenant, []ThrottleHit{{Key: flowStartKey(ip),
		Threshold: s.opts.Identity.MaxFlowsPerAddress + 1, Window: ttl, Lock: ttl}}, now)
	if err != nil {
		return fmt.Errorf("authn: start identity sign-in: %w", err)
	}
	if sts[0].Locked(now) {
		return ErrTooManyFlows
	}
	return nil
}

// identityFirstFactor is the first factor of a sign-in with a linked identity, the
// counterpart of passwordFactor: it verifies the callback (see completeFlow) and finds
// the user by the identity's (issuer, subject), never by e-mail. An identity that is
// unknown, still pending, or linked through another provider configuration is
// ErrInvalidCredentials, as a wrong password is; so is an answer that does not verify.
// Failures are recorded in the login log here; the success is recorded by the rest of
// the flow (signInAfterFirstFactor).
//
// Throttling is the password's: the account's first-factor counter is checked once the
// account is known (a locked account does not sign in with a linked identity either),
// a pending identity counts as a failure, and a success resets it. Failures before the
// account is known (a state, token or identity that does not verify, an unknown
// identity) count against the client's address over all accounts, as an unknown e-mail
// does, and an address locked that way is refused before its code is redeemed.
func (s *Service) identityFirstFactor(ctx context.Context, cb Callback, meta Meta) (User, Identity, ProviderToken, error) {
	ev := audit.Event{Kind: audit.KindLogin, Action: "login.identity",
		Actor: audit.Actor{IP: meta.IP, UserAgent: meta.UserAgent}, Details: map[string]string{"factor": string(FactorIdentity)}}
	// outside: the address is outside the tenant's allowlist, so every failure is
	// answered ErrIPNotAllowed, as passwordFactor does.
	outside := false
	fail := func(reason string, err error) (User, Identity, ProviderToken, error) {
		ev.Outcome, ev.Reason = audit.Failure, reason
		s.record(ctx, ev)
		if outside && errors.Is(err, ErrInvalidCredentials) {
			err = ErrIPNotAllowed
		}
		return User{}, Identity{}, ProviderToken{}, err
	}
	// A locked address is refused before the flow is consumed or the code redeemed; only
	// a tenant that exists is looked at (the flow cookie names it, unverified).
	if fs, err := deriveFlow(cb.Flow); err == nil {
		if p, perr := s.engine.Policy(ctx, fs.tenant); perr == nil {
			refused, err := s.addressRefused(ctx, fs.tenant, throttleFirst, meta.IP)
			if err != nil {
				return User{}, Identity{}, ProviderToken{}, err
			}
			if refused {
				ev.Tenant, outside = fs.tenant, !p.Allowlist().Allows(meta.IP)
				return fail("address_locked", ErrInvalidCredentials)
			}
		}
	}
	// failAddr is fail for a failure that names no account: counted against the address.
	failAddr := func(tenant uuid.UUID, reason string, err error) (User, Identity, ProviderToken, error) {
		if terr := s.countAddressFailure(ctx, tenant, throttleFirst, meta.IP); terr != nil {
			return fail("storage_error", terr)
		}
		return fail(reason, err)
	}
	f, ext, ff := s.completeFlow(ctx, FlowSignIn, uuid.Nil, cb)
	if f.Tenant != uuid.Nil {
		ev.Tenant, ev.Details["provider"] = f.Tenant, f.Provider
		if p, err := s.engine.Policy(ctx, f.Tenant); err == nil {
			outside = !p.Allowlist().Allows(meta.IP)
		}
	}
	if ff != nil {
		err := ff.err
		if errors.Is(err, ErrIdentityInvalid) {
			err = ErrInvalidCredentials
		}
		if !ff.found {
			return User{}, Identity{}, ProviderToken{}, err // no flow, so no tenant known to record in
		}
		if ff.reason == "storage_error" || ff.reason == "provider_unknown" {
			return fail(ff.reason, err)
		}
		return failAddr(f.Tenant, ff.reason, err)
	}
	id, err := s.store.IdentityBySubject(ctx, f.Tenant, ext.Issuer, ext.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return failAddr(f.Tenant, "unknown_identity", ErrInvalidCredentials)
	case err != nil:
		return fail("storage_error", fmt.Errorf("authn: identity sign-in: %w", err))
	}
	ev.Actor.User, ev.Target = id.User, audit.Target{Type: "user", ID: id.User.String()}
	u, err := s.store.User(ctx, f.Tenant, id.User)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fail("unknown_user", ErrInvalidCredentials)
	case err != nil:
		return fail("storage_error", fmt.Errorf("authn: identity sign-in: %w", err))
	}
	ev.Target.Name = u.Email
	lock, err := s.checkThrottle(ctx, f.Tenant, u.ID, throttleFirst, meta.IP)
	if err != nil {
		return fail("storage_error", err)
	}
	switch {
	case lock != "":
		return fail(lock, ErrInvalidCredentials)
	case id.Provider != f.Provider:
		// The same issuer through another configured provider: a host's "custom" provider
		// claiming Google's issuer must not sign in to accounts linked through Google.
		return fail("identity_other_provider", ErrInvalidCredentials)
	case id.Status != IdentityActive:
		if terr := s.countFailure(ctx, f.Tenant, u.ID, throttleFirst, meta.IP, ""); terr != nil {
			return fail("storage_error", terr)
		}
		return fail("identity_pending", ErrInvalidCredentials)
	}
	if err := s.resetThrottle(ctx, f.Tenant, u.ID, throttleFirst, meta.IP, flowStartKey(meta.IP)); err != nil {
		return fail("storage_error", err)
	}
	return u, id, ext.RefreshToken, nil
}

// SignInWithIdentity signs a user in with a linked identity: the callback of a flow
// started by [Service.StartIdentitySignIn] is verified (flow cookie, state, code
// exchange with the PKCE verifier, ID token), the user is the one the confirmed
// identity is linked to, and the rest is the password's flow: status, IP allowlist, a
// pending sign-in when a second factor is owed, else a session with factor
// [FactorIdentity]. An unknown or unconfirmed identity, a token that does not verify
// and a user who may not sign in are ErrInvalidCredentials; a callback that does not
// match its flow is ErrFlowInvalid; a client outside the tenant's allowlist
// ErrIPNotAllowed.
//
// With IdentityOptions.TokenSealer set, a refresh token the provider issues at sign-in
// replaces the identity's sealed one once the sign-in succeeded (a failure to store it
// does not fail the sign-in: the old token stays).
func (s *Service) SignInWithIdentity(ctx context.Context, cb Callback, meta Meta) (SignInResult, error) {
	u, id, refresh, err := s.identityFirstFactor(ctx, cb, meta)
	if err != nil {
		return SignInResult{}, err
	}
	// The login log names the provider configuration and issuer the user came
	// through, as the failures do (identityFirstFactor); never a token.
	res, err := s.signInAfterFirstFactor(ctx, u, FactorIdentity,
		map[string]string{"provider": id.Provider, "issuer": id.Issuer, "identity": id.ID.String()}, meta)
	if err == nil && s.opts.Identity.TokenSealer != nil && !refresh.IsZero() {
		s.keepToken(ctx, u, id, refresh, meta)
	}
	return res, err
}

// keepToken seals and stores a new provider refresh token of an identity.
func (s *Service) keepToken(ctx context.Context, u User, id Identity, refresh ProviderToken, meta Meta) {
	sealed, err := s.opts.Identity.TokenSealer.Seal([]byte(refresh.Reveal()), identityAAD(id))
	if err != nil {
		return
	}
	ev := audit.Event{Tenant: u.Tenant, Kind: audit.KindChange, Action: "identity.token",
		Actor: audit.Actor{User: u.ID, IP: meta.IP, UserAgent: meta.UserAgent}, Target: userTarget(u),
		Outcome: audit.Success, Details: map[string]string{"identity": id.ID.String(), "provider": id.Provider},
		Changes: []audit.Change{audit.Secret("refresh_token")}}
	if audit.Prepare(&ev, s.now()) != nil {
		return
	}
	_ = s.store.SetIdentityToken(ctx, u.Tenant, u.ID, id.ID, sealed, ev)
}
