package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// Session end reasons, recorded as the Reason of "session.end" events.
const (
	EndLogout          = "logout"
	EndIdle            = "idle"
	EndExpired         = "expired"
	EndRevoked         = "revoked"
	EndBlocked         = "blocked"
	EndRemoved         = "removed"
	EndPasswordChanged = "password_changed"
	EndPasswordReset   = "password_reset"
	EndLimit           = "limit"
	EndUserStatus      = "user_cannot_sign_in"
)

// DefaultReauthWindow is how recent a proof of a factor must be for operations that
// need one (two-factor enrolment, disabling it), unless they say otherwise.
const DefaultReauthWindow = 5 * time.Minute

// SessionSettings returns the tenant's session settings, defaults filled in.
func (s *Service) SessionSettings(ctx context.Context, tenant uuid.UUID) (SessionSettings, error) {
	st, err := s.store.SessionSettings(ctx, tenant)
	if errors.Is(err, storage.ErrNotFound) {
		st, err = SessionSettings{Tenant: tenant}, nil
	}
	if err != nil {
		return SessionSettings{}, fmt.Errorf("authn: session settings: %w", err)
	}
	return st.withDefaults(), nil
}

// UpdateSessionSettings stores the tenant's session and throttling settings. It needs
// ManageCompany. st.Version must be the version read (0 if never stored). The new
// timeouts apply to existing sessions at their next request: the idle timeout as it
// is read with the session, a shorter lifetime by cutting every live session's
// absolute deadline to its sign-in time plus the new lifetime, in the same write. A
// longer lifetime applies to new sessions; no deadline is ever extended.
func (s *Service) UpdateSessionSettings(ctx context.Context, actor access.Subject, st SessionSettings) (SessionSettings, error) {
	p, err := s.authorize(ctx, actor, access.ManageCompany)
	if err != nil {
		return SessionSettings{}, err
	}
	st.Tenant = actor.Tenant
	st = st.withDefaults()
	if err := st.validate(); err != nil {
		return SessionSettings{}, err
	}
	old, err := s.SessionSettings(ctx, actor.Tenant)
	if err != nil {
		return SessionSettings{}, err
	}
	var changes []audit.Change
	add := func(field string, o, n any) {
		if ch, ok := audit.Changed(field, fmt.Sprint(o), fmt.Sprint(n)); ok {
			changes = append(changes, ch)
		}
	}
	add("idle_timeout", old.IdleTimeout, st.IdleTimeout)
	add("lifetime", old.Lifetime, st.Lifetime)
	add("max_per_user", old.MaxPerUser, st.MaxPerUser)
	add("refuse_over_limit", old.RefuseOverLimit, st.RefuseOverLimit)
	add("lock_threshold", old.LockThreshold, st.LockThreshold)
	add("lock_duration", old.LockDuration, st.LockDuration)
	ev, err := s.changeEvent(p, actor, "session_settings.update", audit.Target{Type: "tenant", ID: actor.Tenant.String()}, changes)
	if err != nil {
		return SessionSettings{}, err
	}
	st.UpdatedAt = s.now()
	if err := s.store.SetSessionSettings(ctx, st, ev); err != nil {
		return SessionSettings{}, fmt.Errorf("authn: update session settings: %w", err)
	}
	st.Version++
	return st, nil
}

// Request is what the session check knows of an HTTP request.
type Request struct {
	Meta
	// Path is the request's path, recorded as the session's last URL (no query).
	Path string
}

// Validated is a session that passed [Service.ValidateSession].
type Validated struct {
	Session Session
	Subject access.Subject
	// Policy is the tenant's current policy the request was judged by.
	Policy *access.Policy
	// NewToken, when not zero, is the session's new secret: the user's role
	// assignments changed since the secret was issued, so this request rotated it (the
	// old one no longer works). Send it to the client (the middleware sets the cookie).
	NewToken SessionToken
}

