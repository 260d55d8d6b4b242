package token

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// UserStatus tells whether a user may still act: the check every request made with a
// token makes, so that blocking, archiving or removing the user stops their token on
// the next request on every instance. Package token does not import authn; wrap
// authn's status lookup with [StatusFunc]:
//
//	token.StatusFunc(accounts.Status) // accounts is an *authn.Service
type UserStatus interface {
	// Active reports whether the user of tenant may act now. An unknown user is
	// false, not an error; an error is a failure to find out, and denies.
	Active(ctx context.Context, tenant, user uuid.UUID) (bool, error)
}

// StatusFunc adapts a status lookup whose status is a string kind, such as
// authn.Service.Status, to [UserStatus]: a user is active when the status is "active"
// (authn.StatusActive); a lookup error wrapping storage.ErrNotFound is an unknown user.
func StatusFunc[S ~string](lookup func(ctx context.Context, tenant, user uuid.UUID) (S, error)) UserStatus {
	return statusFunc[S](lookup)
}

type statusFunc[S ~string] func(ctx context.Context, tenant, user uuid.UUID) (S, error)

func (f statusFunc[S]) Active(ctx context.Context, tenant, user uuid.UUID) (bool, error) {
	st, err := f(ctx, tenant, user)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return string(st) == "active", nil
}

// ActionLog queues action-log events; *audit.Writer (the batched writer) implements
// it.
type ActionLog interface {
	Enqueue(e audit.Event) error
}

// Defaults of [Options].
const (
	DefaultFlushInterval = 10 * time.Second
	// MaxUsageDays bounds the period of one usage query.
	MaxUsageDays = 400
	// MaxCacheTTL bounds Options.CacheTTL: how long a token revoked, or a user blocked,
	// through another instance may still be accepted here.
	MaxCacheTTL = time.Minute
	// DefaultRegenerateInterval is the default of Options.RegenerateInterval.
	DefaultRegenerateInterval = time.Minute
)

// OptionsError is NewService's answer to an option out of its range (a configuration
// error of the host, not of a request).
type OptionsError struct {
	Option string // the field of Options, "CacheTTL"
	Reason string
}

func (e *OptionsError) Error() string { return "token: Options." + e.Option + ": " + e.Reason }

