package storetest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cases of authn.SessionStore. Besides its doc comments they hold adapters to
// these choices:
//
//   - Sessions (and pending sign-ins) are found by (tenant, secret hash) only; another
//     tenant's hash is storage.ErrNotFound, and no method of one tenant changes another
//     tenant's sessions.
//   - Times are kept to the microsecond in UTC; the address is kept as given (the
//     invalid address stays invalid); Factors keep their order.
//   - Ending deletes: an ended session is not found by its hash nor its ID.
//   - EndSessions appends its event even when nothing matched; TouchSession and
//     UpdateWorkplace append none.
func sessionGroups() []group {
	return []group{
		{"sessions", sessionCases},
		{"session tenant isolation", sessionIsolationCases},
		{"pending sign-ins", pendingCases},
		{"throttle", throttleCases},
	}
}

// runSessions runs the authn.SessionStore cases (skipped without an Authn store).
func runSessions(t *testing.T, newStores Factory) {
	t.Helper()
	for _, g := range sessionGroups() {
		t.Run(g.name, func(t *testing.T) {
			s := newStores(t)
			if s.Authn == nil {
				t.Skip("the adapter does not implement authn.Store (Stores.Authn is nil)")
			}
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, &fx{t: t, ctx: t.Context(), s: s})
				})
			}
		})
	}
}

var (
	signedInAt = at(3*time.Hour + 250*time.Microsecond)
	sessionTTL = 12 * time.Hour
)

// sessionValue returns a valid, unstored session of u.
func sessionValue(u authn.User) authn.Session {
	return authn.Session{
		ID: newID(), Tenant: u.Tenant, User: u.ID, Kind: authn.SessionAdmin,
		CreatedAt: signedInAt, AuthAt: signedInAt, LastSeen: signedInAt, ExpiresAt: signedInAt.Add(sessionTTL),
		Factors: []authn.Factor{authn.FactorPassword, authn.FactorTOTP}, IP: netip.MustParseAddr("2001:db8::7"),
		UserAgent: "Mozilla/5.0 Firefox/128.0", SecretHash: newTokenHash(),
		Privilege:        1<<63 | 0x5eed, // the top bit set: kept through a signed column
		PrivilegeVersion: 1<<40 + 3,
	}
}

func sessionEvent(t testing.TB, tenant uuid.UUID, action string) audit.Event {
	t.Helper()
	return prepared(t, audit.Event{Tenant: tenant, Kind: audit.KindSession, Action: action, Outcome: audit.Success,
		Target: audit.Target{Type: "session", ID: action}})
}

// sessionsToStart returns n unstored sessions of u with a "session.start" event each,
// for racing CreateSession calls.
func (f *fx) sessionsToStart(u authn.User, n int) ([]authn.Session, [][]audit.Event) {
	made := make([]authn.Session, n)
	evs := make([][]audit.Event, n)
	for i := range n {
		made[i] = sessionValue(u)
		evs[i] = []audit.Event{sessionEvent(f.t, u.Tenant, "session.start")}
	}
	return made, evs
}

// startSession stores a session of u and returns it.
func (f *fx) startSession(u authn.User, edit ...func(*authn.Session)) authn.Session {
	f.t.Helper()
	x := sessionValue(u)
	for _, e := range edit {
		e(&x)
	}
	_, err := f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: x}, []audit.Event{sessionEvent(f.t, u.Tenant, "session.start")})
	require.NoError(f.t, err)
	return x
}

func assertSession(t testing.TB, want, got authn.Session) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.Tenant, got.Tenant)
	assert.Equal(t, want.User, got.User)
	assert.Equal(t, want.Kind, got.Kind)
	assertTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	assertTime(t, want.AuthAt, got.AuthAt, "AuthAt")
	assertTime(t, want.LastSeen, got.LastSeen, "LastSeen")
	assertTime(t, want.ExpiresAt, got.ExpiresAt, "ExpiresAt")
	assert.Equal(t, want.Factors, got.Factors)
	assert.Equal(t, want.Restricted, got.Restricted)
	assert.Equal(t, want.IP, got.IP)
	assert.Equal(t, want.UserAgent, got.UserAgent)
	assert.Equal(t, want.LastURL, got.LastURL)
	assert.Equal(t, want.SecretHash, got.SecretHash)
	assert.Equal(t, want.Privilege, got.Privilege, "Privilege")
	assert.Equal(t, want.PrivilegeVersion, got.PrivilegeVersion, "PrivilegeVersion")
}

func (f *fx) sessionEvents(tenant uuid.UUID) []string {
	var out []string
	for _, e := range f.allEvents(tenant) {
		if e.Kind == audit.KindSession || e.Kind == audit.KindLogin {
			out = append(out, e.Action)
		}
	}
	return out
}

