package access_test

import (
	"net/netip"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
)

// TestCompileDisabledMemberHoldsNothing: a member marked Disabled (their account may
// not sign in) holds no right whatever their role: no tenant or project right, no
// data scope, no allowlist bypass, nothing they could grant. Their role is kept (it is
// how others are judged to manage them).
func TestCompileDisabledMemberHoldsNothing(t *testing.T) {
	f := newFixture(t)
	for i := range f.data.Members {
		f.data.Members[i].Disabled = true
	}
	p := access.Compile(f.data)
	outside := netip.MustParseAddr("192.0.2.1")
	for _, u := range []uuid.UUID{f.admin, f.supervisor, f.agent, f.auditor} {
		s := access.Subject{Tenant: f.tenant, User: u}
		for _, ri := range access.Rights() {
			for _, pr := range []uuid.UUID{uuid.Nil, f.projA, f.projB, f.projC} {
				assert.False(t, p.Check(s, ri.Right, pr), "%s holds %s in %s", u, ri.Name, pr)
			}
			assert.True(t, p.Scope(s, ri.Right).Empty(), "%s has a scope for %s", u, ri.Name)
		}
		assert.False(t, p.AllowsIP(s, outside), "a disabled member does not bypass the allowlist")
		assert.True(t, p.AllowsIP(s, netip.MustParseAddr("203.0.113.9")), "the allowlist itself still speaks")
		assert.False(t, p.CanAssignRole(s, f.roleAgent), "a disabled member assigns nothing")
		_, ok := p.Role(u)
		assert.True(t, ok, "the role is kept")
	}
	// The admin's IgnoreAllowedIPs normally bypasses it.
	f.data.Members[0].Disabled = false
	assert.True(t, access.Compile(f.data).AllowsIP(access.Subject{Tenant: f.tenant, User: f.admin}, outside))
}
