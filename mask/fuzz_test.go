package mask

import (
	"github.com/callshield/callshield/mask/national"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// phoneSeeds are shared by the phone and text fuzz targets.
var phoneSeeds = []string{
	"+39061234588", "+39 06 1234 5588", "0039 (06) 1234-5588", "00 39 06 1234 5588",
	"+1 (650) 253-0000", "+1 268 555 0123 ext. 45", "+16502530000;ext=12", "+7 495 123-45-67",
	"+44 20 7946 0018 #123", "+380 44 123 4567", "+683 4002", "+290 22001", "+882 16 1234 5678",
	"+999 1234 5678", "+0 123", "+", "+39", "00", "0", "112", "06 1234 5588", "(06) 1234-5588 x 3",
	"+39\u00a006\u00a01234\u00a05588", "+44 20\u20137946\u20130018", "1-800-FLOWERS", "call me",
	"\u0660\u0666\u0661\u0662", "\uff0b\uff13\uff19", "+39 06 \xff1234", "\xc2", "\xe2\x80", "+39 06 1234 5588 ext",
	"+39 06 1234 5588 ext 1234567890", ";ext=1", "x1", strings.Repeat("9", 64), strings.Repeat("+1 ", 30),
}

func countASCIIDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// assertNoInventedDigits checks that every digit of out is the input's digit
// at the same byte offset.
func assertNoInventedDigits(t *testing.T, in, out string) {
	t.Helper()
	for i := 0; i < len(out); i++ {
		if out[i] >= '0' && out[i] <= '9' {
			require.Equal(t, len(in), len(out), "digits shown in a reshaped output: %q → %q", in, out)
			require.Equal(t, in[i], out[i], "digit at %d not from the input: %q → %q", i, in, out)
		}
	}
}

func FuzzPhone(f *testing.F) {
	for _, s := range phoneSeeds {
		f.Add(s)
	}
	type variant struct {
		m      *Masker
		keep   int
		hideCC bool
	}
	variants := []variant{
		{MustNew(Options{}), 2, false},
		{MustNew(Options{PhoneKeepLast: 4}), 4, false},
		{MustNew(Options{PhoneKeepLast: -1}), 0, false},
		{MustNew(Options{PhoneHideCallingCode: true}), 2, true},
	}
	fixed := MustNew(Options{FixedWidth: true, PhoneKeepLast: 4})
	f.Fuzz(func(t *testing.T, s string) {
		prefix00, ccLen := refCallingCodeLen(s)
		for _, v := range variants {
			out := v.m.Phone(s)
			require.Equal(t, phoneReference(v.m, s), out, "fast path and general path differ on %q", s)
			// Length rule: one rune for one rune.
			require.Equal(t, utf8.RuneCountInString(s), utf8.RuneCountInString(out), "%q → %q", s, out)
			assertNoInventedDigits(t, s, out)
			// Never more than the calling code (and a 00 prefix) and the
			// configured trailing digits.
			allowed := prefix00 + v.keep
			if !v.hideCC {
				allowed += ccLen
			}
			require.LessOrEqual(t, countASCIIDigits(out), allowed, "%q → %q", s, out)
			// At least four digits stay hidden whenever there are digits.
			if d := countASCIIDigits(s); d > 0 && out != strings.Repeat("*", utf8.RuneCountInString(s)) {
				require.GreaterOrEqual(t, strings.Count(out, "*"), min(minHidden, d-prefix00), "%q → %q", s, out)
			}
		}
		out := fixed.Phone(s)
		require.LessOrEqual(t, len(out), len("+999****1234"), "fixed width: %q → %q", s, out)
		require.LessOrEqual(t, countASCIIDigits(out), ccLen+4, "%q → %q", s, out)
		require.Equal(t, s, ForViewer(true).Phone(s))
	})
}

// phoneReference is Phone without the fused fast path: scan, then mask.
func phoneReference(m *Masker, s string) string {
	if len(s) > maxPhoneLen {
		return m.full(s)
	}
	l, ok := scanPhone(s)
	if !ok {
		return m.full(s)
	}
	return m.phoneMasked(s, l)
}

func FuzzPhoneRegion(f *testing.F) {
	for i, s := range phoneSeeds {
		f.Add(s, uint8(i))
	}
	f.Add("011 44 20 7946 0018", uint8(1))
	f.Add("020 7946 0018", uint8(2))
	f.Add("011 15 2345-6789", uint8(4))
	regions := []string{"IT", "US", "GB", "DE", "AR", "MX", "BR", "IN", "CN", "RU", "FR", "JP"}
	maskers := make([]*Masker, len(regions))
	fixed := make([]*Masker, len(regions))
	for i, r := range regions {
		maskers[i] = MustNew(Options{DefaultRegion: r, National: national.Parser{}})
		fixed[i] = MustNew(Options{DefaultRegion: r, National: national.Parser{}, FixedWidth: true})
	}
	f.Fuzz(func(t *testing.T, s string, r uint8) {
		i := int(r) % len(regions)
		out := maskers[i].Phone(s)
		// A "00" prefix, a calling code of at most three digits, two more.
		require.LessOrEqual(t, countASCIIDigits(out), 2+3+2, "%s: %q → %q", regions[i], s, out)
		if !strings.HasPrefix(out, "+") || strings.HasPrefix(s, "+") || len(s) > maxPhoneLen {
			// Not converted: masked in place with the ordinary rules.
			require.Equal(t, ForViewer(false).Phone(s), out, "%s: %q", regions[i], s)
		}
		fo := fixed[i].Phone(s)
		require.LessOrEqual(t, len(fo), len("+999****12"), "%s: %q → %q", regions[i], s, fo)
	})
}

func FuzzEmail(f *testing.F) {
	for _, s := range []string{"john@example.com", "jo@example.com", "j@x", "élodie@exemple.fr", `"a@b"@c.d`, "a@b@c.d", "@x.y", "x@", "John <john@example.com>", "x@-a.b", "x@a..b", "\xff@a.b", "\xb300@0", ""} {
		f.Add(s)
	}
	m, fx := ForViewer(false), MustNew(Options{FixedWidth: true})
	f.Fuzz(func(t *testing.T, s string) {
		out := m.Email(s)
		require.Equal(t, utf8.RuneCountInString(s), utf8.RuneCountInString(out), "%q → %q", s, out)
		at := strings.LastIndexByte(s, '@')
		if out == strings.Repeat("*", utf8.RuneCountInString(s)) {
			return
		}
		// Otherwise the domain is shown and at most the first rune of the
		// local part, which keeps at least two runes hidden.
		require.Positive(t, at)
		require.Equal(t, s[at:], out[len(out)-(len(s)-at):])
		local := []rune(out[:len(out)-(len(s)-at)])
		orig := []rune(s[:at])
		require.Len(t, local, len(orig))
		for i, r := range local {
			if i > 0 || len(orig) < 3 {
				require.Equal(t, '*', r, "%q → %q", s, out)
			}
		}
		fo := fx.Email(s)
		fl := fo[:strings.LastIndexByte(fo, '@')]
		_, size := utf8.DecodeRuneInString(s)
		require.True(t, fl == fixedMask || fl == s[:size]+fixedMask, "%q → %q", s, fo)
	})
}

func FuzzCard(f *testing.F) {
	for _, s := range []string{"4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005", "4222222222222", "6011000990139424123", "41111111111", "4111 1111 1111 111x", ""} {
		f.Add(s)
	}
	def, six := ForViewer(false), MustNew(Options{CardKeepFirst: 6})
	fixed := MustNew(Options{CardKeepFirst: 6, FixedWidth: true})
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []struct {
			m   *Masker
			max int
		}{{def, 4}, {six, 10}} {
			out := c.m.Card(s)
			require.Equal(t, utf8.RuneCountInString(s), utf8.RuneCountInString(out))
			assertNoInventedDigits(t, s, out)
			require.LessOrEqual(t, countASCIIDigits(out), c.max, "%q → %q", s, out)
			if d := countASCIIDigits(out); d > 0 {
				require.GreaterOrEqual(t, countASCIIDigits(s)-d, minHidden)
			}
		}
		require.LessOrEqual(t, len(fixed.Card(s)), 6+4+4)
	})
}

