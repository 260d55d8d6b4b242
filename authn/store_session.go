package authn

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// SessionStore keeps sessions, pending sign-ins and the tenants' session settings. It
// is part of [Store], implemented over the same database (a session's lookup reads its
// user's status and the tenant's idle timeout in the same read).
//
// Rules every implementation follows, besides those of [Store]:
//   - Sessions and pending sign-ins are found by the SHA-256 of their secret within a
//     tenant; the secret itself is never given to the store.
//   - Ending a session deletes it: an ended session's secret is unknown at once. The
//     session event (who ended it, why) is appended in the same unit of work.
//   - Pending sign-ins are consumed with a conditional write: of racing completions,
//     at most one creates a session.
type SessionStore interface {
	ThrottleStore // failure counters (throttle_store.go)

	// SessionSettings returns the tenant's stored session settings, or
	// storage.ErrNotFound if none were stored (the defaults apply).
	SessionSettings(ctx context.Context, tenant uuid.UUID) (SessionSettings, error)
	// SetSessionSettings stores st; st.Version must be the stored version (0 when none
	// is stored) or it fails with storage.ErrStale. The stored version becomes
	// st.Version+1. When st.Lifetime > 0, every session of the tenant whose ExpiresAt
	// is after its CreatedAt + st.Lifetime gets that as its ExpiresAt, in the same unit
	// of work (a shorter lifetime applies to live sessions; none is extended). An
	// unknown tenant is storage.ErrNotFound.
	SetSessionSettings(ctx context.Context, st SessionSettings, ev audit.Event) error

	// CreateSession stores a new session and appends evs, all or nothing (see
	// [SessionStart] for the pending sign-in it consumes and the session limit). The
	// session's user must exist in its tenant (storage.ErrNotFound otherwise); a
	// session ID or secret hash already stored is storage.ErrConflict. It returns the
	// IDs of the sessions it ended to stay within the limit.
	CreateSession(ctx context.Context, st SessionStart, evs []audit.Event) (ended []uuid.UUID, err error)
	// SessionBySecret returns the session with this secret hash together with its
	// user's status and the tenant's stored idle timeout, both exact as of the read,
	// and optionally the tenant's policy version (see [SessionRecord]), in one indexed
	// read: the lookup every authenticated request makes. storage.ErrNotFound if there
	// is none (ended sessions included). Expiry is the caller's to judge.
	SessionBySecret(ctx context.Context, tenant uuid.UUID, secretHash [32]byte) (SessionRecord, error)
	// Session returns a session by ID.
	Session(ctx context.Context, tenant, id uuid.UUID) (Session, error)
	// Sessions returns the tenant's sessions (of one user unless user is uuid.Nil),
	// newest first. Expired sessions not yet removed are included: judge them.
	Sessions(ctx context.Context, tenant, user uuid.UUID) ([]Session, error)

	// TouchSession records a request (LastSeen = seen, address, user agent, last URL)
	// if, and only if, the stored LastSeen is before `before`: of several instances
	// touching one session, one writes per interval. It reports whether it wrote. A
	// missing session is (false, nil). No audit event: it is telemetry.
	TouchSession(ctx context.Context, tenant, id uuid.UUID, seen, before time.Time, t SessionTouch) (bool, error)
	// RotateSession replaces the session's secret hash oldHash by newHash and sets
	// AuthAt, Factors and Restricted, if and only if the stored hash is still oldHash
	// (storage.ErrStale otherwise, storage.ErrNotFound for a missing session), and
	// appends ev. ExpiresAt and CreatedAt are kept.
	RotateSession(ctx context.Context, tenant, id uuid.UUID, oldHash, newHash [32]byte, r SessionRotation, ev audit.Event) error
	// SetSessionAuth sets the session's AuthAt (a re-authentication) and appends ev.
	SetSessionAuth(ctx context.Context, tenant, id uuid.UUID, authAt time.Time, ev audit.Event) error
	// UpdateWorkplace sets the workplace state of a workplace session
	// (storage.ErrNotFound for a missing session or one of another kind). No audit
	// event: agent status changes are frequent telemetry, not security changes.
	UpdateWorkplace(ctx context.Context, tenant, id uuid.UUID, w WorkplaceState) error
	// EndSessions ends (deletes) the sessions sel selects and appends ev, even when
	// none matched; it returns how many it ended. An unknown tenant is
	// storage.ErrNotFound.
	EndSessions(ctx context.Context, tenant uuid.UUID, sel SessionSelector, ev audit.Event) (int, error)
	// ExpiredSessions returns up to limit sessions, of any tenant, whose ExpiresAt is
	// not after now, oldest deadline first: the cleanup job's one cross-tenant read.
	ExpiredSessions(ctx context.Context, now time.Time, limit int) ([]SessionRef, error)

	// CreatePending stores a pending sign-in and appends ev. The user must exist
	// (storage.ErrNotFound); a duplicate ID or hash is storage.ErrConflict.
	CreatePending(ctx context.Context, p PendingSignIn, ev audit.Event) error
	// PendingBySecret returns the pending sign-in with this secret hash, open or not
	// (storage.ErrNotFound if there is none).
	PendingBySecret(ctx context.Context, tenant uuid.UUID, secretHash [32]byte) (PendingSignIn, error)
	// FailPending counts one failed attempt of the pending sign-in if it is open at now
	// (PendingSignIn.Open), atomically, appends ev, and returns the attempts counted so
	// far. A pending sign-in that is not open is ErrPendingInvalid, and nothing is
	// appended.
	FailPending(ctx context.Context, tenant uuid.UUID, secretHash [32]byte, now time.Time, ev audit.Event) (int, error)
	// DeleteExpiredPending removes pending sign-ins, of any tenant, whose ExpiresAt is
	// not after now, and returns how many.
	DeleteExpiredPending(ctx context.Context, now time.Time) (int, error)
}

