package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inviteForTest stores an invited user of tenant, invited to role, and returns the user
// and the ticket.
func inviteForTest(t *testing.T, s *sqlstore.Store, evs events, tenant, role uuid.UUID, email string) (authn.User, authn.Ticket) {
	t.Helper()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	u := authn.User{ID: uuid.Must(uuid.NewV7()), Tenant: tenant, Email: email, Name: "Ann",
		Status: authn.StatusInvited, StatusAt: now, CreatedAt: now, UpdatedAt: now}
	tk := authn.Ticket{ID: uuid.Must(uuid.NewV7()), Tenant: tenant, User: u.ID, Purpose: authn.PurposeInvitation,
		Email: email, TokenHash: sha256.Sum256([]byte("link secret of " + email)), Role: role,
		CreatedAt: now, ExpiresAt: now.Add(authn.DefaultInvitationTTL)}
	require.NoError(t, s.CreateInvitation(context.Background(), u, tk, evs.ev(tenant, "user.invite")))
	return u, tk
}

func TestAcceptInvitationRaceAcrossInstances(t *testing.T) {
	// Two app instances (two *sql.DB pools) on one database receive the same
	// invitation link 100 times at once: the conditional UPDATE lets exactly one
	// acceptance through, whichever instance runs it, and only its event is chained.
	const instances, racers = 2, 100
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		stores := newStores(t, d, instances, sqlstore.Options{})
		evs := newEvents(t, newClock())
		tn, agent := createTenant(t, stores[0], evs)
		u, tk := inviteForTest(t, stores[0], evs, tn.ID, agent.ID, "ann@example.com")
		pv, err := stores[1].PolicyVersion(ctx, tn.ID)
		require.NoError(t, err)

		accepts := make([]audit.Event, racers)
		for i := range accepts {
			accepts[i] = evs.ev(tn.ID, "user.accept")
		}
		errs := make([]error, racers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			s := stores[i%instances]
			wg.Go(func() {
				<-start
				_, errs[i] = s.AcceptInvitation(ctx, tn.ID, tk.TokenHash, tk.CreatedAt.Add(time.Hour), fmt.Sprint("hash-", i), accepts[i])
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "two acceptances succeeded")
				winner = i
				continue
			}
			assert.ErrorIs(t, err, authn.ErrTicketInvalid, "racer %d", i)
		}
		require.NotEqual(t, -1, winner, "no acceptance succeeded")
		h, err := stores[1].PasswordHash(ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint("hash-", winner), h)
		v, err := stores[0].PolicyVersion(ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, pv+1, v)
		all := allEvents(t, stores[1], tn.ID)
		var accepted []uuid.UUID
		for _, e := range all {
			if e.Action == "user.accept" {
				accepted = append(accepted, e.ID)
			}
		}
		assert.Equal(t, []uuid.UUID{accepts[winner].ID}, accepted, "only the winner's event is stored")
		assert.Zero(t, verifyChain(audit.Chain{}, all), "the chain verifies")
	})
}

func TestTombstoneCannotHoldPersonalData(t *testing.T) {
	// The schema backs the store up: even a write behind its back cannot give a
	// deleted user an e-mail, a name or a password hash again.
	forEachDialect(t, func(t *testing.T, d sqlstore.Dialect) {
		ctx := context.Background()
		s := newStore(t, d)
		evs := newEvents(t, newClock())
		tn, agent := createTenant(t, s, evs)
		u, _ := inviteForTest(t, s, evs, tn.ID, agent.ID, "ann@example.com")
		require.NoError(t, s.DeleteUser(ctx, tn.ID, u.ID, []authn.Status{authn.StatusInvited}, authn.ReasonRemoved,
			time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC), evs.ev(tn.ID, "user.delete")))
		db := sqlstore.DBForTest(s)
		for _, set := range []string{"email = 'ann@example.com'", "name = 'Ann'", "password_hash = '$argon2id$x'"} {
			_, err := db.ExecContext(ctx, "UPDATE cs_users SET "+set+" WHERE tenant_id = $1 AND id = $2", tn.ID, u.ID)
			assert.Error(t, err, set)
		}
		got, err := s.User(ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Equal(t, authn.StatusDeleted, got.Status)
		assert.Empty(t, got.Email)
		assert.Empty(t, got.Name)
	})
}
