package pglisten_test

import (
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage/pglisten"
	"github.com/callshield/callshield/storage/sqlstore"
)

// sessionReads counts the per-request session reads of a store.
type sessionReads struct {
	*sqlstore.Store
	n atomic.Int64
}

func (c *sessionReads) SessionBySecret(ctx context.Context, tenant uuid.UUID, hash [32]byte) (authn.SessionRecord, error) {
	c.n.Add(1)
	return c.Store.SessionBySecret(ctx, tenant, hash)
}

// authnInstance is one app instance's authn and access services over a store.
type authnInstance struct {
	svc    *authn.Service
	acc    *access.Service
	engine *access.Engine
	outbox *authn.Outbox
}

func newAuthnInstance(t testing.TB, store authn.Store, as access.Store, lease time.Duration) *authnInstance {
	t.Helper()
	return newAuthnInstanceWith(t, store, as, access.EngineOptions{ListenLease: lease})
}

// newAuthnInstanceWith is newAuthnInstance with the engine's options given.
func newAuthnInstanceWith(t testing.TB, store authn.Store, as access.Store, eo access.EngineOptions) *authnInstance {
	t.Helper()
	in := &authnInstance{outbox: &authn.Outbox{}}
	in.engine = access.NewEngine(as, eo)
	in.acc = access.NewService(as, in.engine, access.ServiceOptions{})
	var err error
	in.svc, err = authn.NewService(store, in.engine, authn.Options{Mailer: in.outbox,
		Hasher: authn.NewHasher(authn.HasherOptions{Params: authn.Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
			InsecureAllowWeakParams: true}),
		LinkURL: func(_ authn.Purpose, tok authn.LinkToken) string { return "#" + tok.Reveal() }})
	require.NoError(t, err)
	return in
}

const agentPassword = "correct horse battery staple 42"

var office = netip.MustParseAddr("198.51.100.9")

// onboardAgent creates a tenant with an Admin and an active agent
// (ann@example.com) through in.
func onboardAgent(t testing.TB, in *authnInstance, store *sqlstore.Store) (tenant uuid.UUID, admin access.Subject, agent uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	tn, err := in.acc.CreateTenant(ctx, "Sessions on two instances")
	require.NoError(t, err)
	roles, err := store.Roles(ctx, tn.ID)
	require.NoError(t, err)
	kinds := map[access.RoleKind]uuid.UUID{}
	for _, r := range roles {
		kinds[r.Kind] = r.ID
	}
	admin = access.Subject{Tenant: tn.ID, User: uuid.New()}
	_, err = in.acc.SetMember(ctx, access.System(tn.ID), admin.User, kinds[access.KindAdmin])
	require.NoError(t, err)
	_, err = in.svc.Invite(ctx, admin, authn.InviteRequest{Email: "ann@example.com", Name: "Ann", Role: kinds[access.KindAgent]})
	require.NoError(t, err)
	m, _ := in.outbox.Last("ann@example.com")
	u, err := in.svc.AcceptInvitation(ctx, regexp.MustCompile(`csinv_[A-Za-z0-9_-]+`).FindString(m.Text),
		authn.NewPassword(agentPassword), authn.Meta{})
	require.NoError(t, err)
	return tn.ID, admin, u.ID
}

