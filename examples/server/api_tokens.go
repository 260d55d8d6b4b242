package main

import (
	"errors"
	"net/http"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
)

type tokenJSON struct {
	ID         uuid.UUID `json:"id"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// Token is the secret, present only in the answer that created it.
	Token string `json:"token,omitempty"`
}

func tokenOf(t token.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt}
}

// issueToken: POST /api/v1/me/token {name, expires_at}: the caller's API token (needs
// the integrations right), shown once in "token". An existing token is replaced.
func (a *app) issueToken(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	var req struct {
		Name      string    `json:"name"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		req.Name = "API token"
	}
	ir := token.IssueRequest{Name: req.Name, ExpiresAt: req.ExpiresAt}
	t, secret, err := a.tokens.Issue(r.Context(), s, ir)
	if errors.Is(err, token.ErrExists) {
		t, secret, err = a.tokens.Regenerate(r.Context(), s, ir)
	}
	if err != nil {
		return err
	}
	out := tokenOf(t)
	out.Token = secret.Reveal()
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// myToken: GET /api/v1/me/token: the caller's token, without its secret.
func (a *app) myToken(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	t, err := a.tokens.Current(r.Context(), s, s.User)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokenOf(t))
	return nil
}

// revokeToken: DELETE /api/v1/me/token.
func (a *app) revokeToken(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	if err := a.tokens.Revoke(r.Context(), s, s.User); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type usageJSON struct {
	Day      string    `json:"day"`
	User     uuid.UUID `json:"user"`
	Token    uuid.UUID `json:"token"`
	Requests int64     `json:"requests"`
	Errors   int64     `json:"errors"`
	LastUsed time.Time `json:"last_used"`
}

// usageQuery reads from and to (YYYY-MM-DD, both included; default the last 14 days)
// and user.
func (a *app) usageQuery(r *http.Request) (token.UsageQuery, error) {
	v := r.URL.Query()
	today := a.clock().UTC()
	q := token.UsageQuery{From: token.DayOf(today.AddDate(0, 0, -13), nil), To: token.DayOf(today, nil)}
	var err error
	if s := v.Get("from"); s != "" {
		if q.From, err = token.ParseDay(s); err != nil {
			return q, badRequest("from is a day YYYY-MM-DD")
		}
	}
	if s := v.Get("to"); s != "" {
		if q.To, err = token.ParseDay(s); err != nil {
			return q, badRequest("to is a day YYYY-MM-DD")
		}
	}
	if s := v.Get("user"); s != "" {
		if q.User, err = uuid.Parse(s); err != nil {
			return q, badRequest("user is a user ID")
		}
	}
	return q, nil
}

// apiUsage: GET /api/v1/api-usage?from=&to=&user=: requests and errors per token and
// day: the tenant's for user managers (or one user's with ?user=), else one's own.
func (a *app) apiUsage(w http.ResponseWriter, r *http.Request) error {
	s, p := subject(r)
	q, err := a.usageQuery(r)
	if err != nil {
		return err
	}
	if q.User == uuid.Nil && !p.Check(s, access.UserManagement, uuid.Nil) {
		q.User = s.User // without user management, one's own usage
	}
	// The report includes this instance's unflushed counts from memory (other
	// instances' after their next flush). No Flush here: any signed-in user may read
	// their own usage, and a read must not force a write transaction.
	rows, err := a.tokens.Usage(r.Context(), s, q)
	if err != nil {
		return err
	}
	out := make([]usageJSON, 0, len(rows))
	for _, u := range rows {
		out = append(out, usageJSON{Day: string(u.Day), User: u.User, Token: u.Token, Requests: u.Requests, Errors: u.Errors, LastUsed: u.LastUsed})
	}
	writeJSON(w, http.StatusOK, map[string]any{"usage": out})
	return nil
}