// ValidateSession checks a session secret for one request: the session exists, is
// neither past its absolute deadline nor idle for longer than the tenant's idle
// timeout, its user may still sign in, and the request's address is allowed for them.
// It then records the request on the session (at most one write per touchEvery).
//
// Cost: one indexed read that returns the session with its user's status and the
// tenant's idle timeout (exact as of the read), plus one conditional write per session
// per touchEvery. The compiled policy comes from the process cache: when the store
// read the policy version with the session (memory, SQLite) the cache is current if it
// is at that version; otherwise (PostgreSQL) [access.Engine.Policy] decides, without a
// round trip while its change listener is healthy (staleness: the listener's lease,
// see storage/pglisten) and with one version read when it is not.
//
// The session cache ([Options.SessionCache]) removes the read for a session seen
// recently, and only while a change feed vouches for it. With the memory store the
// feed is the store itself and exact. On PostgreSQL it is storage/pglisten given this
// Service: the triggers of migration 0015 announce every change of what the lookup
// returns (an end, a rotation, a re-authentication, the workplace, the user's status,
// the idle timeout) in the changing transaction, and the cache is trusted only for the
// engine's ListenLease (default 250 ms) after each heartbeat that came back through
// the same channel. So a block, a logout or an ended session on any instance stops
// the session everywhere at the next request after the notification arrives, and
// never later than the lease once the listener stalls. The cached copy is refreshed
// at every touch (so its last request, address and browser lag by at most
// touchEvery, as they do in the store), and a cached session that looks idle, ended or
// re-assigned is read again before anything is decided. A cached session's deadlines
// are judged by the monotonic clock from the reading at which it was cached (with the
// production Options.Clock), so a step of the wall clock reaches a cached decision at
// its next store read, within touchEvery and never later than a minute after the put
// (maxCacheAge, which also bounds a suspended host's effect). An injected
// Options.Clock before 1970 or past 2262 caches nothing. Without a feed (SQLite)
// nothing about the session is cached.
//
// Errors: ErrSessionInvalid for anything wrong with the session (an expired, idle or
// blocked user's session is ended, with its event); ErrIPNotAllowed for an address the
// allowlist refuses (the session stays); any other error is a storage failure (deny).
func (s *Service) ValidateSession(ctx context.Context, token string, r Request, touchEvery time.Duration) (Validated, error) {
	tenant, hash, ok := parseSessionToken(sessionPrefix, token)
	if !ok {
		return Validated{}, ErrSessionInvalid
	}
	var v validation
	if err := s.validate(ctx, tenant, hash, &query{Request: r}, touchEvery, &v); err != nil {
		return Validated{}, err
	}
	vals := v.values()
	return Validated{Session: v.session().clone(), Subject: vals.Subject, Policy: vals.Policy, NewToken: v.newTok}, nil
}

// ErrSessionEnded is the ErrSessionInvalid (it matches it) of a session that
// ValidateSession found and ended (expired, idle, its user may not sign in): clear
// its cookie. An unknown secret is ErrSessionInvalid alone, and its cookie is best
// left: it may be the old secret of a session a concurrent request has just rotated,
// whose new cookie the browser now holds (clearing would sign the user out).
var ErrSessionEnded = fmt.Errorf("%w (ended)", ErrSessionInvalid)

// validation is what validate found, in the caller's memory: either hit, the values a
// request served from the session cache shares with the other requests of that
// session from the same address and browser under the same policy (never written), or
// own, the record read from the store (and updated by a touch) with vals, the subject
// and policy; newTok is the session's new secret after a rotation. (hit never points
// into the validation itself, so that the middleware's validation stays on its
// stack.)
type validation struct {
	hit    *requestValues
	own    SessionRecord
	vals   access.RequestValues
	newTok SessionToken
}

// requestValues is what the middleware's context node answers: the subject and policy
// ([access.RequestValues]) and the session. A cache entry keeps the last one it
// built ([cacheEntry.vals]); it is never written after it is built.
type requestValues struct {
	access.RequestValues
	sess *Session
	// client is the request's client as a middleware saw it (zero for another
	// caller's): a later request of the middleware with the same one is from
	// Subject.IP without resolving it again.
	client rawClient
}

// rawClient is what a middleware's client address is resolved from
// ([access.ClientIP]): the middleware (its trusted proxies), the peer address and,
// when the peer is one of those proxies (proxied), X-Forwarded-For (a copy; without
// a proxy the header does not count).
type rawClient struct {
	via       *sessionMiddleware
	remote    string
	proxied   bool
	forwarded []string
}

// serves reports whether m holds for q, which has the same session and policy: the
// same browser, and the same address (the same raw client, for a middleware's
// request whose address is not resolved yet).
func (m *requestValues) serves(q *query) bool {
	if m.Subject.UserAgent != q.UserAgent {
		return false
	}
	if q.via == nil || q.resolved {
		return m.Subject.IP == q.IP
	}
	c := &m.client
	return c.via == q.via && c.remote == q.http.RemoteAddr &&
		(!c.proxied || slices.Equal(c.forwarded, q.http.Header["X-Forwarded-For"]))
}

// query is the request validate judges. A middleware's (via) has its HTTP request and
// resolves the client address from it only when needed: a request from the same raw
// client as the session's last one is served without parsing its address. Another
// caller's has Request.IP.
type query struct {
	Request
	via      *sessionMiddleware
	http     *http.Request
	resolved bool // Request.IP is the resolved address of a middleware's request
}

