package main

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTwoInstancesOnPostgreSQL runs two server processes on one PostgreSQL database (a
// fresh schema): a role change and a block made on one are enforced by the other on
// the very next request, because sessions, statuses and policy versions live in the
// store. It skips without CALLSHIELD_POSTGRES_DSN (CI sets it).
func TestTwoInstancesOnPostgreSQL(t *testing.T) {
	dsn := pgSchemaDSN(t)
	key := filepath.Join(t.TempDir(), "audit.key") // one chain key for both instances
	a := startServer(t, "-postgres", dsn, "-audit-key-file", key, "-admin-password", demoPassword)
	b := startServer(t, "-postgres", dsn, "-audit-key-file", key)
	assert.Contains(t, a.output(), "seeded")
	assert.NotContains(t, b.output(), "seeded", "the second instance finds the demo tenant")

	admin := newClient(t, a.base)
	admin.login("admin@demo.test", demoPassword)
	agent := newClient(t, b.base)
	agent.login("agent@demo.test", demoPassword)
	var me meBody
	agent.must(200, "GET", "/api/v1/me", nil, &me)
	var roles struct {
		Roles []struct{ ID, Kind string }
	}
	admin.must(200, "GET", "/api/v1/roles", nil, &roles)
	role := map[string]string{}
	for _, r := range roles.Roles {
		role[r.Kind] = r.ID
	}

	type callsBody struct {
		Calls []struct {
			Phone string `json:"client_phone"`
		}
	}
	masked := regexp.MustCompile(`\*`)
	var before callsBody
	agent.must(200, "GET", "/api/v1/calls?limit=5", nil, &before)
	require.NotEmpty(t, before.Calls)
	assert.Regexp(t, masked, before.Calls[0].Phone)

	// A role change on instance A: instance B unmasks on the next request.
	admin.must(200, "PUT", "/api/v1/users/"+me.User.ID+"/role", map[string]string{"role": role["supervisor"]}, nil)
	var after callsBody
	agent.must(200, "GET", "/api/v1/calls?limit=5", nil, &after)
	require.NotEmpty(t, after.Calls)
	assert.NotRegexp(t, masked, after.Calls[0].Phone)

	// A block on instance A: the session on instance B dies on the next request.
	admin.must(200, "POST", "/api/v1/users/"+me.User.ID+"/block", nil, nil)
	agent.must(401, "GET", "/api/v1/me", nil, nil)

	// Both instances extended one chain.
	var verify struct {
		OK bool `json:"ok"`
	}
	admin.must(200, "GET", "/api/v1/audit/verify", nil, &verify)
	assert.True(t, verify.OK)
}
