package authn_test

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// sessions records EndUserSessions calls.
type sessions struct {
	mu    sync.Mutex
	calls []string
}

func (s *sessions) EndUserSessions(_ context.Context, _, user, except uuid.UUID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, user.String()+"/"+except.String())
	return nil
}

// env is one tenant with an Admin, wired over the memory store with weak (fast) hashing.
type env struct {
	store   *memory.Store
	engine  *access.Engine
	acc     *access.Service
	svc     *authn.Service
	outbox  *authn.Outbox
	clock   *clock
	sess    *sessions
	tenant  access.Tenant
	roles   map[access.RoleKind]uuid.UUID
	admin   access.Subject
	project access.Project
}

const goodPassword = "correct horse battery staple 42"

func fastHasher() *authn.Hasher {
	return authn.NewHasher(authn.HasherOptions{Params: authn.Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		QueueLen: 256, InsecureAllowWeakParams: true})
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{store: memory.New(memory.Options{}), outbox: &authn.Outbox{},
		clock: &clock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}, sess: &sessions{}}
	e.engine = access.NewEngine(e.store, access.EngineOptions{})
	e.acc = access.NewService(e.store, e.engine, access.ServiceOptions{Clock: e.clock.Now})
	var err error
	e.svc, err = authn.NewService(e.store, e.engine, authn.Options{
		Mailer: e.outbox,
		LinkURL: func(p authn.Purpose, tok authn.LinkToken) string {
			return "https://app.example/" + string(p) + "#" + tok.Reveal()
		},
		Hasher:   fastHasher(),
		Audit:    audit.NewRecorder(e.store, audit.Options{Clock: e.clock.Now}),
		Sessions: e.sess,
		Clock:    e.clock.Now,
	})
	require.NoError(t, err)
	e.tenant, err = e.acc.CreateTenant(ctx, "Acme Call Center")
	require.NoError(t, err)
	roles, err := e.store.Roles(ctx, e.tenant.ID)
	require.NoError(t, err)
	e.roles = map[access.RoleKind]uuid.UUID{}
	for _, r := range roles {
		e.roles[r.Kind] = r.ID
	}
	adminID := uuid.New()
	_, err = e.acc.SetMember(ctx, access.System(e.tenant.ID), adminID, e.roles[access.KindAdmin])
	require.NoError(t, err)
	e.admin = access.Subject{Tenant: e.tenant.ID, User: adminID, IP: netip.MustParseAddr("198.51.100.1")}
	e.project, err = e.acc.CreateProject(ctx, e.admin, "Sales")
	require.NoError(t, err)
	return e
}

var tokenRE = regexp.MustCompile(`cs(inv|rst)_[A-Za-z0-9_-]+`)

// linkFor returns the secret of the newest link mailed to an address.
func (e *env) linkFor(t *testing.T, email string) string {
	t.Helper()
	m, ok := e.outbox.Last(email)
	require.True(t, ok, "no mail to %s", email)
	tok := tokenRE.FindString(m.Text)
	require.NotEmpty(t, tok, "no link in the mail")
	return tok
}

// invite invites and accepts a user with a role; it returns the active user.
func (e *env) onboard(t *testing.T, email string, kind access.RoleKind) authn.User {
	t.Helper()
	ctx := context.Background()
	_, err := e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: email, Name: "Test User", Role: e.roles[kind], Projects: []uuid.UUID{e.project.ID}})
	require.NoError(t, err)
	u, err := e.svc.AcceptInvitation(ctx, e.linkFor(t, email), authn.NewPassword(goodPassword), authn.Meta{})
	require.NoError(t, err)
	return u
}

func (e *env) subject(u authn.User) access.Subject {
	return access.Subject{Tenant: u.Tenant, User: u.ID, IP: netip.MustParseAddr("198.51.100.2")}
}

func (e *env) events(t *testing.T, kind audit.Kind) []audit.Event {
	t.Helper()
	evs, err := e.store.Events(context.Background(), e.tenant.ID, audit.Query{Kind: kind, Limit: audit.MaxLimit})
	require.NoError(t, err)
	return evs
}

