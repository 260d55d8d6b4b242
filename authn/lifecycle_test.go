package authn_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// onlyAuthnAdmins onboards two Admins through invitations and removes the env's
// Admin (a member without an authn user) through access, leaving a and b the tenant's
// only Admins.
func (e *env) onlyAuthnAdmins(t *testing.T) (a, b authn.User) {
	t.Helper()
	a = e.onboard(t, "ada@example.com", access.KindAdmin)
	b = e.onboard(t, "bea@example.com", access.KindAdmin)
	require.NoError(t, e.acc.RemoveMember(context.Background(), access.System(e.tenant.ID), e.admin.User))
	return a, b
}

// onboardBy is onboard with another inviting actor.
func (e *env) onboardBy(t *testing.T, actor access.Subject, email string, kind access.RoleKind) authn.User {
	t.Helper()
	ctx := context.Background()
	_, err := e.svc.Invite(ctx, actor, authn.InviteRequest{Email: email, Name: "Test User", Role: e.roles[kind]})
	require.NoError(t, err)
	u, err := e.svc.AcceptInvitation(ctx, e.linkFor(t, email), authn.NewPassword(goodPassword), authn.Meta{})
	require.NoError(t, err)
	return u
}

// actionsOn returns the actions of the change events whose target is user.
func (e *env) actionsOn(t *testing.T, user uuid.UUID) []string {
	t.Helper()
	var out []string
	for _, ev := range e.events(t, audit.KindChange) {
		if ev.Target.ID == user.String() {
			out = append(out, ev.Action)
		}
	}
	return out
}

func (e *env) roleOf(t *testing.T, user uuid.UUID) (uuid.UUID, bool) {
	t.Helper()
	p, err := e.engine.Policy(context.Background(), e.tenant.ID)
	require.NoError(t, err)
	r, ok := p.Role(user)
	return r.ID, ok
}

// The last-Admin rule of access holds through authn: neither Remove nor Block takes the
// tenant's last Admin away, whoever asks (the system subject included), and the
// refusal is access.ErrLastAdmin, as access.Service.RemoveMember answers.
func TestLastAdminCannotBeRemovedOrBlocked(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.onboard(t, "ada@example.com", access.KindAdmin)
	system := access.System(e.tenant.ID)

	// The env's Admin has no authn user: it counts as an Admin who can sign in.
	require.NoError(t, e.svc.Block(ctx, e.admin, a.ID))
	require.NoError(t, e.svc.Unblock(ctx, e.admin, a.ID))
	require.NoError(t, e.acc.RemoveMember(ctx, system, e.admin.User))
	actionsBefore, sessionsBefore := e.actionsOn(t, a.ID), len(e.sess.calls)

	assert.ErrorIs(t, e.svc.Remove(ctx, system, a.ID), access.ErrLastAdmin)
	assert.ErrorIs(t, e.acc.RemoveMember(ctx, system, a.ID), access.ErrLastAdmin, "authn and access answer alike")
	assert.ErrorIs(t, e.svc.Block(ctx, system, a.ID), access.ErrLastAdmin)
	st, err := e.svc.Status(ctx, e.tenant.ID, a.ID)
	require.NoError(t, err)
	assert.Equal(t, authn.StatusActive, st)
	role, ok := e.roleOf(t, a.ID)
	assert.True(t, ok, "the membership is kept")
	assert.Equal(t, e.roles[access.KindAdmin], role)
	assert.Equal(t, actionsBefore, e.actionsOn(t, a.ID), "a refused change records no change event")
	assert.Len(t, e.sess.calls, sessionsBefore, "no session is ended")

	// With a second Admin, one of the two can be blocked and then removed; the other
	// is then the last Admin who can sign in.
	b := e.onboardBy(t, e.subject(a), "bea@example.com", access.KindAdmin)
	require.NoError(t, e.svc.Block(ctx, e.subject(b), a.ID))
	assert.ErrorIs(t, e.svc.Block(ctx, system, b.ID), access.ErrLastAdmin, "a blocked Admin cannot sign in")
	assert.ErrorIs(t, e.svc.Remove(ctx, system, b.ID), access.ErrLastAdmin, "only a blocked Admin would remain")
	require.NoError(t, e.svc.Archive(ctx, e.subject(b), a.ID), "moves between statuses that are not active are never refused")
	require.NoError(t, e.svc.Remove(ctx, e.subject(b), a.ID))
	assert.ErrorIs(t, e.svc.Remove(ctx, system, b.ID), access.ErrLastAdmin)
}

