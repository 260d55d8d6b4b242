package memory

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// The authn.SessionStore methods. Sessions live under the store's one lock like every
// other state, so that the lookup reads the session, its user's status and the
// tenant's policy version at one instant, and every mutation is one unit of work.

// sessionState holds every tenant's sessions, pending sign-ins and session settings.
// Its maps are made on first use.
type sessionState struct {
	sessions map[tenantID]*authn.Session
	byHash   map[tenantHash]uuid.UUID
	pending  map[tenantHash]*authn.PendingSignIn
	settings map[uuid.UUID]authn.SessionSettings
	// throttle holds the throttle's failure counters (throttle.go).
	throttle map[tenantKey]*authn.ThrottleState
}

type tenantKey struct {
	tenant uuid.UUID
	key    string
}

type tenantID struct{ tenant, id uuid.UUID }

type tenantHash struct {
	tenant uuid.UUID
	hash   [32]byte
}

func (ss *sessionState) init() {
	if ss.sessions == nil {
		ss.sessions = make(map[tenantID]*authn.Session)
		ss.byHash = make(map[tenantHash]uuid.UUID)
		ss.pending = make(map[tenantHash]*authn.PendingSignIn)
		ss.settings = make(map[uuid.UUID]authn.SessionSettings)
		ss.throttle = make(map[tenantKey]*authn.ThrottleState)
	}
}

func cloneSession(s authn.Session) authn.Session {
	s.Factors = slices.Clone(s.Factors)
	return s
}

// sessionWork runs one session mutation of tenant under the write lock: apply checks
// every rule before it changes anything and returns the events to append (a subset
// of evs, all of which were checked first).
func (s *Store) sessionWork(ctx context.Context, tenant uuid.UUID, evs []audit.Event,
	apply func(ts *tenantState, ss *sessionState) (appendN int, err error)) error {
	return s.sessionWorkThen(ctx, tenant, evs, func(ts *tenantState, ss *sessionState) (int, []audit.Event, error) {
		n, err := apply(ts, ss)
		return n, nil, err
	})
}

// sessionWorkThen is sessionWork whose apply may also return events it made under
// the lock (checked like evs), appended after evs[:appendN].
func (s *Store) sessionWorkThen(ctx context.Context, tenant uuid.UUID, evs []audit.Event,
	apply func(ts *tenantState, ss *sessionState) (appendN int, then []audit.Event, err error)) error {
	return s.sessionWorkAnnounce(ctx, tenant, evs, true, apply)
}

// quietWork is sessionWork for changes no session watcher needs: of state no session
// lookup reads (pending sign-ins, throttle counters), and touches (telemetry the
// lookup's callers refresh themselves).
func (s *Store) quietWork(ctx context.Context, tenant uuid.UUID, evs []audit.Event,
	apply func(ts *tenantState, ss *sessionState) (appendN int, err error)) error {
	return s.sessionWorkAnnounce(ctx, tenant, evs, false, func(ts *tenantState, ss *sessionState) (int, []audit.Event, error) {
		n, err := apply(ts, ss)
		return n, nil, err
	})
}