// Options configure a [Service]. Users and Actions are required; the zero value of
// every other field is a safe default.
type Options struct {
	// Users tells whether a token's user may still act. Required.
	Users UserStatus
	// Actions receives the action-log event of every request made with a token: use
	// the batched *audit.Writer. Required.
	Actions ActionLog
	// TrustedProxies are the proxies whose X-Forwarded-For is believed (see
	// access.ClientIP). If empty, the header is ignored, because any client can write
	// it.
	TrustedProxies []netip.Prefix
	// Project returns the project a request is about: the token's user must hold the
	// integrations right there (their project role, or SeeAllProjects). If nil, or
	// for a request it returns uuid.Nil for, the user's tenant role must hold it. An
	// error is answered 400. It sees the request as the middleware does: to read path
	// values (r.PathValue), mount the middleware inside the route,
	// mux.Handle(pattern, svc.Middleware(h)), which also lets the action log redact
	// sensitive path wildcards.
	Project func(*http.Request) (uuid.UUID, error)
	// SensitiveKeys are more parameter names the action log redacts, besides
	// audit.SensitiveKeys.
	SensitiveKeys []string
	// Location returns the time zone whose days a tenant's usage is counted in. If
	// nil, or when it returns nil, UTC. It is called on every request: make it a
	// cheap lookup.
	Location func(tenant uuid.UUID) *time.Location
	// FlushInterval is how often counted usage is written to the store. If zero,
	// DefaultFlushInterval. Close flushes what is left.
	FlushInterval time.Duration
	// After returns a channel that receives once d has passed; the flusher waits with
	// it. If nil, time.After. Tests inject it.
	After func(d time.Duration) <-chan time.Time
	// CacheTTL, if positive, lets Verify reuse a token it verified (the token's record
	// and its user being active) for up to CacheTTL without reading the store: one
	// cache lookup instead of two store reads per request. Revoking, regenerating or
	// ending a user's token through this Service removes it from this Service's cache
	// at once; a revocation, or a user blocked, through another instance (or directly
	// in the store) is seen here within CacheTTL. Expiry is checked on every request,
	// and so is everything the middleware decides from the policy: role, projects,
	// allowlist — and with authn over the same store a blocked user holds no right, so
	// the middleware refuses them on the next request even from the cache. If zero,
	// there is no cache: every request reads the store.
	//
	// CacheTTL is the staleness bound of revocations and blocks made elsewhere, so it
	// is capped: a value above MaxCacheTTL makes NewService fail with an
	// *[OptionsError] (rather than be shortened silently, which would hide the
	// misconfiguration).
	CacheTTL time.Duration
	// RefusalLogInterval bounds the action log of requests refused with a known but
	// dead token (revoked, expired, or whose user may not act): per token and process,
	// one event per interval, and one more that counts the refusals after it (see
	// [Service.Middleware]). If zero or negative, DefaultRefusalLogInterval.
	RefusalLogInterval time.Duration
	// RegenerateInterval bounds how often a user gets a token: an issuance or
	// replacement ([Service.Issue], [Service.Regenerate]) less than RegenerateInterval
	// after the CreatedAt of the user's latest token — the current one, or one revoked
	// since, by whoever — is refused with a *[RegenerateTooSoonError] (ErrRegenerateTooSoon)
	// and changes nothing, so that a stolen session or a client stuck in a loop cannot
	// churn tokens (and their audit events and dead rows) at its request rate, with
	// Regenerate or with Revoke and Issue. The bound is read from the stored tokens and
	// the write is conditional on it (Store.CreateTokenAfter, Store.ReplaceToken), so
	// at most one issuance per user succeeds per interval, also across instances; a
	// CreatedAt ahead of this instance's clock counts as just created. Revoking is never
	// limited: a leaked token can always be stopped at once. The refusals are logged
	// bounded like those of dead tokens (see [Service.Regenerate]). If zero or
	// negative, DefaultRegenerateInterval.
	RegenerateInterval time.Duration
	// Clock returns the current time. If nil, time.Now is used.
	Clock func() time.Time
	// Rand is the source of token secrets. If nil, crypto/rand. Inject one only in
	// tests.
	Rand io.Reader
	// Logger receives the service's own warnings (a usage flush or an action-log
	// event that failed). It never receives a token. If nil, slog.Default().
	Logger *slog.Logger
}

// Service issues, verifies and revokes API tokens, serves the middleware that
// authenticates requests with them, and counts their daily usage. It is safe for
// concurrent use; call [Service.Close] at shutdown to flush the usage counters.
type Service struct {
	store    Store
	engine   *access.Engine
	opts     Options
	usage    *counter
	refusals *refusals
	// regenRefusals bounds the log of regenerations refused by RegenerateInterval,
	// per user (tokenRef.id is the user's ID).
	regenRefusals *refusals
	cache         verified

	stop      chan struct{}
	stopOnce  sync.Once
	loopDone  chan struct{}
	flushMu   sync.RWMutex // one flush at a time; usage reports read under RLock
	closeOnce sync.Once
}

