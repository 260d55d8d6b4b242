package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Defaults of [WriterOptions].
const (
	DefaultQueueSize     = 10000
	DefaultBatchSize     = 500
	DefaultFlushInterval = 50 * time.Millisecond
	DefaultMaxBlock      = time.Second
	DefaultRetryMin      = 100 * time.Millisecond
	DefaultRetryMax      = 30 * time.Second
)

// Errors of [Writer.Enqueue] and [Writer.Close].
var (
	// ErrQueueFull: the queue stayed full for MaxBlock; the event was not accepted.
	// The store is slower than the event rate, or unavailable.
	ErrQueueFull = errors.New("audit: queue full")
	// ErrClosed: the Writer is closed (or closing) and accepts no more events.
	ErrClosed = errors.New("audit: writer closed")
	// ErrNotFlushed is wrapped by the *[NotFlushedError] of a Close that ran out of
	// time.
	ErrNotFlushed = errors.New("audit: events not written")
)

// NotFlushedError is returned by [Writer.Close] when its context ends before every
// accepted event is stored. Events holds those events, so that the program can keep them
// elsewhere (a local file, its log) before it exits; some of them may have been stored
// by an Append whose outcome was cut short.
type NotFlushedError struct {
	Remaining int
	Events    []Event
	Err       error // the context's error
}

// Error says how many events were not written.
func (e *NotFlushedError) Error() string {
	return fmt.Sprintf("audit: %d events not written: %v", e.Remaining, e.Err)
}

// Unwrap makes errors.Is true for ErrNotFlushed and for the context's error.
func (e *NotFlushedError) Unwrap() []error { return []error{ErrNotFlushed, e.Err} }

// WriterOptions configure a [Writer]. The zero value is valid; each zero field takes
// the default named.
type WriterOptions struct {
	// QueueSize bounds the events accepted but not yet stored. If zero,
	// DefaultQueueSize.
	QueueSize int
	// BatchSize bounds the events stored by one Append (one transaction). If zero,
	// DefaultBatchSize.
	BatchSize int
	// FlushInterval is how long the writer waits for a batch to fill before it
	// stores a partial one: the most a quiet period delays an event. If zero,
	// DefaultFlushInterval; if negative, the writer stores whatever is queued as soon
	// as it can (events still group while a previous Append runs).
	FlushInterval time.Duration
	// MaxBlock is how long Enqueue waits for room in a full queue before it returns
	// ErrQueueFull: the backpressure that slows producers down to the store's pace.
	// If zero, DefaultMaxBlock; if negative, Enqueue never waits.
	MaxBlock time.Duration
	// RetryMin and RetryMax bound the wait between attempts to store a batch after a
	// failure: it doubles from RetryMin up to RetryMax, each wait drawn at random
	// from its upper half so that instances do not retry in step. If zero,
	// DefaultRetryMin and DefaultRetryMax.
	RetryMin, RetryMax time.Duration
	// Clock gives events without a Time their time, when they are enqueued. If nil,
	// time.Now.
	Clock func() time.Time
	// After returns a channel that receives once d has passed; the writer waits with
	// it (flush interval, retry backoff). If nil, time.After. Tests inject it.
	After func(d time.Duration) <-chan time.Time
	// Mirror, if not nil, receives every event once it is stored (see [LogEvent]).
	Mirror *slog.Logger
	// Logger receives the writer's own warnings: failed attempts that will be
	// retried, and events the store refused. If nil, slog.Default().
	Logger *slog.Logger
	// OnRefused, if not nil, is called with every event that was accepted but that the
	// store refused for good (counted in Stats.Refused, and logged to Logger): an event
	// it considers invalid (the error wraps ErrInvalidEvent), one whose ID is stored
	// already with other content, or one the store keeps calling a duplicate although
	// a lookup of the event's tenant does not find its ID, which retrying would not
	// change (both wrap ErrDuplicateEvent).
	OnRefused func(e Event, err error)
}

// Stats are a [Writer]'s counters, since it was created.
type Stats struct {
	// Queued is the number of accepted events not yet stored (in the queue or in a
	// batch being written).
	Queued int64
	// Written is the number of events stored.
	Written int64
	// Retried counts events of batches whose Append failed and was attempted again;
	// an event retried three times counts three.
	Retried int64
	// Refused is the number of events not stored: refused by Enqueue (invalid,
	// queue full, closed), whose caller got the error, or accepted and then refused
	// for good by the store (see WriterOptions.OnRefused).
	Refused int64
}

