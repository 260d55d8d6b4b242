package authn

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
	"weak"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn/totp"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// EventRecorder stores audit events that are not part of a store transaction (sign-in
// attempts); *audit.Recorder implements it.
type EventRecorder interface {
	Record(ctx context.Context, e audit.Event) error
}

// SessionEnder ends a user's sessions and API tokens. The Service ends its own sessions
// itself (it is a SessionEnder too); Options.Sessions is for what else the host keeps
// per user, such as the token package's API tokens. Blocked and removed users are
// refused on every request anyway, because sessions and tokens check [User.CanSignIn].
type SessionEnder interface {
	// EndUserSessions ends every session of the user except `except` (uuid.Nil: all).
	EndUserSessions(ctx context.Context, tenant, user, except uuid.UUID) error
}

// Options configure a [Service]. Mailer and LinkURL are required; the zero value of
// every other field is a safe default.
type Options struct {
	// Mailer sends invitation and password-reset mails. Required.
	Mailer Mailer
	// LinkURL builds the URL mailed for a one-time link, e.g.
	// "https://app.example.com/accept#" + token.Reveal(). Put the token in the URL
	// fragment or path, and serve the page with Referrer-Policy: no-referrer, so that the
	// secret does not reach logs and third parties. Required.
	LinkURL func(p Purpose, token LinkToken) string
	// Hasher hashes passwords. If nil, NewHasher with the OWASP defaults is used.
	Hasher *Hasher
	// Audit records sign-in attempts (the login log). If nil, they are not recorded.
	Audit EventRecorder
	// Sessions is called, after the Service has ended its own sessions, when a user is
	// blocked or removed, or after a password change or reset: for what else the host
	// ends per user (the token package's API tokens). Optional.
	Sessions SessionEnder
	// ProductName is a context word no password may contain. Default "callshield".
	ProductName string
	// Clock returns the current time. If nil, time.Now is used.
	Clock func() time.Time
	// Identity configures linked identities (sign-in with Google, Facebook or another
	// OpenID Connect provider). The zero value offers no provider.
	Identity IdentityOptions
	// Rand is the source of link secrets. If nil, crypto/rand is used. Inject one only in
	// tests.
	Rand io.Reader
	// TwoFactorSealer seals the users' TOTP secrets for storage (AES-256-GCM, keys
	// from a secret manager, never from the database; see totp.NewSealer). Required
	// for two-factor: without it enrolment is refused and the second factor of a user
	// who has one fails closed (ErrTwoFactorNotConfigured). Every instance sharing a
	// database needs the same keyring.
	TwoFactorSealer *totp.Sealer
	// SessionCache configures the per-process cache of validated sessions, used only
	// while a change feed vouches for it: an in-process store that announces its
	// changes ([SessionFeed], the memory store), or storage/pglisten on PostgreSQL
	// given this Service as its Sessions. See [Service.ValidateSession] for what is
	// cached and its staleness bound.
	SessionCache SessionCacheOptions
}

// Service manages accounts: invitations, passwords, sign-in and the user lifecycle.
// Every change is checked against the acting subject's rights in access, and written
// with its audit event in one store transaction.
type Service struct {
	store  Store
	engine *access.Engine
	opts   Options
	// second is the second factor of the sign-in flow (signin.go); nil: no user has one.
	second secondFactor
	// cache keeps validated sessions between requests while a feed vouches for it
	// (session_cache.go).
	cache *sessionCache
}

// NewService returns a Service over store, deciding rights with engine.
func NewService(store Store, engine *access.Engine, opts Options) (*Service, error) {
	if opts.Mailer == nil || opts.LinkURL == nil {
		return nil, errors.New("authn: Options.Mailer and Options.LinkURL are required")
	}
	if store == nil || engine == nil {
		return nil, errors.New("authn: a store and an access engine are required")
	}
	if opts.Hasher == nil {
		opts.Hasher = NewHasher(HasherOptions{})
	}
	if opts.ProductName == "" {
		opts.ProductName = "callshield"
	}
	cacheClock := opts.Clock // nil: the session cache's monotonic clock (session_cache.go)
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	var err error
	if opts.Identity, err = opts.Identity.withDefaults(); err != nil {
		return nil, err
	}
	s := &Service{store: store, engine: engine, opts: opts}
	s.second = twoFactor{s} // twofactor.go
	s.cache = newSessionCache(opts.SessionCache, engine.ListenLease(), engine.Now, cacheClock)
	if f, ok := store.(SessionFeed); ok && !opts.SessionCache.Disabled {
		s.cache.feed.Store(feedExact)
		f.WatchSessions(&serviceWatcher{s: weak.Make(s)})
	}
	return s, nil
}

