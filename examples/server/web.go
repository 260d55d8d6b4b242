package main

// The web UI: server-rendered pages (html/template) with embedded assets and one small
// script, no build step. Pages read through the same services and checks as the API;
// their forms post JSON to the API (web/static/app.js), so there is one write path.

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/google/uuid"
)

//go:embed web/templates/*.html
var templateFS embed.FS

//go:embed web/static
var staticFS embed.FS

type web struct {
	a     *app
	pages map[string]*template.Template
}

func newWeb(a *app) (*web, error) {
	funcs := template.FuncMap{
		"time": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05")
		},
		"date":       func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"duration":   func(s int) string { return (time.Duration(s) * time.Second).String() },
		"has":        slices.Contains[[]string, string],
		"hasID":      slices.Contains[[]uuid.UUID, uuid.UUID],
		"join":       strings.Join,
		"list":       func(v ...string) []string { return v },
		"mul":        func(a, b int) int { return a * b },
		"memberOf":   func(m map[uuid.UUID]uuid.UUID, id uuid.UUID) bool { _, ok := m[id]; return ok },
		"overrideOf": func(m map[uuid.UUID]uuid.UUID, id uuid.UUID) uuid.UUID { return m[id] },
	}
	w := &web{a: a, pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "web/templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "web/templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "web/templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		w.pages[base] = t
	}
	return w, nil
}

