package mask

// Document masks a passport, identity card or other document number except
// its last three characters (Options.DocumentKeepLast): YA1234567 →
// ******567. Spaces, hyphens, slashes and dots stay in place; every other
// rune is masked, one '*' each. At least four characters always stay
// hidden, so a short number shows fewer: AB1234 → ****34.
//
// With Options.FixedWidth the result is "****" and the kept characters:
// ****567.
func (m *Masker) Document(s string) string {
	m = m.self()
	if m.reveal {
		return s
	}
	n := 0
	for _, r := range s {
		if !isDocSep(r) {
			n++
		}
	}
	_, tail := fit(n, 0, m.docLast, minHidden, false)
	return m.maskRunes(s, notDocSep, n, 0, tail)
}

func isDocSep(r rune) bool { return r == ' ' || r == '-' || r == '/' || r == '.' }

func notDocSep(r rune) bool { return !isDocSep(r) }
