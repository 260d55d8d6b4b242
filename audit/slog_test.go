package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sink is an audit.Enqueuer that keeps what it is given, prepared like Writer.Enqueue.
type sink struct {
	mu     sync.Mutex
	events []audit.Event
	fail   error
}

func (s *sink) Enqueue(e audit.Event) error {
	if s.fail != nil {
		return s.fail
	}
	if err := audit.Prepare(&e, time.Now()); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}

func TestSlogHandlerTurnsMarkedRecordsIntoEvents(t *testing.T) {
	var out bytes.Buffer
	s := &sink{}
	h := audit.NewSlogHandler(s, audit.SlogOptions{Next: slog.NewJSONHandler(&out, nil)})
	log := slog.New(h)
	user, project, session := uuid.New(), uuid.New(), uuid.New()
	tm := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

	r := slog.NewRecord(tm, slog.LevelInfo, "recording downloaded", 0)
	r.AddAttrs(slog.Group("audit",
		slog.String("tenant", tenantA.String()), slog.String("kind", "recording"), slog.String("action", "recording.download"),
		slog.Any("user", user), slog.String("role", "Supervisor"), slog.Any("ip", netip.MustParseAddr("203.0.113.7")),
		slog.Any("session", session), slog.String("target_type", "recording"), slog.String("target_id", "rec-42"),
		slog.Any("project", project), slog.Group("http", slog.Int("status", 200)), slog.String("format", "wav")),
		slog.String("unrelated", "kept out of the event"))
	require.NoError(t, h.Handle(context.Background(), r))
	log.Info("an ordinary log line", "k", "v")

	require.Len(t, s.events, 1)
	e := s.events[0]
	assert.Equal(t, tenantA, e.Tenant)
	assert.Equal(t, audit.KindRecording, e.Kind)
	assert.Equal(t, "recording.download", e.Action)
	assert.Equal(t, audit.Success, e.Outcome, "the default outcome")
	assert.Equal(t, audit.Actor{User: user, Role: "Supervisor", IP: netip.MustParseAddr("203.0.113.7"), Session: session}, e.Actor)
	assert.Equal(t, audit.Target{Type: "recording", ID: "rec-42"}, e.Target)
	assert.Equal(t, project, e.Project)
	assert.True(t, e.Time.Equal(tm))
	assert.Equal(t, map[string]string{"http.status": "200", "format": "wav", "message": "recording downloaded"}, e.Details)

	assert.Contains(t, out.String(), "an ordinary log line", "unmarked records go to Next")
	assert.NotContains(t, out.String(), "recording downloaded", "audit records become events, not log lines")
}

func TestSlogHandlerReadsTheMarkerFromWithAndWithGroup(t *testing.T) {
	s := &sink{}
	base := slog.New(audit.NewSlogHandler(s, audit.SlogOptions{}))
	// A logger dedicated to one tenant's audit events.
	alog := base.With(slog.Group("audit", "tenant", tenantA.String(), "kind", "session"))
	alog.Warn("session revoked", slog.Group("audit", "action", "session.revoke", "outcome", "success", "reason", "admin"))
	// WithGroup opens the marker group for every later attribute.
	base.WithGroup("audit").Info("login failed", "tenant", tenantA.String(), "kind", "login", "action", "login",
		"outcome", "failure", "reason", "unknown_user")
	// A group named audit below the top level is not the marker.
	base.WithGroup("http").Info("x", slog.Group("audit", "tenant", tenantA.String(), "kind", "login", "action", "login"))

	require.Len(t, s.events, 2)
	assert.Equal(t, "session.revoke", s.events[0].Action)
	assert.Equal(t, audit.KindSession, s.events[0].Kind)
	assert.Equal(t, "admin", s.events[0].Reason)
	assert.Equal(t, audit.Failure, s.events[1].Outcome)
	assert.Equal(t, "unknown_user", s.events[1].Reason)
}

