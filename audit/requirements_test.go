package audit_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEventsSayWhenWhereWhoWhat (ASVS 16.2.1, 16.2.2): an event stored through any
// path — Record, Enqueue, the slog bridge, the action-log builder — says when (a UTC
// time to the microsecond), where (tenant, project, client address), who (user, role,
// session, token, browser) and what (kind, action, target, outcome); an event missing
// when's, where's or what's required part is refused on every path.
func TestEventsSayWhenWhereWhoWhat(t *testing.T) {
	mem := memory.New(memory.Options{})
	rec := audit.NewRecorder(mem, audit.Options{})
	w := audit.NewWriter(mem, audit.WriterOptions{FlushInterval: -1, Logger: quiet})
	h := slog.New(audit.NewSlogHandler(w, audit.SlogOptions{}))
	user, session, token, project := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	ip := netip.MustParseAddr("198.51.100.23")
	actor := audit.Actor{User: user, Role: "Agent", IP: ip, Session: session, Token: token, UserAgent: "curl/8.5.0"}

	base := audit.Event{Tenant: tenantA, Kind: audit.KindRecording, Action: "recording.listen", Outcome: audit.Success,
		Actor: actor, Target: audit.Target{Type: "recording", ID: "rec-1"}, Project: project}
	require.NoError(t, rec.Record(context.Background(), base))
	viaWriter := base
	viaWriter.Action = "recording.download"
	require.NoError(t, w.Enqueue(viaWriter))
	h.Info("listened", slog.Group("audit", "tenant", tenantA, "kind", "recording", "action", "recording.listen",
		"user", user, "role", "Agent", "ip", ip, "session", session, "token", token, "user_agent", "curl/8.5.0",
		"target_type", "recording", "target_id", "rec-1", "project", project))
	act := audit.ActionEvent(httptest.NewRequest("GET", "/api/v1/recordings/rec-1", nil), audit.ActionOptions{})
	act.Tenant, act.Actor, act.Project, act.Outcome = tenantA, actor, project, audit.ActionOutcome(200)
	act.Target = audit.Target{Type: "recording", ID: "rec-1"}
	require.NoError(t, w.Enqueue(act))

	for name, bad := range map[string]audit.Event{
		"no tenant (where)": {Kind: audit.KindAction, Action: "x", Outcome: audit.Success},
		"no kind (what)":    {Tenant: tenantA, Action: "x", Outcome: audit.Success},
		"no action (what)":  {Tenant: tenantA, Kind: audit.KindAction, Outcome: audit.Success},
		"no outcome":        {Tenant: tenantA, Kind: audit.KindAction, Action: "x"},
	} {
		assert.ErrorIs(t, rec.Record(context.Background(), bad), audit.ErrInvalidEvent, "Record: %s", name)
		assert.ErrorIs(t, w.Enqueue(bad), audit.ErrInvalidEvent, "Enqueue: %s", name)
	}
	require.NoError(t, w.Close(context.Background()))

	got := stored(t, mem)
	require.Len(t, got, 4)
	for i, e := range got {
		assert.False(t, e.Time.IsZero(), "event %d: when", i)
		assert.Equal(t, time.UTC, e.Time.Location(), "event %d: UTC", i)
		assert.Equal(t, e.Time, e.Time.Truncate(time.Microsecond), "event %d: microseconds", i)
		assert.Equal(t, tenantA, e.Tenant, "event %d: where (tenant)", i)
		assert.Equal(t, project, e.Project, "event %d: where (project)", i)
		assert.Equal(t, ip, e.Actor.IP, "event %d: where (address)", i)
		assert.Equal(t, user, e.Actor.User, "event %d: who", i)
		assert.Equal(t, session, e.Actor.Session, "event %d: who (session)", i)
		assert.Equal(t, token, e.Actor.Token, "event %d: who (API token)", i)
		assert.Equal(t, "Agent", e.Actor.Role, "event %d: who (role)", i)
		assert.NotEmpty(t, e.Kind, "event %d: what", i)
		assert.NotEmpty(t, e.Action, "event %d: what", i)
		assert.Equal(t, "rec-1", e.Target.ID, "event %d: what (target)", i)
		assert.Equal(t, audit.Success, e.Outcome, "event %d: outcome", i)
	}
}

