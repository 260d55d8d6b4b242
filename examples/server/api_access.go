package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
)

type roleJSON struct {
	ID      uuid.UUID `json:"id"`
	Name    string    `json:"name"`
	Kind    string    `json:"kind"`
	Rights  []string  `json:"rights"`
	Version int64     `json:"version"`
}

func roleOf(r access.Role) roleJSON {
	rights := r.Rights
	if r.Kind == access.KindAdmin {
		rights = nil
		for _, info := range access.Rights() {
			rights = append(rights, info.Name)
		}
	}
	if rights == nil {
		rights = []string{}
	}
	return roleJSON{ID: r.ID, Name: r.Name, Kind: string(r.Kind), Rights: rights, Version: r.Version}
}

type rightJSON struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
}

// listRoles: GET /api/v1/roles (ManageRoles or UserManagement: both need the list).
func (a *app) listRoles(w http.ResponseWriter, r *http.Request) error {
	s, p := subject(r)
	if !p.Check(s, access.ManageRoles, uuid.Nil) && !p.Check(s, access.UserManagement, uuid.Nil) {
		a.denied(r, p, s, "missing_right")
		return access.ErrForbidden
	}
	roles, err := a.store.Roles(r.Context(), s.Tenant)
	if err != nil {
		return err
	}
	out := make([]roleJSON, 0, len(roles))
	for _, ro := range roles {
		out = append(out, roleOf(ro))
	}
	var rights []rightJSON
	for _, info := range access.Rights() {
		rights = append(rights, rightJSON{Name: info.Name, Doc: info.Doc})
	}
	writeJSON(w, http.StatusOK, map[string]any{"roles": out, "rights": rights})
	return nil
}

type roleRequest struct {
	Name    string   `json:"name"`
	Rights  []string `json:"rights"`
	Version int64    `json:"version"`
}

func (req roleRequest) spec() (access.RoleSpec, error) {
	spec := access.RoleSpec{Name: req.Name}
	for _, n := range req.Rights {
		rt, err := access.ParseRight(n)
		if err != nil {
			return spec, err
		}
		spec.Rights = append(spec.Rights, rt)
	}
	return spec, nil
}

// createRole: POST /api/v1/roles {name, rights} (ManageRoles).
func (a *app) createRole(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	var req roleRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	spec, err := req.spec()
	if err != nil {
		return err
	}
	ro, err := a.access.CreateRole(r.Context(), s, spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, roleOf(ro))
	return nil
}

// updateRole: PUT /api/v1/roles/{id} {name, rights, version} (ManageRoles).
func (a *app) updateRole(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req roleRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	spec, err := req.spec()
	if err != nil {
		return err
	}
	ro, err := a.access.UpdateRole(r.Context(), s, id, req.Version, spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, roleOf(ro))
	return nil
}

