package audit_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/audit"
)

// The action log keeps what a forensic reader needs: dates, date-times and Unix
// timestamps of report URLs, and UUIDs, while card and phone numbers stay masked and
// secrets redacted. Before, "2026-01-15" was recorded as "****-**-15".
func TestActionEventKeepsDatesAndTimestamps(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/reports/2026-01-15/calls/01a2b3c4-65ad-73de-9a7e-446655440000?"+
		"from=2026-01-15&to=2026-02-01&at=2026-01-15T00:00:00Z&window=2026-01-15T10:30:00%2B01:00/2026-01-16T10:30:00%2B01:00"+
		"&since=1764700000&Until=1764700000123&page=3&limit=100&cursor=01a2b3c4-65ad-73de-9a7e-446655440000"+
		"&ref=4111111111111111&phone=%2B390612345588&caller=0612345588&q=4111-1111-1111-1111&t="+testToken, nil)
	r.Pattern = "GET /reports/{day}/calls/{id}"
	d := audit.ActionEvent(r, audit.ActionOptions{}).Details
	assert.Equal(t, "/reports/2026-01-15/calls/01a2b3c4-65ad-73de-9a7e-446655440000", d[audit.DetailURL])
	for k, want := range map[string]string{
		"query.from":   "2026-01-15",
		"query.to":     "2026-02-01",
		"query.at":     "2026-01-15T00:00:00Z",
		"query.window": "2026-01-15T10:30:00+01:00/2026-01-16T10:30:00+01:00",
		"query.since":  "1764700000",
		"query.until":  "1764700000123",
		"query.page":   "3",
		"query.limit":  "100",
		"query.cursor": "01a2b3c4-65ad-73de-9a7e-446655440000",
		// Still masked: card and phone numbers, under any other name.
		"query.ref":    "************1111",
		"query.phone":  "+39********88",
		"query.caller": "********88",
		"query.q":      "****-****-****-1111",
		"query.t":      audit.RedactedValue,
	} {
		assert.Equal(t, want, d[k], k)
	}
	assert.Equal(t, "/calls/2026-01-15T10:30:00Z", audit.ScrubPath("/calls/2026-01-15T10:30:00Z"))
}

// Under since and until only a bare timestamp is kept: a phone number with a sign or
// separators, or a number of 12 or 13 digits that passes the Luhn check (it may be a
// card), is masked.
func TestActionEventTimeParamsKeepOnlyTimestamps(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/calls?since=%2B390612345588&until=4222222222222&since=0612345588&until=06+1234+5588&from=1764700000", nil)
	d := audit.ActionEvent(r, audit.ActionOptions{}).Details
	assert.Equal(t, `["+39********88","********88"]`, d["query.since"])
	assert.Equal(t, `["*********2222","** **** **88"]`, d["query.until"])
	assert.Equal(t, "********00", d["query.from"], "from is no time name: callers' numbers are sent under it")
}

// The slog bridge keeps time values and dates in messages.
func TestSlogBridgeKeepsDates(t *testing.T) {
	s := &sink{}
	log := slog.New(audit.NewSlogHandler(s, audit.SlogOptions{Next: slog.NewJSONHandler(&bytes.Buffer{}, nil)}))
	at := time.Date(2026, 1, 15, 10, 30, 0, 123456789, time.UTC)
	log.Info("report 2026-01-15 to 2026-02-01 for +39 06 1234 5588", slog.Group("audit", "tenant", tenantA.String(),
		"kind", "change", "action", "report.run", "at", at, "note", "card 4111 1111 1111 1111 on 2026-01-15"))
	require.Len(t, s.events, 1)
	e := s.events[0]
	assert.Equal(t, "report 2026-01-15 to 2026-02-01 for +39 ** **** **88", e.Details["message"])
	assert.Equal(t, "2026-01-15 10:30:00.123456789 +0000 UTC", e.Details["at"])
	assert.Equal(t, "card **** **** **** 1111 on 2026-01-15", e.Details["note"])
}
