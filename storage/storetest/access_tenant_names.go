package storetest

import (
	"sync"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tenantNameCases hold access.TenantDirectory: a tenant's slug and domains, unique
// across tenants, found by TenantByName (the sign-in page's lookup).
var tenantNameCases = []testCase{
	{"SetTenantNames stores the slug and domains, TenantByName finds them, a replace frees the old names", func(t *testing.T, f *fx) {
		tn := f.createTenant("Acme")
		names, err := f.s.Access.TenantNames(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, access.TenantNames{}, names, "none yet")
		v := f.policyVersion(tn.ID)

		ev := changeEvent(t, tn.ID, "tenant.names_set")
		set := access.TenantNames{Slug: "acme", Domains: []string{"calls.acme.com", "acme.example.net"}}
		require.NoError(t, f.s.Access.SetTenantNames(f.ctx, tn.ID, set, ev))
		assert.Equal(t, ev.ID, f.lastEventID(tn.ID), "the event is appended")
		assert.Equal(t, v, f.policyVersion(tn.ID), "names are not policy")
		names, err = f.s.Access.TenantNames(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, access.TenantNames{Slug: "acme", Domains: []string{"acme.example.net", "calls.acme.com"}}, names, "domains sorted")
		for _, n := range []string{"acme", "calls.acme.com", "acme.example.net"} {
			got, err := f.s.Access.TenantByName(f.ctx, n)
			require.NoError(t, err, n)
			assertTenant(t, tn.Tenant, got)
		}
		_, err = f.s.Access.TenantByName(f.ctx, "ACME")
		assert.ErrorIs(t, err, storage.ErrNotFound, "names are compared exactly (the service normalises)")

		require.NoError(t, f.s.Access.SetTenantNames(f.ctx, tn.ID, access.TenantNames{Slug: "acme-2"}, changeEvent(t, tn.ID, "tenant.names_set")))
		for _, n := range []string{"acme", "calls.acme.com"} {
			_, err = f.s.Access.TenantByName(f.ctx, n)
			assert.ErrorIs(t, err, storage.ErrNotFound, "%s was freed", n)
		}
		require.NoError(t, f.s.Access.SetTenantNames(f.ctx, tn.ID, access.TenantNames{}, changeEvent(t, tn.ID, "tenant.names_set")))
		names, err = f.s.Access.TenantNames(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Empty(t, names.Slug)
		assert.Empty(t, names.Domains)
	}},
	{"a name another tenant holds is ErrConflict and changes neither tenant", func(t *testing.T, f *fx) {
		a, b := f.createTenant("A"), f.createTenant("B")
		require.NoError(t, f.s.Access.SetTenantNames(f.ctx, a.ID, access.TenantNames{Slug: "shared", Domains: []string{"a.example.com"}},
			changeEvent(t, a.ID, "tenant.names_set")))
		require.NoError(t, f.s.Access.SetTenantNames(f.ctx, b.ID, access.TenantNames{Slug: "bee"}, changeEvent(t, b.ID, "tenant.names_set")))
		beforeA, beforeB := f.snapshot(a.ID), f.snapshot(b.ID)
		for _, names := range []access.TenantNames{
			{Slug: "shared"},
			{Slug: "bee", Domains: []string{"a.example.com"}},
		} {
			err := f.s.Access.SetTenantNames(f.ctx, b.ID, names, changeEvent(t, b.ID, "tenant.names_set"))
			assert.ErrorIs(t, err, storage.ErrConflict, "%v", names)
		}
		f.assertUnchanged(beforeA, a.ID)
		f.assertUnchanged(beforeB, b.ID)
		got, err := f.s.Access.TenantNames(f.ctx, b.ID)
		require.NoError(t, err)
		assert.Equal(t, access.TenantNames{Slug: "bee"}, got, "B's names are as they were")
		tb, err := f.s.Access.TenantByName(f.ctx, "bee")
		require.NoError(t, err)
		assert.Equal(t, b.ID, tb.ID)
		got, err = f.s.Access.TenantNames(f.ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, access.TenantNames{Slug: "shared", Domains: []string{"a.example.com"}}, got, "A's names are only A's")
	}},
	{"an unknown tenant is ErrNotFound and gets no names", func(t *testing.T, f *fx) {
		ghost := uuid.New()
		err := f.s.Access.SetTenantNames(f.ctx, ghost, access.TenantNames{Slug: "ghost"}, changeEvent(t, ghost, "tenant.names_set"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Access.TenantNames(f.ctx, ghost)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Access.TenantByName(f.ctx, "ghost")
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	{"two tenants racing for one slug: exactly one gets it", func(t *testing.T, f *fx) {
		const racers = 8
		tenants := make([]tenantFx, racers)
		for i := range tenants {
			tenants[i] = f.createTenant(name("Racer", i))
		}
		var wg sync.WaitGroup
		errs := make([]error, racers)
		for i := range tenants {
			ev := changeEvent(t, tenants[i].ID, "tenant.names_set")
			wg.Go(func() {
				errs[i] = f.s.Access.SetTenantNames(f.ctx, tenants[i].ID, access.TenantNames{Slug: "prize"}, ev)
			})
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			if err == nil {
				assert.Equal(t, -1, won, "two winners")
				won = i
				continue
			}
			assert.ErrorIs(t, err, storage.ErrConflict)
		}
		require.NotEqual(t, -1, won, "nobody won")
		got, err := f.s.Access.TenantByName(f.ctx, "prize")
		require.NoError(t, err)
		assert.Equal(t, tenants[won].ID, got.ID)
	}},
}
