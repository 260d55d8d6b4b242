// Package national reads national phone numbers, those written without "+" or "00",
// for [mask.Options].DefaultRegion, with github.com/nyaruka/phonenumbers:
//
//	m, err := mask.New(mask.Options{DefaultRegion: "IT", National: national.Parser{}})
//	m.Phone("06 1234 5588") // +39********88
//
// It is a package of its own because phonenumbers decodes all of its metadata when
// the program starts (about 2.5 MB of heap and several milliseconds, measured with
// GODEBUG=inittrace=1), which Go cannot defer to first use: a program that imports
// mask but not this package never pays for it.
package national

import "github.com/nyaruka/phonenumbers"

// Parser implements mask.NationalParser with github.com/nyaruka/phonenumbers. The zero
// value is ready to use and safe for concurrent use.
type Parser struct{}

// SupportsRegion reports whether region, an upper-case CLDR region code ("IT", "US"),
// is in the phonenumbers metadata.
func (Parser) SupportsRegion(region string) bool {
	return phonenumbers.GetSupportedRegions()[region]
}

// ParseNational parses number as written in region and returns its country calling
// code and national significant number, if it has a possible length there.
func (Parser) ParseNational(number, region string) (cc int, nsn string, ok bool) {
	var num phonenumbers.PhoneNumber
	if err := phonenumbers.ParseToNumber(number, region, &num); err != nil || !phonenumbers.IsPossibleNumber(&num) {
		return 0, "", false
	}
	return int(num.GetCountryCode()), phonenumbers.GetNationalSignificantNumber(&num), true
}
