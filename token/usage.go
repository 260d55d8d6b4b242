package token

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
)

// Usage counting. Each request made with a token adds one to its token's counter of
// the day (in the tenant's time zone) in process memory; the flusher writes the
// counters every FlushInterval with one AddUsage (additive upserts: several instances
// sum), and Close writes what is left. A failed flush keeps the counters for the next
// one, so nothing counted is lost while the process runs; what a crash loses is at
// most one FlushInterval of counts (the action log, written separately, keeps every
// request).

// civil is a calendar day, the counter's key; asDay is its one formatting as a Day.
type civil struct {
	year  int
	month time.Month
	day   int
}

// civilOf returns the calendar day of at in loc (UTC if loc is nil).
func civilOf(at time.Time, loc *time.Location) civil {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := at.In(loc).Date()
	return civil{y, m, d}
}

// asDay formats c as a Day, "2006-01-02".
func (c civil) asDay() Day {
	return Day(time.Date(c.year, c.month, c.day, 0, 0, 0, 0, time.UTC).Format(time.DateOnly))
}

type usageKey struct {
	tenant, token uuid.UUID
	day           civil
}

type usageCell struct {
	user             uuid.UUID
	requests, errors int64
	last             time.Time
}

type counter struct {
	mu sync.Mutex
	m  map[usageKey]*usageCell
}

func newCounter() *counter { return &counter{m: make(map[usageKey]*usageCell)} }

// add counts one request of token t at `at` (UTC) with the response status.
func (c *counter) add(t Token, loc *time.Location, at time.Time, status int) {
	k := usageKey{tenant: t.Tenant, token: t.ID, day: civilOf(at, loc)}
	c.mu.Lock()
	defer c.mu.Unlock()
	cell := c.m[k]
	if cell == nil {
		cell = &usageCell{user: t.User}
		c.m[k] = cell
	}
	cell.requests++
	if status >= 400 {
		cell.errors++
	}
	if at.After(cell.last) {
		cell.last = at
	}
}

// take empties the counter and returns its rows, sorted by tenant, token and day (the
// order in which stores lock them, so that concurrent flushes cannot deadlock).
func (c *counter) take() []Usage {
	c.mu.Lock()
	m := c.m
	c.m = make(map[usageKey]*usageCell, len(m))
	c.mu.Unlock()
	rows := make([]Usage, 0, len(m))
	for k, cell := range m {
		rows = append(rows, Usage{Tenant: k.tenant, Token: k.token, User: cell.user,
			Day:      k.day.asDay(),
			Requests: cell.requests, Errors: cell.errors, LastUsed: cell.last})
	}
	slices.SortFunc(rows, compareUsage)
	return rows
}

// putBack returns rows that could not be stored to the counter.
func (c *counter) putBack(rows []Usage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rows {
		t, _ := time.Parse(time.DateOnly, string(r.Day)) // the counter formatted it
		k := usageKey{tenant: r.Tenant, token: r.Token, day: civilOf(t, nil)}
		cell := c.m[k]
		if cell == nil {
			cell = &usageCell{user: r.User}
			c.m[k] = cell
		}
		cell.requests += r.Requests
		cell.errors += r.Errors
		if r.LastUsed.After(cell.last) {
			cell.last = r.LastUsed
		}
	}
}

