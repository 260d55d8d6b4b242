package access_test

import (
	"context"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Policy.Privilege is a fingerprint of who holds which role where: it changes with the
// tenant role and with each project membership's role, it is the same for the same
// assignments however the policy was built (a fresh compile on another engine, or
// the incremental refresh after a change and its undo), a role's rights edit leaves it,
// and a non-member is 0. Privilege does not allocate (it runs on every request).
func TestPrivilege(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	sys := access.System(w.tenant.ID)
	fresh := func() *access.Policy {
		p, err := access.NewEngine(w.store, access.EngineOptions{}).Policy(ctx, w.tenant.ID)
		require.NoError(t, err)
		return p
	}
	p := w.policy(t)
	base := p.Privilege(w.agentID)
	assert.NotZero(t, base)
	assert.Zero(t, p.Privilege(uuid.New()), "a non-member")
	assert.NotEqual(t, base, p.Privilege(w.supervisorID), "another role")
	assert.Equal(t, []uuid.UUID{w.roles[access.KindAgent].ID}, p.MemberRoles(w.agentID))

	a, err := w.svc.CreateProject(ctx, sys, "A")
	require.NoError(t, err)
	b, err := w.svc.CreateProject(ctx, sys, "B")
	require.NoError(t, err)
	_, err = w.svc.AddProjectMember(ctx, sys, a.ID, w.agentID, uuid.Nil)
	require.NoError(t, err)
	inA := w.policy(t).Privilege(w.agentID)
	assert.NotEqual(t, base, inA, "a project membership")
	_, err = w.svc.AddProjectMember(ctx, sys, b.ID, w.agentID, w.roles[access.KindSupervisor].ID)
	require.NoError(t, err)
	p = w.policy(t)
	both := p.Privilege(w.agentID)
	assert.NotEqual(t, inA, both, "an override role in another project")
	assert.Equal(t, []uuid.UUID{w.roles[access.KindAgent].ID, w.roles[access.KindSupervisor].ID}, p.MemberRoles(w.agentID))
	assert.Equal(t, both, fresh().Privilege(w.agentID), "the same on a freshly compiled policy")

	require.NoError(t, w.svc.RemoveProjectMember(ctx, sys, a.ID, w.agentID))
	_, err = w.svc.AddProjectMember(ctx, sys, a.ID, w.agentID, uuid.Nil)
	require.NoError(t, err)
	assert.Equal(t, both, w.policy(t).Privilege(w.agentID), "undone and redone: the same fingerprint")

	_, err = w.svc.SetMember(ctx, sys, w.agentID, w.roles[access.KindSupervisor].ID)
	require.NoError(t, err)
	promoted := w.policy(t).Privilege(w.agentID)
	assert.NotEqual(t, both, promoted, "a tenant role change")

	custom, err := w.svc.CreateRole(ctx, sys, access.RoleSpec{Name: "Night shift", Rights: []access.Right{access.EditProfile, access.SeeMaskedFields}})
	require.NoError(t, err)
	_, err = w.svc.SetMember(ctx, sys, w.agentID, custom.ID)
	require.NoError(t, err)
	onCustom := w.policy(t).Privilege(w.agentID)
	_, err = w.svc.UpdateRole(ctx, sys, custom.ID, custom.Version, access.RoleSpec{Name: custom.Name, Rights: []access.Right{access.EditProfile}})
	require.NoError(t, err)
	assert.Equal(t, onCustom, w.policy(t).Privilege(w.agentID), "a rights edit does not change who holds what")
	assert.NotEqual(t, promoted, onCustom)

	p = w.policy(t)
	allocs := testing.AllocsPerRun(100, func() { _ = p.Privilege(w.agentID) })
	assert.Zero(t, allocs)
}
