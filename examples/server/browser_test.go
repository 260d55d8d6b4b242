package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callshield/callshield/authn/totp"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath finds the Chromium the browser test drives: Debian's package at
// /usr/bin/chromium, or one on PATH.
func chromiumPath() string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// artifactDir is where the browser test saves its screenshots:
// $CALLSHIELD_TEST_ARTIFACTS, else callshield-screenshots in the temp directory.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("CALLSHIELD_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "callshield-screenshots")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// browser starts headless Chromium with a fresh profile, or skips (fails with
// CALLSHIELD_REQUIRE_CHROMIUM=1) when there is none.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath()
	if exe == "" {
		if os.Getenv("CALLSHIELD_REQUIRE_CHROMIUM") == "1" {
			t.Fatal("chromium not found and CALLSHIELD_REQUIRE_CHROMIUM=1")
		}
		t.Skip("chromium not found: install the Debian package chromium to run the browser test")
	}
	// A fresh profile; Chromium's helpers may still write into it for a moment after
	// it exits, so it is removed best-effort rather than with t.TempDir.
	profile, err := os.MkdirTemp("", "callshield-chromium-")
	require.NoError(t, err)
	// --headless --no-sandbox --disable-gpu --disable-background-networking
	// --no-first-run, among chromedp's defaults.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA(); _ = os.RemoveAll(profile) })
	_, err = chromedp.Run(ctx, chromedp.Evaluate[int]("1")) // start the browser, without a deadline
	require.NoError(t, err)
	tctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	return tctx
}

// shot saves a full-page screenshot as name.png in the artefact directory.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	path := filepath.Join(artifactDir(t), name+".png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

// signIn fills the sign-in page and waits for the calls page.
func signIn(t *testing.T, ctx context.Context, base, email, password string) {
	t.Helper()
	signInAs(t, ctx, base, email, password, "admin")
}

// signInAs signs in to the given interface ("admin" or "workplace").
func signInAs(t *testing.T, ctx context.Context, base, email, password, kind string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err := chromedp.Do(sctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), password),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#login-form select[name=kind]").value = "`+kind+`"`),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#calls`)),
	)
	if err != nil {
		shot(t, ctx, "failed-sign-in")
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("sign in as %s: %v\n%s", email, err, body)
	}
}

func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login-form`))))
}

// phones returns the client numbers shown in the calls table.
func phones(t *testing.T, ctx context.Context) []string {
	out, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#calls td.phone")].map(td => td.textContent.trim())`))
	require.NoError(t, err)
	return out
}