func (s *Service) now() time.Time { return s.opts.Clock().UTC().Truncate(time.Microsecond) }

// Meta is what is known of the client making an unauthenticated request (accepting an
// invitation, signing in), for the audit log and the IP allowlist.
type Meta struct {
	IP        netip.Addr
	UserAgent string
	// Kind is the interface a sign-in is for; the zero value is SessionAdmin.
	Kind SessionKind
}

// Settings returns the tenant's account settings, defaults filled in.
// RequireTwoFactorRoles lists only roles the tenant still has: a role deleted since
// (which nobody held) is left out, so that the settings read back can be saved again.
func (s *Service) Settings(ctx context.Context, tenant uuid.UUID) (Settings, error) {
	st, err := s.store.Settings(ctx, tenant)
	if errors.Is(err, storage.ErrNotFound) {
		st, err = Settings{Tenant: tenant}, nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("authn: settings: %w", err)
	}
	if len(st.RequireTwoFactorRoles) > 0 {
		p, err := s.engine.Policy(ctx, tenant)
		if err != nil {
			return Settings{}, fmt.Errorf("authn: settings: %w", err)
		}
		roles := p.Roles()
		st.RequireTwoFactorRoles = slices.DeleteFunc(slices.Clone(st.RequireTwoFactorRoles), func(id uuid.UUID) bool {
			return !slices.ContainsFunc(roles, func(r access.Role) bool { return r.ID == id })
		})
	}
	return st.withDefaults(), nil
}

// UpdateSettings stores the tenant's account settings. It needs ManageCompany.
// st.Version must be the version read (0 if the defaults were never stored).
func (s *Service) UpdateSettings(ctx context.Context, actor access.Subject, st Settings) (Settings, error) {
	p, err := s.authorize(ctx, actor, access.ManageCompany)
	if err != nil {
		return Settings{}, err
	}
	st.Tenant = actor.Tenant
	st = st.withDefaults()
	if err := s.checkSettings(st); err != nil {
		return Settings{}, err
	}
	if st.RequireTwoFactorRoles, err = tenantRoles(p, st.RequireTwoFactorRoles); err != nil {
		return Settings{}, err
	}
	old, err := s.Settings(ctx, actor.Tenant)
	if err != nil {
		return Settings{}, err
	}
	var changes []audit.Change
	add := func(field, o, n string) {
		if ch, ok := audit.Changed(field, o, n); ok {
			changes = append(changes, ch)
		}
	}
	add("password_mode", old.PasswordMode, st.PasswordMode)
	add("password_min_length", fmt.Sprint(old.PasswordMinLength), fmt.Sprint(st.PasswordMinLength))
	add("password_min_score", fmt.Sprint(old.PasswordMinScore), fmt.Sprint(st.PasswordMinScore))
	add("require_two_factor", fmt.Sprint(old.RequireTwoFactor), fmt.Sprint(st.RequireTwoFactor))
	add("require_two_factor_roles", rolesText(old.RequireTwoFactorRoles), rolesText(st.RequireTwoFactorRoles))
	add("invitation_ttl", old.InvitationTTL.String(), st.InvitationTTL.String())
	add("reset_ttl", old.ResetTTL.String(), st.ResetTTL.String())
	add("retention", old.Retention.String(), st.Retention.String())
	ev, err := s.changeEvent(p, actor, "settings.update", audit.Target{Type: "tenant", ID: actor.Tenant.String()}, changes)
	if err != nil {
		return Settings{}, err
	}
	st.UpdatedAt = s.now()
	if err := s.store.SetSettings(ctx, st, ev); err != nil {
		return Settings{}, fmt.Errorf("authn: update settings: %w", err)
	}
	st.Version++
	return st, nil
}

// CheckSettings reports whether [Service.UpdateSettings] and
// [Service.UpdateSessionSettings] would accept st and ss as values (defaults filled
// in), without reading or writing anything. A caller that saves both in one step
// checks the pair first, so that a value the second would refuse does not leave the
// first saved. Authorization, versions and storage are checked by the updates.
func (s *Service) CheckSettings(st Settings, ss SessionSettings) error {
	if err := s.checkSettings(st.withDefaults()); err != nil {
		return err
	}
	return ss.withDefaults().validate()
}