func TestInviteAndAccept(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	inv, err := e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: " Ann.Agent@Example.COM ", Name: "Ann Agent",
		Role: e.roles[access.KindSupervisor], Projects: []uuid.UUID{e.project.ID}})
	require.NoError(t, err)
	assert.Equal(t, "ann.agent@example.com", inv.User.Email)
	assert.Equal(t, authn.StatusInvited, inv.User.Status)
	assert.Equal(t, e.clock.Now().Add(7*24*time.Hour), inv.ExpiresAt, "valid 7 days by default")

	mail, ok := e.outbox.Last("ann.agent@example.com")
	require.True(t, ok)
	assert.Contains(t, mail.Text, "https://app.example/invitation#csinv_")
	assert.NotContains(t, mail.String(), "csinv_", "a mail never prints its body")

	token := e.linkFor(t, "ann.agent@example.com")
	u, err := e.svc.AcceptInvitation(ctx, token, authn.NewPassword(goodPassword), authn.Meta{IP: netip.MustParseAddr("203.0.113.5")})
	require.NoError(t, err)
	assert.Equal(t, authn.StatusActive, u.Status)

	p, err := e.engine.Policy(ctx, e.tenant.ID)
	require.NoError(t, err)
	s := e.subject(u)
	assert.True(t, p.Check(s, access.ListenRecordings, e.project.ID), "the role and project fixed at invitation apply")
	assert.False(t, p.Check(s, access.ManageRoles, uuid.Nil))

	_, err = e.svc.AcceptInvitation(ctx, token, authn.NewPassword(goodPassword), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrTicketInvalid, "single use")

	got, err := e.svc.Authenticate(ctx, e.tenant.ID, "ANN.AGENT@example.com", authn.NewPassword(goodPassword), authn.Meta{IP: netip.MustParseAddr("203.0.113.5")})
	require.NoError(t, err)
	assert.Equal(t, u.ID, got.ID)

	var actions []string
	for _, ev := range e.events(t, audit.KindChange) {
		actions = append(actions, ev.Action)
	}
	assert.Contains(t, actions, "invitation.create")
	assert.Contains(t, actions, "invitation.accept")
}

func TestInvitationExpiresAndReinviteVoids(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	req := authn.InviteRequest{Email: "bob@example.com", Name: "Bob", Role: e.roles[access.KindAgent]}
	_, err := e.svc.Invite(ctx, e.admin, req)
	require.NoError(t, err)
	first := e.linkFor(t, "bob@example.com")

	_, err = e.svc.Invite(ctx, e.admin, req)
	require.NoError(t, err, "re-inviting an invited user is allowed")
	second := e.linkFor(t, "bob@example.com")
	require.NotEqual(t, first, second)
	_, err = e.svc.AcceptInvitation(ctx, first, authn.NewPassword(goodPassword), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrTicketInvalid, "a re-invite voids the earlier link")

	e.clock.Advance(7*24*time.Hour + time.Second)
	_, err = e.svc.AcceptInvitation(ctx, second, authn.NewPassword(goodPassword), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrTicketInvalid, "expired after 7 days")

	_, err = e.svc.Invite(ctx, e.admin, req)
	require.NoError(t, err)
	third := e.linkFor(t, "bob@example.com")
	inv, err := e.svc.Users(ctx, e.admin)
	require.NoError(t, err)
	var bob authn.User
	for _, u := range inv {
		if u.Email == "bob@example.com" {
			bob = u
		}
	}
	require.NoError(t, e.svc.RevokeInvitation(ctx, e.admin, bob.ID))
	_, err = e.svc.AcceptInvitation(ctx, third, authn.NewPassword(goodPassword), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrTicketInvalid, "a revoked link")

	for _, bad := range []string{"", "csinv_", "csinv_!!!", "csrst_" + third[6:], third + "x", "garbage"} {
		_, err = e.svc.AcceptInvitation(ctx, bad, authn.NewPassword(goodPassword), authn.Meta{})
		assert.ErrorIs(t, err, authn.ErrTicketInvalid, "%q", bad)
	}
}

func TestAcceptInvitationRace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, err := e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "race@example.com", Name: "Racer", Role: e.roles[access.KindAgent]})
	require.NoError(t, err)
	token := e.linkFor(t, "race@example.com")
	var wins, invalid atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.AcceptInvitation(ctx, token, authn.NewPassword(goodPassword), authn.Meta{})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, authn.ErrTicketInvalid):
				invalid.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load(), "exactly one acceptance wins")
	assert.Equal(t, int32(99), invalid.Load())
	n := 0
	for _, ev := range e.events(t, audit.KindChange) {
		if ev.Action == "invitation.accept" {
			n++
		}
	}
	assert.Equal(t, 1, n, "exactly one acceptance is recorded")
}

