package sqlstore

import (
	"context"
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

// MigrateToForTest applies the embedded migrations up to and including version, as
// an older release would have, so that tests can write rows in an older schema and
// then Migrate the rest.
func MigrateToForTest(ctx context.Context, s *Store, version int64) error {
	migs, err := loadMigrations(s.d)
	if err != nil {
		return err
	}
	for _, m := range migs {
		if m.version > version {
			break
		}
		if err := s.inTx(ctx, nil, func(tx *sql.Tx) error { return s.applyMigration(ctx, tx, m) }); err != nil {
			return err
		}
	}
	return nil
}

// TimeArgForTest returns the encoding of a time argument for s's dialect.
func TimeArgForTest(s *Store) func(time.Time) any { return s.d.timeArg }