func (s *Service) checkSettings(st Settings) error {
	if err := st.validate(); err != nil {
		return err
	}
	if (st.RequireTwoFactor || len(st.RequireTwoFactorRoles) > 0) && s.opts.TwoFactorSealer == nil {
		return ErrTwoFactorUnavailable // nobody could enrol
	}
	return nil
}

// tenantRoles returns ids sorted and without duplicates, or ErrInvalidSettings if one
// is not a role of p's tenant.
func tenantRoles(p *access.Policy, ids []uuid.UUID) ([]uuid.UUID, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	out = slices.Compact(out)
	roles := p.Roles()
	for _, id := range out {
		if !slices.ContainsFunc(roles, func(r access.Role) bool { return r.ID == id }) {
			return nil, fmt.Errorf("%w: role %s is not one of the tenant's", ErrInvalidSettings, id)
		}
	}
	return out, nil
}

func (s *Service) authorize(ctx context.Context, actor access.Subject, r access.Right) (*access.Policy, error) {
	if actor.Tenant == uuid.Nil {
		return nil, ErrForbidden
	}
	p, err := s.engine.Policy(ctx, actor.Tenant)
	if err != nil {
		return nil, err
	}
	if !actor.IsSystem() && !p.Check(actor, r, uuid.Nil) {
		return nil, fmt.Errorf("%w: %s required", ErrForbidden, r)
	}
	return p, nil
}

// authorizeOver checks that actor may manage the target user: UserManagement, and every
// right of the target's role (nobody manages a user above them), and not themselves.
func (s *Service) authorizeOver(ctx context.Context, actor access.Subject, target uuid.UUID) (*access.Policy, error) {
	p, err := s.authorize(ctx, actor, access.UserManagement)
	if err != nil {
		return nil, err
	}
	if target == actor.User {
		return nil, fmt.Errorf("%w: users cannot change their own access", ErrForbidden)
	}
	if err := s.canManage(ctx, p, actor, target); err != nil {
		return nil, err
	}
	return p, nil
}

// canManage checks that actor stands at or above target: for a member, the rule of
// access ([access.Policy.CanManage]: every right of their tenant role and of each of
// their project overrides); for someone else, every right of the role they are judged
// by (see [Service.judgedRole]).
func (s *Service) canManage(ctx context.Context, p *access.Policy, actor access.Subject, target uuid.UUID) error {
	if _, member := p.Role(target); member {
		if !p.CanManage(actor, target) {
			return fmt.Errorf("%w: the user holds rights the actor does not", ErrForbidden)
		}
		return nil
	}
	role, err := s.judgedRole(ctx, p, actor.Tenant, target)
	if err != nil {
		return err
	}
	if !p.CanAssignRole(actor, role) {
		return fmt.Errorf("%w: the user holds rights the actor does not", ErrForbidden)
	}
	return nil
}

// judgedRole returns the role whose rights an actor must hold to manage target: the
// target's tenant role if they are a member; otherwise the role their open invitation
// promises (an invited user has no membership until they accept, so that inviting
// someone as Admin does not make them manageable by every user manager); otherwise,
// or when that role no longer exists, the tenant's Admin role. Failing closed covers
// a user whose membership was removed (their former role is not known) and an
// invitation that expired: only those who hold every right manage them.
func (s *Service) judgedRole(ctx context.Context, p *access.Policy, tenant, target uuid.UUID) (uuid.UUID, error) {
	if role, ok := p.Role(target); ok {
		return role.ID, nil
	}
	t, err := s.store.OpenInvitation(ctx, tenant, target, s.now())
	switch {
	case err == nil:
		if roleName(p, t.Role) != "" {
			return t.Role, nil
		}
	case !errors.Is(err, storage.ErrNotFound):
		return uuid.Nil, fmt.Errorf("authn: open invitation: %w", err)
	}
	for _, r := range p.Roles() {
		if r.Kind == access.KindAdmin {
			return r.ID, nil
		}
	}
	return uuid.Nil, fmt.Errorf("%w: the tenant has no Admin role", ErrForbidden)
}

func actorOf(p *access.Policy, actor access.Subject) audit.Actor {
	a := audit.Actor{User: actor.User, IP: actor.IP, UserAgent: actor.UserAgent, Session: actor.Session, Token: actor.Token}
	if actor.IsSystem() {
		a.Role = "system"
	} else if r, ok := p.Role(actor.User); ok {
		a.Role = r.Name
	}
	return a
}