// NewService returns a Service over store, deciding rights with engine, and starts its
// usage flusher. An option out of range is an *[OptionsError].
func NewService(store Store, engine *access.Engine, opts Options) (*Service, error) {
	if store == nil || engine == nil {
		return nil, errors.New("token: a Store and an *access.Engine are required")
	}
	if opts.Users == nil || opts.Actions == nil {
		return nil, errors.New("token: Options.Users and Options.Actions are required")
	}
	if opts.CacheTTL > MaxCacheTTL {
		return nil, &OptionsError{Option: "CacheTTL", Reason: fmt.Sprintf("%v is above MaxCacheTTL (%v)", opts.CacheTTL, MaxCacheTTL)}
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.RefusalLogInterval <= 0 {
		opts.RefusalLogInterval = DefaultRefusalLogInterval
	}
	if opts.RegenerateInterval <= 0 {
		opts.RegenerateInterval = DefaultRegenerateInterval
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Service{store: store, engine: engine, opts: opts, usage: newCounter(),
		refusals:      newRefusals(opts.RefusalLogInterval, refusalsEvent),
		regenRefusals: newRefusals(opts.RegenerateInterval, regenRefusalsEvent), stop: make(chan struct{}), loopDone: make(chan struct{})}
	if opts.CacheTTL > 0 {
		s.cache.ttl = int64(opts.CacheTTL)
	}
	go s.flushLoop()
	return s, nil
}

func (s *Service) now() time.Time { return s.opts.Clock().UTC().Truncate(time.Microsecond) }

// Verify authenticates a presented token: its format and checksum (before any store
// lookup), its record (by hash, in the tenant the token names), that it is neither
// revoked nor expired, and that its user may still act. Every such failure wraps
// [ErrInvalid]; for a known token (revoked, expired, inactive user) the record is
// returned with the error, for the action log. Any other error is a failure to find
// out (storage unavailable): deny.
//
// Verify authenticates; it does not authorize. It does not check that the user still
// holds the integrations right (in the tenant role or in the request's project), nor
// the IP allowlist, nor count or log the call: the Middleware does all of that. A host
// that authenticates with Verify alone (a non-HTTP transport) must make the same
// checks with the current policy on every call.
//
// Verify makes no write: the token's LastUsedAt moves with the usage flush. With
// Options.CacheTTL it may answer from its cache of verified tokens (see there).
func (s *Service) Verify(ctx context.Context, raw string) (Token, error) {
	tenant, hash, err := Parse(raw)
	if err != nil {
		return Token{}, err
	}
	var now time.Time
	var gen uint64
	if s.cache.ttl != 0 {
		now = s.opts.Clock()
		if t, ok := s.cache.get(tenant, &hash, now.UnixNano()); ok {
			if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
				return t, ErrExpired
			}
			return t, nil
		}
		gen = s.cache.generation() // before the store read: see verified
	}
	t, err := s.store.TokenByHash(ctx, tenant, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return Token{}, ErrUnknown
	}
	if err != nil {
		return Token{}, fmt.Errorf("token: lookup: %w", err)
	}
	if !t.RevokedAt.IsZero() {
		return t, ErrRevoked
	}
	if !t.ExpiresAt.IsZero() && !s.opts.Clock().Before(t.ExpiresAt) {
		return t, ErrExpired
	}
	active, err := s.opts.Users.Active(ctx, t.Tenant, t.User)
	if err != nil {
		return t, fmt.Errorf("token: user status: %w", err)
	}
	if !active {
		return t, ErrUserInactive
	}
	if s.cache.ttl != 0 {
		s.cache.put(t, gen, now.UnixNano())
	}
	return t, nil
}

// IssueRequest is what a user fills in to get an API token.
type IssueRequest struct {
	// Name labels the token ("CRM sync"): 1 to MaxNameLen characters.
	Name string
	// ExpiresAt is when the token stops working; zero: never.
	ExpiresAt time.Time
}

// Issue gives the actor an API token, shown once as the returned Secret. The actor
// must be an active user holding the integrations right (access.Integrations: in
// their tenant role or in one of their projects). A user has one active token: if
// they have one, Issue returns ErrExists (use [Service.Regenerate]); an expired one
// is replaced. Of two Issue calls racing for one user, on one instance or many, one
// succeeds and the other returns ErrExists.
//
// Only the user issues their own token: a user manager could otherwise hold a
// credential that acts as someone else. Managers revoke ([Service.Revoke]). The actor
// must not itself be authenticated by a token (actor.Token set): a token never mints
// or regenerates a token, or a leaked one could renew itself and drop its expiry. The
// user's status is read again after the token is stored: a user blocked meanwhile
// gets ErrForbidden and no token.
func (s *Service) Issue(ctx context.Context, actor access.Subject, req IssueRequest) (Token, Secret, error) {
	return s.issue(ctx, actor, req, false)
}

// Regenerate replaces the actor's token with a new one in one store transaction: the
// old secret stops working at once. Without a current token it issues one. Its rights
// are those of [Service.Issue]. Of two racing calls one wins; the other returns an
// error wrapping storage.ErrStale (or ErrExists, or ErrRegenerateTooSoon) and changes
// nothing.
//
// If the user's latest token (the current one, or one revoked since) was created less
// than Options.RegenerateInterval ago (a minute by default), no token is issued:
// Regenerate, and Issue alike, return a *[RegenerateTooSoonError] (errors.Is
// ErrRegenerateTooSoon) with the wait left, which access.WriteErrorFor answers as
// Retry-After. The interval runs from the stored CreatedAt and the write is
// conditional on it (a replacement on the token still being current, an issuance on
// no token of the user created within the interval), so at most one issuance per user
// succeeds per interval, also across instances and with revocations in between. Each
// refusal is a "token.regenerate" change-log event (an Issue's, "token.issue") with
// Outcome denied and Reason "regenerate_too_soon" (no secret), bounded as the
// refusals of dead tokens are: per user and process, the first refusal of each
// interval is an event of its own (DetailRefusals "1"), and the refusals after it are
// counted and logged by the next flush as one [ActionRegenerateRefusals] event with
// their number.
func (s *Service) Regenerate(ctx context.Context, actor access.Subject, req IssueRequest) (Token, Secret, error) {
	return s.issue(ctx, actor, req, true)
}

func (s *Service) issue(ctx context.Context, actor access.Subject, req IssueRequest, replace bool) (Token, Secret, error) {
	if !actor.Valid() || actor.IsSystem() {
		return Token{}, Secret{}, fmt.Errorf("%w: only a user issues their own token", ErrForbidden)
	}
	if actor.Token != uuid.Nil {
		// A token does not mint tokens: a leaked one would otherwise replace itself
		// with a fresh secret (locking its owner's copy out) and shed its expiry.
		return Token{}, Secret{}, fmt.Errorf("%w: a request authenticated by an API token cannot issue one", ErrForbidden)
	}
	p, err := s.engine.Policy(ctx, actor.Tenant)
	if err != nil {
		return Token{}, Secret{}, fmt.Errorf("token: policy: %w", err)
	}
	if !p.Check(actor, access.Integrations, uuid.Nil) && p.Scope(actor, access.Integrations).Empty() {
		return Token{}, Secret{}, fmt.Errorf("%w: %s required", ErrForbidden, access.Integrations)
	}
	active, err := s.opts.Users.Active(ctx, actor.Tenant, actor.User)
	if err != nil {
		return Token{}, Secret{}, fmt.Errorf("token: user status: %w", err)
	}
	if !active {
		return Token{}, Secret{}, fmt.Errorf("%w: the user may not act", ErrForbidden)
	}
	name, err := validName(req.Name)
	if err != nil {
		return Token{}, Secret{}, err
	}
	now := s.now()
	var expires time.Time
	if !req.ExpiresAt.IsZero() {
		expires = req.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !expires.After(now) {
			return Token{}, Secret{}, ErrInvalidExpiry
		}
	}
	cur, err := s.store.UserToken(ctx, actor.Tenant, actor.User)
	hasCur := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return Token{}, Secret{}, fmt.Errorf("token: current token: %w", err)
	}
	if hasCur && !replace && cur.Active(now) {
		return Token{}, Secret{}, ErrExists
	}
	// The bound runs from the user's latest token, revoked ones included, so that
	// revoking first does not reset it.
	last, err := s.store.LatestUserToken(ctx, actor.Tenant, actor.User)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return Token{}, Secret{}, fmt.Errorf("token: latest token: %w", err)
	}
	if err == nil && !replace && last.RevokedAt.IsZero() && last.Active(now) {
		return Token{}, Secret{}, ErrExists // a racing Issue stored it after the read of cur
	}
	action := "token.issue"
	if hasCur {
		action = "token.regenerate"
	}
	if err == nil && now.Sub(last.CreatedAt) < s.opts.RegenerateInterval {
		// A negative age (a CreatedAt ahead of this clock) is refused too.
		return Token{}, Secret{}, s.tooSoon(p, actor, action, last, now)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Token{}, Secret{}, fmt.Errorf("token: new id: %w", err)
	}
	secret, hash, err := newSecret(s.opts.Rand, actor.Tenant)
	if err != nil {
		return Token{}, Secret{}, err
	}
	t := Token{ID: id, Tenant: actor.Tenant, User: actor.User, Name: name, Hash: hash,
		CreatedBy: actor.User, CreatedAt: now, ExpiresAt: expires}
	changes := []audit.Change{{Field: "name", New: name}, {Field: "user", New: actor.User.String()}, audit.Secret("secret")}
	if !expires.IsZero() {
		changes = append(changes, audit.Change{Field: "expires_at", New: expires.Format(time.RFC3339)})
	}
	if hasCur {
		changes = append(changes, audit.Change{Field: "replaces", Old: cur.ID.String()})
	}
	ev, err := changeEvent(p, actor, action, t, changes, now)
	if err != nil {
		return Token{}, Secret{}, err
	}
	if hasCur {
		err = s.store.ReplaceToken(ctx, cur.ID, t, ev)
		s.cache.drop(cur)
	} else {
		// Conditional on no token of the user created within the interval: a racing
		// issuance (after a racing revocation) committed first makes this one stale.
		err = s.store.CreateTokenAfter(ctx, t, now.Add(-s.opts.RegenerateInterval), ev)
		if errors.Is(err, storage.ErrStale) {
			if last, lerr := s.store.LatestUserToken(ctx, actor.Tenant, actor.User); lerr == nil {
				if !replace && last.RevokedAt.IsZero() && last.Active(now) {
					return Token{}, Secret{}, ErrExists
				}
				return Token{}, Secret{}, s.tooSoon(p, actor, action, last, now)
			}
			return Token{}, Secret{}, ErrRegenerateTooSoon
		}
	}
	if errors.Is(err, ErrExists) || (!replace && errors.Is(err, storage.ErrStale)) {
		// For Issue, a stale replacement of an expired token means a racing call
		// replaced it first: the user has a token now.
		return Token{}, Secret{}, ErrExists
	}
	if err != nil {
		return Token{}, Secret{}, fmt.Errorf("token: %s: %w", action, err)
	}
	// A block or removal that landed between the status check above and the write
	// revoked nothing (there was no token yet): read the status again now that the
	// token is stored. The user's status changes before their tokens are ended, so
	// either that revocation or this check sees the new token; without it the token
	// would come back to life when the user is unblocked.
	active, err = s.opts.Users.Active(ctx, actor.Tenant, actor.User)
	if err != nil || !active {
		if rerr := s.endTokens(ctx, actor.Tenant, actor.User, "user_inactive"); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if err != nil {
			return Token{}, Secret{}, fmt.Errorf("token: user status after %s: %w", action, err)
		}
		return Token{}, Secret{}, fmt.Errorf("%w: the user may not act", ErrForbidden)
	}
	return t, secret, nil
}