// TestNoSecretsReachEventsLogsOrExports (ASVS 16.2.5, audit side): known secrets fed
// through every audit path — a password change, an API call with a token in the query
// and the Authorization header, a form with card data and a TOTP code, a JSON body, an
// slog record — appear in no stored event, mirrored log line, writer log or export.
func TestNoSecretsReachEventsLogsOrExports(t *testing.T) {
	// Each secret is distinctive enough not to occur by chance in IDs, times or
	// hashes (a three-digit CVV would).
	secrets := []string{"Hunter2-correct-horse", "cs_live_9f8e7d6c5b4a", "JBSWY3DPEHPK3PXP", "4111111111111111",
		"DE89370400440532013000", "rc-4242-abcd", "sess-0f1e2d3c", "Bearer-zzz-top"}
	mem := memory.New(memory.Options{})
	var mirror, logs bytes.Buffer
	rec := audit.NewRecorder(mem, audit.Options{Mirror: slog.New(slog.NewJSONHandler(&mirror, nil))})
	w := audit.NewWriter(mem, audit.WriterOptions{FlushInterval: -1, Mirror: slog.New(slog.NewJSONHandler(&mirror, nil)),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	ctx := context.Background()

	// A password change and a TOTP enrolment: the change log keeps that they changed.
	require.NoError(t, rec.Record(ctx, audit.Event{Tenant: tenantA, Kind: audit.KindChange, Action: "user.password",
		Outcome: audit.Success, Changes: []audit.Change{audit.Secret("password"), audit.Secret("totp_secret")}}))
	// An API call carrying a token in the URL (refused by the token middleware, but
	// logged first) and in the header, with secret form fields.
	r := httptest.NewRequest("POST", "/api/v1/pay?access_token=cs_live_9f8e7d6c5b4a&page=1", nil)
	r.Header.Set("Authorization", "Bearer Bearer-zzz-top")
	r.Header.Set("Cookie", "session=sess-0f1e2d3c")
	form := map[string][]string{"card_number": {"4111111111111111"}, "cvv": {"737"}, "iban": {"DE89370400440532013000"},
		"totp_code": {"JBSWY3DPEHPK3PXP"}, "recovery_code": {"rc-4242-abcd"}, "new_password": {"Hunter2-correct-horse"}}
	e := audit.ActionEvent(r, audit.ActionOptions{Body: form})
	e.Tenant, e.Outcome = tenantA, audit.Denied
	require.NoError(t, w.Enqueue(e))
	body, err := audit.ParamsFromJSON([]byte(`{"card":{"pan":"4111111111111111","cvc":"737"},"password":"Hunter2-correct-horse"}`))
	require.NoError(t, err)
	e = audit.ActionEvent(httptest.NewRequest("POST", "/api/v1/cards", nil), audit.ActionOptions{Body: body})
	e.Tenant, e.Outcome = tenantA, audit.Success
	require.NoError(t, w.Enqueue(e))
	// A careless slog record with a secret in the audit group.
	slog.New(audit.NewSlogHandler(w, audit.SlogOptions{})).Info("token created", slog.Group("audit",
		"tenant", tenantA, "kind", "change", "action", "token.create", "token_value", "cs_live_9f8e7d6c5b4a"))
	require.NoError(t, w.Close(ctx))

	var csvOut, jsonOut bytes.Buffer
	_, err = audit.ExportCSV(ctx, &csvOut, audit.All(ctx, mem, tenantA, audit.Query{}))
	require.NoError(t, err)
	_, err = audit.ExportJSONL(ctx, &jsonOut, audit.All(ctx, mem, tenantA, audit.Query{}))
	require.NoError(t, err)
	var events strings.Builder
	for _, ev := range stored(t, mem) {
		events.WriteString(ev.Reason + ev.Target.Name + ev.Actor.UserAgent)
		for _, c := range ev.Changes {
			events.WriteString(c.Old + c.New)
		}
		for k, v := range ev.Details {
			events.WriteString(k + "=" + v + "\n")
		}
	}
	require.Len(t, stored(t, mem), 4)
	for name, text := range map[string]string{"events": events.String(), "mirror": mirror.String(), "writer log": logs.String(),
		"CSV": csvOut.String(), "JSONL": jsonOut.String()} {
		if name != "writer log" { // the writer logs only failures, and there were none
			require.NotEmpty(t, text, name)
		}
		for _, s := range secrets {
			assert.NotContains(t, text, s, "%s holds a secret", name)
		}
	}
	assert.Contains(t, events.String(), "body.card_number="+audit.RedactedValue)
	assert.Contains(t, events.String(), "token_value="+audit.RedactedValue)
}

// creds is a LogValuer that resolves to a group holding a secret.
type creds struct{ password string }

func (c creds) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", "alice"), slog.String("password", c.password))
}

// TestNoSecretsReachTheNextHandler (ASVS 16.2.5, slog bridge): a marked record that does
// not become an event — the writer's queue is full, the writer is closed, the record is
// below SlogOptions.Level, or it is no valid event — still reaches Next, with every value
// an event would redact replaced by RedactedValue: sensitive names in the audit group,
// in groups nested in it, in a LogValuer's group, given through With or under WithGroup,
// in upper case, and a token field that holds no token ID but a token.
func TestNoSecretsReachTheNextHandler(t *testing.T) {
	secrets := []string{"sk_live_SECRET123", "4111111111111111", "Hunter2-correct-horse", "JBSWY3DPEHPK3PXP",
		"Bearer-zzz-top", "rc-4242-abcd", "cs_live_9f8e7d6c5b4a", "sess-0f1e2d3c"}
	// logAll logs every shape of secret-bearing audit record at level, for tenant.
	logAll := func(log *slog.Logger, level slog.Level, tenant string) {
		ctx := context.Background()
		marker := func(action string, more ...any) slog.Attr {
			return slog.Group("audit", append([]any{"tenant", tenant, "kind", "change", "action", action}, more...)...)
		}
		log.Log(ctx, level, "api key created", marker("key.create", "api_key", "sk_live_SECRET123"))
		log.Log(ctx, level, "card added", marker("card.add", slog.Group("payment", "card_number", "4111111111111111", "brand", "visa")))
		log.Log(ctx, level, "login", marker("login", slog.Any("creds", creds{"Hunter2-correct-horse"})))
		log.With(slog.Group("audit", "totp_secret", "JBSWY3DPEHPK3PXP")).Log(ctx, level, "totp enrolled", marker("totp.enrol"))
		log.WithGroup("audit").With("recovery_code", "rc-4242-abcd").Log(ctx, level, "recovery used",
			"tenant", tenant, "kind", "login", "action", "recovery.use", slog.Group("http", "session_id", "sess-0f1e2d3c"))
		log.Log(ctx, level, "token used", marker("token.use", "token", "Bearer-zzz-top", "API_KEY", "cs_live_9f8e7d6c5b4a"))
	}

	for _, c := range []struct {
		name string
		// run logs the records through a handler wrapping next.
		run func(t *testing.T, next slog.Handler)
		// failed is whether the records carry an audit_error.
		failed bool
	}{
		{"queue full", func(t *testing.T, next slog.Handler) {
			fs, _ := newFlaky()
			w := audit.NewWriter(fs, audit.WriterOptions{QueueSize: 1, FlushInterval: -1, MaxBlock: -1, Logger: quiet})
			require.NoError(t, w.Enqueue(action(0)))
			<-fs.entered // the writer holds event 0 in Append
			require.NoError(t, w.Enqueue(action(1)))
			h := audit.NewSlogHandler(w, audit.SlogOptions{Next: next})
			logAll(slog.New(h), slog.LevelInfo, tenantA.String())
			assert.Equal(t, int64(6), h.Failed())
			close(fs.gate)
			require.NoError(t, w.Close(context.Background()))
		}, true},
		{"writer closed", func(t *testing.T, next slog.Handler) {
			w := audit.NewWriter(memory.New(memory.Options{}), audit.WriterOptions{Logger: quiet})
			require.NoError(t, w.Close(context.Background()))
			logAll(slog.New(audit.NewSlogHandler(w, audit.SlogOptions{Next: next})), slog.LevelInfo, tenantA.String())
		}, true},
		{"below the audit level", func(t *testing.T, next slog.Handler) {
			s := &sink{}
			logAll(slog.New(audit.NewSlogHandler(s, audit.SlogOptions{Next: next, Level: slog.LevelWarn})), slog.LevelInfo, tenantA.String())
			assert.Empty(t, s.events)
		}, false},
		{"invalid event", func(t *testing.T, next slog.Handler) {
			s := &sink{}
			logAll(slog.New(audit.NewSlogHandler(s, audit.SlogOptions{Next: next})), slog.LevelInfo, "not-a-uuid")
			assert.Empty(t, s.events)
		}, true},
	} {
		for _, format := range []string{"json", "text"} {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				var out bytes.Buffer
				var next slog.Handler = slog.NewJSONHandler(&out, nil)
				if format == "text" {
					next = slog.NewTextHandler(&out, nil)
				}
				c.run(t, next)
				text := out.String()
				require.Equal(t, 6, strings.Count(text, "\n"), "every record reached Next:\n%s", text)
				for _, s := range secrets {
					assert.False(t, strings.Contains(text, s), "Next received %s", s)
				}
				assert.Equal(t, 8, strings.Count(text, audit.RedactedValue), "each secret replaced:\n%s", text)
				for _, kept := range []string{"key.create", "visa", "alice", "totp.enrol", "recovery.use", "token.use"} {
					assert.Contains(t, text, kept, "what is no secret reaches Next")
				}
				assert.Equal(t, c.failed, strings.Contains(text, "audit_error"))
			})
		}
	}
}
