package mask

// Card masks a payment card number (PAN). By default only the last four
// digits stay: 4111 1111 1111 1111 → **** **** **** 1111. Options can show
// up to the first six (CardKeepFirst) and at most the last four
// (CardKeepLast), the most PCI DSS 3.4.1 allows; New refuses more. If the
// first and last digits together would leave fewer than four hidden (as six
// and four do for a 13-digit PAN), the first ones are hidden too.
//
// Separators (spaces and hyphens) stay in place. Card does not require the
// Luhn check digit to be right, so that a mistyped number in a card field is
// masked like a real one; [Masker.Scrub], which must guess, does. Input that
// is not 12 to 19 digits with separators is masked whole, as [Masker.Full]
// does.
//
// With Options.FixedWidth the result is the kept digits around "****":
// ****1111.
func (m *Masker) Card(s string) string {
	m = m.self()
	if m.reveal {
		return s
	}
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c-'0' <= 9:
			n++
		case c == ' ' || c == '-':
		default:
			return m.full(s)
		}
	}
	if n < 12 || n > 19 {
		return m.full(s)
	}
	return m.cardIn(s, n)
}

// cardIn masks the card number in s, which has n ASCII digits (12 to 19)
// and only separators besides; [Masker.Scrub] finds card numbers with more
// separators than Card accepts.
func (m *Masker) cardIn(s string, n int) string {
	head, tail := fit(n, m.cardFirst, m.cardLast, minHidden, true)
	return m.maskRunes(s, isDigitASCII, n, head, tail)
}

func isDigitASCII(r rune) bool { return r >= '0' && r <= '9' }

// luhnValid reports whether the ASCII digits of s (other bytes are skipped)
// pass the Luhn (mod 10) check.
func luhnValid(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i]) - '0'
		if d < 0 || d > 9 {
			continue
		}
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
