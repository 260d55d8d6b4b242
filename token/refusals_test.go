package token_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refusalEvents splits the tenant's action-log events of tok into per-request events
// and ActionRefusals events, and sums the refusals they stand for.
func refusalEvents(t *testing.T, e *env, tok token.Token) (single, summaries []audit.Event, total int) {
	t.Helper()
	for _, ev := range e.events(t, audit.KindAction) {
		if ev.Actor.Token != tok.ID || ev.Outcome == audit.Success {
			continue
		}
		require.Equal(t, audit.Denied, ev.Outcome, "%+v", ev)
		n := 1 // an event without the detail stands for itself
		if d, ok := ev.Details[token.DetailRefusals]; ok {
			_, err := fmt.Sscan(d, &n)
			require.NoError(t, err, "%+v", ev.Details)
		}
		total += n
		if ev.Action == token.ActionRefusals {
			summaries = append(summaries, ev)
		} else {
			single = append(single, ev)
		}
	}
	return single, summaries, total
}

func TestDeadTokenRefusalsAreLoggedBoundedAndNotCounted(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	cs := &countingStore{Store: e.store}
	svc, err := token.NewService(cs, e.engine, token.Options{Users: token.StatusFunc(e.userStatus), Actions: e.writer,
		Clock: e.clock.Now, After: never})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(ctx) })
	tk, sec, err := svc.Issue(ctx, ann, token.IssueRequest{Name: "CI"})
	require.NoError(t, err)
	a := newAPI(t, e, svc)
	require.Equal(t, http.StatusOK, a.get("/me", sec.Reveal()).Code)
	require.NoError(t, svc.Revoke(ctx, ann, ann.User))
	require.NoError(t, svc.Flush(ctx))
	usageBefore, err := svc.Usage(ctx, ann, token.UsageQuery{User: ann.User, From: "2026-11-25", To: "2026-11-25"})
	require.NoError(t, err)
	require.Len(t, usageBefore, 1)
	require.Equal(t, int64(1), usageBefore[0].Requests)
	baseEvents := len(e.events(t, audit.KindAction))
	lookups := cs.lookups.Load()

	// A burst from many goroutines within one interval: one event.
	const n = 500
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if w := a.get("/me?x=1", sec.Reveal()); w.Code != http.StatusUnauthorized {
				t.Errorf("status %d", w.Code)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, lookups+n, cs.lookups.Load(), "one store read per refused request, as before: no store round trip added")
	single, summaries, total := refusalEvents(t, e, tk)
	require.Equal(t, 1, len(single), "one event for the burst, not one per request")
	assert.Empty(t, summaries, "the window has not ended")
	assert.Equal(t, "1", single[0].Details[token.DetailRefusals])
	assert.Equal(t, "token_revoked", single[0].Reason)
	assert.Equal(t, "Integrator", single[0].Actor.Role)
	assert.Equal(t, 1, total)

	// A flush within the window logs nothing more; one after it logs the count.
	e.clock.Advance(30 * time.Second)
	require.NoError(t, svc.Flush(ctx))
	assert.Len(t, e.events(t, audit.KindAction), baseEvents+1)
	e.clock.Advance(30 * time.Second)
	require.NoError(t, svc.Flush(ctx))
	single, summaries, total = refusalEvents(t, e, tk)
	require.Len(t, single, 1)
	require.Len(t, summaries, 1, "the window's counted refusals as one event")
	assert.Equal(t, n, total, "every refusal is accounted for")
	sum := summaries[0]
	assert.Equal(t, "token_revoked", sum.Reason)
	assert.Equal(t, ann.User, sum.Actor.User)
	assert.Equal(t, "Integrator", sum.Actor.Role)
	assert.Equal(t, "401", sum.Details[token.DetailStatus])
	require.NoError(t, svc.Flush(ctx))
	assert.Len(t, e.events(t, audit.KindAction), baseEvents+2, "a flush logs a window once")

	// The next window: its first refusal is logged again; those after it at Close.
	for range 3 {
		assert.Equal(t, http.StatusUnauthorized, a.get("/me", sec.Reveal()).Code)
	}
	require.NoError(t, svc.Close(ctx))
	single, summaries, total = refusalEvents(t, e, tk)
	assert.Len(t, single, 2)
	assert.Len(t, summaries, 2, "Close logs the open window's count")
	assert.Equal(t, n+3, total)

	// Refused requests are not usage: the token's usage ends when it stops working.
	usage, err := svc.Usage(ctx, ann, token.UsageQuery{User: ann.User, From: "2026-11-25", To: "2026-11-25"})
	require.NoError(t, err)
	assert.Equal(t, usageBefore, usage, "refusals of a dead token are not counted")
}

