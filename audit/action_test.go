package audit

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestActionEventRecordsTheRequestWithSecretsRedacted(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost,
		"/api/v1/calls?page=2&access_token=leaked-in-url&Password=hunter2&sort=desc&sort=asc&q=a%0Ab", nil)
	r.Header.Set("Authorization", "Bearer cs_secret_token_value")
	r.Header.Set("Cookie", "session=cookie-secret")
	r.Header.Set("X-Api-Key", "header-key-secret")
	r.Header.Set("User-Agent", "curl/8.5.0")
	body := url.Values{
		"new_password": {"correct horse"}, "totp_code": {"123456"}, "cardNumber": {"4111111111111111"},
		"cvv": {"123"}, "IBAN": {"DE89370400440532013000"}, "recovery_code": {"abcd-efgh"}, "comment": {"call me"},
		"MyProductSecret": {"custom"}, "client.PIN": {"9999"},
	}
	e := ActionEvent(r, ActionOptions{Body: body, SensitiveKeys: []string{" MyProduct "}})

	assert.Equal(t, KindAction, e.Kind)
	assert.Equal(t, "http.request", e.Action)
	assert.Equal(t, "curl/8.5.0", e.Actor.UserAgent)
	assert.Equal(t, map[string]string{
		"method":               "POST",
		"url":                  "/api/v1/calls",
		"query.page":           "2",
		"query.access_token":   RedactedValue,
		"query.password":       RedactedValue,
		"query.sort":           `["desc","asc"]`,
		"query.q":              "a\nb",
		"body.new_password":    RedactedValue,
		"body.totp_code":       RedactedValue,
		"body.cardnumber":      RedactedValue,
		"body.cvv":             RedactedValue,
		"body.iban":            RedactedValue,
		"body.recovery_code":   RedactedValue,
		"body.comment":         "call me",
		"body.myproductsecret": RedactedValue,
		"body.client.pin":      RedactedValue,
	}, e.Details)

	// Once prepared, nothing secret is left anywhere in the event, and the newline
	// is escaped.
	e.Tenant, e.Outcome = testTenant, Success
	require.NoError(t, Prepare(&e, testNow))
	all := eventText(&e)
	for _, secret := range []string{"leaked-in-url", "hunter2", "cs_secret_token_value", "cookie-secret", "header-key-secret",
		"correct horse", "123456", "4111111111111111", "DE89370400440532013000", "abcd-efgh", "custom", "9999"} {
		assert.NotContains(t, all, secret)
	}
	assert.Equal(t, `a\x0ab`, e.Details["query.q"])
}

func TestActionEventRedactsSensitivePathWildcards(t *testing.T) {
	mux := http.NewServeMux()
	var got Event
	mux.HandleFunc("GET /invite/{token}/accept", func(w http.ResponseWriter, r *http.Request) { got = ActionEvent(r, ActionOptions{}) })
	mux.HandleFunc("GET /recordings/{id}/files/{rest...}", func(w http.ResponseWriter, r *http.Request) { got = ActionEvent(r, ActionOptions{}) })
	mux.HandleFunc("/reset/{secret...}", func(w http.ResponseWriter, r *http.Request) { got = ActionEvent(r, ActionOptions{}) })

	mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/invite/inv-0123456789/accept", nil))
	assert.Equal(t, "/invite/"+RedactedValue+"/accept", got.Details["url"])
	assert.Equal(t, "GET /invite/{token}/accept", got.Details["route"])

	mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/recordings/42/files/a/b.wav", nil))
	assert.Equal(t, "/recordings/42/files/a/b.wav", got.Details["url"], "non-sensitive wildcards are kept")

	mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/reset/s3cr3t/more", nil))
	assert.Equal(t, "/reset/"+RedactedValue, got.Details["url"])
}