func TestAcceptRejectsWeakPasswordAndKeepsLink(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, err := e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "carol@example.com", Name: "Carol", Role: e.roles[access.KindAgent]})
	require.NoError(t, err)
	token := e.linkFor(t, "carol@example.com")
	for _, weak := range []string{"Zq7", "iloveyou", "carol-carol-carol-1", "acme-call-center-99"} {
		_, err = e.svc.AcceptInvitation(ctx, token, authn.NewPassword(weak), authn.Meta{})
		var pe *authn.PasswordError
		require.ErrorAs(t, err, &pe, "%q", weak)
		assert.ErrorIs(t, err, authn.ErrWeakPassword)
		assert.NotContains(t, err.Error(), weak, "the error never repeats the password")
	}
	_, err = e.svc.AcceptInvitation(ctx, token, authn.NewPassword(goodPassword), authn.Meta{})
	assert.NoError(t, err, "a rejected password does not use up the link")
}

func TestInviteRules(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	agent := e.onboard(t, "agent@example.com", access.KindAgent)
	_, err := e.svc.Invite(ctx, e.subject(agent), authn.InviteRequest{Email: "x@example.com", Name: "X", Role: e.roles[access.KindAgent]})
	assert.ErrorIs(t, err, authn.ErrForbidden, "inviting needs UserManagement")

	_, err = e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "agent@example.com", Name: "Again", Role: e.roles[access.KindAgent]})
	assert.ErrorIs(t, err, authn.ErrUserExists)
	_, err = e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "Ann <ann@example.com>", Name: "Ann", Role: e.roles[access.KindAgent]})
	assert.ErrorIs(t, err, authn.ErrInvalidEmail)
	_, err = e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "ann@example.com", Name: "\x1b[31m", Role: e.roles[access.KindAgent]})
	assert.ErrorIs(t, err, authn.ErrInvalidName)
	_, err = e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "ann@example.com", Name: "Ann", Role: uuid.New()})
	assert.ErrorIs(t, err, authn.ErrForbidden, "unknown role")
	_, err = e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "ann@example.com", Name: "Ann", Role: e.roles[access.KindAgent], Projects: []uuid.UUID{uuid.New()}})
	assert.ErrorIs(t, err, storage.ErrNotFound, "unknown project")

	// A user manager who is not Admin cannot invite an Admin.
	um, err := e.acc.CreateRole(ctx, e.admin, access.RoleSpec{Name: "User manager", Rights: []access.Right{access.UserManagement, access.EditProfile}})
	require.NoError(t, err)
	_, err = e.acc.SetMember(ctx, e.admin, agent.ID, um.ID)
	require.NoError(t, err)
	_, err = e.svc.Invite(ctx, e.subject(agent), authn.InviteRequest{Email: "boss@example.com", Name: "Boss", Role: e.roles[access.KindAdmin]})
	assert.ErrorIs(t, err, authn.ErrForbidden)
	_, err = e.svc.Invite(ctx, e.subject(agent), authn.InviteRequest{Email: "ok@example.com", Name: "Ok", Role: e.roles[access.KindAgent]})
	assert.NoError(t, err)
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "dan@example.com", access.KindAgent)
	meta := authn.Meta{IP: netip.MustParseAddr("198.51.100.9"), UserAgent: "Mozilla/5.0"}

	_, err := e.svc.Authenticate(ctx, e.tenant.ID, "dan@example.com", authn.NewPassword("wrong password, really"), meta)
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
	_, err = e.svc.Authenticate(ctx, e.tenant.ID, "nobody@example.com", authn.NewPassword(goodPassword), meta)
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
	_, err = e.svc.Authenticate(ctx, e.tenant.ID, "not an email", authn.NewPassword(goodPassword), meta)
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
	other, err := e.acc.CreateTenant(ctx, "Other Call Center")
	require.NoError(t, err)
	_, err = e.svc.Authenticate(ctx, other.ID, "dan@example.com", authn.NewPassword(goodPassword), meta)
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "another tenant does not know the user")
	made := uuid.New()
	_, err = e.svc.Authenticate(ctx, made, "dan@example.com", authn.NewPassword(goodPassword), meta)
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "a tenant that does not exist gets the same answer")
	_, err = e.svc.Authenticate(ctx, e.tenant.ID, "dan@example.com", authn.NewPassword(goodPassword), meta)
	require.NoError(t, err)

	require.NoError(t, e.svc.Block(ctx, e.admin, u.ID))
	_, err = e.svc.Authenticate(ctx, e.tenant.ID, "dan@example.com", authn.NewPassword(goodPassword), meta)
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "a blocked user gets the same answer")

	logins := e.events(t, audit.KindLogin)
	var reasons []string
	for _, ev := range logins {
		reasons = append(reasons, string(ev.Outcome)+":"+ev.Reason)
		assert.Equal(t, "198.51.100.9", ev.Actor.IP.String())
		assert.Equal(t, "password", ev.Details["factor"])
	}
	assert.Equal(t, []string{"failure:wrong_password", "failure:unknown_user", "failure:unknown_user", "success:", "failure:user_blocked"}, reasons,
		"the login log tells the reasons apart (the attempt on another tenant is in that tenant's log)")
	otherLog, err := e.store.Events(ctx, other.ID, audit.Query{Kind: audit.KindLogin})
	require.NoError(t, err)
	require.Len(t, otherLog, 1)
	assert.Equal(t, "unknown_user", otherLog[0].Reason)
	// A made-up tenant gets no audit chain: otherwise every guessed ID would start one.
	st, err := e.store.AuditState(ctx, made)
	require.NoError(t, err)
	assert.Zero(t, st.Head.Seq, "no chain for a tenant that does not exist")
}

