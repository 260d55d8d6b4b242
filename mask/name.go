package mask

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Name reduces a personal name to initials: "Maria Grazia Rossi" →
// "M. G. R.". Words are separated by white space; a word's initial is its
// first rune, kept as written, and a word that does not start with a letter
// is left out, so digits never show. A value with no such word is masked
// whole, as [Masker.Full] does.
//
// The result is already independent of the name's length, so
// Options.FixedWidth does not change it.
func (m *Masker) Name(s string) string {
	m = m.self()
	if m.reveal {
		return s
	}
	var b strings.Builder
	for w := range strings.FieldsSeq(s) {
		r, size := utf8.DecodeRuneInString(w)
		if !unicode.IsLetter(r) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w[:size])
		b.WriteByte('.')
	}
	if b.Len() == 0 {
		return m.full(s)
	}
	return b.String()
}