// tooSoon logs the refusal of a replacement or issuance (action, "token.regenerate" or
// "token.issue") inside RegenerateInterval and returns its error, with the wait until
// the interval since last (the user's latest token) has passed.
func (s *Service) tooSoon(p *access.Policy, actor access.Subject, action string, last Token, now time.Time) error {
	s.refuseRegenerate(p, actor, action, last, now)
	return &RegenerateTooSoonError{Wait: s.opts.RegenerateInterval - now.Sub(last.CreatedAt)}
}

// Revoke revokes the user's active token. Users revoke their own without any right;
// revoking another user's needs UserManagement and every right of the role the user
// is managed by (their tenant role; for a user without a membership the Admin role):
// nobody acts on a user above them. The provisioning subject (access.System) may
// revoke any. A user without an active token is ErrNoToken.
func (s *Service) Revoke(ctx context.Context, actor access.Subject, user uuid.UUID) error {
	p, err := s.authorizeFor(ctx, actor, user)
	if err != nil {
		return err
	}
	cur, err := s.store.UserToken(ctx, actor.Tenant, user)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNoToken
	}
	if err != nil {
		return fmt.Errorf("token: current token: %w", err)
	}
	now := s.now()
	ev, err := changeEvent(p, actor, "token.revoke", cur, []audit.Change{{Field: "revoked_at", New: now.Format(time.RFC3339)}}, now)
	if err != nil {
		return err
	}
	_, err = s.store.RevokeUserTokens(ctx, actor.Tenant, user, now, ev)
	s.cache.dropUser(actor.Tenant, user)
	if err != nil {
		return fmt.Errorf("token: revoke: %w", err)
	}
	return nil
}