var sessionCases = []testCase{
	{"a session is stored and found by its secret hash with the user's status and policy version", func(t *testing.T, f *fx) {
		tn := f.createTenant("Sessions")
		u, _ := f.activeUser(tn, "ann@example.com")
		x := f.startSession(u)
		rec, err := f.s.Authn.SessionBySecret(f.ctx, tn.ID, x.SecretHash)
		require.NoError(t, err)
		assertSession(t, x, rec.Session)
		assert.Equal(t, authn.StatusActive, rec.UserStatus)
		if rec.PolicyVersion != 0 {
			assert.Equal(t, f.policyVersion(tn.ID), rec.PolicyVersion, "a policy version read with the session is the current one")
		}
		assert.Zero(t, rec.IdleTimeout, "no settings stored: zero, the default applies")
		got, err := f.s.Authn.Session(f.ctx, tn.ID, x.ID)
		require.NoError(t, err)
		assertSession(t, x, got)
		assert.Equal(t, []string{"session.start"}, f.sessionEvents(tn.ID), "the event is appended with the session")

		_, err = f.s.Authn.SessionBySecret(f.ctx, tn.ID, newTokenHash())
		assert.ErrorIs(t, err, storage.ErrNotFound)

		v, _ := f.activeUser(tn, "bob@example.com")
		vx := f.startSession(v)
		x2 := f.startSession(u)
		u = f.setStatus(u, authn.StatusBlocked, later)
		for _, y := range []authn.Session{x, x2} {
			rec, err = f.s.Authn.SessionBySecret(f.ctx, tn.ID, y.SecretHash)
			require.NoError(t, err)
			assert.Equal(t, authn.StatusBlocked, rec.UserStatus, "a block is seen by the next lookup of every session of the user")
		}
		rec, err = f.s.Authn.SessionBySecret(f.ctx, tn.ID, vx.SecretHash)
		require.NoError(t, err)
		assert.Equal(t, authn.StatusActive, rec.UserStatus, "another user's session is untouched")
		f.setStatus(u, authn.StatusActive, later.Add(time.Minute))
		rec, err = f.s.Authn.SessionBySecret(f.ctx, tn.ID, x.SecretHash)
		require.NoError(t, err)
		assert.Equal(t, authn.StatusActive, rec.UserStatus, "an unblock is seen too")
	}},
	{"a session started while the idle timeout changes gets the new one", func(t *testing.T, f *fx) {
		tn := f.createTenant("Idle race")
		u, _ := f.activeUser(tn, "ann@example.com")
		const n = 20
		made, evs := f.sessionsToStart(u, n)
		settingsEv := changeEvent(t, tn.ID, "session_settings.update")
		errs := race(n+1, func(i int) error {
			if i == n {
				return f.s.Authn.SetSessionSettings(f.ctx, authn.SessionSettings{Tenant: tn.ID, IdleTimeout: 7 * time.Minute, UpdatedAt: later}, settingsEv)
			}
			_, err := f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: made[i]}, evs[i])
			return err
		})
		for _, err := range errs {
			require.NoError(t, err)
		}
		for i, x := range made {
			rec, err := f.s.Authn.SessionBySecret(f.ctx, tn.ID, x.SecretHash)
			require.NoError(t, err)
			assert.Equal(t, 7*time.Minute, rec.IdleTimeout, "session %d", i)
		}
	}},
	{"a session started while its user is blocked is never left active", func(t *testing.T, f *fx) {
		// The lookup's user status must never be out of step with the user's row, also
		// when sign-ins and a block commit at the same moment (a SQL adapter that copies
		// the status into the session row must order the two).
		tn := f.createTenant("Race")
		u, _ := f.activeUser(tn, "ann@example.com")
		const n = 20
		made, evs := f.sessionsToStart(u, n)
		blockEv := changeEvent(t, tn.ID, "user.status")
		errs := race(n+1, func(i int) error {
			if i == n {
				return f.s.Authn.SetStatus(f.ctx, tn.ID, u.ID, u.Status, authn.StatusBlocked, later, blockEv)
			}
			_, err := f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: made[i]}, evs[i])
			return err
		})
		require.NoError(t, errs[n], "the block")
		for i, x := range made {
			require.NoError(t, errs[i])
			rec, err := f.s.Authn.SessionBySecret(f.ctx, tn.ID, x.SecretHash)
			require.NoError(t, err)
			assert.Equal(t, authn.StatusBlocked, rec.UserStatus, "session %d", i)
		}
	}},
	{"a shorter lifetime cuts the live sessions' deadlines and a longer one extends none", func(t *testing.T, f *fx) {
		tn := f.createTenant("Lifetime")
		u, _ := f.activeUser(tn, "ann@example.com")
		x := f.startSession(u) // signedInAt + 12 h
		late := f.startSession(u, func(s *authn.Session) {
			s.CreatedAt = signedInAt.Add(3 * time.Hour)
			s.ExpiresAt = s.CreatedAt.Add(time.Hour) // already within any lifetime below
		})
		other := f.createTenant("Other lifetime")
		ou, _ := f.activeUser(other, "bob@example.com")
		oy := f.startSession(ou)
		deadline := func(tenant uuid.UUID, s authn.Session) time.Time {
			t.Helper()
			rec, err := f.s.Authn.SessionBySecret(f.ctx, tenant, s.SecretHash)
			require.NoError(t, err)
			return rec.Session.ExpiresAt
		}
		st := authn.SessionSettings{Tenant: tn.ID, IdleTimeout: 10 * time.Minute, Lifetime: 2*time.Hour + time.Nanosecond, UpdatedAt: later}
		require.NoError(t, f.s.Authn.SetSessionSettings(f.ctx, st, changeEvent(t, tn.ID, "session_settings.update")))
		assertTime(t, signedInAt.Add(2*time.Hour), deadline(tn.ID, x), "cut to sign-in + the new lifetime")
		assertTime(t, late.ExpiresAt, deadline(tn.ID, late), "a deadline already within it stays")
		assertTime(t, oy.ExpiresAt, deadline(other.ID, oy), "another tenant's sessions keep theirs")
		st.Version, st.Lifetime = 1, 24*time.Hour
		require.NoError(t, f.s.Authn.SetSessionSettings(f.ctx, st, changeEvent(t, tn.ID, "session_settings.update")))
		assertTime(t, signedInAt.Add(2*time.Hour), deadline(tn.ID, x), "a longer lifetime extends nothing")
	}},
	{"the lookup carries the stored session settings", func(t *testing.T, f *fx) {
		tn := f.createTenant("Settings")
		u, _ := f.activeUser(tn, "ann@example.com")
		x := f.startSession(u)
		st := authn.SessionSettings{Tenant: tn.ID, IdleTimeout: 10*time.Minute + time.Nanosecond, Lifetime: 2 * time.Hour,
			MaxPerUser: 3, RefuseOverLimit: true, LockThreshold: 7, LockDuration: time.Hour, UpdatedAt: later}
		require.NoError(t, f.s.Authn.SetSessionSettings(f.ctx, st, changeEvent(t, tn.ID, "session_settings.update")))
		assert.ErrorIs(t, f.s.Authn.SetSessionSettings(f.ctx, st, changeEvent(t, tn.ID, "session_settings.update")), storage.ErrStale)
		got, err := f.s.Authn.SessionSettings(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, 10*time.Minute, got.IdleTimeout, "kept to the microsecond")
		assert.Equal(t, int64(1), got.Version)
		assert.True(t, got.RefuseOverLimit)
		rec, err := f.s.Authn.SessionBySecret(f.ctx, tn.ID, x.SecretHash)
		require.NoError(t, err)
		assert.Equal(t, 10*time.Minute, rec.IdleTimeout, "a live session sees the new idle timeout at its next lookup")
		y := f.startSession(u)
		rec, err = f.s.Authn.SessionBySecret(f.ctx, tn.ID, y.SecretHash)
		require.NoError(t, err)
		assert.Equal(t, 10*time.Minute, rec.IdleTimeout, "a session started after the change has it too")
		st.Version = 1
		st.MaxPerUser = 0
		st.IdleTimeout = 20 * time.Minute
		require.NoError(t, f.s.Authn.SetSessionSettings(f.ctx, st, changeEvent(t, tn.ID, "session_settings.update")))
		for _, z := range []authn.Session{x, y} {
			rec, err = f.s.Authn.SessionBySecret(f.ctx, tn.ID, z.SecretHash)
			require.NoError(t, err)
			assert.Equal(t, 20*time.Minute, rec.IdleTimeout, "an update reaches every live session")
		}
		other := f.createTenant("Other")
		ou, _ := f.activeUser(other, "bob@example.com")
		oy := f.startSession(ou)
		rec, err = f.s.Authn.SessionBySecret(f.ctx, other.ID, oy.SecretHash)
		require.NoError(t, err)
		assert.Zero(t, rec.IdleTimeout, "another tenant's sessions keep their own")
		_, err = f.s.Authn.SessionSettings(f.ctx, newID())
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	{"a session of an unknown user or tenant, or a duplicate secret, is refused", func(t *testing.T, f *fx) {
		tn := f.createTenant("Refused")
		u, _ := f.activeUser(tn, "ann@example.com")
		x := f.startSession(u)
		stranger := u
		stranger.ID = newID()
		_, err := f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: sessionValue(stranger)}, []audit.Event{sessionEvent(t, tn.ID, "session.start")})
		assert.ErrorIs(t, err, storage.ErrNotFound)
		dup := sessionValue(u)
		dup.SecretHash = x.SecretHash
		_, err = f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: dup}, []audit.Event{sessionEvent(t, tn.ID, "session.start")})
		assert.ErrorIs(t, err, storage.ErrConflict)
		assert.Equal(t, []string{"session.start"}, f.sessionEvents(tn.ID), "nothing appended for refused sessions")
	}},
	{"touch writes at most once per interval", func(t *testing.T, f *fx) {
		tn := f.createTenant("Touch")
		u, _ := f.activeUser(tn, "ann@example.com")
		x := f.startSession(u)
		seen := signedInAt.Add(time.Minute)
		wrote, err := f.s.Authn.TouchSession(f.ctx, tn.ID, x.ID, seen, seen.Add(-30*time.Second),
			authn.SessionTouch{IP: "203.0.113.9", UserAgent: "Chrome/130", URL: "/calls"})
		require.NoError(t, err)
		assert.True(t, wrote)
		wrote, err = f.s.Authn.TouchSession(f.ctx, tn.ID, x.ID, seen.Add(10*time.Second), seen.Add(-20*time.Second), authn.SessionTouch{URL: "/x"})
		require.NoError(t, err)
		assert.False(t, wrote, "LastSeen is not before the bound: no write")
		got, err := f.s.Authn.Session(f.ctx, tn.ID, x.ID)
		require.NoError(t, err)
		assertTime(t, seen, got.LastSeen, "LastSeen")
		assert.Equal(t, netip.MustParseAddr("203.0.113.9"), got.IP)
		assert.Equal(t, "/calls", got.LastURL)
		assert.Equal(t, "Chrome/130", got.UserAgent)
		wrote, err = f.s.Authn.TouchSession(f.ctx, tn.ID, newID(), seen, seen, authn.SessionTouch{})
		require.NoError(t, err)
		assert.False(t, wrote, "a missing session is no write and no error")
	}},
	{"rotation replaces the secret at once and keeps the deadline", func(t *testing.T, f *fx) {
		tn := f.createTenant("Rotate")
		u, _ := f.activeUser(tn, "ann@example.com")
		x := f.startSession(u, func(s *authn.Session) { s.Restricted = true })
		next := newTokenHash()
		authAt := signedInAt.Add(time.Hour)
		require.NoError(t, f.s.Authn.RotateSession(f.ctx, tn.ID, x.ID, x.SecretHash, next,
			authn.SessionRotation{AuthAt: authAt, Factors: []authn.Factor{authn.FactorPassword, authn.FactorTOTP}, Privilege: 42,
				PrivilegeVersion: 7}, sessionEvent(t, tn.ID, "session.rotate")))
		_, err := f.s.Authn.SessionBySecret(f.ctx, tn.ID, x.SecretHash)
		assert.ErrorIs(t, err, storage.ErrNotFound, "the old secret stops working at once")
		rec, err := f.s.Authn.SessionBySecret(f.ctx, tn.ID, next)
		require.NoError(t, err)
		assertTime(t, x.ExpiresAt, rec.Session.ExpiresAt, "ExpiresAt")
		assertTime(t, authAt, rec.Session.AuthAt, "AuthAt")
		assert.False(t, rec.Session.Restricted)
		assert.Equal(t, uint64(42), rec.Session.Privilege, "the rotation sets the fingerprint")
		assert.Equal(t, int64(7), rec.Session.PrivilegeVersion, "and its policy version")
		err = f.s.Authn.RotateSession(f.ctx, tn.ID, x.ID, x.SecretHash, newTokenHash(), authn.SessionRotation{AuthAt: authAt}, sessionEvent(t, tn.ID, "session.rotate"))
		assert.ErrorIs(t, err, storage.ErrStale, "a rotation from a stale secret")
		err = f.s.Authn.RotateSession(f.ctx, tn.ID, newID(), next, newTokenHash(), authn.SessionRotation{AuthAt: authAt}, sessionEvent(t, tn.ID, "session.rotate"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		require.NoError(t, f.s.Authn.SetSessionAuth(f.ctx, tn.ID, x.ID, authAt.Add(time.Minute), sessionEvent(t, tn.ID, "login.reauthenticate")))
		got, err := f.s.Authn.Session(f.ctx, tn.ID, x.ID)
		require.NoError(t, err)
		assertTime(t, authAt.Add(time.Minute), got.AuthAt, "AuthAt")
		assert.ErrorIs(t, f.s.Authn.SetSessionAuth(f.ctx, tn.ID, newID(), authAt, sessionEvent(t, tn.ID, "login.reauthenticate")), storage.ErrNotFound)
	}},
	{"workplace state is set on workplace sessions only", func(t *testing.T, f *fx) {
		tn := f.createTenant("Workplace")
		u, _ := f.activeUser(tn, "ann@example.com")
		adm := f.startSession(u)
		wp := f.startSession(u, func(s *authn.Session) { s.Kind = authn.SessionWorkplace })
		w := authn.WorkplaceState{Status: "on call", StatusSince: later, Queue: "Sales inbound", CallID: "call-42"}
		require.NoError(t, f.s.Authn.UpdateWorkplace(f.ctx, tn.ID, wp.ID, w))
		assert.ErrorIs(t, f.s.Authn.UpdateWorkplace(f.ctx, tn.ID, adm.ID, w), storage.ErrNotFound)
		got, err := f.s.Authn.Session(f.ctx, tn.ID, wp.ID)
		require.NoError(t, err)
		assert.Equal(t, "on call", got.Workplace.Status)
		assertTime(t, later, got.Workplace.StatusSince, "StatusSince")
		assert.Equal(t, "call-42", got.Workplace.CallID)
	}},
	{"ending by ID, by user and for the tenant, with one event each", func(t *testing.T, f *fx) {
		tn := f.createTenant("End")
		ann, _ := f.activeUser(tn, "ann@example.com")
		bob, _ := f.activeUser(tn, "bob@example.com")
		a1, a2, a3 := f.startSession(ann), f.startSession(ann), f.startSession(ann)
		b1, b2 := f.startSession(bob), f.startSession(bob)
		n, err := f.s.Authn.EndSessions(f.ctx, tn.ID, authn.SessionSelector{ID: a1.ID}, sessionEvent(t, tn.ID, "session.end"))
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		_, err = f.s.Authn.SessionBySecret(f.ctx, tn.ID, a1.SecretHash)
		assert.ErrorIs(t, err, storage.ErrNotFound, "an ended session is gone")
		_, err = f.s.Authn.Session(f.ctx, tn.ID, a1.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		n, err = f.s.Authn.EndSessions(f.ctx, tn.ID, authn.SessionSelector{User: ann.ID, Except: a3.ID}, sessionEvent(t, tn.ID, "session.end"))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "all of the user's but the one excepted")
		_, err = f.s.Authn.Session(f.ctx, tn.ID, a2.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		list, err := f.s.Authn.Sessions(f.ctx, tn.ID, uuid.Nil)
		require.NoError(t, err)
		var ids []uuid.UUID
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		assert.ElementsMatch(t, []uuid.UUID{a3.ID, b1.ID, b2.ID}, ids)
		mine, err := f.s.Authn.Sessions(f.ctx, tn.ID, bob.ID)
		require.NoError(t, err)
		assert.Len(t, mine, 2)
		n, err = f.s.Authn.EndSessions(f.ctx, tn.ID, authn.SessionSelector{All: true, Except: b2.ID}, sessionEvent(t, tn.ID, "session.end"))
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		n, err = f.s.Authn.EndSessions(f.ctx, tn.ID, authn.SessionSelector{ID: a1.ID}, sessionEvent(t, tn.ID, "session.end"))
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.Equal(t, []string{"session.start", "session.start", "session.start", "session.start", "session.start",
			"session.end", "session.end", "session.end", "session.end"}, f.sessionEvents(tn.ID), "every end has its event, also when nothing matched")
		_, err = f.s.Authn.EndSessions(f.ctx, tn.ID, authn.SessionSelector{}, sessionEvent(t, tn.ID, "session.end"))
		assert.Error(t, err, "a selector that selects nothing is refused")
		_, err = f.s.Authn.EndSessions(f.ctx, newID(), authn.SessionSelector{All: true}, sessionEvent(t, tn.ID, "session.end"))
		assert.Error(t, err)
	}},
	{"expired sessions are listed for cleanup, oldest deadline first", func(t *testing.T, f *fx) {
		tn := f.createTenant("Expired")
		u, _ := f.activeUser(tn, "ann@example.com")
		old := f.startSession(u, func(s *authn.Session) { s.ExpiresAt = signedInAt.Add(time.Hour) })
		older := f.startSession(u, func(s *authn.Session) { s.ExpiresAt = signedInAt.Add(30 * time.Minute) })
		f.startSession(u)
		refs, err := f.s.Authn.ExpiredSessions(f.ctx, signedInAt.Add(time.Hour), 10)
		require.NoError(t, err)
		var mine []uuid.UUID
		for _, r := range refs {
			if r.Tenant == tn.ID {
				mine = append(mine, r.Session)
				assert.Equal(t, u.ID, r.User)
			}
		}
		assert.Equal(t, []uuid.UUID{older.ID, old.ID}, mine, "a deadline at now counts as expired")
	}},
	{"the concurrent-session limit ends the oldest or refuses", func(t *testing.T, f *fx) {
		tn := f.createTenant("Limit")
		u, _ := f.activeUser(tn, "ann@example.com")
		s1 := f.startSession(u, func(s *authn.Session) { s.CreatedAt = signedInAt.Add(-2 * time.Minute) })
		s2 := f.startSession(u, func(s *authn.Session) { s.CreatedAt = signedInAt.Add(-time.Minute) })
		f.startSession(u, func(s *authn.Session) { s.ExpiresAt = signedInAt }) // expired: not counted
		x := sessionValue(u)
		ended, err := f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: x, MaxPerUser: 2, LimitEvent: sessionEvent(t, tn.ID, "session.end")},
			[]audit.Event{sessionEvent(t, tn.ID, "session.start")})
		require.NoError(t, err)
		assert.Equal(t, []uuid.UUID{s1.ID}, ended, "the oldest live session is ended")
		_, err = f.s.Authn.Session(f.ctx, tn.ID, s1.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		y := sessionValue(u)
		_, err = f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: y, MaxPerUser: 2, RefuseOverLimit: true, LimitEvent: sessionEvent(t, tn.ID, "session.end")},
			[]audit.Event{sessionEvent(t, tn.ID, "session.start")})
		assert.ErrorIs(t, err, authn.ErrSessionLimit)
		_, err = f.s.Authn.Session(f.ctx, tn.ID, s2.ID)
		assert.NoError(t, err, "a refused sign-in ends nothing")
		ev := f.sessionEvents(tn.ID)
		assert.Equal(t, []string{"session.start", "session.start", "session.start", "session.start", "session.end"}, ev)

		// Two over the limit at once (it was lowered): one event per ended session,
		// each naming its session, after the sign-in's own events.
		z := sessionValue(u)
		ended, err = f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: z, MaxPerUser: 1, LimitEvent: sessionEvent(t, tn.ID, "session.end")},
			[]audit.Event{sessionEvent(t, tn.ID, "session.start")})
		require.NoError(t, err)
		assert.ElementsMatch(t, []uuid.UUID{s2.ID, x.ID}, ended)
		all := f.allEvents(tn.ID)
		tail := all[len(all)-3:]
		assert.Equal(t, "session.start", tail[0].Action)
		var targets []string
		ids := map[uuid.UUID]bool{}
		for _, e := range tail[1:] {
			assert.Equal(t, "session.end", e.Action)
			assert.Equal(t, "session", e.Target.Type)
			targets = append(targets, e.Target.ID)
			ids[e.ID] = true
		}
		assert.ElementsMatch(t, []string{s2.ID.String(), x.ID.String()}, targets, "each ended session has its own event")
		assert.Len(t, ids, 2, "with its own ID")
	}},
	{"the limit holds under 20 concurrent sign-ins", func(t *testing.T, f *fx) {
		tn := f.createTenant("Limit race")
		u, _ := f.activeUser(tn, "ann@example.com")
		made, evs := f.sessionsToStart(u, 20)
		limit := sessionEvent(t, tn.ID, "session.end")
		ok, refused := tally(t, race(len(made), func(i int) error {
			_, err := f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: made[i], MaxPerUser: 3, RefuseOverLimit: true,
				LimitEvent: limit}, evs[i])
			return err
		}), authn.ErrSessionLimit)
		assert.Equal(t, 3, ok)
		assert.Equal(t, 17, refused)
	}},
}

