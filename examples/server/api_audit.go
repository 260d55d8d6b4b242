package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// auditReport is one of the report screens: the kind of events it shows and the
// right it needs.
type auditReport struct {
	Path  string
	Title string
	Kind  audit.Kind
	Right access.Right
}

var auditReports = []auditReport{
	{"changes", "Change log", audit.KindChange, access.ViewChangeLog},
	{"actions", "Action log", audit.KindAction, access.ViewActionLog},
	{"logins", "Login log", audit.KindLogin, access.ViewLoginLog},
	{"sessions", "Session history", audit.KindSession, access.ViewSessions},
	{"recordings", "Recording access", audit.KindRecording, access.ListenRecordings},
}

type eventJSON struct {
	ID      uuid.UUID         `json:"id"`
	Seq     int64             `json:"seq"`
	Time    time.Time         `json:"time"`
	Kind    string            `json:"kind"`
	Action  string            `json:"action"`
	Outcome string            `json:"outcome"`
	Reason  string            `json:"reason,omitempty"`
	User    *uuid.UUID        `json:"user,omitempty"`
	Role    string            `json:"role,omitempty"`
	IP      string            `json:"ip,omitempty"`
	Agent   string            `json:"user_agent,omitempty"`
	Session *uuid.UUID        `json:"session,omitempty"`
	Token   *uuid.UUID        `json:"token,omitempty"`
	Target  *targetJSON       `json:"target,omitempty"`
	Project *uuid.UUID        `json:"project,omitempty"`
	Changes []changeJSON      `json:"changes,omitempty"`
	Details map[string]string `json:"details,omitempty"`
}

type targetJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

type changeJSON struct {
	Field    string `json:"field"`
	Old      string `json:"old,omitempty"`
	New      string `json:"new,omitempty"`
	Redacted bool   `json:"redacted,omitempty"`
}

// optID is nil for the zero UUID, so that JSON leaves it out.
func optID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// userID returns the event's actor as a plain UUID (zero for the system).
func (e eventJSON) UserID() uuid.UUID {
	if e.User == nil {
		return uuid.Nil
	}
	return *e.User
}

func eventOf(e audit.Event) eventJSON {
	out := eventJSON{ID: e.ID, Seq: e.Seq, Time: e.Time, Kind: string(e.Kind), Action: e.Action, Outcome: string(e.Outcome),
		Reason: e.Reason, User: optID(e.Actor.User), Role: e.Actor.Role, Agent: e.Actor.UserAgent, Session: optID(e.Actor.Session),
		Token: optID(e.Actor.Token), Project: optID(e.Project), Details: e.Details}
	if e.Target != (audit.Target{}) {
		out.Target = &targetJSON{Type: e.Target.Type, ID: e.Target.ID, Name: e.Target.Name}
	}
	for _, c := range e.Changes {
		out.Changes = append(out.Changes, changeJSON{Field: c.Field, Old: c.Old, New: c.New, Redacted: c.Redacted})
	}
	if e.Actor.IP.IsValid() {
		out.IP = e.Actor.IP.String()
	}
	return out
}

// auditScope is what of the audit trail the subject may read: every project's events
// with SeeAllProjects, else their projects', and the tenant-wide events (logins,
// settings) because they hold the report's right.
func auditScope(p *access.Policy, s access.Subject) audit.Scope {
	if p.Check(s, access.SeeAllProjects, uuid.Nil) {
		return audit.Scope{AllProjects: true}
	}
	return audit.Scope{Projects: p.Projects(s.User), TenantWide: true}
}

// parseAuditQuery reads from, to (RFC 3339 or YYYY-MM-DD; to is exclusive, a date
// means the end of that day), user, type (the action) and limit.
func parseAuditQuery(r *http.Request, kind audit.Kind) (audit.Query, error) {
	q := audit.Query{Kind: kind, Order: audit.SeqDesc, Limit: 50}
	v := r.URL.Query()
	parse := func(s string, end bool) (time.Time, error) {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, nil
		}
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return t, badRequest("from and to are RFC 3339 times or YYYY-MM-DD dates")
		}
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	var err error
	if s := v.Get("from"); s != "" {
		if q.From, err = parse(s, false); err != nil {
			return q, err
		}
	}
	if s := v.Get("to"); s != "" {
		if q.To, err = parse(s, true); err != nil {
			return q, err
		}
	}
	if s := v.Get("user"); s != "" {
		if q.User, err = uuid.Parse(s); err != nil {
			return q, badRequest("user is a user ID")
		}
	}
	q.Action = v.Get("type")
	if q.Limit, err = queryLimit(r, q.Limit); err != nil {
		return q, err
	}
	return q, q.Validate()
}

// auditSearch: GET /api/v1/audit/{report}?from=&to=&user=&type=&cursor=.
func (a *app) auditSearch(rep auditReport) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, p := subject(r)
		q, err := parseAuditQuery(r, rep.Kind)
		if err != nil {
			return err
		}
		a.settleActionLog(r.Context())
		page, err := audit.Search(r.Context(), a.store, s.Tenant, auditScope(p, s), q, r.URL.Query().Get("cursor"))
		if err != nil {
			return err
		}
		out := make([]eventJSON, 0, len(page.Events))
		for _, e := range page.Events {
			out = append(out, eventOf(e))
		}
		writeJSON(w, http.StatusOK, map[string]any{"events": out, "next": page.Next})
		return nil
	}
}

// auditVerify: GET /api/v1/audit/verify?from=&to= walks the tenant's hash chain
// (ViewChangeLog) and names the first broken link.
func (a *app) auditVerify(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	q, err := parseAuditQuery(r, "")
	if err != nil {
		return err
	}
	res, err := audit.Verify(r.Context(), a.store, a.chain, s.Tenant, q.From, q.To)
	if err != nil && !errors.Is(err, audit.ErrUnknownKey) {
		return err
	}
	// An event under a key the ring lacks is reported like any broken link, with
	// the key ID (never a key).
	out := map[string]any{"ok": res.OK(), "checked": res.Checked, "anchored": res.Anchored, "last_seq": res.Last.Seq, "key_ids": res.KeyIDs}
	if res.FirstBroken != nil {
		fb := map[string]any{"seq": res.FirstBroken.Seq, "event": res.FirstBroken.EventID, "reason": res.FirstBroken.Reason}
		if res.FirstBroken.Reason == audit.ReasonUnknownKey {
			fb["key_id"] = res.FirstBroken.KeyID
		}
		out["first_broken"] = fb
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// settleActionLog waits, at most a second, until the Writer has stored the events
// queued so far, so that a reader of the logs sees the requests that led them there
// (the action log is written in batches, DefaultFlushInterval apart).
func (a *app) settleActionLog(ctx context.Context) {
	deadline := time.NewTimer(time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for a.writer.Stats().Queued > 0 {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}
