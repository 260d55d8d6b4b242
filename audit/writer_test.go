package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var quiet = slog.New(slog.DiscardHandler)

// timers is an injected WriterOptions.After: each wait is sent to the test, which
// fires it when it chooses. Nothing in the writer tests sleeps.
type timers struct{ reqs chan timer }

type timer struct {
	d    time.Duration
	fire chan time.Time
}

func newTimers() *timers { return &timers{reqs: make(chan timer)} }

func (tm *timers) After(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	tm.reqs <- timer{d: d, fire: c}
	return c
}

// next waits for the writer's next wait, with a deadline so that a broken writer fails
// the test instead of hanging it.
func (tm *timers) next(t *testing.T) timer {
	t.Helper()
	select {
	case w := <-tm.reqs:
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not wait")
		return timer{}
	}
}

// flakyStore wraps a store: while down, Append fails without storing; with
// lostAcks > 0, Append stores and then reports a failure (a commit whose
// acknowledgement was lost); gate, if set, holds the first Append until closed.
type flakyStore struct {
	audit.Store
	mu       sync.Mutex
	down     bool
	lostAcks int
	gate     chan struct{}
	gated    bool // the gate held an Append already
	entered  chan struct{}
	batches  []int // sizes of the Appends that reached the inner store
	calls    atomic.Int64
}

var errOutage = errors.New("connection refused")

func (s *flakyStore) Append(ctx context.Context, events ...audit.Event) error {
	s.calls.Add(1)
	s.mu.Lock()
	gate := s.gate
	if s.gated {
		gate = nil
	}
	s.gated = true
	s.mu.Unlock()
	if gate != nil {
		close(s.entered)
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errOutage
	}
	if err := s.Store.Append(ctx, events...); err != nil {
		return err
	}
	s.batches = append(s.batches, len(events))
	if s.lostAcks > 0 {
		s.lostAcks--
		return errors.New("connection reset by peer after COMMIT")
	}
	return nil
}

func (s *flakyStore) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// newFlaky returns a flakyStore over a memory store, its first Append held at the gate.
func newFlaky() (*flakyStore, *memory.Store) {
	m := memory.New(memory.Options{})
	return &flakyStore{Store: m, gate: make(chan struct{}), entered: make(chan struct{})}, m
}

var tenantA = uuid.MustParse("0190a0b1-0000-7000-8000-0000000000aa")

// action returns an action-log event numbered n.
func action(n int) audit.Event {
	return audit.Event{Tenant: tenantA, Kind: audit.KindAction, Action: "http.request", Outcome: audit.Success,
		Details: map[string]string{"url": fmt.Sprintf("/api/calls/%d", n)}}
}

// stored returns every event of tenantA.
func stored(t *testing.T, s audit.Store) []audit.Event {
	t.Helper()
	var out []audit.Event
	for e, err := range audit.All(context.Background(), s, tenantA, audit.Query{}) {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

// urls returns the url detail of each event.
func urls(evs []audit.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].Details["url"]
	}
	return out
}

func wantURLs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("/api/calls/%d", i))
	}
	return out
}

