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
//   - a run of digits, optionally starting with "+", with at most two
//     separators between digits (those [Masker.Phone] accepts: space,
//     hyphen, dot, parentheses, slash, no-break spaces, dashes), is a
//     number. With 12 to 19 digits, no "+", only spaces or hyphens between
//     them and a valid Luhn check digit, it is a card number; otherwise,
//     with at least seven digits, a phone number. So dates (2024-01-15),
//     order numbers and amounts of seven or more digits are masked too;
//   - digits of other scripts (Arabic-Indic, full-width, ...) in such a run
//     are all masked.
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
			emit(i, end, m.Email(s[i:end]))
			spans = spans[1:]
			i = end
			continue
		}
		limit := len(s)
		if len(spans) > 0 {
			limit = spans[0][0]
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
	seps := 0
	for j < len(s) {
		if c := s[j]; c-'0' <= 9 {
			digits++
			j++
			end, seps = j, 0
			continue
		}
		if w := phoneSepLen(s, j); w > 0 && seps < 2 {
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
		end, seps = j, 0
	}
	return end, digits, ascii, true
}

// textNumber masks a number found by numberAt.
func (m *Masker) textNumber(s string, digits int, ascii bool) string {
	if !ascii || len(s) > maxPhoneLen {
		return m.maskDigits(s)
	}
	if s[0] != '+' && digits >= 12 && digits <= 19 && onlyDigitsSpacesHyphens(s) && luhnValid(s) {
		return m.Card(s)
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

func onlyDigitsSpacesHyphens(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c-'0' > 9 && c != ' ' && c != '-' {
			return false
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
