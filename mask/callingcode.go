package mask

import "github.com/nyaruka/phonenumbers"

// callingCodes[c] reports whether c is an ITU-T E.164 country calling code,
// geographic (39 for Italy, 1 for the whole North American Numbering Plan)
// or not (800, 882, ...). It is built once at start-up from the metadata of
// github.com/nyaruka/phonenumbers, so it is exact rather than guessed from
// lengths, and is never written afterwards.
//
// Calling codes form a prefix code: no code is the prefix of another (there
// is no 39x because 39 exists), so reading one, two, then three digits and
// stopping at the first hit finds the code exactly. TestCallingCodesPrefixFree
// checks that property on the table.
var callingCodes = buildCallingCodes()

func buildCallingCodes() *[1000]bool {
	var t [1000]bool
	for c := range phonenumbers.GetSupportedCallingCodes() {
		if c > 0 && c < len(t) {
			t[c] = true
		}
	}
	return &t
}

// callingCodeLen returns the number of decimal digits of a calling code.
func callingCodeLen(c int) int {
	switch {
	case c < 10:
		return 1
	case c < 100:
		return 2
	}
	return 3
}
