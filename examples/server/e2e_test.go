package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callshield/callshield/authn/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// childEnv makes the test binary run main() instead of the tests: the end-to-end tests
// start it as the server process (the same code `go build` makes the server binary of,
// without a second build).
const childEnv = "CALLSHIELD_EXAMPLE_SERVER_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const demoPassword = "violet tractor umbrella 1987 seventeen"

// serverProc is a running server process.
type serverProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan error
}

func (p *serverProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String() + p.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

// startServer starts the server on a random loopback port with the given flags and
// waits for its "listening on" line.
func startServer(t *testing.T, args ...string) *serverProc {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	args = append([]string{"-addr", "127.0.0.1:0"}, args...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	p := &serverProc{t: t, cmd: cmd, done: make(chan error, 1)}
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	require.NoError(t, cmd.Start())
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stdout.WriteString(line + "\n")
			p.mu.Unlock()
			if rest, ok := strings.CutPrefix(line, "callshield demo listening on "); ok {
				addr <- rest
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.stop()
		// A race (or a panic) in the server process shows in its output only.
		if out := p.output(); strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic:") {
			t.Errorf("server process reported:\n%s", out)
		}
	})
	select {
	case p.base = <-addr:
	case err := <-p.done:
		t.Fatalf("server exited before listening: %v\n%s", err, p.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start:\n%s", p.output())
	}
	return p
}

// stop sends SIGINT and waits for a graceful exit.
func (p *serverProc) stop() error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("server did not stop on SIGINT:\n%s", p.output())
	}
}

// client is one user's HTTP client with its own cookie jar.
type client struct {
	t    *testing.T
	base string
	http *http.Client
	hdr  http.Header
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, hdr: http.Header{}}
}

// do sends a JSON request and decodes a JSON answer into out (if not nil); it returns
// the status and the raw body.
func (c *client) do(method, path string, body, out any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	require.NoError(c.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	res, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	if out != nil && len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		require.NoError(c.t, json.Unmarshal(raw, out), "%s %s: %s", method, path, raw)
	}
	return res.StatusCode, raw
}

// must sends a request that must answer want.
func (c *client) must(want int, method, path string, body, out any) []byte {
	c.t.Helper()
	got, raw := c.do(method, path, body, out)
	require.Equal(c.t, want, got, "%s %s: %s", method, path, raw)
	return raw
}