// ip is the client's address.
func (q *query) ip() netip.Addr {
	if q.via != nil && !q.resolved {
		q.IP, q.resolved = access.ClientIP(q.http, q.via.opts.TrustedProxies), true
	}
	return q.IP
}

// client is q's raw client, kept with the values built for it.
func (q *query) client() rawClient {
	if q.via == nil {
		return rawClient{}
	}
	c := rawClient{via: q.via, remote: q.http.RemoteAddr, proxied: access.ForwardedByProxy(q.http, q.via.opts.TrustedProxies)}
	if c.proxied {
		c.forwarded = slices.Clone(q.http.Header["X-Forwarded-For"])
	}
	return c
}

// session is the validated session.
func (v *validation) session() *Session {
	if v.hit != nil {
		return v.hit.sess
	}
	return &v.own.Session
}

// values are the validated subject and policy.
func (v *validation) values() *access.RequestValues {
	if v.hit != nil {
		return &v.hit.RequestValues
	}
	return &v.vals
}

// validate is ValidateSession of a parsed token (its tenant and secret hash), writing
// into the caller's memory, so that the middleware fills its context node in place
// instead of copying a Validated through two return values per request.
func (s *Service) validate(ctx context.Context, tenant uuid.UUID, hash [32]byte, q *query, touchEvery time.Duration,
	v *validation) error {
	if e := s.cache.get(tenant, hash); e != nil {
		// The cached checks only compare ticks of the cache's clock (session_cache.go);
		// a request that goes on to the store reads the time again.
		if done, err := s.validateCached(ctx, e, q, touchEvery, s.cache.clock.now(), v); done {
			return err
		}
	}
	ip := q.ip()
	now := s.now()
	gen := s.cache.generation()
	var err error
	v.own, err = s.store.SessionBySecret(ctx, tenant, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrSessionInvalid
	}
	if err != nil {
		return fmt.Errorf("authn: session: %w", err)
	}
	sess := &v.own.Session
	reason := ""
	switch {
	case !now.Before(sess.ExpiresAt):
		reason = EndExpired
	case !now.Before(sess.LastSeen.Add(idleOf(&v.own))):
		reason = EndIdle
	case v.own.UserStatus != StatusActive:
		reason = EndUserStatus
	}
	if reason != "" {
		s.cache.drop(hash)
		if err := s.endBySystem(ctx, *sess, reason); err != nil {
			return err
		}
		return ErrSessionEnded
	}
	p, err := s.sessionPolicy(ctx, &v.own)
	if err != nil {
		return err
	}
	v.vals.Subject = access.Subject{Tenant: tenant, User: sess.User, Session: sess.ID, IP: ip, UserAgent: q.UserAgent}
	v.vals.Policy = p
	if !p.AllowsIP(v.vals.Subject, ip) {
		return ErrIPNotAllowed
	}
	if pv := p.Privilege(sess.User); pv != sess.Privilege && p.Version() > sess.PrivilegeVersion {
		s.cache.drop(hash)
		tok, err := s.rotateForPrivilege(ctx, p, sess, pv, v.vals.Subject)
		if err != nil {
			return err
		}
		v.newTok = tok // the new secret is cached at its first request
	}
	if touchEvery > 0 && !now.Before(sess.LastSeen.Add(touchEvery)) {
		// The last URL is stored in a column: no link token or card number in it.
		t := SessionTouch{IP: addrString(ip), UserAgent: q.UserAgent, URL: audit.ScrubPath(q.Path)}
		if _, err := s.store.TouchSession(ctx, tenant, sess.ID, now, now.Add(-touchEvery).Add(time.Microsecond), t); err != nil {
			return fmt.Errorf("authn: touch session: %w", err)
		}
		sess.LastSeen, sess.IP, sess.UserAgent, sess.LastURL = now, ip, q.UserAgent, t.URL
	}
	if v.newTok.IsZero() {
		s.cache.put(gen, hash, &v.own)
	}
	return nil
}

