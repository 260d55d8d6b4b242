package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/smtp"
	"strconv"
	"strings"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// maxBody bounds every request body the API reads.
const maxBody = 1 << 20

// apiError is the body of every error answer: {"error": {"code": ..., "message": ...}}.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Violations lists the broken password rules of a weak_password error.
	Violations []violation `json:"violations,omitempty"`
}

type violation struct {
	Rule  string `json:"rule"`
	Limit int    `json:"limit,omitempty"`
	Word  string `json:"word,omitempty"`
}

// errBadRequest marks input the handler itself refused.
var errBadRequest = errors.New("bad request")

// badRequest returns an error answered 400 with msg (a fixed text, never user input).
func badRequest(msg string) error {
	return &httpError{status: http.StatusBadRequest, code: "bad_request", msg: msg}
}

type httpError struct {
	status    int
	code, msg string
}

func (e *httpError) Error() string { return e.msg }
func (e *httpError) Unwrap() error { return errBadRequest }

// errorStatus maps an error to its HTTP status, code and message: the handler's own
// refusals, a weak password with its rules, and everything else through the SDK's one
// mapping (access.ErrorCode, which authn and token register their sentinels with).
// Messages are fixed per code and never name which of e-mail, password, status or
// address was wrong.
func errorStatus(err error) (int, string, string) {
	var he *httpError
	var pe *authn.PasswordError
	switch {
	case errors.As(err, &he):
		return he.status, he.code, he.msg
	case errors.As(err, &pe):
		return http.StatusBadRequest, "weak_password", "the password does not meet the policy"
	}
	status, code := access.ErrorCode(err)
	msg, ok := messages[code]
	if !ok {
		msg = strings.ReplaceAll(code, "_", " ")
		if status >= 500 {
			msg = "internal error"
		}
	}
	return status, code, msg
}

// messages are the texts shown with the SDK's error codes.
var messages = map[string]string{
	"invalid_credentials":           "wrong company, e-mail or password",
	"unauthenticated":               "sign in first",
	"sign_in_expired":               "the sign-in expired; sign in again",
	"reauthentication_required":     "confirm your password first",
	"two_factor_enrolment_required": "set up two-factor sign-in first",
	"forbidden":                     "you may not do this",
	"ip_not_allowed":                "your company does not allow access from this address",
	"busy":                          "the server is busy; try again in a moment",
	"unavailable":                   "try again in a moment",
	"link_invalid":                  "the link is invalid or has expired",
	"last_admin":                    "the company's last Admin cannot be removed, blocked or demoted",
	"builtin_role":                  "the default roles cannot be deleted, and Admin cannot be edited",
	"role_in_use":                   "the role is still assigned",
	"user_exists":                   "a user with this e-mail exists",
	"invalid_transition":            "not possible in the user's current status",
	"user_deleted":                  "the user was deleted; reports about them are no longer possible",
	"wrong_password":                "the current password is wrong",
	"not_found":                     "not found",
	"stale":                         "changed meanwhile; reload and try again",
	"conflict":                      "already exists",
	"session_limit":                 "too many sessions; end one first",
	"internal":                      "internal error",
	"invalid_token":                 "the API token is missing, invalid, revoked or expired",
	"token_exists":                  "you already have an API token; regenerate it instead",
	"no_token":                      "no active API token",
	"too_many_regenerations":        "your API token was created a moment ago; try again in a minute",
	"too_many_sign_in_starts":       "too many sign-in attempts from your address; try again in a few minutes",
	"unknown_role":                  "a role listed is not one of the company's roles; reload and try again",
}

// cleanMessage returns the error's text for a 400 answer: SDK validation errors name
// the rule, never a secret.
func cleanMessage(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

// writeError answers err in the API's error shape.
func (a *app) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := errorStatus(err)
	if status == http.StatusInternalServerError {
		a.log.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
	}
	body := apiError{Error: apiErrorBody{Code: code, Message: msg}}
	var pe *authn.PasswordError
	if errors.As(err, &pe) {
		for _, v := range pe.Violations {
			body.Error.Violations = append(body.Error.Violations, violation{Rule: string(v.Rule), Limit: v.Limit, Word: v.Word})
		}
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, body)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// readJSON decodes the request body into v, refusing unknown fields and trailing data.
func readJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &httpError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", msg: "send application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body is not the JSON this endpoint expects")
	}
	if dec.More() {
		return badRequest("trailing data after the JSON body")
	}
	return nil
}

// queryLimit parses the optional query parameter `limit`: def when absent, otherwise
// 1..1000 (audit.MaxLimit), and 400 for anything else.
func queryLimit(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > audit.MaxLimit {
		return 0, badRequest("limit must be 1..1000")
	}
	return n, nil
}

// pathID parses the route's {name} wildcard as a UUID.
func pathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		// An ID that cannot exist is reported like one that does not exist.
		return uuid.Nil, storage.ErrNotFound
	}
	return id, nil
}

// requestProject is the project Guard's Project function: the {project} route
// wildcard, else the ?project= query parameter, else none (the tenant-wide right).
func requestProject(r *http.Request) (uuid.UUID, error) {
	v := r.PathValue("project")
	if v == "" {
		v = r.URL.Query().Get("project")
	}
	if v == "" {
		return uuid.Nil, nil
	}
	return uuid.Parse(v)
}

// hstsValue is the Strict-Transport-Security answer: two years, this host and its
// subdomains. Add preload only once the domain is submitted to the browsers' list.
const hstsValue = "max-age=63072000; includeSubDomains"

