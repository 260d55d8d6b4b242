package authn

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Factor names a sign-in factor; it is recorded in the login log ("factor" detail) and
// on the session.
type Factor string

// Sign-in factors.
const (
	FactorPassword     Factor = "password"
	FactorTOTP         Factor = "totp"
	FactorRecoveryCode Factor = "recovery_code"
	FactorIdentity     Factor = "identity" // a linked OIDC / OAuth identity
)

// valid reports whether f is one of the factors.
func (f Factor) valid() bool {
	switch f {
	case FactorPassword, FactorTOTP, FactorRecoveryCode, FactorIdentity:
		return true
	}
	return false
}

// secondFactor reports whether f is a second factor (it completes a pending sign-in).
func (f Factor) second() bool { return f == FactorTOTP || f == FactorRecoveryCode }

// SessionKind says which interface a session works in, as the "Active sessions" report
// shows them.
type SessionKind string

// Session kinds.
const (
	// SessionAdmin: the administrative interface.
	SessionAdmin SessionKind = "admin"
	// SessionWorkplace: the agent workplace, with the agent's status, queue and call
	// ([WorkplaceState]).
	SessionWorkplace SessionKind = "workplace"
)

func (k SessionKind) valid() bool { return k == SessionAdmin || k == SessionWorkplace }

// WorkplaceState is what the host reports of an agent's workplace session
// ([Service.UpdateWorkplace]). The zero value is an agent with nothing reported yet.
type WorkplaceState struct {
	// Status is the agent's status as the host names it ("ready", "break", "on call").
	Status string
	// StatusSince is when the agent entered Status.
	StatusSince time.Time
	// Queue is the queue or dialer the agent works in.
	Queue string
	// CallID is the current call's ID, "" when none.
	CallID string
}

// Session is a signed-in browser. It holds no secret: the cookie's value is a
// [SessionToken], of which only the SHA-256 ([Session.SecretHash]) is stored.
type Session struct {
	ID     uuid.UUID
	Tenant uuid.UUID
	User   uuid.UUID
	Kind   SessionKind
	// CreatedAt is when the user signed in.
	CreatedAt time.Time
	// AuthAt is the last time the user proved a factor (sign-in or
	// [Service.Reauthenticate]).
	AuthAt time.Time
	// LastSeen is the last recorded request; it is written at most once per
	// [MiddlewareOptions.TouchInterval], so it lags the real last request by less.
	LastSeen time.Time
	// ExpiresAt is the absolute deadline; rotation never extends it.
	ExpiresAt time.Time
	// Factors are the factors proved at sign-in, in order.
	Factors []Factor
	// Restricted sessions may only enrol a second factor: the tenant requires one and
	// the user has none yet.
	Restricted bool
	IP         netip.Addr
	UserAgent  string
	// LastURL is the path of the last recorded request (query strings are not kept).
	LastURL   string
	Workplace WorkplaceState
	// Privilege is the fingerprint of the user's role assignments when the secret
	// was issued ([access.Policy.Privilege]): when a request finds it changed, the
	// session gets a new secret (see [Validated.NewToken]).
	Privilege uint64
	// PrivilegeVersion is the tenant's policy version Privilege was computed at. Only a
	// policy of a later version rotates the session, so that an instance whose policy
	// lags (the change listener's lag, or EngineOptions.MaxStaleness) never rotates it
	// back to an older fingerprint.
	PrivilegeVersion int64
	// SecretHash is the SHA-256 of the session's secret, the key it is found by. It is
	// not a secret itself (the secret cannot be computed from it), but it is kept out of
	// JSON and slog output all the same.
	SecretHash [32]byte `json:"-"`
}

// LogValue logs the session's IDs, kind and times; never its secret hash.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", s.ID.String()), slog.String("tenant", s.Tenant.String()),
		slog.String("user", s.User.String()), slog.String("kind", string(s.Kind)),
		slog.Time("created_at", s.CreatedAt), slog.Time("expires_at", s.ExpiresAt))
}

// clone returns a copy of s that shares no memory with it.
func (s Session) clone() Session {
	s.Factors = slices.Clone(s.Factors)
	return s
}

// hasFactor reports whether f was proved at sign-in.
func (s Session) hasFactor(f Factor) bool {
	for _, x := range s.Factors {
		if x == f {
			return true
		}
	}
	return false
}

