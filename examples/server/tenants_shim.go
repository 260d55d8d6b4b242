package main

// SHIM(#14): a tenant-by-slug lookup until the SDK has one. It derives a slug from
// each tenant's name and finds tenants through the audit store's list of tenants
// with a chain (every tenant has one: creating it records a change-log event). Goes
// away when access offers the lookup.

import (
	"context"
	"strings"
	"sync"

	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

type tenantDirectory struct {
	store backend
	mu    sync.Mutex
	slugs map[string]uuid.UUID
}

func newTenantDirectory(store backend) *tenantDirectory {
	return &tenantDirectory{store: store, slugs: map[string]uuid.UUID{}}
}

// slugOf is the lower-case name with runs of other characters turned into '-'.
func slugOf(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		} else {
			dash = true
		}
	}
	return b.String()
}

// lookup returns the tenant with this slug, or storage.ErrNotFound.
func (d *tenantDirectory) lookup(ctx context.Context, slug string) (uuid.UUID, error) {
	slug = strings.ToLower(strings.TrimSpace(slug))
	d.mu.Lock()
	id, ok := d.slugs[slug]
	d.mu.Unlock()
	if ok {
		return id, nil
	}
	ids, err := d.store.AuditTenants(ctx)
	if err != nil {
		return uuid.Nil, err
	}
	found := map[string]uuid.UUID{}
	for _, id := range ids {
		t, err := d.store.Tenant(ctx, id)
		if err != nil {
			continue // a chain without a tenant row (deleted tenant)
		}
		found[slugOf(t.Name)] = t.ID
	}
	d.mu.Lock()
	d.slugs = found
	d.mu.Unlock()
	if id, ok := found[slug]; ok {
		return id, nil
	}
	return uuid.Nil, storage.ErrNotFound
}
