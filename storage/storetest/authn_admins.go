package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The last-Admin rule of the authn mutations: a tenant keeps an Admin who can sign in.
// access.Store's SetMember and RemoveMember refuse to leave a tenant without an Admin
// member; authn.Store's DeleteUser removes memberships and SetStatus takes sign-in
// away, so they hold the same rule, checked under the tenant's lock in the same unit
// of work, and answer access.ErrLastAdmin having changed nothing (no event appended).
//
// An Admin "can sign in" when their authn user is active, or when they have no authn
// user at all (a host may use access without authn). DeleteUser refuses when no other
// Admin member would remain, or when the user can sign in and no other Admin who can
// sign in would remain; SetStatus from active to another status refuses when no other
// Admin who can sign in would remain. Moves between statuses that are not active, and
// moves to active, are never refused by this rule.
//
// It is one rule: access.Store's RemoveMember, and SetMember giving an Admin a role of
// another kind, refuse exactly as DeleteUser does (a store that keeps accounts counts
// the Admins who can sign in, not only the Admin members), so that access cannot take
// away the only Admin who can sign in while a blocked or archived one remains.

// activeAdmin stores a user of tn who accepted an invitation to the Admin role.
func (f *fx) activeAdmin(tn tenantFx, email string) authn.User {
	f.t.Helper()
	_, tk := f.inviteTo(tn.ID, tn.Admin.ID, email)
	return f.accept(tk)
}

// signInAdmins returns the tenant's Admin members who can sign in (active authn user,
// or no authn user).
func (f *fx) signInAdmins(tn tenantFx) []uuid.UUID {
	f.t.Helper()
	ms, err := f.s.Access.Members(f.ctx, tn.ID)
	require.NoError(f.t, err)
	var out []uuid.UUID
	for _, m := range ms {
		if m.Role != tn.Admin.ID {
			continue
		}
		u, err := f.s.Authn.User(f.ctx, tn.ID, m.User)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			out = append(out, m.User)
		case assert.NoError(f.t, err) && u.Status == authn.StatusActive:
			out = append(out, m.User)
		}
	}
	return out
}

// adminMembers returns the tenant's Admin members.
func (f *fx) adminMembers(tn tenantFx) []uuid.UUID {
	f.t.Helper()
	ms, err := f.s.Access.Members(f.ctx, tn.ID)
	require.NoError(f.t, err)
	var out []uuid.UUID
	for _, m := range ms {
		if m.Role == tn.Admin.ID {
			out = append(out, m.User)
		}
	}
	return out
}

// setRole is the SetMember that gives user the role, as access.Service would.
func (f *fx) setRole(tenant, user, role uuid.UUID, ev audit.Event) error {
	return f.s.Access.SetMember(f.ctx, access.Member{Tenant: tenant, User: user, Role: role,
		CreatedAt: later, UpdatedAt: later}, ev)
}

// assertNoEvent checks that the tenant's audit trail holds no event with id.
func (f *fx) assertNoEvent(tenant, id uuid.UUID, msgAndArgs ...any) {
	f.t.Helper()
	assert.NotContains(f.t, eventIDs(f.allEvents(tenant)), id, msgAndArgs...)
}

var everyStatus = []authn.Status{authn.StatusInvited, authn.StatusActive, authn.StatusBlocked, authn.StatusArchived}

