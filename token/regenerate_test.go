package token_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/memory"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// onboardIn invites and accepts a user of admin's tenant with the tenant's Admin role
// (which holds the integrations right).
func onboardIn(t *testing.T, e *env, admin access.Subject, email string) access.Subject {
	t.Helper()
	ctx := context.Background()
	roles, err := e.store.Roles(ctx, admin.Tenant)
	require.NoError(t, err)
	var role access.Role
	for _, r := range roles {
		if r.Kind == access.KindAdmin {
			role = r
		}
	}
	_, err = e.accounts.Invite(ctx, admin, authn.InviteRequest{Email: email, Name: "Other User", Role: role.ID})
	require.NoError(t, err)
	m, ok := e.outbox.Last(email)
	require.True(t, ok)
	u, err := e.accounts.AcceptInvitation(ctx, linkRE.FindString(m.Text), authn.NewPassword(goodPassword), authn.Meta{})
	require.NoError(t, err)
	return access.Subject{Tenant: u.Tenant, User: u.ID}
}

// regenerateEvents returns the tenant's change-log events of refused regenerations:
// the per-refusal ones and the ActionRegenerateRefusals summaries.
func regenerateEvents(t *testing.T, e *env, tenant access.Subject) (single, summaries []audit.Event) {
	t.Helper()
	e.drain(t)
	evs, err := e.store.Events(context.Background(), tenant.Tenant, audit.Query{Kind: audit.KindChange, Limit: audit.MaxLimit})
	require.NoError(t, err)
	for _, ev := range evs {
		switch {
		case ev.Action == token.ActionRegenerateRefusals:
			summaries = append(summaries, ev)
		case (ev.Action == "token.regenerate" || ev.Action == "token.issue") && ev.Outcome == audit.Denied:
			single = append(single, ev)
		}
	}
	return single, summaries
}

func TestRegenerateIsBoundedByTheInterval(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	tk, sec := e.issue(t, ann)

	e.clock.Advance(token.DefaultRegenerateInterval - time.Second)
	_, _, err := e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
	require.ErrorIs(t, err, token.ErrRegenerateTooSoon, "a second regeneration inside the interval")
	status, code := access.ErrorCode(err)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "too_many_regenerations", code)
	_, err = e.tokens.Verify(ctx, sec.Reveal())
	assert.NoError(t, err, "the refused regeneration changed nothing")
	cur, err := e.tokens.Current(ctx, ann, ann.User)
	require.NoError(t, err)
	assert.Equal(t, tk.ID, cur.ID)

	e.clock.Advance(time.Second) // exactly the interval after the token's CreatedAt
	_, sec2, err := e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
	require.NoError(t, err, "allowed once the interval has passed")
	_, err = e.tokens.Verify(ctx, sec.Reveal())
	assert.ErrorIs(t, err, token.ErrRevoked)
	_, _, err = e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
	assert.ErrorIs(t, err, token.ErrRegenerateTooSoon, "the interval runs from the new token")
	_, err = e.tokens.Verify(ctx, sec2.Reveal())
	assert.NoError(t, err)

	// Issue over an expired token is a replacement too: bounded alike.
	bob := e.onboard(t, "bob@example.com", e.integrator, e.sales.ID)
	_, _, err = e.tokens.Issue(ctx, bob, token.IssueRequest{Name: "short", ExpiresAt: e.clock.Now().Add(time.Second)})
	require.NoError(t, err)
	e.clock.Advance(time.Second)
	_, _, err = e.tokens.Issue(ctx, bob, token.IssueRequest{Name: "again"})
	assert.ErrorIs(t, err, token.ErrRegenerateTooSoon)

	// Revoking is never limited, and without a current token Regenerate issues, once
	// the interval since the revoked token's CreatedAt has passed.
	require.NoError(t, e.tokens.Revoke(ctx, ann, ann.User))
	_, err = e.tokens.Verify(ctx, sec2.Reveal())
	assert.ErrorIs(t, err, token.ErrRevoked)
	e.clock.Advance(token.DefaultRegenerateInterval)
	_, _, err = e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
	assert.NoError(t, err)
}

