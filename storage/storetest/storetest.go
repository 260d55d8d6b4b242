package storetest

import (
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
)

// Stores is one adapter's implementation of every callshield store, all over one database.
type Stores struct {
	Access access.Store
	Audit  audit.Store

	// Chain is the audit.Chain the adapter links events with. The suite recomputes
	// every Hash with it; leave it zero for an adapter built with the zero (unkeyed)
	// Chain, the usual way to run the suite.
	Chain audit.Chain
}

// Factory returns fresh, empty stores backed by a new, isolated database (or schema); it
// is called once per test case, and registers its own cleanup with t.Cleanup.
type Factory func(t *testing.T) Stores

// Run runs every case of the suite as subtests of t.
func Run(t *testing.T, newStores Factory) {
	t.Helper()
	t.Run("access", func(t *testing.T) { runAccess(t, newStores) })
	t.Run("audit", func(t *testing.T) { runAudit(t, newStores) })
}