// Two app instances on one PostgreSQL database: instance A serves a session's repeat
// requests from its session cache (no read), and every end committed on instance B
// (logout, an administrator's end, a block) stops the session on A at its first
// request after the notification; the commit → refusal delay is measured and must
// stay within A's lease. When A's listener stops, A reads every session again.
func TestSessionCacheTwoInstances(t *testing.T) {
	stores, dbs := newStores(t, 2)
	ctx := context.Background()
	readsA := &sessionReads{Store: stores[0]}
	a := newAuthnInstance(t, readsA, stores[0], time.Second) // see TestTwoInstances on the lease
	b := newAuthnInstance(t, stores[1], stores[1], 0)
	tenant, admin, agent := onboardAgent(t, b, stores[1])

	l, err := pglisten.New(dbs[0], a.engine, pglisten.Options{Sessions: a.svc})
	require.NoError(t, err)
	stop := run(t, l)
	eventually(t, 10*time.Second, func() bool { return a.svc.SessionCacheStats().Trusted }, "the listener vouches for A's cache")

	req := authn.Request{Meta: authn.Meta{IP: office}, Path: "/calls"}
	validate := func(tok string) error {
		_, err := a.svc.ValidateSession(ctx, tok, req, time.Minute)
		return err
	}
	var lat []time.Duration
	for i := range 30 {
		res, err := b.svc.SignIn(ctx, tenant, "ann@example.com", authn.NewPassword(agentPassword), authn.Meta{IP: office})
		require.NoError(t, err)
		tok := res.Token.Reveal()
		require.NoError(t, validate(tok))
		reads := readsA.n.Load()
		for range 3 {
			require.NoError(t, validate(tok))
		}
		if a.svc.SessionCacheStats().Trusted { // a late heartbeat under load means reads, as it must
			assert.Equal(t, reads, readsA.n.Load(), "repeat requests are served from the cache")
		}
		switch i % 3 {
		case 0:
			err = b.svc.Logout(ctx, access.Subject{Tenant: tenant, User: agent, Session: res.Session.ID})
		case 1:
			err = b.svc.EndSession(ctx, admin, res.Session.ID)
		case 2:
			err = b.svc.EndSessionsOf(ctx, admin, agent)
		}
		require.NoError(t, err)
		committed := time.Now()
		eventually(t, 5*time.Second, func() bool { return errors.Is(validate(tok), authn.ErrSessionInvalid) },
			"instance A refuses the session instance B ended")
		lat = append(lat, time.Since(committed))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("end on B → refusal on A over %d sessions: p50 %v, p99 %v, max %v (bound: the lease, %v)",
		len(lat), p50, p99, lat[len(lat)-1], a.engine.ListenLease())
	assert.LessOrEqual(t, p99, a.engine.ListenLease())

	// A block on B: the user's cached session stops on A.
	res, err := b.svc.SignIn(ctx, tenant, "ann@example.com", authn.NewPassword(agentPassword), authn.Meta{IP: office})
	require.NoError(t, err)
	require.NoError(t, validate(res.Token.Reveal()))
	require.NoError(t, validate(res.Token.Reveal()))
	require.NoError(t, b.svc.Block(ctx, admin, agent))
	eventually(t, 5*time.Second, func() bool { return errors.Is(validate(res.Token.Reveal()), authn.ErrSessionInvalid) },
		"instance A refuses the blocked user's session")

	// The listener stops: A no longer trusts its cache and reads every request.
	require.NoError(t, b.svc.Unblock(ctx, admin, agent))
	res, err = b.svc.SignIn(ctx, tenant, "ann@example.com", authn.NewPassword(agentPassword), authn.Meta{IP: office})
	require.NoError(t, err)
	require.NoError(t, validate(res.Token.Reveal()))
	stop()
	assert.False(t, a.svc.SessionCacheStats().Trusted)
	reads := readsA.n.Load()
	require.NoError(t, validate(res.Token.Reveal()))
	assert.Equal(t, reads+1, readsA.n.Load(), "without the listener every request reads")
}

// The triggers of migration 0015 announce what changes a lookup's answer and not a
// touch (telemetry, one write per session per touch interval).
func TestSessionNotifications(t *testing.T) {
	stores, dbs := newStores(t, 1)
	ctx := context.Background()
	in := newAuthnInstance(t, stores[0], stores[0], 0)
	tenant, admin, agent := onboardAgent(t, in, stores[0])
	res, err := in.svc.SignIn(ctx, tenant, "ann@example.com", authn.NewPassword(agentPassword), authn.Meta{IP: office, Kind: authn.SessionWorkplace})
	require.NoError(t, err)
	conn, err := dbs[0].Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "LISTEN "+pglisten.PolicyChannel)
	require.NoError(t, err)
	h := res.Session.SecretHash
	want := "s " + tenant.String() + " " + hexOf(h[:])
	got := func() []string { return sessionNotifications(t, conn, tenant) }

	at := time.Now().Add(time.Hour)
	_, err = stores[0].TouchSession(ctx, tenant, res.Session.ID, at, at, authn.SessionTouch{IP: "192.0.2.1", UserAgent: "x", URL: "/y"})
	require.NoError(t, err)
	assert.Empty(t, got(), "a touch is not announced")

	agentSubject := access.Subject{Tenant: tenant, User: agent, Session: res.Session.ID}
	require.NoError(t, in.svc.UpdateWorkplace(ctx, agentSubject, authn.WorkplaceState{Status: "ready", Queue: "sales"}))
	assert.Equal(t, []string{want}, got(), "a workplace change")
	require.NoError(t, in.svc.Block(ctx, admin, agent))
	assert.Contains(t, got(), want, "a block (the status copy, then the end)")
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// sessionNotifications returns the session notifications of tenant conn has received,
// waiting up to 300 ms for the first and 50 ms for each further one. (The channel is
// the database's: tests running at the same time in other schemas notify it too.)
func sessionNotifications(t *testing.T, conn *sql.Conn, tenant uuid.UUID) []string {
	t.Helper()
	var out []string
	wait := 300 * time.Millisecond
	require.NoError(t, conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			n, err := pc.WaitForNotification(ctx)
			cancel()
			if err != nil {
				return nil // timed out: nothing more
			}
			if strings.HasPrefix(n.Payload, "s "+tenant.String()+" ") {
				out = append(out, n.Payload)
			}
			wait = 50 * time.Millisecond
		}
	}))
	return out
}