var lastAdminCases = []testCase{
	{"DeleteUser of the tenant's last Admin member is ErrLastAdmin and changes nothing, whatever their status", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		a := f.activeAdmin(tn, "ann@example.com")
		agent, _ := f.activeUser(tn, "gus@example.com")

		before := f.accounts(tn.ID, []uuid.UUID{a.ID, agent.ID})
		ev := changeEvent(t, tn.ID, "user.remove")
		err := f.s.Authn.DeleteUser(f.ctx, tn.ID, a.ID, everyStatus, authn.ReasonRemoved, later, ev)
		assert.ErrorIs(t, err, access.ErrLastAdmin, "the only Admin, active")
		f.assertAccountsUnchanged(before, tn.ID, "a refused DeleteUser changes nothing and appends no event")
		f.assertNoEvent(tn.ID, ev.ID)

		// Another user's deletion is not this rule's business.
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, agent.ID, everyStatus, authn.ReasonRemoved, later, changeEvent(t, tn.ID, "user.remove")))

		// The last Admin member cannot sign in. Once an Admin can sign in the rule keeps
		// one who can, so this arises from an account that never was active: an invited
		// user given the Admin role through SetMember (a promotion is never refused),
		// then moved to blocked and archived (moves from a status other than active are
		// never refused). Deleting them, whatever their status, as Purge would, is
		// refused too.
		tn = f.createTenant("Beta")
		b, _ := f.inviteTo(tn.ID, tn.Agent.ID, "bob@example.com")
		require.NoError(t, f.setRole(tn.ID, b.ID, tn.Admin.ID, changeEvent(t, tn.ID, "member.set_role")))
		for _, to := range []authn.Status{authn.StatusInvited, authn.StatusBlocked, authn.StatusArchived} {
			if b.Status != to {
				b = f.setStatus(b, to, later)
			}
			before := f.accounts(tn.ID, []uuid.UUID{b.ID})
			ev := changeEvent(t, tn.ID, "user.purge")
			err := f.s.Authn.DeleteUser(f.ctx, tn.ID, b.ID, everyStatus, authn.ReasonRetention, later, ev)
			assert.ErrorIs(t, err, access.ErrLastAdmin, "the only Admin member, %s", to)
			f.assertAccountsUnchanged(before, tn.ID, to)
			f.assertNoEvent(tn.ID, ev.ID)
		}

		// With another Admin member (no authn user), the archived Admin can go.
		other := f.setMember(tn.ID, tn.Admin.ID)
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, b.ID, everyStatus, authn.ReasonRetention, later, changeEvent(t, tn.ID, "user.purge")))
		assert.Equal(t, []uuid.UUID{other.User}, f.adminMembers(tn))
	}},
	{"DeleteUser of the last Admin who can sign in is ErrLastAdmin while the other Admins are blocked", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		a := f.activeAdmin(tn, "ann@example.com")
		b := f.setStatus(f.activeAdmin(tn, "bob@example.com"), authn.StatusBlocked, later)

		before := f.accounts(tn.ID, []uuid.UUID{a.ID, b.ID})
		ev := changeEvent(t, tn.ID, "user.remove")
		err := f.s.Authn.DeleteUser(f.ctx, tn.ID, a.ID, everyStatus, authn.ReasonRemoved, later, ev)
		assert.ErrorIs(t, err, access.ErrLastAdmin, "removing the active Admin would leave only a blocked one")
		f.assertAccountsUnchanged(before, tn.ID)
		f.assertNoEvent(tn.ID, ev.ID)

		// The blocked Admin can go: the active one stays.
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, b.ID, everyStatus, authn.ReasonRemoved, later, changeEvent(t, tn.ID, "user.remove")))
		assert.Equal(t, []uuid.UUID{a.ID}, f.signInAdmins(tn))

		// An Admin member without an authn user can sign in (by the host's means): with
		// one, the active Admin can go.
		other := f.setMember(tn.ID, tn.Admin.ID)
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, a.ID, everyStatus, authn.ReasonRemoved, later, changeEvent(t, tn.ID, "user.remove")))
		assert.Equal(t, []uuid.UUID{other.User}, f.signInAdmins(tn))
	}},
	{"SetStatus taking sign-in from the last Admin who can sign in is ErrLastAdmin and changes nothing", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		a := f.activeAdmin(tn, "ann@example.com")
		agent, _ := f.activeUser(tn, "gus@example.com")

		before := f.accounts(tn.ID, []uuid.UUID{a.ID, agent.ID})
		for _, to := range []authn.Status{authn.StatusBlocked, authn.StatusArchived, authn.StatusInvited} {
			ev := changeEvent(t, tn.ID, "user.block")
			err := f.s.Authn.SetStatus(f.ctx, tn.ID, a.ID, authn.StatusActive, to, later, ev)
			assert.ErrorIs(t, err, access.ErrLastAdmin, "active to %s", to)
			f.assertNoEvent(tn.ID, ev.ID)
		}
		f.assertAccountsUnchanged(before, tn.ID, "a refused SetStatus changes nothing and appends no event")
		// A user who is not an Admin is not this rule's business.
		f.setStatus(agent, authn.StatusBlocked, later)

		// With a second active Admin one of them can be blocked, not both.
		b := f.activeAdmin(tn, "bob@example.com")
		a = f.setStatus(a, authn.StatusBlocked, later)
		before = f.accounts(tn.ID, []uuid.UUID{a.ID, b.ID})
		ev := changeEvent(t, tn.ID, "user.block")
		assert.ErrorIs(t, f.s.Authn.SetStatus(f.ctx, tn.ID, b.ID, authn.StatusActive, authn.StatusBlocked, later, ev), access.ErrLastAdmin)
		f.assertAccountsUnchanged(before, tn.ID)
		f.assertNoEvent(tn.ID, ev.ID)

		// Moves between statuses that are not active, and to active, are never refused.
		a = f.setStatus(a, authn.StatusArchived, later)
		a = f.setStatus(a, authn.StatusBlocked, later)
		a = f.setStatus(a, authn.StatusActive, later)
		assert.ElementsMatch(t, []uuid.UUID{a.ID, b.ID}, f.signInAdmins(tn))

		// An Admin member without an authn user counts as one who can sign in.
		c := f.setMember(tn.ID, tn.Admin.ID)
		a = f.setStatus(a, authn.StatusBlocked, later)
		f.setStatus(b, authn.StatusBlocked, later)
		assert.Equal(t, []uuid.UUID{c.User}, f.signInAdmins(tn))
	}},
	// The race the rule exists for: two Admins remove (or block) each other at once.
	// Each call alone would be allowed; the store serialises them under the tenant's
	// lock, so exactly one succeeds and the other is ErrLastAdmin with no event.
	{"concurrent removals, blocks, or a removal and a block of the last two Admins: exactly one succeeds", func(t *testing.T, f *fx) {
		type op struct {
			name string
			do   func(f *fx, u authn.User, ev audit.Event) error
		}
		remove := op{"DeleteUser", func(f *fx, u authn.User, ev audit.Event) error {
			return f.s.Authn.DeleteUser(f.ctx, u.Tenant, u.ID, everyStatus, authn.ReasonRemoved, later, ev)
		}}
		block := op{"SetStatus", func(f *fx, u authn.User, ev audit.Event) error {
			return f.s.Authn.SetStatus(f.ctx, u.Tenant, u.ID, authn.StatusActive, authn.StatusBlocked, later, ev)
		}}
		for _, pair := range [][2]op{{remove, remove}, {block, block}, {remove, block}, {block, remove}} {
			for round := range 5 {
				tn := f.createTenant(fmt.Sprintf("Acme %s %s %d", pair[0].name, pair[1].name, round))
				users := []authn.User{f.activeAdmin(tn, "ann@example.com"), f.activeAdmin(tn, "bob@example.com")}
				evs := []audit.Event{changeEvent(t, tn.ID, "user.change"), changeEvent(t, tn.ID, "user.change")}
				errs := race(2, func(i int) error { return pair[i].do(f, users[i], evs[i]) })

				msg := fmt.Sprintf("%s and %s, round %d", pair[0].name, pair[1].name, round)
				winner := oneWinner(t, errs, access.ErrLastAdmin)
				if winner < 0 {
					continue
				}
				loser := 1 - winner
				assert.Equal(t, []uuid.UUID{users[loser].ID}, f.signInAdmins(tn), "%s: the loser is still an active Admin", msg)
				ids := eventIDs(f.allEvents(tn.ID))
				assert.Contains(t, ids, evs[winner].ID, msg)
				assert.NotContains(t, ids, evs[loser].ID, "%s: the refused call appended its event", msg)
			}
		}
	}},
	// The access and authn mutations share one lock and one rule: RemoveMember of one
	// Admin racing with DeleteUser of the other leaves one of them. The goroutines
	// swap places every round, so that either call is likelier to come first in some.
	{"concurrent RemoveMember and DeleteUser of the last two Admins: exactly one succeeds", func(t *testing.T, f *fx) {
		for round := range 10 {
			tn := f.createTenant(fmt.Sprintf("Acme %d", round))
			a, b := f.activeAdmin(tn, "ann@example.com"), f.activeAdmin(tn, "bob@example.com")
			evs := []audit.Event{changeEvent(t, tn.ID, "member.remove"), changeEvent(t, tn.ID, "user.remove")}
			errs := race(2, func(i int) error {
				if i == round%2 {
					return f.s.Access.RemoveMember(f.ctx, tn.ID, a.ID, evs[0])
				}
				return f.s.Authn.DeleteUser(f.ctx, tn.ID, b.ID, everyStatus, authn.ReasonRemoved, later, evs[1])
			})
			if round%2 == 1 {
				errs[0], errs[1] = errs[1], errs[0]
			}
			winner := oneWinner(t, errs, access.ErrLastAdmin)
			admins := f.adminMembers(tn)
			assert.Len(t, admins, 1, "round %d", round)
			if winner >= 0 {
				assert.NotContains(t, eventIDs(f.allEvents(tn.ID)), evs[1-winner].ID, "round %d", round)
				assert.True(t, slices.Contains(admins, []uuid.UUID{b.ID, a.ID}[winner]), "round %d: the loser's Admin stays", round)
			}
		}
	}},
	{"RemoveMember and SetMember of the last Admin who can sign in are ErrLastAdmin while the other Admins are blocked or archived", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		a := f.activeAdmin(tn, "ann@example.com")
		b := f.setStatus(f.activeAdmin(tn, "bob@example.com"), authn.StatusBlocked, later)
		for _, st := range []authn.Status{authn.StatusBlocked, authn.StatusArchived} {
			if b.Status != st {
				b = f.setStatus(b, st, later)
			}
			before := f.accounts(tn.ID, []uuid.UUID{a.ID, b.ID})
			ev := changeEvent(t, tn.ID, "member.remove")
			assert.ErrorIs(t, f.s.Access.RemoveMember(f.ctx, tn.ID, a.ID, ev), access.ErrLastAdmin,
				"removing the active Admin would leave only a %s one", st)
			f.assertNoEvent(tn.ID, ev.ID)
			for _, role := range []access.Role{tn.Agent, tn.Supervisor} {
				ev := changeEvent(t, tn.ID, "member.set_role")
				assert.ErrorIs(t, f.setRole(tn.ID, a.ID, role.ID, ev), access.ErrLastAdmin,
					"demoting the active Admin to %s would leave only a %s one", role.Name, st)
				f.assertNoEvent(tn.ID, ev.ID)
			}
			f.assertAccountsUnchanged(before, tn.ID, "a refused change changes nothing and appends no event (%s)", st)
		}
		assert.Equal(t, []uuid.UUID{a.ID}, f.signInAdmins(tn))

		// The Admin who cannot sign in is not the last one who can: they may go.
		require.NoError(t, f.setRole(tn.ID, b.ID, tn.Agent.ID, changeEvent(t, tn.ID, "member.set_role")))
		assert.Equal(t, []uuid.UUID{a.ID}, f.adminMembers(tn))
		// An Admin member without an authn user can sign in (by the host's means).
		other := f.setMember(tn.ID, tn.Admin.ID)
		require.NoError(t, f.setRole(tn.ID, a.ID, tn.Agent.ID, changeEvent(t, tn.ID, "member.set_role")))
		assert.Equal(t, []uuid.UUID{other.User}, f.signInAdmins(tn))
	}},
	{"RemoveMember and SetMember of an active Admin succeed while another Admin is active", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		a := f.activeAdmin(tn, "ann@example.com")
		b := f.setStatus(f.activeAdmin(tn, "bob@example.com"), authn.StatusBlocked, later)
		f.setStatus(b, authn.StatusActive, later)

		ev := changeEvent(t, tn.ID, "member.set_role")
		require.NoError(t, f.setRole(tn.ID, a.ID, tn.Agent.ID, ev))
		assert.Contains(t, eventIDs(f.allEvents(tn.ID)), ev.ID)
		assert.Equal(t, []uuid.UUID{b.ID}, f.signInAdmins(tn))

		require.NoError(t, f.setRole(tn.ID, a.ID, tn.Admin.ID, changeEvent(t, tn.ID, "member.set_role")), "a promotion is never refused")
		ev = changeEvent(t, tn.ID, "member.remove")
		require.NoError(t, f.s.Access.RemoveMember(f.ctx, tn.ID, a.ID, ev))
		assert.Contains(t, eventIDs(f.allEvents(tn.ID)), ev.ID)
		assert.Equal(t, []uuid.UUID{b.ID}, f.signInAdmins(tn))

		// b is now the last Admin who can sign in, and the last Admin member.
		assert.ErrorIs(t, f.s.Access.RemoveMember(f.ctx, tn.ID, b.ID, changeEvent(t, tn.ID, "member.remove")), access.ErrLastAdmin)
		assert.ErrorIs(t, f.setRole(tn.ID, b.ID, tn.Agent.ID, changeEvent(t, tn.ID, "member.set_role")), access.ErrLastAdmin)
	}},
}