func TestAuthenticateAllowlistAndRehash(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "eve@example.com", access.KindAgent)
	_, err := e.acc.SetAllowlist(ctx, e.admin, []string{"203.0.113.0/24"})
	require.NoError(t, err)
	_, err = e.svc.Authenticate(ctx, e.tenant.ID, "eve@example.com", authn.NewPassword(goodPassword), authn.Meta{IP: netip.MustParseAddr("198.51.100.9")})
	assert.ErrorIs(t, err, authn.ErrIPNotAllowed, "the allowlist is checked at sign-in")
	_, err = e.svc.Authenticate(ctx, e.tenant.ID, "eve@example.com", authn.NewPassword("a wrong password here"), authn.Meta{IP: netip.MustParseAddr("198.51.100.9")})
	assert.ErrorIs(t, err, authn.ErrIPNotAllowed, "from outside the allowlist the answer does not depend on the password (TestAllowlistIsNoPasswordOracle)")

	before, err := e.store.PasswordHash(ctx, e.tenant.ID, u.ID)
	require.NoError(t, err)
	stronger := authn.NewHasher(authn.HasherOptions{Params: authn.Params{Memory: 512, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, InsecureAllowWeakParams: true})
	svc2, err := authn.NewService(e.store, e.engine, authn.Options{Mailer: e.outbox, LinkURL: func(authn.Purpose, authn.LinkToken) string { return "" }, Hasher: stronger, Clock: e.clock.Now})
	require.NoError(t, err)
	_, err = svc2.Authenticate(ctx, e.tenant.ID, "eve@example.com", authn.NewPassword(goodPassword), authn.Meta{IP: netip.MustParseAddr("203.0.113.7")})
	require.NoError(t, err)
	after, err := e.store.PasswordHash(ctx, e.tenant.ID, u.ID)
	require.NoError(t, err)
	assert.NotEqual(t, before, after, "rehashed when the parameters rose")
	assert.Contains(t, after, "m=512,t=2")
	_, err = svc2.Authenticate(ctx, e.tenant.ID, "eve@example.com", authn.NewPassword(goodPassword), authn.Meta{IP: netip.MustParseAddr("203.0.113.7")})
	assert.NoError(t, err, "the new hash verifies")
}

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "fay@example.com", access.KindAgent)
	s := e.subject(u)
	s.Session = uuid.New()
	next := authn.NewPassword("a brand new passphrase 77")
	assert.ErrorIs(t, e.svc.ChangePassword(ctx, s, authn.NewPassword("not my password!"), next, true), authn.ErrWrongPassword)
	var pe *authn.PasswordError
	assert.ErrorAs(t, e.svc.ChangePassword(ctx, s, authn.NewPassword(goodPassword), authn.NewPassword("fay"), true), &pe)
	require.NoError(t, e.svc.ChangePassword(ctx, s, authn.NewPassword(goodPassword), next, true))
	assert.Equal(t, []string{u.ID.String() + "/" + s.Session.String()}, e.sess.calls, "other sessions end, this one stays")
	_, err := e.svc.Authenticate(ctx, e.tenant.ID, "fay@example.com", authn.NewPassword(goodPassword), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
	_, err = e.svc.Authenticate(ctx, e.tenant.ID, "fay@example.com", next, authn.Meta{})
	assert.NoError(t, err)
}

