package storetest

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/callshield/callshield/audit"
)

// PrintKey is the audit key of the chain that AssertPrintsNoKey's store is built
// with: 32 bytes of 0xab, which would show as 171 in decimal, ab in hex, q6ur in
// base64.
var PrintKey = bytes.Repeat([]byte{0xab}, 32)

// PrintChain is a ring of PrintKey alone, under key ID 7.
func PrintChain() audit.Chain {
	return audit.Chain{Keys: map[uint32][]byte{7: bytes.Clone(PrintKey)}, Current: 7}
}

// AssertPrintsNoKey checks that store, built with PrintChain, prints with every fmt
// verb and logs with both slog handlers as want, and that no rendering of PrintKey
// appears.
func AssertPrintsNoKey(t *testing.T, store any, want string) {
	t.Helper()
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
		fmt.Fprintf(&out, verb+"\n", store)
	}
	slog.New(slog.NewJSONHandler(&out, nil)).Info("store", "store", store)
	slog.New(slog.NewTextHandler(&out, nil)).Info("store", "store", store)
	got := out.String()
	assert.Contains(t, got, want)
	for _, leak := range []string{"171", "ab", "AB", "\xab", "q6ur"} { // decimal, hex, raw, base64
		assert.NotContains(t, got, leak)
	}
}
