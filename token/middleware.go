package token

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// The middleware's answers: every token that does not authenticate gets the same one.
const (
	codeInvalid     = "invalid_token"
	codeForbidden   = "forbidden"
	codeUnavailable = "unavailable"
	codeBadProject  = "bad_project"
)

// Detail keys of the action-log event of a token request, besides those of
// audit.ActionEvent.
const (
	DetailStatus     = "status"      // the response status
	DetailDurationMS = "duration_ms" // the time the request took, in milliseconds
)

// Middleware authenticates requests with an API token and lets them through only as
// far as the token's user may go now.
//
// The token is read from the Authorization header only ("Authorization: Bearer
// cst_..."). A request carrying something shaped like a token in its URL (path or
// query string) or in a URL-encoded form field (the middleware parses such a body
// with r.ParseForm; handlers read it from r.PostForm) is refused with 401 and not
// logged, since the URL would put the secret into the log. A missing, malformed,
// checksum-failing, unknown, revoked or expired token, or one whose user may no longer
// act, is 401 with one generic body {"error":"invalid_token"} and a WWW-Authenticate
// header.
//
// Then, on every request, the token is judged against its user's current state in the
// tenant's current policy: the address (the IP allowlist, unless their role ignores
// it; the client address comes from access.ClientIP with Options.TrustedProxies) and
// the integrations right in the request's project (Options.Project; the tenant role
// without one). A denial is 403 {"error":"forbidden"}; a policy or store that cannot
// be read is 503 (fail closed). A role change, a removed membership, a narrowed
// allowlist or a blocked user apply on the next request on every instance.
//
// An allowed request continues with an access.Subject (tenant, user, token ID, IP,
// user agent) in its context (access.WithSubject) and the policy it was decided with
// (access.WithPolicy), so that access.Guard.Require and Policy.Scope work unchanged
// behind it. A request without a project was judged on the tenant role only: a
// handler that reads records of several projects should narrow its scope, for a
// subject with a Token, to the projects of Policy.Scope(s, access.Integrations), or a
// project whose override role lacks the right is within the token's reach. Mount the
// middleware inside the route (see Options.Project) so that a {project} path value is
// what it judges.
//
// Every request the token authenticated (allowed or denied by the policy) is one
// action-log event through Options.Actions: token ID, user and role, method, path and
// parameters redacted as audit.ActionEvent does, status, duration and outcome; and one
// count in the token's daily usage. A request refused because its known token is
// revoked, expired or its user may not act is logged bounded, and not counted as
// usage: per token and process, the first refusal of each Options.RefusalLogInterval
// (a minute by default) is an event of its own (DetailRefusals "1"), and the refusals
// after it in that interval are counted in memory and logged as one ActionRefusals
// event with their number (DetailRefusals) by the next flush, so that whoever holds a
// dead token cannot grow the audit log at their request rate. Requests with unknown or
// malformed tokens name no real tenant and are not recorded at all (nor counted), so
// that made-up tokens cannot fill the audit log either; they cost one indexed store
// read (unknown) or none (malformed).
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.opts.Clock()
		if carriesToken(r) {
			unauthorized(w)
			return
		}
		raw, ok := bearer(r)
		if !ok {
			unauthorized(w)
			return
		}
		ctx := r.Context()
		t, err := s.Verify(ctx, raw)
		ip := access.ClientIP(r, s.opts.TrustedProxies)
		subject := access.Subject{Tenant: t.Tenant, User: t.User, Token: t.ID, IP: ip, UserAgent: r.UserAgent()}
		switch {
		case err == nil:
		case t.ID != uuid.Nil && errors.Is(err, ErrInvalid):
			// A known token that no longer works: answered like any other, logged
			// bounded (see refusals.go), not counted as usage.
			unauthorized(w)
			s.refuse(r, subject, reasonOf(err), start)
			return
		case errors.Is(err, ErrInvalid):
			unauthorized(w)
			return
		default:
			access.WriteError(w, http.StatusServiceUnavailable, codeUnavailable)
			return
		}
		project := uuid.Nil
		if s.opts.Project != nil {
			if project, err = s.opts.Project(r); err != nil {
				access.WriteError(w, http.StatusBadRequest, codeBadProject)
				s.record(r, nil, subject, uuid.Nil, http.StatusBadRequest, "bad_project", start)
				return
			}
		}
		p, err := s.engine.Policy(ctx, t.Tenant)
		if err != nil {
			access.WriteError(w, http.StatusServiceUnavailable, codeUnavailable)
			return
		}
		reason := ""
		switch {
		case !p.AllowsIP(subject, ip):
			reason = "ip_not_allowed"
		case !p.Check(subject, access.Integrations, project):
			reason = "missing_right"
		}
		if reason != "" {
			access.WriteError(w, http.StatusForbidden, codeForbidden)
			s.record(r, p, subject, project, http.StatusForbidden, reason, start)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		ctx = access.WithPolicy(access.WithSubject(ctx, subject), p)
		defer func() {
			// Recorded even when the handler panics (as a 500; the panic goes on up).
			if rec := recover(); rec != nil {
				s.record(r, p, subject, project, http.StatusInternalServerError, "panic", start)
				panic(rec)
			}
			s.record(r, p, subject, project, sw.code(), "", start)
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// record writes the request's action-log event and counts it in the token's usage.
func (s *Service) record(r *http.Request, p *access.Policy, sub access.Subject, project uuid.UUID, status int, reason string, start time.Time) {
	end := s.opts.Clock()
	var loc *time.Location
	if s.opts.Location != nil {
		loc = s.opts.Location(sub.Tenant)
	}
	s.usage.add(Token{ID: sub.Token, Tenant: sub.Tenant, User: sub.User}, loc, end.UTC(), status)
	s.enqueue(s.actionEvent(r, p, sub, project, status, reason, start, end))
}

// refuse logs a request refused with a known but dead token, bounded per token (see
// refusals.go). It is not counted as usage: a token's usage ends when it stops
// working.
func (s *Service) refuse(r *http.Request, sub access.Subject, reason string, start time.Time) {
	end := s.opts.Clock()
	k := tokenRef{sub.Tenant, sub.Token}
	actor := audit.Actor{User: sub.User, IP: sub.IP, UserAgent: sub.UserAgent, Token: sub.Token}
	log, leftover := s.refusals.admit(k, actor, reason, end)
	if leftover != nil {
		s.enqueue(s.refusals.summary(k, leftover))
	}
	if !log {
		return
	}
	ev := s.actionEvent(r, nil, sub, uuid.Nil, http.StatusUnauthorized, reason, start, end)
	ev.Details[DetailRefusals] = "1"
	s.refusals.setRole(k, end, ev.Actor.Role)
	s.enqueue(ev)
}

// actionEvent is the action-log event of a request made with a known token.
func (s *Service) actionEvent(r *http.Request, p *access.Policy, sub access.Subject, project uuid.UUID, status int, reason string, start, end time.Time) audit.Event {
	ev := audit.ActionEvent(r, audit.ActionOptions{SensitiveKeys: s.opts.SensitiveKeys})
	ev.Tenant = sub.Tenant
	ev.Actor = audit.Actor{User: sub.User, IP: sub.IP, UserAgent: sub.UserAgent, Token: sub.Token}
	if p == nil {
		p, _ = s.engine.Policy(r.Context(), sub.Tenant) // for the role name only
	}
	if role, ok := p.Role(sub.User); ok {
		ev.Actor.Role = role.Name
	}
	ev.Project = project
	ev.Outcome = audit.ActionOutcome(status)
	ev.Reason = reason
	ev.Details[DetailStatus] = strconv.Itoa(status)
	ev.Details[DetailDurationMS] = strconv.FormatInt(end.Sub(start).Milliseconds(), 10)
	ev.Time = end
	return ev
}

// enqueue hands an action-log event to Options.Actions.
func (s *Service) enqueue(ev audit.Event) {
	if err := s.opts.Actions.Enqueue(ev); err != nil {
		s.opts.Logger.Warn("token: action-log event not accepted", "err", err,
			"tenant", ev.Tenant.String(), "token", ev.Actor.Token.String(), "status", ev.Details[DetailStatus])
	}
}

func reasonOf(err error) string {
	switch {
	case errors.Is(err, ErrRevoked):
		return "token_revoked"
	case errors.Is(err, ErrExpired):
		return "token_expired"
	case errors.Is(err, ErrUserInactive):
		return "user_inactive"
	}
	return "token_invalid"
}

// unauthorized writes the one answer of every token that does not authenticate.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	access.WriteError(w, http.StatusUnauthorized, codeInvalid)
}

// bearer returns the token of an "Authorization: Bearer" header (the scheme is
// case-insensitive, RFC 7235); ok is false without exactly one such header.
func bearer(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	v := vals[0]
	const scheme = "bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(v[len(scheme):]), true
}

// carriesToken reports whether the request carries a token, or the RFC 6750
// access_token parameter, anywhere but the Authorization header: its path, its query
// string, or a URL-encoded form body.
func carriesToken(r *http.Request) bool {
	if r.URL != nil {
		if Looks(r.URL.Path) || Looks(r.URL.RawPath) || Looks(r.URL.RawQuery) {
			return true
		}
		q := r.URL.Query()
		if q.Has("access_token") || valuesCarry(q) {
			return true
		}
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" && r.Body != nil && r.Body != http.NoBody {
		if err := r.ParseForm(); err != nil {
			return true // unreadable: refuse rather than let a token through unseen
		}
		if r.PostForm.Has("access_token") || valuesCarry(r.PostForm) {
			return true
		}
	}
	return false
}

func valuesCarry(vals map[string][]string) bool {
	for k, vs := range vals {
		if Looks(k) {
			return true
		}
		for _, v := range vs {
			if Looks(v) {
				return true
			}
		}
	}
	return false
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