func TestRegenerateIntervalOption(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	for _, c := range []struct {
		opt, want time.Duration
	}{{0, token.DefaultRegenerateInterval}, {-time.Second, token.DefaultRegenerateInterval}, {10 * time.Minute, 10 * time.Minute}} {
		svc, err := token.NewService(e.store, e.engine, token.Options{Users: token.StatusFunc(e.userStatus), Actions: e.writer,
			Clock: e.clock.Now, After: never, RegenerateInterval: c.opt})
		require.NoError(t, err)
		_, _, err = svc.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
		require.NoError(t, err, "option %v: no current token: issued", c.opt)
		e.clock.Advance(c.want - time.Microsecond)
		_, _, err = svc.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
		assert.ErrorIs(t, err, token.ErrRegenerateTooSoon, "option %v", c.opt)
		e.clock.Advance(time.Microsecond)
		_, _, err = svc.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
		assert.NoError(t, err, "option %v", c.opt)
		require.NoError(t, svc.Revoke(ctx, ann, ann.User))
		require.NoError(t, svc.Close(ctx))
		e.clock.Advance(10 * time.Minute) // past every interval of the cases since the revoked token
	}

	// A token created by an instance whose clock is ahead counts as just created here.
	ahead := &clock{now: e.clock.Now().Add(time.Hour)}
	svcAhead, err := token.NewService(e.store, e.engine, token.Options{Users: token.StatusFunc(e.userStatus), Actions: e.writer,
		Clock: ahead.Now, After: never})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svcAhead.Close(ctx) })
	_, _, err = svcAhead.Issue(ctx, ann, token.IssueRequest{Name: "CI"})
	require.NoError(t, err)
	e.clock.Advance(token.DefaultRegenerateInterval)
	_, _, err = e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
	assert.ErrorIs(t, err, token.ErrRegenerateTooSoon, "a CreatedAt in the future is not an old token")
}

func TestRegenerateBoundIsPerUserAndTenant(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	bob := e.onboard(t, "bob@example.com", e.integrator, e.sales.ID)
	carl := onboardIn(t, e, newEnvSharing(t, e), "carl@example.com")
	require.NotEqual(t, ann.Tenant, carl.Tenant)
	for _, s := range []access.Subject{ann, bob, carl} {
		_, _, err := e.tokens.Issue(ctx, s, token.IssueRequest{Name: "CI"})
		require.NoError(t, err)
	}
	e.clock.Advance(token.DefaultRegenerateInterval)

	_, _, err := e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
	require.NoError(t, err)
	for range 5 {
		_, _, err = e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
		require.ErrorIs(t, err, token.ErrRegenerateTooSoon)
	}
	_, _, err = e.tokens.Regenerate(ctx, bob, token.IssueRequest{Name: "CI"})
	assert.NoError(t, err, "another user of the tenant is unaffected")
	_, bsec, err := e.tokens.Regenerate(ctx, carl, token.IssueRequest{Name: "CI"})
	assert.NoError(t, err, "a user of another tenant is unaffected")
	_, err = e.tokens.Verify(ctx, bsec.Reveal())
	assert.NoError(t, err)

	// The refusals are logged bounded per user and tenant: ann's first refusal is an
	// event of its own, the four after it one summary once the window has ended.
	_, _, err = e.tokens.Regenerate(ctx, carl, token.IssueRequest{Name: "CI"})
	require.ErrorIs(t, err, token.ErrRegenerateTooSoon)
	single, summaries := regenerateEvents(t, e, ann)
	require.Len(t, single, 1)
	assert.Empty(t, summaries, "the window is still open")
	ev := single[0]
	assert.Equal(t, ann.User, ev.Actor.User)
	assert.Equal(t, "regenerate_too_soon", ev.Reason)
	assert.Equal(t, "api_token", ev.Target.Type)
	assert.Equal(t, "1", ev.Details[token.DetailRefusals])
	assert.Equal(t, ann.User.String(), ev.Details["user"])
	csingle, _ := regenerateEvents(t, e, carl)
	require.Len(t, csingle, 1, "carl's refusal is his tenant's, in a window of its own")
	assert.Equal(t, carl.User, csingle[0].Actor.User)

	e.clock.Advance(token.DefaultRegenerateInterval)
	require.NoError(t, e.tokens.Flush(ctx))
	single, summaries = regenerateEvents(t, e, ann)
	assert.Len(t, single, 1)
	require.Len(t, summaries, 1)
	assert.Equal(t, "4", summaries[0].Details[token.DetailRefusals])
	assert.Equal(t, audit.Denied, summaries[0].Outcome)
	assert.Equal(t, ann.User, summaries[0].Actor.User)
	_, csummaries := regenerateEvents(t, e, carl)
	assert.Empty(t, csummaries, "carl was refused once: nothing to summarize")
}