// SessionStart is a session to create.
type SessionStart struct {
	Session Session
	// Pending, if not zero, is the secret hash of the pending sign-in the session
	// completes: it is consumed in the same unit of work, and if it is not open at
	// Session.CreatedAt (PendingSignIn.Open) or belongs to another user, nothing is
	// stored and the error is ErrPendingInvalid.
	Pending [32]byte
	// MaxPerUser > 0 bounds the user's sessions whose ExpiresAt is after
	// Session.CreatedAt, the new one included: with RefuseOverLimit a sign-in over it is
	// ErrSessionLimit and nothing is stored; otherwise the oldest (by CreatedAt) are
	// ended, and for each one the event [SessionStart.LimitEventFor] makes of
	// LimitEvent is appended after evs, in the same unit of work.
	MaxPerUser      int
	RefuseOverLimit bool
	// LimitEvent is the template of the "session.end" events of the sessions the
	// limit ends (checked, like evs, before anything is stored).
	LimitEvent audit.Event
}

// LimitEventFor is the event a store appends for the session the limit ends: a copy
// of LimitEvent with a new ID and the ended session as its Target (keeping the
// template Target's Name, the user's e-mail). Stores call it under their unit of work,
// once per ended session.
func (st SessionStart) LimitEventFor(session uuid.UUID) (audit.Event, error) {
	ev := st.LimitEvent
	id, err := uuid.NewV7()
	if err != nil {
		return audit.Event{}, fmt.Errorf("authn: event id: %w", err)
	}
	ev.ID = id
	ev.Target = audit.Target{Type: "session", ID: session.String(), Name: st.LimitEvent.Target.Name}
	if ev.Details != nil {
		ev.Details = maps.Clone(ev.Details)
	}
	return ev, nil
}

// SessionTouch is what a request records on its session.
type SessionTouch struct {
	IP        string
	UserAgent string
	URL       string
}

// SessionRotation is the state a rotation sets.
type SessionRotation struct {
	AuthAt     time.Time
	Factors    []Factor
	Restricted bool
	// Privilege is the user's assignment fingerprint the new secret is issued under,
	// computed at policy version PrivilegeVersion.
	Privilege        uint64
	PrivilegeVersion int64
}

// SessionSelector picks sessions to end: one session (ID), all of a user's (User,
// except Except), or all of the tenant's (All, except Except). Exactly one of ID, User
// and All is set.
type SessionSelector struct {
	ID     uuid.UUID
	User   uuid.UUID
	All    bool
	Except uuid.UUID
}

// SessionRef names a session of a tenant.
type SessionRef struct {
	Tenant  uuid.UUID
	Session uuid.UUID
	User    uuid.UUID
}