func TestForcePasswordReset(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "gus@example.com", access.KindAgent)
	assert.ErrorIs(t, e.svc.ForcePasswordReset(ctx, e.subject(u), u.ID), authn.ErrForbidden)
	require.NoError(t, e.svc.ForcePasswordReset(ctx, e.admin, u.ID))
	_, err := e.svc.Authenticate(ctx, e.tenant.ID, "gus@example.com", authn.NewPassword(goodPassword), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "the old password stops working at once")
	token := e.linkFor(t, "gus@example.com")
	require.Regexp(t, `^csrst_`, token)
	_, err = e.svc.AcceptInvitation(ctx, token, authn.NewPassword(goodPassword), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrTicketInvalid, "a reset link is not an invitation")
	next := authn.NewPassword("the user chose this one 9")
	_, err = e.svc.ResetPassword(ctx, token, next, authn.Meta{})
	require.NoError(t, err)
	_, err = e.svc.ResetPassword(ctx, token, next, authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrTicketInvalid, "single use")
	_, err = e.svc.Authenticate(ctx, e.tenant.ID, "gus@example.com", next, authn.Meta{})
	assert.NoError(t, err)
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "hal@example.com", access.KindAgent)
	check := func() bool {
		p, err := e.engine.Policy(ctx, e.tenant.ID)
		require.NoError(t, err)
		return p.Check(e.subject(u), access.EditProfile, uuid.Nil)
	}
	assert.ErrorIs(t, e.svc.Archive(ctx, e.admin, u.ID), authn.ErrInvalidTransition, "only blocked users are archived")
	assert.ErrorIs(t, e.svc.Unblock(ctx, e.admin, u.ID), authn.ErrInvalidTransition)
	assert.ErrorIs(t, e.svc.Block(ctx, e.subject(u), u.ID), authn.ErrForbidden)
	assert.ErrorIs(t, e.svc.Block(ctx, e.admin, e.admin.User), authn.ErrForbidden, "nobody blocks themselves")

	require.NoError(t, e.svc.Block(ctx, e.admin, u.ID))
	st, err := e.svc.Status(ctx, e.tenant.ID, u.ID)
	require.NoError(t, err)
	assert.Equal(t, authn.StatusBlocked, st)
	assert.Contains(t, e.sess.calls, u.ID.String()+"/"+uuid.Nil.String(), "blocking ends every session")
	assert.False(t, check(), "a blocked user holds no right (TestBlockedUserHoldsNoRights)")
	p, err := e.engine.Policy(ctx, e.tenant.ID)
	require.NoError(t, err)
	_, member := p.Role(u.ID)
	assert.True(t, member, "a blocked user keeps membership and data for reports")
	require.NoError(t, e.svc.Unblock(ctx, e.admin, u.ID))
	require.NoError(t, e.svc.Block(ctx, e.admin, u.ID))
	require.NoError(t, e.svc.Archive(ctx, e.admin, u.ID))

	rep, err := e.svc.Purge(ctx, e.clock.Now().Add(179*24*time.Hour))
	require.NoError(t, err)
	assert.Empty(t, rep.Deleted, "kept during the retention period")
	rep, err = e.svc.Purge(ctx, e.clock.Now().Add(180*24*time.Hour+time.Second))
	require.NoError(t, err)
	assert.Equal(t, []authn.UserRef{{Tenant: e.tenant.ID, User: u.ID}}, rep.Deleted)
	rep, err = e.svc.Purge(ctx, e.clock.Now().Add(181*24*time.Hour))
	require.NoError(t, err)
	assert.Empty(t, rep.Deleted, "purge is idempotent")

	got, err := e.svc.User(ctx, e.admin, u.ID)
	assert.ErrorIs(t, err, authn.ErrUserDeleted)
	assert.Equal(t, authn.StatusDeleted, got.Status)
	assert.Empty(t, got.Email, "personal data is erased")
	assert.Equal(t, authn.ReasonRetention, got.DeletedReason)
	assert.False(t, check(), "memberships are gone")
	assert.ErrorIs(t, e.svc.Unblock(ctx, e.admin, u.ID), authn.ErrUserDeleted, "no unblock of a deleted user")

	var actions []string
	for _, ev := range e.events(t, audit.KindChange) {
		if ev.Target.ID == u.ID.String() {
			actions = append(actions, ev.Action)
		}
	}
	assert.Subset(t, actions, []string{"user.block", "user.unblock", "user.archive", "user.purge"})
}