// Writer stores events asynchronously, for high-volume streams such as the action log
// of every API call: [Writer.Enqueue] validates an event and queues it, and one
// goroutine stores the queue in batches, one Append (one transaction, one lock of each
// tenant's chain head) per batch of up to BatchSize events: group commit.
//
// Nothing is dropped silently. Enqueue either accepts an event or returns an error; a
// full queue makes it wait up to MaxBlock and then return [ErrQueueFull]. An accepted
// event is retried with backoff until it is stored, however long the store is down,
// unless the store refuses it for good: then it is counted in Stats.Refused, logged,
// and passed to WriterOptions.OnRefused. [Writer.Close] flushes the queue, and reports
// the events it could not store before its context ended. [Writer.Stats] counts what
// was written, retried and refused.
//
// Use [Recorder.Record] instead for events the caller must know are stored (a
// security-relevant change that is refused if it cannot be recorded).
type Writer struct {
	store     Store
	clock     func() time.Time
	after     func(time.Duration) <-chan time.Time
	batchSize int
	linger    time.Duration
	maxBlock  time.Duration
	retryMin  time.Duration
	retryMax  time.Duration
	mirror    *slog.Logger
	logger    *slog.Logger
	onRefused func(Event, error)

	queue chan Event

	// mu guards closed and the start of every Enqueue, so that Close can wait for
	// the Enqueues in progress (enqueuing) before it tells the loop to drain.
	mu        sync.Mutex
	closed    bool
	enqueuing sync.WaitGroup
	closing   chan struct{} // closed by Close: wakes blocked Enqueues
	drain     chan struct{} // closed once no Enqueue can add to the queue
	done      chan struct{} // closed when the loop has returned

	ctx    context.Context // the loop's context, cancelled when Close gives up
	cancel context.CancelFunc

	// leftover holds the events the loop could not store when it was cancelled;
	// read after done is closed.
	leftover []Event

	queued, written, retried, refused atomic.Int64
}

// NewWriter returns a Writer storing to store and starts its goroutine; call
// [Writer.Close] to flush and stop it.
func NewWriter(store Store, opts WriterOptions) *Writer {
	w := &Writer{
		store:     store,
		clock:     opts.Clock,
		after:     opts.After,
		batchSize: opts.BatchSize,
		linger:    opts.FlushInterval,
		maxBlock:  opts.MaxBlock,
		retryMin:  opts.RetryMin,
		retryMax:  opts.RetryMax,
		mirror:    opts.Mirror,
		logger:    opts.Logger,
		onRefused: opts.OnRefused,
		closing:   make(chan struct{}),
		drain:     make(chan struct{}),
		done:      make(chan struct{}),
	}
	if w.clock == nil {
		w.clock = time.Now
	}
	if w.after == nil {
		w.after = time.After
	}
	if w.batchSize <= 0 {
		w.batchSize = DefaultBatchSize
	}
	if w.linger == 0 {
		w.linger = DefaultFlushInterval
	}
	if w.maxBlock == 0 {
		w.maxBlock = DefaultMaxBlock
	}
	if w.retryMin <= 0 {
		w.retryMin = DefaultRetryMin
	}
	if w.retryMax <= 0 {
		w.retryMax = DefaultRetryMax
	}
	w.retryMax = max(w.retryMax, w.retryMin)
	if w.logger == nil {
		w.logger = slog.Default()
	}
	size := opts.QueueSize
	if size <= 0 {
		size = DefaultQueueSize
	}
	w.queue = make(chan Event, size)
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.loop()
	return w
}

// Enqueue prepares e (see [Prepare]) and queues it for storing. An invalid event is an
// *[InvalidEventError] at once. If the queue is full, Enqueue waits up to MaxBlock for
// room and then returns [ErrQueueFull]; after Close it returns [ErrClosed]. An event
// for which Enqueue returns nil will be stored, or reported by Close.
func (w *Writer) Enqueue(e Event) error {
	if err := Prepare(&e, w.clock()); err != nil {
		w.refused.Add(1)
		return err
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.refused.Add(1)
		return ErrClosed
	}
	w.enqueuing.Add(1)
	w.mu.Unlock()
	defer w.enqueuing.Done()

	w.queued.Add(1) // before the send, so that Queued never goes negative
	select {
	case w.queue <- e:
		return nil
	default:
	}
	var err error
	if w.maxBlock < 0 {
		err = ErrQueueFull
	} else {
		select {
		case w.queue <- e:
			return nil
		case <-w.after(w.maxBlock):
			err = ErrQueueFull
		case <-w.closing:
			err = ErrClosed
		}
	}
	w.queued.Add(-1)
	w.refused.Add(1)
	return err
}

