package access_test

import (
	"context"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUpdateRoleCannotStripRightsTheActorLacks (issue 14, decision): a role editor may
// add or remove only rights they hold. Someone with ManageRoles alone cannot strip
// ListenRecordings from the Supervisor role (that would demote every Supervisor, whom
// SetMember would not let them demote one by one) nor delete a custom role above them;
// they may rename it, and change the rights they hold.
func TestUpdateRoleCannotStripRightsTheActorLacks(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	editor, err := w.svc.CreateRole(ctx, w.admin, access.RoleSpec{Name: "Role editor",
		Rights: []access.Right{access.ManageRoles, access.EditProfile, access.ViewReports}})
	require.NoError(t, err)
	ed := uuid.New()
	_, err = w.svc.SetMember(ctx, w.admin, ed, editor.ID)
	require.NoError(t, err)
	s := access.Subject{Tenant: w.tenant.ID, User: ed}
	sup := w.roles[access.KindSupervisor]
	spec := sup.Spec()

	stripped := access.RoleSpec{Name: sup.Name}
	for _, r := range spec.Rights {
		if r != access.ListenRecordings {
			stripped.Rights = append(stripped.Rights, r)
		}
	}
	_, err = w.svc.UpdateRole(ctx, s, sup.ID, 0, stripped)
	assert.ErrorIs(t, err, access.ErrForbidden, "stripping a right the editor lacks")
	assert.True(t, w.check(t, w.supervisor, access.ListenRecordings, uuid.Nil), "the Supervisors keep it")

	// Removing a right the editor holds, and renaming, are theirs to do.
	var noReports access.RoleSpec
	noReports.Name = "Team lead"
	for _, r := range spec.Rights {
		if r != access.ViewReports {
			noReports.Rights = append(noReports.Rights, r)
		}
	}
	_, err = w.svc.UpdateRole(ctx, s, sup.ID, 0, noReports)
	assert.NoError(t, err)

	above, err := w.svc.CreateRole(ctx, w.admin, access.RoleSpec{Name: "Listener", Rights: []access.Right{access.ListenRecordings}})
	require.NoError(t, err)
	assert.ErrorIs(t, w.svc.DeleteRole(ctx, s, above.ID), access.ErrForbidden)
	assert.NoError(t, w.svc.DeleteRole(ctx, w.admin, above.ID))
}
