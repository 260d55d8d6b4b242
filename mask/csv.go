package mask

import (
	"encoding"
	"encoding/csv"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"sync"
)

// A CSVWriter writes CSV records, masking each column with its [Kind], for
// report exports. Build it with [NewCSVWriter]. It is not safe for
// concurrent use.
//
// Every field that a spreadsheet would read as a formula (one starting with
// '=', '+', '-', '@', a tab or a carriage return) is written with a leading
// apostrophe, as the OWASP CSV-injection guidance recommends: an exported
// note or name such as "=HYPERLINK(...)" must not run when an administrator
// opens the report. Masked phone numbers ("+39*******88") are affected too.
type CSVWriter struct {
	// Comma and UseCRLF are those of [csv.Writer]; set them before the
	// first write. If Comma is zero, ',' is used.
	Comma   rune
	UseCRLF bool

	m     *Masker
	w     *csv.Writer
	kinds []Kind
	row   []string
}

// NewCSVWriter returns a writer to w whose i-th column is masked as
// kinds[i] ([None] for columns that are not personal data). Every record
// must have exactly len(kinds) fields.
func NewCSVWriter(w io.Writer, m *Masker, kinds []Kind) *CSVWriter {
	return &CSVWriter{
		m:     m,
		w:     csv.NewWriter(w),
		kinds: append([]Kind(nil), kinds...),
		row:   make([]string, len(kinds)),
	}
}

func (c *CSVWriter) sync() {
	c.w.Comma = ','
	if c.Comma != 0 {
		c.w.Comma = c.Comma
	}
	c.w.UseCRLF = c.UseCRLF
}

// WriteHeader writes a record as it is, unmasked: the column names. It
// must have len(kinds) fields like any other record.
func (c *CSVWriter) WriteHeader(names []string) error {
	if len(names) != len(c.kinds) {
		return fmt.Errorf("%w: %d fields, %d columns", ErrColumnCount, len(names), len(c.kinds))
	}
	c.sync()
	row := make([]string, len(names))
	for i, n := range names {
		row[i] = noFormula(n)
	}
	return c.w.Write(row)
}

// Write masks each field of record with its column's kind and writes it.
// record itself is not modified. A record of the wrong length is refused
// with an error wrapping [ErrColumnCount] and nothing is written.
func (c *CSVWriter) Write(record []string) error {
	if len(record) != len(c.kinds) {
		return fmt.Errorf("%w: %d fields, %d columns", ErrColumnCount, len(record), len(c.kinds))
	}
	for i, f := range record {
		c.row[i] = noFormula(c.m.Mask(c.kinds[i], f))
	}
	c.sync()
	err := c.w.Write(c.row)
	clear(c.row)
	return err
}

// Flush writes any buffered data to the underlying io.Writer; check
// [CSVWriter.Error] afterwards.
func (c *CSVWriter) Flush() { c.w.Flush() }

// Error reports any error from a previous Write or Flush.
func (c *CSVWriter) Error() error { return c.w.Error() }

