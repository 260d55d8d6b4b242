package mask

import (
	"errors"
	"github.com/callshield/callshield/mask/national"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmail(t *testing.T) {
	tests := []struct{ in, want, fixed string }{
		{"john@example.com", "j***@example.com", "j****@example.com"},
		{"jane.doe+crm@mail.example.co.uk", "j***********@mail.example.co.uk", "j****@mail.example.co.uk"},
		{"abc@example.com", "a**@example.com", "a****@example.com"},
		{"jo@example.com", "**@example.com", "****@example.com"}, // two hidden at least
		{"j@example.com", "*@example.com", "****@example.com"},
		{"user@localhost", "u***@localhost", "u****@localhost"},
		{"élodie@exemple.fr", "é*****@exemple.fr", "é****@exemple.fr"},
		{"josé@bücher.de", "j***@bücher.de", "j****@bücher.de"},
		{`"a@b"@example.com`, `"****@example.com`, `"****@example.com`}, // last @ splits
		// Not an address: masked whole.
		{"John <john@example.com>", strings.Repeat("*", 23), "****"},
		{"john", "****", "****"},
		{"@example.com", "************", "****"},
		{"john@", "*****", "****"},
		{"john@exa mple.com", "*****************", "****"},
		{"john@-example.com", "*****************", "****"},
		{"john@example..com", "*****************", "****"},
		{"", "", ""},
	}
	m, fx := ForViewer(false), MustNew(Options{FixedWidth: true})
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, m.Email(tt.in))
			assert.Equal(t, tt.fixed, fx.Email(tt.in))
			assert.Equal(t, tt.in, ForViewer(true).Email(tt.in))
		})
	}
}

func TestCard(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		in   string
		want string
	}{
		{"default last four", Options{}, "4111 1111 1111 1111", "**** **** **** 1111"},
		{"hyphens", Options{}, "4111-1111-1111-1111", "****-****-****-1111"},
		{"compact", Options{}, "4111111111111111", "************1111"},
		{"amex", Options{}, "3782 822463 10005", "**** ****** *0005"},
		{"first six", Options{CardKeepFirst: 6}, "4111 1111 1111 1111", "4111 11** **** 1111"},
		{"first six 19 digits", Options{CardKeepFirst: 6}, "6011000990139424123", "601100*********4123"},
		{"first six too many for 13 digits", Options{CardKeepFirst: 6}, "4222222222222", "*********2222"},
		{"first six, 14 digits", Options{CardKeepFirst: 6}, "36227206271667", "362272****1667"},
		{"last two", Options{CardKeepLast: 2}, "4111111111111111", "**************11"},
		{"none", Options{CardKeepLast: -1}, "4111111111111111", "****************"},
		{"luhn not required", Options{}, "4111 1111 1111 1112", "**** **** **** 1112"},
		{"fixed", Options{FixedWidth: true}, "4111 1111 1111 1111", "****1111"},
		{"fixed first six", Options{FixedWidth: true, CardKeepFirst: 6}, "4111 1111 1111 1111", "411111****1111"},
		// Not a card: masked whole.
		{"11 digits", Options{}, "41111111111", "***********"},
		{"20 digits", Options{}, "41111111111111111111", "********************"},
		{"letters", Options{}, "4111 1111 1111 111x", "*******************"},
		{"dots", Options{}, "4111.1111.1111.1111", "*******************"},
		{"empty", Options{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.o)
			require.NoError(t, err)
			assert.Equal(t, tt.want, m.Card(tt.in))
		})
	}
}

func TestLuhn(t *testing.T) {
	for _, s := range []string{"4111111111111111", "4111 1111 1111 1111", "378282246310005", "6011000990139424", "5555555555554444", "79927398713"} {
		assert.True(t, luhnValid(s), s)
	}
	for _, s := range []string{"4111111111111112", "79927398710", "1234567812345678"} {
		assert.False(t, luhnValid(s), s)
	}
}

func TestIBAN(t *testing.T) {
	tests := []struct{ in, want, fixed string }{
		{"IT60 X054 2811 1010 0000 0123 456", "IT** **** **** **** **** ***3 456", "IT****3456"},
		{"IT60X0542811101000000123456", "IT*********************3456", "IT****3456"},
		{"DE89 3704 0044 0532 0130 00", "DE** **** **** **** **30 00", "DE****3000"},
		{"gb82 west 1234 5698 7654 32", "gb** **** **** **** **54 32", "gb****5432"},
		{"NO93 8601 1117 947", "NO** **** ***7 947", "NO****7947"}, // shortest, 15
		// Not an IBAN: masked whole.
		{"IT6 X054", "********", "****"},
		{"1T60 X054 2811 1010 0000 0123 456", strings.Repeat("*", 33), "****"},
		{"ITX0 X054 2811 1010 0000 0123 456", strings.Repeat("*", 33), "****"},
		{"IT60/X054/2811/1010/0000/0123/456", strings.Repeat("*", 33), "****"},
		{"IT60 X054 2811 1010 0000 0123 456 7890 1234", strings.Repeat("*", 43), "****"},
		{"", "", ""},
	}
	m, fx := ForViewer(false), MustNew(Options{FixedWidth: true})
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, m.IBAN(tt.in))
			assert.Equal(t, tt.fixed, fx.IBAN(tt.in))
		})
	}
}

