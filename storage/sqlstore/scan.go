package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Scanners that accept what either driver returns for a column, so that every query is
// scanned by one piece of code.

// timeCol scans a timestamptz (pgx returns a time.Time) or an INTEGER of Unix
// microseconds (SQLite) into a UTC time.Time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch x := v.(type) {
	case time.Time:
		*c.t = x.UTC()
	case int64:
		*c.t = time.UnixMicro(x).UTC()
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", v)
	}
	return nil
}

// nullUUIDCol scans a nullable UUID column; NULL is the zero UUID.
type nullUUIDCol struct{ u *uuid.UUID }

func (c nullUUIDCol) Scan(v any) error {
	if v == nil {
		*c.u = uuid.Nil
		return nil
	}
	return c.u.Scan(v)
}

// nullUUID is the argument for a nullable UUID column: NULL for the zero UUID.
func nullUUID(u uuid.UUID) any {
	if u == uuid.Nil {
		return nil
	}
	return u
}

// jsonCol scans JSON text (jsonb arrives as []byte from pgx, TEXT as string from
// SQLite) into dst. NULL leaves dst at its zero value.
type jsonCol struct{ dst any }

func (c jsonCol) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		b = x
	case string:
		b = []byte(x)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T as JSON", v)
	}
	if err := json.Unmarshal(b, c.dst); err != nil {
		return fmt.Errorf("sqlstore: malformed JSON column: %w", err)
	}
	return nil
}

// stringsCol scans role rights (a JSON array) into a []string. The empty list reads as
// nil.
type stringsCol struct{ s *[]string }

func (c stringsCol) Scan(v any) error {
	var out []string
	if err := (jsonCol{&out}).Scan(v); err != nil {
		return err
	}
	if len(out) == 0 {
		out = nil
	}
	*c.s = out
	return nil
}
