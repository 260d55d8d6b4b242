package token

import (
	"crypto/rand"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkParse is the part of Verify that touches no store: format, checksum and
// SHA-256.
func BenchmarkParse(b *testing.B) {
	sec, _, _ := newSecret(rand.Reader, uuid.Must(uuid.NewV7()))
	s := sec.Reveal()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}
