package mask

import (
	"unicode"
	"unicode/utf8"
)

// Card numbers in free text, whatever their layout.
//
// A payment card number typed, pasted or copied into a note does not keep the
// layout of a card field: its groups may be split by newlines, runs of
// spaces, "_", "|", ":", ";", "*", middle dots, or wrapped across lines with
// an indent or a quote marker ("> "). The phone scanner of Scrub (numberAt)
// joins digits only across short runs of the separators a phone number uses,
// so such a number would reach it as short groups of digits, each left alone.
// Scrub therefore first reads a digit chain: digit groups joined by runs of up
// to maxChainSepRunes card separators. A chain that holds 12 digits or more and
// could hold a card number is masked whole, as one number (see chainAt).

const (
	// uuidLen is the length of a UUID in its canonical form.
	uuidLen = 36
	// maxChainSepRunes bounds a run of separators inside a digit chain: a
	// line break, an indent of a dozen spaces and a quote marker fit.
	maxChainSepRunes = 16
	// minCardDigits and maxCardDigits bound a PAN (ISO/IEC 7812).
	minCardDigits = 12
	maxCardDigits = 19
)

// isChainSep reports whether r may separate two digit groups of a card number
// written in text: any Unicode space (line breaks and tabs included), the
// separators of phone numbers (dashes, the minus sign, dots, parentheses,
// slashes and the invisible characters), and the punctuation people type
// between groups. Not "+", which starts another (international) number.
func isChainSep(r rune) bool {
	if r < utf8.RuneSelf {
		switch r {
		case ' ', '\t', '\n', '\r', '\v', '\f', '-', '.', ',', '_', '|', ':', ';', '*', '/', '\\',
			'(', ')', '[', ']', '>', '#', '=', '~', '\'', '"':
			return true
		}
		return false
	}
	switch r {
	case '\u00B7', '\u2022', '\u2027', '\u2219', '\u22C5', '\u30FB', '\uFF5C', '\u2223':
		// middle dot, bullet, hyphenation point, bullet operator, dot
		// operator, katakana middle dot, full-width and divides bars
		return true
	}
	return unicode.IsSpace(r) || isUnicodeSep(r)
}

// chainAt reads the digit chain that starts at s[i], a digit of any script.
// It returns the end of the chain (just after its last digit), its count of
// digits, whether they are all ASCII, and whether the chain may hold a card
// number: 12 or more digits of which some 12 to 19 consecutive ASCII digits
// pass the Luhn check, or 12 or more digits with one of another script (whose
// check Scrub does not compute). A chain never runs into a UUID
// (see uuidAt). It does not allocate.
func chainAt(s string, i int) (end, digits int, ascii, card bool) {
	var ring [maxCardDigits]int8 // the last digits read, newest at (n-1) % len
	n := 0                       // ASCII digits since the last non-ASCII one
	ascii = true
	j := i
	for j < len(s) {
		r, size := utf8.DecodeRuneInString(s[j:])
		if !unicode.IsDigit(r) {
			// A run of separators, then a digit that does not start a UUID,
			// continues the chain.
			k, runes := j, 0
			for k < len(s) && runes < maxChainSepRunes {
				r, size := utf8.DecodeRuneInString(s[k:])
				if !isChainSep(r) {
					break
				}
				k += size
				runes++
			}
			if k == j || k == len(s) {
				break
			}
			if r, _ := utf8.DecodeRuneInString(s[k:]); !unicode.IsDigit(r) || uuidAt(s, k) {
				break
			}
			j = k
			continue
		}
		digits++
		j += size
		end = j
		if r >= utf8.RuneSelf {
			ascii, n = false, 0
			continue
		}
		ring[n%maxCardDigits] = int8(r - '0')
		n++
		if n == 2*maxCardDigits {
			n = maxCardDigits // same index, and still a full window
		}
		if !card && n >= minCardDigits && luhnWindowEnds(&ring, n) {
			card = true
		}
	}
	if digits >= minCardDigits && !ascii {
		card = true
	}
	return end, digits, ascii, card && digits >= minCardDigits
}

// luhnWindowEnds reports whether some window of 12 to 19 of the last n digits
// (held in ring, newest at (n-1) % len(ring)) that ends with the newest one
// passes the Luhn check.
func luhnWindowEnds(ring *[maxCardDigits]int8, n int) bool {
	sum := 0
	at := (n - 1) % maxCardDigits                // the newest digit's index
	for k := 0; k < min(n, maxCardDigits); k++ { // k digits left of the newest
		d := int(ring[at])
		if at--; at < 0 {
			at = maxCardDigits - 1
		}
		if k%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		if k+1 >= minCardDigits && sum%10 == 0 {
			return true
		}
	}
	return false
}

// containsCard reports whether s holds a digit chain that may be a card
// number (see chainAt).
func containsCard(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsDigit(r) {
			i += size
			continue
		}
		end, _, _, card := chainAt(s, i)
		if card {
			return true
		}
		i = end
	}
	return false
}

// uuidAt reports whether a UUID in its canonical form (8-4-4-4-12 hexadecimal
// digits) with at least one letter among them starts at s[i], not preceded or
// followed by a letter or digit. Scrub keeps such identifiers as they are: a
// UUID is no phone or card number, and an audit log or a note full of masked
// IDs is useless. One made of decimal digits alone is read as digits.
func uuidAt(s string, i int) bool {
	const n = uuidLen
	if len(s)-i < n || s[i+8] != '-' || i > 0 && isAlnumASCII(rune(s[i-1])) || len(s) > i+n && isAlnumASCII(rune(s[i+n])) {
		return false
	}
	letter := false
	for k := 0; k < n; k++ {
		c := s[i+k]
		switch k {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
			continue
		}
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			letter = true
		default:
			return false
		}
	}
	return letter
}
