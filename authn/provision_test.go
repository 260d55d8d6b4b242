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

// TestProvisionTenant (issue 14, item 13): one call provisions a tenant with its names
// and invites its first Admin; accepting the link gives an active Admin with an
// account, found by the tenant's slug. A taken name or bad input writes nothing.
func TestProvisionTenant(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	before, err := e.store.Users(ctx, e.tenant.ID)
	require.NoError(t, err)
	got, err := e.svc.Provision(ctx, e.acc, authn.ProvisionRequest{Name: "Demo Calls",
		Names:      access.TenantNames{Slug: "demo", Domains: []string{"demo.example.com"}},
		AdminEmail: "owner@demo.example", AdminName: "Owner"})
	require.NoError(t, err)
	assert.Equal(t, "Demo Calls", got.Tenant.Name)
	assert.Equal(t, authn.StatusInvited, got.Admin.User.Status)

	found, err := e.acc.ResolveTenant(ctx, "demo")
	require.NoError(t, err)
	assert.Equal(t, got.Tenant.ID, found.ID)
	u, err := e.svc.AcceptInvitation(ctx, e.linkFor(t, "owner@demo.example"), authn.NewPassword(goodPassword), authn.Meta{})
	require.NoError(t, err)
	assert.Equal(t, got.Tenant.ID, u.Tenant)
	p, err := e.engine.Policy(ctx, got.Tenant.ID)
	require.NoError(t, err)
	owner := access.Subject{Tenant: u.Tenant, User: u.ID}
	assert.True(t, p.Check(owner, access.ManageCompany, uuid.Nil), "the first Admin holds every right")
	role, _ := p.Role(u.ID)
	assert.Equal(t, access.KindAdmin, role.Kind)
	signedIn, err := e.svc.Authenticate(ctx, got.Tenant.ID, "owner@demo.example", authn.NewPassword(goodPassword), authn.Meta{})
	require.NoError(t, err)
	assert.Equal(t, u.ID, signedIn.ID)

	_, err = e.svc.Provision(ctx, e.acc, authn.ProvisionRequest{Name: "Copycat", Names: access.TenantNames{Slug: "DEMO"},
		AdminEmail: "x@example.com", AdminName: "X"})
	assert.ErrorIs(t, err, storage.ErrConflict, "a taken slug")
	_, err = e.svc.Provision(ctx, e.acc, authn.ProvisionRequest{Name: "Bad", AdminEmail: "not an address", AdminName: "X"})
	assert.ErrorIs(t, err, authn.ErrInvalidEmail)
	after, err := e.store.Users(ctx, e.tenant.ID)
	require.NoError(t, err)
	assert.Equal(t, len(before), len(after), "the other tenant is untouched")
}