// validateCached judges a request by the session's cached record. It reports done
// with the answer when the record decides it without a write; otherwise (the session
// looks expired, idle, of a user who may not sign in, re-assigned, or is due a
// touch) validate reads the session from the store and judges that instead, so that
// nothing is ended or rotated on the word of a cached copy.
func (s *Service) validateCached(ctx context.Context, e *cacheEntry, q *query, touchEvery time.Duration, now int64,
	v *validation) (done bool, err error) {
	rec := &e.rec
	sess := &rec.Session
	if !e.current(now, touchEvery) {
		return false, nil
	}
	// A policy this entry was judged under is current if the store read the policy
	// version with the session: an exact feed announces every version change by
	// dropping the tenant's entries (SessionWatcher), so while the entry lives that
	// version holds. (A leased feed does not announce versions: put clears the
	// version, and the engine decides.)
	p := e.judged.Load()
	if p == nil || rec.PolicyVersion == 0 || p.Version() != rec.PolicyVersion {
		if p, err = s.sessionPolicy(ctx, rec); err != nil {
			return true, err
		}
	}
	// The values built for an earlier request of this session hold if it came from the
	// same address and browser under the same policy: the subject is the same, and so
	// is the allowlist's answer (AllowsIP depends on nothing else), which was yes.
	if m := e.vals.Load(); m != nil && m.Policy == p && m.serves(q) {
		v.hit = m
		return true, nil
	}
	if e.judged.Load() != p {
		if p.Privilege(sess.User) != sess.Privilege && p.Version() > sess.PrivilegeVersion {
			return false, nil
		}
		e.judged.Store(p)
	}
	ip := q.ip()
	sub := access.Subject{Tenant: sess.Tenant, User: sess.User, Session: sess.ID, IP: ip, UserAgent: q.UserAgent}
	if !p.AllowsIP(sub, ip) {
		return true, ErrIPNotAllowed
	}
	m := &requestValues{RequestValues: access.RequestValues{Subject: sub, Policy: p}, sess: sess, client: q.client()}
	e.vals.Store(m)
	v.hit = m
	return true, nil
}

// idleOf is the record's idle timeout, the default when none is stored.
func idleOf(rec *SessionRecord) time.Duration {
	if rec.IdleTimeout > 0 {
		return rec.IdleTimeout
	}
	return DefaultIdleTimeout
}

// sessionPolicy is the tenant's compiled policy for a session record: at the version
// read with it when the store read one, otherwise the engine's current one.
func (s *Service) sessionPolicy(ctx context.Context, rec *SessionRecord) (*access.Policy, error) {
	var p *access.Policy
	var err error
	if rec.PolicyVersion > 0 {
		p, err = s.engine.PolicyAt(ctx, rec.Session.Tenant, rec.PolicyVersion)
	} else {
		p, err = s.engine.Policy(ctx, rec.Session.Tenant)
	}
	if err != nil {
		return nil, fmt.Errorf("authn: session: %w", err)
	}
	return p, nil
}

// rotateForPrivilege gives sess a new secret because its user's role assignments
// changed (fingerprint pv): a privilege change (ASVS 7.2.4). The old secret stops at
// once; of concurrent requests that find the change, one rotates and the others get
// ErrSessionInvalid (their old secret is gone; the browser has the new cookie). sess
// is updated to the new secret.
func (s *Service) rotateForPrivilege(ctx context.Context, p *access.Policy, sess *Session, pv uint64, actor access.Subject) (SessionToken, error) {
	tok, hash, err := newSessionToken(s.opts.Rand, sessionPrefix, sess.Tenant)
	if err != nil {
		return SessionToken{}, err
	}
	ev := audit.Event{Tenant: sess.Tenant, Kind: audit.KindSession, Action: "session.rotate", Actor: actorOf(p, actor),
		Target: audit.Target{Type: "session", ID: sess.ID.String()}, Outcome: audit.Success, Reason: "role_changed"}
	if err := audit.Prepare(&ev, s.now()); err != nil {
		return SessionToken{}, err
	}
	rot := SessionRotation{AuthAt: sess.AuthAt, Factors: sess.Factors, Restricted: sess.Restricted, Privilege: pv,
		PrivilegeVersion: p.Version()}
	if err := s.store.RotateSession(ctx, sess.Tenant, sess.ID, sess.SecretHash, hash, rot, ev); err != nil {
		if errors.Is(err, storage.ErrStale) || errors.Is(err, storage.ErrNotFound) {
			return SessionToken{}, ErrSessionInvalid
		}
		return SessionToken{}, fmt.Errorf("authn: rotate session: %w", err)
	}
	sess.SecretHash, sess.Privilege, sess.PrivilegeVersion = hash, pv, p.Version()
	return tok, nil
}