func FuzzIBAN(f *testing.F) {
	for _, s := range []string{"IT60 X054 2811 1010 0000 0123 456", "DE89370400440532013000", "NO9386011117947", "gb82 west 1234 5698 7654 32", "IT6", ""} {
		f.Add(s)
	}
	m := ForViewer(false)
	f.Fuzz(func(t *testing.T, s string) {
		out := m.IBAN(s)
		require.Equal(t, utf8.RuneCountInString(s), utf8.RuneCountInString(out))
		shown := 0
		for i := 0; i < len(out); i++ {
			if isAlnumASCII(rune(out[i])) {
				require.Equal(t, len(s), len(out))
				require.Equal(t, s[i], out[i])
				shown++
			}
		}
		require.LessOrEqual(t, shown, 6, "%q → %q", s, out)
	})
}

func FuzzDocument(f *testing.F) {
	for _, s := range []string{"YA1234567", "AB 123-4567", "AB1234", "ÄÖ12345678", "---", "*****", ""} {
		f.Add(s)
	}
	m := ForViewer(false)
	f.Fuzz(func(t *testing.T, s string) {
		out := m.Document(s)
		in, got := []rune(s), []rune(out)
		require.Len(t, got, len(in))
		if strings.IndexFunc(s, notDocSep) < 0 {
			require.Equal(t, strings.Repeat("*", len(in)), out, "only separators: masked whole")
			return
		}
		shown, sig := 0, 0
		for i, r := range got {
			if isDocSep(in[i]) {
				require.Equal(t, in[i], r)
				continue
			}
			sig++
			if r != '*' {
				shown++
				require.Equal(t, in[i], r)
			}
		}
		require.LessOrEqual(t, shown, 3, "%q → %q", s, out)
		if sig > 0 && shown > 0 {
			require.GreaterOrEqual(t, sig-shown, minHidden)
		}
	})
}

