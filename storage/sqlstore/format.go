package sqlstore

import (
	"fmt"
	"io"
	"log/slog"
)

// String describes s by its dialect and its audit chain's key IDs; the chain's keys
// never appear (printing the struct itself would show them: its fields are
// unexported, so fmt cannot ask the Chain to format itself).
func (s *Store) String() string {
	if s == nil {
		return "sqlstore.Store(nil)"
	}
	return "sqlstore.Store{dialect: " + s.d.String() + ", " + s.chain.String() + "}"
}

// GoString is String, for %#v.
func (s *Store) GoString() string { return s.String() }

// Format writes String for every verb, so that no verb prints the fields.
func (s *Store) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue is String, for log/slog.
func (s *Store) LogValue() slog.Value { return slog.StringValue(s.String()) }
