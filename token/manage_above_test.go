package token_test

import (
	"context"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/token"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRevokeJudgesTheUsersHighestStanding (issue 14, item 2 sibling): acting on another
// user's token follows access.Policy.CanManage, so a project override that raises the
// user above the user manager (a Supervisor role in Sales) puts them out of reach,
// although their tenant role alone would not.
func TestRevokeJudgesTheUsersHighestStanding(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator)
	e.issue(t, ann)
	mgrRole, err := e.acc.CreateRole(ctx, e.admin, access.RoleSpec{Name: "HR",
		Rights: []access.Right{access.UserManagement, access.Integrations, access.EditProfile}})
	require.NoError(t, err)
	hr := e.onboard(t, "hr@example.com", mgrRole.ID)
	// ann's tenant role (Integrations, EditProfile) is within hr's rights.
	_, err = e.acc.AddProjectMember(ctx, e.admin, e.sales.ID, ann.User, e.roles[access.KindSupervisor])
	require.NoError(t, err)
	assert.ErrorIs(t, e.tokens.Revoke(ctx, hr, ann.User), token.ErrForbidden, "ann is a Supervisor in Sales")
	assert.ErrorIs(t, e.tokens.Revoke(ctx, hr, ann.User), access.ErrForbidden, "one sentinel")
	require.NoError(t, e.acc.RemoveProjectMember(ctx, e.admin, e.sales.ID, ann.User))
	assert.NoError(t, e.tokens.Revoke(ctx, hr, ann.User), "within hr's standing again")
}