// TestWriterSurvivesAnOutage: events enqueued before the store goes down, and while it
// is down, are all written once it recovers, in order, none lost and none twice; the
// writer retries with doubling, capped backoff.
func TestWriterSurvivesAnOutage(t *testing.T) {
	fs, mem := newFlaky()
	tm := newTimers()
	w := audit.NewWriter(fs, audit.WriterOptions{BatchSize: 10, FlushInterval: -1, QueueSize: 100,
		RetryMin: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond, After: tm.After, Logger: quiet})

	// Before the outage: the writer takes event 0 and is held in its first Append
	// while events 1-9 queue up behind it.
	require.NoError(t, w.Enqueue(action(0)))
	<-fs.entered
	for i := 1; i < 10; i++ {
		require.NoError(t, w.Enqueue(action(i)))
	}
	fs.setDown(true)
	close(fs.gate)

	// During the outage: each failure waits a backoff drawn from the upper half of
	// RetryMin doubled per attempt, capped at RetryMax.
	bounds := [][2]time.Duration{{50, 100}, {100, 200}, {200, 400}, {200, 400}, {200, 400}}
	for i, b := range bounds {
		wait := tm.next(t)
		assert.GreaterOrEqual(t, wait.d, b[0]*time.Millisecond, "wait %d", i)
		assert.LessOrEqual(t, wait.d, b[1]*time.Millisecond, "wait %d", i)
		for j := range 2 {
			require.NoError(t, w.Enqueue(action(10+2*i+j)))
		}
		if i == len(bounds)-1 {
			fs.setDown(false)
		}
		wait.fire <- time.Time{}
	}
	require.NoError(t, w.Close(context.Background()))

	got := stored(t, mem)
	assert.Equal(t, wantURLs(0, 20), urls(got), "every event once, in the order enqueued")
	st := w.Stats()
	assert.Equal(t, int64(20), st.Written)
	assert.Equal(t, int64(5), st.Retried, "the one-event batch failed five times")
	assert.Zero(t, st.Queued)
	assert.Zero(t, st.Refused)
	assert.Equal(t, []int{1, 10, 9}, fs.batches, "group commit: what queued during the outage goes in full batches")
}

// TestWriterCountsALostAcknowledgementAsWritten: an Append that committed but reported
// a failure is retried; the retry finds the IDs stored (ErrDuplicateEvent), checks that
// the stored events are the same, and counts them written without storing them twice.
func TestWriterCountsALostAcknowledgementAsWritten(t *testing.T) {
	fs, mem := newFlaky()
	fs.gate = nil
	fs.lostAcks = 1
	tm := newTimers()
	w := audit.NewWriter(fs, audit.WriterOptions{BatchSize: 50, FlushInterval: -1, After: tm.After, Logger: quiet})
	for i := range 5 {
		require.NoError(t, w.Enqueue(action(i)))
	}
	tm.next(t).fire <- time.Time{} // the backoff after the "failed" commit
	require.NoError(t, w.Close(context.Background()))

	got := stored(t, mem)
	assert.ElementsMatch(t, wantURLs(0, 5), urls(got), "stored once each")
	assert.Len(t, got, 5)
	st := w.Stats()
	assert.Equal(t, int64(5), st.Written)
	assert.Zero(t, st.Refused)
	assert.Zero(t, st.Queued)
	assert.Positive(t, st.Retried)
}

// TestWriterRefusesADuplicateIDWithOtherContent: an event whose ID is stored with
// other content is refused (reported, counted), and the rest of its batch is stored.
func TestWriterRefusesADuplicateIDWithOtherContent(t *testing.T) {
	mem := memory.New(memory.Options{})
	taken := action(99)
	require.NoError(t, audit.Prepare(&taken, time.Now()))
	require.NoError(t, mem.Append(context.Background(), taken))

	var refused []audit.Event
	w := audit.NewWriter(mem, audit.WriterOptions{FlushInterval: -1, Logger: quiet,
		OnRefused: func(e audit.Event, err error) {
			assert.ErrorIs(t, err, audit.ErrDuplicateEvent)
			refused = append(refused, e)
		}})
	clash := action(1)
	clash.ID = taken.ID
	replay := taken // the same event enqueued again: stored already, counted written
	require.NoError(t, w.Enqueue(action(0)))
	require.NoError(t, w.Enqueue(clash))
	require.NoError(t, w.Enqueue(replay))
	require.NoError(t, w.Enqueue(action(2)))
	require.NoError(t, w.Close(context.Background()))

	got := stored(t, mem)
	assert.ElementsMatch(t, []string{"/api/calls/99", "/api/calls/0", "/api/calls/2"}, urls(got))
	if assert.Len(t, refused, 1) {
		assert.Equal(t, "/api/calls/1", refused[0].Details["url"])
	}
	assert.Equal(t, audit.Stats{Written: 3, Refused: 1}, w.Stats())
}

// invalidStore refuses any event whose url detail is "/bad" as invalid, as a store
// with stricter rules than Prepare might.
type invalidStore struct{ audit.Store }

