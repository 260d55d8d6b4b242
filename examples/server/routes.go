package main

import (
	"net/http"

	"github.com/callshield/callshield/access"
)

// routes registers the JSON API and the pages. Each API route names the right it
// needs; the project routes take the project from {project} or ?project=.
func (a *app) routes(mux *http.ServeMux) {
	const tenantWide, inProject = false, true

	// Sign-in and the caller.
	a.public(mux, "POST /api/v1/login", a.login)
	a.api(mux, "POST /api/v1/logout", 0, tenantWide, a.logout)
	a.public(mux, "POST /api/v1/login/totp", a.loginTOTP)
	a.api(mux, "GET /api/v1/me", 0, tenantWide, a.me)
	a.api(mux, "POST /api/v1/me/reauth", 0, tenantWide, a.reauth)

	// Sessions: one's own, the active-sessions report, the agent workplace.
	a.api(mux, "GET /api/v1/me/sessions", 0, tenantWide, a.mySessions)
	a.api(mux, "DELETE /api/v1/sessions/{id}", 0, tenantWide, a.endSession)
	a.api(mux, "GET /api/v1/sessions", access.ViewSessions, tenantWide, a.activeSessions)
	a.api(mux, "PUT /api/v1/me/workplace", 0, tenantWide, a.putWorkplace)

	// Two-factor sign-in with an authenticator app.
	a.twoFactorRoutes(mux)

	// Linked identities (Google, Facebook, an OpenID Connect issuer).
	mux.HandleFunc("GET /auth/{provider}/start", a.identitySignInStart)
	mux.HandleFunc("GET /auth/callback", a.identityCallback)
	a.api(mux, "GET /api/v1/me/identities", 0, tenantWide, a.myIdentities)
	a.api(mux, "POST /api/v1/me/identities/{provider}", 0, tenantWide, a.linkIdentity)
	a.api(mux, "DELETE /api/v1/me/identities/{id}", 0, tenantWide, a.unlinkIdentity)
	a.public(mux, "POST /api/v1/identities/confirm", a.confirmIdentity)

	// API tokens and their usage.
	a.api(mux, "POST /api/v1/me/token", 0, tenantWide, a.issueToken)
	a.api(mux, "GET /api/v1/me/token", 0, tenantWide, a.myToken)
	a.api(mux, "DELETE /api/v1/me/token", 0, tenantWide, a.revokeToken)
	a.api(mux, "GET /api/v1/api-usage", 0, tenantWide, a.apiUsage)

	// Invitations and users.
	a.api(mux, "POST /api/v1/invitations", access.UserManagement, tenantWide, a.invite)
	a.public(mux, "POST /api/v1/invitations/accept", a.acceptInvitation)
	a.api(mux, "GET /api/v1/users", access.UserManagement, tenantWide, a.listUsers)
	a.api(mux, "POST /api/v1/users/{id}/block", access.UserManagement, tenantWide, a.userAction(a.accounts.Block))
	a.api(mux, "POST /api/v1/users/{id}/unblock", access.UserManagement, tenantWide, a.userAction(a.accounts.Unblock))
	a.api(mux, "POST /api/v1/users/{id}/archive", access.UserManagement, tenantWide, a.userAction(a.accounts.Archive))
	a.api(mux, "POST /api/v1/users/{id}/unarchive", access.UserManagement, tenantWide, a.userAction(a.accounts.Unarchive))
	a.api(mux, "DELETE /api/v1/users/{id}", access.UserManagement, tenantWide, a.removeUser)
	a.api(mux, "PUT /api/v1/users/{id}/role", access.UserManagement, tenantWide, a.setUserRole)

	// Roles, projects, company settings.
	a.api(mux, "GET /api/v1/roles", 0, tenantWide, a.listRoles)
	a.api(mux, "POST /api/v1/roles", access.ManageRoles, tenantWide, a.createRole)
	a.api(mux, "PUT /api/v1/roles/{id}", access.ManageRoles, tenantWide, a.updateRole)
	a.api(mux, "DELETE /api/v1/roles/{id}", access.ManageRoles, tenantWide, a.deleteRole)
	a.api(mux, "GET /api/v1/projects", 0, tenantWide, a.listProjects)
	a.api(mux, "POST /api/v1/projects", access.ManageProjects, tenantWide, a.createProject)
	a.api(mux, "PUT /api/v1/projects/{project}/members", access.ManageProjects, inProject, a.setProjectMembers)
	a.api(mux, "GET /api/v1/settings", access.ManageCompany, tenantWide, a.getSettings)
	a.api(mux, "PUT /api/v1/settings", access.ManageCompany, tenantWide, a.putSettings)
	a.api(mux, "GET /api/v1/settings/allowed-ips", access.ManageCompany, tenantWide, a.getAllowedIPs)
	a.api(mux, "PUT /api/v1/settings/allowed-ips", access.ManageCompany, tenantWide, a.putAllowedIPs)

	// Host data: calls, scoped and masked; recordings with their access history.
	a.api(mux, "GET /api/v1/calls", 0, tenantWide, a.listCalls)
	a.api(mux, "GET /api/v1/calls.csv", access.ExportReports, inProject, a.exportCalls)
	a.api(mux, "GET /api/v1/calls/{id}/recording", 0, tenantWide, a.recording)

	// Audit reports and the chain's verification.
	for _, rep := range auditReports {
		a.api(mux, "GET /api/v1/audit/"+rep.Path, rep.Right, tenantWide, a.auditSearch(rep))
	}
	a.api(mux, "GET /api/v1/audit/verify", access.ViewChangeLog, tenantWide, a.auditVerify)

	// Dev mode: the outbox instead of SMTP, and the retention purge on demand.
	if a.cfg.Dev {
		a.api(mux, "GET /api/v1/dev/outbox", access.UserManagement, tenantWide, a.devOutbox)
		a.api(mux, "POST /api/v1/dev/purge", access.UserManagement, tenantWide, a.devPurge)
	}

	// Anything else under /api/ is a JSON 404.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: apiErrorBody{Code: "not_found", Message: "no such endpoint"}})
	})

	a.web.routes(mux)
}
