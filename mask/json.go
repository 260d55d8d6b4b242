package mask

import (
	"encoding/json"
	"io"
)

// JSON returns the JSON encoding of the masked copy of v (see
// [Masker.Value]), as [json.Marshal] would encode it. Use it in handlers in
// place of json.Marshal, so that masking applies to the API as it does to
// lists and forms.
func (m *Masker) JSON(v any) ([]byte, error) {
	mv, err := m.Value(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(mv)
}

// A JSONEncoder writes masked values as JSON to a stream, like
// [json.Encoder], which it wraps.
type JSONEncoder struct {
	m   *Masker
	enc *json.Encoder
}

// NewJSONEncoder returns an encoder that writes the masked copies of values
// (see [Masker.Value]) to w.
func (m *Masker) NewJSONEncoder(w io.Writer) *JSONEncoder {
	return &JSONEncoder{m: m, enc: json.NewEncoder(w)}
}

// Encode writes the JSON encoding of the masked copy of v, followed by a
// newline. On a masking error nothing is written.
func (e *JSONEncoder) Encode(v any) error {
	mv, err := e.m.Value(v)
	if err != nil {
		return err
	}
	return e.enc.Encode(mv)
}

// SetIndent is [json.Encoder.SetIndent].
func (e *JSONEncoder) SetIndent(prefix, indent string) { e.enc.SetIndent(prefix, indent) }

// SetEscapeHTML is [json.Encoder.SetEscapeHTML].
func (e *JSONEncoder) SetEscapeHTML(on bool) { e.enc.SetEscapeHTML(on) }
