package token

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// The usage day is formatted in one place (civil.asDay): DayOf, the counter's flushed
// rows (take), its unflushed ones (pending) and the rows put back after a failed
// flush all agree at the UTC day boundary, and in a tenant's zone.
func TestUsageDayAtTheUTCBoundary(t *testing.T) {
	last := time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC)
	first := last.Add(time.Nanosecond) // 2027-01-01T00:00:00Z
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	cases := []struct {
		at   time.Time
		loc  *time.Location
		want Day
	}{
		{last, nil, "2026-12-31"},
		{first, nil, "2027-01-01"},
		{last, time.UTC, "2026-12-31"},
		{first, time.UTC, "2027-01-01"},
		{last.In(berlin), nil, "2026-12-31"}, // the instant counts, not its zone
		{first.Add(-time.Hour - time.Nanosecond), berlin, "2026-12-31"},
		{first.Add(-time.Hour), berlin, "2027-01-01"}, // midnight in Berlin
	}
	for _, c := range cases {
		if got := DayOf(c.at, c.loc); got != c.want {
			t.Errorf("DayOf(%v, %v) = %s, want %s", c.at, c.loc, got, c.want)
		}
		if got := civilOf(c.at, c.loc).asDay(); got != c.want {
			t.Errorf("civilOf(%v, %v).asDay() = %s, want %s", c.at, c.loc, got, c.want)
		}
	}

	tk := Token{ID: uuid.New(), Tenant: uuid.New(), User: uuid.New()}
	c := newCounter()
	c.add(tk, nil, last, 200)
	c.add(tk, nil, first, 500)
	q := UsageQuery{From: "2026-12-31", To: "2027-01-01"}
	check := func(what string, rows []Usage) {
		t.Helper()
		if len(rows) != 2 || rows[0].Day != "2026-12-31" || rows[1].Day != "2027-01-01" ||
			rows[0].Requests != 1 || rows[0].Errors != 0 || rows[1].Requests != 1 || rows[1].Errors != 1 {
			t.Fatalf("%s: %+v", what, rows)
		}
	}
	check("pending", c.pending(tk.Tenant, q, nil))
	rows := c.take()
	check("take", rows)
	c.putBack(rows)
	check("put back", c.pending(tk.Tenant, q, nil))
}
