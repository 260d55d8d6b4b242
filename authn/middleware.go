package authn

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
)

// Cookie configures the session cookie. The zero value is the production setting:
// the name carries the "__Host-" prefix (the browser then insists on Secure, Path=/
// and no Domain, so a sibling subdomain cannot set or shadow it), and the cookie is
// Secure, HttpOnly and SameSite=Lax.
type Cookie struct {
	// Name overrides the cookie name. Default "__Host-callshield", or
	// "callshield_dev" with Insecure.
	Name string
	// Insecure drops Secure and the "__Host-" prefix, for development over plain HTTP
	// on localhost only: browsers do not store Secure cookies from http:// origins. Never
	// set it in production: the session secret would travel in clear.
	Insecure bool
	// SameSite defaults to http.SameSiteLaxMode; Strict is stricter still (no cookie on
	// links followed from other sites). None is refused (treated as Lax).
	SameSite http.SameSite
}

func (c Cookie) name() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.Insecure:
		return "callshield_dev"
	}
	return "__Host-callshield"
}

func (c Cookie) sameSite() http.SameSite {
	if c.SameSite == http.SameSiteStrictMode {
		return c.SameSite
	}
	return http.SameSiteLaxMode
}

// Set writes the session cookie carrying tok, expiring at the session's absolute
// deadline.
func (c Cookie) Set(w http.ResponseWriter, tok SessionToken, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: c.name(), Value: tok.Reveal(), Path: "/", Expires: expires.UTC(),
		Secure: !c.Insecure, HttpOnly: true, SameSite: c.sameSite()})
}

// Clear writes a cookie that deletes the session cookie (at logout).
func (c Cookie) Clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: c.name(), Value: "", Path: "/", MaxAge: -1,
		Secure: !c.Insecure, HttpOnly: true, SameSite: c.sameSite()})
}

// Read returns the session cookie's value, or "" if there is none. Like
// [http.Request.Cookie] it takes the first cookie of that name whose value is valid
// (one pair of surrounding double quotes removed), but it scans the Cookie headers in
// place instead of parsing every cookie, so it allocates nothing.
func (c Cookie) Read(r *http.Request) string {
	name := c.name()
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var v string
			var ok bool
			if v, line, ok = nextCookie(line, name); ok && validCookieValue(v) {
				return v
			}
		}
	}
	return ""
}

// session returns the tenant and secret hash of the first session cookie that holds
// a well-formed session token (which has only bytes valid in a cookie value): what
// Read would return, except that a malformed cookie of the same name does not hide a
// well-formed one after it.
func (c Cookie) session(r *http.Request) (tenant uuid.UUID, hash [32]byte, ok bool) {
	name := c.name()
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var v string
			if v, line, ok = nextCookie(line, name); ok {
				if tenant, hash, ok = parseSessionToken(sessionPrefix, v); ok {
					return tenant, hash, true
				}
			}
		}
	}
	return uuid.Nil, hash, false
}

// nextCookie takes the first pair off a Cookie header line: ok reports that it is
// named name, v is its value with one pair of surrounding double quotes removed.
func nextCookie(line, name string) (v, rest string, ok bool) {
	part, rest, _ := strings.Cut(line, ";")
	n, v, ok := strings.Cut(textproto.TrimString(part), "=")
	if !ok || n != name {
		return "", rest, false
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v, rest, true
}

// validCookieValue reports whether v has only the bytes net/http accepts in a cookie
// value.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if !cookieByte[v[i]] {
			return false
		}
	}
	return true
}

// cookieByte marks the bytes net/http accepts in a cookie value.
var cookieByte = func() (t [256]bool) {
	for b := 0x20; b < 0x7f; b++ {
		t[b] = b != '"' && b != ';' && b != '\\'
	}
	return t
}()

// MiddlewareOptions configure [Service.Middleware]. The zero value is the production
// setting.
type MiddlewareOptions struct {
	Cookie Cookie
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// ([access.ClientIP]). If empty, the header is ignored, because any client can
	// write it.
	TrustedProxies []netip.Prefix
	// TouchInterval bounds the writes that record a session's last request (time,
	// address, browser, path): at most one per session per interval. Default 30 s. It
	// is also the granularity of the idle timeout.
	TouchInterval time.Duration
	// AllowRestricted lets restricted sessions through (those that must enrol a second
	// factor first). Set it only on the middleware of the enrolment routes.
	AllowRestricted bool
	// Unauthenticated answers a request without a valid session. If nil, the answer is
	// 401 with the JSON body {"error":"unauthenticated"}; a host serving pages sets a
	// handler that redirects to its sign-in page.
	Unauthenticated http.Handler
	// CrossOrigin refuses cross-origin state-changing requests (POST, PUT, PATCH,
	// DELETE from another origin, by Sec-Fetch-Site or Origin) before the session is
	// looked at. If nil, a default http.CrossOriginProtection is used; configure
	// trusted origins on your own instance. It cannot be turned off: SameSite=Lax
	// alone does not stop same-site attackers (sibling subdomains).
	CrossOrigin *http.CrossOriginProtection
}

type sessionKey struct{}

// sessionCtx is the context node the middleware adds: the session, the subject and
// the policy ([access.RequestValues] answers the access keys). v is shared with the
// other requests of a cached session from the same address and browser, or part of
// this request's allocation when the session was read from the store; it is never
// written.
type sessionCtx struct {
	context.Context
	v *requestValues
}

// sessionReq is the middleware's one allocation per request served from the session
// cache: the context node and the request copy that carries it.
type sessionReq struct {
	ctx sessionCtx
	req http.Request
}

