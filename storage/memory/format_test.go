package memory_test

import (
	"testing"

	"github.com/callshield/callshield/storage/memory"
	"github.com/callshield/callshield/storage/storetest"
)

// Printing or logging a Store shows its chain's key IDs, never a key, whatever the
// verb.
func TestStoreNeverPrintsItsKeys(t *testing.T) {
	s := memory.New(memory.Options{Chain: storetest.PrintChain()})
	storetest.AssertPrintsNoKey(t, s, "memory.Store{audit.Chain{keys: [7], current: 7}}")
}
