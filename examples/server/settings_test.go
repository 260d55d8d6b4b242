package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn/totp"
	"github.com/callshield/callshield/storage/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSettingsSaveIsAllOrNothing: PUT /api/v1/settings carries account and session
// settings, stored by authn in two units of work. A value the second part refuses
// (a session lifetime below the idle timeout) is refused before the first part is
// written: the account settings stay as they were, and so do the session settings.
func TestSettingsSaveIsAllOrNothing(t *testing.T) {
	srv := startServer(t, "-db", filepath.Join(t.TempDir(), "demo.db"), "-admin-password", demoPassword)
	admin := newClient(t, srv.base)
	admin.login("admin@demo.test", demoPassword)
	var before map[string]any
	admin.must(200, "GET", "/api/v1/settings", nil, &before)

	put := map[string]any{}
	for k, v := range before {
		put[k] = v
	}
	put["password_mode"] = "classes" // a valid account change
	put["retention_days"] = 30       // another
	put["idle_minutes"] = 600        // 10 hours idle ...
	put["lifetime_hours"] = 2        // ... in a 2-hour session: refused
	var e errBody
	admin.must(400, "PUT", "/api/v1/settings", put, &e)
	assert.Equal(t, "invalid_settings", e.Error.Code)

	var after map[string]any
	admin.must(200, "GET", "/api/v1/settings", nil, &after)
	assert.Equal(t, before, after, "nothing was saved, the account part included")

	// The same account change with valid session values saves both.
	put["lifetime_hours"] = 12
	admin.must(200, "PUT", "/api/v1/settings", put, &after)
	assert.Equal(t, "classes", after["password_mode"])
	assert.EqualValues(t, 30, after["retention_days"])
	assert.EqualValues(t, 600, after["idle_minutes"])
}

// twoFactorRoles is the settings' require_two_factor_roles as answered.
func twoFactorRoles(t *testing.T, st map[string]any) []map[string]any {
	t.Helper()
	raw, ok := st["require_two_factor_roles"].([]any)
	require.True(t, ok, "require_two_factor_roles is a list: %#v", st["require_two_factor_roles"])
	out := make([]map[string]any, 0, len(raw))
	for _, x := range raw {
		m, ok := x.(map[string]any)
		require.True(t, ok, "each role is an object: %#v", x)
		out = append(out, m)
	}
	return out
}

// roleIDs returns the demo tenant's role IDs by name.
func roleIDs(c *client) map[string]string {
	var roles struct {
		Roles []struct{ ID, Name string }
	}
	c.must(200, "GET", "/api/v1/roles", nil, &roles)
	out := map[string]string{}
	for _, r := range roles.Roles {
		out[r.Name] = r.ID
	}
	require.Len(c.t, out, 3, "the default roles")
	return out
}

// signInRestricted signs email in and reports whether the session is restricted to
// two-factor enrolment.
func signInRestricted(t *testing.T, base, email string) bool {
	t.Helper()
	var me struct {
		Restricted bool `json:"restricted"`
	}
	newClient(t, base).must(200, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": email, "password": demoPassword}, &me)
	return me.Restricted
}

// TestTwoFactorRoles: PUT /api/v1/settings takes the roles whose members must use
// two-factor as IDs and answers them with their names; sign-in then restricts their
// members (and only them) until they enrol. An unknown role is refused with 400
// unknown_role and changes nothing, the rest of the request included; a settings
// answer can be sent back as it is; an absent list leaves it as it was, and [] clears it.
func TestTwoFactorRoles(t *testing.T) {
	srv := startServer(t, "-db", filepath.Join(t.TempDir(), "demo.db"), "-admin-password", demoPassword)
	admin := newClient(t, srv.base)
	admin.login("admin@demo.test", demoPassword)
	ids := roleIDs(admin)
	var st map[string]any
	admin.must(200, "GET", "/api/v1/settings", nil, &st)
	assert.Empty(t, twoFactorRoles(t, st), "none by default")

	// Two roles, by ID: answered with their names.
	st["require_two_factor_roles"] = []string{ids["Agent"], ids["Supervisor"]}
	var saved map[string]any
	admin.must(200, "PUT", "/api/v1/settings", st, &saved)
	want := []map[string]any{{"id": ids["Supervisor"], "name": "Supervisor"}, {"id": ids["Agent"], "name": "Agent"}}
	assert.ElementsMatch(t, want, twoFactorRoles(t, saved))
	var got map[string]any
	admin.must(200, "GET", "/api/v1/settings", nil, &got)
	assert.ElementsMatch(t, want, twoFactorRoles(t, got), "stored")
	assert.Equal(t, false, got["require_two_factor"], "the tenant-wide switch is untouched")

	// Their members sign in restricted to enrolment; the Admin (not listed) does not.
	assert.True(t, signInRestricted(t, srv.base, "agent@demo.test"), "an Agent owes a second factor")
	assert.True(t, signInRestricted(t, srv.base, "supervisor@demo.test"), "a Supervisor too")
	assert.False(t, signInRestricted(t, srv.base, "admin@demo.test"), "the Admin role is not listed")

	// An unknown role: 400 unknown_role, and nothing of the request is saved.
	bad := maps.Clone(got)
	bad["password_mode"] = "classes"
	bad["require_two_factor_roles"] = []string{ids["Agent"], "01900000-0000-7000-8000-000000000000"}
	var e errBody
	admin.must(400, "PUT", "/api/v1/settings", bad, &e)
	assert.Equal(t, "unknown_role", e.Error.Code)
	assert.NotEmpty(t, e.Error.Message)
	var after map[string]any
	admin.must(200, "GET", "/api/v1/settings", nil, &after)
	assert.Equal(t, got, after, "nothing was saved")
	// Not a role ID at all: refused as a malformed body, nothing saved either.
	bad["require_two_factor_roles"] = []string{"Agent"}
	admin.must(400, "PUT", "/api/v1/settings", bad, &e)
	assert.Equal(t, "bad_request", e.Error.Code)
	admin.must(200, "GET", "/api/v1/settings", nil, &after)
	assert.Equal(t, got, after, "nothing was saved")

	// The answer sent back as it is (objects with names) keeps the list; so does a
	// request without the field.
	admin.must(200, "PUT", "/api/v1/settings", got, &saved)
	assert.ElementsMatch(t, want, twoFactorRoles(t, saved), "round trip")
	without := maps.Clone(saved)
	delete(without, "require_two_factor_roles")
	admin.must(200, "PUT", "/api/v1/settings", without, &saved)
	assert.ElementsMatch(t, want, twoFactorRoles(t, saved), "absent: unchanged")

	// [] clears it: the Agent signs in unrestricted again.
	saved["require_two_factor_roles"] = []string{}
	admin.must(200, "PUT", "/api/v1/settings", saved, &saved)
	assert.Empty(t, twoFactorRoles(t, saved))
	admin.must(200, "GET", "/api/v1/settings", nil, &after)
	assert.Empty(t, twoFactorRoles(t, after), "cleared in the store")
	assert.False(t, signInRestricted(t, srv.base, "agent@demo.test"), "no longer required")
}

// newInProcessServer is the whole server on the memory store, seeded, with two-factor
// enrolment available, served by httptest: for tests that need the store directly.
func newInProcessServer(t *testing.T) (*app, string) {
	t.Helper()
	chain := audit.Chain{Key: bytes.Repeat([]byte{7}, 32)}
	store := memory.New(memory.Options{Chain: chain})
	sealer, err := totp.NewSealer(map[uint32][]byte{1: bytes.Repeat([]byte{9}, totp.SealKeyBytes)}, 1)
	require.NoError(t, err)
	cfg := config{Addr: "127.0.0.1:0", Dev: true, PublicURL: "http://127.0.0.1", AdminPassword: demoPassword, Seed: true, totpSealer: sealer}
	a, err := assemble(cfg, store, chain, &memCalls{}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.close(context.Background()) })
	require.NoError(t, seed(context.Background(), a, io.Discard))
	hs := httptest.NewServer(a.handler)
	t.Cleanup(hs.Close)
	return a, hs.URL
}