func TestSlogHandlerReportsRecordsItCannotRecord(t *testing.T) {
	var out bytes.Buffer
	var errs []error
	s := &sink{}
	h := audit.NewSlogHandler(s, audit.SlogOptions{Next: slog.NewJSONHandler(&out, nil), OnError: func(err error) { errs = append(errs, err) }})
	log := slog.New(h)
	log.Info("no tenant", slog.Group("audit", "kind", "login", "action", "login"))
	log.Info("bad uuid", slog.Group("audit", "tenant", "not-a-uuid", "kind", "login", "action", "login"))
	log.Info("bad ip", slog.Group("audit", "tenant", tenantA.String(), "kind", "login", "action", "login", "ip", "999.1.1.1"))
	log.Info("bad key", slog.Group("audit", "tenant", tenantA.String(), "kind", "login", "action", "login", "Bad Key", "x"))
	s.fail = audit.ErrQueueFull
	log.Info("queue full", slog.Group("audit", "tenant", tenantA.String(), "kind", "login", "action", "login"))

	assert.Empty(t, s.events)
	assert.Len(t, errs, 5)
	assert.Equal(t, int64(5), h.Failed())
	assert.ErrorIs(t, errs[0], audit.ErrInvalidEvent)
	assert.ErrorIs(t, errs[4], audit.ErrQueueFull)
	assert.Equal(t, 5, strings.Count(out.String(), `"audit_error"`), "each reached the log with its error:\n%s", out.String())

	// Without Next, Handle returns the error.
	h2 := audit.NewSlogHandler(s, audit.SlogOptions{})
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0)
	r.AddAttrs(slog.Group("audit", "kind", "login"))
	assert.ErrorIs(t, h2.Handle(context.Background(), r), audit.ErrQueueFull)
}

func TestSlogHandlerLevel(t *testing.T) {
	s := &sink{}
	var out bytes.Buffer
	h := audit.NewSlogHandler(s, audit.SlogOptions{Level: slog.LevelInfo,
		Next: slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})})
	assert.True(t, h.Enabled(context.Background(), slog.LevelDebug), "Next wants debug")
	log := slog.New(h)
	log.Debug("below the audit level", slog.Group("audit", "tenant", tenantA.String(), "kind", "login", "action", "login"))
	log.Info("at the audit level", slog.Group("audit", "tenant", tenantA.String(), "kind", "login", "action", "login"))
	assert.Len(t, s.events, 1)
	assert.Contains(t, out.String(), "below the audit level")

	quietH := audit.NewSlogHandler(s, audit.SlogOptions{Level: slog.LevelWarn})
	assert.False(t, quietH.Enabled(context.Background(), slog.LevelInfo))
}

// TestSlogHandlerPassesOtherRecordsThrough runs testing/slogtest on the handler
// wrapping a JSON handler: for records without the marker it must behave exactly
// like the handler it wraps (groups, WithAttrs, WithGroup, empty attributes).
func TestSlogHandlerPassesOtherRecordsThrough(t *testing.T) {
	var buf bytes.Buffer
	h := audit.NewSlogHandler(&sink{}, audit.SlogOptions{Next: slog.NewJSONHandler(&buf, nil)})
	results := func() []map[string]any {
		var ms []map[string]any
		for _, line := range bytes.Split(buf.Bytes(), []byte{'\n'}) {
			if len(line) == 0 {
				continue
			}
			var m map[string]any
			require.NoError(t, json.Unmarshal(line, &m))
			ms = append(ms, m)
		}
		return ms
	}
	require.NoError(t, slogtest.TestHandler(h, results))
}

// TestLogEventIsInjectionSafe: an event mirrored to a text log cannot forge a line,
// and a mirrored event reaching an audit handler is logged, not recorded again.
func TestLogEventIsInjectionSafe(t *testing.T) {
	var out bytes.Buffer
	e := audit.Event{ID: uuid.New(), Tenant: tenantA, Seq: 9, Time: time.Now().UTC(), Kind: audit.KindLogin, Action: "login",
		Outcome: audit.Failure, Reason: "wrong_password\nlevel=INFO msg=\"login ok\" user=admin",
		Actor:   audit.Actor{UserAgent: "evil\r\n\x1b[2J\u2028", IP: netip.MustParseAddr("2001:db8::1")},
		Target:  audit.Target{Name: `back\slash`},
		Changes: []audit.Change{audit.Secret("password")},
		Details: map[string]string{"browser": "Firefox"}}
	audit.LogEvent(context.Background(), slog.New(slog.NewTextHandler(&out, nil)), &e)
	assert.Equal(t, 1, strings.Count(out.String(), "\n"), "one record, one line:\n%s", out.String())
	assert.NotContains(t, out.String(), "\x1b")
	assert.NotContains(t, out.String(), "\u2028")
	assert.Contains(t, out.String(), `audit_event.target.name=back\slash `, "clean text is not escaped twice")
	assert.Contains(t, out.String(), `audit_event.changes.0.field=password audit_event.changes.0.old="" audit_event.changes.0.new="" audit_event.changes.0.redacted=true`)
	assert.Contains(t, out.String(), "audit_event.seq=9")

	s := &sink{}
	var next bytes.Buffer
	loop := slog.New(audit.NewSlogHandler(s, audit.SlogOptions{Next: slog.NewJSONHandler(&next, nil)}))
	audit.LogEvent(context.Background(), loop, &e)
	assert.Empty(t, s.events, "no loop: the mirror group is not the marker")
	assert.Contains(t, next.String(), `"audit_event":`)

	audit.LogEvent(context.Background(), nil, &e) // a nil logger is a no-op
}