// Stats returns the writer's counters.
func (w *Writer) Stats() Stats {
	return Stats{
		Queued:  w.queued.Load(),
		Written: w.written.Load(),
		Retried: w.retried.Load(),
		Refused: w.refused.Load(),
	}
}

// Close stops accepting events, stores every event accepted so far (retrying through
// store failures) and stops the writer's goroutine. If ctx ends first, Close cancels
// the write in progress and returns a *[NotFlushedError] with the events not stored.
// Close may be called more than once; later calls wait like the first.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	first := !w.closed
	if first {
		w.closed = true
		close(w.closing)
	}
	w.mu.Unlock()
	if first {
		w.enqueuing.Wait() // Enqueues in progress finish at once: closing is closed
		close(w.drain)
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel()
		<-w.done
	}
	if len(w.leftover) > 0 {
		err := ctx.Err()
		if err == nil {
			err = context.Canceled
		}
		return &NotFlushedError{Remaining: len(w.leftover), Events: w.leftover, Err: err}
	}
	return nil
}

// loop collects batches from the queue and stores them until Close has drained the
// queue or given up.
func (w *Writer) loop() {
	defer close(w.done)
	batch := make([]Event, 0, w.batchSize)
	draining := false
	for {
		if len(batch) == 0 {
			if draining {
				select {
				case e := <-w.queue:
					batch = append(batch, e)
				default:
					return // drained: no Enqueue can add more
				}
			} else {
				select {
				case e := <-w.queue:
					batch = append(batch, e)
				case <-w.drain:
					draining = true
					continue
				}
			}
		}
		batch, draining = w.fill(batch, draining)
		if left := w.write(batch); left != nil {
			w.abandon(left)
			return
		}
		batch = batch[:0]
	}
}

// fill adds queued events to batch until it is full, the queue is empty and the flush
// interval has passed since the batch began, or the writer is draining and the queue is
// empty.
func (w *Writer) fill(batch []Event, draining bool) ([]Event, bool) {
	var timer <-chan time.Time
	for len(batch) < w.batchSize {
		select {
		case e := <-w.queue:
			batch = append(batch, e)
			continue
		default:
		}
		if draining || w.linger < 0 {
			return batch, draining
		}
		if timer == nil {
			timer = w.after(w.linger)
		}
		select {
		case e := <-w.queue:
			batch = append(batch, e)
		case <-timer:
			return batch, draining
		case <-w.drain:
			draining = true
		case <-w.ctx.Done():
			return batch, draining
		}
	}
	return batch, draining
}

// errDuplicateNotFound refuses an event that the store keeps reporting as a duplicate
// while a lookup of its tenant's events does not find its ID: a store whose duplicate
// check is wider than its lookup, or that misbehaves. Retrying would never end.
var errDuplicateNotFound = fmt.Errorf("%w: reported by the store, but not found among its tenant's events", ErrDuplicateEvent)

// part is a part of a batch that write has yet to settle.
type part struct {
	events []Event
	// unfound is set when every event was reported as a duplicate and then not found
	// by a lookup: the part is being tried again, and the store must not answer
	// "duplicate" a second time without a lookup finding something new.
	unfound bool
}

