package main

import (
	"context"
	"net/http"
	"regexp"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/google/uuid"
)

type userJSON struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	StatusAt  time.Time `json:"status_at"`
	Role      *roleRef  `json:"role"`
	TwoFactor bool      `json:"two_factor"`
}

func (a *app) userOf(p *access.Policy, u authn.User) userJSON {
	out := userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Status: string(u.Status), StatusAt: u.StatusAt}
	if role, ok := p.Role(u.ID); ok {
		out.Role = &roleRef{ID: role.ID, Name: role.Name, Kind: string(role.Kind)}
	}
	out.TwoFactor = u.TwoFactor // set by authn.Service.Users
	return out
}

// listUsers: GET /api/v1/users (UserManagement).
func (a *app) listUsers(w http.ResponseWriter, r *http.Request) error {
	s, p := subject(r)
	us, err := a.accounts.Users(r.Context(), s)
	if err != nil {
		return err
	}
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, a.userOf(p, u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

// userAction: POST /api/v1/users/{id}/block, /unblock, /archive, /unarchive; do is
// the authn.Service method.
func (a *app) userAction(do func(context.Context, access.Subject, uuid.UUID) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, _ := subject(r)
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		if err := do(r.Context(), s, id); err != nil {
			return err
		}
		return a.writeUser(w, r, id)
	}
}

func (a *app) writeUser(w http.ResponseWriter, r *http.Request, id uuid.UUID) error {
	s, _ := subject(r)
	u, err := a.accounts.User(r.Context(), s, id)
	if err != nil {
		return err
	}
	p, err := a.engine.Policy(r.Context(), s.Tenant) // after the change
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.userOf(p, u))
	return nil
}

// removeUser: DELETE /api/v1/users/{id} excludes the user from the company.
func (a *app) removeUser(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.accounts.Remove(r.Context(), s, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "status": authn.StatusDeleted})
	return nil
}

// setUserRole: PUT /api/v1/users/{id}/role {role}.
func (a *app) setUserRole(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req struct {
		Role uuid.UUID `json:"role"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	// The user must be one of the tenant's accounts (another tenant's ID is 404).
	if _, err := a.accounts.User(r.Context(), s, id); err != nil {
		return err
	}
	if _, err := a.access.SetMember(r.Context(), s, id, req.Role); err != nil {
		return err
	}
	return a.writeUser(w, r, id)
}

type inviteRequest struct {
	Email    string      `json:"email"`
	Name     string      `json:"name"`
	Role     uuid.UUID   `json:"role"`
	Projects []uuid.UUID `json:"projects"`
}

// invite: POST /api/v1/invitations {email, name, role, projects}.
func (a *app) invite(w http.ResponseWriter, r *http.Request) error {
	s, p := subject(r)
	var req inviteRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	inv, err := a.accounts.Invite(r.Context(), s, authn.InviteRequest{Email: req.Email, Name: req.Name, Role: req.Role, Projects: req.Projects})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": a.userOf(p, inv.User), "expires_at": inv.ExpiresAt})
	return nil
}

type acceptRequest struct {
	Token    string         `json:"token"`
	Password authn.Password `json:"password"`
}

// acceptInvitation: POST /api/v1/invitations/accept {token, password}. A weak
// password is 400 weak_password with the broken rules; the link stays usable. The
// user keeps the name given at invitation (and edits it on their profile page): a
// body with any other field, "name" included, is 400, never silently dropped.
func (a *app) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	var req acceptRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	u, err := a.accounts.AcceptInvitation(r.Context(), req.Token, req.Password, meta(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": u.ID, "email": u.Email, "status": u.Status})
	return nil
}

var linkRE = regexp.MustCompile(`https?://\S+`)

type outboxMail struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	Link    string `json:"link"`
}

// devOutbox: GET /api/v1/dev/outbox (dev mode, UserManagement): the mails sent.
func (a *app) devOutbox(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"mails": a.outboxMails()})
	return nil
}

func (a *app) outboxMails() []outboxMail {
	mails := a.outbox.Mails()
	out := make([]outboxMail, 0, len(mails))
	for i := len(mails) - 1; i >= 0; i-- { // newest first
		m := mails[i]
		out = append(out, outboxMail{To: m.To, Subject: m.Subject, Text: m.Text, Link: linkRE.FindString(m.Text)})
	}
	return out
}

// devPurge: POST /api/v1/dev/purge {"at": RFC 3339} (dev mode, UserManagement) runs
// the retention purge of the caller's tenant's archived users as of a given time (no
// other tenant's users are touched), so that the demo (and its
// tests) can show it without waiting for the retention period. In production the
// purge runs daily at the real time (see purgeLoop).
func (a *app) devPurge(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		At time.Time `json:"at"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.At.IsZero() {
		req.At = a.clock()
	}
	s, _ := subject(r)
	rep, err := a.accounts.PurgeTenant(r.Context(), s, req.At) // the caller's tenant only
	if err != nil {
		return err
	}
	deleted := []uuid.UUID{}
	for _, d := range rep.Deleted {
		deleted = append(deleted, d.User)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": deleted})
	return nil
}
