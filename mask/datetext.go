package mask

import (
	"unicode"
	"unicode/utf8"
)

// Dates and date-times in free text.
//
// A date is not what Scrub hides, and an audit log or a note in which every
// "2026-01-15" reads "****-**-15" loses its meaning. Scrub keeps the calendar
// dates and date-times of ISO 8601 / RFC 3339 in their extended form:
//
//	date      YYYY-MM-DD           year 1900 to 2099, month 01-12, day 01-31
//	date-time date ("T" | "t" | " ") HH:MM [":" SS ["." 1-9 digits]] [zone]
//	zone      "Z" | "z" | ("+" | "-") HH [":"] MM
//
// with hour 00-23, minute 00-59, second 00-60 and zone hours 00-23. Such
// tokens stand alone (no letter or digit right before the first or after
// the last), and may be joined to one another by the separators of a digit
// chain ("2026-01-15/2026-02-01", "2026-01-15, 2026-01-16").
//
// Card numbers must still never show (PCI DSS 3.4.1), so the exemption is
// narrow:
//   - the shape is exact: a card's groups (4111-1111-1111-1111, 4111 1111,
//     378282 246310005) are never 4-2-2 digits with dashes and a valid month
//     and day;
//   - the year is 19xx or 20xx, and a date is only ever read where a digit
//     chain starts (Scrub reads a chain from its first digit, so digits before
//     a date joined to it by separators are read, and masked, with it). A
//     kept card number would therefore have to begin with 19 or 20, which no
//     major network's numbers do (2-series Mastercard is 2221-2720), and be
//     written as a date;
//   - a date-time followed, across separators, by digits that are not
//     another date is kept only if no digit chain read from within it may
//     hold a card number (see chainAt); otherwise the whole run is read by the
//     usual rules, and masked.

// dateRunAt reports whether a run of date and date-time tokens that Scrub
// keeps starts at s[i], an ASCII digit, and returns its end.
func dateRunAt(s string, i int) (end int, ok bool) {
	if i > 0 && (isAlnumASCII(rune(s[i-1])) || s[i-1] == '+') {
		return 0, false
	}
	end, ok = dateTokenAt(s, i)
	if !ok {
		return 0, false
	}
	for {
		// Skip the separators of a digit chain, as chainAt does.
		k, runes := end, 0
		for k < len(s) && runes < maxChainSepRunes {
			r, size := utf8.DecodeRuneInString(s[k:])
			if !isChainSep(r) {
				break
			}
			k += size
			runes++
		}
		if k == len(s) {
			return end, true
		}
		r, _ := utf8.DecodeRuneInString(s[k:])
		if !unicode.IsDigit(r) {
			return end, true
		}
		if k > end && s[k]-'0' <= 9 {
			if e, ok := dateTokenAt(s, k); ok {
				end = e
				continue
			}
		}
		// Other digits follow: keep the dates only if no card number can
		// hide across them and what follows.
		if k == end || cardChainIn(s, i, end) {
			return 0, false
		}
		return end, true
	}
}

// cardChainIn reports whether a digit chain read from a digit in s[i:end] that
// starts a group (the first digit, or one after a character that is not a
// chain separator, such as the "T" of a date-time) may hold a card number.
func cardChainIn(s string, i, end int) bool {
	for p := i; p < end; p++ {
		if s[p]-'0' > 9 {
			continue
		}
		if p > i {
			if r, _ := utf8.DecodeLastRuneInString(s[:p]); isChainSep(r) || unicode.IsDigit(r) {
				continue
			}
		}
		if _, _, _, card := chainAt(s, p); card {
			return true
		}
	}
	return false
}

// dateTokenAt reports whether a date or date-time token (see above) starts at
// s[i] and returns its end. The token is not followed by a letter or digit.
func dateTokenAt(s string, i int) (end int, ok bool) {
	// YYYY-MM-DD
	if len(s)-i < 10 || s[i+4] != '-' || s[i+7] != '-' {
		return 0, false
	}
	y, ok1 := num(s, i, 4)
	mo, ok2 := num(s, i+5, 2)
	d, ok3 := num(s, i+8, 2)
	if !ok1 || !ok2 || !ok3 || y < 1900 || y > 2099 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return 0, false
	}
	end = i + 10
	if t, ok := timeAt(s, end); ok {
		end = t
	}
	if end < len(s) && isAlnumASCII(rune(s[end])) {
		return 0, false
	}
	return end, true
}

// timeAt reads ("T" | "t" | " ") HH:MM [":" SS ["." fraction]] [zone] at s[j]
// and returns its end.
func timeAt(s string, j int) (end int, ok bool) {
	if j >= len(s) || s[j] != 'T' && s[j] != 't' && s[j] != ' ' {
		return 0, false
	}
	j++
	h, ok1 := num(s, j, 2)
	if !ok1 || h > 23 || j+2 >= len(s) || s[j+2] != ':' {
		return 0, false
	}
	mi, ok2 := num(s, j+3, 2)
	if !ok2 || mi > 59 {
		return 0, false
	}
	j += 5
	if j+2 < len(s) && s[j] == ':' {
		if sec, ok := num(s, j+1, 2); ok && sec <= 60 {
			j += 3
			if j+1 < len(s) && s[j] == '.' && s[j+1]-'0' <= 9 {
				k := j + 1
				for k < len(s) && s[k]-'0' <= 9 && k-j <= 10 {
					k++
				}
				if k-j-1 > 9 { // more than nine fraction digits
					return 0, false
				}
				j = k
			}
		}
	}
	if j < len(s) {
		switch s[j] {
		case 'Z', 'z':
			j++
		case '+', '-':
			if zh, ok := num(s, j+1, 2); ok && zh <= 23 {
				k := j + 3
				if k < len(s) && s[k] == ':' {
					k++
				}
				if zm, ok := num(s, k, 2); ok && zm <= 59 {
					j = k + 2
				}
			}
		}
	}
	return j, true
}

// num reads n ASCII digits at s[i].
func num(s string, i, n int) (int, bool) {
	if i < 0 || len(s)-i < n {
		return 0, false
	}
	v := 0
	for k := i; k < i+n; k++ {
		c := s[k] - '0'
		if c > 9 {
			return 0, false
		}
		v = v*10 + int(c)
	}
	return v, true
}