func (s invalidStore) Append(ctx context.Context, events ...audit.Event) error {
	for _, e := range events {
		if e.Details["url"] == "/bad" {
			return &audit.InvalidEventError{Field: "Details", Reason: "refused by the store"}
		}
	}
	return s.Store.Append(ctx, events...)
}

func TestWriterIsolatesAnEventTheStoreRefuses(t *testing.T) {
	mem := memory.New(memory.Options{})
	var refused int
	w := audit.NewWriter(invalidStore{mem}, audit.WriterOptions{BatchSize: 16, FlushInterval: -1, Logger: quiet,
		OnRefused: func(audit.Event, error) { refused++ }})
	for i := range 16 {
		e := action(i)
		if i == 11 {
			e.Details["url"] = "/bad"
		}
		require.NoError(t, w.Enqueue(e))
	}
	require.NoError(t, w.Close(context.Background()))
	got := stored(t, mem)
	assert.Len(t, got, 15)
	assert.NotContains(t, urls(got), "/bad")
	assert.Equal(t, 1, refused)
	assert.Equal(t, int64(15), w.Stats().Written)
	assert.Equal(t, int64(1), w.Stats().Refused)
}

func TestWriterEnqueueRefusesInvalidEventsAtOnce(t *testing.T) {
	w := audit.NewWriter(memory.New(memory.Options{}), audit.WriterOptions{Logger: quiet})
	defer w.Close(context.Background())
	err := w.Enqueue(audit.Event{Kind: audit.KindAction, Action: "x", Outcome: audit.Success})
	assert.ErrorIs(t, err, audit.ErrInvalidEvent, "no tenant")
	err = w.Enqueue(audit.Event{Tenant: tenantA, Kind: "Bad Kind", Action: "x", Outcome: audit.Success})
	assert.ErrorIs(t, err, audit.ErrInvalidEvent)
	assert.Equal(t, int64(2), w.Stats().Refused)
	assert.Zero(t, w.Stats().Queued)
}

// TestWriterBackpressure: with the store stuck and the queue full, Enqueue blocks for
// MaxBlock and then returns ErrQueueFull; nothing accepted is lost.
func TestWriterBackpressure(t *testing.T) {
	fs, mem := newFlaky()
	tm := newTimers()
	w := audit.NewWriter(fs, audit.WriterOptions{QueueSize: 3, BatchSize: 10, FlushInterval: -1,
		MaxBlock: 250 * time.Millisecond, After: tm.After, Logger: quiet})
	require.NoError(t, w.Enqueue(action(0)))
	<-fs.entered // the writer holds event 0; the queue is empty
	for i := 1; i <= 3; i++ {
		require.NoError(t, w.Enqueue(action(i)))
	}
	assert.Equal(t, int64(4), w.Stats().Queued)

	done := make(chan error)
	go func() { done <- w.Enqueue(action(4)) }()
	wait := tm.next(t)
	assert.Equal(t, 250*time.Millisecond, wait.d, "Enqueue waits MaxBlock for room")
	select {
	case err := <-done:
		t.Fatalf("Enqueue returned %v before MaxBlock passed", err)
	default:
	}
	wait.fire <- time.Time{}
	err := <-done
	assert.ErrorIs(t, err, audit.ErrQueueFull)
	assert.Equal(t, int64(1), w.Stats().Refused)

	close(fs.gate)
	require.NoError(t, w.Close(context.Background()))
	assert.Equal(t, wantURLs(0, 4), urls(stored(t, mem)))
	assert.Equal(t, audit.Stats{Written: 4, Refused: 1}, w.Stats())
}

func TestWriterWithNegativeMaxBlockNeverWaits(t *testing.T) {
	fs, _ := newFlaky()
	w := audit.NewWriter(fs, audit.WriterOptions{QueueSize: 1, FlushInterval: -1, MaxBlock: -1, Logger: quiet})
	require.NoError(t, w.Enqueue(action(0)))
	<-fs.entered
	require.NoError(t, w.Enqueue(action(1)))
	assert.ErrorIs(t, w.Enqueue(action(2)), audit.ErrQueueFull)
	close(fs.gate)
	require.NoError(t, w.Close(context.Background()))
}

