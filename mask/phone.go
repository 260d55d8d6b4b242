package mask

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxPhoneLen bounds the inputs read as phone numbers. An E.164 number has at
// most 15 digits; with separators, prefixes and an extension, 64 bytes is
// ample. Longer inputs are not phone numbers and are masked whole.
const maxPhoneLen = 64

// Phone masks a phone number. The leading "+" (or "00") and the country
// calling code stay, as do the last two digits (Options.PhoneKeepLast);
// every other digit becomes '*' and everything else stays in place:
//
//	+39061234588            → +39*******88
//	+39 06 1234 5588        → +39 ** **** **88
//	0039 (06) 1234-5588     → 0039 (**) ****-**88
//	+1 268 555 0123 ext. 45 → +1 *** *** **23 ext. **
//
// The calling code is recognised exactly from the ITU assignments (one to
// three digits; all of the North American Numbering Plan is +1), never
// guessed from the number's length; an unassigned code is masked like the
// rest. Extension digits are always masked. Digits may be separated by
// spaces (any Unicode space), tabs, - . ( ) /, any Unicode dash, the minus
// sign and the invisible soft hyphen and zero-width characters.
//
// A number written without "+" or "00" is national. With
// Options.DefaultRegion set it is parsed with Options.National (package
// mask/national: github.com/nyaruka/phonenumbers) and, if its length is possible there, shown in international form
// ("06 1234 5588" in Italy → +39********88, an extension kept as written);
// without a region, or if parsing fails, its digits are masked in place and
// no calling code is shown (** **** **88).
//
// At least four digits always stay hidden: the calling code is shown only if
// at least four digits follow it, and trailing digits only as far as four
// stay hidden (+683 4002 → +683 ****). Inputs that are not shaped like a
// phone number (letters outside an extension marker, non-ASCII digits, more
// than 64 bytes) are masked whole, as [Masker.Full] does.
//
// With Options.FixedWidth the result is "+", the calling code, "****" and
// the kept digits (+39****88); separators and extensions are dropped and a
// "00" prefix is written as "+".
//
// Phone makes one allocation, the result, except for national numbers
// parsed with the default region.
func (m *Masker) Phone(s string) string {
	m = m.self()
	if m.reveal {
		return s
	}
	if len(s) > maxPhoneLen {
		return m.full(s)
	}
	if !m.fixed {
		if out, ok := m.phoneFast(s); ok {
			return out
		}
	}
	l, ok := scanPhone(s)
	if !ok {
		return m.full(s)
	}
	if !l.intl && m.region != "" {
		if out, ok := m.phoneNational(s, l); ok {
			return out
		}
	}
	return m.phoneMasked(s, l)
}

// phoneLayout describes an input shaped like a phone number. Offsets are
// byte indexes into the input.
type phoneLayout struct {
	start   int  // just after the leading separators and the "+" or "00"
	mainEnd int  // just after the number's last digit; later digits are an extension's
	digits  int  // digits of the number: not those of a "00" prefix or an extension
	intl    bool // written with "+" or "00"
	ccLen   int  // digits of the recognised calling code, 0 if none
	cc      int  // the calling code, if ccLen > 0
}

// scanPhone reads s as
//
//	sep* ("+" | "00")? (digit | sep)* extension?
//
// with at least one digit, where extension is a marker such as "ext." or "x"
// followed by digits (see isExtension). ok is false for anything else.
func scanPhone(s string) (l phoneLayout, ok bool) {
	n := len(s)
	i := 0
	for i < n {
		w := phoneSepLen(s, i)
		if w == 0 {
			break
		}
		i += w
	}
	switch {
	case i < n && s[i] == '+':
		l.intl = true
		i++
	case i+1 < n && s[i] == '0' && s[i+1] == '0':
		l.intl = true
		i += 2
	}
	l.start = i
	acc, ccDone := 0, !l.intl
	for i < n {
		c := s[i]
		if c-'0' <= 9 {
			l.digits++
			l.mainEnd = i + 1
			if !ccDone {
				acc = acc*10 + int(c-'0')
				switch {
				case acc == 0: // no calling code starts with 0
					ccDone = true
				case callingCodes[acc]:
					l.cc, l.ccLen, ccDone = acc, l.digits, true
				case l.digits == 3:
					ccDone = true
				}
			}
			i++
			continue
		}
		if phoneClass[c] == clSep { // phoneSepLen's common case, inlined
			i++
			continue
		}
		w := phoneSepLen(s, i)
		if w == 0 {
			break
		}
		i += w
	}
	if l.digits == 0 || (i < n && !isExtension(s[i:])) {
		return l, false
	}
	return l, true
}