func TestDocument(t *testing.T) {
	tests := []struct {
		o            Options
		in, want, fx string
	}{
		{Options{}, "YA1234567", "******567", "****567"},
		{Options{}, "AB 123-4567", "** ***-*567", "****567"},
		{Options{}, "C01X00T47", "******T47", "****T47"},
		{Options{}, "AB1234", "****34", "****34"}, // four stay hidden
		{Options{}, "A123", "****", "****"},
		{Options{}, "ÄÖ12345678", "*******678", "****678"},
		{Options{DocumentKeepLast: 4}, "YA1234567", "*****4567", "****4567"},
		{Options{DocumentKeepLast: -1}, "YA1234567", "*********", "****"},
		{Options{}, "---", "***", "****"},
		{Options{}, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m := MustNew(tt.o)
			assert.Equal(t, tt.want, m.Document(tt.in))
			o := tt.o
			o.FixedWidth = true
			assert.Equal(t, tt.fx, MustNew(o).Document(tt.in))
		})
	}
}

func TestName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Maria Grazia Rossi", "M. G. R."},
		{"  jean-luc   picard ", "j. p."},
		{"Élodie Durand", "É. D."},
		{"王小明", "王."},
		{"John Smith 3rd", "J. S."},
		{"(John) Smith", "S."},
		{"12345", "*****"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, ForViewer(false).Name(tt.in))
			assert.Equal(t, tt.in, ForViewer(true).Name(tt.in))
		})
	}
	assert.Equal(t, "M. R.", MustNew(Options{FixedWidth: true}).Name("Maria Rossi"))
}

func TestKeepAndFull(t *testing.T) {
	m, fx := ForViewer(false), MustNew(Options{FixedWidth: true})
	assert.Equal(t, "ab****gh", m.Keep("abcdefgh", 2, 2))
	assert.Equal(t, "ab****", m.Keep("abcdef", 2, 2), "tail given up first")
	assert.Equal(t, "****", m.Keep("abcd", 1, 1), "head dropped when too short")
	assert.Equal(t, "a****", m.Keep("abcde", 1, 1))
	assert.Equal(t, "k*****", m.Keep("kürzel", 1, 0))
	assert.Equal(t, "******", m.Keep("abcdef", -1, -3))
	assert.Equal(t, "ab****gh", fx.Keep("abcdefghijkl"[:8], 2, 2))
	assert.Equal(t, "ab****kl", fx.Keep("abcdefghijkl", 2, 2))
	assert.Empty(t, m.Keep("", 1, 1))
	assert.Equal(t, "*****", m.Full("héllo"))
	assert.Equal(t, "****", fx.Full("héllo, world"))
	assert.Empty(t, fx.Full(""))
	assert.Equal(t, "héllo", ForViewer(true).Full("héllo"))
}

func TestMaskDispatch(t *testing.T) {
	m := ForViewer(false)
	tests := []struct {
		k        Kind
		in, want string
	}{
		{None, "+39061234588", "+39061234588"},
		{Phone, "+39061234588", "+39*******88"},
		{Email, "john@example.com", "j***@example.com"},
		{Card, "4111111111111111", "************1111"},
		{IBAN, "IT60X0542811101000000123456", "IT*********************3456"},
		{Document, "YA1234567", "******567"},
		{Name, "Maria Rossi", "M. R."},
		{Full, "secret", "******"},
		{Text, "call +39061234588", "call +39*******88"},
		{Keep(1, 2), "abcdefgh", "a*****gh"},
		{Kind(9999), "secret", "******"}, // undefined kinds mask everything
		{Kind(kindKeep + 1), "secret", "******"},
	}
	for _, tt := range tests {
		t.Run(tt.k.String(), func(t *testing.T) {
			assert.Equal(t, tt.want, m.Mask(tt.k, tt.in))
			assert.Equal(t, tt.in, ForViewer(true).Mask(tt.k, tt.in))
		})
	}
}

