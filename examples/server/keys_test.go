package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/authn/totp"
	"github.com/callshield/callshield/storage/sqlstore"
)

// writeKeyFile writes a new random 32-byte key in hex to dir/name (0600) and returns
// the path and the hex.
func writeKeyFile(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	k := make([]byte, totp.SealKeyBytes)
	_, err := rand.Read(k)
	require.NoError(t, err)
	h := hex.EncodeToString(k)
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(h+"\n"), 0o600))
	return p, h
}

// readKeyHex is the hex a key file holds.
func readKeyHex(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	h := strings.TrimSpace(string(b))
	require.Len(t, h, 2*totp.SealKeyBytes)
	return h
}

// storedTOTPKeyIDs opens the (stopped) server's SQLite file and returns, by user, the
// key ID each active TOTP secret is sealed under.
func storedTOTPKeyIDs(t *testing.T, dbFile string) map[authn.UserRef]uint32 {
	t.Helper()
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(dbFile))
	require.NoError(t, err)
	defer db.Close()
	store, err := sqlstore.New(db, sqlstore.SQLite, sqlstore.Options{})
	require.NoError(t, err)
	fs, err := store.SealedTwoFactors(context.Background(), authn.UserRef{}, 100)
	require.NoError(t, err)
	out := map[authn.UserRef]uint32{}
	for _, f := range fs {
		id, ok := totp.KeyID(f.Sealed)
		require.True(t, ok)
		out[authn.UserRef{Tenant: f.Tenant, User: f.User}] = id
	}
	return out
}

// totpSignIn signs email in with the demo password and the code of secret at the time
// at, and returns the status of the second step.
func totpSignIn(t *testing.T, base, email string, secret totp.Secret, at time.Time) int {
	t.Helper()
	c := newClient(t, base)
	var step struct {
		MFA bool `json:"mfa_required"`
	}
	c.must(200, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": email, "password": demoPassword}, &step)
	require.True(t, step.MFA, "a second factor is owed")
	got, _ := c.do("POST", "/api/v1/login/totp", map[string]string{"code": totp.Code(secret, at, totp.Config{})}, nil)
	return got
}

// runChild runs the server binary (this test binary as main) with args to its end and
// returns its exit status and output.
func runChild(t *testing.T, args ...string) (int, string) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	require.NoError(t, err, "%s", out)
	return 0, string(out)
}

