package mask

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Card numbers in the layouts people paste into notes and chats: each was left
// readable, whole or beyond its last four digits, before Scrub read digit chains.
func TestScrubCardLayouts(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"newlines", "card\n4111\n1111\n1111\n1111\nthanks", "card\n****\n****\n****\n1111\nthanks"},
		{"CRLF", "4111 1111\r\n1111 1111", "**** ****\r\n**** 1111"},
		{"several spaces", "4111    1111     1111  1111", "****    ****     ****  1111"},
		{"underscores", "4111_1111_1111_1111", "****_****_****_1111"},
		{"middle dots", "4111·1111·1111·1111", "****·****·****·1111"},
		{"bars", "4111 | 1111 | 1111 | 1111", "**** | **** | **** | 1111"},
		{"colons", "4111:1111:1111:1111", "****:****:****:1111"},
		{"semicolons", "4111;1111;1111;1111", "****;****;****;1111"},
		{"asterisks", "4111*1111*1111*1111", "***************1111"},
		{"wrapped with an indent", "pay with 4111 1111\n        1111 1111 today", "pay with **** ****\n        **** 1111 today"},
		{"wrapped in a quoted reply", "> 4111 1111\n> 1111 1111", "> **** ****\n> **** 1111"},
		{"amex across lines", "3782\n822463\n10005", "****\n******\n*0005"},
		{"in an e-mail's domain", "mail john@4111-1111-1111-1111.example.com now", "mail j***@****-****-****-****.example.com now"},
		{"in an e-mail's local part", "4111111111111111@example.com", "4***************@example.com"},
		{"glued to words", "card4111\n1111\n1111\n1111exp", "card****\n****\n****\n1111exp"},
		{"full-width digits across lines", "４１１１\n１１１１\n１１１１\n１１１１", "****\n****\n****\n****"},
		{"run into other digits", "ref 12: 4111\n1111\n1111\n1111", "ref **: ****\n****\n****\n****"},
		// UUIDs are identifiers, kept whole; one of decimal digits alone is not
		// taken for one.
		{"UUID kept", "project 01a2b3c4-65ad-73de-9a7e-446655440000 ok", "project 01a2b3c4-65ad-73de-9a7e-446655440000 ok"},
		{"UUID starting with a letter kept", "id=e29b41d4-a716-4466-5544-000012345678", "id=e29b41d4-a716-4466-5544-000012345678"},
		{"all-digit UUID shape scanned", "41111111-1111-1111-0000-000000000000", "********-****-****-****-**********00"},
		{"no card: groups left alone", "rooms 12\n34\n56\n78", "rooms 12\n34\n56\n78"},
	}
	m := ForViewer(false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, m.Scrub(tt.in))
		})
	}
}

// panLayout is a generated text with a Luhn-valid card number in it: the text,
// the PAN's digits, and the rune index in the text of each of them.
type panLayout struct {
	text string
	pan  string
	pos  []int
}

// Separators and surroundings of the generated layouts.
var (
	layoutSeps = []string{" ", "  ", "   ", "    ", "-", " - ", "\n", "\r\n", "\n    ", "\n> ", "\t", "_", "·", "|",
		" | ", ":", ";", "*", ".", ",", ", ", "/", "\u00a0", "\u2009", "\u2212", "\u200b", "•", " \n "}
	layoutContext = []string{"", "card ", "pay with: ", "note\n", "ref ", "PAN=", "(", "[", "\"", "x", "nr.",
		"call +39 06 1234 5588 then ", "mail jo@example.com: "}
	layoutTrailer = []string{"", " thanks", ".", ")", "\n", " exp", "]", "\"", "!", "; ok", " john@example.com"}
)

// newPANLayout generates a Luhn-valid PAN of 12 to 19 digits, split into groups of
// one to eight digits joined by random separators, inside random surroundings.
func newPANLayout(r *rand.Rand) panLayout {
	n := minCardDigits + r.IntN(maxCardDigits-minCardDigits+1)
	d := make([]byte, n)
	for i := range n - 1 {
		d[i] = byte('0' + r.IntN(10))
	}
	d[n-1] = '0'
	sum := 0
	for k := 0; k < n; k++ { // k digits left of the last
		v := int(d[n-1-k] - '0')
		if k%2 == 1 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	d[n-1] = byte('0' + (10-sum%10)%10)
	var b strings.Builder
	var pos []int
	b.WriteString(layoutContext[r.IntN(len(layoutContext))])
	sep := layoutSeps[r.IntN(len(layoutSeps))]
	for i := 0; i < n; {
		g := 1 + r.IntN(8)
		if r.IntN(3) == 0 {
			g = 4
		}
		for k := 0; k < g && i < n; k++ {
			pos = append(pos, utf8.RuneCountInString(b.String()))
			b.WriteByte(d[i])
			i++
		}
		if i < n {
			if r.IntN(4) == 0 {
				sep = layoutSeps[r.IntN(len(layoutSeps))]
			}
			b.WriteString(sep)
		}
	}
	b.WriteString(layoutTrailer[r.IntN(len(layoutTrailer))])
	return panLayout{text: b.String(), pan: string(d), pos: pos}
}

// checkPANMasked fails unless Scrub shows at most four of the PAN's digits, its
// last four as a card, or fewer as part of a phone or e-mail address.
func checkPANMasked(t *testing.T, m *Masker, l panLayout) {
	t.Helper()
	out := []rune(m.Scrub(l.text))
	require.Len(t, out, utf8.RuneCountInString(l.text), "%q", l.text)
	shown := 0
	for _, p := range l.pos {
		if out[p] >= '0' && out[p] <= '9' {
			shown++
		}
	}
	require.LessOrEqual(t, shown, 4, "%q → %q shows %d digits of the PAN %s", l.text, string(out), shown, l.pan)
}

// A full PAN never survives Scrub, in 20,000 generated layouts (the same ones on
// every run; FuzzScrubCardLayouts explores others).
func TestScrubNeverShowsAPAN(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := ForViewer(false)
	for range 20000 {
		checkPANMasked(t, m, newPANLayout(r))
	}
}

func FuzzScrubCardLayouts(f *testing.F) {
	for i := range uint64(16) {
		f.Add(i, i*7919)
	}
	m := ForViewer(false)
	f.Fuzz(func(t *testing.T, a, b uint64) {
		checkPANMasked(t, m, newPANLayout(rand.New(rand.NewPCG(a, b))))
	})
}
