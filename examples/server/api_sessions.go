package main

import (
	"net/http"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/google/uuid"
)

type workplaceJSON struct {
	Status      string    `json:"status,omitempty"`
	StatusSince time.Time `json:"status_since,omitzero"`
	Queue       string    `json:"queue,omitempty"`
	CallID      string    `json:"call_id,omitempty"`
}

type sessionJSON struct {
	ID        uuid.UUID      `json:"id"`
	User      uuid.UUID      `json:"user"`
	Kind      string         `json:"kind"`
	Current   bool           `json:"current"`
	CreatedAt time.Time      `json:"created_at"`
	LastSeen  time.Time      `json:"last_seen"`
	ExpiresAt time.Time      `json:"expires_at"`
	IP        string         `json:"ip,omitempty"`
	UserAgent string         `json:"user_agent,omitempty"`
	Browser   string         `json:"browser,omitempty"`
	LastURL   string         `json:"last_url,omitempty"`
	Factors   []authn.Factor `json:"factors"`
	Workplace *workplaceJSON `json:"workplace,omitempty"`
}

func sessionOf(s authn.Session, current uuid.UUID) sessionJSON {
	out := sessionJSON{ID: s.ID, User: s.User, Kind: string(s.Kind), Current: s.ID == current, CreatedAt: s.CreatedAt,
		LastSeen: s.LastSeen, ExpiresAt: s.ExpiresAt, UserAgent: s.UserAgent, LastURL: s.LastURL, Factors: s.Factors}
	if s.IP.IsValid() {
		out.IP = s.IP.String()
	}
	if name, version := audit.Browser(s.UserAgent); name != "" {
		out.Browser = name + " " + version
	}
	if s.Kind == authn.SessionWorkplace {
		w := s.Workplace
		out.Workplace = &workplaceJSON{Status: w.Status, StatusSince: w.StatusSince, Queue: w.Queue, CallID: w.CallID}
	}
	return out
}

// mySessions: GET /api/v1/me/sessions, the caller's own live sessions (ASVS 7.5.2).
func (a *app) mySessions(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	ss, err := a.accounts.MySessions(r.Context(), s)
	if err != nil {
		return err
	}
	out := make([]sessionJSON, 0, len(ss))
	for _, x := range ss {
		out = append(out, sessionOf(x, s.Session))
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
	return nil
}

// activeSessions: GET /api/v1/sessions (ViewSessions), the tenant's live sessions of
// both kinds (administrative interface and agent workplace), limited by the SDK to
// the users the caller may see.
func (a *app) activeSessions(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	ss, err := a.accounts.ActiveSessions(r.Context(), s)
	if err != nil {
		return err
	}
	out := make([]sessionJSON, 0, len(ss))
	for _, x := range ss {
		out = append(out, sessionOf(x, s.Session))
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
	return nil
}

// endSession: DELETE /api/v1/sessions/{id}: one's own session, or another user's
// with user management over them.
func (a *app) endSession(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	// EndSession ends one's own session as EndMySession does, another user's only with
	// user management over them.
	if err := a.accounts.EndSession(r.Context(), s, id); err != nil {
		return err
	}
	if id == s.Session {
		a.sessionCookie().Clear(w)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// putWorkplace: PUT /api/v1/me/workplace {status, queue, call_id}: what the host's
// dialer reports of an agent's workplace session. A changed status restarts its clock.
func (a *app) putWorkplace(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	var req workplaceJSON
	if err := readJSON(r, &req); err != nil {
		return err
	}
	st := authn.WorkplaceState{Status: req.Status, Queue: req.Queue, CallID: req.CallID, StatusSince: a.clock().UTC()}
	if cur, ok := currentSession(r); ok && cur.Workplace.Status == req.Status && !cur.Workplace.StatusSince.IsZero() {
		st.StatusSince = cur.Workplace.StatusSince
	}
	if err := a.accounts.UpdateWorkplace(r.Context(), s, st); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workplaceJSON{Status: st.Status, StatusSince: st.StatusSince, Queue: st.Queue, CallID: st.CallID})
	return nil
}