// deleteRole: DELETE /api/v1/roles/{id} (ManageRoles).
func (a *app) deleteRole(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.access.DeleteRole(r.Context(), s, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type memberJSON struct {
	User uuid.UUID `json:"user"`
	Role uuid.UUID `json:"role,omitempty"` // a project role override; zero: the tenant role
}

type projectJSON struct {
	ID      uuid.UUID    `json:"id"`
	Name    string       `json:"name"`
	Members []memberJSON `json:"members"`
}

// listProjects: GET /api/v1/projects: the projects the caller is a member of, or all
// with SeeAllProjects or ManageProjects; members are listed for ManageProjects.
func (a *app) listProjects(w http.ResponseWriter, r *http.Request) error {
	s, p := subject(r)
	ps, err := a.store.Projects(r.Context(), s.Tenant)
	if err != nil {
		return err
	}
	mine := p.Projects(s.User)
	all := p.Check(s, access.SeeAllProjects, uuid.Nil) || p.Check(s, access.ManageProjects, uuid.Nil)
	out := []projectJSON{}
	for _, pr := range ps {
		if !all && !slices.Contains(mine, pr.ID) {
			continue
		}
		pj := projectJSON{ID: pr.ID, Name: pr.Name, Members: []memberJSON{}}
		if p.Check(s, access.ManageProjects, pr.ID) {
			ms, err := a.store.ProjectMembers(r.Context(), s.Tenant, pr.ID)
			if err != nil {
				return err
			}
			for _, m := range ms {
				pj.Members = append(pj.Members, memberJSON{User: m.User, Role: m.Role})
			}
		}
		out = append(out, pj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": out})
	return nil
}

// createProject: POST /api/v1/projects {name} (ManageProjects).
func (a *app) createProject(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	var req struct {
		Name string `json:"name"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	pr, err := a.access.CreateProject(r.Context(), s, req.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, projectJSON{ID: pr.ID, Name: pr.Name, Members: []memberJSON{}})
	return nil
}

// setProjectMembers: PUT /api/v1/projects/{project}/members {members: [{user, role}]}
// (ManageProjects in the project) makes the list the project's members: it adds and
// changes what is new and removes who is not listed, each change through the Service.
func (a *app) setProjectMembers(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	id, err := pathID(r, "project")
	if err != nil {
		return err
	}
	var req struct {
		Members []memberJSON `json:"members"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	cur, err := a.store.ProjectMembers(r.Context(), s.Tenant, id)
	if err != nil {
		return err
	}
	want := map[uuid.UUID]uuid.UUID{}
	for _, m := range req.Members {
		want[m.User] = m.Role
	}
	have := map[uuid.UUID]uuid.UUID{}
	for _, m := range cur {
		have[m.User] = m.Role
		if _, keep := want[m.User]; !keep {
			if err := a.access.RemoveProjectMember(r.Context(), s, id, m.User); err != nil {
				return err
			}
		}
	}
	for _, m := range req.Members {
		if role, ok := have[m.User]; ok && role == m.Role {
			continue
		}
		if _, err := a.access.AddProjectMember(r.Context(), s, id, m.User, m.Role); err != nil {
			return err
		}
	}
	ms, err := a.store.ProjectMembers(r.Context(), s.Tenant, id)
	if err != nil {
		return err
	}
	out := []memberJSON{}
	for _, m := range ms {
		out = append(out, memberJSON{User: m.User, Role: m.Role})
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
	return nil
}

// getAllowedIPs: GET /api/v1/settings/allowed-ips (ManageCompany).
func (a *app) getAllowedIPs(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	ps, err := a.store.Allowlist(r.Context(), s.Tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"allowed_ips": prefixStrings(ps)})
	return nil
}

// putAllowedIPs: PUT /api/v1/settings/allowed-ips {"allowed_ips": [...]} (ManageCompany).
// An empty list removes the restriction.
func (a *app) putAllowedIPs(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	var req struct {
		AllowedIPs []string `json:"allowed_ips"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	ps, err := a.access.SetAllowlist(r.Context(), s, req.AllowedIPs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"allowed_ips": prefixStrings(ps)})
	return nil
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// settingsJSON is the account settings an administrator edits.
type settingsJSON struct {
	PasswordMode      string `json:"password_mode"`
	PasswordMinLength int    `json:"password_min_length"`
	PasswordMinScore  int    `json:"password_min_score"`
	RequireTwoFactor  bool   `json:"require_two_factor"`
	// RequireTwoFactorRoles are the roles whose members must sign in with a second
	// factor (authn.Settings.RequireTwoFactorRoles), in the tenant's role order. The
	// answer names each {"id", "name"}; a request sends the IDs, as strings or as the
	// answer's objects (their names are ignored), so that an answer can be sent back
	// as it is. Absent or null in a request: unchanged; []: none. A role that is not
	// the tenant's is refused (400 unknown_role) and nothing is saved.
	RequireTwoFactorRoles []settingsRole `json:"require_two_factor_roles"`
	InvitationDays        int            `json:"invitation_days"`
	RetentionDays         int            `json:"retention_days"`
	Version               int64          `json:"version"`

	// Session and throttling rules (authn.SessionSettings).
	IdleMinutes    int   `json:"idle_minutes"`
	LifetimeHours  int   `json:"lifetime_hours"`
	MaxSessions    int   `json:"max_sessions_per_user"`
	LockThreshold  int   `json:"lock_threshold"`
	LockMinutes    int   `json:"lock_minutes"`
	SessionVersion int64 `json:"session_version"`
}

// settingsRole is a role named in the settings: its ID, and its name in answers.
type settingsRole struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

// UnmarshalJSON reads a role ID, or a {"id", "name"} object as answers carry it (the
// name is ignored: the ID decides).
func (r *settingsRole) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*r = settingsRole{}
		return json.Unmarshal(b, &r.ID)
	}
	var obj struct {
		ID   uuid.UUID `json:"id"`
		Name string    `json:"name"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&obj); err != nil {
		return err
	}
	*r = settingsRole{ID: obj.ID}
	return nil
}

// errUnknownRole: a settings request names a role that is not one of the tenant's
// (unknown, deleted, or another tenant's). The server registers it with the SDK's
// error mapping (access.RegisterErrors), so it answers 400 "unknown_role".
var errUnknownRole = errors.New("server: not one of the company's roles")

func init() {
	access.RegisterErrors(access.ErrorMapping{Err: errUnknownRole, Status: http.StatusBadRequest, Code: "unknown_role"})
}

// twoFactorRoleIDs returns the IDs of refs, or errUnknownRole if one is not in roles
// (the tenant's). authn.Service.UpdateSettings checks the same against its policy; the
// handler checks first so that the answer names the fault and nothing is written.
func twoFactorRoleIDs(roles []access.Role, refs []settingsRole) ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, 0, len(refs))
	for _, ref := range refs {
		if !slices.ContainsFunc(roles, func(r access.Role) bool { return r.ID == ref.ID }) {
			return nil, errUnknownRole
		}
		ids = append(ids, ref.ID)
	}
	return ids, nil
}

// existingRoles returns the IDs of ids that are still roles of the tenant. A role
// listed in the settings can be deleted once nobody holds it; its ID stays in the
// stored list, and authn would refuse to store that list again.
func existingRoles(roles []access.Role, ids []uuid.UUID) []uuid.UUID {
	var out []uuid.UUID
	for _, id := range ids {
		if slices.ContainsFunc(roles, func(r access.Role) bool { return r.ID == id }) {
			out = append(out, id)
		}
	}
	return out
}

// twoFactorRoleRefs names the roles of roles (the tenant's, in their order) that ids
// lists; never nil, so that the answer has [] for none.
func twoFactorRoleRefs(roles []access.Role, ids []uuid.UUID) []settingsRole {
	out := []settingsRole{}
	for _, r := range roles {
		if slices.Contains(ids, r.ID) {
			out = append(out, settingsRole{ID: r.ID, Name: r.Name})
		}
	}
	return out
}

func settingsOf(st authn.Settings, ss authn.SessionSettings, roles []access.Role) settingsJSON {
	return settingsJSON{RequireTwoFactorRoles: twoFactorRoleRefs(roles, st.RequireTwoFactorRoles), IdleMinutes: int(ss.IdleTimeout / time.Minute), LifetimeHours: int(ss.Lifetime / time.Hour),
		MaxSessions: ss.MaxPerUser, LockThreshold: ss.LockThreshold, LockMinutes: int(ss.LockDuration / time.Minute),
		SessionVersion: ss.Version,
		PasswordMode:   st.PasswordMode, PasswordMinLength: st.PasswordMinLength, PasswordMinScore: st.PasswordMinScore,
		RequireTwoFactor: st.RequireTwoFactor, InvitationDays: int(st.InvitationTTL / (24 * time.Hour)),
		RetentionDays: int(st.Retention / (24 * time.Hour)), Version: st.Version}
}

// getSettings: GET /api/v1/settings (ManageCompany).
func (a *app) getSettings(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	out, err := a.settingsOf(r, s.Tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *app) settingsOf(r *http.Request, tenant uuid.UUID) (settingsJSON, error) {
	st, err := a.accounts.Settings(r.Context(), tenant)
	if err != nil {
		return settingsJSON{}, err
	}
	ss, err := a.accounts.SessionSettings(r.Context(), tenant)
	if err != nil {
		return settingsJSON{}, err
	}
	roles, err := a.store.Roles(r.Context(), tenant)
	if err != nil {
		return settingsJSON{}, err
	}
	return settingsOf(st, ss, roles), nil
}

// putSettings: PUT /api/v1/settings (ManageCompany): password policy, two-factor
// requirement (for everyone or for some roles), invitation validity, the retention of
// archived users and the session rules.
func (a *app) putSettings(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	var req settingsJSON
	if err := readJSON(r, &req); err != nil {
		return err
	}
	st, err := a.accounts.Settings(r.Context(), s.Tenant)
	if err != nil {
		return err
	}
	if req.Version != 0 && req.Version != st.Version {
		return storage.ErrStale
	}
	st.PasswordMode, st.PasswordMinLength, st.PasswordMinScore = req.PasswordMode, req.PasswordMinLength, req.PasswordMinScore
	st.RequireTwoFactor = req.RequireTwoFactor
	roles, err := a.store.Roles(r.Context(), s.Tenant)
	if err != nil {
		return err
	}
	if req.RequireTwoFactorRoles != nil {
		if st.RequireTwoFactorRoles, err = twoFactorRoleIDs(roles, req.RequireTwoFactorRoles); err != nil {
			return err
		}
	} else {
		st.RequireTwoFactorRoles = existingRoles(roles, st.RequireTwoFactorRoles)
	}
	if req.InvitationDays > 0 {
		st.InvitationTTL = time.Duration(req.InvitationDays) * 24 * time.Hour
	}
	if req.RetentionDays > 0 {
		st.Retention = time.Duration(req.RetentionDays) * 24 * time.Hour
	}
	ss, err := a.accounts.SessionSettings(r.Context(), s.Tenant)
	if err != nil {
		return err
	}
	if req.SessionVersion != 0 && req.SessionVersion != ss.Version {
		return storage.ErrStale
	}
	if req.IdleMinutes > 0 {
		ss.IdleTimeout = time.Duration(req.IdleMinutes) * time.Minute
	}
	if req.LifetimeHours > 0 {
		ss.Lifetime = time.Duration(req.LifetimeHours) * time.Hour
	}
	if req.LockThreshold > 0 {
		ss.LockThreshold = req.LockThreshold
	}
	if req.LockMinutes > 0 {
		ss.LockDuration = time.Duration(req.LockMinutes) * time.Minute
	}
	ss.MaxPerUser = req.MaxSessions
	// authn keeps account and session settings apart, in two units of work. Both are
	// checked before either is written, so a value either part refuses changes
	// nothing (the two-factor roles were checked above); both versions were too. What can still fail the second write
	// after the first landed is a concurrent change (stale version) or the store
	// itself: then the account settings are saved, the session settings are not, and
	// the answer says so.
	if err := a.accounts.CheckSettings(st, ss); err != nil {
		return err
	}
	if _, err := a.accounts.UpdateSettings(r.Context(), s, st); err != nil {
		return err
	}
	if _, err := a.accounts.UpdateSessionSettings(r.Context(), s, ss); err != nil {
		a.log.Warn("settings half-saved: session settings refused", "tenant", s.Tenant, "err", err)
		status, code, msg := errorStatus(err)
		return &httpError{status: status, code: code,
			msg: "the account settings were saved, the session settings were not: " + msg}
	}
	out, err := a.settingsOf(r, s.Tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