func (s *Service) changeEvent(p *access.Policy, actor access.Subject, action string, target audit.Target, changes []audit.Change) (audit.Event, error) {
	ev := audit.Event{Tenant: actor.Tenant, Kind: audit.KindChange, Action: action, Actor: actorOf(p, actor),
		Target: target, Outcome: audit.Success, Changes: changes}
	return ev, audit.Prepare(&ev, s.now())
}

func userTarget(u User) audit.Target {
	return audit.Target{Type: "user", ID: u.ID.String(), Name: u.Email}
}

// InviteRequest is what an administrator fills in to invite a user.
type InviteRequest struct {
	Email    string
	Name     string
	Role     uuid.UUID   // the user's tenant role, fixed at invitation
	Projects []uuid.UUID // projects the user joins on acceptance
}

// Invitation is the outcome of [Service.Invite]; the link itself went by mail.
type Invitation struct {
	User      User
	Ticket    uuid.UUID
	ExpiresAt time.Time
}

// Invite invites a user by e-mail, or re-invites an invited user (voiding the earlier
// link). It needs UserManagement and every right of the role; each project of
// req.Projects needs what adding the user to it directly would
// ([access.Policy.CanInviteToProject]: ManageProjects in the project); a re-invite also needs
// every right of the role the pending invitation promises (of the Admin role if it
// expired), so that nobody voids the invitation of a user above them. The link is
// valid for the tenant's InvitationTTL (7 days by default) and is mailed; it is never
// returned.
func (s *Service) Invite(ctx context.Context, actor access.Subject, req InviteRequest) (Invitation, error) {
	p, err := s.authorize(ctx, actor, access.UserManagement)
	if err != nil {
		return Invitation{}, err
	}
	if !p.CanAssignRole(actor, req.Role) {
		return Invitation{}, fmt.Errorf("%w: role unknown or above the actor's rights", ErrForbidden)
	}
	for _, pr := range req.Projects {
		// The rule of access.Service.AddProjectMember: an invitation grants only what
		// its author could grant directly.
		if err := p.CanInviteToProject(actor, pr, req.Role); err != nil {
			return Invitation{}, fmt.Errorf("authn: invite: %w", err)
		}
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return Invitation{}, err
	}
	name, err := validName(req.Name)
	if err != nil {
		return Invitation{}, err
	}
	st, err := s.Settings(ctx, actor.Tenant)
	if err != nil {
		return Invitation{}, err
	}
	now := s.now()
	u, err := s.store.UserByEmail(ctx, actor.Tenant, email)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		id, err := uuid.NewV7()
		if err != nil {
			return Invitation{}, fmt.Errorf("authn: new id: %w", err)
		}
		u = User{ID: id, Tenant: actor.Tenant, Email: email, Name: name, Status: StatusInvited,
			StatusAt: now, CreatedAt: now, UpdatedAt: now}
	case err != nil:
		return Invitation{}, fmt.Errorf("authn: invite: %w", err)
	case u.Status != StatusInvited:
		return Invitation{}, ErrUserExists
	default:
		// A re-invite voids the pending link: only who could manage the user it invites
		// (by the role of that invitation) may do it. The invitation is read after the
		// user, so a re-invite meanwhile makes CreateInvitation stale.
		if err := s.canManage(ctx, p, actor, u.ID); err != nil {
			return Invitation{}, err
		}
		u.Name, u.UpdatedAt = name, now
	}
	token, hash, err := newLinkToken(s.opts.Rand, PurposeInvitation, actor.Tenant)
	if err != nil {
		return Invitation{}, err
	}
	tid, err := uuid.NewV7()
	if err != nil {
		return Invitation{}, fmt.Errorf("authn: new id: %w", err)
	}
	t := Ticket{ID: tid, Tenant: actor.Tenant, User: u.ID, Purpose: PurposeInvitation, Email: email, TokenHash: hash,
		Role: req.Role, Projects: append([]uuid.UUID(nil), req.Projects...), CreatedBy: actor.User,
		CreatedAt: now, ExpiresAt: now.Add(st.InvitationTTL)}
	roleName := roleName(p, req.Role)
	projects := make([]string, len(req.Projects))
	for i, pr := range req.Projects {
		projects[i] = pr.String()
	}
	action := "invitation.create"
	if u.Version != 0 {
		action = "invitation.renew"
	}
	ev, err := s.changeEvent(p, actor, action, userTarget(u), []audit.Change{
		{Field: "email", New: email}, {Field: "role", New: roleName},
		{Field: "projects", New: strings.Join(projects, ",")}, {Field: "expires_at", New: t.ExpiresAt.Format(time.RFC3339)},
	})
	if err != nil {
		return Invitation{}, err
	}
	if err := s.store.CreateInvitation(ctx, u, t, ev); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return Invitation{}, ErrUserExists
		}
		return Invitation{}, fmt.Errorf("authn: invite: %w", err)
	}
	u.Version++
	mail := Mail{To: email, Subject: "You are invited to " + p.TenantName(),
		Text: "You have been invited to " + p.TenantName() + ".\n\nAccept the invitation and choose your password here:\n" +
			s.opts.LinkURL(PurposeInvitation, token) + "\n\nThe link can be used once and expires on " +
			t.ExpiresAt.Format("2 January 2006 15:04 MST") + ".\n"}
	if err := s.opts.Mailer.Send(ctx, mail); err != nil {
		return Invitation{User: u, Ticket: tid, ExpiresAt: t.ExpiresAt}, fmt.Errorf("authn: invitation stored but not mailed (re-invite to retry): %w", err)
	}
	return Invitation{User: u, Ticket: tid, ExpiresAt: t.ExpiresAt}, nil
}

