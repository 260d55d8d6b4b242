package audit

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCleanEscapesLogInjection covers ASVS 16.4.1 / the OWASP Logging cheat sheet: a
// user-supplied field can never start a new log line, move the cursor or recolour a
// terminal, and invalid UTF-8 cannot reach a log or the database.
func TestCleanEscapesLogInjection(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain text is unchanged", "Mozilla/5.0 (X11; Linux) Firefox/128.0", "Mozilla/5.0 (X11; Linux) Firefox/128.0"},
		{"unicode is unchanged", "Zoë 東京 🚀", "Zoë 東京 🚀"},
		{"LF forging a new line", "bob\n2025-01-01 INFO login ok user=admin", `bob\x0a2025-01-01 INFO login ok user=admin`},
		{"CR LF", "a\r\nb", `a\x0d\x0ab`},
		{"ANSI escape", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"NUL and DEL", "a\x00b\x7f", `a\x00b\x7f`},
		{"C1 control (NEL)", "a\u0085b", `a\x85b`},
		{"line separator U+2028", "a\u2028b", `a\u2028b`},
		{"paragraph separator U+2029", "a\u2029b", `a\u2029b`},
		{"a backslash is escaped so escapes cannot be forged", `a\x0ab`, `a\\x0ab`},
		{"invalid UTF-8", "a\xffb\xc0", "a\uFFFDb\uFFFD"},
		{"tab", "a\tb", `a\x09b`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Clean(c.in)
			assert.Equal(t, c.want, got)
			assertLogSafe(t, got)
		})
	}
}

// assertLogSafe checks that s cannot break a line-oriented log.
func assertLogSafe(t testing.TB, s string) {
	t.Helper()
	assert.True(t, utf8.ValidString(s), "valid UTF-8: %q", s)
	for _, r := range s {
		assert.False(t, r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\u2028' || r == '\u2029',
			"control character %U in %q", r, s)
	}
}

func TestCleanCutsAtMaxFieldLenOnARuneBoundary(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("a", MaxFieldLen+1),
		strings.Repeat("é", MaxFieldLen),
		strings.Repeat("\n", MaxFieldLen), // each escapes to four bytes
		strings.Repeat("a", MaxFieldLen-1) + "東",
	} {
		got := Clean(in)
		assert.LessOrEqual(t, len(got), MaxFieldLen)
		assert.True(t, utf8.ValidString(got))
	}
	exact := strings.Repeat("a", MaxFieldLen)
	assert.Equal(t, exact, Clean(exact))
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\x1b[2J", "\xff", "a\u2028", `\`, strings.Repeat("é", 3000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Clean(s)
		assertLogSafe(t, got)
		if len(got) > MaxFieldLen {
			t.Fatalf("Clean returned %d bytes", len(got))
		}
		// A string that holds nothing to escape, and fits, is returned as is.
		if len(s) <= MaxFieldLen && utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
			return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\u2028' || r == '\u2029' || r == '\\'
		}) && got != s {
			t.Fatalf("Clean(%q) = %q, want it unchanged", s, got)
		}
		assertLogSafe(t, safeText(s))
	})
}

func TestSanitizeCleansEveryFreeTextField(t *testing.T) {
	evil := "x\r\ny\x1b[0m\u2028\xff"
	e := Event{
		Tenant: uuid.New(), Kind: KindLogin, Action: "login", Outcome: Failure,
		Actor:   Actor{UserAgent: evil, Role: evil},
		Target:  Target{Type: "user", ID: evil, Name: evil},
		Reason:  evil,
		Changes: []Change{{Field: evil, Old: evil, New: evil}},
		Details: map[string]string{"note": evil},
	}
	details := e.Details
	require.NoError(t, Prepare(&e, time.Now()))
	for _, s := range []string{e.Actor.UserAgent, e.Actor.Role, e.Target.ID, e.Target.Name, e.Reason,
		e.Changes[0].Field, e.Changes[0].Old, e.Changes[0].New, e.Details["note"]} {
		assertLogSafe(t, s)
		assert.Equal(t, Clean(evil), s)
	}
	assert.Equal(t, evil, details["note"], "the caller's map is not changed")
}