// A session notification the listener cannot read empties the session cache rather
// than leave a session cached that may have ended.
func TestUnreadableSessionNotificationEmptiesTheCache(t *testing.T) {
	ctx := context.Background()
	in, db, tenant, validate := listeningInstance(t)
	for _, payload := range []string{"s " + tenant.String() + " zz", "s not-a-tenant " + hexOf(make([]byte, 32)), "s " + tenant.String() + " " + hexOf(make([]byte, 40))} {
		_, err := db.ExecContext(ctx, "SELECT pg_notify($1, $2)", pglisten.PolicyChannel, payload)
		require.NoError(t, err)
		eventually(t, 5*time.Second, func() bool { return in.svc.SessionCacheStats().Entries == 0 }, "emptied by "+payload)
		require.NoError(t, validate(), "the session itself lives on")
		eventually(t, 10*time.Second, func() bool { return in.svc.SessionCacheStats().Trusted }, "trusted again after the next heartbeat")
		require.NoError(t, validate())
		require.Equal(t, 1, in.svc.SessionCacheStats().Entries, "cached again")
	}
}

// A heartbeat stamped in the future vouches for nothing: anyone who may connect to
// the database may LISTEN (and read the listener's ID in its heartbeats) and NOTIFY,
// and a forged "hb <id> <an hour ahead>" must not keep the engine's and the session
// cache's trust beyond the lease of the last real heartbeat. (It lacks the MAC too;
// the future rule itself, for a clock that stepped back, is lease.Confirm's, tested
// in access and authn.)
func TestHeartbeatFromTheFutureIsIgnored(t *testing.T) {
	stores, dbs := newStores(t, 1)
	ctx := context.Background()
	clk := &manualClock{t: time.Now()}
	in := newAuthnInstanceWith(t, stores[0], stores[0], access.EngineOptions{Clock: clk.Now, ListenLease: time.Second})
	tenant, _, _ := onboardAgent(t, in, stores[0])

	conn, err := dbs[0].Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "LISTEN "+pglisten.PolicyChannel)
	require.NoError(t, err)
	beats := make(chan time.Time) // after the first heartbeat, none until the test sends one
	l, err := pglisten.New(dbs[0], in.engine, pglisten.Options{Sessions: in.svc,
		After: func(time.Duration) <-chan time.Time { return beats }})
	require.NoError(t, err)
	run(t, l)
	fields := strings.Fields(nextHeartbeat(t, conn))
	require.Len(t, fields, 4)
	eventually(t, 10*time.Second, func() bool { return in.svc.SessionCacheStats().Trusted }, "the real heartbeat vouches")

	res, err := in.svc.SignIn(ctx, tenant, "ann@example.com", authn.NewPassword(agentPassword), authn.Meta{IP: office})
	require.NoError(t, err)
	_, err = in.svc.ValidateSession(ctx, res.Token.Reveal(), authn.Request{Meta: authn.Meta{IP: office}}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, 1, in.svc.SessionCacheStats().Entries)

	forged := "hb " + fields[1] + " " + strconv.FormatInt(clk.Now().Add(time.Hour).UnixNano(), 10)
	_, err = dbs[0].ExecContext(ctx, "SELECT pg_notify($1, $2)", pglisten.PolicyChannel, forged)
	require.NoError(t, err)
	// A session notification after it: once it has dropped the entry, the forged
	// heartbeat before it has been handled too.
	h := res.Session.SecretHash
	_, err = dbs[0].ExecContext(ctx, "SELECT pg_notify($1, $2)", pglisten.PolicyChannel, "s "+tenant.String()+" "+hexOf(h[:]))
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() bool { return in.svc.SessionCacheStats().Entries == 0 }, "both notifications handled")

	clk.Add(2 * time.Second) // past the lease of the real heartbeat
	assert.False(t, in.engine.Listening(), "the engine's trust ends with the real heartbeat's lease")
	assert.False(t, in.svc.SessionCacheStats().Trusted, "and so does the session cache's")
}

