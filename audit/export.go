package audit

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// CSVHeader is the header row of [ExportCSV]; each row has these columns.
var CSVHeader = []string{
	"seq", "id", "time", "kind", "action", "outcome", "reason",
	"actor_user", "actor_role", "actor_ip", "actor_user_agent", "actor_session", "actor_token",
	"target_type", "target_id", "target_name", "project", "changes", "details", "prev_hash", "hash", "key_id",
}

// ExportCSV writes the events as CSV (RFC 4180, with [CSVHeader] first), one row per
// event as it is read from events, so memory stays constant whatever their number: feed
// it [SearchAll] for a report, [All] for an archive. Times are RFC 3339 in UTC with
// microseconds, changes and details JSON, hashes hex, key_id the chain key ID of the
// hash (empty for an event without one). It returns the number of events
// written.
//
// The output is safe to open in a spreadsheet: a field that begins with =, +, -, @, a
// tab or a carriage return is prefixed with a single quote (OWASP CSV injection), and
// every control character is escaped ([Clean]) so that a field cannot forge rows. Events
// hold no secrets, so nothing is masked.
//
// Export stops at the first error of events, of w, or of ctx, and returns it.
func ExportCSV(ctx context.Context, w io.Writer, events iter.Seq2[Event, error]) (int, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return 0, fmt.Errorf("audit: export: %w", err)
	}
	n := 0
	row := make([]string, len(CSVHeader))
	for e, err := range events {
		if err != nil {
			cw.Flush()
			return n, fmt.Errorf("audit: export: %w", err)
		}
		if err := ctx.Err(); err != nil {
			cw.Flush()
			return n, fmt.Errorf("audit: export: %w", err)
		}
		csvRow(row, &e)
		if err := cw.Write(row); err != nil {
			return n, fmt.Errorf("audit: export: %w", err)
		}
		n++
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, fmt.Errorf("audit: export: %w", err)
	}
	return n, nil
}

// csvRow fills row with e's columns, each neutralised for spreadsheets.
func csvRow(row []string, e *Event) {
	j := e.exportJSON()
	changes, details := "", ""
	if len(j.Changes) > 0 {
		b, _ := json.Marshal(j.Changes) // strings and bools always marshal
		changes = string(b)
	}
	if len(j.Details) > 0 {
		b, _ := json.Marshal(j.Details)
		details = string(b)
	}
	seq, keyID := "", ""
	if e.Seq > 0 {
		seq = strconv.FormatInt(e.Seq, 10)
	}
	if len(e.Hash) > 0 {
		keyID = strconv.FormatUint(uint64(e.KeyID), 10)
	}
	vals := []string{
		seq, j.ID, j.Time, j.Kind, j.Action, j.Outcome, j.Reason,
		j.Actor.User, j.Actor.Role, j.Actor.IP, j.Actor.UserAgent, j.Actor.Session, j.Actor.Token,
		j.Target.Type, j.Target.ID, j.Target.Name, j.Project, changes, details, j.PrevHash, j.Hash, keyID,
	}
	for i, v := range vals {
		row[i] = CSVSafe(v)
	}
}

// CSVSafe returns s made safe for a CSV cell that a spreadsheet may open: control
// characters escaped ([Clean], leaving clean text alone), and a leading =, +, -, @, tab
// or carriage return neutralised with a single quote, so that the cell is never
// evaluated as a formula (OWASP "CSV Injection").
func CSVSafe(s string) string {
	s = safeText(s)
	if s != "" {
		switch s[0] {
		case '=', '+', '-', '@', '\t', '\r':
			return "'" + s
		}
	}
	return s
}

// ExportJSONL writes the events as JSON Lines: one JSON object per line, read from
// events one at a time (constant memory). The object's fields are those of
// [LogEvent]: id, tenant, seq, time (RFC 3339, UTC), kind, action, outcome, reason,
// actor {user, role, ip, user_agent, session, token}, target {type, id, name},
// project, changes [{field, old, new, redacted}], details {…}, prev_hash and hash
// (hex); empty fields are left out. encoding/json escapes every control character and
// U+2028/U+2029, so a field cannot break a line. It returns the number of events
// written.
func ExportJSONL(ctx context.Context, w io.Writer, events iter.Seq2[Event, error]) (int, error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	for e, err := range events {
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			_ = bw.Flush()
			return n, fmt.Errorf("audit: export: %w", err)
		}
		if err := enc.Encode(e.exportJSON()); err != nil {
			return n, fmt.Errorf("audit: export: %w", err)
		}
		n++
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("audit: export: %w", err)
	}
	return n, nil
}

// eventJSON is the exported form of an event (JSON Lines, and the CSV columns).
type eventJSON struct {
	ID       string            `json:"id"`
	Tenant   string            `json:"tenant"`
	Seq      int64             `json:"seq,omitempty"`
	Time     string            `json:"time"`
	Kind     string            `json:"kind"`
	Action   string            `json:"action"`
	Outcome  string            `json:"outcome"`
	Reason   string            `json:"reason,omitempty"`
	Actor    actorJSON         `json:"actor"`
	Target   targetJSON        `json:"target"`
	Project  string            `json:"project,omitempty"`
	Changes  []changeJSON      `json:"changes,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
	PrevHash string            `json:"prev_hash,omitempty"`
	Hash     string            `json:"hash,omitempty"`
	// KeyID is the chain key ID Hash was computed with (absent: 0, unkeyed).
	KeyID uint32 `json:"key_id,omitempty"`
}

type actorJSON struct {
	User      string `json:"user,omitempty"`
	Role      string `json:"role,omitempty"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Session   string `json:"session,omitempty"`
	Token     string `json:"token,omitempty"`
}

type targetJSON struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

type changeJSON struct {
	Field    string `json:"field"`
	Old      string `json:"old"`
	New      string `json:"new"`
	Redacted bool   `json:"redacted,omitempty"`
}

// exportJSON returns e's exported form, text passed through safeText.
func (e *Event) exportJSON() eventJSON {
	id := func(u uuid.UUID) string {
		if u == uuid.Nil {
			return ""
		}
		return u.String()
	}
	j := eventJSON{
		ID: id(e.ID), Tenant: id(e.Tenant), Seq: e.Seq,
		Time: e.Time.UTC().Format(time.RFC3339Nano),
		Kind: safeText(string(e.Kind)), Action: safeText(e.Action), Outcome: safeText(string(e.Outcome)),
		Reason: safeText(e.Reason),
		Actor: actorJSON{
			User: id(e.Actor.User), Role: safeText(e.Actor.Role), IP: addrText(e.Actor.IP),
			UserAgent: safeText(e.Actor.UserAgent), Session: id(e.Actor.Session), Token: id(e.Actor.Token),
		},
		Target:   targetJSON{Type: safeText(e.Target.Type), ID: safeText(e.Target.ID), Name: safeText(e.Target.Name)},
		Project:  id(e.Project),
		PrevHash: hex.EncodeToString(e.PrevHash),
		Hash:     hex.EncodeToString(e.Hash),
		KeyID:    e.KeyID,
	}
	for _, c := range e.Changes {
		j.Changes = append(j.Changes, changeJSON{Field: safeText(c.Field), Old: safeText(c.Old), New: safeText(c.New), Redacted: c.Redacted})
	}
	if len(e.Details) > 0 {
		j.Details = make(map[string]string, len(e.Details))
		keys := make([]string, 0, len(e.Details))
		for k := range e.Details {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			j.Details[safeText(k)] = safeText(e.Details[k])
		}
	}
	return j
}
