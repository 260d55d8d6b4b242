package sqlstore_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/internal/sqlitetest"
	"github.com/callshield/callshield/storage/sqlstore"
)

// Printing or logging a Store shows its dialect and its chain's key IDs, never a key,
// whatever the verb.
func TestStoreNeverPrintsItsKeys(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	s, err := sqlstore.New(sqlitetest.Handles(t, 1)[0], sqlstore.SQLite,
		sqlstore.Options{Chain: audit.Chain{Keys: map[uint32][]byte{7: key}, Current: 7}})
	require.NoError(t, err)
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
		fmt.Fprintf(&out, verb+"\n", s)
	}
	slog.New(slog.NewJSONHandler(&out, nil)).Info("store", "store", s)
	slog.New(slog.NewTextHandler(&out, nil)).Info("store", "store", s)
	got := out.String()
	assert.Contains(t, got, "sqlstore.Store{dialect: sqlite, audit.Chain{keys: [7], current: 7}}")
	for _, leak := range []string{"171", "ab", "AB", "\xab", "q6ur"} { // decimal, hex, raw, base64
		assert.NotContains(t, got, leak)
	}
}