func TestRemoveFromCompany(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ivy@example.com", access.KindSupervisor)
	require.NoError(t, e.svc.Remove(ctx, e.admin, u.ID))
	_, err := e.svc.User(ctx, e.admin, u.ID)
	assert.ErrorIs(t, err, authn.ErrUserDeleted, "the API says reports about the user are no longer possible")
	_, err = e.svc.Authenticate(ctx, e.tenant.ID, "ivy@example.com", authn.NewPassword(goodPassword), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
	p, err := e.engine.Policy(ctx, e.tenant.ID)
	require.NoError(t, err)
	assert.False(t, p.Check(e.subject(u), access.EditProfile, uuid.Nil))
	_, err = e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "ivy@example.com", Name: "Ivy again", Role: e.roles[access.KindAgent]})
	assert.NoError(t, err, "the e-mail can be invited again")
	assert.ErrorIs(t, e.svc.Remove(ctx, e.admin, u.ID), authn.ErrUserDeleted)
}

func TestOtherTenantCannotTouchUsers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "jo@example.com", access.KindAgent)
	other, err := e.acc.CreateTenant(ctx, "Other Co")
	require.NoError(t, err)
	roles, err := e.store.Roles(ctx, other.ID)
	require.NoError(t, err)
	otherAdmin := access.Subject{Tenant: other.ID, User: uuid.New()}
	for _, r := range roles {
		if r.Kind == access.KindAdmin {
			_, err = e.acc.SetMember(ctx, access.System(other.ID), otherAdmin.User, r.ID)
			require.NoError(t, err)
		}
	}
	_, err = e.svc.User(ctx, otherAdmin, u.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assert.ErrorIs(t, e.svc.Block(ctx, otherAdmin, u.ID), storage.ErrNotFound)
	assert.ErrorIs(t, e.svc.Remove(ctx, otherAdmin, u.ID), storage.ErrNotFound)
	assert.ErrorIs(t, e.svc.ForcePasswordReset(ctx, otherAdmin, u.ID), storage.ErrNotFound)
	users, err := e.svc.Users(ctx, otherAdmin)
	require.NoError(t, err)
	assert.Empty(t, users)
	st, err := e.svc.Status(ctx, e.tenant.ID, u.ID)
	require.NoError(t, err)
	assert.Equal(t, authn.StatusActive, st, "nothing changed")
}

