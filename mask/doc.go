// Package mask hides personal data from viewers who may not see it: phone
// numbers, e-mail addresses, payment card numbers, IBANs, document numbers
// and names, whether in single values, in the host's own records (through
// struct tags), in JSON responses, in CSV exports or in free text. It
// implements the field-level part of OWASP ASVS 8.2.3 and 14.2.6 and the
// display rule of PCI DSS 3.4.1: a viewer without the "see masked fields"
// right sees +39*******88 wherever the data leaves the host's code, in
// lists, forms, exports and API responses alike.
//
// # The viewer decides
//
// A [Masker] is built for one kind of viewer. Without the right it masks;
// with it, every method returns its input unchanged:
//
//	m := mask.ForViewer(policy.CheckIn(subject, access.SeeMaskedFields, call.Project))
//	row.Caller = m.Phone(call.Caller)
//
// Decide per record's project: "see masked fields" is a project right, and
// policy.CheckIn with no project (uuid.Nil) is true only for a viewer who may see
// them in every project, so a masker built without a project never unmasks one
// project's records for a viewer who may see only another's.
//
// The package takes the policy's answer as a plain bool and imports nothing
// from callshield, so it can be used, tested and reviewed on its own, and
// the access package can depend on it without a cycle. To use options other
// than the defaults, build one Masker with [New] at start-up and pick the
// variant for each request with [Masker.ForViewer]; neither ForViewer
// allocates. A nil *Masker masks with the default options, so a forgotten
// masker fails closed.
//
// # Which function
//
//   - One value of known kind: [Masker.Phone], [Masker.Email],
//     [Masker.Card], [Masker.IBAN], [Masker.Document], [Masker.Name],
//     [Masker.Keep] (show the first and last runes), [Masker.Full]; or
//     [Masker.Mask] with a [Kind].
//   - Records: tag the fields (`mask:"phone"`) and call [Copy] or
//     [Masker.Value] for a masked copy, [Masker.JSON] or
//     [Masker.NewJSONEncoder] for JSON, [WriteCSV] for a CSV export.
//   - CSV rows as []string: [NewCSVWriter] with one [Kind] per column.
//   - Notes, chat and other free text: [Masker.Scrub].
//
// # The rules
//
// By default the calling code and last two digits of a phone number stay
// visible, the first character and domain of an e-mail address, the last
// four digits of a card (at most the first six and last four), the country
// code and last four characters of an IBAN, the last three characters of a
// document number, and a name's initials:
//
//	phone     +39 06 1234 5588                  → +39 ** **** **88
//	e-mail    john@example.com                  → j***@example.com
//	card      4111 1111 1111 1111               → **** **** **** 1111
//	IBAN      IT60 X054 2811 1010 0000 0123 456 → IT** **** **** **** **** ***3 456
//	document  YA1234567                         → ******567
//	name      Maria Grazia Rossi                → M. G. R.
//
// The phone's calling code is recognised exactly, from the ITU assignments
// as listed in the metadata of github.com/nyaruka/phonenumbers (generated
// into a static table of 1000 booleans, checked against the metadata by a
// test), never guessed from lengths;
// the whole North American Numbering Plan is +1. The card rule is the
// PCI DSS 3.4.1 maximum, and [New] refuses options beyond it.
//
// Whatever the options, at least four significant characters of a value
// stay hidden (two of an e-mail's local part): a value too short for that
// shows fewer characters than configured, never more. Input that does not
// have the shape of its kind (letters in a phone number, a card number of
// 25 digits, digits of other scripts) is masked whole, one '*' per rune.
// Empty values stay empty. The masking functions never fail and never
// panic; the fuzz tests check that, and that no more digits are shown than
// configured.
//
// By default a masked value keeps the length and shape of the original, as
// the seed product showed it. That tells the viewer how long the data was;
// with [Options].FixedWidth every hidden run is written as "****" instead
// (+39****88), so the length is not revealed.
//
// # Records
//
// Struct tags name the kind of a string field (or of the strings in a
// *string, []string, [N]string or map[K]string field):
//
//	type Call struct {
//		Caller string   `mask:"phone"`
//		Agent  Agent    // searched for tags: nested structs, pointers,
//		Notes  []string `mask:"text"` // slices, maps, interfaces
//	}
//
// The tag names are those of [ParseKind]. `mask:"none"` marks a value that
// is not personal data; on a struct, pointer, slice, map or interface field
// it does not stop the search for tagged fields inside. [Copy] and
// [Masker.Value] return a masked copy and never modify the caller's value;
// a reference shared within the value is copied once and stays shared. The rules for a type
// are checked once, cached and reused, so masking a list of thousands of
// records costs little more than masking its strings. A type the rules
// cannot honour is refused with a [*PlanError], the same for every viewer,
// so a mistake shows in any test: an unknown kind, a tag on a type that
// cannot hold it, tagged data in an unexported field (the copy could not
// replace it, so it would leak) or in a map key (keys are never rewritten;
// a key of type any holding tagged data is refused when it is met).
// [ValidateType] checks a type up front. [WriteCSV] formats each row from
// the masked copy, so a column formatted by MarshalText is masked as in
// JSON.
//
// # Free text
//
// [Masker.Scrub] finds e-mail addresses, card numbers (12 to 19 digits with
// a valid Luhn check digit) and phone numbers (seven digits or more) in
// text and masks each in place. Digit groups may be split by any Unicode
// space or dash, the minus sign, invisible separators and short runs such
// as " - "; card numbers by any layout people type or paste: line breaks
// and indents, several spaces, _ | : ; * , and middle dots, glued to other
// digits, or inside an e-mail's domain (a fuzz test generates such layouts
// of Luhn-valid numbers and checks that no more than the last four digits
// ever show). It is a heuristic that errs towards masking: order numbers,
// amounts and dates in other layouts (15.01.2026, 20260115) of seven digits
// or more are masked too, and so are lists of numbers that could hide a card
// number.
//
// Scrub keeps identifiers and times, which are not what it hides and which
// an audit log needs readable: UUIDs, ISO 8601 dates (2026-01-15, years 1900
// to 2099) and RFC 3339 date-times (2026-01-15T10:30:00Z, with a space for
// the T, fractions and offsets, as time.Time.String writes them), alone or
// joined to one another (2026-01-15/2026-02-01). A date is read only where a
// digit chain starts and only in that exact shape, so a card number is never
// kept as one: 4111-1111-1111-1111 is no date, and digits joined to a date
// are read, and masked, with it when they could hide a card. A date of birth
// is kept like any other date: keep it in a tagged field. Bare Unix
// timestamps have the shape of phone numbers and are masked.
// It does not detect IBANs, names or document numbers; keep those in
// tagged fields.
//
// # National numbers and start-up cost
//
// The package imports nothing that builds tables at program start: a
// binary importing only mask is about 2.2 MB and its initialisation
// allocates under 4 KB. National numbers with Options.DefaultRegion need
// Options.National, national.Parser{} of package
// github.com/callshield/callshield/mask/national, which brings in
// github.com/nyaruka/phonenumbers and its 2.5 MB of metadata decoded at
// start-up; only programs that read national numbers import it.
//
// # Security notes
//
//   - Masking protects what is displayed and exported; it is not
//     anonymisation. The shown digits (calling code, last two) narrow a
//     search; keep the raw data behind access control and out of logs.
//   - The package never logs, and its errors name types, fields, tags and
//     options, never values.
//   - Its only mutable state is the cache of per-type plans, a pure
//     function of the type; the calling code table is static.
//   - CSV exports are masked but not protected against formula injection
//     in spreadsheet programs; a masked phone number begins with "+".
//     Neutralise cells where the export is opened in a spreadsheet.
//
// # Performance
//
// Masking an E.164 phone number takes one pass over its bytes and one
// allocation, the result: about 65 ns, against about 10 µs and 31
// allocations to parse and format it with github.com/nyaruka/phonenumbers
// first (some 160 times faster, on a shared 2-core machine). National
// numbers with a default region take that slower path. Masking 10,000
// tagged call records with [Copy] takes about 7 ms. The benchmarks are in
// bench_test.go (go test -run='^$' -bench=. -benchmem ./mask/); the
// figures are in the top-level README.
package mask
