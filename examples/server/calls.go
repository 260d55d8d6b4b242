package main

// Host data: the call center's call records and their recordings. They are the host's
// own tables, not callshield's; what callshield gives them is the scope a viewer may
// read (Policy.Scope), the masking of personal data (mask) and the recording-access
// history (audit).

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/mask"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/google/uuid"
)

// Call is one call record. The mask tags say which fields are personal data: a viewer
// without "see masked fields" in the call's project sees them masked.
type Call struct {
	ID          uuid.UUID `json:"id"`
	Tenant      uuid.UUID `json:"-"`
	Project     uuid.UUID `json:"project"`
	Agent       uuid.UUID `json:"agent"`
	ClientPhone string    `json:"client_phone" mask:"phone"`
	Direction   string    `json:"direction"`
	Queue       string    `json:"queue"`
	StartedAt   time.Time `json:"started_at"`
	DurationS   int       `json:"duration_s"`
	Recording   bool      `json:"has_recording"`
}

// callStore keeps the host's call records. Every read takes the viewer's scope, so
// no query can forget the tenant, project or own-calls filter.
type callStore interface {
	// Insert stores calls (seed).
	Insert(ctx context.Context, calls []Call) error
	// Count returns the tenant's number of calls.
	Count(ctx context.Context, tenant uuid.UUID) (int, error)
	// List returns the calls inside sc, newest first, at most limit after offset.
	List(ctx context.Context, sc access.Scope, limit, offset int) ([]Call, error)
	// Get returns one call if it is inside sc, else storage.ErrNotFound.
	Get(ctx context.Context, sc access.Scope, id uuid.UUID) (Call, error)
}

// sqlCalls is the callStore over the server's database.
type sqlCalls struct {
	db      *sql.DB
	dialect sqlstore.Dialect
}

