package mask

import (
	"github.com/callshield/callshield/mask/national"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPhone(t *testing.T) {
	tests := []struct {
		name, in, want, fixed string
	}{
		// The example.
		{"IT E.164", "+39061234588", "+39*******88", "+39****88"},
		// Italy: variable lengths, leading zero of geographic numbers kept.
		{"IT Rome", "+39 06 1234 5588", "+39 ** **** **88", "+39****88"},
		{"IT Milan short", "+39 02 123456", "+39 ** ****56", "+39****56"},
		{"IT small town", "+39 0774 1234", "+39 **** **34", "+39****34"},
		{"IT mobile", "+39 333 123 4567", "+39 *** *** **67", "+39****67"},
		{"IT 6-digit subscriber", "+39 06 1234", "+39 ** **34", "+39****34"},
		// NANP: every area is +1, including the Caribbean ones.
		{"US", "+1 (650) 253-0000", "+1 (***) ***-**00", "+1****00"},
		{"Antigua", "+1 268 555 0123", "+1 *** *** **23", "+1****23"},
		{"Trinidad", "+1-868-555-0123", "+1-***-***-**23", "+1****23"},
		{"NANP E.164", "+12685550123", "+1********23", "+1****23"},
		// Other 1-, 2- and 3-digit codes.
		{"RU", "+7 495 123-45-67", "+7 *** ***-**-67", "+7****67"},
		{"KZ", "+7 727 123 4567", "+7 *** *** **67", "+7****67"},
		{"EG", "+20 2 1234 5678", "+20 * **** **78", "+20****78"},
		{"ZA", "+27 21 123 4567", "+27 ** *** **67", "+27****67"},
		{"GB", "+44 20 7946 0018", "+44 ** **** **18", "+44****18"},
		{"DE", "+49 30 123456", "+49 ** ****56", "+49****56"},
		{"DE trunk zero", "+49 (0)30 123456", "+49 (*)** ****56", "+49****56"},
		{"CN", "+86 10 1234 5678", "+86 ** **** **78", "+86****78"},
		{"IN", "+91 98765 43210", "+91 ***** ***10", "+91****10"},
		{"UA", "+380 44 123 4567", "+380 ** *** **67", "+380****67"},
		{"IE", "+353 1 234 5678", "+353 * *** **78", "+353****78"},
		{"AE", "+971 4 123 4567", "+971 * *** **67", "+971****67"},
		{"HK", "+852 1234 5678", "+852 **** **78", "+852****78"},
		{"international freephone", "+800 1234 5678", "+800 **** **78", "+800****78"},
		{"international networks", "+882 16 1234 5678", "+882 ** **** **78", "+882****78"},
		{"dots", "+33.1.23.45.67.89", "+33.*.**.**.**.89", "+33****89"},
		{"slash", "+49 30/123456", "+49 **/****56", "+49****56"},
		{"no-break spaces", "+39\u00a006\u00a01234\u00a05588", "+39\u00a0**\u00a0****\u00a0**88", "+39****88"},
		{"en dash", "+44 20\u20137946\u20130018", "+44 **\u2013****\u2013**18", "+44****18"},
		// Any Unicode space or dash, the minus sign, invisible separators.
		{"thin spaces", "+39\u200906\u20091234\u20095588", "+39\u2009**\u2009****\u2009**88", "+39****88"},
		{"ideographic spaces", "+39\u300006\u30001234\u30005588", "+39\u3000**\u3000****\u3000**88", "+39****88"},
		{"minus signs", "+39\u221206\u22121234\u22125588", "+39\u2212**\u2212****\u2212**88", "+39****88"},
		{"zero-width spaces", "+39\u200b061234\u200b5588", "+39\u200b******\u200b**88", "+39****88"},
		// A leading 00 is an international prefix; kept as written.
		{"00 prefix", "0039061234588", "0039*******88", "+39****88"},
		{"00 prefix spaced", "00 39 06 1234 5588", "00 39 ** **** **88", "+39****88"},
		{"00 prefix parens", "0039 (06) 1234-5588", "0039 (**) ****-**88", "+39****88"},
		{"parenthesised +", "(+44) 20 7946 0018", "(+44) ** **** **18", "+44****18"},
		// Extensions: marker kept, digits always masked.
		{"ext.", "+1 650-253-0000 ext. 1234", "+1 ***-***-**00 ext. ****", "+1****00"},
		{"ext", "+1 650 253 0000 ext 12", "+1 *** *** **00 ext **", "+1****00"},
		{"x", "+39 06 1234 5588 x12", "+39 ** **** **88 x**", "+39****88"},
		{"X", "+39 06 1234 5588X12", "+39 ** **** **88X**", "+39****88"},
		{"RFC 3966", "+16502530000;ext=12", "+1********00;ext=**", "+1****00"},
		{"hash", "+44 20 7946 0018 #123", "+44 ** **** **18 #***", "+44****18"},
		{"extension", "+44 20 7946 0018 extension: 5", "+44 ** **** **18 extension: *", "+44****18"},
		{"comma pause", "+44 20 7946 0018,5", "+44 ** **** **18,*", "+44****18"},
		// National numbers without a default region: in place, no code.
		{"national IT", "06 1234 5588", "** **** **88", "****88"},
		{"national US", "(650) 253-0000", "(***) ***-**00", "****00"},
		// Unknown calling codes are not shown.
		{"unassigned code", "+999 1234 5678", "+*** **** **78", "+****78"},
		{"code starting with 0", "+0 123 456 789", "+* *** *** *89", "+****89"},
		// Short numbers: at least four digits after the code stay hidden.
		{"Niue 4-digit", "+683 4002", "+683 ****", "+683****"},
		{"Saint Helena 5-digit", "+290 22001", "+290 ****1", "+290****1"},
		{"code only", "+39", "+**", "+****"},
		{"code and two", "+39 12", "+** **", "+****"},
		{"plus one", "+1", "+*", "+****"},
		{"emergency", "112", "***", "****"},
		{"five digits", "12345", "****5", "****5"},
		{"six digits", "123456", "****56", "****56"},
	}
	m := ForViewer(false)
	fx := MustNew(Options{FixedWidth: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, m.Phone(tt.in))
			assert.Equal(t, tt.fixed, fx.Phone(tt.in))
			assert.Equal(t, tt.in, ForViewer(true).Phone(tt.in), "a viewer with the right sees the number")
		})
	}
}

