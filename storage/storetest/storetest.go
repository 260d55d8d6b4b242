package storetest

import (
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/token"
	"github.com/stretchr/testify/require"
)

// Stores is one adapter's implementation of every callshield store, all over one database.
type Stores struct {
	Access access.Store
	Audit  audit.Store
	// Authn is the adapter's authn.Store, over the same database as Access (some of its
	// units of work change memberships). It is optional while an adapter does not
	// implement it yet: when a Factory leaves it nil, Run skips the authn cases with a
	// message saying so, and still runs the others.
	Authn authn.Store
	// Token is the adapter's token.Store, over the same database as Access. Optional
	// like Authn: when it is nil, Run skips the token cases with a message.
	Token token.Store

	// Chain is the audit.Chain the adapter links events with. The suite recomputes
	// every Hash with it; leave it zero for an adapter built with the zero (unkeyed)
	// Chain, the usual way to run the suite.
	Chain audit.Chain

	// ReopenAudit, if set, returns an audit store over the same data as Audit that
	// links with chain instead, as an app instance restarted with another key ring
	// would be (chain may differ from Chain in its keys, IDs and current key). The
	// key rotation cases (audit/key rotation) need it; without it they are skipped
	// with a message.
	ReopenAudit func(chain audit.Chain) (audit.Retainer, error)
}

// Factory returns fresh, empty stores backed by a new, isolated database (or schema); it
// is called once per test case, and registers its own cleanup with t.Cleanup.
//
// A "test case" here is one group of related checks (the subtests of Run named
// access/roles, audit/concurrency, ...): each check creates its own tenants with fresh
// IDs, so the checks of a group share the stores without seeing each other's rows, and
// a database-backed run needs a dozen fresh databases rather than one per check.
type Factory func(t *testing.T) Stores

// Run runs every case of the suite as subtests of t. The authn cases run only when the
// Factory's Stores have an Authn store (see [Stores.Authn]).
func Run(t *testing.T, newStores Factory) {
	t.Helper()
	t.Run("access", func(t *testing.T) { runAccess(t, newStores) })
	t.Run("audit", func(t *testing.T) { runAudit(t, newStores) })
	t.Run("authn", func(t *testing.T) { runAuthn(t, newStores) })
	t.Run("token", func(t *testing.T) { runToken(t, newStores) })
	t.Run("sessions", func(t *testing.T) { runSessions(t, newStores) })
}

// testCase is one check of the suite: its name says what it proves.
type testCase struct {
	name string
	run  func(t *testing.T, f *fx)
}

// group is a set of checks that share one Factory call. A new domain adds its groups
// in its own file and a run function called from Run.
type group struct {
	name  string
	cases []testCase
}

// runGroups runs each group as a subtest with its own stores, and each of its cases as
// a subtest of it.
func runGroups(t *testing.T, newStores Factory, groups []group) {
	t.Helper()
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			s := newStores(t)
			require.NotNil(t, s.Access, "Factory returned no Access store")
			require.NotNil(t, s.Audit, "Factory returned no Audit store")
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, &fx{t: t, ctx: t.Context(), s: s})
				})
			}
		})
	}
}