func TestRefusalWindowsAreByTokenAndSeeExpiryAndBlocks(t *testing.T) {
	e := newEnv(t, envOptions{noSessions: true})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	bob := e.onboard(t, "bob@example.com", e.integrator, e.sales.ID)
	atk, asec, err := e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "a", ExpiresAt: e.clock.Now().Add(time.Minute)})
	require.NoError(t, err)
	btk, bsec := e.issue(t, bob)
	a := newAPI(t, e, e.tokens)
	e.clock.Advance(time.Minute)
	require.NoError(t, e.accounts.Block(ctx, e.admin, bob.User))
	for range 10 {
		assert.Equal(t, http.StatusUnauthorized, a.get("/me", asec.Reveal()).Code)
		assert.Equal(t, http.StatusUnauthorized, a.get("/me", bsec.Reveal()).Code)
	}
	as, _, _ := refusalEvents(t, e, atk)
	bs, _, _ := refusalEvents(t, e, btk)
	require.Equal(t, 1, len(as), "one window per token")
	require.Len(t, bs, 1)
	assert.Equal(t, "token_expired", as[0].Reason)
	assert.Equal(t, "user_inactive", bs[0].Reason)
	require.NoError(t, e.tokens.Flush(ctx))
	rows, err := e.tokens.Usage(ctx, e.admin, token.UsageQuery{From: "2026-11-25", To: "2026-11-25"})
	require.NoError(t, err)
	assert.Empty(t, rows, "neither was ever used while it worked")
}

func TestUnknownTokensWriteNothing(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	a := newAPI(t, e, e.tokens)
	before := len(e.events(t, audit.KindAction))
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if w := a.get("/me", token.Mint(e.tenant.ID)); w.Code != http.StatusUnauthorized {
				t.Errorf("status %d", w.Code)
			}
		})
	}
	wg.Wait()
	require.NoError(t, e.tokens.Close(ctx))
	assert.Len(t, e.events(t, audit.KindAction), before, "no event")
	rows, err := e.tokens.Usage(ctx, e.admin, token.UsageQuery{From: "2026-11-25", To: "2026-11-25"})
	require.NoError(t, err)
	assert.Empty(t, rows, "no usage")
}

// The documented consequence of wiring the token service as authn's session ender: a
// password change that ends the other sessions revokes the user's API token.
func TestPasswordChangeEndingSessionsRevokesTheToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	_, sec := e.issue(t, ann)
	require.NoError(t, e.accounts.ChangePassword(ctx, ann, authn.NewPassword(goodPassword),
		authn.NewPassword("another correct horse battery staple 43"), true))
	_, err := e.tokens.Verify(ctx, sec.Reveal())
	assert.ErrorIs(t, err, token.ErrRevoked)
	_, err = e.tokens.Current(ctx, ann, ann.User)
	assert.ErrorIs(t, err, token.ErrNoToken)
}

// addCounting counts AddUsage calls: the store writes of usage.
type addCounting struct {
	*countingStore
	adds atomic.Int64
}

func (c *addCounting) AddUsage(ctx context.Context, rows []token.Usage) error {
	c.adds.Add(1)
	return c.Store.AddUsage(ctx, rows)
}