// Of 50 regenerations racing inside one interval exactly one succeeds: the others see
// either the old token (and lose the store's conditional replacement, storage.ErrStale)
// or the new one (ErrRegenerateTooSoon).
func TestConcurrentRegenerationsYieldOne(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	_, first := e.issue(t, ann)
	issued := []token.Secret{first}
	for round := range 3 {
		e.clock.Advance(token.DefaultRegenerateInterval)
		const n = 50
		errs := make([]error, n)
		secrets := make([]token.Secret, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				_, secrets[i], errs[i] = e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "race"})
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
				issued = append(issued, secrets[i])
				_, verr := e.tokens.Verify(ctx, secrets[i].Reveal())
				assert.NoError(t, verr, "round %d: the winner's secret works", round)
			case errors.Is(err, storage.ErrStale), errors.Is(err, token.ErrRegenerateTooSoon):
			default:
				t.Errorf("round %d: unexpected error: %v", round, err)
			}
		}
		assert.Equal(t, 1, ok, "round %d: exactly one regeneration per interval", round)
		list, err := e.store.Tokens(ctx, e.tenant.ID)
		require.NoError(t, err)
		assert.Len(t, list, 1)
	}
	all := e.allText(t)
	for _, sec := range issued {
		assert.NotContains(t, all, sec.Reveal()[4:30], "no secret in the audit trail")
	}
}

// Revoking and issuing again does not reset the bound: the interval runs from the
// CreatedAt of the user's latest token, revoked ones included, whoever revoked it. The
// refusal carries the wait, which WriteErrorFor answers as Retry-After.
func TestRevokeThenIssueIsBoundedByTheInterval(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	bob := e.onboard(t, "bob@example.com", e.integrator, e.sales.ID)
	e.issue(t, ann)
	e.issue(t, bob)

	e.clock.Advance(20*time.Second + 500*time.Millisecond)
	require.NoError(t, e.tokens.Revoke(ctx, ann, ann.User), "revoking is never limited")
	_, _, err := e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "again"})
	require.ErrorIs(t, err, token.ErrRegenerateTooSoon, "issue right after a revocation")
	var tooSoon *token.RegenerateTooSoonError
	require.ErrorAs(t, err, &tooSoon)
	assert.Equal(t, token.DefaultRegenerateInterval-20*time.Second-500*time.Millisecond, tooSoon.Wait)
	status, code := access.ErrorCode(err)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "too_many_regenerations", code)
	rec := httptest.NewRecorder()
	access.WriteErrorFor(rec, err)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "40", rec.Header().Get("Retry-After"), "39.5 s left, rounded up")
	_, _, err = e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "again"})
	assert.ErrorIs(t, err, token.ErrRegenerateTooSoon, "Regenerate without a current token alike")
	_, err = e.tokens.Current(ctx, ann, ann.User)
	assert.ErrorIs(t, err, token.ErrNoToken, "nothing was issued")
	single, _ := regenerateEvents(t, e, ann)
	require.NotEmpty(t, single)
	assert.Equal(t, "token.issue", single[0].Action, "the refusal names what was refused: an issuance")

	// A manager's revocation does not reset it either; bob's bound is his own.
	require.NoError(t, e.tokens.Revoke(ctx, e.admin, bob.User))
	_, _, err = e.tokens.Issue(ctx, bob, token.IssueRequest{Name: "again"})
	require.ErrorAs(t, err, &tooSoon)

	// A purge with a retention shorter than the interval keeps the revoked tokens
	// that still bound an issuance.
	_, err = e.tokens.Purge(ctx, e.tenant.ID, time.Nanosecond)
	require.NoError(t, err)
	_, _, err = e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "again"})
	assert.ErrorIs(t, err, token.ErrRegenerateTooSoon, "the purge kept the bound")

	e.clock.Advance(39*time.Second + 500*time.Millisecond) // exactly the interval after ann's token
	_, sec, err := e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "again"})
	require.NoError(t, err)
	_, err = e.tokens.Verify(ctx, sec.Reveal())
	assert.NoError(t, err)
	require.NoError(t, e.tokens.Revoke(ctx, ann, ann.User))
	_, _, err = e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "again"})
	require.ErrorAs(t, err, &tooSoon, "the interval runs from the new token")
	assert.Equal(t, token.DefaultRegenerateInterval, tooSoon.Wait)

	single, _ = regenerateEvents(t, e, ann)
	assert.NotEmpty(t, single, "the refusals are logged")
	for _, ev := range single {
		assert.Equal(t, "regenerate_too_soon", ev.Reason)
	}
}