var sessionIsolationCases = []testCase{
	{"no session method reads or changes another tenant's sessions", func(t *testing.T, f *fx) {
		a := f.createTenant("Tenant A")
		b := f.createTenant("Tenant B")
		ua, _ := f.activeUser(a, "ann@example.com")
		ub, _ := f.activeUser(b, "ann@example.com")
		xa := f.startSession(ua, func(s *authn.Session) { s.Kind = authn.SessionWorkplace })
		f.startSession(ub)
		before := f.allEvents(a.ID)

		_, err := f.s.Authn.SessionBySecret(f.ctx, b.ID, xa.SecretHash)
		assert.ErrorIs(t, err, storage.ErrNotFound, "SessionBySecret")
		_, err = f.s.Authn.Session(f.ctx, b.ID, xa.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "Session")
		list, err := f.s.Authn.Sessions(f.ctx, b.ID, ua.ID)
		require.NoError(t, err)
		assert.Empty(t, list, "Sessions of another tenant's user")
		all, err := f.s.Authn.Sessions(f.ctx, b.ID, uuid.Nil)
		require.NoError(t, err)
		for _, x := range all {
			assert.Equal(t, b.ID, x.Tenant, "Sessions lists only its tenant's")
		}
		wrote, err := f.s.Authn.TouchSession(f.ctx, b.ID, xa.ID, later, later, authn.SessionTouch{URL: "/b"})
		require.NoError(t, err)
		assert.False(t, wrote, "TouchSession")
		err = f.s.Authn.RotateSession(f.ctx, b.ID, xa.ID, xa.SecretHash, newTokenHash(), authn.SessionRotation{AuthAt: later}, sessionEvent(t, b.ID, "session.rotate"))
		assert.ErrorIs(t, err, storage.ErrNotFound, "RotateSession")
		assert.ErrorIs(t, f.s.Authn.SetSessionAuth(f.ctx, b.ID, xa.ID, later, sessionEvent(t, b.ID, "login.reauthenticate")), storage.ErrNotFound, "SetSessionAuth")
		assert.ErrorIs(t, f.s.Authn.UpdateWorkplace(f.ctx, b.ID, xa.ID, authn.WorkplaceState{Status: "x"}), storage.ErrNotFound, "UpdateWorkplace")
		n, err := f.s.Authn.EndSessions(f.ctx, b.ID, authn.SessionSelector{ID: xa.ID}, sessionEvent(t, b.ID, "session.end"))
		require.NoError(t, err)
		assert.Zero(t, n, "EndSessions by ID")
		n, err = f.s.Authn.EndSessions(f.ctx, b.ID, authn.SessionSelector{User: ua.ID}, sessionEvent(t, b.ID, "session.end"))
		require.NoError(t, err)
		assert.Zero(t, n, "EndSessions by user")
		n, err = f.s.Authn.EndSessions(f.ctx, b.ID, authn.SessionSelector{All: true}, sessionEvent(t, b.ID, "session.end"))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "EndSessions for B ends B's only")
		_, err = f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: func() authn.Session {
			x := sessionValue(ua)
			x.Tenant = b.ID
			return x
		}()}, []audit.Event{sessionEvent(t, b.ID, "session.start")})
		assert.ErrorIs(t, err, storage.ErrNotFound, "CreateSession of another tenant's user")
		require.NoError(t, f.s.Authn.SetSessionSettings(f.ctx, authn.SessionSettings{Tenant: b.ID, IdleTimeout: time.Minute, UpdatedAt: later},
			changeEvent(t, b.ID, "session_settings.update")))
		_, err = f.s.Authn.SessionSettings(f.ctx, a.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "SessionSettings")

		rec, err := f.s.Authn.SessionBySecret(f.ctx, a.ID, xa.SecretHash)
		require.NoError(t, err)
		assertSession(t, xa, rec.Session)
		assert.Zero(t, rec.IdleTimeout, "B's settings do not reach A's sessions")
		assert.Equal(t, len(before), len(f.allEvents(a.ID)), "nothing was appended to A's chain")
	}},
	{"no pending sign-in method reads or changes another tenant's", func(t *testing.T, f *fx) {
		a := f.createTenant("Tenant A")
		b := f.createTenant("Tenant B")
		ua, _ := f.activeUser(a, "ann@example.com")
		ub, _ := f.activeUser(b, "ann@example.com")
		p := f.createPending(ua)
		_, err := f.s.Authn.PendingBySecret(f.ctx, b.ID, p.SecretHash)
		assert.ErrorIs(t, err, storage.ErrNotFound, "PendingBySecret")
		_, err = f.s.Authn.FailPending(f.ctx, b.ID, p.SecretHash, signedInAt, sessionEvent(t, b.ID, "login.totp"))
		assert.ErrorIs(t, err, authn.ErrPendingInvalid, "FailPending")
		x := sessionValue(ub)
		_, err = f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: x, Pending: p.SecretHash}, []audit.Event{sessionEvent(t, b.ID, "session.start")})
		assert.ErrorIs(t, err, authn.ErrPendingInvalid, "CreateSession consuming another tenant's pending sign-in")
		got, err := f.s.Authn.PendingBySecret(f.ctx, a.ID, p.SecretHash)
		require.NoError(t, err)
		assert.Zero(t, got.Attempts)
		p2 := f.createPending(ua)
		other := f.createPending(ub)
		_ = p2
		n, err := f.s.Authn.DeleteExpiredPending(f.ctx, signedInAt)
		require.NoError(t, err)
		assert.Zero(t, n, "nothing expired yet")
		_, err = f.s.Authn.PendingBySecret(f.ctx, b.ID, other.SecretHash)
		assert.NoError(t, err)
	}},
}

