package main

// Linked identities: signing in with Google, Facebook or another OpenID Connect
// issuer, once the identity is linked from the profile and confirmed by e-mail.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/authn/oidc"
	"github.com/google/uuid"
)

// identityProviders builds the providers the flags configure. Each is looked up (OpenID
// Connect discovery) at start-up; a provider that cannot be reached fails the start.
func identityProviders(ctx context.Context, cfg config) ([]authn.IdentityProvider, error) {
	redirect := cfg.PublicURL + "/auth/callback"
	var out []authn.IdentityProvider
	add := func(c oidc.Config) error {
		p, err := oidc.New(ctx, c)
		if err != nil {
			return fmt.Errorf("identity provider %s: %w", c.Name, err)
		}
		out = append(out, p)
		return nil
	}
	if cfg.OIDC.GoogleClientID != "" {
		if err := add(oidc.Google(cfg.OIDC.GoogleClientID, cfg.OIDC.GoogleClientSecret, redirect)); err != nil {
			return nil, err
		}
	}
	if cfg.OIDC.Issuer != "" {
		c := oidc.Config{Name: "oidc", Issuer: cfg.OIDC.Issuer, ClientID: cfg.OIDC.ClientID,
			ClientSecret: cfg.OIDC.ClientSecret, RedirectURL: redirect}
		if err := add(c); err != nil {
			return nil, err
		}
	}
	if cfg.OIDC.FacebookClientID != "" {
		fb, err := oidc.NewFacebook(oidc.FacebookConfig{ClientID: cfg.OIDC.FacebookClientID,
			ClientSecret: cfg.OIDC.FacebookClientSecret, RedirectURL: redirect})
		if err != nil {
			return nil, fmt.Errorf("identity provider facebook: %w", err)
		}
		out = append(out, fb)
	}
	return out, nil
}

func (a *app) flowCookie() authn.FlowCookie { return authn.FlowCookie{Insecure: !a.secureCookies()} }

// identitySignInStart: GET /auth/{provider}/start?tenant=demo sends the browser to the
// provider, with the flow's secret in a short-lived cookie.
func (a *app) identitySignInStart(w http.ResponseWriter, r *http.Request) {
	t, err := a.access.ResolveTenant(r.Context(), r.URL.Query().Get("tenant"))
	if err != nil {
		a.web.error(w, r, nil, http.StatusNotFound, "Unknown company.")
		return
	}
	start, err := a.accounts.StartIdentitySignIn(r.Context(), t.ID, r.PathValue("provider"), meta(r))
	if err != nil {
		status, _, msg := errorStatus(err)
		a.web.error(w, r, nil, status, msg)
		return
	}
	a.flowCookie().Set(w, start)
	http.Redirect(w, r, start.URL, http.StatusSeeOther)
}

// identityCallback: GET /auth/callback, where the provider sends the browser back. In
// a signed-in browser it completes linking (a confirmation mail follows); otherwise it
// is a sign-in, which may still owe a second factor.
func (a *app) identityCallback(w http.ResponseWriter, r *http.Request) {
	cb := a.flowCookie().Callback(r)
	a.flowCookie().Clear(w)
	fail := func(err error) {
		status, _, msg := errorStatus(err)
		a.web.error(w, r, nil, status, msg)
	}
	if s, ok := access.SubjectFrom(r.Context()); ok {
		if _, err := a.accounts.CompleteLink(r.Context(), s, cb); err != nil {
			fail(err)
			return
		}
		http.Redirect(w, r, "/profile?linked=1", http.StatusSeeOther)
		return
	}
	res, err := a.accounts.SignInWithIdentity(r.Context(), cb, meta(r))
	if err != nil {
		if isIPNotAllowed(err) {
			err = authn.ErrInvalidCredentials
		}
		fail(err)
		return
	}
	if res.Pending != nil {
		a.pendingCookie().Set(w, res.PendingToken, res.Pending.ExpiresAt)
		http.Redirect(w, r, "/login?second=1", http.StatusSeeOther)
		return
	}
	a.sessionCookie().Set(w, res.Token, res.Session.ExpiresAt)
	http.Redirect(w, r, "/calls", http.StatusSeeOther)
}

type identityJSON struct {
	ID       uuid.UUID `json:"id"`
	Provider string    `json:"provider"`
	Email    string    `json:"email,omitempty"`
	Status   string    `json:"status"`
}

// myIdentities: GET /api/v1/me/identities.
func (a *app) myIdentities(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	ids, err := a.accounts.Identities(r.Context(), s, s.User)
	if err != nil {
		return err
	}
	out := make([]identityJSON, 0, len(ids))
	for _, id := range ids {
		out = append(out, identityJSON{ID: id.ID, Provider: id.Provider, Email: id.Email, Status: string(id.Status)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"identities": out, "providers": a.accounts.IdentityProviders()})
	return nil
}

// linkIdentity: POST /api/v1/me/identities/{provider} starts linking; the answer's
// "url" is where to send the browser.
func (a *app) linkIdentity(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	start, err := a.accounts.StartLink(r.Context(), s, r.PathValue("provider"))
	if err != nil {
		return err
	}
	a.flowCookie().Set(w, start)
	writeJSON(w, http.StatusOK, map[string]any{"url": start.URL, "expires_at": start.ExpiresAt.UTC().Format(time.RFC3339)})
	return nil
}

// unlinkIdentity: DELETE /api/v1/me/identities/{id} removes one of the caller's own
// identities (refused when it is their last way to sign in).
func (a *app) unlinkIdentity(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.accounts.Unlink(r.Context(), s, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// confirmIdentity: POST /api/v1/identities/confirm {token}, the mailed link's secret
// (the page /confirm-identity reads it from the URL fragment).
func (a *app) confirmIdentity(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Token string `json:"token"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	id, err := a.accounts.ConfirmIdentity(r.Context(), req.Token, meta(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, identityJSON{ID: id.ID, Provider: id.Provider, Email: id.Email, Status: string(id.Status)})
	return nil
}

// providerLinks are the "sign in with" links of the sign-in page.
func (a *app) providerLinks(tenant string) []navItem {
	var out []navItem
	for _, p := range a.accounts.IdentityProviders() {
		out = append(out, navItem{Path: "/auth/" + url.PathEscape(p) + "/start?tenant=" + url.QueryEscape(tenant), Label: p})
	}
	return out
}