// SessionSettings are a tenant's session and throttling rules. The zero value of every
// field means its default.
type SessionSettings struct {
	Tenant uuid.UUID
	// IdleTimeout ends a session after this long without a request (ASVS 7.3.1).
	// Default 30 minutes; 1 minute to 24 hours. The idle clock is LastSeen, written at
	// most once per touch interval, so a session may live up to one interval longer.
	IdleTimeout time.Duration
	// Lifetime is a session's absolute lifetime from sign-in (ASVS 7.3.2). Default 12
	// hours; 5 minutes to 30 days, and not below IdleTimeout.
	Lifetime time.Duration
	// MaxPerUser limits the concurrent sessions of one user; 0 (the default) is no
	// limit, else 1 to 100. Over the limit the oldest sessions are ended, or with
	// RefuseOverLimit the new sign-in is refused ([ErrSessionLimit]).
	MaxPerUser      int
	RefuseOverLimit bool
	// LockThreshold is the number of consecutive failed attempts of one factor kind
	// after which the account is locked. Default 10; 3 to 100 (NIST SP 800-63B §3.2.2
	// allows at most 100). One address alone locks only its own attempts on the
	// account, after max(2, LockThreshold/2) failures (see throttle.go).
	LockThreshold int
	// LockDuration is how long a lock lasts before it lifts by itself. Default 15
	// minutes; 1 minute to 24 hours.
	LockDuration time.Duration
	UpdatedAt    time.Time
	// Version is the optimistic-concurrency version (0: never stored).
	Version int64
}

// Session defaults.
const (
	DefaultIdleTimeout   = 30 * time.Minute
	DefaultLifetime      = 12 * time.Hour
	DefaultLockThreshold = 10
	DefaultLockDuration  = 15 * time.Minute
	// MaxLockThreshold is NIST SP 800-63B's bound on consecutive failures.
	MaxLockThreshold = 100
)

func (s SessionSettings) withDefaults() SessionSettings {
	if s.IdleTimeout == 0 {
		s.IdleTimeout = DefaultIdleTimeout
	}
	if s.Lifetime == 0 {
		s.Lifetime = DefaultLifetime
	}
	if s.LockThreshold == 0 {
		s.LockThreshold = DefaultLockThreshold
	}
	if s.LockDuration == 0 {
		s.LockDuration = DefaultLockDuration
	}
	return s
}

func (s SessionSettings) validate() error {
	switch {
	case s.IdleTimeout < time.Minute || s.IdleTimeout > 24*time.Hour:
		return fmt.Errorf("%w: idle timeout must be 1 minute to 24 hours", ErrInvalidSettings)
	case s.Lifetime < 5*time.Minute || s.Lifetime > 30*24*time.Hour:
		return fmt.Errorf("%w: session lifetime must be 5 minutes to 30 days", ErrInvalidSettings)
	case s.Lifetime < s.IdleTimeout:
		return fmt.Errorf("%w: session lifetime must not be below the idle timeout", ErrInvalidSettings)
	case s.MaxPerUser < 0 || s.MaxPerUser > 100:
		return fmt.Errorf("%w: session limit must be 0 (none) to 100", ErrInvalidSettings)
	case s.LockThreshold < 3 || s.LockThreshold > MaxLockThreshold:
		return fmt.Errorf("%w: lock threshold must be 3 to %d", ErrInvalidSettings, MaxLockThreshold)
	case s.LockDuration < time.Minute || s.LockDuration > 24*time.Hour:
		return fmt.Errorf("%w: lock duration must be 1 minute to 24 hours", ErrInvalidSettings)
	}
	return nil
}

// SessionRecord is what the per-request lookup of a session reads in one indexed
// read: the session, and what every request checks against it.
type SessionRecord struct {
	Session Session
	// UserStatus is the user's current status ([User.CanSignIn] is checked on every
	// request). It is exact as of the read: a status change and the lookup are never
	// out of step (the SQL adapter keeps a copy in the session row, written by the
	// transaction that changes the status).
	UserStatus Status
	// IdleTimeout is the tenant's stored idle timeout (0: the default), exact as of the
	// read like UserStatus.
	IdleTimeout time.Duration
	// PolicyVersion, when not 0, is the tenant's policy version read with the session:
	// the compiled policy in the process cache is then known to be current without
	// another read ([access.Engine.PolicyAt]). A store that does not read it with the
	// session (the SQL adapter, to keep the lookup to one table) leaves it 0, and the
	// engine's own freshness rule applies ([access.Engine.Policy]: no read while a
	// change listener is healthy, otherwise one version read).
	PolicyVersion int64
}