// roleName returns the name of a role in the policy, or "".
func roleName(p *access.Policy, role uuid.UUID) string {
	for _, r := range p.Roles() {
		if r.ID == role {
			return r.Name
		}
	}
	return ""
}

// openTicket resolves a link secret to its open ticket, or ErrTicketInvalid.
func (s *Service) openTicket(ctx context.Context, purpose Purpose, token string) (Ticket, [32]byte, error) {
	tenant, hash, err := ParseLinkToken(purpose, token)
	if err != nil {
		return Ticket{}, hash, err
	}
	t, err := s.store.Ticket(ctx, tenant, purpose, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return Ticket{}, hash, ErrTicketInvalid
	}
	if err != nil {
		return Ticket{}, hash, fmt.Errorf("authn: ticket: %w", err)
	}
	if !t.Open(s.now()) {
		return Ticket{}, hash, ErrTicketInvalid
	}
	return t, hash, nil
}

// checkPassword validates a new password against the password policy and context words
// of p's tenant.
func (s *Service) checkPassword(ctx context.Context, p *access.Policy, email string, pw Password) error {
	st, err := s.Settings(ctx, p.Tenant())
	if err != nil {
		return err
	}
	return st.passwordPolicy().Validate(ctx, pw, PasswordContext{TenantName: p.TenantName(), Email: email, ProductName: s.opts.ProductName})
}

// AcceptInvitation accepts an invitation with the link's secret and the password the
// user chose (checked against the tenant's password policy): the user becomes active
// with the role and projects fixed at invitation. Of two racing calls with one link,
// one succeeds; the other, and every later use, gets ErrTicketInvalid. From an address
// outside the tenant's allowlist (unless the invitation's role bypasses it) it returns
// ErrIPNotAllowed and the link stays open.
func (s *Service) AcceptInvitation(ctx context.Context, token string, pw Password, meta Meta) (User, error) {
	u, tenant, err := s.useTicket(ctx, PurposeInvitation, token, pw, meta, "invitation.accept",
		[]audit.Change{{Field: "status", Old: string(StatusInvited), New: string(StatusActive)}, audit.Secret("password")},
		s.store.AcceptInvitation)
	if err != nil {
		return User{}, err
	}
	s.engine.Invalidate(tenant)
	return u, nil
}

// consumeFunc is the store method that consumes an open ticket and sets the password.
type consumeFunc func(ctx context.Context, tenant uuid.UUID, tokenHash [32]byte, now time.Time, passwordHash string, ev audit.Event) (User, error)

