package authn

import (
	"net/http"
	"time"
)

// FlowCookie configures the short-lived cookie that carries a flow secret
// ([IdentityFlowStart.Token]) from the start of a link or sign-in flow to the
// provider's callback. The zero value is the production setting: the name
// "__Host-callshield_flow" (Secure, Path=/, no Domain), HttpOnly, SameSite=Lax, the
// flow's lifetime as Max-Age. Lax, not Strict: the provider's redirect back is a
// top-level GET navigation from another site, on which a Strict cookie is not sent.
type FlowCookie struct {
	// Name overrides the cookie name. Default "__Host-callshield_flow", or
	// "callshield_flow_dev" with Insecure.
	Name string
	// Insecure drops Secure and the "__Host-" prefix, for development over plain HTTP
	// on localhost only.
	Insecure bool
}

func (c FlowCookie) name() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.Insecure:
		return "callshield_flow_dev"
	}
	return "__Host-callshield_flow"
}

// Set writes the flow cookie of start; redirect the browser to start.URL after it.
func (c FlowCookie) Set(w http.ResponseWriter, start IdentityFlowStart) {
	http.SetCookie(w, &http.Cookie{Name: c.name(), Value: start.Token.Reveal(), Path: "/",
		MaxAge: max(1, int(start.TTL/time.Second)), Secure: !c.Insecure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// Clear deletes the flow cookie; write it in the callback's response.
func (c FlowCookie) Clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: c.name(), Value: "", Path: "/", MaxAge: -1, Secure: !c.Insecure,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// Callback reads a provider's callback request: the flow cookie and the "state" and
// "code" query parameters, for [Service.CompleteLink] or [Service.SignInWithIdentity].
func (c FlowCookie) Callback(r *http.Request) Callback {
	cb := Callback{State: r.URL.Query().Get("state"), Code: r.URL.Query().Get("code")}
	if ck, err := r.Cookie(c.name()); err == nil {
		cb.Flow = ck.Value
	}
	return cb
}