func TestSettings(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	st, err := e.svc.Settings(ctx, e.tenant.ID)
	require.NoError(t, err)
	assert.Equal(t, authn.DefaultInvitationTTL, st.InvitationTTL)
	st.InvitationTTL = 48 * time.Hour
	st.PasswordMode = "classes"
	st.RequireTwoFactor = true
	_, err = e.svc.UpdateSettings(ctx, e.admin, st)
	assert.ErrorIs(t, err, authn.ErrTwoFactorUnavailable, "no TwoFactorSealer: nobody could enrol")
	assert.ErrorIs(t, err, authn.ErrInvalidSettings)
	st.RequireTwoFactor = false
	st, err = e.svc.UpdateSettings(ctx, e.admin, st)
	require.NoError(t, err)
	_, err = e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "kim@example.com", Name: "Kim", Role: e.roles[access.KindAgent]})
	require.NoError(t, err)
	tok := e.linkFor(t, "kim@example.com")
	_, err = e.svc.AcceptInvitation(ctx, tok, authn.NewPassword("alllowercaseletters"), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrWeakPassword, "classes mode needs every character class")
	_, err = e.svc.AcceptInvitation(ctx, tok, authn.NewPassword("Kx9!mP2#vL"), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrWeakPassword, "the password is the only factor: 15 characters")
	_, err = e.svc.AcceptInvitation(ctx, tok, authn.NewPassword("Kx9!mP2#vL-wq7Tz"), authn.Meta{})
	assert.NoError(t, err)

	// A minimum of 8 while the password is the only factor would be reported but
	// not applied (15 is): refused, and the stored settings say what is enforced.
	low := st
	low.PasswordMinLength = 8
	_, err = e.svc.UpdateSettings(ctx, e.admin, low)
	assert.ErrorIs(t, err, authn.ErrPasswordMinLength)
	cur, err := e.svc.Settings(ctx, e.tenant.ID)
	require.NoError(t, err)
	assert.Zero(t, cur.PasswordMinLength, "nothing stored")
	assert.Equal(t, authn.MinSingleFactorPasswordLength, cur.EffectivePasswordMinLength())
	st.PasswordMinLength = 18
	st, err = e.svc.UpdateSettings(ctx, e.admin, st)
	require.NoError(t, err)
	assert.Equal(t, 18, st.EffectivePasswordMinLength())
	_, err = e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "lou@example.com", Name: "Lou", Role: e.roles[access.KindAgent]})
	require.NoError(t, err)
	tok = e.linkFor(t, "lou@example.com")
	_, err = e.svc.AcceptInvitation(ctx, tok, authn.NewPassword("Kx9!mP2#vL-wq7Tz"), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrWeakPassword, "16 characters, below the 18 reported")
	_, err = e.svc.AcceptInvitation(ctx, tok, authn.NewPassword("Kx9!mP2#vL-wq7Tz.Rb"), authn.Meta{})
	assert.NoError(t, err, "19 characters")

	st.Retention = time.Minute
	_, err = e.svc.UpdateSettings(ctx, e.admin, st)
	assert.ErrorIs(t, err, authn.ErrInvalidSettings)
	_, err = e.svc.UpdateSettings(ctx, access.Subject{Tenant: e.tenant.ID, User: uuid.New()}, st)
	assert.ErrorIs(t, err, authn.ErrForbidden)
}

// TestSignInTimingDoesNotRevealUsers compares the median time of a failed sign-in for
// an unknown e-mail with that of a wrong password for a known one (ASVS 6.3.8). A
// missing dummy hash would make the unknown path two orders of magnitude faster.
func TestSignInTimingDoesNotRevealUsers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	hasher := authn.NewHasher(authn.HasherOptions{Params: authn.Params{Memory: 4096, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, InsecureAllowWeakParams: true})
	svc, err := authn.NewService(e.store, e.engine, authn.Options{Mailer: e.outbox, Hasher: hasher, Clock: e.clock.Now,
		LinkURL: func(authn.Purpose, authn.LinkToken) string { return "" }})
	require.NoError(t, err)
	e.onboard(t, "lee@example.com", access.KindAgent)
	// Give the known user a hash with the same parameters as the dummy.
	_, err = svc.Authenticate(ctx, e.tenant.ID, "lee@example.com", authn.NewPassword(goodPassword), authn.Meta{})
	require.NoError(t, err)

	measure := func(email string) time.Duration {
		start := time.Now()
		_, err := svc.Authenticate(ctx, e.tenant.ID, email, authn.NewPassword("definitely wrong pw"), authn.Meta{})
		require.ErrorIs(t, err, authn.ErrInvalidCredentials)
		return time.Since(start)
	}
	var known, unknown []time.Duration
	for i := 0; i < 15; i++ {
		known = append(known, measure("lee@example.com"))
		unknown = append(unknown, measure("nobody@example.com"))
	}
	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	mk, mu := median(known), median(unknown)
	t.Logf("median wrong password %v, unknown user %v", mk, mu)
	ratio := float64(mu) / float64(mk)
	assert.True(t, ratio > 0.5 && ratio < 2, "unknown-user and wrong-password sign-ins take similar time (ratio %.2f)", ratio)
}