// EndUserSessions revokes the user's API token, if they have one. It has the shape
// of authn.SessionEnder, so that a host ends tokens with sessions when a user is
// blocked or removed (wire it into authn.Options.Sessions beside the session store).
// except names a session and does not apply to tokens: the token is revoked whatever
// it is. The change is recorded as the system's.
func (s *Service) EndUserSessions(ctx context.Context, tenant, user, except uuid.UUID) error {
	return s.endTokens(ctx, tenant, user, "sessions_ended")
}

// endTokens revokes the user's token, if any, as the system, for reason.
func (s *Service) endTokens(ctx context.Context, tenant, user uuid.UUID, reason string) error {
	s.cache.dropUser(tenant, user) // also when the store has no token: a racing revocation
	cur, err := s.store.UserToken(ctx, tenant, user)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("token: current token: %w", err)
	}
	now := s.now()
	ev := audit.Event{Tenant: tenant, Kind: audit.KindChange, Action: "token.revoke",
		Actor: audit.Actor{Role: "system"}, Target: tokenTarget(cur), Outcome: audit.Success,
		Reason:  reason,
		Changes: []audit.Change{{Field: "revoked_at", New: now.Format(time.RFC3339)}}}
	if err := audit.Prepare(&ev, now); err != nil {
		return err
	}
	_, err = s.store.RevokeUserTokens(ctx, tenant, user, now, ev)
	s.cache.dropUser(tenant, user)
	if err != nil {
		return fmt.Errorf("token: revoke: %w", err)
	}
	return nil
}

