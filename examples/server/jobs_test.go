package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/sqlstore"
	"github.com/callshield/callshield/token"
)

// jobsApp is the server assembled over a real SQLite store (sqlstore, migrated) with a
// clock the test moves, for the periodic jobs.
type jobsApp struct {
	*app
	db  *sql.DB
	now *atomic.Int64 // UnixNano of a.clock()
}

func (j jobsApp) advance(d time.Duration) { j.now.Add(int64(d)) }

func newJobsApp(t *testing.T, cfg config) jobsApp {
	t.Helper()
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(t.TempDir(), "jobs.db")))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	chain := audit.Chain{Key: bytes.Repeat([]byte{7}, 32)}
	store, err := sqlstore.New(db, sqlstore.SQLite, sqlstore.Options{Chain: chain})
	require.NoError(t, err)
	require.NoError(t, store.Migrate(context.Background()))
	now := &atomic.Int64{}
	now.Store(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	cfg.Addr, cfg.Dev, cfg.PublicURL = "127.0.0.1:0", true, "http://127.0.0.1"
	a, err := assemble(cfg, store, chain, &memCalls{}, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.close(context.Background()) })
	return jobsApp{app: a, db: db, now: now}
}

// record appends n events to the tenant's chain at the app's clock.
func (j jobsApp) record(t *testing.T, tenant uuid.UUID, n int) {
	t.Helper()
	for range n {
		require.NoError(t, j.recorder.Record(context.Background(), audit.Event{
			Tenant: tenant, Kind: audit.KindChange, Action: "test.event", Outcome: audit.Success,
		}))
	}
}

func (j jobsApp) events(t *testing.T, tenant uuid.UUID) []audit.Event {
	t.Helper()
	evs, err := j.store.Events(context.Background(), tenant, audit.Query{Limit: audit.MaxLimit})
	require.NoError(t, err)
	return evs
}

// The job loop runs audit retention (audit.PurgeAll) with -audit-retention-days, on a
// real store: every tenant's events older than the retention go, behind a sealed
// checkpoint, the newer ones stay, and each chain still verifies.
func TestJobsRunAuditRetention(t *testing.T) {
	ctx := context.Background()
	j := newJobsApp(t, config{AuditRetention: 30 * 24 * time.Hour})
	t1, err := j.access.CreateTenant(ctx, "Retained One")
	require.NoError(t, err)
	t2, err := j.access.CreateTenant(ctx, "Retained Two")
	require.NoError(t, err)
	j.record(t, t1.ID, 5)
	j.record(t, t2.ID, 3)
	old1, old2 := j.events(t, t1.ID), j.events(t, t2.ID)
	require.NotEmpty(t, old1)
	require.NotEmpty(t, old2)

	j.advance(31 * 24 * time.Hour) // the events above are past the retention
	j.record(t, t1.ID, 2)          // these are not

	j.startJobs()
	require.Eventually(t, func() bool {
		st, err := j.store.AuditState(ctx, t2.ID)
		return err == nil && st.Checkpoint.Seq == old2[len(old2)-1].Seq
	}, 20*time.Second, 20*time.Millisecond, "the job purged the old events")
	require.Eventually(t, func() bool {
		st, err := j.store.AuditState(ctx, t1.ID)
		return err == nil && st.Checkpoint.Seq == old1[len(old1)-1].Seq
	}, 20*time.Second, 20*time.Millisecond, "of every tenant")

	left := j.events(t, t1.ID)
	require.Len(t, left, 2, "the events within the retention stay")
	assert.Greater(t, left[0].Seq, old1[len(old1)-1].Seq)
	assert.Empty(t, j.events(t, t2.ID))
	for _, tn := range []uuid.UUID{t1.ID, t2.ID} {
		res, err := audit.Verify(ctx, j.store, j.chain, tn, time.Time{}, time.Time{})
		require.NoError(t, err)
		assert.True(t, res.OK() && res.Anchored, "the chain verifies from its checkpoint")
	}
}

// With -audit-retention-days 0 the job keeps every event.
func TestAuditRetentionZeroKeepsEverything(t *testing.T) {
	ctx := context.Background()
	j := newJobsApp(t, config{})
	tn, err := j.access.CreateTenant(ctx, "Kept")
	require.NoError(t, err)
	j.record(t, tn.ID, 3)
	before := j.events(t, tn.ID)
	j.advance(100 * 365 * 24 * time.Hour)
	j.purgeAudit(ctx)
	assert.Equal(t, before, j.events(t, tn.ID))
	st, err := j.store.AuditState(ctx, tn.ID)
	require.NoError(t, err)
	assert.True(t, st.Checkpoint.IsZero())
}

