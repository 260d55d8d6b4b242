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
		{"ISO date kept", "on 2024-01-15 at 10:30", "on 2024-01-15 at 10:30"},
		{"other date layouts masked (errs on the safe side)", "on 15.01.2024 and 2024/01/15", "on **.**.**24 and ****/**/15"},
		{"short numbers kept", "room 12, ext 345, pin 123456", "room 12, ext 345, pin 123456"},
		{"seven digits masked", "order 1234567", "order *****67"},
		{"run inside a word", "ID12345678X", "ID******78X"},
		{"other scripts", "رقم ٠٦١٢٣٤٥٥٨٨ شكرا", "رقم ********** شكرا"},
		{"mixed scripts", "06١٢٣٤٥٥٨٨", "**********"},
		{"three spaces split", "12 34 56   78 90 12", "12 34 56   78 90 12"},
		// Separators outside the ASCII set, and runs of them (PCI DSS 3.4.1).
		{"card, thin spaces", "card 4111\u20091111\u20091111\u20091111", "card ****\u2009****\u2009****\u20091111"},
		{"card, spaced hyphens", "card 4111 - 1111 - 1111 - 1111", "card **** - **** - **** - 1111"},
		{"card, commas", "card 4111,1111,1111,1111", "card ****,****,****,1111"},
		{"card, commas and spaces", "card 4111, 1111, 1111, 1111.", "card ****, ****, ****, 1111."},
		{"card, commas, 19 digits", "6011,0009,9013,9424,009", "****,****,****,***4,009"},
		// A card number run together with other digits is masked with them, as one number.
		{"card, commas, run into another number", "0000,0000,0000 0039 06 1234 5588", "****,****,**** **** ** **** ****"},
		{"card, commas, then a short number", "4111,1111,1111,1111 - 12", "****,****,****,**** - **"},
		{"card, commas, then a word", "4111,1111,1111,1111 ok", "****,****,****,1111 ok"},
		{"card, commas after a date", "exp 12/27 4111,1111,1111,1111", "exp **/** ****,****,****,****"},
		{"card, minus signs", "card 4111\u22121111\u22121111\u22121111", "card ****\u2212****\u2212****\u22121111"},
		{"card, ideographic spaces", "card 4111\u30001111\u30001111\u30001111", "card ****\u3000****\u3000****\u30001111"},
		{"card, zero-width spaces", "card 4111\u200b1111\u200b1111\u200b1111", "card ****\u200b****\u200b****\u200b1111"},
		{"card, figure dashes", "card 4111\u20121111\u20121111\u20121111", "card ****\u2012****\u2012****\u20121111"},
		{"phone, spaced hyphens", "call +39 - 06 - 1234 - 5588", "call +39 - ** - **** - **88"},
		{"phone, thin spaces", "call +39\u200906\u20091234\u20095588", "call +39\u2009**\u2009****\u2009**88"},
		{"four separators split", "12 -- 34 -- 56", "12 -- 34 -- 56"},
		// Commas join only four-digit groups that pass the Luhn check.
		{"thousands separators", "paid 1,000,000 for 1,234,567,890,123 units", "paid 1,000,000 for 1,234,567,890,123 units"},
		{"list of small numbers", "rooms 1,2,3, floors 10,20,30", "rooms 1,2,3, floors 10,20,30"},
		{"list of four-digit numbers, Luhn-invalid", "years 2019,2020,2021,2022", "years 2019,2020,2021,2022"},
		// Both hold a full PAN (4111111111111111), once left readable.
		{"comma card too long", "4111,1111,1111,1111,1111", "****,****,****,****,****"},
		{"comma then a longer group", "4111,1111,1111,11111", "****,****,****,*****"},
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
	assert.Equal(t, "card ****1111; +39****88", m.Scrub("card 4111,1111,1111,1111; +39 - 06 - 1234 - 5588"))
}

func TestScrubNoAllocWhenClean(t *testing.T) {
	m := ForViewer(false)
	for _, s := range []string{
		"a note with no personal data, room 12 and 3 calls",
		"paid 1,000,000 for 2019,2020,2021,2022, then 12 - 34\u300056",
	} {
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = m.Scrub(s) }), s)
	}
}

func TestEmailSpans(t *testing.T) {
	s := "x a@b.co y @ z ..c@d.e- f@g"
	assert.Equal(t, [][2]int{{2, 8}, {17, 22}}, emailSpans(s))
	assert.Equal(t, "a@b.co", s[2:8])
	assert.Equal(t, "c@d.e", s[17:22], "leading dots and trailing hyphen dropped")
}