// pending adds to rows (the stored ones of tenant and q) the counts not yet flushed
// of tenant within q, and returns them ordered by day, then token.
func (c *counter) pending(tenant uuid.UUID, q UsageQuery, rows []Usage) []Usage {
	type rowKey struct {
		token uuid.UUID
		day   Day
	}
	at := make(map[rowKey]int, len(rows))
	for i, r := range rows {
		at[rowKey{r.Token, r.Day}] = i
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, cell := range c.m {
		if k.tenant != tenant || (q.User != uuid.Nil && cell.user != q.User) {
			continue
		}
		day := k.day.asDay()
		if day < q.From || day > q.To {
			continue
		}
		i, ok := at[rowKey{k.token, day}]
		if !ok {
			i = len(rows)
			rows = append(rows, Usage{Tenant: tenant, Token: k.token, User: cell.user, Day: day})
		}
		rows[i].Requests += cell.requests
		rows[i].Errors += cell.errors
		if cell.last.After(rows[i].LastUsed) {
			rows[i].LastUsed = cell.last
		}
	}
	slices.SortFunc(rows, func(a, b Usage) int {
		if a.Day != b.Day {
			if a.Day < b.Day {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.Token[:], b.Token[:])
	})
	return rows
}

func compareUsage(a, b Usage) int {
	if c := bytes.Compare(a.Tenant[:], b.Tenant[:]); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Token[:], b.Token[:]); c != 0 {
		return c
	}
	switch {
	case a.Day < b.Day:
		return -1
	case a.Day > b.Day:
		return 1
	}
	return 0
}

// Flush writes the usage counted so far to the store, in one AddUsage. On failure the
// counts are kept for the next flush and the error is returned. It also hands the
// action log the ActionRefusals events of dead tokens' refusal windows that have ended
// (see [Service.Middleware]), and the ActionRegenerateRefusals events of refused
// regenerations (see [Service.Regenerate]). The flusher calls it every FlushInterval;
// call it yourself to bound what a crash may lose.
func (s *Service) Flush(ctx context.Context) error {
	return s.flush(ctx, false)
}

// flush is Flush; all (at Close) also logs the refusal windows still open.
func (s *Service) flush(ctx context.Context, all bool) error {
	now := s.opts.Clock()
	for _, ev := range s.refusals.take(now, all) {
		s.enqueue(ev)
	}
	for _, ev := range s.regenRefusals.take(now, all) {
		s.enqueue(ev)
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	rows := s.usage.take()
	if len(rows) == 0 {
		return nil
	}
	if err := s.store.AddUsage(ctx, rows); err != nil {
		s.usage.putBack(rows)
		return fmt.Errorf("token: flush usage: %w", err)
	}
	return nil
}

func (s *Service) flushLoop() {
	defer close(s.loopDone)
	for {
		select {
		case <-s.stop:
			return
		case <-s.opts.After(s.opts.FlushInterval):
		}
		if err := s.Flush(context.Background()); err != nil {
			s.opts.Logger.Warn("token: usage flush failed; the counts are kept for the next one", "err", err)
		}
		s.cache.sweep(s.opts.Clock())
	}
}

// Close stops the flusher and writes the usage counted so far. Call it after the HTTP
// server has stopped serving: requests counted after Close are not written. Close may
// be called more than once.
func (s *Service) Close(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	select {
	case <-s.loopDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.flush(ctx, true)
}

// ErrInvalidPeriod: a usage query whose days are malformed, reversed, or span more
// than MaxUsageDays.
var ErrInvalidPeriod = errors.New("token: invalid usage period")

// Usage returns the "API usage" report rows of q's period: per token per day,
// requests, errors and last use, ordered by day, then token. Users read their own
// (q.User is the actor); another user's, or the whole tenant's (q.User zero), needs
// UserManagement.
//
// The report includes this Service's counts not yet flushed, read from memory: it
// writes nothing, so reading it often costs no write (a host need not, and should not,
// Flush before it). Another instance's unflushed counts appear after its next flush
// (within its FlushInterval).
func (s *Service) Usage(ctx context.Context, actor access.Subject, q UsageQuery) ([]Usage, error) {
	if q.User != actor.User || actor.IsSystem() || q.User == uuid.Nil {
		if _, err := s.authorize(ctx, actor, access.UserManagement); err != nil {
			return nil, err
		}
	} else if !actor.Valid() {
		return nil, ErrForbidden
	}
	from, err1 := time.Parse(time.DateOnly, string(q.From))
	to, err2 := time.Parse(time.DateOnly, string(q.To))
	if err1 != nil || err2 != nil || to.Before(from) || to.Sub(from) > MaxUsageDays*24*time.Hour {
		return nil, ErrInvalidPeriod
	}
	q.From, q.To = Day(from.Format(time.DateOnly)), Day(to.Format(time.DateOnly))
	// Under flushMu no flush runs between the store read and the memory read, so a
	// count is in exactly one of them. Reports share it (RLock): only a flush waits
	// for them, and they do not wait for each other.
	s.flushMu.RLock()
	defer s.flushMu.RUnlock()
	rows, err := s.store.Usage(ctx, actor.Tenant, q)
	if err != nil {
		return nil, fmt.Errorf("token: usage: %w", err)
	}
	return s.usage.pending(actor.Tenant, q, rows), nil
}
