package mask

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestScrub(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"phone and e-mail",
			"call +39 06 1234 5588 or write to john@example.com",
			"call +39 ** **** **88 or write to j***@example.com"},
		{"E.164", "cliente +39061234588, richiamare", "cliente +39*******88, richiamare"},
		{"00 prefix", "tel. 0044 20 7946 0018.", "tel. 0044 ** **** **18."},
		{"national", "ring (06) 1234-5588 after 5", "ring (**) ****-**88 after 5"},
		{"parenthesised plus", "(+44) 20 7946 0018", "(+44) ** **** **18"},
		{"card", "card 4111 1111 1111 1111 exp 12/27", "card **** **** **** 1111 exp 12/27"},
		{"card compact", "4111111111111111", "************1111"},
		{"card-like but Luhn-invalid: a phone", "4111 1111 1111 1112", "**** **** **** **12"},
		{"plus is never a card", "+4111111111111111", "+41************11"},
		{"several", "a@b.io, c.d@e.org; +1 650 253 0000 / +44 20 7946 0018",
			"*@b.io, c**@e.org; +1 *** *** **00 / +44 ** **** **18"},
		{"digits in local part", "mail 0612345588@example.it.", "mail 0*********@example.it."},
		{"trailing dot not in domain", "write to jo.doe@example.com.", "write to j*****@example.com."},
		{"no dotted domain: not an e-mail", "user@localhost 12", "user@localhost 12"},
		{"date masked (errs on the safe side)", "on 2024-01-15 at 10:30", "on ****-**-15 at 10:30"},
		{"short numbers kept", "room 12, ext 345, pin 123456", "room 12, ext 345, pin 123456"},
		{"seven digits masked", "order 1234567", "order *****67"},
		{"run inside a word", "ID12345678X", "ID******78X"},
		{"other scripts", "رقم ٠٦١٢٣٤٥٥٨٨ شكرا", "رقم ********** شكرا"},
		{"mixed scripts", "06١٢٣٤٥٥٨٨", "**********"},
		{"three separators split", "12 34 56   78 90 12", "12 34 56   78 90 12"},
		{"nothing", "nothing to see here", "nothing to see here"},
		{"empty", "", ""},
	}
	m := ForViewer(false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, m.Scrub(tt.in))
			assert.Equal(t, tt.in, ForViewer(true).Scrub(tt.in))
		})
	}
}

func TestScrubFixedWidth(t *testing.T) {
	m := MustNew(Options{FixedWidth: true})
	assert.Equal(t, "call +39****88 or j****@example.com, card ****1111",
		m.Scrub("call +39 06 1234 5588 or john@example.com, card 4111 1111 1111 1111"))
	assert.Equal(t, "tel ****", m.Scrub("tel ٠٦١٢٣٤٥٥٨٨"))
}

func TestScrubNoAllocWhenClean(t *testing.T) {
	m := ForViewer(false)
	s := "a note with no personal data, room 12 and 3 calls"
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = m.Scrub(s) }))
}

func TestEmailSpans(t *testing.T) {
	s := "x a@b.co y @ z ..c@d.e- f@g"
	assert.Equal(t, [][2]int{{2, 8}, {17, 22}}, emailSpans(s))
	assert.Equal(t, "a@b.co", s[2:8])
	assert.Equal(t, "c@d.e", s[17:22], "leading dots and trailing hyphen dropped")
}
