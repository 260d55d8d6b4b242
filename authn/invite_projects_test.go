package authn_test

import (
	"context"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInviteIntoProjectNeedsWhatAddingWould (issue 14, item 1): an invitation grants
// only what its author could grant directly, judged by the rule of
// access.Service.AddProjectMember (access.Policy.CanInviteToProject). A user manager
// without ManageProjects in Sales cannot invite a second address of their own into
// Sales; with ManageProjects in Sales (a project override) they can, and still not into
// Support. Invite and AddProjectMember answer alike.
func TestInviteIntoProjectNeedsWhatAddingWould(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	support, err := e.acc.CreateProject(ctx, e.admin, "Support")
	require.NoError(t, err)
	um, err := e.acc.CreateRole(ctx, e.admin, access.RoleSpec{Name: "User manager",
		Rights: []access.Right{access.UserManagement, access.ManageProjects, access.EditProfile, access.ListenRecordings}})
	require.NoError(t, err)
	mgr := uuid.New()
	_, err = e.acc.SetMember(ctx, e.admin, mgr, um.ID)
	require.NoError(t, err)
	actor := access.Subject{Tenant: e.tenant.ID, User: mgr}
	agent := e.roles[access.KindAgent]
	sales := e.project.ID

	invite := func(email string, projects ...uuid.UUID) error {
		_, err := e.svc.Invite(ctx, actor, authn.InviteRequest{Email: email, Name: "Second me", Role: agent, Projects: projects})
		return err
	}
	// Not a member of Sales, no SeeAllProjects: ManageProjects is not theirs there.
	assert.ErrorIs(t, invite("me+1@example.com", sales), access.ErrForbidden)
	assert.ErrorIs(t, invite("me+1@example.com", sales), authn.ErrForbidden, "the two sentinels are one")
	assert.NoError(t, invite("me+2@example.com"), "an invitation without projects is theirs to make")

	// The direct path answers the same: the invited-then-accepted user is an Agent member.
	other := uuid.New()
	_, err = e.acc.SetMember(ctx, actor, other, agent)
	require.NoError(t, err)
	_, err = e.acc.AddProjectMember(ctx, actor, sales, other, uuid.Nil)
	assert.ErrorIs(t, err, access.ErrForbidden)

	// Made a member of Sales, they manage it and may invite into it, not into Support.
	_, err = e.acc.AddProjectMember(ctx, e.admin, sales, mgr, uuid.Nil)
	require.NoError(t, err)
	assert.NoError(t, invite("me+3@example.com", sales))
	assert.ErrorIs(t, invite("me+4@example.com", sales, support.ID), access.ErrForbidden)
	_, err = e.acc.AddProjectMember(ctx, actor, sales, other, uuid.Nil)
	assert.NoError(t, err)
	_, err = e.acc.AddProjectMember(ctx, actor, support.ID, other, uuid.Nil)
	assert.ErrorIs(t, err, access.ErrForbidden)
	assert.ErrorIs(t, invite("me+5@example.com", uuid.New()), storage.ErrNotFound, "an unknown project")

	// A project override cannot lend the project right to an invitation above the
	// inviter either: the invited role is judged as the person added.
	_, err = e.svc.Invite(ctx, actor, authn.InviteRequest{Email: "sup@example.com", Name: "Sup",
		Role: e.roles[access.KindSupervisor], Projects: []uuid.UUID{sales}})
	assert.ErrorIs(t, err, access.ErrForbidden, "a Supervisor is above the inviter")
}
