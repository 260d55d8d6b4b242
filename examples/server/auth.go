package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/google/uuid"
)

// sessionCookie is the session cookie: authn's production setting (Secure, HttpOnly,
// SameSite=Lax, the __Host- prefix) everywhere except dev mode on a loopback address,
// where the demo runs over plain HTTP.
func (a *app) sessionCookie() authn.Cookie {
	return authn.Cookie{Insecure: !a.secureCookies()}
}

// pendingCookie carries a pending sign-in (password done, second factor owed).
func (a *app) pendingCookie() authn.Cookie {
	if a.secureCookies() {
		return authn.Cookie{Name: "__Host-callshield_pending", SameSite: http.SameSiteStrictMode}
	}
	return authn.Cookie{Name: "callshield_pending", Insecure: true, SameSite: http.SameSiteStrictMode}
}

// secureCookies is false only in dev mode on a loopback address, where the demo runs
// over plain HTTP; everywhere else cookies travel over HTTPS only.
func (a *app) secureCookies() bool {
	if !a.cfg.Dev {
		return true
	}
	host, _, err := net.SplitHostPort(a.cfg.Addr)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsLoopback()
}

type metaKey struct{}

// meta returns the client address and browser of the request (see authenticate).
func meta(r *http.Request) authn.Meta {
	m, _ := r.Context().Value(metaKey{}).(authn.Meta)
	return m
}

// touchInterval bounds the writes that record a session's last request.
const touchInterval = 30 * time.Second

type sessionKey struct{}

// currentSession returns the request's validated session.
func currentSession(r *http.Request) (authn.Session, bool) {
	s, ok := r.Context().Value(sessionKey{}).(authn.Session)
	return s, ok
}

// authenticate resolves the client address (X-Forwarded-For only through the trusted
// proxies) and turns a valid session cookie into an access.Subject and the policy in
// the context (authn.Service.ValidateSession: the session, its user's current status
// and the allowlist, checked in the store on every request, so a block or a logout on
// any instance applies at the next request). Requests without a session continue
// anonymously; the routes decide what that means. A session from an address the
// tenant does not allow is 403; a storage failure 503 (fail closed); a restricted
// session (two-factor enrolment owed) may only reach the enrolment routes.
func (a *app) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := authn.Meta{IP: access.ClientIP(r, a.cfg.TrustedProxies), UserAgent: r.UserAgent()}
		ctx := context.WithValue(r.Context(), metaKey{}, m)
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			// An integration: the token middleware authenticates and authorizes
			// (integrations right, allowlist, the user's current status), logs the call
			// and counts it. Its 401/403 bodies are reshaped into the API's errors.
			wrapGuard(a.tokens.Middleware, next).ServeHTTP(w, r.WithContext(ctx))
			return
		}
		if tok := a.sessionCookie().Read(r); tok != "" {
			v, err := a.accounts.ValidateSession(ctx, tok, authn.Request{Meta: m, Path: r.URL.Path}, touchInterval)
			switch {
			case errors.Is(err, authn.ErrSessionEnded):
				a.sessionCookie().Clear(w)
			case errors.Is(err, authn.ErrSessionInvalid):
				// An unknown secret: its cookie is left (it may be the old secret of a
				// session a concurrent request just rotated).
			case errors.Is(err, authn.ErrIPNotAllowed):
				a.refuse(w, r, http.StatusForbidden, "ip_not_allowed", "your company does not allow access from this address")
				return
			case err != nil:
				a.log.Error("session check failed", "err", err)
				a.refuse(w, r, http.StatusServiceUnavailable, "unavailable", "try again in a moment")
				return
			default:
				if !v.NewToken.IsZero() {
					// The user's role changed: the session has a new secret (ASVS 7.2.4).
					a.sessionCookie().Set(w, v.NewToken, v.Session.ExpiresAt)
				}
				if v.Session.Restricted && !restrictedAllowed(r) {
					if strings.HasPrefix(r.URL.Path, "/api/") {
						a.refuse(w, r, http.StatusForbidden, "two_factor_enrolment_required", "set up two-factor sign-in first")
					} else {
						http.Redirect(w, r, "/profile", http.StatusSeeOther)
					}
					return
				}
				ctx = access.WithSubject(ctx, v.Subject)
				ctx = access.WithPolicy(ctx, v.Policy)
				ctx = context.WithValue(ctx, sessionKey{}, v.Session)
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// restrictedAllowed lists what a restricted session may reach: its profile, two-factor
// enrolment, sign-out and the assets.
func restrictedAllowed(r *http.Request) bool {
	p := r.URL.Path
	return p == "/profile" || p == "/api/v1/me" || p == "/api/v1/logout" || p == "/login" ||
		strings.HasPrefix(p, "/api/v1/me/totp") || strings.HasPrefix(p, "/static/")
}

// refuse answers before routing: JSON for the API, a plain page otherwise.
func (a *app) refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSON(w, status, apiError{Error: apiErrorBody{Code: code, Message: msg}})
		return
	}
	a.web.error(w, r, nil, status, msg)
}

