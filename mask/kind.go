package mask

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind says how a value is masked. It is used in struct tags
// (`mask:"phone"`), for CSV columns ([NewCSVWriter]) and with [Masker.Mask].
//
// The zero Kind is [None]: the value passes through. A Kind outside the
// defined set (for example a converted integer) masks the whole value, as
// [Full] does; it never passes the value through.
type Kind uint16

// The kinds, with their tag names.
const (
	None     Kind = iota // "none": not masked
	Phone                // "phone": see [Masker.Phone]
	Email                // "email": see [Masker.Email]
	Card                 // "card": see [Masker.Card]
	IBAN                 // "iban": see [Masker.IBAN]
	Document             // "document": see [Masker.Document]
	Name                 // "name": see [Masker.Name]
	Full                 // "full": see [Masker.Full]
	Text                 // "text": free text, see [Masker.Scrub]

	kindKeep // base of the kinds made by Keep
)

const (
	kindBits  = 4
	kindLow   = 1<<kindBits - 1
	keepBits  = 6
	keepMax   = 1<<keepBits - 1 // 63
	keepFirst = kindBits
	keepLast  = kindBits + keepBits
)

var kindNames = [...]string{
	None:     "none",
	Phone:    "phone",
	Email:    "email",
	Card:     "card",
	IBAN:     "iban",
	Document: "document",
	Name:     "name",
	Full:     "full",
	Text:     "text",
}

// Keep returns the generic kind that shows the first and last runes of a
// value and masks the rest (see [Masker.Keep]). Its tag name is
// "keep:FIRST:LAST", e.g. `mask:"keep:1:2"`. Negative counts are taken as 0
// and counts above 63 as 63.
func Keep(first, last int) Kind {
	return kindKeep | Kind(clampKeep(first))<<keepFirst | Kind(clampKeep(last))<<keepLast
}

func clampKeep(n int) int {
	return min(max(n, 0), keepMax)
}

// keepCounts returns the counts of a Keep kind.
func (k Kind) keepCounts() (first, last int) {
	return int(k>>keepFirst) & keepMax, int(k>>keepLast) & keepMax
}

func (k Kind) isKeep() bool { return k&kindLow == kindKeep }

func (k Kind) valid() bool {
	return k < kindKeep || k.isKeep()
}

// String returns the kind's tag name, or "Kind(N)" for an undefined kind.
func (k Kind) String() string {
	switch {
	case k < kindKeep:
		return kindNames[k]
	case k.isKeep():
		f, l := k.keepCounts()
		return "keep:" + strconv.Itoa(f) + ":" + strconv.Itoa(l)
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind parses a tag name: one of none, phone, email, card, iban,
// document, name, full, text, or keep:FIRST:LAST with FIRST and LAST in
// 0..63. Names are case-sensitive and must not contain spaces. An unknown
// name is an error wrapping [ErrUnknownKind].
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if s == name {
			return Kind(k), nil
		}
	}
	if rest, ok := strings.CutPrefix(s, "keep:"); ok {
		a, b, ok := strings.Cut(rest, ":")
		if ok {
			f, err1 := parseKeepCount(a)
			l, err2 := parseKeepCount(b)
			if err1 == nil && err2 == nil {
				return Keep(f, l), nil
			}
		}
	}
	return None, fmt.Errorf("%w %q", ErrUnknownKind, s)
}

func parseKeepCount(s string) (int, error) {
	if s == "" || len(s) > 2 {
		return 0, ErrUnknownKind
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrUnknownKind
		}
	}
	n, _ := strconv.Atoi(s)
	if n > keepMax {
		return 0, ErrUnknownKind
	}
	return n, nil
}