// TestWriterCloseReportsWhatItCouldNotWrite: a Close whose context ends during an
// outage returns the events not written, and Enqueue is refused afterwards.
func TestWriterCloseReportsWhatItCouldNotWrite(t *testing.T) {
	fs, _ := newFlaky()
	fs.gate = nil
	fs.setDown(true)
	tm := newTimers()
	w := audit.NewWriter(fs, audit.WriterOptions{BatchSize: 2, FlushInterval: -1, After: tm.After, Logger: quiet})
	for i := range 5 {
		require.NoError(t, w.Enqueue(action(i)))
	}
	tm.next(t) // the writer is waiting to retry its first batch
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := w.Close(ctx)
	var nf *audit.NotFlushedError
	require.ErrorAs(t, err, &nf)
	assert.ErrorIs(t, err, audit.ErrNotFlushed)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 5, nf.Remaining)
	assert.Equal(t, wantURLs(0, 5), urls(nf.Events), "the events, in order, for the program to keep")
	assert.Contains(t, err.Error(), "5 events not written")
	assert.Equal(t, int64(5), w.Stats().Queued)
	assert.ErrorIs(t, w.Enqueue(action(9)), audit.ErrClosed)
	assert.ErrorAs(t, w.Close(context.Background()), &nf, "a second Close reports the same")
}

// TestWriterGroupsConcurrentEvents: many producers at once; every accepted event is
// stored exactly once and the chain verifies; batches hold many events.
func TestWriterGroupsConcurrentEvents(t *testing.T) {
	fs, mem := newFlaky()
	fs.gate = nil
	w := audit.NewWriter(fs, audit.WriterOptions{BatchSize: 100, QueueSize: 5000, Logger: quiet})
	const producers, each = 20, 100
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if err := w.Enqueue(action(p*each + i)); err == nil {
					accepted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, w.Close(context.Background()))
	got := stored(t, mem)
	assert.Equal(t, int(accepted.Load()), len(got))
	assert.Equal(t, int64(producers*each), accepted.Load())
	assert.ElementsMatch(t, wantURLs(0, producers*each), urls(got))
	assert.Less(t, fs.calls.Load(), int64(producers*each/10), "events were grouped into batches")
	res, err := audit.Verify(context.Background(), mem, audit.Chain{}, tenantA, time.Time{}, time.Time{})
	require.NoError(t, err)
	assert.True(t, res.OK())
}

// TestWriterCloseRacingEnqueue: Close while producers enqueue. Every Enqueue either
// returns an error or its event is stored: none is accepted and then dropped.
func TestWriterCloseRacingEnqueue(t *testing.T) {
	mem := memory.New(memory.Options{})
	w := audit.NewWriter(mem, audit.WriterOptions{BatchSize: 7, QueueSize: 50, Logger: quiet})
	var wg sync.WaitGroup
	var accepted atomic.Int64
	start := make(chan struct{})
	for p := range 8 {
		wg.Go(func() {
			<-start
			for i := range 200 {
				err := w.Enqueue(action(p*200 + i))
				if err == nil {
					accepted.Add(1)
				} else if !errors.Is(err, audit.ErrClosed) && !errors.Is(err, audit.ErrQueueFull) {
					t.Errorf("Enqueue: %v", err)
				}
			}
		})
	}
	close(start)
	require.NoError(t, w.Close(context.Background()))
	wg.Wait()
	assert.Equal(t, int(accepted.Load()), len(stored(t, mem)))
	assert.Equal(t, accepted.Load(), w.Stats().Written)
	assert.Equal(t, 1600-accepted.Load(), w.Stats().Refused)
}

// TestWriterWaitsForAFlushInterval: a partial batch waits for FlushInterval (or for
// Close) before it is written.
func TestWriterWaitsForAFlushInterval(t *testing.T) {
	mem := memory.New(memory.Options{})
	tm := newTimers()
	w := audit.NewWriter(mem, audit.WriterOptions{BatchSize: 10, FlushInterval: time.Second, After: tm.After, Logger: quiet})
	require.NoError(t, w.Enqueue(action(0)))
	linger := tm.next(t)
	assert.Equal(t, time.Second, linger.d)
	require.NoError(t, w.Enqueue(action(1)))
	assert.Empty(t, stored(t, mem), "nothing written before the interval")
	linger.fire <- time.Time{}
	require.NoError(t, w.Close(context.Background()))
	assert.Equal(t, wantURLs(0, 2), urls(stored(t, mem)))
}

