package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// ErrInvalidTenantName: a slug or domain that is not a valid name (see
// [NormalizeTenantName]).
var ErrInvalidTenantName = errors.New("access: invalid tenant slug or domain")

// maxDomains bounds how many domains one tenant may have.
const maxDomains = 32

// NormalizeTenantName returns a slug or domain in the form stored and compared: trimmed
// and in lower case; for a domain also without a port and a trailing dot, so that a
// request's Host ("Calls.Acme.com:443") can be passed as it is. A slug is 1 to 63
// letters, digits and '-', not starting or ending with '-'; a domain is two or more
// such labels joined by dots, at most 253 bytes (internationalised names in their
// ASCII "xn--" form). isDomain tells which it is. Anything else is
// ErrInvalidTenantName.
func NormalizeTenantName(s string) (name string, isDomain bool, err error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if strings.Contains(s, ".") {
		if h, port, ok := strings.Cut(s, ":"); ok && port != "" && allDigits(port) {
			s = h
		}
		s = strings.TrimSuffix(s, ".")
		labels := strings.Split(s, ".")
		if len(s) > 253 || len(labels) < 2 {
			return "", false, fmt.Errorf("%w: %q", ErrInvalidTenantName, truncate(s, 64))
		}
		for _, l := range labels {
			if !validLabel(l) {
				return "", false, fmt.Errorf("%w: %q", ErrInvalidTenantName, truncate(s, 64))
			}
		}
		return s, true, nil
	}
	if !validLabel(s) {
		return "", false, fmt.Errorf("%w: %q", ErrInvalidTenantName, truncate(s, 64))
	}
	return s, false, nil
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// normalizeNames checks and normalises names: the slug must be a slug, the domains
// domains, none repeated.
func normalizeNames(names TenantNames) (TenantNames, error) {
	var out TenantNames
	if names.Slug != "" {
		slug, isDomain, err := NormalizeTenantName(names.Slug)
		if err != nil {
			return out, err
		}
		if isDomain {
			return out, fmt.Errorf("%w: a slug has no dots: %q", ErrInvalidTenantName, truncate(slug, 64))
		}
		out.Slug = slug
	}
	if len(names.Domains) > maxDomains {
		return out, fmt.Errorf("%w: at most %d domains", ErrInvalidTenantName, maxDomains)
	}
	for _, d := range names.Domains {
		domain, isDomain, err := NormalizeTenantName(d)
		if err != nil {
			return out, err
		}
		if !isDomain {
			return out, fmt.Errorf("%w: a domain has a dot: %q", ErrInvalidTenantName, truncate(domain, 64))
		}
		out.Domains = append(out.Domains, domain)
	}
	slices.Sort(out.Domains)
	out.Domains = slices.Compact(out.Domains)
	return out, nil
}

// SetTenantNames replaces the tenant's slug and domains (see [TenantNames]). It needs
// ManageCompany. Names are normalised ([NormalizeTenantName]); a name another tenant
// holds is storage.ErrConflict. The change is change-logged.
func (s *Service) SetTenantNames(ctx context.Context, actor Subject, names TenantNames) (TenantNames, error) {
	p, err := s.authorize(ctx, actor, actor.Tenant, ManageCompany, uuid.Nil)
	if err != nil {
		return TenantNames{}, err
	}
	names, err = normalizeNames(names)
	if err != nil {
		return TenantNames{}, err
	}
	old, err := s.store.TenantNames(ctx, actor.Tenant)
	if err != nil {
		return TenantNames{}, fmt.Errorf("access: set tenant names: %w", err)
	}
	var changes []audit.Change
	if ch, ok := audit.Changed("slug", old.Slug, names.Slug); ok {
		changes = append(changes, ch)
	}
	if ch, ok := audit.Changed("domains", strings.Join(old.Domains, ","), strings.Join(names.Domains, ",")); ok {
		changes = append(changes, ch)
	}
	if len(changes) == 0 {
		return names, nil
	}
	ev, err := s.event(p, actor, "tenant.names_set", audit.Target{Type: "tenant", ID: actor.Tenant.String(), Name: p.TenantName()}, changes)
	if err != nil {
		return TenantNames{}, err
	}
	if err := s.store.SetTenantNames(ctx, actor.Tenant, names, ev); err != nil {
		return TenantNames{}, fmt.Errorf("access: set tenant names: %w", err)
	}
	return names, nil
}

// ResolveTenant returns the tenant a sign-in page is for, from the slug the user typed
// or the domain the request came to (a request's Host may be passed as it is: see
// [NormalizeTenantName]). An unknown or invalid name is storage.ErrNotFound. It needs
// no subject: tenant names are public, like the addresses they stand for; show the
// same page for an unknown name as for a known one if that matters to the host.
func (s *Service) ResolveTenant(ctx context.Context, name string) (Tenant, error) {
	n, _, err := NormalizeTenantName(name)
	if err != nil {
		return Tenant{}, fmt.Errorf("access: resolve tenant: %w", storage.ErrNotFound)
	}
	t, err := s.store.TenantByName(ctx, n)
	if err != nil {
		return Tenant{}, fmt.Errorf("access: resolve tenant: %w", err)
	}
	return t, nil
}