// Purge deletes the tenant's tokens that have been dead (revoked, replaced or expired)
// for longer than retention, with their usage rows, and returns how many it deleted.
// A retention shorter than Options.RegenerateInterval is taken as RegenerateInterval,
// so that no token whose CreatedAt still bounds the next issuance is deleted.
// Without it a revoked token stays forever, and every regeneration adds one. It is the
// body of a periodic job of the host (daily is plenty), safe on several instances at
// once; the deletion is retention, not a change of a working credential, and appends
// no audit event (the revocations are in the audit log already). A retention of zero
// or less keeps every token.
//
// Keep retention at least as long as the usage reports you serve: a purged token's
// usage goes with it. Since only requests a token authenticated are counted, all of a
// dead token's usage predates its death, so a retention of N days never removes usage
// of the last N days.
func (s *Service) Purge(ctx context.Context, tenant uuid.UUID, retention time.Duration) (int, error) {
	if retention <= 0 {
		return 0, nil
	}
	// A token is kept at least RegenerateInterval after its death, so that the latest
	// token of a user, whose CreatedAt bounds the next issuance, is never purged while
	// it bounds it.
	n, err := s.store.PurgeTokens(ctx, tenant, s.now().Add(-max(retention, s.opts.RegenerateInterval)))
	if err != nil {
		return 0, fmt.Errorf("token: purge: %w", err)
	}
	return n, nil
}

