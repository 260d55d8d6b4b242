package token_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/memory"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fmtEvent(ev audit.Event) string { return fmt.Sprintf("%+v", ev) }

func TestIssueVerifyRegenerateRevoke(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)

	tk, sec, err := e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "  CRM sync  "})
	require.NoError(t, err)
	assert.Equal(t, "CRM sync", tk.Name, "the name is trimmed")
	assert.Equal(t, ann.User, tk.User)
	assert.Equal(t, ann.User, tk.CreatedBy)
	got, err := e.tokens.Verify(ctx, sec.Reveal())
	require.NoError(t, err)
	assert.Equal(t, tk.ID, got.ID)

	_, _, err = e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "second"})
	assert.ErrorIs(t, err, token.ErrExists, "one active token per user")

	e.clock.Advance(token.DefaultRegenerateInterval) // a regeneration sooner is refused
	tk2, sec2, err := e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "CRM sync"})
	require.NoError(t, err)
	assert.NotEqual(t, tk.ID, tk2.ID)
	_, err = e.tokens.Verify(ctx, sec.Reveal())
	assert.ErrorIs(t, err, token.ErrRevoked, "the old secret stops working at once")
	_, err = e.tokens.Verify(ctx, sec2.Reveal())
	require.NoError(t, err)
	cur, err := e.tokens.Current(ctx, ann, ann.User)
	require.NoError(t, err)
	assert.Equal(t, tk2.ID, cur.ID)

	require.NoError(t, e.tokens.Revoke(ctx, ann, ann.User), "users revoke their own token")
	_, err = e.tokens.Verify(ctx, sec2.Reveal())
	assert.ErrorIs(t, err, token.ErrRevoked)
	assert.ErrorIs(t, e.tokens.Revoke(ctx, ann, ann.User), token.ErrNoToken)
	_, err = e.tokens.Current(ctx, ann, ann.User)
	assert.ErrorIs(t, err, token.ErrNoToken)

	var actions []string
	for _, ev := range e.events(t, audit.KindChange) {
		if ev.Target.Type == "api_token" {
			actions = append(actions, ev.Action)
			assert.Equal(t, ann.User, ev.Actor.User)
		}
	}
	assert.Equal(t, []string{"token.issue", "token.regenerate", "token.revoke"}, actions)
	all := e.allText(t)
	for _, s := range []string{sec.Reveal(), sec2.Reveal(), sec.Reveal()[4:30], sec2.Reveal()[4:30]} {
		assert.NotContains(t, all, s, "no token reaches the audit trail")
	}
}

func TestIssueRules(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	agent := e.onboard(t, "agent@example.com", e.roles[access.KindAgent], e.sales.ID)
	_, _, err := e.tokens.Issue(ctx, agent, token.IssueRequest{Name: "x"})
	assert.ErrorIs(t, err, token.ErrForbidden, "issuing needs the integrations right")

	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	_, _, err = e.tokens.Issue(ctx, access.System(e.tenant.ID), token.IssueRequest{Name: "x"})
	assert.ErrorIs(t, err, token.ErrForbidden, "only a user issues their own token")
	for _, name := range []string{"", "   ", "a\x00b", string(make([]byte, 101))} {
		_, _, err = e.tokens.Issue(ctx, ann, token.IssueRequest{Name: name})
		assert.ErrorIs(t, err, token.ErrInvalidName, "%q", name)
	}
	_, _, err = e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "x", ExpiresAt: e.clock.Now()})
	assert.ErrorIs(t, err, token.ErrInvalidExpiry)

	// A project role granting the right is enough to hold a token.
	bob := e.onboard(t, "bob@example.com", e.roles[access.KindAgent])
	_, err = e.acc.AddProjectMember(ctx, e.admin, e.support.ID, bob.User, e.integrator)
	require.NoError(t, err)
	_, _, err = e.tokens.Issue(ctx, bob, token.IssueRequest{Name: "x"})
	assert.NoError(t, err)

	// An expired token is replaced by Issue.
	tk, sec, err := e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "short", ExpiresAt: e.clock.Now().Add(time.Hour)})
	require.NoError(t, err)
	e.clock.Advance(time.Hour)
	_, err = e.tokens.Verify(ctx, sec.Reveal())
	assert.ErrorIs(t, err, token.ErrExpired)
	tk2, _, err := e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "again"})
	require.NoError(t, err)
	old, err := e.store.Token(ctx, e.tenant.ID, tk.ID)
	require.NoError(t, err)
	assert.False(t, old.RevokedAt.IsZero(), "the expired token was revoked by the replacement")
	assert.NotEqual(t, tk.ID, tk2.ID)
}