func (w *web) routes(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "web/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.FS(static))))
	mux.HandleFunc("GET /{$}", func(rw http.ResponseWriter, r *http.Request) {
		if _, ok := access.SubjectFrom(r.Context()); ok {
			http.Redirect(rw, r, "/calls", http.StatusSeeOther)
			return
		}
		http.Redirect(rw, r, "/login", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /login", w.login)
	mux.HandleFunc("GET /invite", w.invite)
	mux.HandleFunc("GET /confirm-identity", func(rw http.ResponseWriter, r *http.Request) {
		w.render(rw, http.StatusOK, "confirm", view{Title: "Confirm your linked account", Dev: w.a.cfg.Dev})
	})
	w.page(mux, "GET /calls", "calls", 0, w.calls)
	w.page(mux, "GET /users", "users", access.UserManagement, w.users)
	w.page(mux, "GET /roles", "roles", access.ManageRoles, w.roles)
	w.page(mux, "GET /projects", "projects", access.ManageProjects, w.projects)
	w.page(mux, "GET /settings", "settings", access.ManageCompany, w.settings)
	w.page(mux, "GET /profile", "profile", 0, w.profile)
	w.page(mux, "GET /sessions", "sessions", access.ViewSessions, w.sessions)
	w.page(mux, "GET /usage", "usage", 0, w.usage)
	for _, rep := range auditReports {
		w.page(mux, "GET /audit/"+rep.Path, "audit", rep.Right, w.audit(rep))
	}
	if w.a.cfg.Dev {
		w.page(mux, "GET /outbox", "outbox", access.UserManagement, w.outbox)
	}
}

// view is what every page template gets.
type view struct {
	Title   string
	Active  string
	Me      *meResponse
	Nav     []navItem
	Dev     bool
	Data    any
	Flash   string
	Message string // for the error page
	// Workplace is the agent workplace state of a workplace session (nil otherwise).
	Workplace *workplaceJSON
}

type navItem struct {
	Path, Label string
}

// nav lists the pages the subject may open.
func nav(p *access.Policy, s access.Subject, dev bool) []navItem {
	items := []navItem{{"/calls", "Calls"}}
	add := func(r access.Right, path, label string) {
		if p.Check(s, r, uuid.Nil) {
			items = append(items, navItem{path, label})
		}
	}
	add(access.UserManagement, "/users", "Users")
	add(access.ManageRoles, "/roles", "Roles")
	add(access.ManageProjects, "/projects", "Projects")
	add(access.ManageCompany, "/settings", "Settings")
	add(access.ViewSessions, "/sessions", "Active sessions")
	for _, rep := range auditReports {
		add(rep.Right, "/audit/"+rep.Path, rep.Title)
	}
	if p.Check(s, access.UserManagement, uuid.Nil) || p.Check(s, access.Integrations, uuid.Nil) {
		items = append(items, navItem{"/usage", "API usage"})
	}
	if dev {
		add(access.UserManagement, "/outbox", "Outbox")
	}
	return items
}

// pageFunc loads a page's data.
type pageFunc func(r *http.Request, s access.Subject, p *access.Policy) (any, error)

// page registers a page that needs a session (else: the sign-in page), an allowed
// address and, if right is not 0, that right (else: a "not allowed" page, recorded).
func (w *web) page(mux *http.ServeMux, pattern, tmpl string, right access.Right, load pageFunc) {
	mux.Handle(pattern, w.a.actionLog(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s, ok := access.SubjectFrom(r.Context())
		if !ok {
			http.Redirect(rw, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		p, err := w.a.engine.Policy(r.Context(), s.Tenant)
		if err != nil {
			w.error(rw, r, nil, http.StatusServiceUnavailable, "The access policy could not be loaded. Try again in a moment.")
			return
		}
		r = r.WithContext(access.WithPolicy(r.Context(), p))
		noteRequest(r, p, access.Subject{})
		me, err := w.a.meOf(r.Context(), s, p)
		if err != nil {
			w.error(rw, r, nil, http.StatusInternalServerError, "Something went wrong.")
			return
		}
		switch {
		case !p.AllowsIP(s, s.IP):
			w.a.denied(r, p, s, "ip_not_allowed")
			w.error(rw, r, &me, http.StatusForbidden, "Your company does not allow access from this address.")
			return
		case right != 0 && !p.Check(s, right, uuid.Nil):
			w.a.denied(r, p, s, "missing_right")
			w.error(rw, r, &me, http.StatusForbidden, "You do not have the right to open this page.")
			return
		}
		data, err := load(r, s, p)
		if err != nil {
			status, _, msg := errorStatus(err)
			w.error(rw, r, &me, status, msg)
			return
		}
		v := view{Title: titles[tmpl], Active: r.URL.Path, Me: &me, Nav: nav(p, s, w.a.cfg.Dev), Dev: w.a.cfg.Dev, Data: data}
		if t, ok := data.(titled); ok {
			v.Title = t.title()
		}
		if sess, ok := currentSession(r); ok && sess.Kind == authn.SessionWorkplace {
			wp := sess.Workplace
			v.Workplace = &workplaceJSON{Status: wp.Status, StatusSince: wp.StatusSince, Queue: wp.Queue, CallID: wp.CallID}
		}
		w.render(rw, http.StatusOK, tmpl, v)
	})))
}

type titled interface{ title() string }

var titles = map[string]string{
	"calls": "Calls", "users": "Users", "roles": "Roles and rights", "projects": "Projects",
	"settings": "Company settings", "profile": "Your profile", "sessions": "Active sessions", "outbox": "Outbox (dev mode)",
	"login": "Sign in", "invite": "Accept your invitation",
}

func (w *web) render(rw http.ResponseWriter, status int, tmpl string, v view) {
	var buf bytes.Buffer
	if err := w.pages[tmpl].Execute(&buf, v); err != nil {
		w.a.log.Error("template", "page", tmpl, "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	_, _ = rw.Write(buf.Bytes())
}

func (w *web) error(rw http.ResponseWriter, r *http.Request, me *meResponse, status int, msg string) {
	v := view{Title: http.StatusText(status), Me: me, Message: msg, Dev: w.a.cfg.Dev}
	if me != nil {
		s, _ := access.SubjectFrom(r.Context())
		if p := access.PolicyFrom(r.Context()); p != nil {
			v.Nav = nav(p, s, w.a.cfg.Dev)
		}
	}
	w.render(rw, status, "error", v)
}

// login: the sign-in page (the form posts to /api/v1/login).
func (w *web) login(rw http.ResponseWriter, r *http.Request) {
	if _, ok := access.SubjectFrom(r.Context()); ok {
		http.Redirect(rw, r, "/calls", http.StatusSeeOther)
		return
	}
	data := map[string]any{"Next": localPath(r.URL.Query().Get("next")), "Tenant": demoSlug, "Providers": w.a.providerLinks(demoSlug),
		"Second": r.URL.Query().Get("second") == "1"}
	w.render(rw, http.StatusOK, "login", view{Title: titles["login"], Dev: w.a.cfg.Dev, Data: data})
}

// localPath returns next if it is a path on this site to go to after signing in, and
// "/calls" otherwise: it must start with one "/" and hold no backslash and no control
// character: browsers drop tabs and newlines anywhere in a URL and read a backslash as
// a slash, so "/<tab>/evil.example" or "/<backslash>evil.example" would go to
// "//evil.example", another site.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return "/calls" // never redirect off-site
	}
	return next
}

// invite: the invitation page; its script reads the secret from the URL fragment.
func (w *web) invite(rw http.ResponseWriter, r *http.Request) {
	w.render(rw, http.StatusOK, "invite", view{Title: titles["invite"], Dev: w.a.cfg.Dev})
}

// userNames maps the tenant's user IDs to display names (for tables).
func (w *web) userNames(ctx context.Context, s access.Subject) map[uuid.UUID]string {
	us, err := w.a.store.Users(ctx, s.Tenant)
	m := map[uuid.UUID]string{}
	if err != nil {
		return m
	}
	for _, u := range us {
		m[u.ID] = u.Name
	}
	return m
}

type callRow struct {
	Call
	ProjectName, AgentName string
	CanListen, CanDownload bool
}

type callsPage struct {
	Projects    []projectRef
	Project     uuid.UUID
	Rows        []callRow
	Masked      bool
	CanExport   bool
	Offset      int
	Next, Prev  int
	HasNext     bool
	HasPrev     bool
	ProjectName string
}

func (w *web) calls(r *http.Request, s access.Subject, p *access.Policy) (any, error) {
	sc, err := w.a.callScope(r)
	if err != nil {
		return nil, err
	}
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	offset = max(offset, 0)
	const limit = 50
	calls, err := w.a.calls.List(r.Context(), sc, limit+1, offset)
	if err != nil {
		return nil, err
	}
	pg := callsPage{Offset: offset, Prev: max(offset-limit, 0), HasPrev: offset > 0, Next: offset + limit}
	if len(calls) > limit {
		calls, pg.HasNext = calls[:limit], true
	}
	masked, err := maskCalls(p, s, calls)
	if err != nil {
		return nil, err
	}
	names, err := w.a.projectNames(r.Context(), s.Tenant)
	if err != nil {
		return nil, err
	}
	vs := viewScope(p, s, access.ViewAllCalls)
	visible := append(slices.Clone(vs.Projects), vs.OwnProjects...)
	for id, n := range names {
		if slices.Contains(visible, id) {
			pg.Projects = append(pg.Projects, projectRef{ID: id, Name: n})
		}
	}
	slices.SortFunc(pg.Projects, func(x, y projectRef) int { return strings.Compare(x.Name, y.Name) })
	if v := r.URL.Query().Get("project"); v != "" {
		pg.Project, _ = uuid.Parse(v)
		pg.ProjectName = names[pg.Project]
	}
	users := w.userNames(r.Context(), s)
	for _, k := range masked {
		pg.Rows = append(pg.Rows, callRow{Call: k, ProjectName: names[k.Project], AgentName: users[k.Agent],
			CanListen: k.Recording && p.Check(s, access.ListenRecordings, k.Project), CanDownload: k.Recording && p.Check(s, access.DownloadRecordings, k.Project)})
		if !p.Check(s, access.SeeMaskedFields, k.Project) {
			pg.Masked = true
		}
	}
	// The export of one project needs the right there; of all, in every project.
	pg.CanExport = p.CheckIn(s, access.ExportReports, pg.Project)
	return pg, nil
}

type usersPage struct {
	Users    []userJSON
	Roles    []roleJSON
	Projects []projectRef
	Self     uuid.UUID
}

func (w *web) users(r *http.Request, s access.Subject, p *access.Policy) (any, error) {
	us, err := w.a.accounts.Users(r.Context(), s)
	if err != nil {
		return nil, err
	}
	pg := usersPage{Self: s.User}
	for _, u := range us {
		pg.Users = append(pg.Users, w.a.userOf(p, u))
	}
	roles, err := w.a.store.Roles(r.Context(), s.Tenant)
	if err != nil {
		return nil, err
	}
	for _, ro := range roles {
		if p.CanAssignRole(s, ro.ID) {
			pg.Roles = append(pg.Roles, roleOf(ro))
		}
	}
	ps, err := w.a.store.Projects(r.Context(), s.Tenant)
	if err != nil {
		return nil, err
	}
	for _, pr := range ps {
		pg.Projects = append(pg.Projects, projectRef{ID: pr.ID, Name: pr.Name})
	}
	return pg, nil
}

type rolesPage struct {
	Roles  []roleJSON
	Rights []access.RightInfo
}

func (w *web) roles(r *http.Request, s access.Subject, p *access.Policy) (any, error) {
	roles, err := w.a.store.Roles(r.Context(), s.Tenant)
	if err != nil {
		return nil, err
	}
	pg := rolesPage{Rights: access.Rights()}
	for _, ro := range roles {
		pg.Roles = append(pg.Roles, roleOf(ro))
	}
	return pg, nil
}

type projectRow struct {
	ID      uuid.UUID
	Name    string
	Members map[uuid.UUID]uuid.UUID // user → override role (zero: none)
}

type projectsPage struct {
	Projects []projectRow
	Users    []userJSON
	Roles    []roleJSON
}

func (w *web) projects(r *http.Request, s access.Subject, p *access.Policy) (any, error) {
	ps, err := w.a.store.Projects(r.Context(), s.Tenant)
	if err != nil {
		return nil, err
	}
	var pg projectsPage
	for _, pr := range ps {
		row := projectRow{ID: pr.ID, Name: pr.Name, Members: map[uuid.UUID]uuid.UUID{}}
		ms, err := w.a.store.ProjectMembers(r.Context(), s.Tenant, pr.ID)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			row.Members[m.User] = m.Role
		}
		pg.Projects = append(pg.Projects, row)
	}
	us, err := w.a.accounts.Users(r.Context(), s)
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		if u.Status == authn.StatusActive || u.Status == authn.StatusBlocked {
			pg.Users = append(pg.Users, w.a.userOf(p, u))
		}
	}
	roles, err := w.a.store.Roles(r.Context(), s.Tenant)
	if err != nil {
		return nil, err
	}
	for _, ro := range roles {
		pg.Roles = append(pg.Roles, roleOf(ro))
	}
	return pg, nil
}

type settingsPage struct {
	AllowedIPs string
	Settings   settingsJSON
	// Roles are the tenant's roles, each with whether two-factor is required of it.
	Roles  []twoFactorRoleChoice
	YourIP string
}

// twoFactorRoleChoice is one role's "require two-factor" box on the settings page.
type twoFactorRoleChoice struct {
	ID       uuid.UUID
	Name     string
	Required bool
}

func (w *web) settings(r *http.Request, s access.Subject, p *access.Policy) (any, error) {
	ps, err := w.a.store.Allowlist(r.Context(), s.Tenant)
	if err != nil {
		return nil, err
	}
	st, err := w.a.settingsOf(r, s.Tenant)
	if err != nil {
		return nil, err
	}
	roles, err := w.a.store.Roles(r.Context(), s.Tenant)
	if err != nil {
		return nil, err
	}
	pg := settingsPage{AllowedIPs: strings.Join(prefixStrings(ps), "\n"), Settings: st, YourIP: s.IP.String()}
	for _, ro := range roles {
		required := slices.ContainsFunc(st.RequireTwoFactorRoles, func(x settingsRole) bool { return x.ID == ro.ID })
		pg.Roles = append(pg.Roles, twoFactorRoleChoice{ID: ro.ID, Name: ro.Name, Required: required})
	}
	return pg, nil
}

type sessionsPage struct {
	Sessions []sessionJSON
	Names    map[uuid.UUID]string
	CanEnd   bool
	// The profile's API token card.
	CanToken bool
	Token    *tokenJSON
	// The profile's linked accounts.
	Identities []identityJSON
	Providers  []string
	Linked     bool // back from linking: a confirmation mail was sent
	// The profile's two-factor card.
	TwoFactor twoFactorJSON
}

func (w *web) profile(r *http.Request, s access.Subject, p *access.Policy) (any, error) {
	ss, err := w.a.accounts.MySessions(r.Context(), s)
	if err != nil {
		return nil, err
	}
	pg := sessionsPage{CanEnd: true, CanToken: p.Check(s, access.Integrations, uuid.Nil)}
	for _, x := range ss {
		pg.Sessions = append(pg.Sessions, sessionOf(x, s.Session))
	}
	ids, err := w.a.accounts.Identities(r.Context(), s, s.User)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		pg.Identities = append(pg.Identities, identityJSON{ID: id.ID, Provider: id.Provider, Email: id.Email, Status: string(id.Status)})
	}
	pg.Providers = w.a.accounts.IdentityProviders()
	if pg.TwoFactor, err = w.a.twoFactorOf(r, s); err != nil {
		return nil, err
	}
	pg.Linked = r.URL.Query().Get("linked") == "1"
	if pg.CanToken {
		if t, err := w.a.tokens.Current(r.Context(), s, s.User); err == nil {
			tj := tokenOf(t)
			pg.Token = &tj
		}
	}
	return pg, nil
}