// TestTwoFactorRolesOtherTenantAndDeleted: another tenant's role is refused like an
// unknown one (400 unknown_role, nothing saved). A listed role deleted later (allowed
// once nobody holds it) drops out of the answer and does not block the next save.
func TestTwoFactorRolesOtherTenantAndDeleted(t *testing.T) {
	a, base := newInProcessServer(t)
	ctx := context.Background()
	other, err := a.access.CreateTenant(ctx, "Other Company")
	require.NoError(t, err)
	otherRoles, err := a.store.Roles(ctx, other.ID)
	require.NoError(t, err)
	require.NotEmpty(t, otherRoles)

	admin := newClient(t, base)
	admin.login("admin@demo.test", demoPassword)
	ids := roleIDs(admin)
	var st map[string]any
	admin.must(200, "GET", "/api/v1/settings", nil, &st)
	st["require_two_factor_roles"] = []string{ids["Agent"]}
	admin.must(200, "PUT", "/api/v1/settings", st, &st)
	require.Len(t, twoFactorRoles(t, st), 1)

	bad := maps.Clone(st)
	bad["require_two_factor_roles"] = []string{ids["Agent"], otherRoles[0].ID.String()}
	bad["retention_days"] = 30
	var e errBody
	admin.must(400, "PUT", "/api/v1/settings", bad, &e)
	assert.Equal(t, "unknown_role", e.Error.Code, "another tenant's role")
	var after map[string]any
	admin.must(200, "GET", "/api/v1/settings", nil, &after)
	assert.Equal(t, st, after, "nothing was saved")

	// A custom role, listed, then deleted (nobody holds it).
	var temp struct{ ID string }
	admin.must(201, "POST", "/api/v1/roles", map[string]any{"name": "Temps", "rights": []string{"profile.edit"}}, &temp)
	st["require_two_factor_roles"] = []string{ids["Agent"], temp.ID}
	admin.must(200, "PUT", "/api/v1/settings", st, &st)
	require.Len(t, twoFactorRoles(t, st), 2)
	admin.must(204, "DELETE", "/api/v1/roles/"+temp.ID, nil, nil)
	admin.must(200, "GET", "/api/v1/settings", nil, &after)
	assert.Equal(t, []map[string]any{{"id": ids["Agent"], "name": "Agent"}}, twoFactorRoles(t, after), "the deleted role is not shown")
	delete(after, "require_two_factor_roles")
	after["retention_days"] = 60
	admin.must(200, "PUT", "/api/v1/settings", after, &after)
	assert.EqualValues(t, 60, after["retention_days"], "a save without the list still works")
	assert.Equal(t, []map[string]any{{"id": ids["Agent"], "name": "Agent"}}, twoFactorRoles(t, after))
	stored, err := a.accounts.Settings(ctx, other.ID)
	require.NoError(t, err)
	assert.Empty(t, stored.RequireTwoFactorRoles, "the other tenant's settings are untouched")
}
