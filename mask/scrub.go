package mask

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// minTextDigits is the fewest digits a run in free text needs to be taken
// for a phone number.
const minTextDigits = 7

// Scrub finds e-mail addresses, payment card numbers and phone numbers in
// free text, such as notes and chat messages, and masks each in place with
// the rules of [Masker.Email], [Masker.Card] and [Masker.Phone]; the rest
// of the text is unchanged:
//
//	"call +39 06 1234 5588 or write to john@example.com"
//	→ "call +39 ** **** **88 or write to j***@example.com"
//
// Detection errs on the side of masking:
//   - an e-mail address is local@domain with a dotted domain;
//   - a run of digits, optionally starting with "+", is a number. Between
//     two digits it may have up to three separators, of which at most two
//     spaces ("4111 - 1111" is one number, "12   34" two). Separators are
//     those [Masker.Phone] accepts: any Unicode space (no-break, thin,
//     ideographic, ...) or tab, hyphen, dot, parentheses, slash, any Unicode
//     dash, the minus sign U+2212, and the invisible soft hyphen and
//     zero-width characters;
//   - a number with 12 to 19 digits, no "+", only spaces and dashes between
//     them and a valid Luhn check digit is a card number; with other
//     separators (dots, slashes, brackets) all its digits are masked;
//     otherwise, with at least seven digits, a phone number. So order
//     numbers, amounts and dates in other layouts (15.01.2024) of seven or
//     more digits are masked too;
//   - card numbers keep no layout in text, so Scrub also reads digit
//     chains: groups of digits (of any script) joined by runs of up to 16
//     separators — any Unicode space, line breaks and indents included, the
//     separators above, and _ | : ; * , / \ [ ] > # = ~ quotes, middle dots
//     and bullets. A chain of 12 digits or more in which some 12 to 19
//     consecutive ASCII digits pass the Luhn check (or that has digits of
//     another script) is masked as one number: as a card if it is exactly
//     one Luhn-valid number of 12 to 19 digits, otherwise every digit, unless
//     it is exactly the number the rules above read, which they mask. So a
//     card number split across lines, by several spaces, bars or
//     underscores, or glued to other digits never shows more than its last
//     four digits; lists of numbers that form such a chain are masked whole;
//   - groups of four digits joined by commas (each optionally followed by
//     one space), the last group one to four digits, 12 to 19 digits in
//     all, are a card number if they pass the Luhn check: 4111,1111,1111,1111
//     (all its digits are masked if another number follows it after a space
//     or dash, as it is then not clearly a card).
//     Commas join nothing else, so amounts with thousands separators
//     (1,000,000) and lists of small numbers are left alone, except for
//     the one list in ten of 3 to 5 four-digit numbers that happens to
//     pass the check, which is masked like a card;
//   - digits of other scripts (Arabic-Indic, full-width, ...) in such a run
//     are all masked;
//   - an e-mail address keeps its domain, unless the domain holds a chain
//     that may be a card number: then its digits are masked too;
//   - a UUID in canonical form (8-4-4-4-12 hexadecimal digits, at least one
//     of them a letter) is an identifier and is kept whole;
//   - an ISO 8601 date (YYYY-MM-DD, year 1900 to 2099, valid month and day)
//     or RFC 3339 date-time (the date, "T", "t" or a space, HH:MM with
//     optional seconds, fraction of up to nine digits and zone "Z" or ±HH:MM)
//     that stands alone, or a run of them joined by chain separators
//     ("2026-01-15/2026-02-01"), is kept whole. Only where a chain starts
//     and only in that shape: digits joined to a date before it are read
//     with it, and a date-time followed by other digits is kept only if no
//     chain read from within it may hold a card number, so no card number
//     is ever kept as a date (see datetext.go).
//
// National numbers in text are masked in place, never parsed with
// Options.DefaultRegion. Text with nothing to mask is returned as is,
// without allocating.
func (m *Masker) Scrub(s string) string {
	m = m.self()
	if m.reveal {
		return s
	}
	spans := emailSpans(s)
	var b strings.Builder
	last := 0
	// Chains read from a digit before noChain hold no card number: a chain
	// read from a later digit of them is part of one, so is not read again
	// (Scrub stays linear in len(s)).
	noChain := 0
	emit := func(start, end int, masked string) {
		if b.Cap() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:start])
		b.WriteString(masked)
		last = end
	}
	for i := 0; i < len(s); {
		if len(spans) > 0 && i == spans[0][0] {
			end := spans[0][1]
			emit(i, end, m.emailIn(s[i:end]))
			spans = spans[1:]
			i = end
			continue
		}
		limit := len(s)
		if len(spans) > 0 {
			limit = spans[0][0]
		}
		c := s[i]
		if c < utf8.RuneSelf && c-'0' > 9 && c != '+' && c != '(' {
			if isHexLetter(c) && (i == 0 || !isAlnumASCII(rune(s[i-1]))) && uuidAt(s[:limit], i) {
				i += uuidLen
				continue
			}
			i++ // cannot start a number: skip the calls below
			continue
		}
		if c-'0' <= 9 && (i == 0 || !isAlnumASCII(rune(s[i-1]))) && uuidAt(s[:limit], i) {
			i += uuidLen
			continue
		}
		if c != '+' {
			// A date or date-time (see dateRunAt) is kept, alone or in
			// brackets.
			if k := i + b2i(c == '('); k < limit && s[k]-'0' <= 9 {
				if end, ok := dateRunAt(s[:limit], k); ok {
					i = end
					continue
				}
			}
		}
		d := i // the first digit
		if c == '+' || c == '(' {
			d++
		}
		if d >= noChain && d < limit {
			if r, _ := utf8.DecodeRuneInString(s[d:]); unicode.IsDigit(r) {
				end, digits, ascii, card := chainAt(s[:limit], d)
				if !card {
					noChain = end
				} else if numEnd, _, _, _ := numberAt(s[:limit], i); numEnd != end {
					// The chain is more than the number the phone rules
					// read from here: mask it as one number, a card if it
					// is one, otherwise every digit.
					if ascii && digits <= maxCardDigits && luhnValid(s[d:end]) {
						emit(d, end, m.cardIn(s[d:end], digits))
					} else {
						emit(d, end, m.maskDigits(s[d:end]))
					}
					i = end
					continue
				}
			}
		}
		if c-'0' <= 9 {
			if end, digits, ok := commaCardAt(s[:limit], i); ok {
				if numberContinues(s[:limit], end) {
					// Run together with the next number: not clearly a
					// card, so none of its digits are shown.
					emit(i, end, m.maskDigits(s[i:end]))
				} else {
					emit(i, end, m.cardIn(s[i:end], digits))
				}
				i = end
				continue
			}
		}
		if end, digits, ascii, ok := numberAt(s[:limit], i); ok {
			if digits >= minTextDigits {
				emit(i, end, m.textNumber(s[i:end], digits, ascii))
			}
			i = end
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// emailIn masks an e-mail address found in text. Its domain is shown, except
// when it holds a digit chain that may be a card number
// ("john@4111-1111-1111-1111.example"): then its digits are masked too.
func (m *Masker) emailIn(addr string) string {
	out := m.Email(addr)
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !containsCard(addr[at+1:]) {
		return out
	}
	oat := strings.LastIndexByte(out, '@')
	if oat < 0 {
		return m.maskDigits(out)
	}
	return out[:oat+1] + m.maskDigits(out[oat+1:])
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isHexLetter(c byte) bool { return c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// Separators allowed between two digits of a number in text.
const (
	maxTextSeps   = 3 // " - "
	maxTextSpaces = 2 // more spaces than this split numbers: "12   34"
)

// numberAt reports whether a number starts at s[i]: "+" or "(" followed by
// an ASCII digit, or a digit of any script. It returns the end of the number
// (just after its last digit), its count of digits and whether they are all
// ASCII.
func numberAt(s string, i int) (end, digits int, ascii, ok bool) {
	j := i
	if c := s[i]; c == '+' || c == '(' {
		if i+1 >= len(s) || s[i+1]-'0' > 9 {
			return 0, 0, false, false
		}
		j++
	} else if r, _ := utf8.DecodeRuneInString(s[i:]); !unicode.IsDigit(r) {
		return 0, 0, false, false
	}
	ascii = true
	seps, spaces := 0, 0
	for j < len(s) {
		c := s[j]
		if c-'0' <= 9 {
			if seps > 0 && j+4 < len(s) && s[j+4] == ',' {
				if _, _, ok := commaCardAt(s, j); ok {
					break // Scrub masks the card next
				}
			}
			digits++
			j++
			end, seps, spaces = j, 0, 0
			continue
		}
		w := 0 // phoneSepLen, inlined by hand for speed
		switch phoneClass[c] {
		case clSep:
			w = 1
		case clMulti:
			w = unicodeSepLen(s, j)
		}
		if w > 0 && seps < maxTextSeps {
			if c == ' ' || c == '\t' || c >= utf8.RuneSelf && isUnicodeSpace(s, j) {
				if spaces == maxTextSpaces {
					break
				}
				spaces++
			}
			seps++
			j += w
			continue
		}
		r, size := utf8.DecodeRuneInString(s[j:])
		if !unicode.IsDigit(r) {
			break
		}
		ascii = false
		digits++
		j += size
		end, seps, spaces = j, 0, 0
	}
	return end, digits, ascii, true
}

// commaCardAt reports whether a card number written with commas starts at
// s[i]: groups of four ASCII digits joined by "," or ", ", the last group
// one to four digits, 12 to 19 digits in all, with a valid Luhn check digit
// and no digit right after it. It returns the end of the number and its
// count of digits. It reads a few bytes before giving up, and never
// allocates.
func commaCardAt(s string, i int) (end, digits int, ok bool) {
	j := i
	for {
		g := 0
		for j < len(s) && s[j]-'0' <= 9 && g < 5 {
			j++
			g++
		}
		if g == 0 || g > 4 {
			return 0, 0, false
		}
		digits += g
		if g < 4 || digits > 19 || j == len(s) || s[j] != ',' {
			break
		}
		k := j + 1
		if k < len(s) && s[k] == ' ' {
			k++
		}
		if k == len(s) || s[k]-'0' > 9 {
			break
		}
		j = k
	}
	if digits < 12 || digits > 19 || j == i+digits || !luhnValid(s[i:j]) {
		return 0, 0, false
	}
	if j < len(s) && s[j]-'0' <= 9 {
		return 0, 0, false
	}
	return j, digits, true
}

// numberContinues reports whether a number found in s ending at s[j] would
// go on, by numberAt's rule, to a digit after a few separators.
func numberContinues(s string, j int) bool {
	seps, spaces := 0, 0
	for j < len(s) && seps < maxTextSeps {
		w := phoneSepLen(s, j)
		if w == 0 {
			break
		}
		if c := s[j]; c == ' ' || c == '\t' || c >= utf8.RuneSelf && isUnicodeSpace(s, j) {
			if spaces == maxTextSpaces {
				return false
			}
			spaces++
		}
		seps++
		j += w
	}
	if seps == 0 || j == len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[j:])
	return unicode.IsDigit(r)
}

// textNumber masks a number found by numberAt.
func (m *Masker) textNumber(s string, digits int, ascii bool) string {
	if !ascii || len(s) > maxPhoneLen {
		return m.maskDigits(s)
	}
	if s[0] != '+' && digits >= minCardDigits && digits <= maxCardDigits && luhnValid(s) {
		if cardSeparators(s) {
			return m.cardIn(s, digits)
		}
		// It may be a card number written with dots, slashes or brackets:
		// the phone rules would show a "00" prefix, a calling code and more
		// than its last four digits.
		return m.maskDigits(s)
	}
	l, ok := scanPhone(s)
	if !ok {
		return m.maskDigits(s)
	}
	return m.phoneMasked(s, l)
}

// maskDigits replaces every digit, of any script, with '*' ("****" in all
// with FixedWidth).
func (m *Masker) maskDigits(s string) string {
	if m.fixed {
		return fixedMask
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsDigit(r) {
			b.WriteByte('*')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cardSeparators reports whether s, a number found by numberAt, has only
// spaces and dashes (of any script, and the invisible separators) between
// its digits, as a card number written in text would.
func cardSeparators(s string) bool {
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c-'0' <= 9 || c == ' ' || c == '\t' || c == '-':
			i++
		case c < utf8.RuneSelf:
			return false
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if !isUnicodeSep(r) {
				return false
			}
			i += size
		}
	}
	return true
}

// emailSpans returns the byte ranges of the e-mail addresses in s, in order
// and not overlapping. The local part is the longest run before "@" of
// letters, digits and !#$%&'*+/=?^_`{|}~.- (leading dots dropped); the domain
// the longest run after it of letters, digits, dots and hyphens (trailing
// dots and hyphens dropped), and it must contain a dot and pass validDomain.
func emailSpans(s string) [][2]int {
	var spans [][2]int
	prevEnd := 0
	for i := 0; i < len(s); {
		k := strings.IndexByte(s[i:], '@')
		if k < 0 {
			break
		}
		at := i + k
		st := at
		for st > prevEnd {
			r, size := utf8.DecodeLastRuneInString(s[prevEnd:st])
			if !isLocalRune(r) {
				break
			}
			st -= size
		}
		for st < at && s[st] == '.' {
			st++
		}
		en := at + 1
		for en < len(s) {
			r, size := utf8.DecodeRuneInString(s[en:])
			if r != '-' && r != '.' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				break
			}
			en += size
		}
		for en > at+1 && (s[en-1] == '.' || s[en-1] == '-') {
			en--
		}
		domain := s[at+1 : en]
		if st < at && strings.IndexByte(domain, '.') > 0 && validDomain(domain) {
			spans = append(spans, [2]int{st, en})
			prevEnd, i = en, en
			continue
		}
		i = at + 1
	}
	return spans
}

func isLocalRune(r rune) bool {
	if r >= 0x80 {
		return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
	}
	return isAlnumASCII(r) || strings.ContainsRune("!#$%&'*+/=?^_`{|}~.-", r)
}
