package audit_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/mask"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testJWT     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
	testLink    = "csinv_AZJ3q8m2Yc7kLpX0vN4tR6sWbE1uHgFdAZJ3q8m2Yc7kLpX0vN4tR6sWbE1uHgFd"
	testToken   = "cst_0123456789abcdefABCDEF0123456789abcdefABCDEF0123456789abcde"
	testSession = "cssn_Qk9PTGVhbkZsYWcxMjM0NTY3ODkw"
)

// Values are looked at, not only names: callshield's own secrets and JWTs are
// redacted under any name, card and phone numbers masked with the mask rules, in the
// query, the body and the path, routed or not (ASVS 16.2.5, PCI DSS 3.4.1).
func TestActionEventLooksAtValues(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/accept/"+testLink+"/customers/+390612345588/calls/01a2b3c4-65ad-73de-9a7e-446655440000?"+
		"q=4111111111111111&key=abc123&jwt="+testJWT+"&next="+testLink+"&t="+testToken+"&x=Bearer+"+testJWT+
		"&phone=%2B39+06+1234+5588&s="+testSession+"&many=4111111111111111&many=ok&page=2&id=01a2b3c4-65ad-73de-9a7e-446655440000", nil)
	e := audit.ActionEvent(r, audit.ActionOptions{Body: map[string][]string{"note": {"card 4111\n1111\n1111\n1111"}}})
	d := e.Details
	assert.Equal(t, "/accept/[REDACTED]/customers/+39********88/calls/01a2b3c4-65ad-73de-9a7e-446655440000", d[audit.DetailURL],
		"no pattern: the link token is found by its value, the phone masked, the UUID kept")
	assert.Equal(t, "************1111", d["query.q"], "a card number under a harmless name")
	assert.Equal(t, audit.RedactedValue, d["query.key"], "?key= by name")
	assert.Equal(t, audit.RedactedValue, d["query.jwt"], "?jwt= by name")
	for _, k := range []string{"query.next", "query.t", "query.x", "query.s"} {
		assert.Equal(t, audit.RedactedValue, d[k], "%s by value", k)
	}
	assert.Equal(t, "+39 ** **** **88", d["query.phone"])
	assert.Equal(t, `["************1111","ok"]`, d["query.many"])
	assert.Equal(t, "2", d["query.page"])
	assert.Equal(t, "01a2b3c4-65ad-73de-9a7e-446655440000", d["query.id"])
	assert.Equal(t, "card ****\n****\n****\n1111", d["body.note"])
	b, err := json.Marshal(e)
	require.NoError(t, err)
	text := string(b)
	for _, secret := range []string{testJWT, testLink, testToken, testSession, "4111111111111111", "0612345588", "abc123"} {
		assert.NotContains(t, text, secret)
	}

	// A revealing Masker records personal data as sent; secrets stay redacted.
	e = audit.ActionEvent(r, audit.ActionOptions{Mask: mask.ForViewer(true)})
	assert.Equal(t, "4111111111111111", e.Details["query.q"])
	assert.Equal(t, audit.RedactedValue, e.Details["query.next"])
	assert.Equal(t, "/accept/[REDACTED]/customers/+390612345588/calls/01a2b3c4-65ad-73de-9a7e-446655440000", e.Details[audit.DetailURL])
}

// A one-time link under a wildcard named {link} (or any name) is redacted, as is one in
// a route that never names it; so is the path RequestPath gives the access log.
func TestActionEventRedactsLinkTokensInRoutedPaths(t *testing.T) {
	for _, pattern := range []string{"GET /accept/{link}", "GET /accept/{x}", "GET /accept/{rest...}", ""} {
		r := httptest.NewRequest(http.MethodGet, "/accept/"+testLink, nil)
		r.Pattern = pattern
		assert.Equal(t, "/accept/[REDACTED]", audit.ActionEvent(r, audit.ActionOptions{}).Details[audit.DetailURL], pattern)
		assert.Equal(t, "/accept/[REDACTED]", audit.RequestPath(r), pattern)
	}
	r := httptest.NewRequest(http.MethodGet, "/accept/not-a-secret", nil)
	r.Pattern = "GET /accept/{link}"
	assert.Equal(t, "/accept/[REDACTED]", audit.RequestPath(r), "the wildcard's name alone")
}

// Every event, whichever path built it, loses the fields that hold a secret.
func TestSanitizeRedactsSecretValues(t *testing.T) {
	e := audit.Event{Reason: "bad link " + testLink, Target: audit.Target{Name: testToken},
		Changes: []audit.Change{{Field: "webhook_url", Old: "https://x.example/?t=" + testJWT, New: "https://x.example/"}},
		Details: map[string]string{"note": "session " + testSession, "ok": "fine"}}
	e.Sanitize()
	assert.Equal(t, audit.RedactedValue, e.Reason)
	assert.Equal(t, audit.RedactedValue, e.Target.Name)
	assert.Equal(t, audit.Change{Field: "webhook_url", Redacted: true}, e.Changes[0])
	assert.Equal(t, audit.RedactedValue, e.Details["note"])
	assert.Equal(t, "fine", e.Details["ok"])
	assert.True(t, audit.SecretValue(testJWT))
	assert.False(t, audit.SecretValue("01a2b3c4-65ad-73de-9a7e-446655440000"))
}

// The slog bridge applies the same value rule to the events it makes and to the
// records it passes on to Next.
func TestSlogBridgeLooksAtValues(t *testing.T) {
	s := &sink{}
	var out bytes.Buffer
	log := slog.New(audit.NewSlogHandler(s, audit.SlogOptions{Next: slog.NewJSONHandler(&out, nil)}))
	attrs := func() slog.Attr {
		return slog.Group("audit", "tenant", tenantA.String(), "kind", "change", "action", "webhook.update",
			"target_name", testToken, "url", "https://hook.example/?t="+testLink, "bearer_in_value", "Bearer "+testJWT,
			"note", "card 4111 1111 1111 1111")
	}
	log.Info("paid with 4111-1111-1111-1111", attrs())
	require.Len(t, s.events, 1)
	e := s.events[0]
	assert.Equal(t, audit.RedactedValue, e.Target.Name)
	assert.Equal(t, audit.RedactedValue, e.Details["url"])
	assert.Equal(t, audit.RedactedValue, e.Details["bearer_in_value"])
	assert.Equal(t, "card **** **** **** 1111", e.Details["note"])
	assert.Equal(t, "paid with ****-****-****-1111", e.Details["message"])

	s.fail = audit.ErrQueueFull // the record reaches Next instead
	log.Info("paid with 4111-1111-1111-1111", attrs())
	require.NotEmpty(t, out.String())
	for _, secret := range []string{testToken, testLink, testJWT, "4111 1111 1111 1111", "4111-1111-1111-1111"} {
		assert.NotContains(t, out.String(), secret)
	}
	assert.Contains(t, out.String(), "**** **** **** 1111")
}

func TestScrubPath(t *testing.T) {
	assert.Equal(t, "/accept/[REDACTED]/customers/+39********88/x", audit.ScrubPath("/accept/"+testLink+"/customers/+390612345588/x"))
	assert.Equal(t, "/calls/01a2b3c4-65ad-73de-9a7e-446655440000", audit.ScrubPath("/calls/01a2b3c4-65ad-73de-9a7e-446655440000"))
}
