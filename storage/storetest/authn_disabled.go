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
		assert.Equal(t, pd.Members, ms, "Members and LoadPolicy agree")
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
