package mask

//go:generate go run callingcode_gen.go

// callingCodes (callingcode_table.go) reports whether c is an ITU-T E.164 country
// calling code, geographic (39 for Italy, 1 for the whole North American Numbering
// Plan) or not (800, 882, ...). It is generated from the metadata of
// github.com/nyaruka/phonenumbers, so it is exact rather than guessed from lengths;
// it is a static table, never written, and costs nothing at start-up (reading it from
// phonenumbers at run time meant importing that package, whose initialisation
// decodes all of its metadata: 2.5 MB and several milliseconds in every program
// importing mask). TestCallingCodesMatchMetadata checks it against the metadata.
//
// Calling codes form a prefix code: no code is the prefix of another (there
// is no 39x because 39 exists), so reading one, two, then three digits and
// stopping at the first hit finds the code exactly. TestCallingCodesPrefixFree
// checks that property on the table.

// callingCodeLen returns the number of decimal digits of a calling code.
func callingCodeLen(c int) int {
	switch {
	case c < 10:
		return 1
	case c < 100:
		return 2
	}
	return 3
}