// handlerFunc is an API handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// api registers an API route. Every route records its calls in the action log. A
// route with a right passes a Guard: with project true, Guard.Require with the project
// of the request (without one, a project-scoped right is needed in every project);
// otherwise Guard.RequireTenant. One without a right (0) needs a signed-in subject from
// an allowed address; its handler decides per record (calls, recordings).
func (a *app) api(mux *http.ServeMux, pattern string, right access.Right, project bool, h handlerFunc) {
	var inner http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noteRequest(r, access.PolicyFrom(r.Context()), access.Subject{})
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
	switch {
	case right != 0 && project:
		inner = wrapGuard(a.pguard.Require(right), inner)
	case right != 0:
		// A tenant-level operation, or a report whose rows the handler scopes itself
		// (audit.Scope, Policy.Scope): decided on the tenant role.
		inner = wrapGuard(a.guard.RequireTenant(right), inner)
	default:
		inner = a.signedIn(inner)
	}
	mux.Handle(pattern, a.actionLog(a.tokenInProject(inner)))
}

// tokenInProject judges a request made with an API token again, after routing, in the
// project the route's guard and handler use. The token middleware runs in
// authenticate, before the mux has matched, so r.PathValue("project") is empty there
// and it decided the integrations right on ?project= or the tenant role alone; a route
// with {project} in its path would otherwise let a token act in a project where its
// user's role lacks the right (a tenant role holding it, or ?project= naming another
// project). Session requests pass unchanged.
func (a *app) tokenInProject(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := access.SubjectFrom(r.Context())
		if !ok || s.Token == uuid.Nil {
			next.ServeHTTP(w, r)
			return
		}
		project, err := requestProject(r)
		if err != nil {
			a.writeError(w, r, badRequest("project is a project ID"))
			return
		}
		if project == uuid.Nil {
			next.ServeHTTP(w, r)
			return
		}
		p, err := a.policy(r.Context(), s)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: apiErrorBody{Code: "unavailable", Message: "the access policy could not be loaded; try again"}})
			return
		}
		if !p.Check(s, access.Integrations, project) {
			a.denied(r, p, s, "token_missing_right")
			a.writeError(w, r, access.ErrForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// public registers an API route that needs no session (sign-in, accepting an
// invitation).
func (a *app) public(mux *http.ServeMux, pattern string, h handlerFunc) {
	mux.Handle(pattern, a.actionLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})))
}

// signedIn lets through a request with a subject working from an address the tenant
// allows, with the policy in the context; the rest is 401, 403 or 503 (fail closed).
func (a *app) signedIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := access.SubjectFrom(r.Context())
		if !ok {
			a.writeError(w, r, access.ErrNoSubject)
			return
		}
		p, err := a.policy(r.Context(), s)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: apiErrorBody{Code: "unavailable", Message: "the access policy could not be loaded; try again"}})
			return
		}
		if !p.AllowsIP(s, s.IP) {
			a.denied(r, p, s, "ip_not_allowed")
			a.writeError(w, r, access.ErrForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(access.WithPolicy(r.Context(), p)))
	})
}

