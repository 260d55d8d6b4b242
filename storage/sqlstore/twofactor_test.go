package sqlstore_test

import (
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTwoFactorRaceAcrossInstances(t *testing.T) {
	// Two app instances (two *sql.DB pools) on one database receive the same TOTP code
	// and the same recovery code 100 times each, at once: the conditional UPDATE of the
	// last step and the conditional DELETE of the code each let exactly one through,
	// whichever instance runs it, and only the winning recovery use is audited.
	const instances, racers = 2, 100
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		stores := newStores(t, d, instances, sqlstore.Options{})
		evs := newEvents(t, newClock())
		tn, agent := createTenant(t, stores[0], evs)
		u, tk := inviteForTest(t, stores[0], evs, tn.ID, agent.ID, "ann@example.com")
		_, err := stores[0].AcceptInvitation(ctx, tn.ID, tk.TokenHash, tk.CreatedAt.Add(time.Hour), "hash", evs.ev(tn.ID, "user.accept"))
		require.NoError(t, err)
		sealed := make([]byte, 53)
		_, _ = rand.Read(sealed)
		now := tk.CreatedAt.Add(2 * time.Hour)
		require.NoError(t, stores[0].SetTwoFactorEnrolment(ctx, authn.TwoFactorEnrolment{Tenant: tn.ID, User: u.ID, Sealed: sealed,
			CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}, evs.ev(tn.ID, "two_factor.start")))
		code := make([]byte, 32)
		_, _ = rand.Read(code)
		require.NoError(t, stores[1].EnableTwoFactor(ctx, authn.TwoFactor{Tenant: tn.ID, User: u.ID, Sealed: sealed, LastStep: 1000, EnabledAt: now}, sealed,
			[][]byte{code}, evs.ev(tn.ID, "two_factor.enable")))

		uses := make([]audit.Event, racers)
		for i := range uses {
			uses[i] = evs.ev(tn.ID, "two_factor.recovery_used")
		}
		var steps, codes atomic.Int32
		errs := make([]error, 2*racers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			s := stores[i%instances]
			wg.Go(func() {
				<-start
				ok, err := s.UseTOTPStep(ctx, tn.ID, u.ID, 1001)
				if ok {
					steps.Add(1)
				}
				errs[i] = err
			})
			wg.Go(func() {
				<-start
				_, ok, err := s.UseRecoveryCode(ctx, tn.ID, u.ID, code, uses[i])
				if ok {
					codes.Add(1)
				}
				errs[racers+i] = err
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "racer %d", i)
		}
		assert.Equal(t, int32(1), steps.Load(), "one sign-in with the step")
		assert.Equal(t, int32(1), codes.Load(), "one sign-in with the recovery code")
		f, err := stores[0].TwoFactor(ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(1001), f.LastStep)
		n := 0
		for _, e := range allEvents(t, stores[1], tn.ID) {
			if e.Action == "two_factor.recovery_used" {
				n++
			}
		}
		assert.Equal(t, 1, n, "only the winner's event is stored")
	})
}