// 50 clients of one user each revoking the token and issuing (or regenerating) one, at
// once: at most one issuance per interval, whatever the interleaving of the
// revocations; the others are refused.
func TestConcurrentRevokeAndIssueYieldOnePerInterval(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	e.issue(t, ann)
	for round := range 3 {
		e.clock.Advance(token.DefaultRegenerateInterval)
		const n = 50
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				if err := e.tokens.Revoke(ctx, ann, ann.User); err != nil && !errors.Is(err, token.ErrNoToken) {
					errs[i] = err
					return
				}
				if i%2 == 0 {
					_, _, errs[i] = e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "churn"})
				} else {
					_, _, errs[i] = e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "churn"})
				}
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, token.ErrRegenerateTooSoon), errors.Is(err, token.ErrExists), errors.Is(err, storage.ErrStale):
			default:
				t.Errorf("round %d: unexpected error: %v", round, err)
			}
		}
		assert.LessOrEqual(t, ok, 1, "round %d: at most one issuance per interval", round)
		assert.Equal(t, 1, ok, "round %d: the first past the interval is issued", round)
		// The latest token is this round's; later ones are refused until the interval.
		last, err := e.store.LatestUserToken(ctx, ann.Tenant, ann.User)
		require.NoError(t, err)
		assert.Equal(t, e.clock.Now().UTC().Truncate(time.Microsecond), last.CreatedAt.UTC(), "round %d", round)
	}
	evs, err := e.store.Events(ctx, ann.Tenant, audit.Query{Kind: audit.KindChange, Limit: audit.MaxLimit})
	require.NoError(t, err)
	issued := 0
	for _, ev := range evs {
		if (ev.Action == "token.issue" || ev.Action == "token.regenerate") && ev.Outcome == audit.Success {
			issued++
		}
	}
	assert.Equal(t, 1+3, issued, "one issuance event per interval in the audit log")
}

// heldLatest holds one issuance right after its read of the user's latest token, so
// that a test can issue and revoke in between: the race of concurrent revoke-and-issue
// clients, made deterministic.
type heldLatest struct {
	*memory.Store
	armed         atomic.Bool
	read, release chan struct{}
}

func (s *heldLatest) LatestUserToken(ctx context.Context, tenant, user uuid.UUID) (token.Token, error) {
	t, err := s.Store.LatestUserToken(ctx, tenant, user)
	if s.armed.CompareAndSwap(true, false) {
		close(s.read)
		<-s.release
	}
	return t, err
}

// An issuance that read the latest token before another client issued and revoked one
// is refused by the store's conditional write (CreateTokenAfter), not stored: at most
// one issuance per interval even when the service's own check is passed in a race.
func TestIssueRacingRevokeAndIssueIsRefusedByTheStore(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	held := &heldLatest{Store: e.store, read: make(chan struct{}), release: make(chan struct{})}
	svc, err := token.NewService(held, e.engine, token.Options{Users: token.StatusFunc(e.userStatus), Actions: e.writer,
		Clock: e.clock.Now, After: never})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(ctx) })
	_, _, err = svc.Issue(ctx, ann, token.IssueRequest{Name: "CI"})
	require.NoError(t, err)
	require.NoError(t, svc.Revoke(ctx, ann, ann.User))
	e.clock.Advance(token.DefaultRegenerateInterval)

	done := make(chan error)
	held.armed.Store(true)
	go func() {
		_, _, err := svc.Issue(ctx, ann, token.IssueRequest{Name: "late"})
		done <- err
	}()
	<-held.read // it read the revoked token, past the interval
	_, _, err = svc.Issue(ctx, ann, token.IssueRequest{Name: "first"})
	require.NoError(t, err)
	require.NoError(t, svc.Revoke(ctx, ann, ann.User))
	close(held.release)
	err = <-done
	require.ErrorIs(t, err, token.ErrRegenerateTooSoon, "the held issuance after the racing one")
	var tooSoon *token.RegenerateTooSoonError
	require.ErrorAs(t, err, &tooSoon)
	assert.Equal(t, token.DefaultRegenerateInterval, tooSoon.Wait, "the wait of the racing token")
	last, err := e.store.LatestUserToken(ctx, ann.Tenant, ann.User)
	require.NoError(t, err)
	assert.Equal(t, "first", last.Name, "nothing stored after the racing token")
}
