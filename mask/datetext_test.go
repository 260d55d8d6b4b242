package mask

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Dates and date-times (ISO 8601, RFC 3339) are not personal data: Scrub keeps
// them, in query strings and free text alike. Each was masked before.
func TestScrubKeepsDates(t *testing.T) {
	for _, s := range []string{
		"2026-01-15",
		"from=2026-01-15&to=2026-02-01",
		"?from=2026-01-15T00:00:00Z",
		"2026-01-15T10:30:00+01:00",
		"2026-01-15T10:30:00-05:00",
		"2026-01-15t10:30:00z",
		"2026-01-15T10:30:00.123456789Z",
		"2026-01-15T10:30:00.123Z",
		"2026-01-15T10:30",
		"2026-01-15 10:30:00",
		"2026-01-15 10:30:00.999999999 +0000 UTC", // time.Time.String
		"2026-01-15 10:30:00+0100",
		"called on 2026-01-15 at 10:30, again on 2026-01-16.",
		"period 2026-01-15/2026-02-01",
		"2026-01-15 - 2026-02-01",
		"dates 2026-01-15, 2026-01-16, 2026-01-17",
		"(2026-01-15)",
		"report_2026-01-15.csv",
		"on 2026-01-15, 3 calls",
		"1999-12-31T23:59:60Z",
		"id 01a2b3c4-65ad-73de-9a7e-446655440000 at 2026-01-15T00:00:00Z",
	} {
		assert.Equal(t, s, ForViewer(false).Scrub(s))
		assert.Equal(t, s, MustNew(Options{FixedWidth: true}).Scrub(s))
	}
}

// What is not exactly a date keeps today's rules, and a card or phone number near a
// date is masked as before.
func TestScrubDatesDoNotHidePANs(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"card with dashes is no date", "4111-1111-1111-1111", "****-****-****-1111"},
		{"card next to a date", "2026-01-15 4111 1111 1111 1111", "****-**-** **** **** **** **11"},
		{"card after a date-time and a word", "2026-01-15T10:00:00Z card 4111 1111 1111 1111", "2026-01-15T10:00:00Z card **** **** **** 1111"},
		{"date after a card", "4111 1111 1111 1111 2026-01-15", "**** **** **** **** ****-**-15"},
		{"card shaped as a date of another century", "4111-11-11 1111 1111", "****-**-** **** 1111"},
		{"card run on from a date-time", "2026-01-15T10:30:00 41 1111 1111 1111", "****-**-15T**:**:** ** **** **** ****"},
		{"phone next to a date", "2026-01-15 +39 06 1234 5588", "2026-01-15 +39 ** **** **88"},
		{"phone after a date", "2026-01-15: call 06 1234 5588", "2026-01-15: call ** **** **88"},
		{"invalid month", "2026-13-15", "****-**-15"},
		{"invalid day", "2026-01-32", "****-**-32"},
		{"year out of range", "2226-01-15", "****-**-15"},
		{"glued to letters", "ID2026-01-15", "ID****-**-15"},
		{"glued to digits", "12026-01-15", "*****-**-15"},
		{"plus is a phone", "+2026-01-15", "+20**-**-15"},
		{"compact date is a number", "20260115", "******15"},
		{"too many fraction digits", "2026-01-15T10:30:00.1234567890Z", "****-**-15T**:**:**.**********Z"},
	}
	m := ForViewer(false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, m.Scrub(tt.in))
		})
	}
}