// sessionWorkAnnounce is sessionWorkThen that tells the session watchers of the
// change (announce) or not (quietWork).
func (s *Store) sessionWorkAnnounce(ctx context.Context, tenant uuid.UUID, evs []audit.Event, announce bool,
	apply func(ts *tenantState, ss *sessionState) (appendN int, then []audit.Event, err error)) error {
	if err := live(ctx); err != nil {
		return err
	}
	checked := make([]audit.Event, len(evs))
	for i, ev := range evs {
		e, err := eventOf(tenant, ev)
		if err != nil {
			return err
		}
		checked[i] = e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, ok := s.tenants[tenant]
	if !ok {
		return notFound("tenant", tenant)
	}
	if err := s.checkEventIDs(checked...); err != nil {
		return err
	}
	s.sessions.init()
	n, then, err := apply(ts, &s.sessions)
	if err != nil {
		return err
	}
	for _, e := range checked[:n] {
		s.appendLocked(e)
	}
	for _, e := range then {
		s.appendLocked(e)
	}
	if announce {
		s.announceLocked(tenant)
	}
	return nil
}

// WatchSessions registers w to be told of every change of a session lookup's answer
// ([authn.SessionFeed]): after each unit of work that may change a tenant's sessions,
// their users' status, the tenant's policy version or session settings, and before
// the lock is released, w.TenantSessionsChanged(tenant) is called. A touch is not
// announced, nor a change of pending sign-ins or throttle counters (no lookup reads
// them). w must not call back into the store.
func (s *Store) WatchSessions(w authn.SessionWatcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers = append(s.watchers, w)
}

// announceLocked tells the watchers that the tenant's sessions may have changed, and
// drops those that are gone (a Service the host no longer uses, see
// authn.SessionFeed).
func (s *Store) announceLocked(tenant uuid.UUID) {
	s.watchers = slices.DeleteFunc(s.watchers, func(w authn.SessionWatcher) bool {
		g, ok := w.(interface{ Gone() bool })
		return ok && g.Gone()
	})
	for _, w := range s.watchers {
		w.TenantSessionsChanged(tenant)
	}
}

// SessionSettings returns the tenant's stored session settings.
func (s *Store) SessionSettings(ctx context.Context, tenant uuid.UUID) (authn.SessionSettings, error) {
	var st authn.SessionSettings
	err := s.read(ctx, tenant, func(*tenantState) error {
		var ok bool
		if st, ok = s.sessions.settings[tenant]; !ok {
			return notFound("session settings of tenant", tenant)
		}
		return nil
	})
	return st, err
}

// SetSessionSettings stores st, conditional on st.Version.
func (s *Store) SetSessionSettings(ctx context.Context, st authn.SessionSettings, ev audit.Event) error {
	return s.sessionWork(ctx, st.Tenant, []audit.Event{ev}, func(_ *tenantState, ss *sessionState) (int, error) {
		cur := ss.settings[st.Tenant].Version
		if st.Version != cur {
			return 0, stale("session settings of tenant", st.Tenant, st.Version)
		}
		for _, d := range []*time.Duration{&st.IdleTimeout, &st.Lifetime, &st.LockDuration} {
			*d = d.Truncate(time.Microsecond)
		}
		st.UpdatedAt, st.Version = utc(st.UpdatedAt), cur+1
		ss.settings[st.Tenant] = st
		if st.Lifetime > 0 {
			for k, x := range ss.sessions {
				if k.tenant == st.Tenant && x.ExpiresAt.After(x.CreatedAt.Add(st.Lifetime)) {
					x.ExpiresAt = x.CreatedAt.Add(st.Lifetime)
				}
			}
		}
		return 1, nil
	})
}

// liveCount returns the user's sessions whose ExpiresAt is after now, oldest first.
func (ss *sessionState) userSessions(tenant, user uuid.UUID, now time.Time) []*authn.Session {
	var out []*authn.Session
	for k, x := range ss.sessions {
		if k.tenant == tenant && x.User == user && x.ExpiresAt.After(now) {
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID.String() < out[j].ID.String()
	})
	return out
}

func (ss *sessionState) remove(tenant uuid.UUID, x *authn.Session) {
	delete(ss.byHash, tenantHash{tenant, x.SecretHash})
	delete(ss.sessions, tenantID{tenant, x.ID})
}

// CreateSession stores a new session (see authn.SessionStore).
func (s *Store) CreateSession(ctx context.Context, st authn.SessionStart, evs []audit.Event) ([]uuid.UUID, error) {
	sess := cloneSession(st.Session)
	tenant := sess.Tenant
	var ended []uuid.UUID
	all := slices.Clone(evs)
	if st.MaxPerUser > 0 && !st.RefuseOverLimit {
		all = append(all, st.LimitEvent) // checked with the others; copies appended per ended session
	}
	err := s.sessionWorkThen(ctx, tenant, all, func(_ *tenantState, ss *sessionState) (int, []audit.Event, error) {
		if _, ok := s.accountsOf(tenant).users[sess.User]; !ok {
			return 0, nil, notFound("user", sess.User)
		}
		if _, dup := ss.sessions[tenantID{tenant, sess.ID}]; dup {
			return 0, nil, fmt.Errorf("memory: session %s: %w", sess.ID, storage.ErrConflict)
		}
		if _, dup := ss.byHash[tenantHash{tenant, sess.SecretHash}]; dup {
			return 0, nil, fmt.Errorf("memory: session secret hash: %w", storage.ErrConflict)
		}
		now := utc(sess.CreatedAt)
		var pk tenantHash
		if st.Pending != ([32]byte{}) {
			pk = tenantHash{tenant, st.Pending}
			p, ok := ss.pending[pk]
			if !ok || !p.Open(now) || p.User != sess.User {
				return 0, nil, authn.ErrPendingInvalid
			}
		}
		var over []*authn.Session
		if st.MaxPerUser > 0 {
			cur := ss.userSessions(tenant, sess.User, now)
			if n := len(cur) + 1 - st.MaxPerUser; n > 0 {
				if st.RefuseOverLimit {
					return 0, nil, authn.ErrSessionLimit
				}
				over = cur[:n]
			}
		}
		// One "session.end" event per session the limit ends, made before anything changes.
		var then []audit.Event
		for _, x := range over {
			e, err := st.LimitEventFor(x.ID)
			if err != nil {
				return 0, nil, err
			}
			if e, err = eventOf(tenant, e); err != nil {
				return 0, nil, err
			}
			then = append(then, e)
		}
		if err := s.checkEventIDs(then...); err != nil {
			return 0, nil, err
		}
		// Every rule holds: change the state.
		if st.Pending != ([32]byte{}) {
			delete(ss.pending, pk)
		}
		for _, x := range over {
			ss.remove(tenant, x)
			ended = append(ended, x.ID)
		}
		sess.CreatedAt, sess.AuthAt, sess.LastSeen, sess.ExpiresAt = now, utc(sess.AuthAt), utc(sess.LastSeen), utc(sess.ExpiresAt)
		sess.Workplace.StatusSince = utcOrZero(sess.Workplace.StatusSince)
		ss.sessions[tenantID{tenant, sess.ID}] = &sess
		ss.byHash[tenantHash{tenant, sess.SecretHash}] = sess.ID
		return len(evs), then, nil
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return utc(t)
}

// SessionBySecret returns the session with this secret hash, its user's status, the
// tenant's policy version and stored session settings.
func (s *Store) SessionBySecret(ctx context.Context, tenant uuid.UUID, secretHash [32]byte) (authn.SessionRecord, error) {
	var rec authn.SessionRecord
	err := s.read(ctx, tenant, func(ts *tenantState) error {
		id, ok := s.sessions.byHash[tenantHash{tenant, secretHash}]
		if !ok {
			return fmt.Errorf("memory: session: %w", storage.ErrNotFound)
		}
		x := s.sessions.sessions[tenantID{tenant, id}]
		// The per-request read shares Factors instead of copying it: every write
		// replaces the slice (never writes into it), and the clip makes an append
		// by the caller copy.
		rec.Session = *x
		rec.Session.Factors = slices.Clip(x.Factors)
		rec.UserStatus = s.accountsOf(tenant).users[x.User].Status
		rec.PolicyVersion = ts.policyVersion
		rec.IdleTimeout = s.sessions.settings[tenant].IdleTimeout
		return nil
	})
	return rec, err
}

// Session returns a session by ID.
func (s *Store) Session(ctx context.Context, tenant, id uuid.UUID) (authn.Session, error) {
	var out authn.Session
	err := s.read(ctx, tenant, func(*tenantState) error {
		x, ok := s.sessions.sessions[tenantID{tenant, id}]
		if !ok {
			return notFound("session", id)
		}
		out = cloneSession(*x)
		return nil
	})
	return out, err
}

// Sessions returns the tenant's sessions (of one user unless user is uuid.Nil), newest
// first.
func (s *Store) Sessions(ctx context.Context, tenant, user uuid.UUID) ([]authn.Session, error) {
	var out []authn.Session
	err := s.read(ctx, tenant, func(*tenantState) error {
		for k, x := range s.sessions.sessions {
			if k.tenant == tenant && (user == uuid.Nil || x.User == user) {
				out = append(out, cloneSession(*x))
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID.String() > out[j].ID.String()
	})
	return out, err
}

// TouchSession records a request on the session if its LastSeen is before `before`.
func (s *Store) TouchSession(ctx context.Context, tenant, id uuid.UUID, seen, before time.Time, t authn.SessionTouch) (bool, error) {
	wrote := false
	err := s.quietWork(ctx, tenant, nil, func(_ *tenantState, ss *sessionState) (int, error) {
		x, ok := ss.sessions[tenantID{tenant, id}]
		if !ok || !x.LastSeen.Before(utc(before)) {
			return 0, nil
		}
		x.LastSeen, x.UserAgent, x.LastURL = utc(seen), t.UserAgent, t.URL
		x.IP = parseAddr(t.IP)
		wrote = true
		return 0, nil
	})
	return wrote, err
}

// RotateSession replaces the session's secret hash, conditional on the old one.
func (s *Store) RotateSession(ctx context.Context, tenant, id uuid.UUID, oldHash, newHash [32]byte, r authn.SessionRotation, ev audit.Event) error {
	return s.sessionWork(ctx, tenant, []audit.Event{ev}, func(_ *tenantState, ss *sessionState) (int, error) {
		x, ok := ss.sessions[tenantID{tenant, id}]
		if !ok {
			return 0, notFound("session", id)
		}
		if x.SecretHash != oldHash {
			return 0, fmt.Errorf("memory: session %s secret: %w", id, storage.ErrStale)
		}
		if _, dup := ss.byHash[tenantHash{tenant, newHash}]; dup {
			return 0, fmt.Errorf("memory: session secret hash: %w", storage.ErrConflict)
		}
		delete(ss.byHash, tenantHash{tenant, oldHash})
		ss.byHash[tenantHash{tenant, newHash}] = id
		x.SecretHash, x.AuthAt, x.Factors, x.Restricted = newHash, utc(r.AuthAt), slices.Clone(r.Factors), r.Restricted
		x.Privilege, x.PrivilegeVersion = r.Privilege, r.PrivilegeVersion
		return 1, nil
	})
}

// SetSessionAuth sets the session's AuthAt.
func (s *Store) SetSessionAuth(ctx context.Context, tenant, id uuid.UUID, authAt time.Time, ev audit.Event) error {
	return s.sessionWork(ctx, tenant, []audit.Event{ev}, func(_ *tenantState, ss *sessionState) (int, error) {
		x, ok := ss.sessions[tenantID{tenant, id}]
		if !ok {
			return 0, notFound("session", id)
		}
		x.AuthAt = utc(authAt)
		return 1, nil
	})
}

// UpdateWorkplace sets a workplace session's state.
func (s *Store) UpdateWorkplace(ctx context.Context, tenant, id uuid.UUID, w authn.WorkplaceState) error {
	return s.sessionWork(ctx, tenant, nil, func(_ *tenantState, ss *sessionState) (int, error) {
		x, ok := ss.sessions[tenantID{tenant, id}]
		if !ok || x.Kind != authn.SessionWorkplace {
			return 0, notFound("workplace session", id)
		}
		w.StatusSince = utcOrZero(w.StatusSince)
		x.Workplace = w
		return 0, nil
	})
}

// EndSessions deletes the selected sessions and appends ev.
func (s *Store) EndSessions(ctx context.Context, tenant uuid.UUID, sel authn.SessionSelector, ev audit.Event) (int, error) {
	n := 0
	err := s.sessionWork(ctx, tenant, []audit.Event{ev}, func(_ *tenantState, ss *sessionState) (int, error) {
		if err := checkSelector(sel); err != nil {
			return 0, err
		}
		for k, x := range ss.sessions {
			if k.tenant != tenant || x.ID == sel.Except {
				continue
			}
			if sel.All || (sel.ID != uuid.Nil && x.ID == sel.ID) || (sel.User != uuid.Nil && x.User == sel.User) {
				ss.remove(tenant, x)
				n++
			}
		}
		return 1, nil
	})
	return n, err
}

func checkSelector(sel authn.SessionSelector) error {
	set := 0
	if sel.ID != uuid.Nil {
		set++
	}
	if sel.User != uuid.Nil {
		set++
	}
	if sel.All {
		set++
	}
	if set != 1 {
		return fmt.Errorf("memory: session selector must set exactly one of ID, User and All")
	}
	return nil
}

// ExpiredSessions returns sessions of any tenant whose deadline is not after now.
func (s *Store) ExpiredSessions(ctx context.Context, now time.Time, limit int) ([]authn.SessionRef, error) {
	if err := live(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var xs []*authn.Session
	for _, x := range s.sessions.sessions {
		if !x.ExpiresAt.After(now) {
			xs = append(xs, x)
		}
	}
	sort.Slice(xs, func(i, j int) bool {
		if !xs[i].ExpiresAt.Equal(xs[j].ExpiresAt) {
			return xs[i].ExpiresAt.Before(xs[j].ExpiresAt)
		}
		return xs[i].ID.String() < xs[j].ID.String()
	})
	if limit <= 0 {
		return nil, nil
	}
	if len(xs) > limit {
		xs = xs[:limit]
	}
	out := make([]authn.SessionRef, len(xs))
	for i, x := range xs {
		out[i] = authn.SessionRef{Tenant: x.Tenant, Session: x.ID, User: x.User}
	}
	return out, nil
}

// CreatePending stores a pending sign-in and appends ev.
func (s *Store) CreatePending(ctx context.Context, p authn.PendingSignIn, ev audit.Event) error {
	return s.quietWork(ctx, p.Tenant, []audit.Event{ev}, func(_ *tenantState, ss *sessionState) (int, error) {
		if _, ok := s.accountsOf(p.Tenant).users[p.User]; !ok {
			return 0, notFound("user", p.User)
		}
		k := tenantHash{p.Tenant, p.SecretHash}
		if _, dup := ss.pending[k]; dup {
			return 0, fmt.Errorf("memory: pending sign-in secret hash: %w", storage.ErrConflict)
		}
		for _, x := range ss.pending {
			if x.Tenant == p.Tenant && x.ID == p.ID {
				return 0, fmt.Errorf("memory: pending sign-in %s: %w", p.ID, storage.ErrConflict)
			}
		}
		p.CreatedAt, p.ExpiresAt = utc(p.CreatedAt), utc(p.ExpiresAt)
		ss.pending[k] = &p
		return 1, nil
	})
}

// PendingBySecret returns the pending sign-in with this secret hash.
func (s *Store) PendingBySecret(ctx context.Context, tenant uuid.UUID, secretHash [32]byte) (authn.PendingSignIn, error) {
	var out authn.PendingSignIn
	err := s.read(ctx, tenant, func(*tenantState) error {
		p, ok := s.sessions.pending[tenantHash{tenant, secretHash}]
		if !ok {
			return fmt.Errorf("memory: pending sign-in: %w", storage.ErrNotFound)
		}
		out = *p
		return nil
	})
	return out, err
}

// FailPending counts a failed attempt of an open pending sign-in.
func (s *Store) FailPending(ctx context.Context, tenant uuid.UUID, secretHash [32]byte, now time.Time, ev audit.Event) (int, error) {
	n := 0
	err := s.quietWork(ctx, tenant, []audit.Event{ev}, func(_ *tenantState, ss *sessionState) (int, error) {
		p, ok := ss.pending[tenantHash{tenant, secretHash}]
		if !ok || !p.Open(utc(now)) {
			return 0, authn.ErrPendingInvalid
		}
		p.Attempts++
		n = p.Attempts
		return 1, nil
	})
	return n, err
}

// DeleteExpiredPending removes pending sign-ins whose ExpiresAt is not after now.
func (s *Store) DeleteExpiredPending(ctx context.Context, now time.Time) (int, error) {
	if err := live(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, p := range s.sessions.pending {
		if !p.ExpiresAt.After(now) {
			delete(s.sessions.pending, k)
			n++
		}
	}
	return n, nil
}

// parseAddr reads an address as recorded; "" (or anything unparsable) is the invalid
// address.
func parseAddr(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a
}