func TestActionEventBoundsParametersAndNormalisesNames(t *testing.T) {
	q := url.Values{}
	for i := range 70 {
		q.Set(strings.Repeat("k", i+1), "v")
	}
	r := httptest.NewRequest("GET", "/x?"+q.Encode(), nil)
	e := ActionEvent(r, ActionOptions{MaxParams: 60})
	params := 0
	for k := range e.Details {
		assert.True(t, ValidName(k), "detail key %q", k)
		if strings.HasPrefix(k, "query.") {
			params++
		}
	}
	assert.Equal(t, 60, params)
	assert.Equal(t, "10", e.Details[DetailParamsDropped])
	e.Tenant, e.Outcome = testTenant, Success
	assert.NoError(t, Prepare(&e, testNow), "the event is valid")

	// Names that normalise alike keep distinct keys, the first in sorted order.
	r = httptest.NewRequest("GET", "/x?"+url.Values{"Weird Name!": {"1"}, "weird_name_": {"2"}, strings.Repeat("é", 80): {"3"}}.Encode(), nil)
	e = ActionEvent(r, ActionOptions{})
	assert.Equal(t, "1", e.Details["query.weird_name_"])
	assert.Equal(t, "2", e.Details["query.weird_name_-2"])
	for k := range e.Details {
		assert.True(t, ValidName(k), "detail key %q", k)
	}
}

func TestSensitive(t *testing.T) {
	for _, name := range []string{"password", "PASSWORD", "newPassword", "api_key", "X-Api-Key", "apikey", "access_token",
		"Authorization", "otp", "totp_code", "recovery_codes", "card_number", "PAN", "cvv", "iban", "client_secret", "session_id"} {
		assert.True(t, Sensitive(name), name)
	}
	for _, name := range []string{"page", "sort", "q", "name", "email", "phone", "project_id"} {
		assert.False(t, Sensitive(name), name)
	}
	assert.True(t, Sensitive("ssn", "SSN"), "configured keys, case-insensitive")
	assert.False(t, Sensitive("ssn"))
}

func TestActionOutcome(t *testing.T) {
	for status, want := range map[int]Outcome{200: Success, 204: Success, 302: Success, 400: Failure, 401: Denied,
		403: Denied, 404: Failure, 429: Failure, 500: Failure} {
		assert.Equal(t, want, ActionOutcome(status), "%d", status)
	}
}

func TestParamsFromJSON(t *testing.T) {
	got, err := ParamsFromJSON([]byte(`{"card":{"number":"4111111111111111","exp":"12/30"},"items":[{"sku":"A1"},{"sku":"B2"}],
		"amount":12.50,"ok":true,"none":null,"name":"Zoë"}`))
	require.NoError(t, err)
	assert.Equal(t, url.Values{
		"card.number": {"4111111111111111"}, "card.exp": {"12/30"}, "items.0.sku": {"A1"}, "items.1.sku": {"B2"},
		"amount": {"12.50"}, "ok": {"true"}, "none": {"null"}, "name": {"Zoë"},
	}, got)
	e := ActionEvent(httptest.NewRequest("POST", "/pay", nil), ActionOptions{Body: got})
	assert.Equal(t, RedactedValue, e.Details["body.card.number"], "nested under a sensitive key")
	assert.Equal(t, RedactedValue, e.Details["body.card.exp"])
	assert.Equal(t, "A1", e.Details["body.items.0.sku"])

	for name, body := range map[string]string{
		"not JSON":      `{`,
		"not an object": `[1,2]`,
		"trailing data": `{} {}`,
		"too deep":      strings.Repeat(`{"a":`, 20) + `1` + strings.Repeat(`}`, 20),
		"too many":      `{"a":[` + strings.TrimSuffix(strings.Repeat("1,", 1001), ",") + `]}`,
	} {
		_, err := ParamsFromJSON([]byte(body))
		assert.ErrorIs(t, err, ErrParams, name)
	}
}

func FuzzParamsFromJSON(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,"x",null]}}`))
	f.Add([]byte(`{"password":"p"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		vals, err := ParamsFromJSON(body)
		if err != nil {
			return
		}
		e := ActionEvent(httptest.NewRequest("POST", "/x", nil), ActionOptions{Body: vals})
		e.Tenant, e.Outcome = testTenant, Success
		if err := Prepare(&e, testNow); err != nil {
			t.Fatalf("ActionEvent built an invalid event: %v", err)
		}
		for k, v := range vals {
			if Sensitive(k) {
				for _, s := range v {
					if len(s) > 3 && strings.Contains(eventText(&e), s) && !strings.Contains(strings.ToLower(s), "redacted") {
						// The value may legitimately appear as another key's value.
						found := false
						for k2, v2 := range vals {
							if !Sensitive(k2) && len(v2) > 0 && strings.Contains(strings.Join(v2, ""), s) {
								found = true
							}
						}
						if !found {
							t.Fatalf("the value of sensitive %q leaked", k)
						}
					}
				}
			}
		}
	})
}