// TestTOTPKeyRotation is the rotation of docs/DEPLOYMENT.md §6 with the example's own
// flags, on SQLite with the real sealer: a user enrols under the default single key
// file (created, key ID 1), which keeps signing them in after a restart; a ring of
// the new key alone cannot open the secret before the reseal (sign-in refused, and a
// -reseal run reports the user as failed and exits 3); -reseal with the ring {1, 2},
// current 2, reseals it under 2 (exit status: not done on that run, 0 on the next);
// then the ring {2} alone signs the user in with a TOTP code. No key appears in any
// output.
func TestTOTPKeyRotation(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "demo.db")
	legacy := db + ".totpkey"

	// The defaults: one key, created on the first start.
	srv := startServer(t, "-db", db, "-admin-password", demoPassword)
	agent := newClient(t, srv.base)
	agent.login("agent@demo.test", demoPassword)
	var me meBody
	agent.must(200, "GET", "/api/v1/me", nil, &me)
	agentID := uuid.MustParse(me.User.ID)
	var setup struct {
		Secret string `json:"secret"`
	}
	agent.must(200, "POST", "/api/v1/me/totp", nil, &setup)
	secret, err := totp.ParseSecret(setup.Secret)
	require.NoError(t, err)
	// Codes of increasing steps: enrolment one step back, then now, then one ahead (the
	// server accepts ±1 step and each step once).
	agent.must(200, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": totp.Code(secret, time.Now().Add(-30*time.Second), totp.Config{})}, nil)
	require.NoError(t, srv.stop())
	outputs := []string{srv.output()}
	oldHex := readKeyHex(t, legacy)
	stored := storedTOTPKeyIDs(t, db)
	require.Len(t, stored, 1)
	var ref authn.UserRef
	for ref = range stored {
	}
	require.Equal(t, agentID, ref.User)
	assert.Equal(t, map[authn.UserRef]uint32{ref: 1}, stored, "the single key seals as key ID 1")

	// The same single key file keeps signing the user in after a restart.
	srv = startServer(t, "-db", db)
	assert.Equal(t, 200, totpSignIn(t, srv.base, "agent@demo.test", secret, time.Now()))
	require.NoError(t, srv.stop())
	outputs = append(outputs, srv.output())

	newFile, newHex := writeKeyFile(t, dir, "totp-2.key")

	// Before the reseal the new key alone opens nothing: sign-in fails, and a reseal
	// with that ring reports the user (by ID) and exits "not done".
	srv = startServer(t, "-db", db, "-totp-keys", "2:"+newFile)
	assert.NotEqual(t, 200, totpSignIn(t, srv.base, "agent@demo.test", secret, time.Now()), "key 1 is not in the ring")
	require.NoError(t, srv.stop())
	outputs = append(outputs, srv.output())
	code, out := runChild(t, "-db", db, "-totp-keys", "2:"+newFile, "-reseal")
	outputs = append(outputs, out)
	assert.Equal(t, exitResealNotDone, code, out)
	assert.Contains(t, out, "two-factor secrets: 0 resealed, 0 already under key 2, 0 skipped (changed meanwhile), 1 failed")
	assert.Contains(t, out, "found under key 1: 1")
	assert.Contains(t, out, fmt.Sprintf("failed (no ring key opens it): tenant %s user %s", ref.Tenant, ref.User))
	assert.Equal(t, map[authn.UserRef]uint32{ref: 1}, storedTOTPKeyIDs(t, db), "a failed value is left as it is")

	// The reseal: the ring {1, 2} with 2 current, through the function -reseal calls.
	ring := "1:" + legacy + "," + "2:" + newFile
	cfg, err := parseConfig([]string{"-db", db, "-totp-keys", ring, "-totp-key-current", "2", "-reseal"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	require.True(t, cfg.Reseal)
	var stdout, logs bytes.Buffer
	done, err := reseal(context.Background(), cfg, &stdout, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	outputs = append(outputs, stdout.String(), logs.String())
	assert.False(t, done, "the run found a value under key 1")
	assert.Contains(t, stdout.String(), "two-factor secrets: 1 resealed, 0 already under key 2, 0 skipped (changed meanwhile), 0 failed\n  found under key 1: 1\n")
	assert.Contains(t, stdout.String(), "not done: run -reseal again")
	assert.Equal(t, map[authn.UserRef]uint32{ref: 2}, storedTOTPKeyIDs(t, db), "resealed under key 2")

	// The next run (the program, as an operator runs it) finds nothing to do: exit 0,
	// and no HTTP server was started.
	code, out = runChild(t, "-db", db, "-totp-keys", ring, "-totp-key-current", "2", "-reseal")
	outputs = append(outputs, out)
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "two-factor secrets: 0 resealed, 1 already under key 2")
	assert.Contains(t, out, "done: nothing is sealed under a key other than the current one")
	assert.NotContains(t, out, "listening")

	// Key 1 leaves the ring: the new key alone signs the user in.
	srv = startServer(t, "-db", db, "-totp-keys", "2:"+newFile)
	assert.Equal(t, 200, totpSignIn(t, srv.base, "agent@demo.test", secret, time.Now().Add(30*time.Second)))
	require.NoError(t, srv.stop())
	outputs = append(outputs, srv.output())

	for _, o := range outputs {
		for _, h := range []string{oldHex, newHex} {
			assert.NotContains(t, strings.ToLower(o), h, "no key in any output")
		}
	}
}

// TestTOTPKeyRingSpecs: a ring given wrong is refused with a keyRingError that names the
// source, the entry, the key ID or the file and the reason, and never holds a key
// (also when a key was typed where a file belongs, or without its ID).
func TestTOTPKeyRingSpecs(t *testing.T) {
	dir := t.TempDir()
	k1, h1 := writeKeyFile(t, dir, "k1")
	k2, h2 := writeKeyFile(t, dir, "k2")
	short := filepath.Join(dir, "short")
	shortHex := strings.Repeat("ab", 16)
	require.NoError(t, os.WriteFile(short, []byte(shortHex), 0o600))
	notHex := filepath.Join(dir, "nothex")
	require.NoError(t, os.WriteFile(notHex, []byte("zz"+h1[2:]), 0o600))
	missing := filepath.Join(dir, "missing")
	subdir := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(subdir, 0o700))
	secrets := []string{h1, h2, shortHex, h1[2:]}

	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string // the whole message
	}{
		{"duplicate ID", []string{"-totp-keys", "1:" + k1 + ",1:" + k2}, nil,
			"-totp-keys: entry 2: key ID 1: duplicate key ID"},
		{"unknown current", []string{"-totp-keys", "1:" + k1 + ",2:" + k2, "-totp-key-current", "3"}, nil,
			"-totp-key-current: key ID 3: not a key ID of -totp-keys"},
		{"unknown current from env", []string{"-totp-keys", "1:" + k1}, map[string]string{"CALLSHIELD_TOTP_KEY_CURRENT": "2"},
			"-totp-key-current: key ID 2: not a key ID of -totp-keys"},
		{"current missing", []string{"-totp-keys", "1:" + k1 + ",2:" + k2}, nil,
			"-totp-key-current: required when -totp-keys holds more than one key (which one seals new secrets?)"},
		{"current not a number", []string{"-totp-keys", "1:" + k1, "-totp-key-current", "one"}, nil,
			"-totp-key-current: the key ID is not a whole number from 1 to 4294967295"},
		{"current without ring", []string{"-totp-key-current", "1"}, nil,
			"-totp-key-current: needs a ring (-totp-keys or CALLSHIELD_TOTP_KEYS)"},
		{"ID zero", []string{"-totp-keys", "0:" + k1}, nil,
			"-totp-keys: entry 1: the key ID is not a whole number from 1 to 4294967295"},
		{"ID too large", []string{"-totp-keys", "4294967296:" + k1}, nil,
			"-totp-keys: entry 1: the key ID is not a whole number from 1 to 4294967295"},
		{"ID with sign", []string{"-totp-keys", "+1:" + k1}, nil,
			"-totp-keys: entry 1: the key ID is not a whole number from 1 to 4294967295"},
		{"no ID", []string{"-totp-keys", k1}, nil,
			"-totp-keys: entry 1: not ID:FILE (entries are separated by commas)"},
		{"empty entry", []string{"-totp-keys", "1:" + k1 + ","}, nil,
			"-totp-keys: entry 2: not ID:FILE (entries are separated by commas)"},
		{"flag and env", []string{"-totp-keys", "1:" + k1}, map[string]string{"CALLSHIELD_TOTP_KEYS": "1:" + h1},
			"-totp-keys: give the ring in -totp-keys or in CALLSHIELD_TOTP_KEYS, not both"},
		{"ring and key file", []string{"-totp-keys", "1:" + k1, "-totp-key-file", k2}, nil,
			"-totp-keys: replaces the single key: do not also give -totp-key-file or CALLSHIELD_TOTP_KEY (list that key in the ring as ID 1)"},
		{"ring and key env", nil, map[string]string{"CALLSHIELD_TOTP_KEYS": "1:" + h1, "CALLSHIELD_TOTP_KEY": h2},
			"CALLSHIELD_TOTP_KEYS: replaces the single key: do not also give -totp-key-file or CALLSHIELD_TOTP_KEY (list that key in the ring as ID 1)"},
		{"env key short", nil, map[string]string{"CALLSHIELD_TOTP_KEYS": "1:" + shortHex},
			"CALLSHIELD_TOTP_KEYS: entry 1: key ID 1: the key is 16 bytes, not 32"},
		{"env key not hex", nil, map[string]string{"CALLSHIELD_TOTP_KEYS": "1:zz" + h1[2:]},
			"CALLSHIELD_TOTP_KEYS: entry 1: key ID 1: not hex (a key is 32 bytes in hex, e.g. from openssl rand -hex 32)"},
		{"env key without ID", nil, map[string]string{"CALLSHIELD_TOTP_KEYS": "1:" + h1 + "," + h2},
			"CALLSHIELD_TOTP_KEYS: entry 2: not ID:HEX (entries are separated by commas)"},
		// Read when the server wires (parse accepts them).
		{"file missing", []string{"-totp-keys", "1:" + k1 + ",2:" + missing, "-totp-key-current", "2"}, nil,
			fmt.Sprintf("-totp-keys: entry 2: key ID 2: key file %q: does not exist (create it with: openssl rand -hex 32 > FILE; chmod 600 FILE)", missing)},
		{"file short", []string{"-totp-keys", "7:" + short}, nil,
			fmt.Sprintf("-totp-keys: entry 1: key ID 7: key file %q: the key is 16 bytes, not 32", short)},
		{"file not hex", []string{"-totp-keys", "7:" + notHex}, nil,
			fmt.Sprintf("-totp-keys: entry 1: key ID 7: key file %q: not hex (a key is 32 bytes in hex, e.g. from openssl rand -hex 32)", notHex)},
		{"file is a directory", []string{"-totp-keys", "3:" + subdir}, nil,
			fmt.Sprintf("-totp-keys: entry 1: key ID 3: key file %q: not a regular file", subdir)},
		{"key where a file belongs", []string{"-totp-keys", "1:" + h1}, nil,
			"-totp-keys: entry 1: key ID 1: cannot be read as a file, and the value looks like a key: give keys in files here (or in CALLSHIELD_TOTP_KEYS as ID:HEX)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			var stderr bytes.Buffer
			cfg, err := parseConfig(append([]string{"-db", filepath.Join(dir, "demo.db")}, tc.args...), getenv, &stderr)
			if err == nil {
				_, err = totpSealer(cfg, true)
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, errKeyRing), "%T %v", err, err)
			var ke *keyRingError
			assert.True(t, errors.As(err, &ke))
			assert.Equal(t, tc.want, err.Error())
			for _, s := range secrets {
				assert.NotContains(t, err.Error()+stderr.String(), s, "no key in the error")
			}
			_, err = os.Stat(missing)
			assert.ErrorIs(t, err, os.ErrNotExist, "a ring's key file is never created")
		})
	}
}

