package sqlstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/internal/sqlitetest"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/callshield/callshield/storage/storetest"
)

// Printing or logging a Store shows its dialect and its chain's key IDs, never a key,
// whatever the verb.
func TestStoreNeverPrintsItsKeys(t *testing.T) {
	s, err := sqlstore.New(sqlitetest.Handles(t, 1)[0], sqlstore.SQLite, sqlstore.Options{Chain: storetest.PrintChain()})
	require.NoError(t, err)
	storetest.AssertPrintsNoKey(t, s, "sqlstore.Store{dialect: sqlite, audit.Chain{keys: [7], current: 7}}")
}