type usagePage struct {
	Rows  []usageJSON
	Names map[uuid.UUID]string
	Chart []chartBar
	From  string
	To    string
	All   bool
}

func (pg usagePage) title() string { return "API usage" }

func (w *web) usage(r *http.Request, s access.Subject, p *access.Policy) (any, error) {
	q, err := w.a.usageQuery(r)
	if err != nil {
		return nil, err
	}
	all := p.Check(s, access.UserManagement, uuid.Nil)
	if q.User == uuid.Nil && !all {
		q.User = s.User
	}
	if err := w.a.tokens.Flush(r.Context()); err != nil {
		return nil, err
	}
	rows, err := w.a.tokens.Usage(r.Context(), s, q)
	if err != nil {
		return nil, err
	}
	pg := usagePage{Names: w.userNames(r.Context(), s), From: string(q.From), To: string(q.To), All: all}
	perDay := map[string]int{}
	for _, u := range rows {
		pg.Rows = append(pg.Rows, usageJSON{Day: string(u.Day), User: u.User, Token: u.Token, Requests: u.Requests, Errors: u.Errors, LastUsed: u.LastUsed})
		perDay[string(u.Day)] += int(u.Requests)
	}
	from, err1 := time.Parse("2006-01-02", string(q.From))
	to, err2 := time.Parse("2006-01-02", string(q.To))
	if err1 == nil && err2 == nil && !to.Before(from) && to.Sub(from) <= 62*24*time.Hour {
		pg.Chart = bars(from, to.AddDate(0, 0, 1), perDay)
	}
	return pg, nil
}

