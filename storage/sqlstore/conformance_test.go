package sqlstore_test

import (
	"testing"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/callshield/callshield/storage/storetest"
)

// TestConformance runs the storage conformance suite against both dialects, each case
// on a fresh database (a SQLite file, or a PostgreSQL schema). PostgreSQL, the
// production dialect, runs with a keyed chain, SQLite with the zero Chain, so both
// Options.Chain paths are covered without running the suite twice per dialect.
func TestConformance(t *testing.T) {
	keyed := audit.Chain{Key: []byte("0123456789abcdef0123456789abcdef")}
	for _, c := range []struct {
		name  string
		d     sqlstore.Dialect
		chain audit.Chain
	}{
		{"sqlite/unkeyed chain", sqlstore.SQLite, audit.Chain{}},
		{"postgres/keyed chain", sqlstore.Postgres, keyed},
	} {
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) storetest.Stores {
				s := newStores(t, c.d, 1, sqlstore.Options{Chain: c.chain})[0]
				// Another Store over the same database with another ring: an
				// instance restarted after a key rotation step.
				reopen := func(chain audit.Chain) (audit.Retainer, error) {
					return sqlstore.New(sqlstore.DBForTest(s), c.d, sqlstore.Options{Chain: chain})
				}
				return storetest.Stores{Access: s, Audit: s, Authn: s, Token: s, Chain: c.chain, ReopenAudit: reopen}
			})
		})
	}
}
