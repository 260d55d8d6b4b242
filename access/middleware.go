package access

import (
	"context"
	"net/http"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// EventRecorder stores audit events; *audit.Recorder implements it.
type EventRecorder interface {
	Record(ctx context.Context, e audit.Event) error
}

// EventQueue queues audit events for batched storing; *audit.Writer implements it.
type EventQueue interface {
	Enqueue(e audit.Event) error
}

// Guard builds the authorization middleware. Engine is required; the other fields are
// optional.
type Guard struct {
	// Engine serves the tenants' current policies.
	Engine *Engine
	// Denials queues every denial (kind "access", action "access.denied") for a
	// batched writer, normally an *audit.Writer: the request is answered without
	// waiting on the tenant's audit chain, so a caller flooding denied requests costs
	// one batched append per few hundred denials instead of one transaction each, and
	// cannot serialise sign-ins and changes behind them. Every denial is still
	// recorded (ASVS 16.3.2) unless the Writer refuses it: its queue stayed full for
	// its MaxBlock (set MaxBlock negative so that a denial never waits), counted in
	// its Stats.Refused. Denials takes precedence over Audit.
	Denials EventQueue
	// Audit records every denial synchronously, one store append per denial, when
	// Denials is nil. If both are nil, denials are not recorded.
	Audit EventRecorder
	// Project returns the project a request is about (from its path, query or the
	// record it names). A returned error is answered 400 and nothing else runs.
	//
	// If Project is nil, or returns uuid.Nil, the request is about no project in
	// particular, and a project-scoped right ([RightInfo.ProjectScoped]: recordings,
	// masked fields, reports, ...) passes only for a subject who holds it in every
	// project ([Policy.CheckIn]): a supervisor of Sales cannot open
	// /recordings/{id} of Support through a route that does not name the project.
	// Routes serving a project's data should therefore always set Project; a
	// tenant-wide right (UserManagement, ManageCompany, ...) is decided on the tenant
	// role either way.
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
// right r in the request's project (see [Guard.Project] and [Policy.CheckIn]: without a
// project, a project-scoped right is needed in every project), from an address the
// tenant allows ([Policy.AllowsIP]).
//
// Answers, all with a JSON body {"error": "..."}: no subject in the context is 401
// "unauthenticated"; a project that cannot be read from the request is 400
// "bad_project"; a policy that cannot be loaded is 503 "unavailable" (fail closed); a
// denied right or address is 403 "forbidden", recorded as an audit event. The allowed
// request continues with the policy in its context ([PolicyFrom]).
func (g *Guard) Require(r Right) func(http.Handler) http.Handler {
	return g.require(r, (*Policy).CheckIn, g.Project)
}

// RequireTenant is [Guard.Require] for a tenant-level operation decided on the
// subject's tenant role alone ([Policy.Check] with the zero project), whatever right it
// needs: creating a project (ManageProjects), a page listing what the subject may open.
// Guard.Project is not consulted. Never guard a route serving a project's data with it:
// a supervisor of Sales holds ListenRecordings in their tenant role.
func (g *Guard) RequireTenant(r Right) func(http.Handler) http.Handler {
	return g.require(r, (*Policy).Check, nil)
}

func (g *Guard) require(r Right, check func(*Policy, Subject, Right, uuid.UUID) bool,
	projectOf func(*http.Request) (uuid.UUID, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			ctx := req.Context()
			s, ok := SubjectFrom(ctx)
			if !ok {
				WriteErrorFor(w, ErrNoSubject)
				return
			}
			project := uuid.Nil
			if projectOf != nil {
				var err error
				if project, err = projectOf(req); err != nil {
					WriteErrorFor(w, ErrBadProject)
					return
				}
			}
			p, err := g.policyFor(ctx, s.Tenant)
			if err != nil {
				WriteErrorFor(w, ErrUnavailable)
				return
			}
			reason := ""
			switch {
			case p.disabled(s.User):
				reason = "account_disabled"
			case !p.AllowsIP(s, s.IP):
				reason = "ip_not_allowed"
			case !check(p, s, r, project):
				reason = "missing_right"
			}
			if reason != "" {
				g.recordDenial(ctx, p, s, r, project, reason, req)
				WriteErrorFor(w, ErrForbidden)
				return
			}
			next.ServeHTTP(w, req.WithContext(WithPolicy(ctx, p)))
		})
	}
}

func (g *Guard) recordDenial(ctx context.Context, p *Policy, s Subject, r Right, project uuid.UUID, reason string, req *http.Request) {
	if g.Audit == nil && g.Denials == nil {
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
	if g.Denials != nil {
		_ = g.Denials.Enqueue(ev) // a refusal is counted in the Writer's Stats.Refused
		return
	}
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