func TestPrepareFillsIDTimeAndValidates(t *testing.T) {
	now := time.Date(2025, 3, 14, 15, 9, 26, 535897999, time.FixedZone("CET", 3600))
	e := Event{Tenant: uuid.New(), Kind: KindChange, Action: "role.update", Outcome: Success}
	require.NoError(t, Prepare(&e, now))
	assert.Equal(t, uuid.Version(7), e.ID.Version(), "a UUIDv7")
	assert.Equal(t, time.UTC, e.Time.Location(), "16.2.2: stored in UTC")
	assert.True(t, e.Time.Equal(now.Truncate(time.Microsecond)))

	for name, bad := range map[string]Event{
		"no tenant":       {Kind: KindLogin, Action: "login", Outcome: Success},
		"no kind":         {Tenant: uuid.New(), Action: "login", Outcome: Success},
		"bad action":      {Tenant: uuid.New(), Kind: KindLogin, Action: "Log In", Outcome: Success},
		"no outcome":      {Tenant: uuid.New(), Kind: KindLogin, Action: "login"},
		"bad detail key":  {Tenant: uuid.New(), Kind: KindLogin, Action: "login", Outcome: Success, Details: map[string]string{"Bad Key": "x"}},
		"host kind, bad":  {Tenant: uuid.New(), Kind: "CRM.Export", Action: "export", Outcome: Success},
		"bad target type": {Tenant: uuid.New(), Kind: KindLogin, Action: "login", Outcome: Success, Target: Target{Type: "a b"}},
	} {
		err := Prepare(&bad, now)
		assert.ErrorIs(t, err, ErrInvalidEvent, name)
		var ie *InvalidEventError
		assert.ErrorAs(t, err, &ie, name)
	}
	host := Event{Tenant: uuid.New(), Kind: "crm.export", Action: "export.csv", Outcome: Success}
	assert.NoError(t, Prepare(&host, now), "hosts add their own kinds by name")
}

func TestPrepareAddsBrowserDetailsToLoginAndSessionEvents(t *testing.T) {
	const ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36"
	for _, kind := range []Kind{KindLogin, KindSession} {
		e := Event{Tenant: uuid.New(), Kind: kind, Action: "login", Outcome: Success, Actor: Actor{UserAgent: ua}}
		require.NoError(t, Prepare(&e, time.Now()))
		assert.Equal(t, map[string]string{"browser": "Chrome", "browser_version": "118.0.0.0", "os": "Windows", "device": "Desktop"},
			e.Details, kind)
	}
	// Keys already set are kept; other kinds are left alone; no user agent, no details.
	set := map[string]string{"browser": "Custom"}
	e := Event{Tenant: uuid.New(), Kind: KindLogin, Action: "login", Outcome: Success, Actor: Actor{UserAgent: ua}, Details: set}
	require.NoError(t, Prepare(&e, time.Now()))
	assert.Equal(t, "Custom", e.Details["browser"])
	assert.Equal(t, "118.0.0.0", e.Details["browser_version"])
	assert.Equal(t, map[string]string{"browser": "Custom"}, set, "the caller's map is not changed")

	e = Event{Tenant: uuid.New(), Kind: KindChange, Action: "role.update", Outcome: Success, Actor: Actor{UserAgent: ua}}
	require.NoError(t, Prepare(&e, time.Now()))
	assert.Nil(t, e.Details)
	e = Event{Tenant: uuid.New(), Kind: KindLogin, Action: "login", Outcome: Success}
	require.NoError(t, Prepare(&e, time.Now()))
	assert.Nil(t, e.Details)
}