// WriteCSV writes records as CSV to w: a header row, then one row per
// record, masked as [Masker.Value] would mask them, then flushes. Fields
// that would read as spreadsheet formulas are neutralised as by
// [CSVWriter].
//
// Each record is masked first and its row formatted from the masked copy,
// as [Masker.JSON] encodes the masked copy: a column whose type implements
// [encoding.TextMarshaler] is formatted by calling MarshalText on the masked
// value, so the tagged fields of a struct column are masked in the export
// exactly as in the API (provided MarshalText reads only exported fields,
// as for JSON).
//
// T must be a struct or a pointer to one (a nil pointer writes an empty
// row). Each exported field is a column, in order, named by its `csv` tag
// or else by its name; `csv:"-"` leaves it out. A column's type must be a
// string, bool, integer or float kind, a type implementing
// [encoding.TextMarshaler] (such as time.Time), or a pointer to one of these
// (nil writes an empty field); any other type is refused with a
// [*PlanError] wrapping [ErrUnsupportedType], before anything is written.
// The mask tags follow the rules of [Masker.Value].
func WriteCSV[T any](w io.Writer, m *Masker, records []T) error {
	t := reflect.TypeFor[T]()
	cp, err := csvPlanFor(t)
	if err != nil {
		return err
	}
	m = m.self()
	vp, _ := planFor(t)      // checked by csvPlanFor
	var masked reflect.Value // the masked copy of the current record
	c := copier{m: m}
	if !m.reveal && vp.visit {
		masked = reflect.New(t).Elem()
	}
	cw := csv.NewWriter(w)
	row := make([]string, len(cp.cols))
	for i, col := range cp.cols {
		row[i] = noFormula(col.name)
	}
	if err := cw.Write(row); err != nil {
		return err
	}
	rv := reflect.ValueOf(records)
	for i := range rv.Len() {
		v := rv.Index(i)
		if masked.IsValid() {
			masked.Set(v)
			clear(c.memo) // copies are shared within a record, not across
			if err := c.fix(vp, masked); err != nil {
				return err
			}
			v = masked // addressable, like a slice element
		}
		if cp.ptr {
			v = v.Elem()
		}
		for j, col := range cp.cols {
			row[j] = ""
			if !v.IsValid() {
				continue
			}
			f, err := formatField(v.Field(col.index), col.format)
			if err != nil {
				return fmt.Errorf("mask: CSV column %s: %w", col.name, err)
			}
			row[j] = noFormula(f)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

type csvPlan struct {
	ptr  bool // T is a pointer to the struct
	cols []csvColumn
}

type csvColumn struct {
	index  int
	name   string
	format fieldFormat
}

type fieldFormat uint8

const (
	fmtString fieldFormat = iota
	fmtBool
	fmtInt
	fmtUint
	fmtFloat
	fmtText
)

var csvPlans sync.Map // reflect.Type → csvPlanEntry; see plans

type csvPlanEntry struct {
	p   *csvPlan
	err error
}

func csvPlanFor(t reflect.Type) (*csvPlan, error) {
	if e, ok := csvPlans.Load(t); ok {
		e := e.(csvPlanEntry)
		return e.p, e.err
	}
	p, err := buildCSVPlan(t)
	csvPlans.LoadOrStore(t, csvPlanEntry{p, err})
	return p, err
}

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

func buildCSVPlan(t reflect.Type) (*csvPlan, error) {
	if _, err := planFor(t); err != nil { // the same tag rules as Value
		return nil, err
	}
	p := &csvPlan{}
	st := t
	if st.Kind() == reflect.Pointer {
		p.ptr = true
		st = st.Elem()
	}
	if st.Kind() != reflect.Struct {
		return nil, &PlanError{Type: t, Err: ErrUnsupportedType}
	}
	for i := range st.NumField() {
		sf := st.Field(i)
		name := sf.Name
		if tag, ok := sf.Tag.Lookup("csv"); ok {
			if tag == "-" {
				continue
			}
			if tag != "" {
				name = tag
			}
		}
		if !sf.IsExported() {
			continue
		}
		kind := None
		if tag, ok := sf.Tag.Lookup("mask"); ok {
			kind, _ = ParseKind(tag) // checked by planFor
		}
		f, ok := fieldFormatOf(sf.Type)
		if kind != None {
			// A tagged field is a string kind (planFor checked it, CSV
			// allows no containers); the masked copy holds it masked.
			f, ok = fmtString, derefKind(sf.Type) == reflect.String
		}
		if !ok {
			return nil, &PlanError{Type: st, Field: sf.Name, Err: ErrUnsupportedType}
		}
		p.cols = append(p.cols, csvColumn{index: i, name: name, format: f})
	}
	return p, nil
}

func derefKind(t reflect.Type) reflect.Kind {
	if t.Kind() == reflect.Pointer {
		return t.Elem().Kind()
	}
	return t.Kind()
}

func fieldFormatOf(t reflect.Type) (fieldFormat, bool) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		return fmtText, true
	}
	switch t.Kind() {
	case reflect.String:
		return fmtString, true
	case reflect.Bool:
		return fmtBool, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmtInt, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return fmtUint, true
	case reflect.Float32, reflect.Float64:
		return fmtFloat, true
	}
	return 0, false
}

// formatField formats a field for CSV. v is addressable (it comes from a
// slice element or the masked copy), so pointer-receiver MarshalText
// methods are found.
func formatField(v reflect.Value, f fieldFormat) (string, error) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "", nil
		}
		v = v.Elem()
	}
	switch f {
	case fmtString:
		return v.String(), nil
	case fmtBool:
		return strconv.FormatBool(v.Bool()), nil
	case fmtInt:
		return strconv.FormatInt(v.Int(), 10), nil
	case fmtUint:
		return strconv.FormatUint(v.Uint(), 10), nil
	case fmtFloat:
		return strconv.FormatFloat(v.Float(), 'g', -1, v.Type().Bits()), nil
	}
	var tm encoding.TextMarshaler
	if v.CanAddr() && v.Addr().Type().Implements(textMarshaler) {
		tm = v.Addr().Interface().(encoding.TextMarshaler)
	} else {
		tm = v.Interface().(encoding.TextMarshaler)
	}
	b, err := tm.MarshalText()
	return string(b), err
}

// noFormula prefixes a field a spreadsheet would evaluate with an apostrophe
// (OWASP CSV injection).
func noFormula(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
