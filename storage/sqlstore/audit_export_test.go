package sqlstore

import (
	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// EventsQueryForTest returns the SQL and arguments that s.Events runs for q, so that
// tests can EXPLAIN exactly what the store sends.
func EventsQueryForTest(s *Store, tenant uuid.UUID, q audit.Query) (string, []any) {
	return s.eventsQuery(tenant, q)
}