// Inputs that are not phone numbers are masked whole, one '*' per rune.
func TestPhoneNotAPhone(t *testing.T) {
	for _, in := range []string{
		"call me",
		"1-800-FLOWERS",
		"+39 06 1234 5588 please",
		"06 1234 5588 ext", // marker without digits
		"06 1234 5588 ext 12345678901",
		"+39+06 1234",
		"+",
		"---",
		"\uff0b\uff13\uff19\uff10\uff16", // full-width +3906
		"\u0660\u0666\u0661\u0662\u0663\u0664\u0665\u0665\u0668\u0668", // Arabic-Indic digits
		"+39 06 1234 5588\x00",
		"+39 06 \xff1234 5588",
		strings.Repeat("1", maxPhoneLen+1),
	} {
		t.Run(in, func(t *testing.T) {
			want := strings.Repeat("*", len([]rune(in)))
			assert.Equal(t, want, ForViewer(false).Phone(in))
			assert.Equal(t, "****", MustNew(Options{FixedWidth: true}).Phone(in))
		})
	}
	assert.Empty(t, ForViewer(false).Phone(""))
	assert.Empty(t, MustNew(Options{FixedWidth: true}).Phone(""))
}

func TestPhoneOptions(t *testing.T) {
	const in = "+39 06 1234 5588"
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"default", Options{}, "+39 ** **** **88"},
		{"keep 1", Options{PhoneKeepLast: 1}, "+39 ** **** ***8"},
		{"keep 3", Options{PhoneKeepLast: 3}, "+39 ** **** *588"},
		{"keep 4", Options{PhoneKeepLast: 4}, "+39 ** **** 5588"},
		{"keep none", Options{PhoneKeepLast: -1}, "+39 ** **** ****"},
		{"hide code", Options{PhoneHideCallingCode: true}, "+** ** **** **88"},
		{"hide all", Options{PhoneHideCallingCode: true, PhoneKeepLast: -1}, "+** ** **** ****"},
		{"fixed keep 4", Options{FixedWidth: true, PhoneKeepLast: 4}, "+39****5588"},
		{"fixed hide code", Options{FixedWidth: true, PhoneHideCallingCode: true}, "+****88"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.o)
			require.NoError(t, err)
			assert.Equal(t, tt.want, m.Phone(in))
		})
	}
	// Keeping four digits of a short number still hides four.
	assert.Equal(t, "+39 ** **34", MustNew(Options{PhoneKeepLast: 4}).Phone("+39 06 1234"))
}

