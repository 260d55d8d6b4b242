package audit_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
)

var (
	exampleTenant  = uuid.MustParse("0190a0b1-0000-7000-8000-000000000001")
	exampleUser    = uuid.MustParse("0190a0b1-0000-7000-8000-000000000002")
	exampleProject = uuid.MustParse("0190a0b1-0000-7000-8000-000000000003")
)

// Record a failed sign-in synchronously: the login log keeps the reason (never shown to
// the user) and the browser parsed from the User-Agent.
func ExampleRecorder_Record() {
	store := memory.New(memory.Options{})
	rec := audit.NewRecorder(store, audit.Options{})
	err := rec.Record(context.Background(), audit.Event{
		Tenant:  exampleTenant,
		Kind:    audit.KindLogin,
		Action:  "login",
		Outcome: audit.Failure,
		Reason:  "wrong_password",
		Actor: audit.Actor{
			User:      exampleUser,
			IP:        netip.MustParseAddr("203.0.113.7"),
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		},
		Details: map[string]string{"factor": "password"},
	})
	if err != nil {
		fmt.Println("refuse the sign-in: it could not be recorded:", err)
		return
	}
	evs, _ := store.Events(context.Background(), exampleTenant, audit.Query{Kind: audit.KindLogin})
	e := evs[0]
	fmt.Println(e.Outcome, e.Reason, e.Details["factor"], e.Details["browser"], e.Details["browser_version"], e.Details["os"])
	// Output: failure wrong_password password Firefox 128.0 Linux
}

// Enqueue high-volume events; Close flushes them.
func ExampleWriter() {
	store := memory.New(memory.Options{})
	w := audit.NewWriter(store, audit.WriterOptions{BatchSize: 100})
	for i := range 250 {
		err := w.Enqueue(audit.Event{
			Tenant: exampleTenant, Kind: audit.KindAction, Action: "http.request", Outcome: audit.Success,
			Actor: audit.Actor{User: exampleUser}, Details: map[string]string{"url": fmt.Sprintf("/api/calls/%d", i)},
		})
		if err != nil { // invalid, or the queue stayed full for MaxBlock
			fmt.Println(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		fmt.Println(err) // *audit.NotFlushedError: keep its Events elsewhere
	}
	fmt.Printf("%+v\n", w.Stats())
	// Output: {Queued:0 Written:250 Retried:0 Refused:0}
}

// Verify a tenant's chain. With a keyed chain, someone who edits the database without
// the key cannot make it verify again.
func ExampleVerify() {
	chain := audit.Chain{Key: []byte("from a secret store, never the database")}
	store := memory.New(memory.Options{Chain: chain})
	rec := audit.NewRecorder(store, audit.Options{})
	for _, action := range []string{"role.create", "role.update", "member.set"} {
		_ = rec.Record(context.Background(), audit.Event{Tenant: exampleTenant, Kind: audit.KindChange, Action: action, Outcome: audit.Success})
	}
	res, err := audit.Verify(context.Background(), store, chain, exampleTenant, time.Time{}, time.Time{})
	if err != nil {
		fmt.Println("verification did not complete:", err)
		return
	}
	fmt.Println("checked", res.Checked, "ok", res.OK(), "last seq", res.Last.Seq)

	res, _ = audit.Verify(context.Background(), store, audit.Chain{Key: []byte("a guess")}, exampleTenant, time.Time{}, time.Time{})
	fmt.Println("with another key:", res.FirstBroken)
	// Output:
	// checked 3 ok true last seq 3
	// with another key: seq 1: hash mismatch
}

// Retention: delete events older than the tenant's retention, keeping a checkpoint that
// verification starts from.
func ExamplePurge() {
	chain := audit.Chain{Key: []byte("from a secret store, never the database")}
	store := memory.New(memory.Options{Chain: chain})
	rec := audit.NewRecorder(store, audit.Options{})
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for day := range 10 {
		_ = rec.Record(context.Background(), audit.Event{Tenant: exampleTenant, Kind: audit.KindLogin, Action: "login",
			Outcome: audit.Success, Time: start.AddDate(0, 0, day)})
	}
	now := start.AddDate(0, 0, 10)
	res, err := audit.Purge(context.Background(), store, chain, exampleTenant, now.AddDate(0, 0, -7))
	if err != nil {
		fmt.Println(err) // *audit.ChainBrokenError: nothing past the break was deleted
	}
	fmt.Println("deleted", res.Deleted, "checkpoint seq", res.Checkpoint.Seq)

	v, _ := audit.Verify(context.Background(), store, chain, exampleTenant, time.Time{}, time.Time{})
	fmt.Println("verified", v.Checked, "after the checkpoint at seq", v.Anchor.Seq, "ok", v.OK())
	// Output:
	// deleted 3 checkpoint seq 3
	// verified 7 after the checkpoint at seq 3 ok true
}

// Search the log as a report screen does: newest first, a page at a time, limited to
// the projects the reader may see.
func ExampleSearch() {
	store := memory.New(memory.Options{})
	rec := audit.NewRecorder(store, audit.Options{})
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		e := audit.Event{Tenant: exampleTenant, Kind: audit.KindRecording, Action: "recording.listen", Outcome: audit.Success,
			Actor: audit.Actor{User: exampleUser}, Target: audit.Target{Type: "recording", ID: fmt.Sprint("rec-", i)},
			Time: start.Add(time.Duration(i) * time.Hour)}
		if i%2 == 0 {
			e.Project = exampleProject
		}
		_ = rec.Record(context.Background(), e)
	}
	// A supervisor of one project; holders of "see all projects" get AllProjects.
	scope := audit.Scope{Projects: []uuid.UUID{exampleProject}}
	q := audit.Query{Kind: audit.KindRecording, User: exampleUser, Order: audit.TimeDesc, Limit: 2}
	cursor := ""
	for {
		page, err := audit.Search(context.Background(), store, exampleTenant, scope, q, cursor)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, e := range page.Events {
			fmt.Println(e.Time.Format("15:04"), e.Target.ID)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next // hand it to the browser; it is opaque and carries no authority
	}
	page, _ := audit.Search(context.Background(), store, exampleTenant, audit.Scope{}, q, "")
	fmt.Println("the zero scope sees", len(page.Events))
	// Output:
	// 04:00 rec-4
	// 02:00 rec-2
	// 00:00 rec-0
	// the zero scope sees 0
}

// Export a query as CSV, streamed; cells that a spreadsheet would run as a formula are
// neutralised.
func ExampleExportCSV() {
	e := audit.Event{
		ID: uuid.MustParse("0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b"), Tenant: exampleTenant, Seq: 1,
		Time: time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC), Kind: audit.KindChange, Action: "user.update",
		Outcome: audit.Success, Target: audit.Target{Type: "user", ID: "42", Name: "=HYPERLINK(\"http://x\")"},
		Changes: []audit.Change{{Field: "name", Old: "Ann", New: "Anne"}, audit.Secret("password")},
	}
	events := func(yield func(audit.Event, error) bool) { yield(e, nil) } // or audit.SearchAll(...)
	n, err := audit.ExportCSV(context.Background(), os.Stdout, events)
	fmt.Println(n, err)
	// Output:
	// seq,id,time,kind,action,outcome,reason,actor_user,actor_role,actor_ip,actor_user_agent,actor_session,actor_token,target_type,target_id,target_name,project,changes,details,prev_hash,hash,key_id
	// 1,0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b,2025-03-14T15:09:26Z,change,user.update,success,,,,,,,,user,42,"'=HYPERLINK(""http://x"")",,"[{""field"":""name"",""old"":""Ann"",""new"":""Anne""},{""field"":""password"",""old"":"""",""new"":"""",""redacted"":true}]",,,,
	// 1 <nil>
}

// Build the action-log event of an API call: parameters are recorded, secrets
// redacted by name and by value, personal data masked, headers never.
func ExampleActionEvent() {
	r := httptest.NewRequest("POST", "/api/v1/users?page=2&access_token=abc&q=4111111111111111&next=csinv_AZJ3q8m2Yc7kLpX0", nil)
	r.Header.Set("Authorization", "Bearer never-recorded")
	e := audit.ActionEvent(r, audit.ActionOptions{
		Body: map[string][]string{"email": {"ann@example.com"}, "password": {"hunter2"}},
	})
	// From the authenticated subject and the response:
	e.Tenant, e.Actor.User, e.Outcome = exampleTenant, exampleUser, audit.ActionOutcome(201)
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Printf("%s=%s\n", k, e.Details[k])
	}
	// Output:
	// body.email=a**@example.com
	// body.password=[REDACTED]
	// method=POST
	// query.access_token=[REDACTED]
	// query.next=[REDACTED]
	// query.page=2
	// query.q=************1111
	// url=/api/v1/users
}