// policy returns the request's policy: the one in the context, else the current one.
func (a *app) policy(ctx context.Context, s access.Subject) (*access.Policy, error) {
	if p := access.PolicyFrom(ctx); p != nil && p.Tenant() == s.Tenant {
		return p, nil
	}
	return a.engine.Policy(ctx, s.Tenant)
}

// denied records an authorization failure decided in a handler (ASVS 16.3.2).
func (a *app) denied(r *http.Request, p *access.Policy, s access.Subject, reason string) {
	ev := audit.Event{Tenant: s.Tenant, Kind: audit.KindAccess, Action: "access.denied",
		Actor:   actor(p, s),
		Outcome: audit.Denied, Reason: reason,
		Details: map[string]string{"method": r.Method, "path": audit.RequestPath(r)}}
	if err := a.recorder.Record(context.WithoutCancel(r.Context()), ev); err != nil {
		a.log.Warn("denial not recorded", "err", err)
	}
}

// actor is the audit actor of a subject.
func actor(p *access.Policy, s access.Subject) audit.Actor {
	ac := audit.Actor{User: s.User, IP: s.IP, UserAgent: s.UserAgent, Session: s.Session, Token: s.Token}
	if role, ok := p.Role(s.User); ok {
		ac.Role = role.Name
	}
	return ac
}

// subject returns the request's subject and policy; api and the Guards guarantee both.
func subject(r *http.Request) (access.Subject, *access.Policy) {
	s, _ := access.SubjectFrom(r.Context())
	return s, access.PolicyFrom(r.Context())
}

type loginRequest struct {
	Tenant   string         `json:"tenant"`
	Email    string         `json:"email"`
	Password authn.Password `json:"password"`
	// Kind is "admin" (the default: the administrative interface) or "workplace" (the
	// agent workplace, whose session carries the agent's status, queue and call).
	Kind string `json:"kind,omitempty"`
}

// login: POST /api/v1/login {tenant, email, password, kind}. An unknown tenant, an
// unknown e-mail, a wrong password, a throttled or locked account, a user who may not
// sign in and an address outside the allowlist all get the same 401; the login log
// records the real reason. When a second factor is owed the answer is
// {"mfa_required": true} with a short-lived pending cookie for /api/v1/login/totp.
func (a *app) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	m := meta(r)
	m.Kind = authn.SessionKind(req.Kind)
	if m.Kind != "" && m.Kind != authn.SessionAdmin && m.Kind != authn.SessionWorkplace {
		return badRequest(`kind is "admin" or "workplace"`)
	}
	t, err := a.access.ResolveTenant(r.Context(), req.Tenant)
	if err != nil && !isNotFound(err) {
		return err
	}
	tenant := t.ID // uuid.Nil for an unknown tenant
	// For an unknown tenant, SignIn still does the work of a failed sign-in.
	res, err := a.accounts.SignIn(r.Context(), tenant, req.Email, req.Password, m)
	if err != nil {
		if isIPNotAllowed(err) {
			err = authn.ErrInvalidCredentials
		}
		return err
	}
	return a.signedInAs(w, r, res)
}

