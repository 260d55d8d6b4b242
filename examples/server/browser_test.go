package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

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
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#login-form`)),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#calls`)),
	), "sign in as %s", email)
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

	// The agent: masked numbers, no admin pages in the menu.
	signIn(t, ctx, srv.base, "agent@demo.test", demoPassword)
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
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.base+"/audit/changes"), chromedp.WaitVisible(chromedp.CSS(`#events`))))
	shot(t, ctx, "change-log")
}
