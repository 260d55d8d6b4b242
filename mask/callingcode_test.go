package mask

import (
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The table must hold exactly the calling codes of the phonenumbers metadata.
func TestCallingCodesMatchMetadata(t *testing.T) {
	want := phonenumbers.GetSupportedCallingCodes()
	require.NotEmpty(t, want)
	got := 0
	for c, ok := range callingCodes {
		if ok {
			got++
			assert.True(t, want[c], "code %d is not in the metadata", c)
		}
	}
	assert.Len(t, want, got)
}

// Recognising a code by reading one, two, then three digits is only exact if
// no code is the prefix of another.
func TestCallingCodesPrefixFree(t *testing.T) {
	for c, ok := range callingCodes {
		if !ok {
			continue
		}
		s := strconv.Itoa(c)
		for p := 1; p < len(s); p++ {
			v, _ := strconv.Atoi(s[:p])
			assert.False(t, callingCodes[v], "code %d is a prefix of code %d", v, c)
		}
	}
}

func TestCallingCodesKnown(t *testing.T) {
	for _, c := range []int{1, 7, 20, 27, 30, 39, 44, 49, 86, 91, 212, 290, 353, 380, 683, 800, 852, 870, 882, 883, 971, 979} {
		assert.True(t, callingCodes[c], "%d should be a calling code", c)
	}
	// 650 and 868 are NANP area codes under +1 (and cannot be codes since 65
	// and 86 are), 42 and 28x are unassigned, 0 is never a code, 39x cannot
	// exist because 39 does. (268 is a code: Eswatini's, unrelated to the
	// NANP area +1 268 of Antigua.)
	for _, c := range []int{0, 650, 868, 42, 280, 390, 999} {
		assert.False(t, callingCodes[c], "%d should not be a calling code", c)
	}
}

func TestScanPhoneCallingCode(t *testing.T) {
	tests := []struct {
		in     string
		cc     int
		ccLen  int
		digits int
	}{
		{"+1 268 555 0123", 1, 1, 11},
		{"+12685550123", 1, 1, 11},
		{"+7 495 123 45 67", 7, 1, 11},
		{"+39 06 1234 5588", 39, 2, 12},
		{"+44 20 7946 0018", 44, 2, 12},
		{"+380 44 123 4567", 380, 3, 12},
		{"00 380 44 123 4567", 380, 3, 12},
		{"+3 80 44", 380, 3, 5}, // grouping does not matter
		{"+882 16 1234 5678", 882, 3, 13},
		{"+999 1234 5678", 0, 0, 11},
		{"+0 1234 5678", 0, 0, 9},
		{"06 1234 5588", 0, 0, 10}, // national: no calling code
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			l, ok := scanPhone(tt.in)
			require.True(t, ok)
			assert.Equal(t, tt.cc, l.cc)
			assert.Equal(t, tt.ccLen, l.ccLen)
			assert.Equal(t, tt.digits, l.digits)
		})
	}
}

// refCallingCodeLen is an independent reading of the calling code for the
// fuzz tests: the prefix of the digits after "+" or "00" found in the
// metadata's map, shortest first.
func refCallingCodeLen(s string) (prefix00, ccLen int) {
	t := strings.TrimLeft(s, " \t-.()/\u00a0\u202f\u2010\u2011\u2012\u2013\u2014\u2015")
	switch {
	case strings.HasPrefix(t, "+"):
		t = t[1:]
	case strings.HasPrefix(t, "00"):
		t, prefix00 = t[2:], 2
	default:
		return 0, 0
	}
	var ds []byte
	for i := 0; i < len(t) && len(ds) < 3; i++ {
		switch c := t[i]; {
		case c >= '0' && c <= '9':
			ds = append(ds, c)
		case strings.IndexByte(" \t-.()/", c) >= 0, c >= 0x80:
		default:
			i = len(t)
		}
	}
	codes := phonenumbers.GetSupportedCallingCodes()
	for n := 1; n <= len(ds); n++ {
		if ds[0] == '0' {
			break
		}
		v, _ := strconv.Atoi(string(ds[:n]))
		if codes[v] {
			return prefix00, n
		}
	}
	return prefix00, 0
}
