package sqlstore

import "database/sql"

// DBForTest returns the handle s was built on, for tests that edit rows behind the
// store's back.
func DBForTest(s *Store) *sql.DB { return s.db }
