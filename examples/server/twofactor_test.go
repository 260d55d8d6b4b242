package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/callshield/callshield/authn/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRequireTwoFactor: once the company requires two-factor, a user without it gets a
// restricted session that can only enrol; enrolling lifts the restriction.
func TestRequireTwoFactor(t *testing.T) {
	srv := startServer(t, "-db", filepath.Join(t.TempDir(), "demo.db"), "-admin-password", demoPassword)
	admin := newClient(t, srv.base)
	admin.login("admin@demo.test", demoPassword)
	var st map[string]any
	admin.must(200, "GET", "/api/v1/settings", nil, &st)
	st["require_two_factor"] = true
	admin.must(200, "PUT", "/api/v1/settings", st, nil)

	agent := newClient(t, srv.base)
	var me struct {
		Restricted bool `json:"restricted"`
	}
	agent.must(200, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": "agent@demo.test", "password": demoPassword}, &me)
	assert.True(t, me.Restricted)
	var e errBody
	agent.must(403, "GET", "/api/v1/calls", nil, &e)
	assert.Equal(t, "two_factor_enrolment_required", e.Error.Code)

	var setup struct {
		Secret string `json:"secret"`
	}
	agent.must(200, "POST", "/api/v1/me/totp", nil, &setup)
	secret, err := totp.ParseSecret(setup.Secret)
	require.NoError(t, err)
	agent.must(200, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": totp.Code(secret, time.Now(), totp.Config{})}, nil)
	agent.must(200, "GET", "/api/v1/calls", nil, nil)
}