// 6.3.8: while every hashing slot is taken (a flood of sign-ins), every sign-in gets
// ErrBusy, whether the account exists, is only invited, or the tenant does not exist:
// "busy" must not mean "this account exists".
func TestAuthenticateBusyDoesNotRevealUsers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.onboard(t, "dan@example.com", access.KindAgent)
	_, err := e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "ivy@example.com", Name: "Ivy", Role: e.roles[access.KindAgent]})
	require.NoError(t, err)

	h := authn.NewHasher(authn.HasherOptions{Params: authn.Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Slots: 1, QueueLen: -1, InsecureAllowWeakParams: true})
	svc, err := authn.NewService(e.store, e.engine, authn.Options{Mailer: e.outbox, Hasher: h,
		LinkURL: func(p authn.Purpose, tok authn.LinkToken) string { return "https://app.example/#" + tok.Reveal() },
		Audit:   audit.NewRecorder(e.store, audit.Options{Clock: e.clock.Now}), Clock: e.clock.Now})
	require.NoError(t, err)

	attempts := []struct {
		name   string
		tenant uuid.UUID
		email  string
	}{
		{"active user", e.tenant.ID, "dan@example.com"},
		{"invited user", e.tenant.ID, "ivy@example.com"},
		{"unknown user", e.tenant.ID, "nobody@example.com"},
		{"malformed e-mail", e.tenant.ID, "not an email"},
		{"unknown tenant", uuid.New(), "dan@example.com"},
	}
	release := authn.HoldHashSlots(h)
	for _, a := range attempts {
		_, err := svc.Authenticate(ctx, a.tenant, a.email, authn.NewPassword("wrong password, really"), authn.Meta{})
		assert.ErrorIs(t, err, authn.ErrBusy, a.name)
	}
	release()
	for _, a := range attempts {
		_, err := svc.Authenticate(ctx, a.tenant, a.email, authn.NewPassword("wrong password, really"), authn.Meta{})
		assert.ErrorIs(t, err, authn.ErrInvalidCredentials, a.name)
	}
}

// 8.2.4: a one-time link is a sign-in as far as the host is concerned, so the tenant's
// IP allowlist applies to it: an invited user is judged by the invitation's role, a
// reset by the member's. A refused use leaves the link open and is recorded.
func TestLinksHonourAllowlist(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	eve := e.onboard(t, "eve@example.com", access.KindAgent)
	_, err := e.acc.SetAllowlist(ctx, e.admin, []string{"203.0.113.0/24"})
	require.NoError(t, err)
	outside := authn.Meta{IP: netip.MustParseAddr("198.51.100.9")}
	inside := authn.Meta{IP: netip.MustParseAddr("203.0.113.7")}

	_, err = e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "ann@example.com", Name: "Ann", Role: e.roles[access.KindAgent]})
	require.NoError(t, err)
	tok := e.linkFor(t, "ann@example.com")
	_, err = e.svc.AcceptInvitation(ctx, tok, authn.NewPassword(goodPassword), outside)
	assert.ErrorIs(t, err, authn.ErrIPNotAllowed)
	_, err = e.svc.AcceptInvitation(ctx, tok, authn.NewPassword(goodPassword), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrIPNotAllowed, "an unknown address is outside every allowlist")
	_, err = e.svc.AcceptInvitation(ctx, tok, authn.NewPassword(goodPassword), inside)
	require.NoError(t, err, "the link stayed open")

	// The Admin role bypasses the allowlist, and an invitation to it carries that.
	_, err = e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "ada@example.com", Name: "Ada", Role: e.roles[access.KindAdmin]})
	require.NoError(t, err)
	_, err = e.svc.AcceptInvitation(ctx, e.linkFor(t, "ada@example.com"), authn.NewPassword(goodPassword), outside)
	require.NoError(t, err)

	require.NoError(t, e.svc.ForcePasswordReset(ctx, e.admin, eve.ID))
	tok = e.linkFor(t, "eve@example.com")
	_, err = e.svc.ResetPassword(ctx, tok, authn.NewPassword("another good passphrase 7"), outside)
	assert.ErrorIs(t, err, authn.ErrIPNotAllowed)
	_, err = e.svc.ResetPassword(ctx, tok, authn.NewPassword("another good passphrase 7"), inside)
	require.NoError(t, err)

	var denied []string
	for _, ev := range e.events(t, audit.KindChange) {
		if ev.Outcome == audit.Denied {
			denied = append(denied, ev.Action+":"+ev.Reason+":"+ev.Actor.IP.String())
			assert.Empty(t, ev.Changes, "a refused use changed nothing")
		}
	}
	assert.Equal(t, []string{"invitation.accept:ip_not_allowed:198.51.100.9", "invitation.accept:ip_not_allowed:invalid IP",
		"password.reset:ip_not_allowed:198.51.100.9"}, denied)
}