func FuzzName(f *testing.F) {
	for _, s := range []string{"Maria Grazia Rossi", " jean-luc  picard ", "王小明", "John 555 1234", "12345", "\xff\xfe", ""} {
		f.Add(s)
	}
	m := ForViewer(false)
	f.Fuzz(func(t *testing.T, s string) {
		out := m.Name(s)
		for _, r := range out {
			require.False(t, unicode.IsDigit(r), "%q → %q", s, out)
		}
		if out == strings.Repeat("*", utf8.RuneCountInString(s)) {
			return
		}
		words := strings.Fields(s)
		initials := strings.Split(out, " ")
		require.LessOrEqual(t, len(initials), len(words))
		for _, in := range initials {
			require.True(t, strings.HasSuffix(in, "."), "%q → %q", s, out)
			require.Equal(t, 1, utf8.RuneCountInString(in)-1, "%q → %q", s, out)
		}
	})
}

func FuzzKeep(f *testing.F) {
	f.Add("abcdefgh", 2, 2)
	f.Add("abc", 1, 1)
	f.Add("kürzel", 1, 0)
	f.Add("", 5, 5)
	f.Add("\xff\xfe\xfd\xfc\xfb", 1, 1)
	f.Add("********x", -3, 70)
	m := ForViewer(false)
	f.Fuzz(func(t *testing.T, s string, first, last int) {
		out := m.Keep(s, first, last)
		in, got := []rune(s), []rune(out)
		require.Len(t, got, len(in))
		first, last = max(first, 0), max(last, 0)
		for i, r := range got {
			if r != '*' {
				require.True(t, i < first || i >= len(in)-last, "rune %d of %q shown: %q", i, s, out)
				require.Equal(t, in[i], r)
			}
		}
		stars := strings.Count(out, "*")
		require.GreaterOrEqual(t, stars, min(minHidden, len(in)), "%q → %q", s, out)
	})
}