// Current returns the user's active (unrevoked) token record. Users read their own;
// another user's needs UserManagement. ErrNoToken if there is none.
func (s *Service) Current(ctx context.Context, actor access.Subject, user uuid.UUID) (Token, error) {
	if user != actor.User || actor.IsSystem() {
		if _, err := s.authorize(ctx, actor, access.UserManagement); err != nil {
			return Token{}, err
		}
	}
	t, err := s.store.UserToken(ctx, actor.Tenant, user)
	if errors.Is(err, storage.ErrNotFound) {
		return Token{}, ErrNoToken
	}
	if err != nil {
		return Token{}, fmt.Errorf("token: current token: %w", err)
	}
	return t, nil
}

// List returns the tenant's unrevoked tokens, ordered by user ID. It needs
// UserManagement.
func (s *Service) List(ctx context.Context, actor access.Subject) ([]Token, error) {
	if _, err := s.authorize(ctx, actor, access.UserManagement); err != nil {
		return nil, err
	}
	ts, err := s.store.Tokens(ctx, actor.Tenant)
	if err != nil {
		return nil, fmt.Errorf("token: list: %w", err)
	}
	return ts, nil
}

// authorize checks that actor holds r in their tenant role (the system subject holds
// every right).
func (s *Service) authorize(ctx context.Context, actor access.Subject, r access.Right) (*access.Policy, error) {
	if actor.Tenant == uuid.Nil {
		return nil, ErrForbidden
	}
	p, err := s.engine.Policy(ctx, actor.Tenant)
	if err != nil {
		return nil, fmt.Errorf("token: policy: %w", err)
	}
	if !actor.IsSystem() && !p.Check(actor, r, uuid.Nil) {
		return nil, fmt.Errorf("%w: %s required", ErrForbidden, r)
	}
	return p, nil
}

// authorizeFor lets actor act on user's token: their own, or another's with
// UserManagement and every right of the role the user is managed by.
func (s *Service) authorizeFor(ctx context.Context, actor access.Subject, user uuid.UUID) (*access.Policy, error) {
	if !actor.IsSystem() && actor.Valid() && user == actor.User {
		p, err := s.engine.Policy(ctx, actor.Tenant)
		if err != nil {
			return nil, fmt.Errorf("token: policy: %w", err)
		}
		return p, nil
	}
	p, err := s.authorize(ctx, actor, access.UserManagement)
	if err != nil {
		return nil, err
	}
	if _, member := p.Role(user); member {
		// The manage-above rule of access and authn: every right of the user's
		// tenant role and of each of their project overrides.
		if !p.CanManage(actor, user) {
			return nil, fmt.Errorf("%w: the user holds rights the actor does not", ErrForbidden)
		}
		return p, nil
	}
	// Not a member (removed, or only invited): only who holds every right manages
	// them, as in authn.
	role, ok := adminRole(p)
	if !ok || !p.CanAssignRole(actor, role.ID) {
		return nil, fmt.Errorf("%w: the user holds rights the actor does not", ErrForbidden)
	}
	return p, nil
}

func adminRole(p *access.Policy) (access.Role, bool) {
	for _, r := range p.Roles() {
		if r.Kind == access.KindAdmin {
			return r, true
		}
	}
	return access.Role{}, false
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

func tokenTarget(t Token) audit.Target {
	return audit.Target{Type: "api_token", ID: t.ID.String(), Name: t.Name}
}

func changeEvent(p *access.Policy, actor access.Subject, action string, t Token, changes []audit.Change, now time.Time) (audit.Event, error) {
	ev := audit.Event{Tenant: actor.Tenant, Kind: audit.KindChange, Action: action, Actor: actorOf(p, actor),
		Target: tokenTarget(t), Outcome: audit.Success, Changes: changes,
		Details: map[string]string{"user": t.User.String()}}
	return ev, audit.Prepare(&ev, now)
}