// endBySystem ends one session for a reason the system found (expired, idle, the user
// may not sign in).
func (s *Service) endBySystem(ctx context.Context, sess Session, reason string) error {
	ev := audit.Event{Tenant: sess.Tenant, Kind: audit.KindSession, Action: "session.end",
		Actor:   audit.Actor{User: sess.User, Role: "system", Session: sess.ID},
		Target:  audit.Target{Type: "session", ID: sess.ID.String()},
		Outcome: audit.Success, Reason: reason}
	if err := audit.Prepare(&ev, s.now()); err != nil {
		return err
	}
	if _, err := s.store.EndSessions(ctx, sess.Tenant, SessionSelector{ID: sess.ID}, ev); err != nil {
		return fmt.Errorf("authn: end session: %w", err)
	}
	return nil
}

// endEvent is the "session.end" event of an actor ending sessions.
func (s *Service) endEvent(p *access.Policy, actor access.Subject, target audit.Target, reason string) (audit.Event, error) {
	ev := audit.Event{Tenant: actor.Tenant, Kind: audit.KindSession, Action: "session.end", Actor: actorOf(p, actor),
		Target: target, Outcome: audit.Success, Reason: reason}
	return ev, audit.Prepare(&ev, s.now())
}

// Logout ends the actor's current session.
func (s *Service) Logout(ctx context.Context, actor access.Subject) error {
	if actor.Session == uuid.Nil {
		return ErrSessionInvalid
	}
	p, err := s.engine.Policy(ctx, actor.Tenant)
	if err != nil {
		return err
	}
	ev, err := s.endEvent(p, actor, audit.Target{Type: "session", ID: actor.Session.String()}, EndLogout)
	if err != nil {
		return err
	}
	n, err := s.store.EndSessions(ctx, actor.Tenant, SessionSelector{ID: actor.Session}, ev)
	if err != nil {
		return fmt.Errorf("authn: logout: %w", err)
	}
	if n == 0 {
		return ErrSessionInvalid
	}
	return nil
}

// EndUserSessions ends every session of the user except `except` (uuid.Nil: all), as
// the system ("revoked"). With it the Service is a [SessionEnder].
func (s *Service) EndUserSessions(ctx context.Context, tenant, user, except uuid.UUID) error {
	return s.endUserSessions(ctx, access.System(tenant), tenant, user, except, EndRevoked)
}

func (s *Service) endUserSessions(ctx context.Context, actor access.Subject, tenant, user, except uuid.UUID, reason string) error {
	p, err := s.engine.Policy(ctx, tenant)
	if err != nil {
		return err
	}
	ev, err := s.endEvent(p, actor, audit.Target{Type: "user", ID: user.String()}, reason)
	if err != nil {
		return err
	}
	ev.Tenant = tenant
	if _, err := s.store.EndSessions(ctx, tenant, SessionSelector{User: user, Except: except}, ev); err != nil {
		return fmt.Errorf("authn: end sessions: %w", err)
	}
	return nil
}

// live reports whether sess is neither expired nor idle at now under st.
func live(sess Session, st SessionSettings, now time.Time) bool {
	return now.Before(sess.ExpiresAt) && now.Before(sess.LastSeen.Add(st.IdleTimeout))
}

func (s *Service) liveSessions(ctx context.Context, tenant, user uuid.UUID) ([]Session, error) {
	all, err := s.store.Sessions(ctx, tenant, user)
	if err != nil {
		return nil, fmt.Errorf("authn: sessions: %w", err)
	}
	st, err := s.SessionSettings(ctx, tenant)
	if err != nil {
		return nil, err
	}
	now := s.now()
	return slices.DeleteFunc(all, func(x Session) bool { return !live(x, st, now) }), nil
}

// MySessions lists the actor's own live sessions, newest first (ASVS 7.5.2).
func (s *Service) MySessions(ctx context.Context, actor access.Subject) ([]Session, error) {
	if !actor.Valid() || actor.IsSystem() {
		return nil, ErrForbidden
	}
	return s.liveSessions(ctx, actor.Tenant, actor.User)
}

// EndMySession ends one of the actor's own sessions ("logout" for the current one,
// "revoked" for another). A session of another user is storage.ErrNotFound.
func (s *Service) EndMySession(ctx context.Context, actor access.Subject, id uuid.UUID) error {
	if !actor.Valid() || actor.IsSystem() {
		return ErrForbidden
	}
	sess, err := s.store.Session(ctx, actor.Tenant, id)
	if err != nil || sess.User != actor.User {
		return fmt.Errorf("authn: session: %w", storage.ErrNotFound)
	}
	reason := EndRevoked
	if id == actor.Session {
		reason = EndLogout
	}
	return s.endOne(ctx, actor, sess, reason)
}