func (f *fx) createPending(u authn.User) authn.PendingSignIn {
	f.t.Helper()
	p := authn.PendingSignIn{ID: newID(), Tenant: u.Tenant, User: u.ID, Factor: authn.FactorPassword, Kind: authn.SessionAdmin,
		IP: netip.MustParseAddr("198.51.100.4"), UserAgent: "Mozilla/5.0", CreatedAt: signedInAt,
		ExpiresAt: signedInAt.Add(authn.PendingSignInTTL), SecretHash: newTokenHash()}
	require.NoError(f.t, f.s.Authn.CreatePending(f.ctx, p, sessionEvent(f.t, u.Tenant, "login.pending")))
	return p
}

var pendingCases = []testCase{
	{"a pending sign-in is found, counts failures up to its bound and expires", func(t *testing.T, f *fx) {
		tn := f.createTenant("Pending")
		u, _ := f.activeUser(tn, "ann@example.com")
		p := f.createPending(u)
		got, err := f.s.Authn.PendingBySecret(f.ctx, tn.ID, p.SecretHash)
		require.NoError(t, err)
		assert.Equal(t, p.ID, got.ID)
		assert.Equal(t, p.User, got.User)
		assert.Equal(t, p.IP, got.IP)
		assert.Equal(t, authn.FactorPassword, got.Factor)
		assertTime(t, p.ExpiresAt, got.ExpiresAt, "ExpiresAt")
		for i := 1; i <= authn.MaxPendingAttempts; i++ {
			n, err := f.s.Authn.FailPending(f.ctx, tn.ID, p.SecretHash, signedInAt, sessionEvent(t, tn.ID, "login.totp"))
			require.NoError(t, err)
			assert.Equal(t, i, n)
		}
		_, err = f.s.Authn.FailPending(f.ctx, tn.ID, p.SecretHash, signedInAt, sessionEvent(t, tn.ID, "login.totp"))
		assert.ErrorIs(t, err, authn.ErrPendingInvalid, "used up")
		_, err = f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: sessionValue(u), Pending: p.SecretHash}, []audit.Event{sessionEvent(t, tn.ID, "session.start")})
		assert.ErrorIs(t, err, authn.ErrPendingInvalid, "a used-up pending sign-in completes nothing")

		q := f.createPending(u)
		_, err = f.s.Authn.FailPending(f.ctx, tn.ID, q.SecretHash, q.ExpiresAt, sessionEvent(t, tn.ID, "login.totp"))
		assert.ErrorIs(t, err, authn.ErrPendingInvalid, "expired at its deadline")
		x := sessionValue(u)
		x.CreatedAt = q.ExpiresAt
		_, err = f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: x, Pending: q.SecretHash}, []audit.Event{sessionEvent(t, tn.ID, "session.start")})
		assert.ErrorIs(t, err, authn.ErrPendingInvalid, "an expired pending sign-in completes nothing")
		n, err := f.s.Authn.DeleteExpiredPending(f.ctx, q.ExpiresAt)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, 2)
		_, err = f.s.Authn.PendingBySecret(f.ctx, tn.ID, q.SecretHash)
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	{"a pending sign-in of another user completes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Pending user")
		u, _ := f.activeUser(tn, "ann@example.com")
		v, _ := f.activeUser(tn, "bob@example.com")
		p := f.createPending(u)
		_, err := f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: sessionValue(v), Pending: p.SecretHash}, []audit.Event{sessionEvent(t, tn.ID, "session.start")})
		assert.ErrorIs(t, err, authn.ErrPendingInvalid)
		_, err = f.s.Authn.PendingBySecret(f.ctx, tn.ID, p.SecretHash)
		assert.NoError(t, err, "and is not consumed")
	}},
	{"of 100 concurrent completions of one pending sign-in exactly one creates a session", func(t *testing.T, f *fx) {
		tn := f.createTenant("Pending race")
		u, _ := f.activeUser(tn, "ann@example.com")
		p := f.createPending(u)
		made, evs := f.sessionsToStart(u, 100)
		wins, invalid := tally(t, race(len(made), func(i int) error {
			_, err := f.s.Authn.CreateSession(f.ctx, authn.SessionStart{Session: made[i], Pending: p.SecretHash}, evs[i])
			return err
		}), authn.ErrPendingInvalid)
		assert.Equal(t, 1, wins)
		assert.Equal(t, 99, invalid)
		list, err := f.s.Authn.Sessions(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Len(t, list, 1)
		assert.Equal(t, []string{"login.pending", "session.start"}, f.sessionEvents(tn.ID))
	}},
}
