package token_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callshield/callshield/token"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cachedService is a token service with a verification cache over e's store, counted.
func cachedService(t *testing.T, e *env, ttl time.Duration) (*token.Service, *countingStore) {
	t.Helper()
	cs := &countingStore{Store: e.store}
	svc, err := token.NewService(cs, e.engine, token.Options{Users: token.StatusFunc(e.userStatus), Actions: e.writer,
		Clock: e.clock.Now, After: never, CacheTTL: ttl})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	return svc, cs
}

func TestCacheServesWithinTTLAndRevocationHereIsImmediate(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	svc, cs := cachedService(t, e, time.Second)
	_, sec, err := svc.Issue(ctx, ann, token.IssueRequest{Name: "CI"})
	require.NoError(t, err)
	for range 10 {
		_, err := svc.Verify(ctx, sec.Reveal())
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), cs.lookups.Load(), "one store read, then the cache")

	// Revoked through this service: refused at once.
	require.NoError(t, svc.Revoke(ctx, ann, ann.User))
	_, err = svc.Verify(ctx, sec.Reveal())
	assert.ErrorIs(t, err, token.ErrRevoked)

	// Regenerated through this service: the old secret is refused at once.
	_, s1, err := svc.Issue(ctx, ann, token.IssueRequest{Name: "CI"})
	require.NoError(t, err)
	_, err = svc.Verify(ctx, s1.Reveal())
	require.NoError(t, err)
	e.clock.Advance(token.DefaultRegenerateInterval) // a regeneration sooner is refused
	_, s2, err := svc.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
	require.NoError(t, err)
	_, err = svc.Verify(ctx, s1.Reveal())
	assert.ErrorIs(t, err, token.ErrRevoked)
	_, err = svc.Verify(ctx, s2.Reveal())
	require.NoError(t, err)

	// Ended as a session ender (a blocked user): refused at once.
	require.NoError(t, svc.EndUserSessions(ctx, ann.Tenant, ann.User, ann.Session))
	_, err = svc.Verify(ctx, s2.Reveal())
	assert.ErrorIs(t, err, token.ErrRevoked)
}

func TestCacheStalenessAcrossInstancesIsBoundedByTTL(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	here, _ := cachedService(t, e, time.Second)
	_, sec := e.issue(t, ann) // issued through "another instance" (e.tokens, no cache)
	_, err := here.Verify(ctx, sec.Reveal())
	require.NoError(t, err)

	require.NoError(t, e.tokens.Revoke(ctx, ann, ann.User), "revoked on the other instance")
	e.clock.Advance(999 * time.Millisecond)
	_, err = here.Verify(ctx, sec.Reveal())
	assert.NoError(t, err, "within CacheTTL this instance may still accept it: the documented bound")
	e.clock.Advance(time.Millisecond)
	_, err = here.Verify(ctx, sec.Reveal())
	assert.ErrorIs(t, err, token.ErrRevoked, "at CacheTTL it reads the store again")
}

func TestCacheChecksExpiryOnEveryRequest(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	svc, _ := cachedService(t, e, token.MaxCacheTTL)
	_, sec, err := svc.Issue(ctx, ann, token.IssueRequest{Name: "CI", ExpiresAt: e.clock.Now().Add(time.Second)})
	require.NoError(t, err)
	_, err = svc.Verify(ctx, sec.Reveal())
	require.NoError(t, err)
	e.clock.Advance(time.Second)
	_, err = svc.Verify(ctx, sec.Reveal())
	assert.ErrorIs(t, err, token.ErrExpired)
}

// TestCacheRevocationRacesVerification: while goroutines verify a token as fast as
// they can, a revocation through the same service returns; from then on no
// verification succeeds, though some read the store before the revocation committed.
func TestCacheRevocationRacesVerification(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	svc, _ := cachedService(t, e, token.MaxCacheTTL)
	for round := range 50 {
		_, sec, err := svc.Regenerate(ctx, ann, token.IssueRequest{Name: "CI"})
		require.NoError(t, err)
		var revoked atomic.Bool
		var lateSuccess atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					after := revoked.Load()
					if _, err := svc.Verify(ctx, sec.Reveal()); err == nil && after {
						lateSuccess.Add(1)
					}
				}
			})
		}
		require.NoError(t, svc.Revoke(ctx, ann, ann.User))
		revoked.Store(true)
		for range 100 {
			_, err := svc.Verify(ctx, sec.Reveal())
			require.ErrorIs(t, err, token.ErrRevoked, "round %d", round)
		}
		close(stop)
		wg.Wait()
		assert.Zero(t, lateSuccess.Load(), "round %d: a verification started after the revocation returned succeeded", round)
	}
}

// TestCachedTokenOfBlockedUserIsRefusedByThePolicy: a user blocked through another
// instance (whose authn does not end tokens) may still be in this instance's cache,
// but the policy read on every request gives a disabled member no right: refused on the
// next request.
func TestCachedTokenOfBlockedUserIsRefusedByThePolicy(t *testing.T) {
	e := newEnv(t, envOptions{noSessions: true})
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", e.integrator, e.sales.ID)
	svc, _ := cachedService(t, e, token.MaxCacheTTL)
	_, sec, err := svc.Issue(ctx, ann, token.IssueRequest{Name: "CI"})
	require.NoError(t, err)
	a := newAPI(t, e, svc)
	require.Equal(t, 200, a.get("/me", sec.Reveal()).Code)
	require.NoError(t, e.accounts.Block(ctx, e.admin, ann.User))
	_, err = svc.Verify(ctx, sec.Reveal())
	require.NoError(t, err, "the cache still holds it (the stated bound)")
	assert.Equal(t, 403, a.get("/me", sec.Reveal()).Code, "but the request is refused")
}

func TestCacheTTLAboveTheCapIsRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	opts := token.Options{Users: token.StatusFunc(e.userStatus), Actions: e.writer, After: never}
	for _, ttl := range []time.Duration{token.MaxCacheTTL + time.Nanosecond, time.Hour, 1<<63 - 1} {
		opts.CacheTTL = ttl
		svc, err := token.NewService(e.store, e.engine, opts)
		var oe *token.OptionsError
		require.ErrorAs(t, err, &oe, "CacheTTL %v", ttl)
		assert.Equal(t, "CacheTTL", oe.Option)
		assert.Contains(t, err.Error(), "MaxCacheTTL")
		assert.Nil(t, svc)
	}
	for _, ttl := range []time.Duration{0, -time.Second, time.Second, token.MaxCacheTTL} {
		opts.CacheTTL = ttl
		svc, err := token.NewService(e.store, e.engine, opts)
		require.NoError(t, err, "CacheTTL %v", ttl)
		require.NoError(t, svc.Close(context.Background()))
	}
	assert.Equal(t, time.Minute, token.MaxCacheTTL)
}