func (w *web) sessions(r *http.Request, s access.Subject, p *access.Policy) (any, error) {
	ss, err := w.a.accounts.ActiveSessions(r.Context(), s)
	if err != nil {
		return nil, err
	}
	pg := sessionsPage{Names: w.userNames(r.Context(), s), CanEnd: p.Check(s, access.UserManagement, uuid.Nil)}
	for _, x := range ss {
		pg.Sessions = append(pg.Sessions, sessionOf(x, s.Session))
	}
	return pg, nil
}

type auditPage struct {
	Report  auditReport
	Reports []auditReport
	Events  []eventJSON
	Names   map[uuid.UUID]string
	Users   []userJSON
	From    string
	To      string
	User    uuid.UUID
	Type    string
	Next    string
	Query   string
	Chart   []chartBar
}

func (pg auditPage) title() string { return pg.Report.Title }

// chartBar is one day of the usage chart, drawn as SVG (attributes, not inline
// styles: the CSP allows no inline style).
type chartBar struct {
	Day     string
	Count   int
	X, Y, H int // the bar's position and height in the 0..100 tall drawing
	LabelX  int
}

func (w *web) audit(rep auditReport) pageFunc {
	return func(r *http.Request, s access.Subject, p *access.Policy) (any, error) {
		q, err := parseAuditQuery(r, rep.Kind)
		if err != nil {
			return nil, err
		}
		w.a.settleActionLog(r.Context())
		page, err := audit.Search(r.Context(), w.a.store, s.Tenant, auditScope(p, s), q, r.URL.Query().Get("cursor"))
		if err != nil {
			return nil, err
		}
		v := r.URL.Query()
		pg := auditPage{Report: rep, Names: w.userNames(r.Context(), s), From: v.Get("from"), To: v.Get("to"), User: q.User, Type: q.Action, Next: page.Next}
		for _, e := range page.Events {
			pg.Events = append(pg.Events, eventOf(e))
		}
		us, err := w.a.accounts.Users(r.Context(), s)
		if err == nil {
			for _, u := range us {
				pg.Users = append(pg.Users, w.a.userOf(p, u))
			}
		}
		keep := url.Values{}
		for _, k := range []string{"from", "to", "user", "type"} {
			if v.Get(k) != "" {
				keep.Set(k, v.Get(k))
			}
		}
		pg.Query = keep.Encode()
		if rep.Kind == audit.KindAction {
			pg.Chart = w.dailyChart(r.Context(), s, p, q)
		}
		return pg, nil
	}
}

