package memory_test

import (
	"testing"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
	"github.com/callshield/callshield/storage/storetest"
)

// TestConformance runs the storage conformance suite against the memory store, with
// the default unkeyed chain and with a keyed one.
func TestConformance(t *testing.T) {
	t.Run("unkeyed chain", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Stores {
			s := memory.New(memory.Options{})
			return storetest.Stores{Access: s, Audit: s}
		})
	})
	t.Run("keyed chain", func(t *testing.T) {
		chain := audit.Chain{Key: []byte("0123456789abcdef0123456789abcdef")}
		storetest.Run(t, func(t *testing.T) storetest.Stores {
			s := memory.New(memory.Options{Chain: chain})
			return storetest.Stores{Access: s, Audit: s, Chain: chain}
		})
	})
}