// Byte classes for the phone scanners.
const (
	clOther = iota
	clDigit
	clSep   // a one-byte separator
	clMulti // non-ASCII: may start a separator, see phoneSepLen
)

// phoneClass maps a byte to its class. It is never written after init.
var phoneClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = clDigit
	}
	for _, c := range []byte(" \t-.()/") {
		t[c] = clSep
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = clMulti
	}
	return t
}()

// phoneFast is the hot path of Phone for the length-preserving mode: one
// pass that copies s into a stack buffer, recognises the calling code and
// masks as it goes, then restores the kept trailing digits; one allocation,
// the result. It gives the same result as phoneMasked(s, scanPhone(s))
// (FuzzPhone checks that), and returns ok false when s is not shaped like a
// phone number, has a non-ASCII byte (a separator such as U+00A0, or not) or
// is a national number to parse with the default region; Phone then takes
// the general path.
func (m *Masker) phoneFast(s string) (string, bool) {
	n := len(s)
	if n > maxPhoneLen {
		return "", false
	}
	var buf [maxPhoneLen]byte
	b := buf[:n]
	copy(b, s)
	i := 0
	for i < n && phoneClass[s[i]] == clSep {
		i++
	}
	intl := false
	switch {
	case i < n && s[i] == '+':
		intl = true
		i++
	case i+1 < n && s[i] == '0' && s[i+1] == '0':
		intl = true
		i += 2
	}
	if !intl && m.region != "" {
		return "", false
	}
	var pos [3]int // offsets of the digits read while looking for the code
	np, digits, acc, ccLen, mainEnd := 0, 0, 0, 0, 0
	ccDone := !intl
scan:
	for i < n {
		c := s[i]
		switch phoneClass[c] {
		case clDigit:
			if ccDone {
				b[i] = '*'
			} else {
				pos[np] = i
				np++
				acc = acc*10 + int(c-'0')
				switch {
				case acc == 0:
					ccDone = true
				case callingCodes[acc]:
					ccLen, ccDone = digits+1, true
				case digits == 2:
					ccDone = true
				}
			}
			digits++
			mainEnd = i + 1
			i++
		case clSep:
			i++
		case clMulti:
			// Non-ASCII separators take the general path: a call here
			// would cost the loop its registers.
			return "", false
		default:
			break scan
		}
	}
	if digits == 0 {
		return "", false
	}
	if i < n {
		if !isExtension(s[i:]) {
			return "", false
		}
		for j := i; j < n; j++ {
			if phoneClass[b[j]] == clDigit {
				b[j] = '*'
			}
		}
	}
	cc := ccLen
	if m.hideCC {
		cc = 0
	}
	head, tail := fit(digits, cc, m.phoneLast, minHidden, false)
	for _, p := range pos[head:np] { // read as a possible code, not shown
		b[p] = '*'
	}
	for j := mainEnd - 1; tail > 0; j-- { // restore the kept digits
		if phoneClass[s[j]] == clDigit {
			b[j] = s[j]
			tail--
		}
	}
	return string(b), true
}

// phoneSepLen returns the length in bytes of the separator that starts at
// s[i], or 0 if there is none. Separators are space, tab, - . ( ) /, and
// the non-ASCII runes for which isUnicodeSep is true.
func phoneSepLen(s string, i int) int {
	if c := s[i]; c < utf8.RuneSelf {
		if phoneClass[c] == clSep {
			return 1
		}
		return 0
	}
	return unicodeSepLen(s, i)
}

func unicodeSepLen(s string, i int) int {
	r, size := utf8.DecodeRuneInString(s[i:])
	if isUnicodeSep(r) {
		return size
	}
	return 0
}

// isUnicodeSep reports whether r, a non-ASCII rune, separates digit groups:
// any space (Unicode Zs: no-break, thin, figure, ideographic, ...), any dash
// (Unicode Pd) or the minus sign U+2212, and the invisible soft hyphen,
// zero-width spaces and joiners and word joiner. Text copied from documents
// and web pages carries all of these, and an invisible one between digits
// must not hide a number from [Masker.Scrub].
func isUnicodeSep(r rune) bool {
	switch r {
	case '\u2212', '\u00AD', '\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF':
		return true
	}
	return unicode.In(r, unicode.Zs, unicode.Pd)
}

// isUnicodeSpace reports whether the rune at s[i] is a Unicode space (Zs).
func isUnicodeSpace(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.Is(unicode.Zs, r)
}

