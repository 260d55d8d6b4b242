package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
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
