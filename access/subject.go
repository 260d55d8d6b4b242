package access

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/google/uuid"
)

// Subject is the authenticated caller of a request, put in the request context by the
// authn (session) or token (API token) middleware with [WithSubject].
//
// A Subject names who is calling, not what they may do: every decision looks the user's
// current role and projects up in the tenant's current [Policy], so a role change, a
// removed membership or a narrowed right applies on the next check, never on the next
// login.
type Subject struct {
	Tenant  uuid.UUID
	User    uuid.UUID
	Session uuid.UUID // the session ID (not the secret cookie value) when cookie-authenticated
	Token   uuid.UUID // the API token ID (not the secret) when token-authenticated
	// IP is the client address resolved by [ClientIP]; UserAgent is as sent. Both are
	// for audit events; decisions about addresses use [Policy.AllowsIP].
	IP        netip.Addr
	UserAgent string

	system bool // see System
}

// Valid reports whether the subject names a tenant and a user.
func (s Subject) Valid() bool { return s.Tenant != uuid.Nil && s.User != uuid.Nil }

// LogValue logs the subject's IDs and address; it holds no secrets.
func (s Subject) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("tenant", s.Tenant.String()),
		slog.String("user", s.User.String()),
	}
	if s.Session != uuid.Nil {
		attrs = append(attrs, slog.String("session", s.Session.String()))
	}
	if s.Token != uuid.Nil {
		attrs = append(attrs, slog.String("token", s.Token.String()))
	}
	if s.IP.IsValid() {
		attrs = append(attrs, slog.String("ip", s.IP.String()))
	}
	return slog.GroupValue(attrs...)
}

type subjectKey struct{}

// WithSubject returns a context carrying s.
func WithSubject(ctx context.Context, s Subject) context.Context {
	return context.WithValue(ctx, subjectKey{}, s)
}

// SubjectFrom returns the subject in ctx; ok is false when there is none or it is not
// [Subject.Valid].
func SubjectFrom(ctx context.Context) (s Subject, ok bool) {
	switch v := ctx.Value(subjectKey{}).(type) {
	case Subject:
		s, ok = v, true
	case *Subject: // from a RequestValues node
		if v != nil {
			s, ok = *v, true
		}
	}
	return s, ok && s.Valid()
}