func (s *Service) endOne(ctx context.Context, actor access.Subject, sess Session, reason string) error {
	p, err := s.engine.Policy(ctx, actor.Tenant)
	if err != nil {
		return err
	}
	ev, err := s.endEvent(p, actor, audit.Target{Type: "session", ID: sess.ID.String()}, reason)
	if err != nil {
		return err
	}
	ev.Details = map[string]string{"user": sess.User.String()}
	if _, err := s.store.EndSessions(ctx, actor.Tenant, SessionSelector{ID: sess.ID}, ev); err != nil {
		return fmt.Errorf("authn: end session: %w", err)
	}
	return nil
}

// ActiveSessions lists the tenant's live sessions for an administrator with
// ViewSessions: with SeeAllProjects every session; otherwise those of users who share
// a project in which the actor holds ViewSessions, and the actor's own.
func (s *Service) ActiveSessions(ctx context.Context, actor access.Subject) ([]Session, error) {
	p, err := s.authorize(ctx, actor, access.ViewSessions)
	if err != nil {
		return nil, err
	}
	all, err := s.liveSessions(ctx, actor.Tenant, uuid.Nil)
	if err != nil {
		return nil, err
	}
	if actor.IsSystem() || p.Check(actor, access.SeeAllProjects, uuid.Nil) {
		return all, nil
	}
	visible := map[uuid.UUID]bool{}
	for _, pr := range p.Scope(actor, access.ViewSessions).Projects {
		visible[pr] = true
	}
	return slices.DeleteFunc(all, func(x Session) bool {
		if x.User == actor.User {
			return false
		}
		for _, pr := range p.Projects(x.User) {
			if visible[pr] {
				return false
			}
		}
		return true
	}), nil
}

// EndSession ends another user's session as an administrator: it needs
// UserManagement and every right of the session user's role ("revoked").
func (s *Service) EndSession(ctx context.Context, actor access.Subject, id uuid.UUID) error {
	sess, err := s.store.Session(ctx, actor.Tenant, id)
	if err != nil {
		return fmt.Errorf("authn: session: %w", err)
	}
	if sess.User == actor.User {
		return s.EndMySession(ctx, actor, id)
	}
	if _, err := s.authorizeOver(ctx, actor, sess.User); err != nil {
		return err
	}
	return s.endOne(ctx, actor, sess, EndRevoked)
}

// EndSessionsOf ends every session of a user as an administrator (UserManagement and
// every right of the user's role).
func (s *Service) EndSessionsOf(ctx context.Context, actor access.Subject, user uuid.UUID) error {
	if _, err := s.authorizeOver(ctx, actor, user); err != nil {
		return err
	}
	return s.endUserSessions(ctx, actor, actor.Tenant, user, uuid.Nil, EndRevoked)
}

// EndAllSessions ends every session of the tenant but the actor's current one. It
// needs UserManagement and ManageCompany, and every right of the Admin role, since it
// ends the sessions of users above any narrower role too.
func (s *Service) EndAllSessions(ctx context.Context, actor access.Subject) (int, error) {
	p, err := s.authorize(ctx, actor, access.UserManagement)
	if err != nil {
		return 0, err
	}
	if !actor.IsSystem() {
		if !p.Check(actor, access.ManageCompany, uuid.Nil) {
			return 0, fmt.Errorf("%w: %s required", ErrForbidden, access.ManageCompany)
		}
		for _, r := range p.Roles() {
			if r.Kind == access.KindAdmin && !p.CanAssignRole(actor, r.ID) {
				return 0, fmt.Errorf("%w: ending every session needs every right of the Admin role", ErrForbidden)
			}
		}
	}
	ev, err := s.endEvent(p, actor, audit.Target{Type: "tenant", ID: actor.Tenant.String()}, EndRevoked)
	if err != nil {
		return 0, err
	}
	n, err := s.store.EndSessions(ctx, actor.Tenant, SessionSelector{All: true, Except: actor.Session}, ev)
	if err != nil {
		return 0, fmt.Errorf("authn: end sessions: %w", err)
	}
	return n, nil
}

// actorSession returns the actor's current session.
func (s *Service) actorSession(ctx context.Context, actor access.Subject) (Session, error) {
	if !actor.Valid() || actor.Session == uuid.Nil {
		return Session{}, ErrReauthRequired
	}
	sess, err := s.store.Session(ctx, actor.Tenant, actor.Session)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && sess.User != actor.User) {
		return Session{}, ErrSessionInvalid
	}
	if err != nil {
		return Session{}, fmt.Errorf("authn: session: %w", err)
	}
	return sess, nil
}