func TestRevokeByUserManagement(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	_, sec := e.issue(t, ann)

	// A supervisor (no UserManagement) cannot revoke another user's token.
	sup := e.onboard(t, "sup@example.com", e.roles[access.KindSupervisor], e.sales.ID)
	assert.ErrorIs(t, e.tokens.Revoke(ctx, sup, ann.User), token.ErrForbidden)
	_, err := e.tokens.Current(ctx, sup, ann.User)
	assert.ErrorIs(t, err, token.ErrForbidden)
	_, err = e.tokens.List(ctx, sup)
	assert.ErrorIs(t, err, token.ErrForbidden)

	// A user manager who lacks a right of the target's role cannot act on them: the
	// manage-above rule of authn.
	mgrRole, err := e.acc.CreateRole(ctx, e.admin, access.RoleSpec{Name: "HR", Rights: []access.Right{access.UserManagement}})
	require.NoError(t, err)
	hr := e.onboard(t, "hr@example.com", mgrRole.ID)
	assert.ErrorIs(t, e.tokens.Revoke(ctx, hr, ann.User), token.ErrForbidden, "ann holds integrations.manage, hr does not")
	adminTok := e.onboard(t, "root@example.com", e.roles[access.KindAdmin])
	e.issue(t, adminTok)
	assert.ErrorIs(t, e.tokens.Revoke(ctx, hr, adminTok.User), token.ErrForbidden)

	// Another tenant's admin cannot touch it.
	other := newEnvSharing(t, e)
	assert.ErrorIs(t, e.tokens.Revoke(ctx, other, ann.User), token.ErrNoToken, "another tenant's token is not found")
	_, err = e.tokens.Verify(ctx, sec.Reveal())
	require.NoError(t, err)

	list, err := e.tokens.List(ctx, e.admin)
	require.NoError(t, err)
	assert.Len(t, list, 2)
	require.NoError(t, e.tokens.Revoke(ctx, e.admin, ann.User), "the Admin manages everyone")
	_, err = e.tokens.Verify(ctx, sec.Reveal())
	assert.ErrorIs(t, err, token.ErrRevoked)
	evs := e.events(t, audit.KindChange)
	last := evs[len(evs)-1]
	assert.Equal(t, "token.revoke", last.Action)
	assert.Equal(t, e.admin.User, last.Actor.User, "the manager is the actor")
	assert.Equal(t, ann.User.String(), last.Details["user"])
}

// newEnvSharing returns the Admin of a second tenant in e's store.
func newEnvSharing(t *testing.T, e *env) access.Subject {
	t.Helper()
	ctx := context.Background()
	tn, err := e.acc.CreateTenant(ctx, "Other Co")
	require.NoError(t, err)
	roles, err := e.store.Roles(ctx, tn.ID)
	require.NoError(t, err)
	admin := uuid.New()
	for _, r := range roles {
		if r.Kind == access.KindAdmin {
			_, err = e.acc.SetMember(ctx, access.System(tn.ID), admin, r.ID)
			require.NoError(t, err)
		}
	}
	return access.Subject{Tenant: tn.ID, User: admin}
}

