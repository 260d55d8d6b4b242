package mask

import (
	"strings"
)

// Options configures a [Masker]. The zero value is valid and is the
// recommended setting: it masks, keeps the calling code and last two digits
// of phone numbers, the last four digits of card numbers and the last three
// characters of document numbers, and preserves the data's length.
//
// Counts follow one convention: zero means the default, a negative value
// means "show none". However large a count, at least four significant
// characters of a value always stay hidden (two for the local part of an
// e-mail address): a value too short for that shows fewer characters than
// configured, never more.
type Options struct {
	// Reveal, if true, makes the Masker pass every value through unchanged.
	// Set it from the viewer's "see masked fields" right, for example
	// policy.CheckIn(subject, access.SeeMaskedFields, project). The zero value,
	// false, masks. [ForViewer] and [Masker.ForViewer] set it for you.
	Reveal bool

	// FixedWidth, if true, writes every hidden run as exactly four '*' and
	// drops the separators (and phone extensions) around it, so that the
	// masked value does not tell how long the data was: +39****88.
	// If false (the default), each hidden character becomes one '*' and
	// separators stay where they were, so the masked value has the shape and
	// length of the original, as the seed product shows it: +39*******88.
	FixedWidth bool

	// PhoneKeepLast is the number of trailing digits of a phone number that
	// stay visible. Zero means 2; negative means none; at most 4.
	PhoneKeepLast int

	// PhoneHideCallingCode, if true, masks the country calling code too.
	// By default it stays visible, as in +39*******88.
	PhoneHideCallingCode bool

	// DefaultRegion is the CLDR region code (such as "IT" or "US") in which
	// national phone numbers, those written without "+" or "00", are read.
	// Such a number is then parsed by National and shown in international
	// form with its calling code: "06 1234 5588" becomes +39********88. If
	// DefaultRegion is empty, national numbers are masked in place and no
	// calling code is shown: ** **** **88. A region National does not know, or
	// a DefaultRegion without National, is an error from [New]. Letter case is
	// ignored.
	DefaultRegion string

	// National parses national numbers for DefaultRegion: national.Parser{}
	// from package github.com/callshield/callshield/mask/national, which uses
	// github.com/nyaruka/phonenumbers. It is an option, not built in, because
	// phonenumbers decodes all of its metadata at program start (2.5 MB, a
	// few milliseconds): a program that does not set DefaultRegion does not
	// import it. Ignored if DefaultRegion is empty.
	National NationalParser

	// CardKeepFirst is the number of leading digits of a payment card number
	// that stay visible. Zero (the default) or negative means none; at most
	// 6, the PCI DSS 3.4.1 maximum.
	CardKeepFirst int

	// CardKeepLast is the number of trailing digits of a payment card number
	// that stay visible. Zero means 4; negative means none; at most 4, the
	// PCI DSS 3.4.1 maximum.
	CardKeepLast int

	// DocumentKeepLast is the number of trailing characters of a passport or
	// other document number that stay visible. Zero means 3; negative means
	// none; at most 4.
	DocumentKeepLast int
}

// resolve applies the defaults and checks the bounds.
func (o Options) resolve() (config, error) {
	c := config{
		fixed:  o.FixedWidth,
		hideCC: o.PhoneHideCallingCode,
	}
	var err error
	if c.phoneLast, err = keepCount("PhoneKeepLast", o.PhoneKeepLast, 2, 4); err != nil {
		return c, err
	}
	if c.cardFirst, err = keepCount("CardKeepFirst", o.CardKeepFirst, 0, 6); err != nil {
		return c, err
	}
	if c.cardLast, err = keepCount("CardKeepLast", o.CardKeepLast, 4, 4); err != nil {
		return c, err
	}
	if c.docLast, err = keepCount("DocumentKeepLast", o.DocumentKeepLast, 3, 4); err != nil {
		return c, err
	}
	if o.DefaultRegion != "" {
		if o.National == nil {
			return c, &OptionsError{Field: "National", Reason: "DefaultRegion needs a NationalParser (national.Parser{} of package mask/national)"}
		}
		r := strings.ToUpper(o.DefaultRegion)
		if !o.National.SupportsRegion(r) {
			return c, &OptionsError{Field: "DefaultRegion", Reason: "unknown region code"}
		}
		c.region, c.national = r, o.National
	}
	return c, nil
}

// keepCount resolves a count option: 0 is def, negative is 0, above maxV is
// an error.
func keepCount(field string, v, def, maxV int) (int, error) {
	switch {
	case v == 0:
		return def, nil
	case v < 0:
		return 0, nil
	case v > maxV:
		return 0, &OptionsError{Field: field, Reason: "at most " + string(rune('0'+maxV)) + " allowed"}
	}
	return v, nil
}

// A NationalParser reads national phone numbers for [Options].DefaultRegion. Package
// github.com/callshield/callshield/mask/national implements it with
// github.com/nyaruka/phonenumbers; its methods must be safe for concurrent use. A
// Masker checks what ParseNational returns (a known calling code, a national number
// of digits that rescans to the same code) and recovers from a panic in it, masking
// the number in place instead.
type NationalParser interface {
	// SupportsRegion reports whether region, an upper-case CLDR region code, is
	// known.
	SupportsRegion(region string) bool
	// ParseNational returns the country calling code and the national significant
	// number of number as written in region, and ok false if it is not a possible
	// number there.
	ParseNational(number, region string) (cc int, nsn string, ok bool)
}
