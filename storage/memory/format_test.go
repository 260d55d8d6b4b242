package memory_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
)

// Printing or logging a Store shows its chain's key IDs, never a key, whatever the
// verb.
func TestStoreNeverPrintsItsKeys(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	s := memory.New(memory.Options{Chain: audit.Chain{Keys: map[uint32][]byte{7: key}, Current: 7}})
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
		fmt.Fprintf(&out, verb+"\n", s)
	}
	slog.New(slog.NewJSONHandler(&out, nil)).Info("store", "store", s)
	slog.New(slog.NewTextHandler(&out, nil)).Info("store", "store", s)
	got := out.String()
	assert.Contains(t, got, "memory.Store{audit.Chain{keys: [7], current: 7}}")
	for _, leak := range []string{"171", "ab", "AB", "\xab", "q6ur"} { // decimal, hex, raw, base64
		assert.NotContains(t, got, leak)
	}
}
