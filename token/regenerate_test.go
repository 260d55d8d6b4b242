package token_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/token"
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
		case ev.Action == "token.regenerate" && ev.Outcome == audit.Denied:
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

	// Revoking is never limited, and without a current token Regenerate issues.
	require.NoError(t, e.tokens.Revoke(ctx, ann, ann.User))
	_, err = e.tokens.Verify(ctx, sec2.Reveal())
	assert.ErrorIs(t, err, token.ErrRevoked)
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