// write stores batch, retrying failed Appends with backoff until they succeed. Events
// the store refuses for good are refused one by one (counted, logged, reported to
// OnRefused) and the rest stored. It returns the events it could not settle before
// the writer was cancelled (nil when it settled them all).
//
// A batch refused as invalid is split in halves until the invalid events stand alone.
// A batch refused for a duplicate ID goes through dedupe, and the events not found
// stored are tried again once; if the store then calls them duplicates again and the
// lookups still find none of them, they are split in halves too, and an event left
// alone is refused with errDuplicateNotFound. write works through a stack of parts,
// not by recursion, and each step stores a part, refuses events, settles some by
// lookup, or splits a part, so it ends after O(len(batch)) Appends whatever the
// store answers.
func (w *Writer) write(batch []Event) []Event {
	s := settlement{w: w}
	todo := []part{{events: batch}}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		err := w.appendBatch(p.events)
		switch {
		case err == nil:
			s.stored(p.events)
		case w.ctx.Err() != nil:
			return s.left(p.events, todo)
		case errors.Is(err, ErrDuplicateEvent):
			// Some events may be stored already: an earlier attempt whose commit
			// was acknowledged too late, or an ID enqueued twice. Sort them out.
			missing, left := s.dedupe(p.events)
			switch {
			case left != nil:
				return s.left(left, todo)
			case len(missing) == 0:
			case !p.unfound || len(missing) < len(p.events):
				todo = append(todo, part{events: missing, unfound: true})
			case len(missing) == 1:
				s.refuse(missing[0], errDuplicateNotFound)
			default:
				todo = pushHalves(todo, missing, true)
			}
		case errors.Is(err, ErrInvalidEvent):
			if len(p.events) == 1 {
				s.refuse(p.events[0], err)
			} else {
				todo = pushHalves(todo, p.events, p.unfound)
			}
		}
	}
	return nil
}

// pushHalves pushes the halves of events on the stack todo, the first half on top so
// that it is stored first.
func pushHalves(todo []part, events []Event, unfound bool) []part {
	half := len(events) / 2
	return append(todo, part{events: events[half:], unfound: unfound}, part{events: events[:half], unfound: unfound})
}

// appendBatch stores events with one Append, retrying any failure but a refusal
// (ErrDuplicateEvent, ErrInvalidEvent) with backoff. It returns nil, the refusal, or
// an error once the writer is cancelled.
func (w *Writer) appendBatch(events []Event) error {
	for attempt := 0; ; attempt++ {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		err := w.store.Append(w.ctx, events...)
		if err == nil || w.ctx.Err() != nil || errors.Is(err, ErrDuplicateEvent) || errors.Is(err, ErrInvalidEvent) {
			return err
		}
		w.retried.Add(int64(len(events)))
		wait := w.backoff(attempt)
		w.logger.LogAttrs(w.ctx, slog.LevelWarn, "audit: storing events failed; retrying",
			slog.Int("events", len(events)), slog.Duration("wait", wait), slog.String("error", err.Error()))
		select {
		case <-w.after(wait):
		case <-w.ctx.Done():
			return w.ctx.Err()
		}
	}
}

// settlement is the bookkeeping of one write: the later copies of events whose ID
// was repeated in the batch, which wait for the outcome of their first copy.
type settlement struct {
	w       *Writer
	keys    [][2]uuid.UUID // of copies, in the order they began to wait
	waiting map[[2]uuid.UUID][]Event
}

func keyOf(e *Event) [2]uuid.UUID { return [2]uuid.UUID{e.Tenant, e.ID} }

// stored counts events as stored, and settles their waiting copies against them.
func (s *settlement) stored(events []Event) {
	s.w.stored(events)
	for i := range events {
		s.settle(&events[i])
	}
}

// refuse refuses e, and its waiting copies with it.
func (s *settlement) refuse(e Event, err error) {
	s.w.refuse(e, err)
	k := keyOf(&e)
	for _, c := range s.waiting[k] {
		s.w.refuse(c, err)
	}
	delete(s.waiting, k)
}

// settle settles the waiting copies of ref's tenant and ID, ref being the event stored
// with them: a copy with the same content counts as written, one with other content is
// refused.
func (s *settlement) settle(ref *Event) {
	k := keyOf(ref)
	for _, c := range s.waiting[k] {
		s.check(ref, c)
	}
	delete(s.waiting, k)
}

// check counts e as written if ref, the event stored with its ID, has the same
// content, and refuses it otherwise.
func (s *settlement) check(ref *Event, e Event) {
	if sameContent(ref, &e) {
		s.w.stored([]Event{e})
	} else {
		s.w.refuse(e, fmt.Errorf("%w: stored with other content", ErrDuplicateEvent))
	}
}

