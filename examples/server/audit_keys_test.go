package main

import (
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditVerifyBody is the answer of GET /api/v1/audit/verify.
type auditVerifyBody struct {
	OK          bool           `json:"ok"`
	Checked     int            `json:"checked"`
	KeyIDs      map[string]int `json:"key_ids"`
	FirstBroken *struct {
		Seq    int64  `json:"seq"`
		Reason string `json:"reason"`
		KeyID  uint32 `json:"key_id"`
	} `json:"first_broken"`
}

// TestAuditKeyRotation is the audit chain key rotation of docs/DEPLOYMENT.md §6 with
// the example's flags, on SQLite: events chained under the default single key file
// (key ID 1); a restart with the ring {1, 2}, current 2, chains new events under key
// 2 and the whole chain verifies; the ring {2} alone reports the key-1 events as
// linked under an unknown key ID 1 (retired too early). No key appears in any output.
func TestAuditKeyRotation(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "demo.db")
	legacy := db + ".auditkey"

	srv := startServer(t, "-db", db, "-admin-password", demoPassword)
	admin := newClient(t, srv.base)
	admin.login("admin@demo.test", demoPassword)
	var v auditVerifyBody
	admin.must(200, "GET", "/api/v1/audit/verify", nil, &v)
	require.True(t, v.OK)
	assert.Equal(t, []string{"1"}, keysOf(v.KeyIDs), "the single key file is key ID 1")
	require.NoError(t, srv.stop())
	outputs := []string{srv.output()}
	oldHex := readKeyHex(t, legacy)

	newFile, newHex := writeKeyFile(t, dir, "audit-2.key")
	ring := "1:" + legacy + ",2:" + newFile
	srv = startServer(t, "-db", db, "-audit-keys", ring, "-audit-key-current", "2")
	admin = newClient(t, srv.base)
	admin.login("admin@demo.test", demoPassword)
	admin.must(200, "GET", "/api/v1/audit/verify", nil, &v)
	assert.True(t, v.OK, "the chain verifies across the rotation")
	assert.Equal(t, []string{"1", "2"}, keysOf(v.KeyIDs))
	require.NoError(t, srv.stop())
	outputs = append(outputs, srv.output())

	srv = startServer(t, "-db", db, "-audit-keys", "2:"+newFile)
	admin = newClient(t, srv.base)
	admin.login("admin@demo.test", demoPassword)
	v = auditVerifyBody{}
	admin.must(200, "GET", "/api/v1/audit/verify", nil, &v)
	assert.False(t, v.OK)
	require.NotNil(t, v.FirstBroken)
	assert.Equal(t, "unknown key", v.FirstBroken.Reason)
	assert.Equal(t, uint32(1), v.FirstBroken.KeyID)
	require.NoError(t, srv.stop())
	outputs = append(outputs, srv.output())

	for _, o := range outputs {
		for _, h := range []string{oldHex, newHex} {
			assert.NotContains(t, strings.ToLower(o), h, "no key in any output")
		}
	}
}

// The audit ring flags are read like the TOTP ones, and refuse a mix with the single
// key.
func TestAuditKeyRingFlags(t *testing.T) {
	dir := t.TempDir()
	f1, _ := writeKeyFile(t, dir, "a1.key")
	f2, _ := writeKeyFile(t, dir, "a2.key")
	env := func(string) string { return "" }
	cfg, err := parseConfig([]string{"-audit-keys", "1:" + f1 + ",2:" + f2, "-audit-key-current", "2"}, env, io.Discard)
	require.NoError(t, err)
	assert.Empty(t, cfg.AuditKeyFile, "the ring replaces the default key file")
	chain, err := auditChain(cfg, false)
	require.NoError(t, err)
	assert.Equal(t, uint32(2), chain.CurrentKeyID())
	assert.Equal(t, []uint32{1, 2}, chain.KeyIDs())

	for _, args := range [][]string{
		{"-audit-keys", "1:" + f1 + ",2:" + f2},               // which one is current?
		{"-audit-keys", "1:" + f1, "-audit-key-current", "3"}, // not in the ring
		{"-audit-keys", "1:" + f1, "-audit-key-file", f2},     // both forms
		{"-audit-key-current", "1"},                           // no ring
	} {
		_, err := parseConfig(args, env, io.Discard)
		assert.ErrorIs(t, err, errKeyRing, "%v", args)
	}
	cfg, err = parseConfig([]string{"-audit-keys", "1:" + filepath.Join(dir, "missing.key")}, env, io.Discard)
	require.NoError(t, err)
	_, err = auditChain(cfg, true)
	assert.ErrorIs(t, err, errKeyRing, "a ring's files are never created")
}

// keysOf returns the keys of m, sorted.
func keysOf(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) }
