package sqlstore

import (
	"database/sql"
	"time"
)

// DBForTest returns the handle s was built on, for tests that edit rows behind the
// store's back.
func DBForTest(s *Store) *sql.DB { return s.db }

// TokenRateLimitQueriesForTest returns the token rate limit's two reads
// (LatestUserToken, and the condition of CreateTokenAfter), and the encoding of a time
// argument for s's dialect, so that tests can EXPLAIN them.
func TokenRateLimitQueriesForTest(s *Store) (latest, createdAfter string, timeArg func(time.Time) any) {
	return latestUserTokenQuery, tokenCreatedAfterQuery, s.d.timeArg
}