// sessionReqRead is the one allocation of a request whose session was read from the
// store: sessionReq plus the values and the session.
type sessionReqRead struct {
	sessionReq
	vals requestValues
	sess Session
}

func (c *sessionCtx) Value(key any) any {
	if _, ok := key.(sessionKey); ok {
		return c.v.sess
	}
	if v, ok := c.v.Lookup(key); ok {
		return v
	}
	return c.Context.Value(key)
}

// SessionFrom returns the session the middleware validated for the request (a copy:
// changing it changes nothing else).
func SessionFrom(ctx context.Context) (Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(*Session)
	if !ok || s == nil {
		return Session{}, false
	}
	return s.clone(), true
}

// Middleware returns net/http middleware that authenticates requests by their session
// cookie. For each request it refuses cross-origin state-changing requests (403
// "cross_origin"), resolves the client address ([access.ClientIP] with the trusted
// proxies), validates the session ([Service.ValidateSession]: one indexed read, see
// there for the cost and staleness), and puts the [access.Subject] (tenant, user,
// session ID, address, user agent), the [Session] ([SessionFrom]) and the policy
// ([access.PolicyFrom]) in the request context.
//
// Answers: no or an invalid session is Unauthenticated (default 401
// {"error":"unauthenticated"}); an address the allowlist refuses is 403
// "ip_not_allowed"; a restricted session outside AllowRestricted routes is 403
// "two_factor_enrolment_required"; a storage failure is 503 "unavailable" (fail
// closed). A session this request finds expired, idle or of a user who may no longer
// sign in is ended and its cookie cleared; an unknown secret's cookie is left alone
// (it may be the old secret of a session a concurrent request just rotated). When the
// user's role assignments changed since the secret was issued
// ([access.Policy.Privilege]), the session is rotated and the response sets the new
// cookie (ASVS 7.2.4).
func (s *Service) Middleware(opts MiddlewareOptions) func(http.Handler) http.Handler {
	if opts.TouchInterval <= 0 {
		opts.TouchInterval = 30 * time.Second
	}
	// A copy: a resolved client address is kept with the session (query), so the
	// proxies must not change under it.
	opts.TrustedProxies = slices.Clone(opts.TrustedProxies)
	m := &sessionMiddleware{s: s, opts: opts, cop: opts.CrossOrigin, unauth: opts.Unauthenticated}
	if m.cop == nil {
		m.cop = http.NewCrossOriginProtection()
	}
	if m.unauth == nil {
		m.unauth = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			access.WriteError(w, http.StatusUnauthorized, "unauthenticated")
		})
	}
	return func(next http.Handler) http.Handler {
		return &sessionHandler{m: m, next: next}
	}
}

// sessionMiddleware is a configured [Service.Middleware].
type sessionMiddleware struct {
	s      *Service
	opts   MiddlewareOptions
	cop    *http.CrossOriginProtection
	unauth http.Handler
}

// sessionHandler is the middleware around one handler. It is a named type, not a
// closure, so that its ServeHTTP is compiled (and escape-analysed) in this package
// even where Middleware is inlined into the caller: the request copy below then stays
// in the one allocation per request.
type sessionHandler struct {
	m    *sessionMiddleware
	next http.Handler
}

// userAgent is r.UserAgent() without canonicalising the constant key per request.
func userAgent(r *http.Request) string {
	if v := r.Header["User-Agent"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (h *sessionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := h.m
	if err := m.cop.Check(r); err != nil {
		access.WriteError(w, http.StatusForbidden, "cross_origin")
		return
	}
	tenant, hash, ok := m.opts.Cookie.session(r)
	if !ok {
		m.unauth.ServeHTTP(w, r)
		return
	}
	// The client address is resolved only if the session's last request came from
	// another raw client (query.ip).
	q := query{Request: Request{Meta: Meta{UserAgent: userAgent(r)}, Path: r.URL.Path}, via: m, http: r}
	var v validation
	if err := m.s.validate(r.Context(), tenant, hash, &q, m.opts.TouchInterval, &v); err != nil {
		switch {
		case errors.Is(err, ErrSessionEnded):
			m.opts.Cookie.Clear(w)
			m.unauth.ServeHTTP(w, r)
		case errors.Is(err, ErrSessionInvalid):
			m.unauth.ServeHTTP(w, r)
		case errors.Is(err, ErrIPNotAllowed):
			access.WriteError(w, http.StatusForbidden, "ip_not_allowed")
		default:
			access.WriteError(w, http.StatusServiceUnavailable, "unavailable")
		}
		return
	}
	if !v.newTok.IsZero() {
		m.opts.Cookie.Set(w, v.newTok, v.session().ExpiresAt)
	}
	if v.session().Restricted && !m.opts.AllowRestricted {
		access.WriteError(w, http.StatusForbidden, "two_factor_enrolment_required")
		return
	}
	// WithContext is inlined and its copy does not escape: the request lives in the
	// one allocation, beside its context node.
	if v.hit != nil {
		sr := &sessionReq{ctx: sessionCtx{Context: r.Context(), v: v.hit}}
		sr.req = *r.WithContext(&sr.ctx)
		h.next.ServeHTTP(w, &sr.req)
		return
	}
	sr := &sessionReqRead{sess: v.own.Session}
	sr.vals = requestValues{RequestValues: v.vals, sess: &sr.sess}
	sr.ctx = sessionCtx{Context: r.Context(), v: &sr.vals}
	sr.req = *r.WithContext(&sr.ctx)
	h.next.ServeHTTP(w, &sr.req)
}
