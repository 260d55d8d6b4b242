package mask

import (
	"bytes"
	"fmt"
	"github.com/callshield/callshield/mask/national"
	"io"
	"testing"
)

// The results are discarded: b.Loop keeps the compiler from removing the
// calls, and storing them in a global would add a GC write barrier to the
// figure.

// BenchmarkPhone masks an E.164 number: the hot path of call lists.
func BenchmarkPhone(b *testing.B) {
	m := ForViewer(false)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Phone("+39061234588")
	}
}

// BenchmarkPhonenumbersParseFormat, the approach BenchmarkPhone replaces, is in the
// compare module (compare/mask), so that the benchmark peer is no dependency here.

func BenchmarkPhoneFormatted(b *testing.B) {
	m := ForViewer(false)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Phone("+1 (650) 253-0000 ext. 12")
	}
}

func BenchmarkPhoneFixedWidth(b *testing.B) {
	m := MustNew(Options{FixedWidth: true})
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Phone("+39061234588")
	}
}

// BenchmarkPhoneNational takes the slow path: a national number parsed with
// the default region.
func BenchmarkPhoneNational(b *testing.B) {
	m := MustNew(Options{DefaultRegion: "IT", National: national.Parser{}})
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Phone("06 1234 5588")
	}
}

func BenchmarkEmail(b *testing.B) {
	m := ForViewer(false)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Email("john.doe@example.com")
	}
}

func BenchmarkCard(b *testing.B) {
	m := ForViewer(false)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Card("4111 1111 1111 1111")
	}
}

func BenchmarkScrub(b *testing.B) {
	m := ForViewer(false)
	const note = "Customer called from +39 06 1234 5588 about order 4471, asked to be reached at " +
		"mario.rossi@example.com; paid with 4111 1111 1111 1111. Call back tomorrow after 10."
	b.SetBytes(int64(len(note)))
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Scrub(note)
	}
}

type benchAgent struct {
	Name  string `mask:"name"`
	Email string `mask:"email"`
}

type benchRecord struct {
	ID       int64
	Caller   string `mask:"phone"`
	Callee   string `mask:"phone"`
	Agent    benchAgent
	Duration int
	Outcome  string
}

func benchRecords(n int) []benchRecord {
	recs := make([]benchRecord, n)
	for i := range recs {
		recs[i] = benchRecord{
			ID:       int64(i),
			Caller:   fmt.Sprintf("+3906%07d", i),
			Callee:   fmt.Sprintf("+1 650 %03d %04d", i%1000, i),
			Agent:    benchAgent{Name: "Maria Rossi", Email: "maria.rossi@example.com"},
			Duration: i % 600,
			Outcome:  "answered",
		}
	}
	return recs
}

// BenchmarkCopy10k masks a list of 10,000 tagged call records.
func BenchmarkCopy10k(b *testing.B) {
	m := ForViewer(false)
	recs := benchRecords(10_000)
	b.ReportAllocs()
	for b.Loop() {
		out, err := Copy(m, recs)
		if err != nil {
			b.Fatal(err)
		}
		_ = out
	}
}

func BenchmarkJSON10k(b *testing.B) {
	m := ForViewer(false)
	recs := benchRecords(10_000)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := m.NewJSONEncoder(&buf).Encode(recs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteCSV10k(b *testing.B) {
	m := ForViewer(false)
	type row struct {
		ID     int64
		Caller string `mask:"phone"`
		Callee string `mask:"phone"`
		Agent  string `mask:"name"`
		Email  string `mask:"email"`
	}
	rows := make([]row, 10_000)
	for i, r := range benchRecords(len(rows)) {
		rows[i] = row{r.ID, r.Caller, r.Callee, r.Agent.Name, r.Agent.Email}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteCSV(io.Discard, m, rows); err != nil {
			b.Fatal(err)
		}
	}
}