// gatedStore lets every DeleteUser and SetStatus call through only once `parties` of
// them have arrived: each caller has passed the service's own checks first, so the
// store alone settles the race.
type gatedStore struct {
	*memory.Store
	gate sync.WaitGroup
}

func (s *gatedStore) wait() { s.gate.Done(); s.gate.Wait() }

func (s *gatedStore) DeleteUser(ctx context.Context, tenant, user uuid.UUID, from []authn.Status, reason string, at time.Time, ev audit.Event) error {
	s.wait()
	return s.Store.DeleteUser(ctx, tenant, user, from, reason, at, ev)
}

func (s *gatedStore) SetStatus(ctx context.Context, tenant, user uuid.UUID, from, to authn.Status, at time.Time, ev audit.Event) error {
	s.wait()
	return s.Store.SetStatus(ctx, tenant, user, from, to, at, ev)
}

// Two Admins removing (or blocking) each other at the same instant: each call alone
// is allowed, so both pass the service's checks; the store refuses the second, and one
// Admin who can sign in remains.
func TestAdminsRemovingEachOtherConcurrently(t *testing.T) {
	ops := map[string]func(s *authn.Service, ctx context.Context, actor access.Subject, user uuid.UUID) error{
		"Remove": (*authn.Service).Remove,
		"Block":  (*authn.Service).Block,
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			a, b := e.onlyAuthnAdmins(t)
			gated := &gatedStore{Store: e.store}
			gated.gate.Add(2)
			svc, err := authn.NewService(gated, e.engine, authn.Options{Mailer: e.outbox,
				LinkURL: func(authn.Purpose, authn.LinkToken) string { return "https://app.example/" },
				Hasher:  fastHasher(), Clock: e.clock.Now, Audit: audit.NewRecorder(e.store, audit.Options{Clock: e.clock.Now})})
			require.NoError(t, err)

			errs := make([]error, 2)
			var wg sync.WaitGroup
			wg.Go(func() { errs[0] = op(svc, ctx, e.subject(a), b.ID) })
			wg.Go(func() { errs[1] = op(svc, ctx, e.subject(b), a.ID) })
			wg.Wait()

			refused := 0
			for _, err := range errs {
				if err != nil {
					assert.ErrorIs(t, err, access.ErrLastAdmin)
					refused++
				}
			}
			assert.Equal(t, 1, refused, "exactly one of the two is refused: %v", errs)
			active := 0
			for _, u := range []authn.User{a, b} {
				st, err := e.svc.Status(ctx, e.tenant.ID, u.ID)
				if errors.Is(err, authn.ErrUserDeleted) {
					continue
				}
				require.NoError(t, err)
				if _, ok := e.roleOf(t, u.ID); ok && st == authn.StatusActive {
					active++
				}
			}
			assert.Equal(t, 1, active, "one Admin who can sign in remains")
		})
	}
}