func TestPhoneDefaultRegion(t *testing.T) {
	tests := []struct {
		region, in, want string
	}{
		{"IT", "06 1234 5588", "+39********88"},
		{"it", "06 1234 5588", "+39********88"}, // case ignored
		{"IT", "(06) 1234-5588", "+39********88"},
		{"IT", "333 123 4567", "+39********67"},
		{"IT", "06 1234 5588 ext. 12", "+39********88 ext. **"},
		{"IT", "+44 20 7946 0018", "+44 ** **** **18"}, // international: read as written
		{"IT", "0044 20 7946 0018", "0044 ** **** **18"},
		{"US", "(650) 253-0000", "+1********00"},
		{"US", "011 44 20 7946 0018", "+44********18"}, // US international prefix
		{"GB", "020 7946 0018", "+44********18"},       // trunk 0 dropped
		{"IT", "12", "**"},                             // too short to parse: in place
		{"IT", "not a number", "************"},
	}
	for _, tt := range tests {
		t.Run(tt.region+" "+tt.in, func(t *testing.T) {
			m, err := New(Options{DefaultRegion: tt.region, National: national.Parser{}})
			require.NoError(t, err)
			assert.Equal(t, tt.want, m.Phone(tt.in))
		})
	}
	fx := MustNew(Options{DefaultRegion: "IT", National: national.Parser{}, FixedWidth: true})
	assert.Equal(t, "+39****88", fx.Phone("06 1234 5588 ext. 12"))
}

// E.164 input must cost exactly one allocation: the result.
func TestPhoneAllocs(t *testing.T) {
	m := ForViewer(false)
	for _, in := range []string{"+39061234588", "+39 06 1234 5588", "+1 (650) 253-0000 ext. 12"} {
		allocs := testing.AllocsPerRun(100, func() { _ = m.Phone(in) })
		assert.LessOrEqual(t, allocs, 1.0, in)
	}
	fx := MustNew(Options{FixedWidth: true})
	assert.LessOrEqual(t, testing.AllocsPerRun(100, func() { _ = fx.Phone("+39061234588") }), 1.0)
}

// badParser returns what a NationalParser must not: mask checks it.
type badParser struct {
	cc    int
	nsn   string
	panic bool
}

func (badParser) SupportsRegion(string) bool { return true }
func (b badParser) ParseNational(string, string) (int, string, bool) {
	if b.panic {
		panic("parser bug")
	}
	return b.cc, b.nsn, true
}

func TestParseNationalRejects(t *testing.T) {
	p := national.Parser{}
	_, _, ok := parseNational(p, "", "IT")
	assert.False(t, ok)
	_, _, ok = parseNational(p, "06 1234 5588", "ZZ")
	assert.False(t, ok)
	_, _, ok = parseNational(nil, "06 1234 5588", "IT")
	assert.False(t, ok, "no parser")
	for _, b := range []badParser{{panic: true}, {cc: 999, nsn: "0612345588"}, {cc: 39, nsn: "06x2345588"}, {cc: 39, nsn: ""}} {
		_, _, ok = parseNational(b, "06 1234 5588", "IT")
		assert.False(t, ok, "%+v", b)
		m := MustNew(Options{DefaultRegion: "IT", National: b})
		assert.Equal(t, "** **** **88", m.Phone("06 1234 5588"), "masked in place: %+v", b)
	}
	cc, nsn, ok := parseNational(p, "06 1234 5588", "IT")
	require.True(t, ok)
	assert.Equal(t, 39, cc)
	assert.Equal(t, "0612345588", nsn)
}

// Parsing with the default region runs concurrently; run with -race.
func TestPhoneDefaultRegionConcurrent(t *testing.T) {
	m := MustNew(Options{DefaultRegion: "IT", National: national.Parser{}})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				assert.Equal(t, "+39********88", m.Phone("06 1234 5588"))
			}
		})
	}
	wg.Wait()
}
