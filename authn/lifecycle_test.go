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
func TestPurgeKeepsTheLastAdminMember(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.onlyAuthnAdmins(t)
	system := access.System(e.tenant.ID)
	require.NoError(t, e.svc.Block(ctx, e.subject(a), b.ID))
	require.NoError(t, e.svc.Archive(ctx, e.subject(a), b.ID))
	// access counts members only: the archived b is still an Admin member.
	require.NoError(t, e.acc.RemoveMember(ctx, system, a.ID))

	after := e.clock.Now().Add(authn.DefaultRetention + time.Hour)
	rep, err := e.svc.Purge(ctx, after)
	require.NoError(t, err, "a kept user does not fail the purge of other tenants")
	assert.Empty(t, rep.Deleted)
	assert.Equal(t, []authn.UserRef{{Tenant: e.tenant.ID, User: b.ID}}, rep.Kept)
	st, err := e.svc.Status(ctx, e.tenant.ID, b.ID)
	require.NoError(t, err)
	assert.Equal(t, authn.StatusArchived, st)
	_, ok := e.roleOf(t, b.ID)
	assert.True(t, ok, "the tenant keeps its Admin member")
	assert.NotContains(t, e.actionsOn(t, b.ID), "user.purge")

	_, err = e.acc.SetMember(ctx, system, uuid.New(), e.roles[access.KindAdmin])
	require.NoError(t, err)
	rep, err = e.svc.Purge(ctx, after)
	require.NoError(t, err)
	assert.Equal(t, []authn.UserRef{{Tenant: e.tenant.ID, User: b.ID}}, rep.Deleted)
	assert.Empty(t, rep.Kept)
}