// Purge never deletes a tenant's last Admin member: the user is kept, reported, and
// deleted by the first Purge after the tenant has another Admin.
//
// The last-Admin rule keeps an Admin who can sign in once there is one, so the state
// arises only from an account that was never active: here, in a tenant with no other
// Admin, an invited user given the Admin role through access, whose account is then
// archived at the store (moves between statuses other than active are never refused).
func TestPurgeKeepsTheLastAdminMember(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	tenant, err := e.acc.CreateTenant(ctx, "Beta")
	require.NoError(t, err)
	system := access.System(tenant.ID)
	p, err := e.engine.Policy(ctx, tenant.ID)
	require.NoError(t, err)
	var adminRole uuid.UUID
	for _, r := range p.Roles() {
		if r.Kind == access.KindAdmin {
			adminRole = r.ID
		}
	}
	inv, err := e.svc.Invite(ctx, system, authn.InviteRequest{Email: "bea@example.com", Name: "Bea", Role: adminRole})
	require.NoError(t, err)
	b := inv.User
	_, err = e.acc.SetMember(ctx, system, b.ID, adminRole)
	require.NoError(t, err)
	ev := audit.Event{Tenant: tenant.ID, Kind: audit.KindChange, Action: "user.archive", Outcome: audit.Success}
	require.NoError(t, audit.Prepare(&ev, e.clock.Now()))
	require.NoError(t, e.store.SetStatus(ctx, tenant.ID, b.ID, authn.StatusInvited, authn.StatusArchived, e.clock.Now(), ev))

	after := e.clock.Now().Add(authn.DefaultRetention + time.Hour)
	rep, err := e.svc.Purge(ctx, after)
	require.NoError(t, err, "a kept user does not fail the purge of other tenants")
	assert.Empty(t, rep.Deleted)
	assert.Equal(t, []authn.UserRef{{Tenant: tenant.ID, User: b.ID}}, rep.Kept)
	st, err := e.svc.Status(ctx, tenant.ID, b.ID)
	require.NoError(t, err)
	assert.Equal(t, authn.StatusArchived, st)
	p, err = e.engine.Policy(ctx, tenant.ID)
	require.NoError(t, err)
	_, ok := p.Role(b.ID)
	assert.True(t, ok, "the tenant keeps its Admin member")

	_, err = e.acc.SetMember(ctx, system, uuid.New(), adminRole)
	require.NoError(t, err)
	rep, err = e.svc.Purge(ctx, after)
	require.NoError(t, err)
	assert.Equal(t, []authn.UserRef{{Tenant: tenant.ID, User: b.ID}}, rep.Deleted)
	assert.Empty(t, rep.Kept)
}

// userManager onboards a user whose custom role holds UserManagement (and EditProfile)
// only: they may invite Agents, never Admins.
func (e *env) userManager(t *testing.T) access.Subject {
	t.Helper()
	ctx := context.Background()
	um, err := e.acc.CreateRole(ctx, e.admin, access.RoleSpec{Name: "User manager", Rights: []access.Right{access.UserManagement, access.EditProfile}})
	require.NoError(t, err)
	u := e.onboard(t, "manager@example.com", access.KindAgent)
	_, err = e.acc.SetMember(ctx, e.admin, u.ID, um.ID)
	require.NoError(t, err)
	return e.subject(u)
}