// TestBrowser drives the web UI in headless Chromium: sign in, see masked numbers as an
// agent and clear ones as a supervisor, open the action log, with screenshots.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	srv := startServer(t, "-db", filepath.Join(t.TempDir(), "demo.db"), "-admin-password", demoPassword)

	// The agent, at the agent workplace: masked numbers, no admin pages in the menu, the
	// workplace status bar.
	signInAs(t, ctx, srv.base, "agent@demo.test", demoPassword, "workplace")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#workplace-form input[name=queue]`), "Sales Italia"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#workplace-form select[name=status]").value = "on call"`),
	))
	// The form reloads the page when the update succeeds: wait for that navigation
	// before looking at the new page (a query that straddles the reload fails with
	// "Could not find node with given id").
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	_, err := chromedp.RunResponse(wctx, chromedp.Click(chromedp.CSS(`#workplace-form button`)))
	wcancel()
	require.NoError(t, err, "the workplace update did not reload the page")
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#workplace-form .muted`))))
	since, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#workplace-form .muted`)))
	require.NoError(t, err)
	assert.Contains(t, since, "on call since")
	shot(t, ctx, "calls-agent")
	ps := phones(t, ctx)
	require.NotEmpty(t, ps)
	masked := regexp.MustCompile(`^\+\d{1,3}\*{6,}\d\d$`)
	for _, p := range ps {
		assert.Regexp(t, masked, p)
	}
	menu, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`nav.side`)))
	require.NoError(t, err)
	assert.NotContains(t, menu, "Users")
	assert.NotContains(t, menu, "Action log")
	signOut(t, ctx)

	// The supervisor: clear numbers, the recording player.
	signIn(t, ctx, srv.base, "supervisor@demo.test", demoPassword)
	shot(t, ctx, "calls-supervisor")
	clear := regexp.MustCompile(`^\+\d{8,15}$`)
	ps = phones(t, ctx)
	require.NotEmpty(t, ps)
	for _, p := range ps {
		assert.Regexp(t, clear, p)
	}
	players, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#calls audio").length`))
	require.NoError(t, err)
	assert.Positive(t, players)
	signOut(t, ctx)

	// The admin: the users page and the action log with its chart.
	signIn(t, ctx, srv.base, "admin@demo.test", demoPassword)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.base+"/users"), chromedp.WaitVisible(chromedp.CSS(`#users`))))
	usersText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#users`)))
	require.NoError(t, err)
	assert.Contains(t, usersText, "carol@demo.test")
	assert.Contains(t, usersText, "invited")
	shot(t, ctx, "users")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.base+"/audit/actions"), chromedp.WaitVisible(chromedp.CSS(`#events`))))
	events, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#events`)))
	require.NoError(t, err)
	assert.Contains(t, events, "GET /calls")
	assert.Contains(t, events, "body.password=[REDACTED]", "the sign-in's password is redacted in the action log")
	shot(t, ctx, "action-log")
	for _, page := range []string{"projects", "roles", "settings", "sessions"} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.base+"/"+page), chromedp.WaitVisible(chromedp.CSS(`main h1`))))
		shot(t, ctx, "page-"+page)
	}

	// Settings: require two-factor of the Supervisor role (its box, saved with the
	// rest of the form); after the save's reload and a fresh load it is still ticked,
	// the others are not. (Nobody signs in as a Supervisor after this.)
	roleBoxes := `[...document.querySelectorAll("#two-factor-roles tr[data-role]")].map(tr => tr.dataset.role + "=" + tr.querySelector("input[type=checkbox]").checked)`
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.base+"/settings"), chromedp.WaitVisible(chromedp.CSS(`#two-factor-roles`))))
	boxes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](roleBoxes))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"Admin=false", "Supervisor=false", "Agent=false"}, boxes, "one unticked box per role")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#two-factor-roles tr[data-role="Supervisor"] input[type=checkbox]`))))
	// The form reloads the page when the save succeeds; a refusal stays on the page.
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err = chromedp.RunResponse(sctx, chromedp.Click(chromedp.CSS(`#settings-form button[type=submit]`)))
	cancel()
	if err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#settings-form .form-error").textContent`))
		shot(t, ctx, "failed-settings-save")
		t.Fatalf("the settings save did not reload the page: %v (%q)", err, msg)
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.base+"/settings"), chromedp.WaitVisible(chromedp.CSS(`#two-factor-roles`))))
	boxes, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](roleBoxes))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"Admin=false", "Supervisor=true", "Agent=false"}, boxes, "the Supervisor's box stays ticked")
	shot(t, ctx, "settings-two-factor-roles")

	// The profile: create the API token, shown once; use it; see it in the API usage.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.base+"/profile"),
		chromedp.WaitVisible(chromedp.CSS(`#token-form`)),
		chromedp.Click(chromedp.CSS(`#token-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#token-secret`)),
	))
	secret, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#token-secret code`)))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(secret, "cst_"), secret)
	shot(t, ctx, "profile-token")
	api := newClient(t, srv.base)
	api.hdr.Set("Authorization", "Bearer "+secret)
	for range 3 {
		api.must(200, "GET", "/api/v1/calls?limit=1", nil, nil)
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.base+"/usage"), chromedp.WaitVisible(chromedp.CSS(`#usage`))))
	usage, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#usage`)))
	require.NoError(t, err)
	assert.Contains(t, usage, "Ada Admin")
	shot(t, ctx, "api-usage")

	// Two-factor from the profile: connect, type the code the app would show, see the
	// recovery codes; then sign in again with the second factor.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.base+"/profile"),
		chromedp.WaitVisible(chromedp.CSS(`#totp-start`)),
		chromedp.Click(chromedp.CSS(`#totp-start button`)),
		chromedp.WaitVisible(chromedp.CSS(`#totp-setup`)),
	))
	key, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#totp-secret`)))
	require.NoError(t, err)
	sec, err := totp.ParseSecret(strings.TrimSpace(key))
	require.NoError(t, err)
	shot(t, ctx, "twofactor-connect")
	now := time.Now()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#totp-confirm input[name=code]`), totp.Code(sec, now, totp.Config{})),
		chromedp.Click(chromedp.CSS(`#totp-confirm button`)),
		chromedp.WaitVisible(chromedp.CSS(`#recovery-codes`)),
	))
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#recovery-codes li").length`))
	require.NoError(t, err)
	assert.Positive(t, codes)
	shot(t, ctx, "twofactor-recovery-codes")
	signOut(t, ctx)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=email]`), "admin@demo.test"),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), demoPassword),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#totp-form`)),
	))
	shot(t, ctx, "twofactor-prompt")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#totp-form input[name=code]`), totp.Code(sec, now.Add(30*time.Second), totp.Config{})),
		chromedp.Click(chromedp.CSS(`#totp-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#calls`)),
	))

	// Invite a user from the page; the invitation mail lands in the dev outbox.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.base+"/users"), chromedp.WaitVisible(chromedp.CSS(`#invite-form`))))
	_, err = chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const s = document.querySelector("#invite-form select[name=role]");
		for (const o of s.options) if (o.text === "Agent") s.value = o.value;
		document.querySelector("#invite-form input[name=projects]").checked = true;
		return s.value })()`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#invite-form input[name=email]`), "olga@demo.test"),
		chromedp.SendKeys(chromedp.CSS(`#invite-form input[name=name]`), "Olga Onboard"),
		chromedp.Click(chromedp.CSS(`#invite-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-email="olga@demo.test"]`)),
		chromedp.Navigate(srv.base+"/outbox"),
		chromedp.WaitVisible(chromedp.CSS(`a.mail-link`)),
	))
	link, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("a.mail-link").href`))
	require.NoError(t, err)
	require.Contains(t, link, "/invite#")
	signOut(t, ctx)

	// Accept it: a weak password is refused with the rules marked, a strong one works.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`#accept-form`)),
		chromedp.SendKeys(chromedp.CSS(`#accept-form input[name=password]`), "password"),
		chromedp.Click(chromedp.CSS(`#accept-submit`)),
	))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#accept-form .form-error").textContent.length > 0`))
	require.NoError(t, err)
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#password-rules li.bad")].map(li => li.dataset.rule)`))
	require.NoError(t, err)
	assert.Contains(t, bad, "blocklisted", "the server's verdict marks the broken rules")
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.NotContains(t, loc, "#", "the secret left the address bar")
	errText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#accept-form .form-error`)))
	require.NoError(t, err)
	assert.Contains(t, errText, "policy")
	shot(t, ctx, "invite-weak-password")
	const olgaPassword = "quartz pelican harbour 5521 dusk"
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#accept-form input[name=password]").value = ""`),
		chromedp.SendKeys(chromedp.CSS(`#accept-form input[name=password]`), olgaPassword),
		chromedp.Click(chromedp.CSS(`#accept-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#accept-done`)),
	))
	shot(t, ctx, "invite-accepted")
	signIn(t, ctx, srv.base, "olga@demo.test", olgaPassword)
	me, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#me-link`)))
	require.NoError(t, err)
	assert.Equal(t, "Olga Onboard", strings.TrimSpace(me))
}