func TestKindNames(t *testing.T) {
	for _, k := range []Kind{None, Phone, Email, Card, IBAN, Document, Name, Full, Text, Keep(0, 0), Keep(1, 2), Keep(63, 63)} {
		got, err := ParseKind(k.String())
		require.NoError(t, err, k.String())
		assert.Equal(t, k, got)
	}
	assert.Equal(t, "keep:1:2", Keep(1, 2).String())
	assert.Equal(t, "keep:0:63", Keep(-5, 100).String(), "counts are clamped")
	assert.Equal(t, "Kind(9999)", Kind(9999).String())
	for _, s := range []string{"", "Phone", "phone ", "mobile", "keep", "keep:", "keep:1", "keep:1:", "keep:a:1", "keep:1:64", "keep:-1:2", "keep:001:2", "keep:1:2:3"} {
		_, err := ParseKind(s)
		assert.ErrorIs(t, err, ErrUnknownKind, "%q", s)
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		field string
		o     Options
	}{
		{"PhoneKeepLast", Options{PhoneKeepLast: 5}},
		{"CardKeepFirst", Options{CardKeepFirst: 7}},
		{"CardKeepLast", Options{CardKeepLast: 5}},
		{"DocumentKeepLast", Options{DocumentKeepLast: 5}},
		{"DefaultRegion", Options{DefaultRegion: "XX", National: national.Parser{}}},
		{"DefaultRegion", Options{DefaultRegion: "ITA", National: national.Parser{}}},
		{"National", Options{DefaultRegion: "IT"}}, // a region needs a parser
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			m, err := New(tt.o)
			assert.Nil(t, m)
			require.ErrorIs(t, err, ErrInvalidOptions)
			var oe *OptionsError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, tt.field, oe.Field)
			assert.Panics(t, func() { MustNew(tt.o) })
		})
	}
	_, err := New(Options{PhoneKeepLast: 4, CardKeepFirst: 6, CardKeepLast: 4, DocumentKeepLast: 4, DefaultRegion: "us", National: national.Parser{}})
	assert.NoError(t, err)
}

func TestForViewer(t *testing.T) {
	const in = "+39061234588"
	assert.Equal(t, "+39*******88", ForViewer(false).Phone(in))
	assert.Equal(t, in, ForViewer(true).Phone(in))
	assert.False(t, ForViewer(false).Reveals())
	assert.True(t, ForViewer(true).Reveals())
	assert.Same(t, ForViewer(true), ForViewer(true), "no allocation per request")

	m := MustNew(Options{FixedWidth: true})
	assert.Same(t, m, m.ForViewer(false))
	r := m.ForViewer(true)
	assert.Equal(t, in, r.Phone(in))
	assert.Same(t, m, r.ForViewer(false), "twins point at each other")
	assert.Equal(t, "+39****88", r.ForViewer(false).Phone(in), "options survive the switch")
	assert.Zero(t, testing.AllocsPerRun(10, func() { _ = m.ForViewer(true) }))

	revealing := MustNew(Options{Reveal: true})
	assert.True(t, revealing.Reveals())
	assert.Equal(t, "+39*******88", revealing.ForViewer(false).Phone(in))
}

func TestNilAndZeroMasker(t *testing.T) {
	var nilM *Masker
	assert.Equal(t, "+39*******88", nilM.Phone("+39061234588"), "nil masks with the defaults")
	assert.Equal(t, "+39*******88", nilM.Mask(Phone, "+39061234588"))
	assert.False(t, nilM.Reveals())
	assert.Equal(t, "+39061234588", nilM.ForViewer(true).Phone("+39061234588"))

	var zero Masker
	assert.Equal(t, "+39*********", zero.Phone("+39061234588"), "the zero Masker shows no trailing digits")
	assert.Equal(t, "****************", zero.Card("4111111111111111"))
	assert.Equal(t, "*********", zero.Document("YA1234567"))
	assert.Equal(t, "+39061234588", zero.ForViewer(true).Phone("+39061234588"))
	assert.Equal(t, "+39*********", zero.ForViewer(true).ForViewer(false).Phone("+39061234588"))
}

func TestErrorMessages(t *testing.T) {
	err := &PlanError{Type: nil, Field: "Phone", Tag: "mobile", Err: ErrUnknownKind}
	assert.Equal(t, `mask: type <nil> field Phone (tag "mobile"): unknown kind`, err.Error())
	assert.True(t, errors.Is(err, ErrUnknownKind))
	oe := &OptionsError{Field: "CardKeepFirst", Reason: "at most 6 allowed"}
	assert.Equal(t, "mask: invalid Options.CardKeepFirst: at most 6 allowed", oe.Error())
}
