package memory

import (
	"fmt"
	"io"
	"log/slog"
)

// String describes s by its audit chain's key IDs only: neither the chain's keys nor
// anything stored (password hashes, sealed secrets, token and session hashes) ever
// appears (printing the struct itself would show them all: its fields are
// unexported, so fmt cannot ask them to format themselves).
func (s *Store) String() string {
	if s == nil {
		return "memory.Store(nil)"
	}
	return "memory.Store{" + s.chain.String() + "}"
}

// GoString is String, for %#v.
func (s *Store) GoString() string { return s.String() }

// Format writes String for every verb, so that no verb prints the fields.
func (s *Store) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue is String, for log/slog.
func (s *Store) LogValue() slog.Value { return slog.StringValue(s.String()) }