// securityHeaders sets the headers every answer carries: a strict Content Security
// Policy without inline script, no framing, no referrer (invitation secrets sit in
// URL fragments, and nothing else should leak either), no MIME sniffing, and
// cross-origin isolation of the window and of resources. With hsts, it also sets
// Strict-Transport-Security (hstsValue), so that a browser never again reaches the
// site over plain HTTP, where a network attacker could strip TLS and read the session
// cookie or the sign-in form.
//
// The server decides hsts as it decides Secure cookies (app.secureCookies): on
// everywhere except dev mode on a loopback address, the one setup served over plain
// HTTP. Everywhere else it is served over HTTPS, by a TLS-terminating proxy in front of
// it. (A browser ignores the header on a plain-HTTP answer, RFC 6797 §8.1, so it only
// ever takes effect over TLS; never sending it in loopback dev mode keeps localhost
// out of the browser's HSTS list.)
func securityHeaders(next http.Handler, hsts bool) http.Handler {
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if hsts {
			h.Set("Strict-Transport-Security", hstsValue)
		}
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses state-changing requests (POST, PUT, DELETE, ...) that a browser
// marks as cross-site (Sec-Fetch-Site) or whose Origin is not this host: the CSRF
// protection of net/http. Requests without either header (API clients with a Bearer
// token, curl) pass; they carry no ambient cookie of a victim's browser.
func crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusForbidden, apiError{Error: apiErrorBody{Code: "cross_origin", Message: "cross-origin request refused"}})
	}))
	return cop.Handler(next)
}

// statusWriter remembers the status a handler answered with.
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

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// actionLog records every authenticated API call in the action log (URL, method,
// route, parameters with secrets redacted, outcome), through the batched Writer.
func (a *app) actionLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil && r.ContentLength != 0 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
			if err != nil {
				a.writeError(w, r, badRequest("could not read the body"))
				return
			}
			body = b
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		sw := &statusWriter{ResponseWriter: w}
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		next.ServeHTTP(sw, r)
		s, ok := access.SubjectFrom(r.Context())
		if ok && s.Token != uuid.Nil {
			return // the token middleware logged the call already
		}
		if !ok {
			// A sign-in creates its subject during the request.
			if s, ok = info.subject, info.subject.Valid(); !ok {
				return
			}
		}
		opts := audit.ActionOptions{}
		if len(body) > 0 {
			if vals, err := audit.ParamsFromJSON(body); err == nil {
				opts.Body = vals
			}
		}
		ev := audit.ActionEvent(r, opts)
		ev.Tenant = s.Tenant
		ev.Actor.User, ev.Actor.IP, ev.Actor.Session, ev.Actor.Token = s.User, s.IP, s.Session, s.Token
		if p := info.policy; p != nil {
			if role, ok := p.Role(s.User); ok {
				ev.Actor.Role = role.Name
			}
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		ev.Outcome = audit.ActionOutcome(sw.status)
		if err := a.writer.Enqueue(ev); err != nil {
			a.log.Warn("action log event not queued", "err", err)
		}
	})
}

type requestInfoKey struct{}

// requestInfo carries what the handler learnt back to the action log: the policy the
// request was decided with, and the subject a sign-in created.
type requestInfo struct {
	policy  *access.Policy
	subject access.Subject
}

// noteRequest records the request's policy for its action-log event.
func noteRequest(r *http.Request, p *access.Policy, s access.Subject) {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		if p != nil {
			info.policy = p
		}
		if s.Valid() {
			info.subject = s
		}
	}
}

// guardWriter reshapes the error bodies the SDK's middleware writes ({"error":
// "code"}: access.Guard, token.Service.Middleware) into this API's shape, with the
// message of the code.
type guardWriter struct {
	http.ResponseWriter
	passed bool // the Guard let the request through: write as is
	status int
}

func (w *guardWriter) WriteHeader(code int) {
	if w.passed {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.status = code
}

func (w *guardWriter) Write(b []byte) (int, error) {
	if w.passed {
		return w.ResponseWriter.Write(b)
	}
	var g struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(b, &g)
	msg, ok := messages[g.Error]
	if !ok {
		msg = strings.ReplaceAll(g.Error, "_", " ")
	}
	code := g.Error
	if w.status == http.StatusBadRequest && code == "bad_project" {
		// a malformed ID: the project does not exist
		w.status, code, msg = http.StatusNotFound, "not_found", "not found"
	}
	writeJSON(w.ResponseWriter, w.status, apiError{Error: apiErrorBody{Code: code, Message: msg}})
	return len(b), nil
}

// wrapGuard applies a Guard's Require middleware with the API's error shape.
func wrapGuard(mw func(http.Handler) http.Handler, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gw := &guardWriter{ResponseWriter: w}
		inner := http.HandlerFunc(func(_ http.ResponseWriter, r2 *http.Request) {
			gw.passed = true
			next.ServeHTTP(w, r2)
		})
		mw(inner).ServeHTTP(gw, r)
	})
}

func smtpAuth(cfg config) smtp.Auth {
	host := cfg.SMTPAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return smtp.PlainAuth("", cfg.SMTPUser, cfg.SMTPPassword, host)
}

func isNotFound(err error) bool     { return errors.Is(err, storage.ErrNotFound) }
func isIPNotAllowed(err error) bool { return errors.Is(err, authn.ErrIPNotAllowed) }
