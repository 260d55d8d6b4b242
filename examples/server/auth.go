package main

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/google/uuid"
)

// sessionCookie names the session cookie. With secure cookies it carries the __Host-
// prefix, which browsers accept only with Secure, Path=/ and no Domain.
func (a *app) sessionCookie() string {
	if a.secureCookies() {
		return "__Host-cs_session"
	}
	return "cs_session"
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

func (a *app) setSessionCookie(w http.ResponseWriter, secret string) {
	http.SetCookie(w, &http.Cookie{Name: a.sessionCookie(), Value: secret, Path: "/", HttpOnly: true,
		Secure: a.secureCookies(), SameSite: http.SameSiteLaxMode})
}

func (a *app) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: a.sessionCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: a.secureCookies(), SameSite: http.SameSiteLaxMode})
}

type metaKey struct{}

// meta returns the client address and browser of the request (see authenticate).
func meta(r *http.Request) authn.Meta {
	m, _ := r.Context().Value(metaKey{}).(authn.Meta)
	return m
}

// authenticate resolves the client address (X-Forwarded-For only through the trusted
// proxies) and turns a valid session cookie into an access.Subject in the context.
// The user's current status is checked on every request: a blocked user's session
// stops working at once, on every instance.
func (a *app) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := authn.Meta{IP: access.ClientIP(r, a.cfg.TrustedProxies), UserAgent: r.UserAgent()}
		ctx := context.WithValue(r.Context(), metaKey{}, m)
		if c, err := r.Cookie(a.sessionCookie()); err == nil && c.Value != "" {
			if ss, ok := a.sessions.lookup(c.Value); ok {
				st, err := a.accounts.Status(ctx, ss.Tenant, ss.User)
				switch {
				case err != nil && !isNotFound(err):
					// Fail closed: without the user's state the request is not theirs.
					a.writeError(w, r, err)
					return
				case err == nil && st == authn.StatusActive:
					ctx = access.WithSubject(ctx, access.Subject{Tenant: ss.Tenant, User: ss.User, Session: ss.ID,
						IP: m.IP, UserAgent: m.UserAgent})
				default:
					a.sessions.end(c.Value)
				}
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// handlerFunc is an API handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// api registers an API route. Every route records its calls in the action log. A
// route with a right passes the Guard (the project Guard when project is true);
// one without (right 0) needs a signed-in subject from an allowed address.
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
		inner = wrapGuard(a.guard.Require(right), inner)
	default:
		inner = a.signedIn(inner)
	}
	mux.Handle(pattern, a.actionLog(inner))
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
}

// login: POST /api/v1/login {tenant, email, password}. An unknown tenant, an unknown
// e-mail, a wrong password, a user who may not sign in and an address outside the
// allowlist all get the same 401; the login log records the real reason.
func (a *app) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	m := meta(r)
	tenant, err := a.tenants.lookup(r.Context(), req.Tenant)
	if err != nil && !isNotFound(err) {
		return err
	}
	// For an unknown tenant, Authenticate still does the work of a failed sign-in.
	u, err := a.accounts.Authenticate(r.Context(), tenant, req.Email, req.Password, m)
	if err != nil {
		if isIPNotAllowed(err) {
			err = authn.ErrInvalidCredentials
		}
		return err
	}
	secret, ss, err := a.sessions.create(u.Tenant, u.ID, m.IP, m.UserAgent)
	if err != nil {
		return err
	}
	a.setSessionCookie(w, secret)
	s := access.Subject{Tenant: u.Tenant, User: u.ID, Session: ss.ID, IP: m.IP, UserAgent: m.UserAgent}
	p, err := a.engine.Policy(r.Context(), u.Tenant)
	if err != nil {
		return err
	}
	noteRequest(r, p, s)
	_ = a.recorder.Record(r.Context(), audit.SessionEvent(u.Tenant, actor(p, s), audit.ActionSessionCreated, ss.ID, uuid.Nil, ""))
	me, err := a.meOf(r.Context(), s, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, me)
	return nil
}

// logout: POST /api/v1/logout ends the session.
func (a *app) logout(w http.ResponseWriter, r *http.Request) error {
	s, p := subject(r)
	if c, err := r.Cookie(a.sessionCookie()); err == nil {
		a.sessions.end(c.Value)
	}
	a.clearSessionCookie(w)
	_ = a.recorder.Record(r.Context(), audit.SessionEvent(s.Tenant, actor(p, s), audit.ActionSessionEnded, s.Session, uuid.Nil, "logout"))
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

type meResponse struct {
	User     userJSON     `json:"user"`
	Tenant   string       `json:"tenant"`
	Role     *roleRef     `json:"role"`
	Rights   []string     `json:"rights"`
	Projects []projectRef `json:"projects"`
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
	out := meResponse{User: a.userOf(p, u), Tenant: slugOf(p.TenantName()), Rights: []string{}, Projects: []projectRef{}}
	if role, ok := p.Role(s.User); ok {
		out.Role = &roleRef{ID: role.ID, Name: role.Name, Kind: string(role.Kind)}
	}
	for _, info := range access.Rights() {
		if p.Check(s, info.Right, uuid.Nil) {
			out.Rights = append(out.Rights, info.Name)
		}
	}
	names, err := a.projectNames(ctx, s.Tenant)
	if err != nil {
		return meResponse{}, err
	}
	for _, id := range p.Projects(s.User) {
		out.Projects = append(out.Projects, projectRef{ID: id, Name: names[id]})
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