// wait keeps e, a later copy of an event not stored yet, until its first copy is
// settled.
func (s *settlement) wait(e Event) {
	k := keyOf(&e)
	if s.waiting == nil {
		s.waiting = make(map[[2]uuid.UUID][]Event)
	}
	if _, ok := s.waiting[k]; !ok {
		s.keys = append(s.keys, k)
	}
	s.waiting[k] = append(s.waiting[k], e)
}

// left returns what the write could not settle: first, the parts still to do (in
// order), and the copies still waiting.
func (s *settlement) left(first []Event, todo []part) []Event {
	out := slices.Clone(first)
	for i := len(todo) - 1; i >= 0; i-- {
		out = append(out, todo[i].events...)
	}
	for _, k := range s.keys {
		out = append(out, s.waiting[k]...)
	}
	return out
}

// dedupe sorts out events refused for a duplicate event ID. The events are grouped by
// tenant and ID (an event may have been enqueued twice) and each ID is looked up. A
// copy whose stored event has the same content counts as written (an earlier attempt
// committed it: Append is all or none, and a commit's acknowledgement can be lost);
// one with other content is refused. dedupe returns the first copy of each ID not
// stored, for write to store again; the later copies wait for it. If the writer is
// cancelled during a lookup, it returns the events not settled as left.
func (s *settlement) dedupe(events []Event) (missing, left []Event) {
	groups := make(map[[2]uuid.UUID][]int, len(events))
	var keys [][2]uuid.UUID
	for i := range events {
		k := keyOf(&events[i])
		if _, seen := groups[k]; !seen {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	for n, k := range keys {
		idx := groups[k]
		got, err := s.w.lookup(&events[idx[0]])
		if err != nil { // cancelled: everything not settled yet is left over
			left = slices.Clone(missing)
			for _, k := range keys[n:] {
				for _, i := range groups[k] {
					left = append(left, events[i])
				}
			}
			return nil, left
		}
		if got != nil {
			for _, i := range idx {
				s.check(got, events[i])
			}
			s.settle(got)
			continue
		}
		missing = append(missing, events[idx[0]])
		for _, i := range idx[1:] {
			s.wait(events[i])
		}
	}
	return missing, nil
}

// lookup returns the stored event with e's ID, or nil if there is none. It retries
// a failing store until the writer is cancelled.
func (w *Writer) lookup(e *Event) (*Event, error) {
	for attempt := 0; ; attempt++ {
		got, err := w.store.Events(w.ctx, e.Tenant, Query{ID: e.ID, Limit: 1})
		switch {
		case err == nil && len(got) == 0:
			return nil, nil
		case err == nil:
			return &got[0], nil
		case w.ctx.Err() != nil:
			return nil, w.ctx.Err()
		}
		select {
		case <-w.after(w.backoff(attempt)):
		case <-w.ctx.Done():
			return nil, w.ctx.Err()
		}
	}
}

// stored counts and mirrors stored events.
func (w *Writer) stored(batch []Event) {
	w.written.Add(int64(len(batch)))
	w.queued.Add(-int64(len(batch)))
	if w.mirror != nil {
		for i := range batch {
			LogEvent(w.ctx, w.mirror, &batch[i])
		}
	}
}

// refuse counts and reports an event the store refused for good.
func (w *Writer) refuse(e Event, err error) {
	w.refused.Add(1)
	w.queued.Add(-1)
	w.logger.LogAttrs(w.ctx, slog.LevelError, "audit: event refused by the store",
		slog.String("error", err.Error()), slog.Attr{Key: MirrorGroup, Value: slog.GroupValue(eventAttrs(&e)...)})
	if w.onRefused != nil {
		w.onRefused(e, err)
	}
}

// abandon keeps the events the loop could not store, with whatever is still queued,
// for Close to report. They stay counted in Stats.Queued.
func (w *Writer) abandon(left []Event) {
	out := make([]Event, 0, len(left)+len(w.queue))
	out = append(out, left...)
	for {
		select {
		case e := <-w.queue:
			out = append(out, e)
			continue
		default:
		}
		break
	}
	w.leftover = out
}

// backoff returns the wait before retry attempt+1: RetryMin doubled attempt times,
// capped at RetryMax, drawn at random from its upper half.
func (w *Writer) backoff(attempt int) time.Duration {
	d := w.retryMax
	if attempt < 30 {
		if b := w.retryMin << attempt; b > 0 && b < w.retryMax {
			d = b
		}
	}
	return d/2 + rand.N(d/2+1)
}
