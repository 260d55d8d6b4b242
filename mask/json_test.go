package mask

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type jsonCall struct {
	ID     int       `json:"id"`
	Caller string    `json:"caller" mask:"phone"`
	Agent  testAgent `json:"agent"`
	Notes  string    `json:"notes,omitempty" mask:"text"`
}

func TestJSON(t *testing.T) {
	c := jsonCall{ID: 1, Caller: "+39061234588", Agent: testAgent{Name: "Maria Rossi", Email: "maria@example.com"}, Notes: "mail john@example.com"}
	b, err := ForViewer(false).JSON(c)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":1,"caller":"+39*******88","agent":{"Name":"M. R.","Email":"m****@example.com","Ext":0},"notes":"mail j***@example.com"}`, string(b))
	assert.NotContains(t, string(b), "061234588")

	b, err = ForViewer(true).JSON(c)
	require.NoError(t, err)
	want, _ := json.Marshal(c)
	assert.Equal(t, string(want), string(b), "a revealing Masker encodes like json.Marshal")

	_, err = ForViewer(false).JSON(badUnknown{})
	assert.ErrorIs(t, err, ErrUnknownKind)
}

func TestJSONEncoder(t *testing.T) {
	var buf bytes.Buffer
	enc := ForViewer(false).NewJSONEncoder(&buf)
	enc.SetIndent("", "")
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode([]jsonCall{{ID: 1, Caller: "+1 650 253 0000"}}))
	assert.Equal(t, `[{"id":1,"caller":"+1 *** *** **00","agent":{"Name":"","Email":"","Ext":0}}]`+"\n", buf.String())

	buf.Reset()
	assert.ErrorIs(t, enc.Encode(badInt{}), ErrUnsupportedType)
	assert.Zero(t, buf.Len(), "nothing written on a masking error")
}