func (c *sqlCalls) migrate(ctx context.Context) error {
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS demo_calls (
			tenant_id TEXT NOT NULL, id TEXT NOT NULL, project_id TEXT NOT NULL, agent_id TEXT NOT NULL,
			client_phone TEXT NOT NULL, direction TEXT NOT NULL, queue TEXT NOT NULL,
			started_at BIGINT NOT NULL, duration_s INTEGER NOT NULL, recording INTEGER NOT NULL,
			PRIMARY KEY (tenant_id, id))`,
		`CREATE INDEX IF NOT EXISTS demo_calls_scope ON demo_calls (tenant_id, project_id, started_at)`,
	} {
		if _, err := c.db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// ph returns the n-th (1-based) placeholder of the dialect.
func (c *sqlCalls) ph(n int) string {
	if c.dialect == sqlstore.Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

func (c *sqlCalls) Insert(ctx context.Context, calls []Call) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := "INSERT INTO demo_calls (tenant_id, id, project_id, agent_id, client_phone, direction, queue, started_at, duration_s, recording) VALUES ("
	for i := 1; i <= 10; i++ {
		if i > 1 {
			q += ", "
		}
		q += c.ph(i)
	}
	stmt, err := tx.PrepareContext(ctx, q+")")
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, k := range calls {
		rec := 0
		if k.Recording {
			rec = 1
		}
		if _, err := stmt.ExecContext(ctx, k.Tenant.String(), k.ID.String(), k.Project.String(), k.Agent.String(),
			k.ClientPhone, k.Direction, k.Queue, k.StartedAt.UnixMicro(), k.DurationS, rec); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (c *sqlCalls) Count(ctx context.Context, tenant uuid.UUID) (int, error) {
	var n int
	err := c.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM demo_calls WHERE tenant_id = "+c.ph(1), tenant.String()).Scan(&n)
	return n, err
}

// where builds the scope filter: the tenant, then the projects whose calls are all
// readable, or the own-calls projects with the viewer as agent.
func (c *sqlCalls) where(sc access.Scope, args *[]any) string {
	add := func(v any) string {
		*args = append(*args, v)
		return c.ph(len(*args))
	}
	in := func(ids []uuid.UUID) string {
		ps := make([]string, len(ids))
		for i, id := range ids {
			ps[i] = add(id.String())
		}
		return strings.Join(ps, ", ")
	}
	w := "tenant_id = " + add(sc.Tenant.String()) + " AND ("
	var ors []string
	if len(sc.Projects) > 0 {
		ors = append(ors, "project_id IN ("+in(sc.Projects)+")")
	}
	if len(sc.OwnProjects) > 0 {
		ors = append(ors, "(project_id IN ("+in(sc.OwnProjects)+") AND agent_id = "+add(sc.User.String())+")")
	}
	return w + strings.Join(ors, " OR ") + ")"
}

const callColumns = "id, project_id, agent_id, client_phone, direction, queue, started_at, duration_s, recording"

func (c *sqlCalls) List(ctx context.Context, sc access.Scope, limit, offset int) ([]Call, error) {
	if sc.Empty() {
		return nil, nil
	}
	var args []any
	q := "SELECT " + callColumns + " FROM demo_calls WHERE " + c.where(sc, &args) +
		fmt.Sprintf(" ORDER BY started_at DESC, id DESC LIMIT %d OFFSET %d", limit, offset)
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Call
	for rows.Next() {
		k, err := scanCall(rows, sc.Tenant)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (c *sqlCalls) Get(ctx context.Context, sc access.Scope, id uuid.UUID) (Call, error) {
	if sc.Empty() {
		return Call{}, storage.ErrNotFound
	}
	args := []any{}
	q := "SELECT " + callColumns + " FROM demo_calls WHERE " + c.where(sc, &args)
	args = append(args, id.String())
	q += " AND id = " + c.ph(len(args))
	k, err := scanCall(c.db.QueryRowContext(ctx, q, args...), sc.Tenant)
	if err == sql.ErrNoRows {
		return Call{}, storage.ErrNotFound
	}
	return k, err
}

type scanner interface{ Scan(...any) error }

func scanCall(s scanner, tenant uuid.UUID) (Call, error) {
	var id, project, agent string
	var started int64
	var rec int
	k := Call{Tenant: tenant}
	if err := s.Scan(&id, &project, &agent, &k.ClientPhone, &k.Direction, &k.Queue, &started, &k.DurationS, &rec); err != nil {
		return k, err
	}
	var err error
	if k.ID, err = uuid.Parse(id); err != nil {
		return k, err
	}
	if k.Project, err = uuid.Parse(project); err != nil {
		return k, err
	}
	if k.Agent, err = uuid.Parse(agent); err != nil {
		return k, err
	}
	k.StartedAt = time.UnixMicro(started).UTC()
	k.Recording = rec != 0
	return k, nil
}

// memCalls is the callStore in memory, for the benchmarks.
type memCalls struct {
	mu    sync.RWMutex
	calls []Call // newest first
}

func (m *memCalls) Insert(_ context.Context, calls []Call) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, calls...)
	slices.SortFunc(m.calls, func(a, b Call) int { return b.StartedAt.Compare(a.StartedAt) })
	return nil
}

func (m *memCalls) Count(_ context.Context, tenant uuid.UUID) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, k := range m.calls {
		if k.Tenant == tenant {
			n++
		}
	}
	return n, nil
}

func (m *memCalls) List(_ context.Context, sc access.Scope, limit, offset int) ([]Call, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Call
	for _, k := range m.calls {
		if !sc.Allows(k.Tenant, k.Project, k.Agent) {
			continue
		}
		if offset > 0 {
			offset--
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, k)
	}
	return out, nil
}

func (m *memCalls) Get(_ context.Context, sc access.Scope, id uuid.UUID) (Call, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, k := range m.calls {
		if k.ID == id && sc.Allows(k.Tenant, k.Project, k.Agent) {
			return k, nil
		}
	}
	return Call{}, storage.ErrNotFound
}

// viewScope is Policy.Scope(s, right), except that a request made with an API token
// reads only in the projects where its user holds the integrations right too: the
// token middleware judged a tenant-wide request on the tenant role, and a project
// whose override role lacks the right must stay out of the token's reach.
func viewScope(p *access.Policy, s access.Subject, right access.Right) access.Scope {
	sc := p.Scope(s, right)
	if s.Token == uuid.Nil {
		return sc
	}
	allowed := p.Scope(s, access.Integrations).Projects
	keep := func(ids []uuid.UUID) []uuid.UUID {
		return slices.DeleteFunc(slices.Clone(ids), func(id uuid.UUID) bool { return !slices.Contains(allowed, id) })
	}
	sc.Projects, sc.OwnProjects = keep(sc.Projects), keep(sc.OwnProjects)
	return sc
}

// callScope is the part of the tenant's calls the subject may read: all calls of the
// projects where they hold "view all calls", their own calls in their other projects
// (Policy.Scope; for a token, see viewScope), narrowed to ?project= when given. An
// unknown or unreadable project is 404.
func (a *app) callScope(r *http.Request) (access.Scope, error) {
	s, p := subject(r)
	sc := viewScope(p, s, access.ViewAllCalls)
	v := r.URL.Query().Get("project")
	if v == "" {
		return sc, nil
	}
	id, err := uuid.Parse(v)
	if err != nil || !p.HasProject(id) {
		return access.Scope{}, storage.ErrNotFound
	}
	keep := func(ids []uuid.UUID) []uuid.UUID {
		if slices.Contains(ids, id) {
			return []uuid.UUID{id}
		}
		return nil
	}
	sc.Projects, sc.OwnProjects = keep(sc.Projects), keep(sc.OwnProjects)
	if sc.Empty() {
		a.denied(r, p, s, "project_not_visible")
		return sc, access.ErrForbidden
	}
	return sc, nil
}

// maskCalls masks each call for the viewer by the right in its own project.
func maskCalls(p *access.Policy, s access.Subject, calls []Call) ([]Call, error) {
	clear := map[uuid.UUID]bool{}
	out := make([]Call, len(calls))
	for i, k := range calls {
		see, ok := clear[k.Project]
		if !ok {
			see = p.Check(s, access.SeeMaskedFields, k.Project)
			clear[k.Project] = see
		}
		m, err := mask.Copy(mask.ForViewer(see), k)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// listCalls: GET /api/v1/calls?project=ID&limit=&offset=.
func (a *app) listCalls(w http.ResponseWriter, r *http.Request) error {
	s, p := subject(r)
	sc, err := a.callScope(r)
	if err != nil {
		return err
	}
	limit, err := queryLimit(r, 100)
	if err != nil {
		return err
	}
	offset := 0
	if v := r.URL.Query().Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return badRequest("offset must be 0 or more")
		}
	}
	calls, err := a.calls.List(r.Context(), sc, limit, offset)
	if err != nil {
		return err
	}
	masked, err := maskCalls(p, s, calls)
	if err != nil {
		return err
	}
	if masked == nil {
		masked = []Call{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"calls": masked})
	return nil
}

// exportCalls: GET /api/v1/calls.csv?project=ID (ExportReports), masked as the list.
func (a *app) exportCalls(w http.ResponseWriter, r *http.Request) error {
	s, p := subject(r)
	sc, err := a.callScope(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="calls.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "project", "agent", "client_phone", "direction", "queue", "started_at", "duration_s", "has_recording"})
	const page = 500
	for offset := 0; ; offset += page {
		calls, err := a.calls.List(r.Context(), sc, page, offset)
		if err != nil {
			return err // nothing written yet on the first page; a broken export otherwise
		}
		masked, err := maskCalls(p, s, calls)
		if err != nil {
			return err
		}
		for _, k := range masked {
			_ = cw.Write([]string{k.ID.String(), k.Project.String(), k.Agent.String(), audit.CSVSafe(k.ClientPhone),
				k.Direction, audit.CSVSafe(k.Queue), k.StartedAt.Format(time.RFC3339), strconv.Itoa(k.DurationS), strconv.FormatBool(k.Recording)})
		}
		if len(calls) < page {
			break
		}
	}
	cw.Flush()
	return cw.Error()
}

// recording: GET /api/v1/calls/{id}/recording plays a call's recording (ListenRecordings
// in the call's project); ?download=1 downloads it (DownloadRecordings). Both, allowed
// or denied, go to the recording-access history; an allowed access that cannot be
// recorded is refused (503), because the history must be complete.
func (a *app) recording(w http.ResponseWriter, r *http.Request) error {
	s, p := subject(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	k, err := a.calls.Get(r.Context(), viewScope(p, s, access.ViewAllCalls), id)
	if err != nil {
		return err
	}
	if !k.Recording {
		return storage.ErrNotFound
	}
	download := r.URL.Query().Get("download") == "1"
	right, action := access.ListenRecordings, audit.ActionRecordingListen
	if download {
		right, action = access.DownloadRecordings, audit.ActionRecordingDownload
	}
	label := k.StartedAt.Format("2006-01-02 15:04") + " " + k.Queue // never the client's number
	ev := audit.RecordingAccess(s.Tenant, actor(p, s), action, k.ID.String(), label, k.Project)
	if !p.Check(s, right, k.Project) {
		ev.Outcome, ev.Reason = audit.Denied, "missing_right"
		_ = a.recorder.Record(r.Context(), ev)
		return access.ErrForbidden
	}
	// The player fetches the file in ranges; the first range (or the whole file) is
	// one access.
	rg := r.Header.Get("Range")
	if rg != "" && !strings.HasPrefix(rg, "bytes=0-") {
		serveRecording(w, r, k, download)
		return nil
	}
	if err := a.recorder.Record(r.Context(), ev); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: apiErrorBody{Code: "unavailable", Message: "the access could not be recorded; try again"}})
		return nil
	}
	serveRecording(w, r, k, download)
	return nil
}

func serveRecording(w http.ResponseWriter, r *http.Request, k Call, download bool) {
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Cache-Control", "no-store")
	if download {
		w.Header().Set("Content-Disposition", `attachment; filename="call-`+k.ID.String()+`.wav"`)
	}
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(demoRecording))
}
