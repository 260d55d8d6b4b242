package mask

import (
	"strings"
	"unicode/utf8"
)

// A Masker masks personal data for one kind of viewer. Build it with [New]
// or [ForViewer]; it is immutable and safe for concurrent use, so build it
// once per configuration and pick the variant for each request with
// [Masker.ForViewer].
//
// A nil *Masker masks with the default [Options]. The zero Masker masks
// too, and reveals no characters at all (no trailing digits, no card
// digits); it is valid but [New] is what you want.
//
// A Masker never logs, stores or returns in an error the values it masks.
type Masker struct {
	reveal bool
	config
	twin *Masker // same config, opposite reveal; nil for the zero Masker
}

// config is the resolved form of Options. Its zero value is the most
// conservative setting.
type config struct {
	fixed     bool
	hideCC    bool
	phoneLast int
	cardFirst int
	cardLast  int
	docLast   int
	region    string
	national  NationalParser // set with region
}

var (
	// The maskers returned by ForViewer. They are never modified.
	defaultMasking, defaultRevealing = mustPair(Options{})
	// zeroRevealing is what the zero Masker's ForViewer(true) returns.
	zeroRevealing = &Masker{reveal: true}
)

func mustPair(o Options) (*Masker, *Masker) {
	m, err := New(o)
	if err != nil {
		panic(err) // unreachable: the zero Options are valid
	}
	if m.reveal {
		return m.twin, m
	}
	return m, m.twin
}

// New returns a Masker configured by o. It fails with an [*OptionsError]
// (wrapping [ErrInvalidOptions]) if a count is out of range or
// DefaultRegion is unknown.
func New(o Options) (*Masker, error) {
	c, err := o.resolve()
	if err != nil {
		return nil, err
	}
	m := &Masker{reveal: o.Reveal, config: c}
	m.twin = &Masker{reveal: !o.Reveal, config: c, twin: m}
	return m, nil
}

// MustNew is like [New] but panics if the options are invalid. Use it for
// options written as literals in the program, as in regexp.MustCompile.
func MustNew(o Options) *Masker {
	m, err := New(o)
	if err != nil {
		panic(err)
	}
	return m
}

// ForViewer returns a Masker with the default [Options] for a viewer who
// may (canSeeMasked true) or may not see masked fields. Pass it the
// viewer's right in the record's project, e.g. policy.CheckIn(subject,
// access.SeeMaskedFields, record.Project). It does not allocate.
func ForViewer(canSeeMasked bool) *Masker {
	if canSeeMasked {
		return defaultRevealing
	}
	return defaultMasking
}

// ForViewer returns a Masker with m's options for a viewer who may
// (canSeeMasked true) or may not see masked fields. It does not allocate.
func (m *Masker) ForViewer(canSeeMasked bool) *Masker {
	switch {
	case m == nil:
		return ForViewer(canSeeMasked)
	case m.reveal == canSeeMasked:
		return m
	case m.twin != nil:
		return m.twin
	case canSeeMasked:
		return zeroRevealing
	}
	return &Masker{} // the zero Masker's masking twin is the zero Masker
}

// Reveals reports whether m passes values through unmasked.
func (m *Masker) Reveals() bool { return m != nil && m.reveal }

// self returns m, or the default masking Masker if m is nil.
func (m *Masker) self() *Masker {
	if m == nil {
		return defaultMasking
	}
	return m
}

// Mask masks s as kind k. [None] returns s; an undefined Kind masks all of
// s, as [Full] does.
func (m *Masker) Mask(k Kind, s string) string {
	m = m.self()
	if m.reveal {
		return s
	}
	switch k {
	case None:
		return s
	case Phone:
		return m.Phone(s)
	case Email:
		return m.Email(s)
	case Card:
		return m.Card(s)
	case IBAN:
		return m.IBAN(s)
	case Document:
		return m.Document(s)
	case Name:
		return m.Name(s)
	case Text:
		return m.Scrub(s)
	}
	if k.isKeep() {
		f, l := k.keepCounts()
		return m.Keep(s, f, l)
	}
	return m.Full(s)
}

// Full masks all of s: one '*' per rune, or "****" with FixedWidth. An empty
// string stays empty.
func (m *Masker) Full(s string) string {
	m = m.self()
	if m.reveal {
		return s
	}
	return m.full(s)
}

func (m *Masker) full(s string) string {
	if s == "" {
		return ""
	}
	if m.fixed {
		return fixedMask
	}
	return strings.Repeat("*", utf8.RuneCountInString(s))
}

// Keep shows the first and last runes of s and masks the rest, one '*' per
// rune (or "****" with FixedWidth). At least four runes always stay hidden:
// the first runes are shown only if at least four runes follow them, and
// the last ones only as far as four stay hidden.
func (m *Masker) Keep(s string, first, last int) string {
	m = m.self()
	if m.reveal {
		return s
	}
	n := utf8.RuneCountInString(s)
	head, tail := fit(n, first, last, minHidden, false)
	return m.maskRunes(s, anyRune, n, head, tail)
}

const (
	// minHidden is the number of significant characters that always stay
	// hidden, whatever the options say.
	minHidden = 4
	// fixedMask is the hidden run in FixedWidth mode.
	fixedMask = "****"
)

// fit returns how many of n significant characters may be shown at the
// start (head) and end (tail) so that at least hide stay hidden. It never
// returns more than asked. The head is shown whole or not at all: only if
// at least hide characters follow it (with headFirst, only if hide stay
// hidden with the whole tail shown too); the tail then shrinks as needed.
func fit(n, head, tail, hide int, headFirst bool) (int, int) {
	head, tail = min(max(head, 0), n), min(max(tail, 0), n)
	if headFirst {
		if n-head-tail < hide {
			head = 0
		}
	} else if n-head < hide {
		head = 0
	}
	tail = min(tail, max(0, n-head-hide))
	return head, tail
}

func anyRune(rune) bool { return true }

// maskRunes masks the significant runes of s (those for which sig is true,
// n in all) except the first head and the last tail of them. Other runes are
// kept in place, unless m is fixed-width, when the result is the head, "****"
// and the tail. Revealed runes are copied byte for byte.
func (m *Masker) maskRunes(s string, sig func(rune) bool, n, head, tail int) string {
	if n == 0 {
		return m.full(s)
	}
	var b strings.Builder
	m.writeMasked(&b, s, sig, n, head, tail, 0)
	return b.String()
}

// writeMasked writes to b what maskRunes returns for n > 0, having grown b
// by extra bytes more for the caller's own writes.
func (m *Masker) writeMasked(b *strings.Builder, s string, sig func(rune) bool, n, head, tail, extra int) {
	if m.fixed {
		b.Grow(head*4 + len(fixedMask) + tail*4 + extra)
	} else {
		b.Grow(len(s) + extra)
	}
	k := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		raw := s[i : i+size]
		i += size
		if !sig(r) {
			if !m.fixed {
				b.WriteString(raw)
			}
			continue
		}
		show := k < head || k >= n-tail
		if m.fixed && k == head {
			b.WriteString(fixedMask)
		}
		switch {
		case show:
			b.WriteString(raw)
		case !m.fixed:
			b.WriteByte('*')
		}
		k++
	}
}