func TestWriterMirrorsStoredEventsAndFillsTheBrowser(t *testing.T) {
	mem := memory.New(memory.Options{})
	var buf bytes.Buffer
	w := audit.NewWriter(mem, audit.WriterOptions{FlushInterval: -1, Logger: quiet,
		Mirror: slog.New(slog.NewJSONHandler(&buf, nil))})
	require.NoError(t, w.Enqueue(audit.Event{Tenant: tenantA, Kind: audit.KindLogin, Action: "login", Outcome: audit.Failure,
		Reason: "unknown_user", Actor: audit.Actor{UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}}))
	require.NoError(t, w.Close(context.Background()))
	got := stored(t, mem)
	require.Len(t, got, 1)
	assert.Equal(t, "Firefox", got[0].Details["browser"])
	assert.Equal(t, "128.0", got[0].Details["browser_version"])
	assert.Contains(t, buf.String(), `"msg":"audit event"`)
	assert.Contains(t, buf.String(), `"reason":"unknown_user"`)
	assert.Contains(t, buf.String(), `"browser":"Firefox"`)
}

// TestWriterSettlesAnEventEnqueuedTwiceInOneBatch: the same event enqueued twice lands
// in one batch, which the store refuses as a duplicate; the writer stores it once, and
// refuses a copy of its ID with other content.
func TestWriterSettlesAnEventEnqueuedTwiceInOneBatch(t *testing.T) {
	fs, mem := newFlaky()
	var refused int
	w := audit.NewWriter(fs, audit.WriterOptions{BatchSize: 10, FlushInterval: -1, Logger: quiet,
		OnRefused: func(audit.Event, error) { refused++ }})
	require.NoError(t, w.Enqueue(action(0)))
	<-fs.entered // the next events queue up behind event 0 and form one batch
	twice := action(1)
	require.NoError(t, audit.Prepare(&twice, time.Now()))
	other := action(2)
	other.ID = twice.ID
	require.NoError(t, w.Enqueue(twice))
	require.NoError(t, w.Enqueue(twice))
	require.NoError(t, w.Enqueue(other))
	require.NoError(t, w.Enqueue(action(3)))
	close(fs.gate)
	require.NoError(t, w.Close(context.Background()))
	assert.Equal(t, []string{"/api/calls/0", "/api/calls/1", "/api/calls/3"}, urls(stored(t, mem)))
	assert.Equal(t, 1, refused)
	assert.Equal(t, audit.Stats{Written: 4, Refused: 1}, w.Stats())
}

// appendGuard counts a store's Appends; past limit it fails the test and reports
// success without storing, so that a writer looping on the store ends (rather than
// overflowing its stack) and the test fails with a clear message.
type appendGuard struct {
	t       *testing.T
	limit   int64
	calls   atomic.Int64
	tripped atomic.Bool
}

func (g *appendGuard) exceeded() bool {
	if g.calls.Add(1) <= g.limit {
		return false
	}
	if !g.tripped.Swap(true) {
		g.t.Errorf("the writer called Append more than %d times: it loops on the store", g.limit)
	}
	return true
}

// phantomStore reports every Append as a duplicate and never finds the IDs: a store
// behaving badly, whose duplicate check is not what its lookup sees.
type phantomStore struct{ guard *appendGuard }

func (s *phantomStore) Append(context.Context, ...audit.Event) error {
	if s.guard.exceeded() {
		return nil
	}
	return fmt.Errorf("phantom: %w", audit.ErrDuplicateEvent)
}

func (s *phantomStore) Events(context.Context, uuid.UUID, audit.Query) ([]audit.Event, error) {
	return nil, nil
}