func FuzzScrub(f *testing.F) {
	for _, s := range phoneSeeds {
		f.Add(s)
	}
	for _, s := range []string{
		"call +39 06 1234 5588 or write to john@example.com",
		"card 4111 1111 1111 1111 exp 12/27", "on 2024-01-15 at 10:30", "ID12345678X",
		"رقم ٠٦١٢٣٤٥٥٨٨ شكرا", "a@b.io, c.d@e.org; +1 650 253 0000", "..c@d.e-", "x@@y.z", "12 34 56   78 90 12",
		"(+44) 20 7946 0018", "123456 ٠", "+4111111111111111", "0A\xd90٦١٢٣٤00", "00000  (0100000", "0022000000000",
		"card 4111\u20091111\u20091111\u20091111", "card 4111 - 1111 - 1111 - 1111", "card 4111,1111,1111,1111",
		"card 4111\u22121111\u22121111\u22121111", "card 4111\u30001111\u30001111\u30001111",
		"call +39 - 06 - 1234 - 5588", "call +39\u200906\u20091234\u20095588", "4111, 1111, 1111, 1111",
		"6011,0009,9013,9424,009", "exp 12/27 4111,1111,1111,1111", "1,000,000", "2019,2020,2021,2022",
		"4111\u200b1111\u200b1111\u200b1111", "12 -- 34 -- 56", "123456 4111,1111,1111,1111",
		"0000,0000,0000 0000000000", // found by the fuzzer: a comma card run into a phone number
		"from=2026-01-15&to=2026-02-01", "2026-01-15T10:30:00.123456789+01:00", "2026-01-15 10:30:00 4111 1111 1111 1111",
		"2026-01-15/2026-02-01", "4111-11-11 1111 1111", "(2026-01-15) 06 1234 5588", "2026-01-15, 3 calls",
	} {
		f.Add(s)
	}
	m, fx := ForViewer(false), MustNew(Options{FixedWidth: true})
	f.Fuzz(func(t *testing.T, s string) {
		out := m.Scrub(s)
		in, got := []rune(s), []rune(out)
		require.Len(t, got, len(in), "%q → %q", s, out)
		for i, r := range got {
			if unicode.IsDigit(r) {
				require.Equal(t, in[i], r, "digit %d not from the input: %q → %q", i, s, out)
			}
		}
		if strings.ContainsAny(s, "@*") {
			return // e-mail domains are shown; '*' in the input blurs the groups
		}
		// A number left alone has at most six digits; a masked one shows at
		// most a 00 prefix, a three-digit calling code and two digits. ISO
		// dates and RFC 3339 date-times are kept whole: they are set apart
		// first (recognised here by a regular expression, apart from
		// datetext.go).
		require.LessOrEqual(t, maxVisibleDigitsInGroup(withoutDates(out)), 7, "%q → %q", s, out)
		// FixedWidth drops separators, so groups can move closer; check
		// plain runs of digits there.
		fo := withoutDates(fx.Scrub(s))
		run := 0
		for i := 0; i < len(fo); i++ {
			if fo[i] >= '0' && fo[i] <= '9' {
				run++
				require.LessOrEqual(t, run, 6, "%q → %q", s, fo)
			} else {
				run = 0
			}
		}
	})
}

// isoDate matches the dates and date-times Scrub keeps, as its documentation
// states them.
var isoDate = regexp.MustCompile(`(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])` +
	`([Tt ]([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d{1,9})?)?([Zz]|[+-]([01]\d|2[0-3]):?[0-5]\d)?)?`)

// withoutDates replaces each date or date-time in s with one "D", which ends
// a group of digits.
func withoutDates(s string) string { return isoDate.ReplaceAllString(s, "D") }

// maxVisibleDigitsInGroup returns the most ASCII digits shown in one group of
// digits and '*' joined by at most three separators, at most two of them
// spaces, as Scrub groups numbers. It is written apart from scrub.go, from
// the documented rule: separators are " \t-.()/", any Unicode space or dash,
// the minus sign and the invisible soft hyphen and zero-width characters.
func maxVisibleDigitsInGroup(s string) int {
	best, cur, seps, spaces := 0, 0, 0, 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			cur++
			seps, spaces = 0, 0
			continue
		case r == '*':
			seps, spaces = 0, 0
			continue
		}
		space := r == ' ' || r == '\t' || unicode.Is(unicode.Zs, r)
		sep := space || strings.ContainsRune("-.()/\u2212\u00ad\u200b\u200c\u200d\u2060\ufeff", r) ||
			unicode.Is(unicode.Pd, r)
		if sep && seps < 3 && (!space || spaces < 2) {
			seps++
			if space {
				spaces++
			}
			continue
		}
		best, cur, seps, spaces = max(best, cur), 0, 0, 0
	}
	return max(best, cur)
}

// Masking a record never panics and never touches the caller's value.
func FuzzCopy(f *testing.F) {
	for _, s := range phoneSeeds[:10] {
		f.Add(s)
	}
	m := ForViewer(false)
	f.Fuzz(func(t *testing.T, s string) {
		c := testCall{Caller: s, Callee: &s, Alias: testPhone(s), Agent: testAgent{Name: s, Email: s},
			Notes: []string{s}, Labels: map[string]string{s: s}, Docs: [2]string{s, s}, Card: s, Extra: testAgent{Email: s}}
		got, err := Copy(m, c)
		require.NoError(t, err)
		assert.Equal(t, s, *c.Callee)
		assert.Equal(t, s, c.Notes[0])
		assert.Equal(t, m.Phone(s), got.Caller)
		assert.Equal(t, m.Phone(s), *got.Callee)
		assert.Equal(t, m.Scrub(s), got.Notes[0])
		assert.Equal(t, m.Keep(s, 1, 1), got.Labels[s])
	})
}