// Nobody manages a user above them, also before the user has a membership: an invited
// user is judged by the role of their open invitation. A user manager who cannot
// invite an Admin cannot revoke, remove or re-invite (voiding the link of) a pending
// Admin either; a pending Agent they could have invited themselves they can. An Admin
// can do both.
func TestPendingInvitationIsManagedByItsRole(t *testing.T) {
	ctx := context.Background()
	ops := map[string]func(e *env, actor access.Subject, inv authn.Invitation) error{
		"RevokeInvitation": func(e *env, actor access.Subject, inv authn.Invitation) error {
			return e.svc.RevokeInvitation(ctx, actor, inv.User.ID)
		},
		"Remove": func(e *env, actor access.Subject, inv authn.Invitation) error {
			return e.svc.Remove(ctx, actor, inv.User.ID)
		},
		"re-Invite as Agent": func(e *env, actor access.Subject, inv authn.Invitation) error {
			_, err := e.svc.Invite(ctx, actor, authn.InviteRequest{Email: inv.User.Email, Name: "Renamed", Role: e.roles[access.KindAgent]})
			return err
		},
	}
	pending := func(t *testing.T, e *env, email string, kind access.RoleKind) authn.Invitation {
		t.Helper()
		inv, err := e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: email, Name: "Pending", Role: e.roles[kind]})
		require.NoError(t, err)
		return inv
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			mgr := e.userManager(t)

			boss := pending(t, e, "boss@example.com", access.KindAdmin)
			actionsBefore := e.actionsOn(t, boss.User.ID)
			assert.ErrorIs(t, op(e, mgr, boss), authn.ErrForbidden, "a pending Admin is above a user manager")
			open, err := e.store.OpenInvitation(ctx, e.tenant.ID, boss.User.ID, e.clock.Now())
			require.NoError(t, err, "the Admin invitation is still open")
			assert.Equal(t, boss.Ticket, open.ID, "and its link was not voided")
			st, err := e.svc.Status(ctx, e.tenant.ID, boss.User.ID)
			require.NoError(t, err)
			assert.Equal(t, authn.StatusInvited, st)
			assert.Equal(t, actionsBefore, e.actionsOn(t, boss.User.ID), "a refused change records no change event")

			agent := pending(t, e, "agent@example.com", access.KindAgent)
			assert.NoError(t, op(e, mgr, agent), "a pending Agent is not above a user manager")

			assert.NoError(t, op(e, e.admin, boss), "an Admin manages a pending Admin")
		})
	}
}

// A user with neither a membership nor an open invitation (their membership was
// removed through access, or their invitation revoked or expired) has no known role:
// only who holds every right manages them.
func TestUserWithoutRoleIsManagedByAdminsOnly(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	mgr := e.userManager(t)

	former := e.onboard(t, "former@example.com", access.KindAdmin)
	require.NoError(t, e.acc.RemoveMember(ctx, e.admin, former.ID))
	assert.ErrorIs(t, e.svc.Block(ctx, mgr, former.ID), authn.ErrForbidden, "a former Admin's role is not known")
	assert.ErrorIs(t, e.svc.Remove(ctx, mgr, former.ID), authn.ErrForbidden)
	assert.ErrorIs(t, e.svc.ForcePasswordReset(ctx, mgr, former.ID), authn.ErrForbidden)

	inv, err := e.svc.Invite(ctx, mgr, authn.InviteRequest{Email: "lapsed@example.com", Name: "Lapsed", Role: e.roles[access.KindAgent]})
	require.NoError(t, err)
	e.clock.Advance(authn.DefaultInvitationTTL + time.Second)
	_, err = e.svc.Invite(ctx, mgr, authn.InviteRequest{Email: "lapsed@example.com", Name: "Lapsed", Role: e.roles[access.KindAgent]})
	assert.ErrorIs(t, err, authn.ErrForbidden, "the expired invitation no longer says whom it was for")
	assert.ErrorIs(t, e.svc.Remove(ctx, mgr, inv.User.ID), authn.ErrForbidden)

	require.NoError(t, e.svc.Block(ctx, e.admin, former.ID))
	_, err = e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "lapsed@example.com", Name: "Lapsed", Role: e.roles[access.KindAgent]})
	require.NoError(t, err, "an Admin re-invites")
	assert.NoError(t, e.svc.Remove(ctx, mgr, inv.User.ID), "and the open Agent invitation makes the user a user manager's again")
}