// loginTOTP: POST /api/v1/login/totp {code} or {recovery_code} completes a pending
// sign-in with the second factor.
func (a *app) loginTOTP(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Code         string `json:"code"`
		RecoveryCode string `json:"recovery_code"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	f, code := authn.FactorTOTP, req.Code
	if req.RecoveryCode != "" {
		f, code = authn.FactorRecoveryCode, req.RecoveryCode
	}
	pending := a.pendingCookie().Read(r)
	if pending == "" || code == "" {
		return badRequest("sign in with your password first, then send code or recovery_code")
	}
	res, err := a.accounts.CompleteSignIn(r.Context(), pending, f, code, meta(r))
	if err != nil {
		if errors.Is(err, authn.ErrPendingInvalid) {
			a.pendingCookie().Clear(w)
		}
		if isIPNotAllowed(err) {
			err = authn.ErrInvalidCredentials // as at the password step: the address is not named
		}
		return err
	}
	a.pendingCookie().Clear(w)
	return a.signedInAs(w, r, res)
}

// signedInAs answers a sign-in step: the session cookie and the caller, or the pending
// cookie when a second factor is owed.
func (a *app) signedInAs(w http.ResponseWriter, r *http.Request, res authn.SignInResult) error {
	if res.Pending != nil {
		a.pendingCookie().Set(w, res.PendingToken, res.Pending.ExpiresAt)
		writeJSON(w, http.StatusOK, map[string]bool{"mfa_required": true})
		return nil
	}
	if res.Session == nil {
		return errors.New("sign-in returned neither a session nor a pending step")
	}
	sess := *res.Session
	a.sessionCookie().Set(w, res.Token, sess.ExpiresAt)
	m := meta(r)
	s := access.Subject{Tenant: sess.Tenant, User: sess.User, Session: sess.ID, IP: m.IP, UserAgent: m.UserAgent}
	p, err := a.engine.Policy(r.Context(), sess.Tenant)
	if err != nil {
		return err
	}
	noteRequest(r, p, s)
	me, err := a.meOf(r.Context(), s, p)
	if err != nil {
		return err
	}
	me.Restricted = sess.Restricted
	writeJSON(w, http.StatusOK, me)
	return nil
}

// logout: POST /api/v1/logout ends the session.
func (a *app) logout(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	if err := a.accounts.Logout(r.Context(), s); err != nil {
		return err
	}
	a.sessionCookie().Clear(w)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

type meResponse struct {
	// Restricted: the session may only enrol a second factor.
	Restricted bool         `json:"restricted,omitempty"`
	User       userJSON     `json:"user"`
	TenantName string       `json:"tenant_name"`
	Tenant     string       `json:"tenant"`
	Role       *roleRef     `json:"role"`
	Rights     []string     `json:"rights"`
	Projects   []projectRef `json:"projects"`
}

type roleRef struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
	Kind string    `json:"kind"`
}

type projectRef struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

// me: GET /api/v1/me.
func (a *app) me(w http.ResponseWriter, r *http.Request) error {
	s, p := subject(r)
	me, err := a.meOf(r.Context(), s, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, me)
	return nil
}

func (a *app) meOf(ctx context.Context, s access.Subject, p *access.Policy) (meResponse, error) {
	u, err := a.accounts.User(ctx, s, s.User)
	if err != nil {
		return meResponse{}, err
	}
	names, err := a.store.TenantNames(ctx, s.Tenant)
	if err != nil {
		return meResponse{}, err
	}
	out := meResponse{User: a.userOf(p, u), Tenant: names.Slug, TenantName: p.TenantName(), Rights: []string{}, Projects: []projectRef{}}
	if role, ok := p.Role(s.User); ok {
		out.Role = &roleRef{ID: role.ID, Name: role.Name, Kind: string(role.Kind)}
	}
	for _, info := range access.Rights() {
		if p.Check(s, info.Right, uuid.Nil) {
			out.Rights = append(out.Rights, info.Name)
		}
	}
	pnames, err := a.projectNames(ctx, s.Tenant)
	if err != nil {
		return meResponse{}, err
	}
	for _, id := range p.Projects(s.User) {
		out.Projects = append(out.Projects, projectRef{ID: id, Name: pnames[id]})
	}
	slices.SortFunc(out.Projects, func(x, y projectRef) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// projectNames maps the tenant's project IDs to their names.
func (a *app) projectNames(ctx context.Context, tenant uuid.UUID) (map[uuid.UUID]string, error) {
	ps, err := a.store.Projects(ctx, tenant)
	if err != nil {
		return nil, err
	}
	m := make(map[uuid.UUID]string, len(ps))
	for _, p := range ps {
		m[p.ID] = p.Name
	}
	return m, nil
}

// reauth: POST /api/v1/me/reauth {password} proves the password again, for operations
// that need a recent proof (two-factor enrolment and turning it off).
func (a *app) reauth(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	var req struct {
		Password authn.Password `json:"password"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if err := a.accounts.Reauthenticate(r.Context(), s, req.Password, meta(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