// TestUsageReportIsCurrentWithoutWriting: the report includes this instance's unflushed
// counts, read from memory, so that reading it (any signed-in user may, for their own)
// never forces a write; a count is in the report once, before, during and after flushes.
func TestUsageReportIsCurrentWithoutWriting(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	bob := e.onboard(t, "bob@example.com", e.integrator, e.sales.ID)
	st := &addCounting{countingStore: &countingStore{Store: e.store}}
	svc, err := token.NewService(st, e.engine, token.Options{Users: token.StatusFunc(e.userStatus), Actions: e.writer,
		Clock: e.clock.Now, After: never})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(ctx) })
	_, asec, err := svc.Issue(ctx, ann, token.IssueRequest{Name: "a"})
	require.NoError(t, err)
	_, bsec, err := svc.Issue(ctx, bob, token.IssueRequest{Name: "b"})
	require.NoError(t, err)
	a := newAPI(t, e, svc)
	day := token.UsageQuery{User: ann.User, From: "2026-11-25", To: "2026-11-25"}
	for range 3 {
		a.get("/me", asec.Reveal())
	}
	a.get("/me?fail=1", asec.Reveal())
	a.get("/me", bsec.Reveal())

	rows, err := svc.Usage(ctx, ann, day)
	require.NoError(t, err)
	require.Len(t, rows, 1, "only ann's")
	assert.Equal(t, int64(4), rows[0].Requests, "unflushed counts are in the report")
	assert.Equal(t, int64(1), rows[0].Errors)
	assert.Equal(t, ann.User, rows[0].User)
	assert.True(t, rows[0].LastUsed.Equal(e.clock.Now()))
	all, err := svc.Usage(ctx, e.admin, token.UsageQuery{From: "2026-11-25", To: "2026-11-25"})
	require.NoError(t, err)
	assert.Len(t, all, 2)
	none, err := svc.Usage(ctx, e.admin, token.UsageQuery{From: "2026-11-26", To: "2026-11-27"})
	require.NoError(t, err)
	assert.Empty(t, none, "outside the period")
	assert.Zero(t, st.adds.Load(), "reading the report wrote nothing")

	// Stored and unflushed counts add up; concurrent reads and flushes never count twice.
	require.NoError(t, svc.Flush(ctx))
	a.get("/me", asec.Reveal())
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if i%10 == 0 {
				if err := svc.Flush(ctx); err != nil {
					t.Error(err)
				}
				return
			}
			rows, err := svc.Usage(ctx, ann, day)
			if err != nil || len(rows) != 1 || rows[0].Requests != 5 {
				t.Errorf("report %v %v", rows, err)
			}
		})
	}
	wg.Wait()
}

func TestPurgeDeletesTokensDeadLongerThanTheRetention(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	a := newAPI(t, e, e.tokens)
	first, sec := e.issue(t, ann)
	a.get("/me", sec.Reveal())
	require.NoError(t, e.tokens.Flush(ctx))
	var replaced []token.Token
	e.clock.Advance(token.DefaultRegenerateInterval) // a regeneration sooner is refused
	for range 5 {
		tk, s, err := e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
		require.NoError(t, err)
		replaced = append(replaced, tk)
		sec = s
		e.clock.Advance(time.Hour)
	}
	cur := replaced[len(replaced)-1]
	events := len(e.events(t, audit.KindChange))

	n, err := e.tokens.Purge(ctx, e.tenant.ID, 0)
	require.NoError(t, err)
	assert.Zero(t, n, "a zero retention keeps everything")
	n, err = e.tokens.Purge(ctx, e.tenant.ID, 24*time.Hour)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing has been dead for a day yet")

	e.clock.Advance(24*time.Hour - 210*time.Minute) // now: 25.5 h after the first regeneration
	n, err = e.tokens.Purge(ctx, e.tenant.ID, 24*time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the first token and the first replacement: dead for more than a day")
	_, err = e.store.Token(ctx, e.tenant.ID, first.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = e.store.Token(ctx, e.tenant.ID, replaced[0].ID)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = e.store.Token(ctx, e.tenant.ID, replaced[1].ID)
	assert.NoError(t, err, "dead for less than a day")
	got, err := e.tokens.Current(ctx, ann, ann.User)
	require.NoError(t, err)
	assert.Equal(t, cur.ID, got.ID, "the live token stays")
	assert.Equal(t, http.StatusOK, a.get("/me", sec.Reveal()).Code)
	assert.Len(t, e.events(t, audit.KindChange), events, "retention appends no event")
	_, err = e.tokens.Purge(ctx, uuid.New(), time.Hour)
	assert.ErrorIs(t, err, storage.ErrNotFound)
}