// useTicket is the one path of every one-time link that sets a password: it resolves
// the open ticket, checks the password against the tenant's policy, hashes it, and has
// the store consume the ticket and record the event in one transaction. Any unusable
// link is ErrTicketInvalid, whichever step finds it.
func (s *Service) useTicket(ctx context.Context, purpose Purpose, token string, pw Password, meta Meta,
	action string, changes []audit.Change, consume consumeFunc) (User, uuid.UUID, error) {
	t, hash, err := s.openLink(ctx, purpose, token, meta)
	if err != nil {
		return User{}, uuid.Nil, err
	}
	// Using a link signs the user in as far as the host is concerned, so the tenant's
	// IP allowlist applies as at sign-in (ASVS 8.2.4): with the invitation's role for an
	// invited user, the member's role otherwise. The link stays usable from an allowed
	// address.
	p, err := s.engine.Policy(ctx, t.Tenant)
	if err != nil {
		return User{}, uuid.Nil, err
	}
	allowed := p.AllowsIP(access.Subject{Tenant: t.Tenant, User: t.User}, meta.IP)
	if purpose == PurposeInvitation {
		allowed = p.RoleAllowsIP(t.Role, meta.IP)
	}
	ev := audit.Event{Tenant: t.Tenant, Kind: audit.KindChange, Action: action,
		Actor:   audit.Actor{User: t.User, IP: meta.IP, UserAgent: meta.UserAgent},
		Target:  audit.Target{Type: "user", ID: t.User.String(), Name: t.Email},
		Outcome: audit.Success, Changes: changes}
	if !allowed {
		denied := ev
		denied.Outcome, denied.Reason, denied.Changes = audit.Denied, "ip_not_allowed", nil
		s.record(ctx, denied)
		return User{}, uuid.Nil, ErrIPNotAllowed
	}
	if err := s.checkPassword(ctx, p, t.Email, pw); err != nil {
		return User{}, uuid.Nil, err
	}
	encoded, err := s.opts.Hasher.Hash(ctx, pw)
	if err != nil {
		return User{}, uuid.Nil, err
	}
	if err := audit.Prepare(&ev, s.now()); err != nil {
		return User{}, uuid.Nil, err
	}
	u, err := consume(ctx, t.Tenant, hash, s.now(), encoded, ev)
	if errors.Is(err, ErrTicketInvalid) {
		return User{}, uuid.Nil, ErrTicketInvalid
	}
	if err != nil {
		return User{}, uuid.Nil, fmt.Errorf("authn: %s: %w", action, err)
	}
	return u, t.Tenant, nil
}

// RevokeInvitation voids a user's open invitation links. It needs UserManagement and
// every right of the role the invitation promises (see [Service.Remove] for the rule).
func (s *Service) RevokeInvitation(ctx context.Context, actor access.Subject, user uuid.UUID) error {
	p, err := s.authorizeOver(ctx, actor, user)
	if err != nil {
		return err
	}
	u, err := s.user(ctx, actor.Tenant, user)
	if err != nil {
		return err
	}
	ev, err := s.changeEvent(p, actor, "invitation.revoke", userTarget(u), nil)
	if err != nil {
		return err
	}
	if _, err := s.store.RevokeTickets(ctx, actor.Tenant, user, PurposeInvitation, s.now(), ev); err != nil {
		return fmt.Errorf("authn: revoke invitation: %w", err)
	}
	return nil
}

// user returns a user who is not deleted; a tombstone is ErrUserDeleted.
func (s *Service) user(ctx context.Context, tenant, id uuid.UUID) (User, error) {
	u, err := s.store.User(ctx, tenant, id)
	if err != nil {
		return User{}, fmt.Errorf("authn: user: %w", err)
	}
	if u.Status == StatusDeleted {
		return u, ErrUserDeleted
	}
	return u, nil
}

// User returns a user of the actor's tenant. It needs UserManagement, or the actor is
// the user. A deleted user returns the tombstone (ID and status only) with
// ErrUserDeleted.
func (s *Service) User(ctx context.Context, actor access.Subject, id uuid.UUID) (User, error) {
	if id != actor.User || actor.IsSystem() {
		if _, err := s.authorize(ctx, actor, access.UserManagement); err != nil {
			return User{}, err
		}
	}
	return s.user(ctx, actor.Tenant, id)
}

// Users lists the tenant's users that are not deleted, with User.TwoFactor set. It
// needs UserManagement.
func (s *Service) Users(ctx context.Context, actor access.Subject) ([]User, error) {
	if _, err := s.authorize(ctx, actor, access.UserManagement); err != nil {
		return nil, err
	}
	us, err := s.store.Users(ctx, actor.Tenant)
	if err != nil {
		return nil, err
	}
	if err := s.markTwoFactor(ctx, actor.Tenant, us); err != nil {
		return nil, err
	}
	return us, nil
}

// Status returns a user's lifecycle status: the cheap check sessions and API tokens make
// on every request. A deleted or unknown user is reported as such, never as active.
func (s *Service) Status(ctx context.Context, tenant, user uuid.UUID) (Status, error) {
	u, err := s.store.User(ctx, tenant, user)
	if err != nil {
		return "", err
	}
	return u.Status, nil
}
