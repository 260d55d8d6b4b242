package access_test

import (
	"context"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crmEdit is a host right that new tenants' Supervisors hold by default.
var crmEdit = access.MustRegisterRight(access.RightInfo{Name: "test.wiring_crm_edit", Doc: "Edit CRM forms.",
	ProjectScoped: true, DefaultFor: []access.RoleKind{access.KindSupervisor}})

// TestHostWiring (issue 14, item 13): what a host needs without writing it itself: the
// role of a default kind, host rights in the default roles of every new tenant, and
// Role and RoleSpec converting into each other.
func TestHostWiring(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	p := w.policy(t)
	for _, k := range []access.RoleKind{access.KindAdmin, access.KindSupervisor, access.KindAgent} {
		r, ok := p.RoleByKind(k)
		require.True(t, ok, k)
		assert.Equal(t, w.roles[k].ID, r.ID, k)
	}
	_, ok := p.RoleByKind(access.KindCustom)
	assert.False(t, ok, "custom roles are many: no lookup by kind")

	sup, _ := p.RoleByKind(access.KindSupervisor)
	assert.Contains(t, sup.Rights, "test.wiring_crm_edit", "a host right registered with DefaultFor is in new tenants' Supervisor role")
	assert.True(t, sup.Has(crmEdit))
	agent, _ := p.RoleByKind(access.KindAgent)
	assert.False(t, agent.Has(crmEdit))
	assert.True(t, w.check(t, w.supervisor, crmEdit, uuid.Nil))
	assert.False(t, w.check(t, w.agent, crmEdit, uuid.Nil))

	// Role.Spec is the input form of the same role: an unchanged round trip is a no-op.
	spec := sup.Spec()
	assert.Contains(t, spec.Rights, crmEdit)
	assert.Len(t, spec.Rights, len(sup.Rights))
	got, err := w.svc.UpdateRole(ctx, w.admin, sup.ID, sup.Version, spec)
	require.NoError(t, err)
	assert.Equal(t, sup.Version, got.Version, "nothing changed, nothing written")
	admin, _ := p.RoleByKind(access.KindAdmin)
	assert.True(t, admin.Has(crmEdit), "the Admin kind holds every right")
}

// TestResolveTenantBySlugOrDomain (issue 14, item 13): a sign-in page finds its tenant
// by the slug typed in or the Host the request came to. Names are normalised,
// ManageCompany sets them, another tenant's name is a conflict.
func TestResolveTenantBySlugOrDomain(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	_, err := w.svc.SetTenantNames(ctx, w.supervisor, access.TenantNames{Slug: "acme"})
	assert.ErrorIs(t, err, access.ErrForbidden, "it needs ManageCompany")
	names, err := w.svc.SetTenantNames(ctx, w.admin, access.TenantNames{Slug: " Acme ", Domains: []string{"Calls.Acme.COM.", "calls.acme.com:443"}})
	require.NoError(t, err)
	assert.Equal(t, access.TenantNames{Slug: "acme", Domains: []string{"calls.acme.com"}}, names)
	for _, in := range []string{"acme", "ACME", "calls.acme.com", "Calls.Acme.com:8443", "calls.acme.com."} {
		got, err := w.svc.ResolveTenant(ctx, in)
		require.NoError(t, err, in)
		assert.Equal(t, w.tenant.ID, got.ID, in)
	}
	for _, in := range []string{"", "nope", "ac me", "-acme", "a..b", "acme\x00", "ünï.com"} {
		_, err := w.svc.ResolveTenant(ctx, in)
		assert.ErrorIs(t, err, storage.ErrNotFound, "%q", in)
	}
	for _, bad := range []access.TenantNames{{Slug: "a.b"}, {Domains: []string{"nodot"}}, {Slug: "-x"}, {Domains: []string{"a_b.com"}}} {
		_, err := w.svc.SetTenantNames(ctx, w.admin, bad)
		assert.ErrorIs(t, err, access.ErrInvalidTenantName, "%v", bad)
	}
	otherSvc := access.NewService(w.store, w.engine, access.ServiceOptions{})
	t2, err := otherSvc.CreateTenant(ctx, "Other")
	require.NoError(t, err)
	_, err = otherSvc.SetTenantNames(ctx, access.System(t2.ID), access.TenantNames{Slug: "acme"})
	assert.ErrorIs(t, err, storage.ErrConflict, "one tenant's name")
}
