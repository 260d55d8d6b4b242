package mask

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCSVWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewCSVWriter(&buf, ForViewer(false), []Kind{None, Phone, Email, Text})
	require.NoError(t, w.WriteHeader([]string{"id", "caller", "email", "notes"}))
	rec := []string{"1", "+39 06 1234 5588", "john@example.com", "card 4111 1111 1111 1111, ok"}
	require.NoError(t, w.Write(rec))
	assert.Equal(t, "+39 06 1234 5588", rec[1], "the record is not modified")
	err := w.Write([]string{"2", "+39061234588"})
	assert.ErrorIs(t, err, ErrColumnCount)
	assert.ErrorIs(t, w.WriteHeader([]string{"id"}), ErrColumnCount)
	w.Flush()
	require.NoError(t, w.Error())
	assert.Equal(t, "id,caller,email,notes\n1,'+39 ** **** **88,j***@example.com,\"card **** **** **** 1111, ok\"\n", buf.String())
}

func TestCSVFormulaInjection(t *testing.T) {
	var buf bytes.Buffer
	w := NewCSVWriter(&buf, ForViewer(true), []Kind{None, None, None, None, None})
	require.NoError(t, w.Write([]string{"=HYPERLINK(\"http://evil\")", "@SUM(A1)", "-2+3", "\tx", "plain"}))
	w.Flush()
	assert.Equal(t, "\"'=HYPERLINK(\"\"http://evil\"\")\",'@SUM(A1),'-2+3,'\tx,plain\n", buf.String())
}

func TestCSVWriterOptions(t *testing.T) {
	var buf bytes.Buffer
	w := NewCSVWriter(&buf, ForViewer(true), []Kind{Phone, Card})
	w.Comma = ';'
	w.UseCRLF = true
	require.NoError(t, w.Write([]string{"+39061234588", "4111111111111111"}))
	w.Flush()
	assert.Equal(t, "'+39061234588;4111111111111111\r\n", buf.String(), "a revealing Masker exports unmasked (formula-safe)")
}

type csvRow struct {
	ID      int64
	Caller  string  `csv:"caller" mask:"phone"`
	Callee  *string `csv:"callee" mask:"phone"`
	Agent   string  `mask:"name"`
	Card    string  `mask:"card"`
	Secret  string  `csv:"-"`
	Score   float64
	OK      bool
	Count   uint8
	At      time.Time
	Ended   *time.Time
	private string
}

func TestWriteCSV(t *testing.T) {
	callee := "+44 20 7946 0018"
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	rows := []csvRow{
		{ID: 1, Caller: "+39061234588", Callee: &callee, Agent: "Maria Rossi", Card: "4111111111111111", Secret: "x", Score: 0.5, OK: true, Count: 3, At: at, private: "p"},
		{ID: 2, Caller: "06 1234 5588"},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteCSV(&buf, ForViewer(false), rows))
	assert.Equal(t, "ID,caller,callee,Agent,Card,Score,OK,Count,At,Ended\n"+
		"1,'+39*******88,'+44 ** **** **18,M. R.,************1111,0.5,true,3,2025-01-02T03:04:05Z,\n"+
		"2,** **** **88,,,,0,false,0,0001-01-01T00:00:00Z,\n", buf.String())

	buf.Reset()
	require.NoError(t, WriteCSV(&buf, ForViewer(false), []*csvRow{{ID: 3, Caller: "+39061234588"}, nil}))
	assert.Equal(t, "ID,caller,callee,Agent,Card,Score,OK,Count,At,Ended\n"+
		"3,'+39*******88,,,,0,false,0,0001-01-01T00:00:00Z,\n"+
		",,,,,,,,,\n", buf.String())
}

type csvNested struct {
	ID    int
	Agent testAgent
}

type failingText struct{}

func (failingText) MarshalText() ([]byte, error) { return nil, errors.New("boom") }

func TestWriteCSVErrors(t *testing.T) {
	var buf bytes.Buffer
	err := WriteCSV(&buf, ForViewer(false), []csvNested{{ID: 1}})
	assert.ErrorIs(t, err, ErrUnsupportedType)
	var pe *PlanError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "Agent", pe.Field)
	assert.Zero(t, buf.Len(), "nothing written before the type is checked")

	assert.ErrorIs(t, WriteCSV(&buf, ForViewer(true), []badUnknown{{}}), ErrUnknownKind)
	assert.ErrorIs(t, WriteCSV(&buf, ForViewer(false), []string{"+39061234588"}), ErrUnsupportedType)

	type withFailing struct{ F failingText }
	err = WriteCSV(&buf, ForViewer(false), []withFailing{{}})
	assert.ErrorContains(t, err, "boom")
}

// csvContact is a struct column formatted by its MarshalText method, which
// must run on the masked copy: its tagged field is masked as in JSON.
type csvContact struct {
	Phone string `mask:"phone"`
}

func (c csvContact) MarshalText() ([]byte, error) { return []byte(c.Phone), nil }

// csvPtrContact has a pointer-receiver MarshalText.
type csvPtrContact struct {
	Email string `mask:"email"`
}

func (c *csvPtrContact) MarshalText() ([]byte, error) { return []byte(c.Email), nil }

type csvContactRow struct {
	ID       int
	Contact  csvContact
	PContact *csvContact
	Mail     csvPtrContact
	Raw      csvContact `mask:"none"`
}

func TestWriteCSVTextMarshalerMasked(t *testing.T) {
	c := csvContact{Phone: "+390612345588"}
	rows := []csvContactRow{{ID: 1, Contact: c, PContact: &c, Mail: csvPtrContact{Email: "john@example.com"}, Raw: c}}
	var buf bytes.Buffer
	require.NoError(t, WriteCSV(&buf, ForViewer(false), rows))
	assert.Equal(t, "ID,Contact,PContact,Mail,Raw\n"+
		"1,'+39********88,'+39********88,j***@example.com,'+39********88\n", buf.String())
	assert.Equal(t, "+390612345588", rows[0].Contact.Phone, "the records are not modified")
	assert.Equal(t, "+390612345588", rows[0].PContact.Phone)

	js, err := ForViewer(false).JSON(rows[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"ID":1,"Contact":"+39********88","PContact":"+39********88",`+
		`"Mail":{"Email":"j***@example.com"},"Raw":"+39********88"}`, string(js), "CSV masks as JSON does")

	buf.Reset()
	require.NoError(t, WriteCSV(&buf, ForViewer(false), []*csvContactRow{&rows[0], nil}))
	assert.Equal(t, "ID,Contact,PContact,Mail,Raw\n"+
		"1,'+39********88,'+39********88,j***@example.com,'+39********88\n,,,,\n", buf.String())

	buf.Reset()
	require.NoError(t, WriteCSV(&buf, ForViewer(true), rows))
	assert.Equal(t, "ID,Contact,PContact,Mail,Raw\n"+
		"1,'+390612345588,'+390612345588,john@example.com,'+390612345588\n", buf.String(), "a revealing Masker exports unmasked")
}
