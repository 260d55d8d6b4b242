package authn

import (
	"context"
	"errors"
	"fmt"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/storage"
)

// ProvisionRequest describes a new tenant and its first Admin.
type ProvisionRequest struct {
	// Name is the tenant's display name.
	Name string
	// Names are the tenant's slug and domains, by which its sign-in page finds it
	// (access.TenantNames); optional.
	Names access.TenantNames
	// AdminEmail and AdminName are the first Admin's; required.
	AdminEmail string
	AdminName  string
}

// Provisioned is the outcome of [Service.Provision].
type Provisioned struct {
	Tenant access.Tenant
	// Admin is the first Admin's invitation; the link went by mail.
	Admin Invitation
}

// Provision creates a tenant with its default roles and names, and invites its first
// Admin, whose link goes by mail: the Admin chooses their own password, so the tenant's
// Admin has an account from the start (the last-Admin rule never rests on a member
// without one, see access.Store). acc is the access.Service over the same store and
// engine. It is a host operation: call it from provisioning code, never from request
// input without the host's own check.
//
// It is three steps, not one transaction. Input is checked before anything is written,
// and the names are checked to be free; if a step fails after the tenant is created
// (a name taken meanwhile: storage.ErrConflict; the mail could not be sent), the
// returned Provisioned holds the tenant and the error says what is left: set the names
// with access.Service.SetTenantNames, or invite again with Service.Invite as
// access.System(tenant).
func (s *Service) Provision(ctx context.Context, acc *access.Service, req ProvisionRequest) (Provisioned, error) {
	if acc == nil {
		return Provisioned{}, errors.New("authn: provision: an access.Service is required")
	}
	if _, err := NormalizeEmail(req.AdminEmail); err != nil {
		return Provisioned{}, err
	}
	if _, err := validName(req.AdminName); err != nil {
		return Provisioned{}, err
	}
	for _, n := range append([]string{req.Names.Slug}, req.Names.Domains...) {
		if n == "" {
			continue
		}
		if _, _, err := access.NormalizeTenantName(n); err != nil {
			return Provisioned{}, err
		}
		if _, err := acc.ResolveTenant(ctx, n); err == nil {
			return Provisioned{}, fmt.Errorf("authn: provision: tenant name %q: %w", n, storage.ErrConflict)
		} else if !errors.Is(err, storage.ErrNotFound) {
			return Provisioned{}, fmt.Errorf("authn: provision: %w", err)
		}
	}
	t, err := acc.CreateTenant(ctx, req.Name)
	if err != nil {
		return Provisioned{}, err
	}
	out := Provisioned{Tenant: t}
	sys := access.System(t.ID)
	if req.Names.Slug != "" || len(req.Names.Domains) > 0 {
		if _, err := acc.SetTenantNames(ctx, sys, req.Names); err != nil {
			return out, fmt.Errorf("authn: provision: tenant %s created, names not set: %w", t.ID, err)
		}
	}
	p, err := s.engine.Policy(ctx, t.ID)
	if err != nil {
		return out, fmt.Errorf("authn: provision: tenant %s created, Admin not invited: %w", t.ID, err)
	}
	admin, ok := p.RoleByKind(access.KindAdmin)
	if !ok {
		return out, fmt.Errorf("authn: provision: tenant %s has no Admin role: %w", t.ID, storage.ErrNotFound)
	}
	out.Admin, err = s.Invite(ctx, sys, InviteRequest{Email: req.AdminEmail, Name: req.AdminName, Role: admin.ID})
	if err != nil {
		return out, fmt.Errorf("authn: provision: tenant %s created: %w", t.ID, err)
	}
	return out, nil
}