// nextHeartbeat returns the next heartbeat conn (LISTENing, as any role that may
// connect can) receives.
func nextHeartbeat(t *testing.T, conn *sql.Conn) string {
	t.Helper()
	var hb string
	require.NoError(t, conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		for hb == "" {
			wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			n, err := pc.WaitForNotification(wctx)
			cancel()
			if err != nil {
				return err
			}
			if strings.HasPrefix(n.Payload, "hb ") {
				hb = n.Payload
			}
		}
		return nil
	}))
	return hb
}

// A heartbeat without this listener's MAC vouches for nothing. A role that may
// connect LISTENs, reads the listener's ID and sends 'hb <id> <t>' with t between its
// own commit and its arrival (not in the future, so the time rule accepts it): without
// the MAC it would vouch for every change committed before t, including genuine ones
// still queued behind it. Forged heartbeats are counted, and cost neither the lease
// nor a cache entry (no denial of service beyond the NOTIFY). A replayed genuine
// heartbeat is accepted but only confirms its old send time.
func TestForgedHeartbeatVouchesForNothing(t *testing.T) {
	stores, dbs := newStores(t, 1)
	ctx := context.Background()
	clk := &manualClock{t: time.Now()}
	in := newAuthnInstanceWith(t, stores[0], stores[0], access.EngineOptions{Clock: clk.Now, ListenLease: time.Second})
	tenant, _, _ := onboardAgent(t, in, stores[0])

	conn, err := dbs[0].Conn(ctx) // the attacker's
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "LISTEN "+pglisten.PolicyChannel)
	require.NoError(t, err)
	beats := make(chan time.Time) // after the first heartbeat, none until the test sends one
	l, err := pglisten.New(dbs[0], in.engine, pglisten.Options{Sessions: in.svc,
		After: func(time.Duration) <-chan time.Time { return beats }})
	require.NoError(t, err)
	run(t, l)
	genuine := nextHeartbeat(t, conn)
	fields := strings.Fields(genuine)
	require.Len(t, fields, 4, "hb <id> <sent at> <MAC>")
	id, mac := fields[1], fields[3]
	eventually(t, 10*time.Second, func() bool { return in.svc.SessionCacheStats().Trusted }, "the real heartbeat vouches")
	notify := func(payload string) {
		t.Helper()
		_, err := dbs[0].ExecContext(ctx, "SELECT pg_notify($1, $2)", pglisten.PolicyChannel, payload)
		require.NoError(t, err)
	}
	rejected := func(n int64) func() bool { return func() bool { return l.RejectedHeartbeats() == n } }

	res, err := in.svc.SignIn(ctx, tenant, "ann@example.com", authn.NewPassword(agentPassword), authn.Meta{IP: office})
	require.NoError(t, err)
	validate := func() {
		t.Helper()
		_, err = in.svc.ValidateSession(ctx, res.Token.Reveal(), authn.Request{Meta: authn.Meta{IP: office}}, time.Minute)
		require.NoError(t, err)
	}
	validate()
	require.Equal(t, 1, in.svc.SessionCacheStats().Entries)

	clk.Add(2 * time.Second) // past the real heartbeat's lease
	require.False(t, in.engine.Listening())
	now := strconv.FormatInt(clk.Now().UnixNano(), 10) // after the forgeries' commits, before they arrive
	forgeries := []string{
		"hb " + id + " " + now,                                 // no MAC (the format before MACs)
		"hb " + id + " " + now + " " + mac,                     // the real heartbeat's MAC, on another time
		"hb " + id + " " + now + " " + mac[:30],                // too short
		"hb " + id + " " + now + " " + mac + "00",              // too long
		"hb " + id + " " + now + " " + mac + " x",              // a field more
		"hb " + id + " " + now + " " + strings.Repeat("z", 32), // not hex
	}
	for _, f := range forgeries {
		notify(f)
	}
	// A session notification after them: once it has dropped the entry, the forged
	// heartbeats before it have been handled too.
	h := res.Session.SecretHash
	notify("s " + tenant.String() + " " + hexOf(h[:]))
	eventually(t, 10*time.Second, func() bool { return in.svc.SessionCacheStats().Entries == 0 }, "the notifications handled")
	assert.False(t, in.engine.Listening(), "forged heartbeats do not renew the engine's trust")
	assert.False(t, in.svc.SessionCacheStats().Trusted, "nor the session cache's")
	assert.Equal(t, int64(len(forgeries)), l.RejectedHeartbeats())

	// The real heartbeat replayed: it verifies, and confirms its send time again, whose
	// lease has ended. A forged one after it tells when it has been handled.
	notify(genuine)
	notify("hb " + id + " " + now)
	eventually(t, 10*time.Second, rejected(int64(1+len(forgeries))), "the replay handled")
	assert.False(t, in.engine.Listening(), "a replay vouches only until its old lease ended")
	assert.False(t, in.svc.SessionCacheStats().Trusted)

	beats <- time.Time{} // the listener's next heartbeat
	eventually(t, 10*time.Second, in.engine.Listening, "a real heartbeat still vouches")
	eventually(t, 10*time.Second, func() bool { return in.svc.SessionCacheStats().Trusted }, "for the session cache too")

	// While trusted: a forged heartbeat is counted and changes nothing.
	validate()
	require.Equal(t, 1, in.svc.SessionCacheStats().Entries)
	notify("hb " + id + " " + strconv.FormatInt(clk.Now().UnixNano(), 10) + " " + strings.Repeat("0", 32))
	eventually(t, 10*time.Second, rejected(int64(2+len(forgeries))), "the forged heartbeat is counted")
	assert.True(t, in.engine.Listening(), "a forged heartbeat does not revoke the lease")
	assert.True(t, in.svc.SessionCacheStats().Trusted)
	assert.Equal(t, 1, in.svc.SessionCacheStats().Entries, "nor empty the session cache")
}