func TestBlockingEndsTheToken(t *testing.T) {
	t.Run("authn ends it through SessionEnder", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		ctx := context.Background()
		ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
		tk, sec := e.issue(t, ann)
		require.NoError(t, e.accounts.Block(ctx, e.admin, ann.User))
		_, err := e.tokens.Verify(ctx, sec.Reveal())
		assert.ErrorIs(t, err, token.ErrRevoked)
		require.NoError(t, e.accounts.Unblock(ctx, e.admin, ann.User))
		_, err = e.tokens.Verify(ctx, sec.Reveal())
		assert.ErrorIs(t, err, token.ErrRevoked, "unblocking does not bring a revoked token back")
		got, err := e.store.Token(ctx, e.tenant.ID, tk.ID)
		require.NoError(t, err)
		assert.False(t, got.RevokedAt.IsZero())
	})
	t.Run("without it, the status check refuses the token", func(t *testing.T) {
		e := newEnv(t, envOptions{noSessions: true})
		ctx := context.Background()
		ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
		_, sec := e.issue(t, ann)
		require.NoError(t, e.accounts.Block(ctx, e.admin, ann.User))
		_, err := e.tokens.Verify(ctx, sec.Reveal())
		assert.ErrorIs(t, err, token.ErrUserInactive)
		require.NoError(t, e.accounts.Unblock(ctx, e.admin, ann.User))
		_, err = e.tokens.Verify(ctx, sec.Reveal())
		assert.NoError(t, err, "the status is read on every request")
		require.NoError(t, e.accounts.Remove(ctx, e.admin, ann.User))
		_, err = e.tokens.Verify(ctx, sec.Reveal())
		assert.ErrorIs(t, err, token.ErrUserInactive)
	})
}

// countingStore counts the store lookups of Verify.
type countingStore struct {
	*memory.Store
	lookups atomic.Int64
	fail    error
}

func (c *countingStore) TokenByHash(ctx context.Context, tenant uuid.UUID, hash [32]byte) (token.Token, error) {
	c.lookups.Add(1)
	if c.fail != nil {
		return token.Token{}, c.fail
	}
	return c.Store.TokenByHash(ctx, tenant, hash)
}

func TestVerifyChecksBeforeLookup(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	_, sec := e.issue(t, ann)
	cs := &countingStore{Store: e.store}
	svc, err := token.NewService(cs, e.engine, token.Options{Users: token.StatusFunc(e.userStatus), Actions: e.writer, After: never})
	require.NoError(t, err)
	defer svc.Close(ctx)

	raw := sec.Reveal()
	for i := range raw {
		b := []byte(raw)
		b[i] ^= 1
		_, err := svc.Verify(ctx, string(b))
		assert.ErrorIs(t, err, token.ErrInvalid, "position %d", i)
	}
	for _, s := range []string{"", "Bearer", "cst_", "ghp_0123456789", raw[:len(raw)-1]} {
		_, err := svc.Verify(ctx, s)
		assert.ErrorIs(t, err, token.ErrMalformed)
	}
	assert.Zero(t, cs.lookups.Load(), "no malformed or checksum-failing token reaches the store")
	_, err = svc.Verify(ctx, raw)
	require.NoError(t, err)
	assert.Equal(t, int64(1), cs.lookups.Load())

	cs.fail = errors.New("database down")
	_, err = svc.Verify(ctx, raw)
	assert.Error(t, err)
	assert.NotErrorIs(t, err, token.ErrInvalid, "a storage failure is not an invalid token (503, not 401)")
}

func TestIssueRaceLeavesOneToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, _, errs[i] = e.tokens.Issue(ctx, ann, token.IssueRequest{Name: "race"}) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			assert.ErrorIs(t, err, token.ErrExists)
		}
	}
	assert.Equal(t, 1, ok)
	list, err := e.store.Tokens(ctx, e.tenant.ID)
	require.NoError(t, err)
	assert.Len(t, list, 1)

	e.clock.Advance(token.DefaultRegenerateInterval)
	for i := range n {
		wg.Go(func() { _, _, errs[i] = e.tokens.Regenerate(ctx, ann, token.IssueRequest{Name: "race"}) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			assert.True(t, errors.Is(err, storage.ErrStale) || errors.Is(err, token.ErrRegenerateTooSoon), "%v", err)
		}
	}
	list, err = e.store.Tokens(ctx, e.tenant.ID)
	require.NoError(t, err)
	assert.Len(t, list, 1, "racing regenerations leave one active token")
}