// dailyChart counts the report's events per day over the last 14 days (or the
// chosen period), for the usage chart.
func (w *web) dailyChart(ctx context.Context, s access.Subject, p *access.Policy, q audit.Query) []chartBar {
	to := q.To
	if to.IsZero() {
		to = w.a.clock().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	}
	from := q.From
	if from.IsZero() || to.Sub(from) > 62*24*time.Hour {
		from = to.AddDate(0, 0, -14)
	}
	q.From, q.To, q.Order, q.Limit = from, to, audit.TimeAsc, audit.MaxLimit
	counts := map[string]int{}
	n := 0
	for e, err := range audit.SearchAll(ctx, w.a.store, s.Tenant, auditScope(p, s), q) {
		if err != nil || n >= 20000 {
			break
		}
		counts[e.Time.UTC().Format("2006-01-02")]++
		n++
	}
	return bars(from, to, counts)
}

// bars lays out one bar per day from `from` up to `to` (exclusive) with the counts by
// YYYY-MM-DD.
func bars(from, to time.Time, counts map[string]int) []chartBar {
	var out []chartBar
	top := 1
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		c := counts[d.Format("2006-01-02")]
		top = max(top, c)
		out = append(out, chartBar{Day: d.Format("01-02"), Count: c})
	}
	for i := range out {
		out[i].H = out[i].Count * 90 / top
		out[i].X = i * 40
		out[i].Y = 100 - out[i].H
		out[i].LabelX = i*40 + 15
	}
	return out
}

func (w *web) outbox(r *http.Request, s access.Subject, p *access.Policy) (any, error) {
	return w.a.outboxMails(), nil
}