// Reauthenticate checks the password of the actor's user and records on the actor's
// session that a factor was proved now (AuthAt), for operations that need a recent
// proof (ASVS 7.5.1). A wrong password is ErrInvalidCredentials and counts in the
// first-factor throttle, like a sign-in.
func (s *Service) Reauthenticate(ctx context.Context, actor access.Subject, pw Password, meta Meta) error {
	sess, err := s.actorSession(ctx, actor)
	if err != nil {
		return err
	}
	u, err := s.user(ctx, actor.Tenant, actor.User)
	if err != nil {
		return err
	}
	ev := loginEvent(u, "login.reauthenticate", FactorPassword, meta)
	ev.Actor.Session = sess.ID
	fail := func(reason string, err error) error {
		ev.Outcome, ev.Reason = audit.Failure, reason
		s.record(ctx, ev)
		return err
	}
	lock, err := s.checkThrottle(ctx, u.Tenant, u.ID, throttleFirst, meta.IP)
	if err != nil {
		return fail("storage_error", err)
	}
	encoded, err := s.store.PasswordHash(ctx, u.Tenant, u.ID)
	if err != nil {
		return fail("storage_error", fmt.Errorf("authn: reauthenticate: %w", err))
	}
	ok := false
	if encoded == "" || lock != "" {
		err = s.opts.Hasher.DummyVerify(ctx, pw)
	} else {
		ok, _, err = s.opts.Hasher.Verify(ctx, pw, encoded)
	}
	if errors.Is(err, ErrBusy) {
		return fail("busy", err)
	}
	if lock != "" || !ok {
		if terr := s.countFailure(ctx, u.Tenant, u.ID, throttleFirst, meta.IP, lock); terr != nil {
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
	if err := s.resetThrottle(ctx, u.Tenant, u.ID, throttleFirst, meta.IP); err != nil {
		return fail("storage_error", err)
	}
	ev.Outcome = audit.Success
	if err := audit.Prepare(&ev, s.now()); err != nil {
		return err
	}
	if err := s.store.SetSessionAuth(ctx, u.Tenant, sess.ID, s.now(), ev); err != nil {
		return fmt.Errorf("authn: reauthenticate: %w", err)
	}
	return nil
}

// requireRecentAuth returns ErrReauthRequired unless the actor's session proved a factor
// within `within` (DefaultReauthWindow if zero or less). API-token subjects have no
// session and are always refused.
func (s *Service) requireRecentAuth(ctx context.Context, actor access.Subject, within time.Duration) error {
	if within <= 0 {
		within = DefaultReauthWindow
	}
	sess, err := s.actorSession(ctx, actor)
	if errors.Is(err, ErrSessionInvalid) {
		return ErrReauthRequired
	}
	if err != nil {
		return err
	}
	if s.now().Sub(sess.AuthAt) > within {
		return ErrReauthRequired
	}
	return nil
}

// RotateSession gives the actor's session a new secret and returns it: the old secret
// stops working at once, the absolute deadline is kept. Call it at every privilege
// change (two-factor enrolled, role changed, password changed) and set the new cookie.
func (s *Service) RotateSession(ctx context.Context, actor access.Subject) (SessionToken, error) {
	return s.rotateSession(ctx, actor, "rotate", nil)
}

// rotateSession rotates the actor's session secret; change, if not nil, adjusts what
// the rotation sets (e.g. lifting the restriction after two-factor enrolment).
func (s *Service) rotateSession(ctx context.Context, actor access.Subject, why string, change func(*SessionRotation)) (SessionToken, error) {
	sess, err := s.actorSession(ctx, actor)
	if errors.Is(err, ErrReauthRequired) {
		return SessionToken{}, ErrSessionInvalid
	}
	if err != nil {
		return SessionToken{}, err
	}
	tok, hash, err := newSessionToken(s.opts.Rand, sessionPrefix, actor.Tenant)
	if err != nil {
		return SessionToken{}, err
	}
	r := SessionRotation{AuthAt: sess.AuthAt, Factors: sess.Factors, Restricted: sess.Restricted}
	if change != nil {
		change(&r)
	}
	p, err := s.engine.Policy(ctx, actor.Tenant)
	if err != nil {
		return SessionToken{}, err
	}
	r.Privilege, r.PrivilegeVersion = p.Privilege(sess.User), p.Version()
	ev := audit.Event{Tenant: actor.Tenant, Kind: audit.KindSession, Action: "session.rotate", Actor: actorOf(p, actor),
		Target: audit.Target{Type: "session", ID: sess.ID.String()}, Outcome: audit.Success, Reason: why}
	if err := audit.Prepare(&ev, s.now()); err != nil {
		return SessionToken{}, err
	}
	if err := s.store.RotateSession(ctx, actor.Tenant, sess.ID, sess.SecretHash, hash, r, ev); err != nil {
		if errors.Is(err, storage.ErrStale) || errors.Is(err, storage.ErrNotFound) {
			return SessionToken{}, ErrSessionInvalid
		}
		return SessionToken{}, fmt.Errorf("authn: rotate session: %w", err)
	}
	return tok, nil
}

// UpdateWorkplace sets what the host reports of an agent's workplace session: status,
// time in status, queue or dialer, current call. The actor must be the session's user,
// on a workplace session.
func (s *Service) UpdateWorkplace(ctx context.Context, actor access.Subject, w WorkplaceState) error {
	sess, err := s.actorSession(ctx, actor)
	if errors.Is(err, ErrReauthRequired) {
		return ErrSessionInvalid
	}
	if err != nil {
		return err
	}
	if sess.Kind != SessionWorkplace {
		return fmt.Errorf("authn: not a workplace session: %w", storage.ErrNotFound)
	}
	if len(w.Status) > 64 || len(w.Queue) > 200 || len(w.CallID) > 200 {
		return fmt.Errorf("%w: workplace state too long", ErrInvalidSettings)
	}
	w.StatusSince = w.StatusSince.UTC().Truncate(time.Microsecond)
	if err := s.store.UpdateWorkplace(ctx, actor.Tenant, sess.ID, w); err != nil {
		return fmt.Errorf("authn: update workplace: %w", err)
	}
	return nil
}

// CleanupReport says what [Service.CleanupSessions] removed.
type CleanupReport struct {
	Sessions int
	Pending  int
	// Counters are throttle counters whose window or lock had passed.
	Counters int
	// Flows are linked-identity sign-in and link flows that had expired unused.
	Flows int
	// Tickets are one-time links (invitations, password resets) that had expired,
	// whether used, revoked or never opened.
	Tickets int
	// Enrolments are two-factor enrolments that had expired unconfirmed.
	Enrolments int
}

// CleanupSessions removes, in every tenant, what has expired: sessions past their
// absolute deadline (each with a "session.end" event, reason expired), pending
// sign-ins, throttle counters that no longer count, linked-identity flows, one-time
// links ([Store.DeleteExpiredTickets]) and started two-factor enrolments
// ([TwoFactorStore.DeleteExpiredTwoFactorEnrolments]). Idle sessions are ended at
// their next request or by their deadline.
//
// Apart from the sessions, everything it removes is refused once expired, so no
// outcome changes: an expired link is [ErrTicketInvalid] before and after, an expired
// enrolment [ErrEnrolmentInvalid] (the user starts again), and an invited user whose
// invitation expired stays invited, to be invited again. What goes are rows that would
// otherwise stay for ever, such as a link's secret hash and the address it was mailed
// to, or an enrolment's sealed TOTP secret; those removals write no event (issuing,
// using and revoking a link, and starting an enrolment, were recorded when they
// happened). Nothing that has not expired is touched, in any tenant.
//
// Run it from a scheduler, e.g. every few minutes; several instances may run it at
// once. When a step fails, the report holds what the steps before it removed.
func (s *Service) CleanupSessions(ctx context.Context) (CleanupReport, error) {
	var rep CleanupReport
	now := s.now()
	for {
		refs, err := s.store.ExpiredSessions(ctx, now, purgeBatch)
		if err != nil {
			return rep, fmt.Errorf("authn: cleanup: %w", err)
		}
		for _, ref := range refs {
			err := s.endBySystem(ctx, Session{ID: ref.Session, Tenant: ref.Tenant, User: ref.User}, EndExpired)
			if err != nil {
				return rep, err
			}
			rep.Sessions++
		}
		if len(refs) < purgeBatch {
			break
		}
	}
	n, err := s.store.DeleteExpiredPending(ctx, now)
	if err != nil {
		return rep, fmt.Errorf("authn: cleanup: %w", err)
	}
	rep.Pending = n
	if rep.Counters, err = s.store.DeleteStaleThrottle(ctx, now); err != nil {
		return rep, fmt.Errorf("authn: cleanup: %w", err)
	}
	if rep.Flows, err = s.store.DeleteExpiredIdentityFlows(ctx, now); err != nil {
		return rep, fmt.Errorf("authn: cleanup: %w", err)
	}
	if rep.Tickets, err = s.store.DeleteExpiredTickets(ctx, now); err != nil {
		return rep, fmt.Errorf("authn: cleanup: %w", err)
	}
	if rep.Enrolments, err = s.store.DeleteExpiredTwoFactorEnrolments(ctx, now); err != nil {
		return rep, fmt.Errorf("authn: cleanup: %w", err)
	}
	return rep, nil
}

// addrString is an address as the session records it; "" for the invalid address.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
