package mask

// IBAN masks an International Bank Account Number except its country code
// and last four characters; the check digits are masked too:
// IT60 X054 2811 1010 0000 0123 456 → IT** **** **** **** **** ***3 456.
// Spaces and hyphens stay in place and letter case is kept.
//
// Input that is not shaped like an IBAN (two letters, two digits, then
// letters and digits, 15 to 34 of them in all) is masked whole, as
// [Masker.Full] does. The mod-97 check is not required.
//
// With Options.FixedWidth the result is IT****3456.
func (m *Masker) IBAN(s string) string {
	m = m.self()
	if m.reveal {
		return s
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLetterASCII(c):
			if n >= 2 && n < 4 {
				return m.full(s)
			}
			n++
		case c-'0' <= 9:
			if n < 2 {
				return m.full(s)
			}
			n++
		case c == ' ' || c == '-':
		default:
			return m.full(s)
		}
	}
	if n < 15 || n > 34 {
		return m.full(s)
	}
	head, tail := fit(n, 2, 4, minHidden, false)
	return m.maskRunes(s, isAlnumASCII, n, head, tail)
}

func isLetterASCII(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isAlnumASCII(r rune) bool {
	return r >= '0' && r <= '9' || r < 0x80 && isLetterASCII(byte(r))
}