// TestTOTPKeyRingOpens: the ring forms build a sealer with the current key given (or
// the one key of a one-key ring), and a ring that lists the default single key file as
// ID 1 opens what that file sealed; neither a config nor its ring prints a key.
func TestTOTPKeyRingOpens(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "demo.db")
	noenv := func(string) string { return "" }

	// The default: the key file is created, and seals as key ID 1.
	cfg, err := parseConfig([]string{"-db", db}, noenv, io.Discard)
	require.NoError(t, err)
	require.False(t, cfg.TOTPRing.given())
	legacySealer, err := totpSealer(cfg, true)
	require.NoError(t, err)
	require.NotNil(t, legacySealer)
	assert.Equal(t, uint32(1), legacySealer.CurrentKeyID())
	secret, err := totp.ParseSecret("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	require.NoError(t, err)
	aad := []byte("tenant/user")
	sealed, err := legacySealer.Seal(secret, aad)
	require.NoError(t, err)
	id, ok := totp.KeyID(sealed)
	require.True(t, ok)
	assert.Equal(t, uint32(1), id)
	again, err := totpSealer(cfg, true)
	require.NoError(t, err)
	_, err = again.Open(sealed, aad)
	assert.NoError(t, err, "the file is reused, not replaced")
	legacyHex := readKeyHex(t, db+".totpkey")

	// Flag form: {1: that file, 2: new} current 2 opens it and seals under 2.
	k2, h2 := writeKeyFile(t, dir, "k2")
	cfg, err = parseConfig([]string{"-db", db, "-totp-keys", " 1:" + db + ".totpkey , 2:" + k2, "-totp-key-current", "2"}, noenv, io.Discard)
	require.NoError(t, err)
	ring, err := totpSealer(cfg, true)
	require.NoError(t, err)
	assert.Equal(t, uint32(2), ring.CurrentKeyID())
	got, err := ring.Open(sealed, aad)
	require.NoError(t, err)
	assert.True(t, secret.Equal(got))
	resealed, err := ring.Seal(got, aad)
	require.NoError(t, err)
	id, _ = totp.KeyID(resealed)
	assert.Equal(t, uint32(2), id)
	printed := fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg.TOTPRing)
	assert.Contains(t, printed, "keyRing(-totp-keys: keys 1,2, current 2)")

	// Environment form, one key: it is current without -totp-key-current, and opens
	// what key 2 sealed.
	env := map[string]string{"CALLSHIELD_TOTP_KEYS": "2:" + h2}
	cfg, err = parseConfig([]string{"-db", db}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	only2, err := totpSealer(cfg, true)
	require.NoError(t, err)
	assert.Equal(t, uint32(2), only2.CurrentKeyID())
	_, err = only2.Open(resealed, aad)
	assert.NoError(t, err)
	_, err = only2.Open(sealed, aad)
	assert.ErrorIs(t, err, totp.ErrSealedUnknownKey, "key 1 left the ring")
	_, err = totpSealer(cfg, true)
	assert.NoError(t, err, "building twice works (the env keys are not wiped in cfg)")
	printed += fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)
	for _, h := range []string{legacyHex, h2} {
		assert.NotContains(t, strings.ToLower(printed), h)
	}
}