func ExampleBrowser() {
	fmt.Println(audit.Browser("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36"))
	// Output: Chrome 118.0.0.0
}

// Turn log records marked with an "audit" group into events, and pass the others on.
func ExampleNewSlogHandler() {
	store := memory.New(memory.Options{})
	w := audit.NewWriter(store, audit.WriterOptions{})
	logger := slog.New(audit.NewSlogHandler(w, audit.SlogOptions{Next: slog.Default().Handler()}))

	logger.Info("recording downloaded", slog.Group("audit",
		"tenant", exampleTenant, "kind", "recording", "action", "recording.download",
		"user", exampleUser, "target_type", "recording", "target_id", "rec-42", "format", "wav"))

	_ = w.Close(context.Background())
	evs, _ := store.Events(context.Background(), exampleTenant, audit.Query{})
	fmt.Println(evs[0].Kind, evs[0].Action, evs[0].Target.ID, evs[0].Details["format"], evs[0].Details["message"])
	// Output: recording recording.download rec-42 wav recording downloaded
}

// Mirror an event to a logger, for a SIEM.
func ExampleLogEvent() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // only to make the output stable
			}
			return a
		},
	}))
	audit.LogEvent(context.Background(), logger, &audit.Event{
		Tenant: exampleTenant, Kind: audit.KindSession, Action: "session.revoke", Outcome: audit.Success,
		Reason: "line one\nforged=line",
	})
	// Output: level=INFO msg="audit event" audit_event.tenant=0190a0b1-0000-7000-8000-000000000001 audit_event.kind=session audit_event.action=session.revoke audit_event.outcome=success audit_event.reason="line one\\x0aforged=line"
}