// globalIDStore checks event IDs store-wide, while its lookup is per tenant (as
// audit.Store requires): a duplicate check wider than the lookup.
type globalIDStore struct {
	audit.Store
	guard *appendGuard
	mu    sync.Mutex
	ids   map[uuid.UUID]bool
}

func (s *globalIDStore) Append(ctx context.Context, events ...audit.Event) error {
	if s.guard.exceeded() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[uuid.UUID]bool)
	for _, e := range events {
		if s.ids[e.ID] || seen[e.ID] {
			return fmt.Errorf("global: %w", audit.ErrDuplicateEvent)
		}
		seen[e.ID] = true
	}
	if err := s.Store.Append(ctx, events...); err != nil {
		return err
	}
	for id := range seen {
		s.ids[id] = true
	}
	return nil
}

// TestWriterRefusesDuplicatesTheStoreCannotFind: a store that reports a duplicate ID
// but does not find it for the event's tenant makes the writer neither recurse nor
// spin: it tries the events again once, then isolates and refuses those the store
// still calls duplicates (counted, logged, reported to OnRefused), stores the rest,
// and Close returns.
func TestWriterRefusesDuplicatesTheStoreCannotFind(t *testing.T) {
	tenantB := uuid.MustParse("0190a0b1-0000-7000-8000-0000000000bb")
	for _, c := range []struct {
		name string
		// store returns the store, and the events to enqueue with the urls of
		// those the writer must refuse.
		setup func(t *testing.T, g *appendGuard) (audit.Store, []audit.Event, []string)
		// written is the urls stored for tenant A, when the store keeps events.
		written []string
	}{
		{"always duplicate, never found", func(t *testing.T, g *appendGuard) (audit.Store, []audit.Event, []string) {
			var evs []audit.Event
			for i := range 20 {
				evs = append(evs, action(i))
			}
			// An event enqueued twice waits for its first copy, and is refused with it.
			require.NoError(t, audit.Prepare(&evs[3], time.Now()))
			evs = append(evs, evs[3])
			return &phantomStore{guard: g}, evs, append(wantURLs(0, 20), "/api/calls/3")
		}, nil},
		{"an ID of another tenant, checked store-wide", func(t *testing.T, g *appendGuard) (audit.Store, []audit.Event, []string) {
			s := &globalIDStore{Store: memory.New(memory.Options{}), guard: g, ids: map[uuid.UUID]bool{}}
			taken := action(99)
			require.NoError(t, audit.Prepare(&taken, time.Now()))
			require.NoError(t, s.Append(context.Background(), taken))
			clash := action(1)
			clash.Tenant, clash.ID = tenantB, taken.ID
			return s, []audit.Event{action(0), clash, action(2), action(3)}, []string{"/api/calls/1"}
		}, []string{"/api/calls/99", "/api/calls/0", "/api/calls/2", "/api/calls/3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := &appendGuard{t: t, limit: 200}
			store, evs, wantRefused := c.setup(t, g)
			var logs bytes.Buffer
			var mu sync.Mutex
			var refused []string
			w := audit.NewWriter(store, audit.WriterOptions{BatchSize: 8, FlushInterval: -1,
				Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
				OnRefused: func(e audit.Event, err error) {
					assert.ErrorIs(t, err, audit.ErrDuplicateEvent)
					mu.Lock()
					defer mu.Unlock()
					refused = append(refused, e.Details["url"])
				}})
			for _, e := range evs {
				require.NoError(t, w.Enqueue(e))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, w.Close(ctx), "Close returns, every event settled")

			assert.ElementsMatch(t, wantRefused, refused, "each event refused once, reported to OnRefused")
			n := int64(len(wantRefused))
			assert.Equal(t, audit.Stats{Written: int64(len(evs)) - n, Refused: n}, w.Stats())
			assert.Equal(t, len(wantRefused), strings.Count(logs.String(), "event refused by the store"), "logged:\n%s", logs.String())
			assert.LessOrEqual(t, g.calls.Load(), int64(3*len(evs)), "Appends are bounded by the events, not a loop")
			if c.written != nil {
				assert.ElementsMatch(t, c.written, urls(stored(t, store)), "the rest of each batch is stored")
			}
		})
	}
}
