package mask

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Email masks the local part of an e-mail address except its first
// character and keeps the domain: john@example.com → j***@example.com.
// A local part of one or two characters is masked whole (jo@example.com →
// **@example.com), so at least two of its characters always stay hidden.
//
// Input that is not shaped like an address (no "@", an empty local part, a
// domain that is not dot-separated labels of letters, digits and hyphens,
// such as "John <john@example.com>") is masked whole, as [Masker.Full] does.
//
// With Options.FixedWidth the hidden run is "****": j****@example.com.
func (m *Masker) Email(s string) string {
	m = m.self()
	if m.reveal {
		return s
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || !validDomain(s[at+1:]) {
		return m.full(s)
	}
	local := s[:at]
	n := utf8.RuneCountInString(local)
	head, _ := fit(n, 1, 0, 2, false)
	var b strings.Builder
	m.writeMasked(&b, local, anyRune, n, head, 0, len(s)-at)
	b.WriteString(s[at:])
	return b.String()
}

// validDomain reports whether d is one or more labels of letters, digits and
// hyphens (not at either end of a label), 1 to 63 bytes each, separated by
// single dots, 253 bytes at most.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				return false
			}
		}
	}
	return true
}