func (c *client) login(email, password string) {
	c.t.Helper()
	c.must(200, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": email, "password": password}, nil)
}

type errBody struct {
	Error struct {
		Code, Message string
		Violations    []struct{ Rule string }
	}
}

type meBody struct {
	User struct {
		ID, Email, Name, Status string
	}
	Role     struct{ ID, Name, Kind string }
	Rights   []string
	Projects []struct{ ID, Name string }
}

type eventsBody struct {
	Events []struct {
		Action, Outcome, Reason, Kind string
		User                          string
		Token                         string
		Target                        *struct{ Type, ID, Name string }
		Details                       map[string]string
	}
	Next string
}

func (e eventsBody) actions() []string {
	var out []string
	for _, ev := range e.Events {
		out = append(out, ev.Action+":"+ev.Outcome)
	}
	return out
}

// TestEndToEnd drives the seed's story through the JSON API of a server process on
// SQLite: invitation, weak and strong passwords, sign-in, masking by right, recording
// access, the IP allowlist through a trusted proxy, block/archive/purge, the logs, the
// chain, graceful shutdown, and no secret in clear in the database or the log.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "demo.db")
	srv := startServer(t, "-db", db, "-admin-password", demoPassword, "-trusted-proxy", "127.0.0.1/32")
	assert.Contains(t, srv.output(), `seeded tenant "demo"`)

	// The start page answers, with the security headers.
	anon := newClient(t, srv.base)
	req, _ := http.NewRequest("GET", srv.base+"/", nil)
	res, err := anon.http.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
	assert.NotContains(t, res.Header.Get("Content-Security-Policy"), "unsafe-inline")
	assert.Equal(t, "DENY", res.Header.Get("X-Frame-Options"))
	assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))

	// Not signed in: 401 in the error shape.
	var e errBody
	anon.must(401, "GET", "/api/v1/me", nil, &e)
	assert.Equal(t, "unauthenticated", e.Error.Code)

	// A wrong password, an unknown user and an unknown tenant answer alike.
	var e1, e2, e3 errBody
	anon.must(401, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": "admin@demo.test", "password": "wrong wrong wrong wrong"}, &e1)
	anon.must(401, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": "nobody@demo.test", "password": "wrong wrong wrong wrong"}, &e2)
	anon.must(401, "POST", "/api/v1/login", map[string]string{"tenant": "nope", "email": "admin@demo.test", "password": demoPassword}, &e3)
	assert.Equal(t, e1, e2)
	assert.Equal(t, e1, e3)

	// A cross-site state-changing request from a browser is refused.
	anon.hdr.Set("Sec-Fetch-Site", "cross-site")
	anon.must(403, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": "admin@demo.test", "password": demoPassword}, nil)
	anon.hdr.Del("Sec-Fetch-Site")

	admin := newClient(t, srv.base)
	admin.login("admin@demo.test", demoPassword)
	var me meBody
	admin.must(200, "GET", "/api/v1/me", nil, &me)
	assert.Equal(t, "Admin", me.Role.Name)
	assert.Contains(t, me.Rights, "users.manage")
	require.Len(t, me.Projects, 2)
	projects := map[string]string{}
	for _, p := range me.Projects {
		projects[p.Name] = p.ID
	}

	var roles struct {
		Roles []struct{ ID, Name, Kind string }
	}
	admin.must(200, "GET", "/api/v1/roles", nil, &roles)
	roleID := map[string]string{}
	for _, r := range roles.Roles {
		roleID[r.Kind] = r.ID
	}

	// Invite → the mailed link carries the secret in the fragment.
	newEmail := "nina@demo.test"
	admin.must(201, "POST", "/api/v1/invitations", map[string]any{"email": newEmail, "name": "Nina New", "role": roleID["agent"], "projects": []string{projects["Sales"]}}, nil)
	var outbox struct {
		Mails []struct{ To, Subject, Text, Link string }
	}
	admin.must(200, "GET", "/api/v1/dev/outbox", nil, &outbox)
	require.NotEmpty(t, outbox.Mails)
	assert.Equal(t, newEmail, outbox.Mails[0].To)
	link := outbox.Mails[0].Link
	require.True(t, strings.HasPrefix(link, srv.base+"/invite#"), link)
	token := strings.TrimPrefix(link, srv.base+"/invite#")

	// Accept with a weak password: refused with the broken rules; then a strong one.
	// The user keeps the name given at invitation: a "name" is not silently dropped
	// but refused, and the link stays usable.
	var named errBody
	anon.must(400, "POST", "/api/v1/invitations/accept", map[string]string{"token": token, "name": "Someone Else", "password": "granite lantern orbit 4412 meadow"}, &named)
	assert.Equal(t, "bad_request", named.Error.Code)
	var weak errBody
	anon.must(400, "POST", "/api/v1/invitations/accept", map[string]string{"token": token, "password": "password"}, &weak)
	assert.Equal(t, "weak_password", weak.Error.Code)
	require.NotEmpty(t, weak.Error.Violations)
	ninaPassword := "granite lantern orbit 4412 meadow"
	anon.must(200, "POST", "/api/v1/invitations/accept", map[string]string{"token": token, "password": ninaPassword}, nil)
	// The link is single use.
	anon.must(410, "POST", "/api/v1/invitations/accept", map[string]string{"token": token, "password": ninaPassword}, nil)

	nina := newClient(t, srv.base)
	nina.login(newEmail, ninaPassword)
	var ninaMe meBody
	nina.must(200, "GET", "/api/v1/me", nil, &ninaMe)
	assert.Equal(t, "Agent", ninaMe.Role.Name)

	// Two-factor: Nina enrols (codes computed by the test), then signs in with a second
	// factor; the step used at enrolment and a code used once are refused; a recovery
	// code works once.
	var setup struct {
		Secret string `json:"secret"`
		URI    string `json:"otpauth_uri"`
		QR     string `json:"qr_png"`
	}
	nina.must(200, "POST", "/api/v1/me/totp", nil, &setup)
	require.NotEmpty(t, setup.Secret)
	assert.True(t, strings.HasPrefix(setup.URI, "otpauth://totp/"), setup.URI)
	assert.NotEmpty(t, setup.QR)
	secret, err := totp.ParseSecret(setup.Secret)
	require.NoError(t, err)
	now := time.Now()
	nina.must(400, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": "000000"}, nil)
	var enabled struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	enrolCode := totp.Code(secret, now, totp.Config{})
	nina.must(200, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": enrolCode}, &enabled)
	require.NotEmpty(t, enabled.RecoveryCodes)
	nina.must(200, "GET", "/api/v1/me", nil, nil) // the rotated session cookie works
	var list struct {
		Users []struct {
			Email     string
			TwoFactor bool `json:"two_factor"`
		}
	}
	admin.must(200, "GET", "/api/v1/users", nil, &list)
	for _, u := range list.Users {
		if u.Email == newEmail {
			assert.True(t, u.TwoFactor, "the users list shows 2FA on")
		}
	}
	second := func(body map[string]string) (*client, int) {
		c := newClient(t, srv.base)
		var step struct {
			MFA bool `json:"mfa_required"`
		}
		c.must(200, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": newEmail, "password": ninaPassword}, &step)
		require.True(t, step.MFA, "a second factor is owed")
		c.must(401, "GET", "/api/v1/me", nil, nil) // no session yet
		got, _ := c.do("POST", "/api/v1/login/totp", body, nil)
		return c, got
	}
	_, got := second(map[string]string{"code": enrolCode})
	assert.Equal(t, 401, got, "the step used at enrolment is not accepted again")
	nextCode := totp.Code(secret, now.Add(30*time.Second), totp.Config{})
	nina2, got := second(map[string]string{"code": nextCode})
	require.Equal(t, 200, got)
	nina2.must(200, "GET", "/api/v1/me", nil, nil)
	_, got = second(map[string]string{"code": nextCode})
	assert.Equal(t, 401, got, "a replayed code fails")
	_, got = second(map[string]string{"recovery_code": enabled.RecoveryCodes[0]})
	assert.Equal(t, 200, got)
	_, got = second(map[string]string{"recovery_code": enabled.RecoveryCodes[0]})
	assert.Equal(t, 401, got, "a recovery code works once")

	// API tokens: an Agent lacks the integrations right; a role that has it gets one
	// token, shown once, usable only in the Authorization header; its calls are logged
	// and counted.
	nina.must(403, "POST", "/api/v1/me/token", map[string]string{"name": "CRM"}, nil)
	var integ struct{ ID string }
	admin.must(201, "POST", "/api/v1/roles", map[string]any{"name": "Agent with API", "rights": []string{"integrations.manage", "profile.edit"}}, &integ)
	admin.must(200, "PUT", "/api/v1/users/"+ninaMe.User.ID+"/role", map[string]string{"role": integ.ID}, nil)
	var tok struct{ ID, Token string }
	nina.must(201, "POST", "/api/v1/me/token", map[string]string{"name": "CRM sync"}, &tok)
	require.True(t, strings.HasPrefix(tok.Token, "cst_"), tok.Token)
	bearer := newClient(t, srv.base)
	bearer.hdr.Set("Authorization", "Bearer "+tok.Token)
	var viaToken meBody
	bearer.must(200, "GET", "/api/v1/me", nil, &viaToken)
	assert.Equal(t, ninaMe.User.ID, viaToken.User.ID)
	bearer.must(200, "GET", "/api/v1/calls?limit=5", nil, nil)
	var wrongTok errBody
	bad := newClient(t, srv.base)
	bad.hdr.Set("Authorization", "Bearer "+tok.Token[:len(tok.Token)-1]+"x")
	bad.must(401, "GET", "/api/v1/me", nil, &wrongTok)
	assert.Equal(t, "invalid_token", wrongTok.Error.Code)
	bearer.must(401, "GET", "/api/v1/me?token="+tok.Token, nil, nil) // never from a URL
	var usage struct {
		Usage []struct {
			Token    string
			Requests int
		}
	}
	nina.must(200, "GET", "/api/v1/api-usage", nil, &usage)
	require.NotEmpty(t, usage.Usage)
	assert.Equal(t, tok.ID, usage.Usage[0].Token)
	assert.GreaterOrEqual(t, usage.Usage[0].Requests, 2)
	var tokActions eventsBody
	admin.must(200, "GET", "/api/v1/audit/actions?limit=100&user="+ninaMe.User.ID, nil, &tokActions)
	byToken := 0
	for _, ev := range tokActions.Events {
		if ev.Token == tok.ID {
			byToken++
		}
	}
	assert.GreaterOrEqual(t, byToken, 2, "token calls are in the action log with the token")

	// An agent is denied the users list (403, recorded), sees only own calls masked.
	var denied errBody
	nina.must(403, "GET", "/api/v1/users", nil, &denied)
	assert.Equal(t, "forbidden", denied.Error.Code)

	type callsBody struct {
		Calls []struct {
			ID, Project, Agent, ClientPhone string `json:"-"`
			XID                             string `json:"id"`
			XProject                        string `json:"project"`
			XAgent                          string `json:"agent"`
			XPhone                          string `json:"client_phone"`
			Recording                       bool   `json:"has_recording"`
		}
	}
	agent := newClient(t, srv.base)
	agent.login("agent@demo.test", demoPassword)
	var agentMe meBody
	agent.must(200, "GET", "/api/v1/me", nil, &agentMe)
	var ac callsBody
	agent.must(200, "GET", "/api/v1/calls?limit=1000", nil, &ac)
	require.NotEmpty(t, ac.Calls)
	maskedRE := regexp.MustCompile(`^\+\d{1,3}\*{6,}\d\d$`)
	italian := regexp.MustCompile(`^\+39\*+\d\d$`)
	sawItalian := false
	for _, c := range ac.Calls {
		assert.Equal(t, agentMe.User.ID, c.XAgent, "an agent sees only own calls")
		assert.Equal(t, projects["Sales"], c.XProject)
		assert.Regexp(t, maskedRE, c.XPhone)
		sawItalian = sawItalian || italian.MatchString(c.XPhone)
	}
	assert.True(t, sawItalian, "an Italian number shows as +39*******NN")

	sup := newClient(t, srv.base)
	sup.login("supervisor@demo.test", demoPassword)
	var sc callsBody
	sup.must(200, "GET", "/api/v1/calls?limit=1000&project="+projects["Sales"], nil, &sc)
	require.NotEmpty(t, sc.Calls)
	clearRE := regexp.MustCompile(`^\+\d{8,15}$`)
	others := 0
	var recorded string
	for _, c := range sc.Calls {
		assert.Regexp(t, clearRE, c.XPhone, "a supervisor sees the number")
		if c.XAgent != agentMe.User.ID {
			others++
		}
		if c.Recording && recorded == "" {
			recorded = c.XID
		}
	}
	assert.Positive(t, others, "a supervisor sees the other agents' calls")
	// The same call, masked for the agent and clear for the supervisor.
	for _, c := range ac.Calls {
		for _, d := range sc.Calls {
			if c.XID == d.XID {
				cc := c.XPhone[:strings.IndexByte(c.XPhone, '*')]
				assert.True(t, strings.HasPrefix(d.XPhone, cc), "%s masks %s", c.XPhone, d.XPhone)
				assert.Equal(t, d.XPhone[len(d.XPhone)-2:], c.XPhone[len(c.XPhone)-2:])
			}
		}
	}
	// The CSV export is masked the same way (the agent lacks the export right).
	agent.must(403, "GET", "/api/v1/calls.csv", nil, nil)
	csvSup := string(sup.must(200, "GET", "/api/v1/calls.csv?project="+projects["Sales"], nil, nil))
	assert.Contains(t, csvSup, "client_phone")

	// Recordings: the supervisor listens and downloads; the agent may not; all three are
	// in the recording-access history.
	require.NotEmpty(t, recorded)
	audio := sup.must(200, "GET", "/api/v1/calls/"+recorded+"/recording", nil, nil)
	assert.Equal(t, "RIFF", string(audio[:4]))
	sup.must(200, "GET", "/api/v1/calls/"+recorded+"/recording?download=1", nil, nil)
	var agentRec string
	for _, c := range ac.Calls {
		if c.Recording {
			agentRec = c.XID
			break
		}
	}
	require.NotEmpty(t, agentRec)
	agent.must(403, "GET", "/api/v1/calls/"+agentRec+"/recording", nil, nil)
	// Another tenant's or an unknown call is 404.
	sup.must(404, "GET", "/api/v1/calls/01900000-0000-7000-8000-000000000000/recording", nil, nil)
	var recs eventsBody
	admin.must(200, "GET", "/api/v1/audit/recordings", nil, &recs)
	assert.Subset(t, recs.actions(), []string{"recording.listen:success", "recording.download:success", "recording.listen:denied"})

	// Sessions: a second sign-in of the supervisor is listed and can be ended; an agent
	// workplace session carries what the dialer reports; the active-sessions report
	// shows both kinds; logout ends the session.
	sup2 := newClient(t, srv.base)
	sup2.login("supervisor@demo.test", demoPassword)
	type sessionsBody struct {
		Sessions []struct {
			ID, User, Kind string
			Current        bool
			Workplace      *struct {
				Status, Queue string
				CallID        string `json:"call_id"`
			} `json:"workplace"`
		}
	}
	var mine sessionsBody
	sup.must(200, "GET", "/api/v1/me/sessions", nil, &mine)
	require.Len(t, mine.Sessions, 2)
	var other string
	for _, x := range mine.Sessions {
		if !x.Current {
			other = x.ID
		}
	}
	require.NotEmpty(t, other)
	sup.must(204, "DELETE", "/api/v1/sessions/"+other, nil, nil)
	sup2.must(401, "GET", "/api/v1/me", nil, nil)
	desk := newClient(t, srv.base)
	desk.must(200, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": "agent2@demo.test", "password": demoPassword, "kind": "workplace"}, nil)
	desk.must(200, "PUT", "/api/v1/me/workplace", map[string]string{"status": "on call", "queue": "Support Italia", "call_id": "c-1234"}, nil)
	agent.must(404, "PUT", "/api/v1/me/workplace", map[string]string{"status": "ready"}, nil) // an admin-interface session
	var active sessionsBody
	admin.must(200, "GET", "/api/v1/sessions", nil, &active)
	kinds := map[string]bool{}
	sawDesk := false
	for _, x := range active.Sessions {
		kinds[x.Kind] = true
		if x.Workplace != nil && x.Workplace.CallID == "c-1234" {
			sawDesk = x.Workplace.Status == "on call" && x.Workplace.Queue == "Support Italia"
		}
	}
	assert.True(t, kinds["admin"] && kinds["workplace"], "both kinds in the report")
	assert.True(t, sawDesk, "the workplace state is in the report: %+v", active)
	agent.must(403, "GET", "/api/v1/sessions", nil, nil)
	desk.must(200, "POST", "/api/v1/logout", nil, nil)
	desk.must(401, "GET", "/api/v1/me", nil, nil)
	anon.must(400, "POST", "/api/v1/login/totp", map[string]string{"code": "123456"}, nil)

	// The IP allowlist: through the trusted proxy, an outside address is refused (also
	// at sign-in), an inside one works, and the Admin's role ignores the list.
	admin.must(200, "PUT", "/api/v1/settings/allowed-ips", map[string]any{"allowed_ips": []string{"203.0.113.0/24"}}, nil)
	nina.hdr.Set("X-Forwarded-For", "198.51.100.7")
	nina.must(403, "GET", "/api/v1/me", nil, nil)
	nina.hdr.Set("X-Forwarded-For", "203.0.113.9")
	nina.must(200, "GET", "/api/v1/me", nil, nil)
	outside := newClient(t, srv.base)
	outside.hdr.Set("X-Forwarded-For", "198.51.100.7")
	var eo errBody
	outside.must(401, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": newEmail, "password": ninaPassword}, &eo)
	assert.Equal(t, e1, eo, "outside the allowlist answers as a wrong password")
	admin.hdr.Set("X-Forwarded-For", "198.51.100.7")
	admin.must(200, "GET", "/api/v1/me", nil, nil)
	admin.hdr.Del("X-Forwarded-For")
	admin.must(200, "PUT", "/api/v1/settings/allowed-ips", map[string]any{"allowed_ips": []string{}}, nil)
	nina.hdr.Del("X-Forwarded-For")

	// Block Nina: her session dies at once. Then archive, and purge after retention.
	ninaID := ninaMe.User.ID
	admin.must(200, "POST", "/api/v1/users/"+ninaID+"/block", nil, nil)
	nina.must(401, "GET", "/api/v1/me", nil, nil)
	bearer.must(401, "GET", "/api/v1/me", nil, nil) // and her token
	again := newClient(t, srv.base)
	again.must(401, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": newEmail, "password": ninaPassword}, nil)
	admin.must(200, "POST", "/api/v1/users/"+ninaID+"/archive", nil, nil)
	var purged struct{ Deleted []string }
	admin.must(200, "POST", "/api/v1/dev/purge", map[string]any{"at": time.Now().Add(181 * 24 * time.Hour)}, &purged)
	assert.Contains(t, purged.Deleted, ninaID)
	var users struct {
		Users []struct{ ID, Email, Status string }
	}
	admin.must(200, "GET", "/api/v1/users", nil, &users)
	for _, u := range users.Users {
		assert.NotEqual(t, ninaID, u.ID, "the purged user is gone from the list")
	}
	var gone errBody
	admin.must(410, "POST", "/api/v1/users/"+ninaID+"/unblock", nil, &gone)
	assert.Equal(t, "user_deleted", gone.Error.Code)

	// The logs show it all.
	var changes eventsBody
	admin.must(200, "GET", "/api/v1/audit/changes?limit=200", nil, &changes)
	assert.Subset(t, changes.actions(), []string{"invitation.create:success", "user.block:success", "user.archive:success"})
	var logins eventsBody
	admin.must(200, "GET", "/api/v1/audit/logins?limit=200", nil, &logins)
	assert.Contains(t, logins.actions(), "login.password:success")
	assert.Contains(t, logins.actions(), "login.password:failure")
	var actions eventsBody
	admin.must(200, "GET", "/api/v1/audit/actions?limit=1000&user="+ninaID, nil, &actions)
	assert.NotEmpty(t, actions.Events, "the purged user's actions stay in the action log")
	var verify struct {
		OK      bool `json:"ok"`
		Checked int  `json:"checked"`
	}
	admin.must(200, "GET", "/api/v1/audit/verify", nil, &verify)
	assert.True(t, verify.OK)
	assert.Positive(t, verify.Checked)

	// Graceful shutdown flushes the action log: a request just before SIGINT is stored.
	admin.must(200, "GET", "/api/v1/me?last=1", nil, nil)
	require.NoError(t, srv.stop())
	srv2 := startServer(t, "-db", db)
	assert.NotContains(t, srv2.output(), "seeded", "a second start reuses the database")
	admin2 := newClient(t, srv2.base)
	admin2.login("admin@demo.test", demoPassword)
	var last eventsBody
	admin2.must(200, "GET", "/api/v1/audit/actions?limit=1000&user="+me.User.ID, nil, &last)
	found := false
	for _, ev := range last.Events {
		found = found || ev.Details["query.last"] == "1"
	}
	assert.True(t, found, "the last request before shutdown is in the action log")
	admin2.must(200, "GET", "/api/v1/audit/verify", nil, &verify)
	assert.True(t, verify.OK)
	require.NoError(t, srv2.stop())

	// No secret in clear in the database files or the server's output.
	secrets := append([]string{demoPassword, ninaPassword, token, tok.Token, setup.Secret}, enabled.RecoveryCodes...)
	for _, c := range []*client{admin, nina, agent, sup} {
		u, _ := http.NewRequest("GET", srv.base, nil)
		for _, ck := range c.http.Jar.Cookies(u.URL) {
			if ck.Value != "" {
				secrets = append(secrets, ck.Value)
			}
		}
	}
	files, _ := filepath.Glob(db + "*")
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, s := range secrets {
			assert.False(t, bytes.Contains(b, []byte(s)), "a secret in clear in %s", filepath.Base(f))
		}
	}
	logs := srv.output() + srv2.output()
	for _, s := range secrets {
		assert.NotContains(t, logs, s)
	}
}
