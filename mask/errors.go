package mask

import (
	"errors"
	"fmt"
	"reflect"
)

// Sentinel errors. Check them with [errors.Is]; the typed errors below wrap
// them and add detail. No error of this package ever contains a value that
// was being masked: only type names, field names, tags and option names.
var (
	// ErrUnknownKind is returned (wrapped in a [*PlanError] for struct tags)
	// for a kind name that [ParseKind] does not know. Unknown kinds are never
	// passed through silently.
	ErrUnknownKind = errors.New("mask: unknown kind")

	// ErrUnsupportedType means a mask tag sits on a field whose type cannot
	// carry that kind (only string kinds and pointers, slices, arrays and
	// maps of them can), or that a type cannot be written as a CSV column.
	ErrUnsupportedType = errors.New("mask: unsupported type")

	// ErrUnexportedField means an unexported field carries a mask tag, or
	// its type contains tagged fields. Such a field could not be replaced in
	// the masked copy, so it would leak; the type is refused instead.
	ErrUnexportedField = errors.New("mask: masked data in an unexported field")

	// ErrMaskedMapKey means a map's key type contains tagged fields. Keys
	// are never rewritten (masked keys could collide), so the type is refused.
	ErrMaskedMapKey = errors.New("mask: map key type contains masked fields")

	// ErrCycle is returned when a value contains a reference cycle through
	// data that needs masking.
	ErrCycle = errors.New("mask: value contains a reference cycle")

	// ErrInvalidOptions is wrapped by [*OptionsError].
	ErrInvalidOptions = errors.New("mask: invalid options")

	// ErrColumnCount is returned by [CSVWriter] when a record's length
	// differs from the number of column kinds it was built with.
	ErrColumnCount = errors.New("mask: record length does not match the column kinds")
)

// PlanError reports a type whose mask tags cannot be honoured. It is
// returned when the type is first seen, whether or not the viewer may see
// masked fields, so a mistagged type fails in every test, not only in the
// tests that run as an unprivileged viewer.
type PlanError struct {
	Type  reflect.Type // the struct (or other type) being planned
	Field string       // the field's name, if the error concerns a field
	Tag   string       // the field's mask tag, if it has one
	Err   error        // one of the sentinel errors above
}

func (e *PlanError) Error() string {
	msg := "mask: type " + typeName(e.Type)
	if e.Field != "" {
		msg += " field " + e.Field
	}
	if e.Tag != "" {
		msg += fmt.Sprintf(" (tag %q)", e.Tag)
	}
	return msg + ": " + errText(e.Err)
}

func (e *PlanError) Unwrap() error { return e.Err }

// OptionsError reports an [Options] field that [New] refuses.
type OptionsError struct {
	Field  string // the Options field, e.g. "CardKeepFirst"
	Reason string
}

func (e *OptionsError) Error() string {
	return "mask: invalid Options." + e.Field + ": " + e.Reason
}

func (e *OptionsError) Unwrap() error { return ErrInvalidOptions }

func typeName(t reflect.Type) string {
	if t == nil {
		return "<nil>"
	}
	return t.String()
}

// errText drops the "mask: " prefix of a wrapped sentinel so messages read
// once.
func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	if len(s) > 6 && s[:6] == "mask: " {
		return s[6:]
	}
	return s
}