// Every other change of what the lookup returns is announced too, each with the
// secret hash the cache knows the session by: a re-authentication (auth_at), a
// rotation (the old hash), an idle-timeout change (through the copy of migration
// 0013) and the concurrent-session limit ending the oldest session.
func TestSessionNotificationsOfEveryLookupChange(t *testing.T) {
	stores, dbs := newStores(t, 1)
	ctx := context.Background()
	in := newAuthnInstance(t, stores[0], stores[0], 0)
	tenant, admin, agent := onboardAgent(t, in, stores[0])
	signIn := func() authn.SignInResult {
		res, err := in.svc.SignIn(ctx, tenant, "ann@example.com", authn.NewPassword(agentPassword), authn.Meta{IP: office})
		require.NoError(t, err)
		return res
	}
	res := signIn()
	conn, err := dbs[0].Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "LISTEN "+pglisten.PolicyChannel)
	require.NoError(t, err)
	of := func(h [32]byte) string { return "s " + tenant.String() + " " + hexOf(h[:]) }
	got := func() []string { return sessionNotifications(t, conn, tenant) }
	me := access.Subject{Tenant: tenant, User: agent, Session: res.Session.ID}

	require.NoError(t, in.svc.Reauthenticate(ctx, me, authn.NewPassword(agentPassword), authn.Meta{IP: office}))
	assert.Equal(t, []string{of(res.Session.SecretHash)}, got(), "a re-authentication")
	_, err = in.svc.RotateSession(ctx, me)
	require.NoError(t, err)
	assert.Equal(t, []string{of(res.Session.SecretHash)}, got(), "a rotation, by the old hash")

	res = signIn()
	_ = got()
	st, err := in.svc.SessionSettings(ctx, tenant)
	require.NoError(t, err)
	st.IdleTimeout, st.MaxPerUser = 10*time.Minute, 1
	_, err = in.svc.UpdateSessionSettings(ctx, admin, st)
	require.NoError(t, err)
	assert.Contains(t, got(), of(res.Session.SecretHash), "an idle-timeout change")
	signIn()
	assert.Contains(t, got(), of(res.Session.SecretHash), "the limit ends the older session")
}