// extMarkers are the extension markers accepted after a number, longest
// first where one is the prefix of another. Matching ignores ASCII case.
var extMarkers = [...]string{";ext=", "extension", "extn.", "extn", "ext.", "ext", "x.", "x", "#", ",", ";"}

// isExtension reports whether r is an extension marker, optional spaces
// (or . : =), one to ten digits and optional trailing spaces.
func isExtension(r string) bool {
	j := -1
	for _, mk := range extMarkers {
		if len(r) >= len(mk) && strings.EqualFold(r[:len(mk)], mk) {
			j = len(mk)
			break
		}
	}
	if j < 0 {
		return false
	}
	for j < len(r) && (r[j] == ' ' || r[j] == '.' || r[j] == ':' || r[j] == '=') {
		j++
	}
	d := 0
	for j < len(r) && r[j]-'0' <= 9 {
		j++
		d++
	}
	for j < len(r) && r[j] == ' ' {
		j++
	}
	return d > 0 && d <= 10 && j == len(r)
}

// phoneMasked masks a scanned phone number.
func (m *Masker) phoneMasked(s string, l phoneLayout) string {
	cc := l.ccLen
	if m.hideCC {
		cc = 0
	}
	head, tail := fit(l.digits, cc, m.phoneLast, minHidden, false)
	if m.fixed {
		return phoneFixed(s, l, head, tail)
	}
	return phoneInPlace(s, l, head, tail)
}

// phoneInPlace replaces with '*' every digit of the number except the first
// head and the last tail, and every digit of the extension. It is the hot
// path: one pass over a stack buffer, one allocation for the result.
func phoneInPlace(s string, l phoneLayout, head, tail int) string {
	var buf [maxPhoneLen]byte
	var b []byte
	if len(s) <= len(buf) {
		b = buf[:len(s)]
	} else {
		b = make([]byte, len(s))
	}
	copy(b, s)
	k, limit := 0, l.digits-tail
	for j := l.start; j < len(b); j++ {
		if b[j]-'0' > 9 {
			continue
		}
		if j >= l.mainEnd || (k >= head && k < limit) {
			b[j] = '*'
		}
		k++
	}
	return string(b)
}

// phoneFixed writes "+", the calling code if head > 0, "****" and the last
// tail digits of the number.
func phoneFixed(s string, l phoneLayout, head, tail int) string {
	var buf [1 + 3 + len(fixedMask) + 4]byte
	b := buf[:0]
	if l.intl {
		b = append(b, '+')
	}
	if head > 0 {
		b = strconv.AppendInt(b, int64(l.cc), 10)
	}
	b = append(b, fixedMask...)
	var t [4]byte
	tail = min(tail, len(t))
	ti := len(t)
	for j := l.mainEnd - 1; j >= l.start && ti > len(t)-tail; j-- {
		if s[j]-'0' <= 9 {
			ti--
			t[ti] = s[j]
		}
	}
	b = append(b, t[ti:]...)
	return string(b)
}

// phoneNational parses a national number in m's default region and masks
// its international form, with s's extension (if any) appended as written.
func (m *Masker) phoneNational(s string, l phoneLayout) (string, bool) {
	cc, nsn, ok := parseNational(m.national, s[:l.mainEnd], m.region)
	if !ok {
		return "", false
	}
	e := make([]byte, 0, 1+3+len(nsn)+len(s)-l.mainEnd)
	e = append(e, '+')
	e = strconv.AppendInt(e, int64(cc), 10)
	e = append(e, nsn...)
	e = append(e, s[l.mainEnd:]...)
	es := string(e)
	l2, ok := scanPhone(es)
	if !ok || l2.ccLen != callingCodeLen(cc) {
		return "", false
	}
	return m.phoneMasked(es, l2), true
}

// parseNational parses s in region with p and returns the calling code and national
// significant number, if the number has a possible length. A panic inside the parser
// is taken as a failed parse: masking must not crash the host, and the caller then
// masks s conservatively.
func parseNational(p NationalParser, s, region string) (cc int, nsn string, ok bool) {
	defer func() {
		if recover() != nil {
			cc, nsn, ok = 0, "", false
		}
	}()
	if p == nil {
		return 0, "", false
	}
	cc, nsn, ok = p.ParseNational(s, region)
	if !ok {
		return 0, "", false
	}
	if cc <= 0 || cc >= len(callingCodes) || !callingCodes[cc] {
		return 0, "", false
	}
	if nsn == "" || len(nsn) > 17 {
		return 0, "", false
	}
	for i := 0; i < len(nsn); i++ {
		if nsn[i]-'0' > 9 {
			return 0, "", false
		}
	}
	return cc, nsn, true
}
