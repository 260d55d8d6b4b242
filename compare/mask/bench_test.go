package mask_test

import (
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/callshield/callshield/mask"
)

// The results are discarded: b.Loop keeps the compiler from removing the calls.
//
//	cd compare && go test -run='^$' -bench=. -benchmem ./mask/

// BenchmarkPhone masks an E.164 number: the hot path of call lists (as in mask's own
// benchmarks, repeated here for a same-run ratio).
func BenchmarkPhone(b *testing.B) {
	m := mask.ForViewer(false)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Phone("+39061234588")
	}
}

// BenchmarkPhonenumbersParseFormat is the approach BenchmarkPhone replaces: parse with
// github.com/nyaruka/phonenumbers, format as E.164, then mask the formatted number.
func BenchmarkPhonenumbersParseFormat(b *testing.B) {
	m := mask.ForViewer(false)
	b.ReportAllocs()
	for b.Loop() {
		num, err := phonenumbers.Parse("+39061234588", "ZZ")
		if err != nil {
			b.Fatal(err)
		}
		_ = m.Phone(phonenumbers.Format(num, phonenumbers.E164))
	}
}

// TestSameMaskedForm checks that both paths of the benchmarks give the same masked
// number, so that the ratio compares equal work.
func TestSameMaskedForm(t *testing.T) {
	m := mask.ForViewer(false)
	num, err := phonenumbers.Parse("+39061234588", "ZZ")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Phone(phonenumbers.Format(num, phonenumbers.E164)), m.Phone("+39061234588"); got != want {
		t.Fatalf("phonenumbers path %q, direct %q", got, want)
	}
}