// A TRUNCATE of the sessions ("sign everyone out" by an operator, a restore script)
// fires no row trigger; migration 0017's statement-level notification empties the
// cache, so a cached session does not outlive its row.
func TestTruncatedSessionsStopCachedSessions(t *testing.T) {
	in, db, _, validate := listeningInstance(t)
	_, err := db.ExecContext(context.Background(), "TRUNCATE cs_sessions")
	require.NoError(t, err)
	eventually(t, 3*in.engine.ListenLease(), func() bool { return errors.Is(validate(), authn.ErrSessionInvalid) },
		"a truncated session is refused within the lease")
}

// listeningInstance is one instance over a fresh schema whose session cache a running
// listener vouches for (lease 1 s), with an agent signed in: validate checks the
// agent's session, and has already cached it once.
func listeningInstance(t *testing.T) (in *authnInstance, db *sql.DB, tenant uuid.UUID, validate func() error) {
	t.Helper()
	stores, dbs := newStores(t, 1)
	ctx := context.Background()
	in = newAuthnInstance(t, stores[0], stores[0], time.Second)
	tenant, _, _ = onboardAgent(t, in, stores[0])
	l, err := pglisten.New(dbs[0], in.engine, pglisten.Options{Sessions: in.svc})
	require.NoError(t, err)
	run(t, l)
	eventually(t, 10*time.Second, func() bool { return in.svc.SessionCacheStats().Trusted }, "the listener vouches")
	res, err := in.svc.SignIn(ctx, tenant, "ann@example.com", authn.NewPassword(agentPassword), authn.Meta{IP: office})
	require.NoError(t, err)
	validate = func() error {
		_, err := in.svc.ValidateSession(ctx, res.Token.Reveal(), authn.Request{Meta: authn.Meta{IP: office}}, time.Minute)
		return err
	}
	require.NoError(t, validate())
	require.Equal(t, 1, in.svc.SessionCacheStats().Entries)
	return in, dbs[0], tenant, validate
}
