package access

import (
	"context"
	"errors"
	"net/http"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// EventRecorder stores audit events; *audit.Recorder implements it.
type EventRecorder interface {
	Record(ctx context.Context, e audit.Event) error
}

// Guard builds the authorization middleware. Engine is required; the other fields are
// optional.
type Guard struct {
	// Engine serves the tenants' current policies.
	Engine *Engine
	// Audit records every denial (kind "access", action "access.denied"). If nil,
	// denials are not recorded.
	Audit EventRecorder
	// Project returns the project a request is about. If nil, or for routes without a
	// project, it returns uuid.Nil and the tenant-wide right is checked. A returned
	// error is answered 400 and nothing else runs.
	Project func(*http.Request) (uuid.UUID, error)
}

type policyKey struct{}

// WithPolicy returns a context carrying the policy the request is decided with, so that
// several checks in one request use one snapshot and one freshness read.
func WithPolicy(ctx context.Context, p *Policy) context.Context {
	return context.WithValue(ctx, policyKey{}, p)
}

// PolicyFrom returns the policy in ctx, or nil.
func PolicyFrom(ctx context.Context) *Policy {
	p, _ := ctx.Value(policyKey{}).(*Policy)
	return p
}

// policyFor returns the request's policy for tenant: the one in the context if it is the
// tenant's, else the engine's current one.
func (g *Guard) policyFor(ctx context.Context, tenant uuid.UUID) (*Policy, error) {
	if p := PolicyFrom(ctx); p != nil && p.Tenant() == tenant {
		return p, nil
	}
	return g.Engine.Policy(ctx, tenant)
}

// Require returns middleware that lets a request through only if its subject holds
// right r in the request's project (see [Guard.Project] and [Policy.Check]), from an
// address the tenant allows ([Policy.AllowsIP]).
//
// Answers, all with a JSON body {"error": "..."}: no subject in the context is 401
// "unauthenticated"; a project that cannot be read from the request is 400
// "bad_project"; a policy that cannot be loaded is 503 "unavailable" (fail closed); a
// denied right or address is 403 "forbidden", recorded as an audit event. The allowed
// request continues with the policy in its context ([PolicyFrom]).
func (g *Guard) Require(r Right) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			ctx := req.Context()
			s, ok := SubjectFrom(ctx)
			if !ok {
				WriteError(w, http.StatusUnauthorized, "unauthenticated")
				return
			}
			project := uuid.Nil
			if g.Project != nil {
				var err error
				if project, err = g.Project(req); err != nil {
					WriteError(w, http.StatusBadRequest, "bad_project")
					return
				}
			}
			p, err := g.policyFor(ctx, s.Tenant)
			if err != nil {
				WriteError(w, http.StatusServiceUnavailable, "unavailable")
				return
			}
			reason := ""
			switch {
			case p.disabled(s.User):
				reason = "account_disabled"
			case !p.AllowsIP(s, s.IP):
				reason = "ip_not_allowed"
			case !p.Check(s, r, project):
				reason = "missing_right"
			}
			if reason != "" {
				g.recordDenial(ctx, p, s, r, project, reason, req)
				WriteError(w, http.StatusForbidden, "forbidden")
				return
			}
			next.ServeHTTP(w, req.WithContext(WithPolicy(ctx, p)))
		})
	}
}

func (g *Guard) recordDenial(ctx context.Context, p *Policy, s Subject, r Right, project uuid.UUID, reason string, req *http.Request) {
	if g.Audit == nil {
		return
	}
	role := ""
	if ro, ok := p.Role(s.User); ok {
		role = ro.Name
	}
	ev := audit.Event{
		Tenant:  s.Tenant,
		Kind:    audit.KindAccess,
		Action:  "access.denied",
		Actor:   audit.Actor{User: s.User, Role: role, IP: s.IP, UserAgent: s.UserAgent, Session: s.Session, Token: s.Token},
		Project: project,
		Outcome: audit.Denied,
		Reason:  reason,
		// The path as the action log records it: a secret in a path segment
		// ("/tokens/{token}/revoke") is redacted.
		Details: map[string]string{"right": r.String(), "method": req.Method, "path": audit.RequestPath(req)},
	}
	// The request is denied whether or not the event could be stored; a storage
	// failure here must not turn a denial into anything else.
	_ = g.Audit.Record(context.WithoutCancel(ctx), ev)
}

// WriteError writes a JSON error body {"error": code} with the status. code must be a
// fixed machine-readable string, never user input.
func WriteError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"` + code + `"}` + "\n"))
}

// ErrorCode returns the code WriteError would write for err's kind, for hosts that
// answer errors of [Service] methods themselves.
func ErrorCode(err error) (status int, code string) {
	switch {
	case err == nil:
		return http.StatusOK, ""
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrLastAdmin), errors.Is(err, ErrBuiltinRole):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, ErrInvalidName), errors.Is(err, ErrInvalidPrefix), errors.Is(err, ErrUnknownRight):
		return http.StatusBadRequest, "invalid"
	case errors.Is(err, ErrRoleInUse):
		return http.StatusConflict, "role_in_use"
	case errors.Is(err, storage.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, storage.ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, storage.ErrStale):
		return http.StatusConflict, "stale"
	}
	return http.StatusInternalServerError, "internal"
}