// PendingSignIn is a sign-in that still owes a step (a second factor). It is bound to
// its tenant, user, client address and first factor, lives a few minutes
// ([PendingSignInTTL]), allows a bounded number of failed attempts
// ([MaxPendingAttempts]) and is consumed by the session it becomes. Its secret is a
// [SessionToken]; only the SHA-256 is stored.
type PendingSignIn struct {
	ID     uuid.UUID
	Tenant uuid.UUID
	User   uuid.UUID
	// Factor is the first factor that was proved.
	Factor    Factor
	Kind      SessionKind
	IP        netip.Addr
	UserAgent string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Attempts counts failed second-factor attempts.
	Attempts   int
	SecretHash [32]byte `json:"-"`
}

// Open reports whether the pending sign-in can still be completed at now.
func (p PendingSignIn) Open(now time.Time) bool {
	return now.Before(p.ExpiresAt) && p.Attempts < MaxPendingAttempts
}

// Pending sign-in bounds.
const (
	PendingSignInTTL   = 5 * time.Minute
	MaxPendingAttempts = 5
)

// Session errors.
var (
	// ErrSessionInvalid: no valid session for this secret (unknown, ended, expired,
	// idle, the user may no longer sign in, or the address is not allowed).
	// Deliberately uninformative; the reason is in the session event.
	ErrSessionInvalid = errors.New("authn: session invalid or expired")
	// ErrPendingInvalid: the pending sign-in is unknown, completed, expired, used up
	// its attempts, or comes from another address. The user signs in again.
	ErrPendingInvalid = errors.New("authn: sign-in expired; sign in again")
	// ErrSessionLimit: the user has as many sessions as the tenant allows
	// (SessionSettings.RefuseOverLimit).
	ErrSessionLimit = errors.New("authn: too many sessions; end one first")
	// ErrReauthRequired: the operation needs a recent proof of a factor.
	ErrReauthRequired = errors.New("authn: re-authentication required")
	// ErrRestrictedSession: the session may only enrol a second factor.
	ErrRestrictedSession = errors.New("authn: two-factor enrolment required")
)

// SessionToken is a session's (or pending sign-in's) secret, shown to the client once
// (the cookie). It redacts itself in every printed, logged or marshalled form;
// [SessionToken.Reveal] returns the raw value for the cookie.
//
// Format: a prefix ("cssn_" for sessions, "cspsi_" for pending sign-ins), then
// base64url (no padding) of the 16-byte tenant ID followed by 32 random bytes (256 bits
// from crypto/rand). Only the SHA-256 of the random part is stored.
type SessionToken struct{ s string }

const (
	sessionPrefix = "cssn_"
	pendingPrefix = "cspsi_"
)

func newSessionToken(rand io.Reader, prefix string, tenant uuid.UUID) (SessionToken, [32]byte, error) {
	s, hash, err := newToken(rand, prefix, tenant)
	return SessionToken{s}, hash, err
}

// parseSessionToken reads a secret with the prefix and returns its tenant and hash.
func parseSessionToken(prefix, s string) (tenant uuid.UUID, hash [32]byte, ok bool) {
	var raw [16 + tokenSecretLen]byte
	if !strings.HasPrefix(s, prefix) || len(s)-len(prefix) != base64.RawURLEncoding.EncodedLen(len(raw)) {
		return uuid.Nil, hash, false
	}
	n, err := base64.RawURLEncoding.Decode(raw[:], []byte(s[len(prefix):]))
	if err != nil || n != len(raw) {
		return uuid.Nil, hash, false
	}
	copy(tenant[:], raw[:16])
	if tenant == uuid.Nil {
		return uuid.Nil, hash, false
	}
	return tenant, sha256.Sum256(raw[16:]), true
}

// Reveal returns the secret, for the cookie. Never log it.
func (t SessionToken) Reveal() string { return t.s }

// IsZero reports whether the token is empty.
func (t SessionToken) IsZero() bool { return t.s == "" }

// String redacts the token.
func (t SessionToken) String() string { return redacted }

// GoString redacts the token.
func (t SessionToken) GoString() string { return redacted }

// LogValue redacts the token in slog output.
func (t SessionToken) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the token.
func (t SessionToken) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText redacts the token.
func (t SessionToken) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Format redacts the token for every fmt verb.
func (t SessionToken) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }
