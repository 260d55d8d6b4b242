package audit

import "github.com/callshield/callshield/mask"

// TimeParams are the parameter names (compared case-insensitively, whole name) whose
// value [ActionEvent] records as sent when it is a Unix timestamp: 9 or 10 ASCII digits
// (seconds, 1973 to 2286) or 12 or 13 (milliseconds), not starting with 0, with no sign
// or separator.
// Dates and date-times in ISO 8601 / RFC 3339 form need no list: mask's Scrub keeps
// them under any name. A bare number of 10 digits has the shape of a national phone
// number, so it is kept only under these names, which no form uses for a phone; "from"
// and "to" are not among them, as call-center webhooks send the caller's and callee's
// numbers under those names. A value of 12 or 13 digits that passes the Luhn check may
// be a card number and is masked as one, whatever the name.
var TimeParams = []string{"since", "until"}

// scrubParam is scrubValue for a parameter named name.
func scrubParam(m *mask.Masker, name, v string) string {
	if unixTimestamp(name, v) {
		return v
	}
	return scrubValue(m, v)
}

// unixTimestamp reports whether v, under the parameter name, is a Unix timestamp kept
// as sent (see [TimeParams]).
func unixTimestamp(name, v string) bool {
	named := false
	for _, n := range TimeParams {
		if equalFoldASCII(name, n) {
			named = true
			break
		}
	}
	switch len(v) {
	case 9, 10, 12, 13:
	default:
		return false
	}
	if !named || v[0] == '0' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return len(v) < 12 || !luhnValid(v)
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// luhnValid reports whether the ASCII digits v pass the Luhn check.
func luhnValid(v string) bool {
	sum, double := 0, false
	for i := len(v) - 1; i >= 0; i-- {
		d := int(v[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