// -audit-retention-days: days, 0 for ever, nothing negative or absurd.
func TestAuditRetentionFlag(t *testing.T) {
	c, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, defaultAuditRetentionDays*24*time.Hour, c.AuditRetention, "a default that keeps more than a year")
	assert.Greater(t, c.AuditRetention, 365*24*time.Hour)
	c, err = parseConfig([]string{"-audit-retention-days", "0"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Zero(t, c.AuditRetention)
	c, err = parseConfig([]string{"-audit-retention-days", "90"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 90*24*time.Hour, c.AuditRetention)
	for _, bad := range []string{"-1", "36501", "ten"} {
		_, err = parseConfig([]string{"-audit-retention-days", bad}, func(string) string { return "" }, io.Discard)
		assert.Error(t, err, bad)
	}
}

// The hourly purge deletes API tokens dead for longer than tokenRetention, with their
// usage, and keeps live ones: Regenerate in a loop does not grow the table for ever.
func TestPurgeJobDeletesOldDeadTokens(t *testing.T) {
	ctx := context.Background()
	j := newJobsApp(t, config{})
	tn, err := j.access.CreateTenant(ctx, "Tokens")
	require.NoError(t, err)
	ev := func() audit.Event {
		e := audit.Event{Tenant: tn.ID, Kind: audit.KindChange, Action: "token.issue", Outcome: audit.Success}
		require.NoError(t, audit.Prepare(&e, j.clock()))
		return e
	}
	mk := func() token.Token {
		tk := token.Token{ID: uuid.New(), Tenant: tn.ID, User: uuid.New(), Name: "CI", CreatedAt: j.clock()}
		tk.Hash[0], tk.Hash[1] = byte(tk.ID[0]), byte(tk.ID[15])
		copy(tk.Hash[2:], tk.ID[:])
		require.NoError(t, j.store.CreateToken(ctx, tk, ev()))
		return tk
	}
	dead, live := mk(), mk()
	require.NoError(t, j.store.RevokeToken(ctx, tn.ID, dead.ID, j.clock(), ev()))
	j.advance(tokenRetention - time.Hour)
	j.purge(ctx)
	_, err = j.store.Token(ctx, tn.ID, dead.ID)
	require.NoError(t, err, "not dead for the retention yet")
	j.advance(2 * time.Hour)
	j.purge(ctx)
	_, err = j.store.Token(ctx, tn.ID, dead.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "purged")
	_, err = j.store.Token(ctx, tn.ID, live.ID)
	assert.NoError(t, err, "the live token stays")
}

// rows counts the rows of a table of the app's database.
func (j jobsApp) rows(t *testing.T, table string, tenant uuid.UUID) int {
	t.Helper()
	var n int
	require.NoError(t, j.db.QueryRow("SELECT count(*) FROM "+table+" WHERE tenant_id = $1", tenant).Scan(&n))
	return n
}

// The job loop removes expired invitation links and two-factor enrolments
// (authn.Service.CleanupSessions) on a real store, and keeps the live ones.
func TestJobsRemoveExpiredLinksAndEnrolments(t *testing.T) {
	ctx := context.Background()
	j := newJobsApp(t, config{})
	tn, err := j.access.CreateTenant(ctx, "Links")
	require.NoError(t, err)
	roles, err := j.store.Roles(ctx, tn.ID)
	require.NoError(t, err)
	var agent uuid.UUID
	for _, r := range roles {
		if r.Kind == access.KindAgent {
			agent = r.ID
		}
	}
	invite := func(email string) authn.Invitation {
		inv, err := j.accounts.Invite(ctx, access.System(tn.ID), authn.InviteRequest{Email: email, Name: "Someone", Role: agent})
		require.NoError(t, err)
		return inv
	}
	old := invite("old@example.com")
	enrolment := authn.TwoFactorEnrolment{Tenant: tn.ID, User: old.User.ID, Sealed: bytes.Repeat([]byte{1}, 53),
		CreatedAt: j.clock(), ExpiresAt: j.clock().Add(authn.TwoFactorEnrolmentTTL)}
	require.NoError(t, j.store.SetTwoFactorEnrolment(ctx, enrolment, audit.Event{
		Tenant: tn.ID, Kind: audit.KindChange, Action: "two_factor.start", Outcome: audit.Success,
		ID: uuid.Must(uuid.NewV7()), Time: j.clock(),
	}))
	j.advance(authn.DefaultInvitationTTL + time.Minute) // both have expired
	live := invite("new@example.com")
	require.Equal(t, 2, j.rows(t, "cs_tickets", tn.ID))
	require.Equal(t, 1, j.rows(t, "cs_two_factor_enrolments", tn.ID))

	j.startJobs()
	require.Eventually(t, func() bool {
		return j.rows(t, "cs_tickets", tn.ID) == 1 && j.rows(t, "cs_two_factor_enrolments", tn.ID) == 0
	}, 20*time.Second, 20*time.Millisecond, "the job removed the expired link and enrolment")
	var id uuid.UUID
	require.NoError(t, j.db.QueryRow("SELECT id FROM cs_tickets WHERE tenant_id = $1", tn.ID).Scan(&id))
	assert.Equal(t, live.Ticket, id, "the live invitation stays")
}
