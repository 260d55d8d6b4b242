package main

import (
	"encoding/base64"
	"net/http"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn/totp"
)

// twoFactorRoutes registers two-factor enrolment ("Connect"), its confirmation with the
// recovery codes, turning it off and regenerating recovery codes.
func (a *app) twoFactorRoutes(mux *http.ServeMux) {
	a.api(mux, "POST /api/v1/me/totp", 0, false, a.startTOTP)
	a.api(mux, "POST /api/v1/me/totp/confirm", 0, false, a.confirmTOTP)
	a.api(mux, "DELETE /api/v1/me/totp", 0, false, a.disableMyTOTP)
	a.api(mux, "POST /api/v1/me/totp/recovery-codes", 0, false, a.regenerateRecoveryCodes)
	a.api(mux, "DELETE /api/v1/users/{id}/totp", 0, false, a.disableUserTOTP)
}

// startTOTP: POST /api/v1/me/totp starts enrolment: the QR code (PNG, base64), the
// otpauth URI it holds and the secret for typing in, shown once. It needs a recent
// proof of a factor (401 reauthentication_required: POST /api/v1/me/reauth first).
func (a *app) startTOTP(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	setup, err := a.accounts.StartTwoFactor(r.Context(), s)
	if err != nil {
		return err
	}
	png, err := setup.Key.PNG(256)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"otpauth_uri": setup.Key.URI(),
		"qr_png":      base64.StdEncoding.EncodeToString(png),
		"secret":      setup.Key.Secret().Base32(),
		"expires_at":  setup.ExpiresAt.UTC().Format(time.RFC3339),
	})
	return nil
}

// confirmTOTP: POST /api/v1/me/totp/confirm {code} turns two-factor on with the first
// code from the app, returns the recovery codes once, and rotates the session's secret
// (the new cookie is set).
func (a *app) confirmTOTP(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	var req struct {
		Code string `json:"code"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	res, err := a.accounts.ConfirmTwoFactor(r.Context(), s, req.Code)
	if !res.Session.IsZero() {
		expires := a.clock().Add(12 * time.Hour)
		if cur, ok := currentSession(r); ok {
			expires = cur.ExpiresAt
		}
		a.sessionCookie().Set(w, res.Session, expires)
	}
	if err != nil && len(res.RecoveryCodes) == 0 {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": revealCodes(res.RecoveryCodes)})
	return nil
}

func revealCodes(cs []totp.RecoveryCode) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Reveal()
	}
	return out
}

// disableMyTOTP: DELETE /api/v1/me/totp (edit profile, recent re-authentication).
func (a *app) disableMyTOTP(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	if err := a.accounts.DisableTwoFactor(r.Context(), s, s.User); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// disableUserTOTP: DELETE /api/v1/users/{id}/totp (user management over the user).
func (a *app) disableUserTOTP(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.accounts.DisableTwoFactor(r.Context(), s, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// regenerateRecoveryCodes: POST /api/v1/me/totp/recovery-codes replaces the recovery
// codes; the new ones are shown once.
func (a *app) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	s, _ := subject(r)
	cs, err := a.accounts.RegenerateRecoveryCodes(r.Context(), s)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": revealCodes(cs)})
	return nil
}

// twoFactorOf is the profile's two-factor card.
type twoFactorJSON struct {
	Enabled           bool      `json:"enabled"`
	EnabledAt         time.Time `json:"enabled_at,omitzero"`
	RecoveryCodesLeft int       `json:"recovery_codes_left"`
}

func (a *app) twoFactorOf(r *http.Request, s access.Subject) (twoFactorJSON, error) {
	st, err := a.accounts.TwoFactorStatusOf(r.Context(), s, s.User)
	if err != nil {
		return twoFactorJSON{}, err
	}
	return twoFactorJSON{Enabled: st.Enabled, EnabledAt: st.EnabledAt, RecoveryCodesLeft: st.RecoveryCodesLeft}, nil
}