// access.Service counts Admins as the store does: with authn wired over the same store,
// it keeps the last Admin who can sign in, not only the last Admin member, so access
// cannot take away the one active Admin while a blocked one remains.
func TestAccessKeepsTheLastAdminWhoCanSignIn(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.onlyAuthnAdmins(t)
	system := access.System(e.tenant.ID)
	require.NoError(t, e.svc.Block(ctx, e.subject(a), b.ID))

	assert.ErrorIs(t, e.acc.RemoveMember(ctx, system, a.ID), access.ErrLastAdmin)
	_, err := e.acc.SetMember(ctx, system, a.ID, e.roles[access.KindAgent])
	assert.ErrorIs(t, err, access.ErrLastAdmin)
	role, ok := e.roleOf(t, a.ID)
	assert.True(t, ok)
	assert.Equal(t, e.roles[access.KindAdmin], role, "a is still Admin")

	require.NoError(t, e.svc.Unblock(ctx, e.subject(a), b.ID))
	_, err = e.acc.SetMember(ctx, system, a.ID, e.roles[access.KindAgent])
	require.NoError(t, err, "with b active, a can be demoted")
	_, err = e.acc.SetMember(ctx, system, a.ID, e.roles[access.KindAdmin])
	require.NoError(t, err)
	require.NoError(t, e.acc.RemoveMember(ctx, system, a.ID), "and removed")
}

// PurgeTenant deletes the actor's tenant's archived users past retention and leaves
// every other tenant's alone, however long they have been archived; the scheduled
// Purge still deletes them. It needs UserManagement.
func TestPurgeTenantActsOnTheCallersTenantOnly(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	archive := func(tenant, user uuid.UUID, from authn.Status) {
		ev := audit.Event{Tenant: tenant, Kind: audit.KindChange, Action: "user.archive", Outcome: audit.Success}
		require.NoError(t, audit.Prepare(&ev, e.clock.Now()))
		require.NoError(t, e.store.SetStatus(ctx, tenant, user, from, authn.StatusArchived, e.clock.Now(), ev))
	}
	mine := e.onboard(t, "mine@example.com", access.KindAgent)
	archive(e.tenant.ID, mine.ID, authn.StatusActive)

	other, err := e.acc.CreateTenant(ctx, "Other")
	require.NoError(t, err)
	system := access.System(other.ID)
	p, err := e.engine.Policy(ctx, other.ID)
	require.NoError(t, err)
	var agentRole uuid.UUID
	for _, r := range p.Roles() {
		if r.Kind == access.KindAgent {
			agentRole = r.ID
		}
	}
	inv, err := e.svc.Invite(ctx, system, authn.InviteRequest{Email: "theirs@example.com", Name: "Theirs", Role: agentRole})
	require.NoError(t, err)
	theirs := inv.User
	archive(other.ID, theirs.ID, authn.StatusInvited)

	after := e.clock.Now().Add(authn.DefaultRetention + time.Hour)
	_, err = e.svc.PurgeTenant(ctx, e.subject(mine), after)
	assert.ErrorIs(t, err, authn.ErrForbidden, "an archived user holds no right")

	rep, err := e.svc.PurgeTenant(ctx, e.admin, e.clock.Now().Add(authn.DefaultRetention-time.Hour))
	require.NoError(t, err)
	assert.Empty(t, rep.Deleted, "kept during the retention period")

	rep, err = e.svc.PurgeTenant(ctx, e.admin, after)
	require.NoError(t, err)
	assert.Equal(t, []authn.UserRef{{Tenant: e.tenant.ID, User: mine.ID}}, rep.Deleted)
	st, err := e.svc.Status(ctx, e.tenant.ID, mine.ID)
	require.NoError(t, err)
	assert.Equal(t, authn.StatusDeleted, st)
	st, err = e.svc.Status(ctx, other.ID, theirs.ID)
	require.NoError(t, err)
	assert.Equal(t, authn.StatusArchived, st, "another tenant's archived user survives")
	got, err := e.svc.User(ctx, system, theirs.ID)
	require.NoError(t, err)
	assert.Equal(t, "theirs@example.com", got.Email, "and keeps their data")

	rep, err = e.svc.Purge(ctx, after)
	require.NoError(t, err)
	assert.Equal(t, []authn.UserRef{{Tenant: other.ID, User: theirs.ID}}, rep.Deleted, "the scheduled purge still covers every tenant")
}
