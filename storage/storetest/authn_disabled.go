package storetest

import (
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// disabledMemberCases hold a store that keeps accounts to access.Member.Disabled: every
// read of a membership (Member, Members, LoadPolicy) marks a member whose authn user
// exists and is not active, so that access.Compile grants a blocked, archived or
// invited user nothing whichever caller asks. A member without an account is never
// disabled, and SetMember never stores the flag it is given.
var disabledMemberCases = []testCase{
	// A host that used access before authn has members without accounts; an invited
	// account for one of them takes sign-in away (invited is not active), so the
	// member is disabled: the policy version must move, with that user in the change
	// log, or every engine keeps granting them their role.
	{"CreateInvitation of a user who is already a member disables them and moves the policy version", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		m := access.Member{Tenant: tn.ID, User: newID(), Role: tn.Agent.ID, CreatedAt: later, UpdatedAt: later}
		require.NoError(t, f.s.Access.SetMember(f.ctx, m, changeEvent(t, tn.ID, "member.set")))
		e := access.NewEngine(f.s.Access, access.EngineOptions{})
		pol, err := e.Policy(f.ctx, tn.ID)
		require.NoError(t, err)
		s := access.Subject{Tenant: tn.ID, User: m.User}
		require.True(t, pol.Check(s, access.EditProfile, uuid.Nil), "a member without an account holds their role")
		v := f.policyVersion(tn.ID)

		u := userValue(tn.ID, "ann@example.com", "Ann")
		u.ID = m.User
		require.NoError(t, f.s.Authn.CreateInvitation(f.ctx, u, invitationValue(u, tn.Agent.ID), changeEvent(t, tn.ID, "user.invite")))
		assert.Equal(t, v+1, f.policyVersion(tn.ID), "the invitation disabled a member: the policy changed once")
		got, err := f.s.Access.Member(f.ctx, tn.ID, m.User)
		require.NoError(t, err)
		assert.True(t, got.Disabled)
		if cs, ok := f.s.Access.(access.ChangeStore); ok {
			ch, err := cs.PolicyChanges(f.ctx, tn.ID, v)
			require.NoError(t, err)
			assert.False(t, ch.Full, "the change is itemised")
			assert.Equal(t, []uuid.UUID{m.User}, ch.Users, "exactly the invited member changed")
			if assert.Len(t, ch.Members, 1) {
				assert.True(t, ch.Members[0].Disabled)
			}
			assert.False(t, ch.RolesChanged || ch.ProjectsChanged || ch.AllowlistChanged || ch.Tenant != nil)
		}
		pol, err = e.Policy(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.False(t, pol.Check(s, access.EditProfile, uuid.Nil), "the engine sees the member disabled")

		// Inviting a user who is no member changes no policy.
		f.invite(tn, "bob@example.com")
		assert.Equal(t, v+1, f.policyVersion(tn.ID), "an invitation of a non-member leaves the policy version")
	}},
	{"Member, Members and LoadPolicy mark members whose account may not sign in as Disabled", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		p := f.createProject(tn.ID, "Sales")
		active, _ := f.activeUser(tn, "active@example.com", p.ID)
		blocked, _ := f.activeUser(tn, "blocked@example.com", p.ID)
		archived, _ := f.activeUser(tn, "archived@example.com")
		blocked = f.setStatus(blocked, authn.StatusBlocked, later)
		archived = f.setStatus(archived, authn.StatusBlocked, later)
		archived = f.setStatus(archived, authn.StatusArchived, later.Add(time.Hour))
		// An invited user made a member through access (a host's provisioning path).
		invited, _ := f.invite(tn, "invited@example.com")
		require.NoError(t, f.s.Access.SetMember(f.ctx, access.Member{Tenant: tn.ID, User: invited.ID, Role: tn.Agent.ID,
			CreatedAt: later, UpdatedAt: later, Disabled: false}, changeEvent(t, tn.ID, "member.set")))
		// A member with no account, given Disabled: true, which is never stored.
		noAccount := access.Member{Tenant: tn.ID, User: newID(), Role: tn.Agent.ID, CreatedAt: later, UpdatedAt: later, Disabled: true}
		require.NoError(t, f.s.Access.SetMember(f.ctx, noAccount, changeEvent(t, tn.ID, "member.set")))

		want := map[uuid.UUID]bool{active.ID: false, blocked.ID: true, archived.ID: true, invited.ID: true, noAccount.User: false}
		pd, err := f.s.Access.LoadPolicy(f.ctx, tn.ID)
		require.NoError(t, err)
		ms, err := f.s.Access.Members(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, policyView(access.PolicyData{Members: ms}).Members, policyView(pd).Members, "Members and LoadPolicy agree")
		got := map[uuid.UUID]bool{}
		for _, m := range pd.Members {
			got[m.User] = m.Disabled
			one, err := f.s.Access.Member(f.ctx, tn.ID, m.User)
			require.NoError(t, err)
			assert.Equal(t, m.Disabled, one.Disabled, "Member of %s", m.User)
		}
		assert.Equal(t, want, got)

		// What the policy compiled from it decides.
		pol := access.Compile(pd)
		for user, disabled := range want {
			s := access.Subject{Tenant: tn.ID, User: user}
			assert.Equal(t, !disabled, pol.Check(s, access.EditProfile, uuid.Nil), "tenant right of %s", user)
		}
		assert.True(t, pol.Check(access.Subject{Tenant: tn.ID, User: active.ID}, access.EditProfile, p.ID))
		assert.False(t, pol.Check(access.Subject{Tenant: tn.ID, User: blocked.ID}, access.EditProfile, p.ID),
			"a blocked project member holds nothing in the project")
	}},
	{"unblocking enables the member again and moves the policy version", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		u, _ := f.activeUser(tn, "ann@example.com")
		u = f.setStatus(u, authn.StatusBlocked, later)
		v := f.policyVersion(tn.ID)
		m, err := f.s.Access.Member(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.True(t, m.Disabled)
		f.setStatus(u, authn.StatusActive, later.Add(time.Minute))
		assert.Equal(t, v+1, f.policyVersion(tn.ID), "unblocking moves the policy version")
		m, err = f.s.Access.Member(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.False(t, m.Disabled)
	}},
}
