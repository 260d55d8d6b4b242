package pglisten_test

import (
	"context"
	"database/sql"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage/pglisten"
	"github.com/callshield/callshield/storage/sqlstore"
)

// Workload of BenchmarkWorkplaceUpdates: signed-in agents (one workplace session
// each) in a few tenants, and the writers' goroutines per GOMAXPROCS.
const (
	benchTenants     = 4
	benchAgentsPer   = 250
	benchParallelism = 4
)

// benchAgent is one signed-in agent: the subject UpdateWorkplace is called with, and
// its session's secret hash (what the notification names).
type benchAgent struct {
	subject access.Subject
	hash    [32]byte
}

// BenchmarkWorkplaceUpdates measures authn.Service.UpdateWorkplace on PostgreSQL, the
// write that migration 0015's trigger announces with a NOTIFY at every call (each
// call here changes the state, so each one notifies), and one pglisten.Listener
// receiving those notifications. 1,000 agents in 4 tenants, one workplace session
// each, are updated round robin by benchParallelism × GOMAXPROCS goroutines, as fast
// as they go (closed loop) except in with-listener-1000rps.
//
//   - no-trigger: the notify trigger disabled in the benchmark's schema
//     (ALTER TABLE … DISABLE TRIGGER): the UPDATE without the NOTIFY, the baseline.
//   - no-listener: the trigger as migrated, nobody of this process LISTENing.
//   - with-listener: a Listener running on the same pool, given the Service as its
//     Sessions (as in production), with the default ListenLease (250 ms).
//   - with-listener-1000rps: the same with the updates paced to 1,000 a second (the
//     contact center of the question) instead of a closed loop: its ns/op and
//     updates/s are the pace's unless the writers fall behind it.
//
// Every variant reports updates/s and the latency of one call (update-ms-p50, -p99:
// the store's session read and the UPDATE, commit included). The listener variants
// also report, from outside the listener:
//
//   - trusted-%: the share of samples (every 5 ms while the updates run) in which the
//     Service's SessionCacheStats().Trusted held, that is, in which a request could
//     have been served from the session cache;
//   - hb-ms-p50, hb-ms-max: a heartbeat's round trip (its send time to the listener's
//     SessionFeedConfirmed), the delay the lease must cover: trust lapses when it
//     exceeds roughly the lease minus the heartbeat interval (250 − 83 ms by default);
//   - notify-ms-p50, -p99, -max: from the start of an UpdateWorkplace call to the
//     listener's SessionChanged for that session (so it includes the call itself);
//   - backlog-max: the most updates returned to their writers and not yet announced
//     to the listener, sampled with trusted-%.
//
// The listener exposes no lag metric of its own; these come from a SessionCache that
// passes every call on to the Service and notes when it arrived.
func BenchmarkWorkplaceUpdates(b *testing.B) {
	stores, dbs := newStores(b, 1)
	store, db := stores[0], dbs[0]
	in := newAuthnInstance(b, store, store, 0) // the default ListenLease
	agents := signInAgents(b, in, store, db)
	// Room for every writer, the listener's connection and its heartbeats.
	db.SetMaxOpenConns(benchParallelism*runtime.GOMAXPROCS(0) + 4)
	db.SetMaxIdleConns(benchParallelism*runtime.GOMAXPROCS(0) + 4)
	warnOfListeners(b, db)

	b.Run("no-trigger", func(b *testing.B) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, "ALTER TABLE cs_sessions DISABLE TRIGGER cs_sessions_notify"); err != nil {
			b.Fatal(err)
		}
		defer func() {
			if _, err := db.ExecContext(ctx, "ALTER TABLE cs_sessions ENABLE TRIGGER cs_sessions_notify"); err != nil {
				b.Fatal(err)
			}
		}()
		updateWorkplaces(b, in, agents, 0, nil)
	})
	b.Run("no-listener", func(b *testing.B) { updateWorkplaces(b, in, agents, 0, nil) })
	b.Run("with-listener", func(b *testing.B) { listenWhileUpdating(b, in, db, agents, 0) })
	b.Run("with-listener-1000rps", func(b *testing.B) { listenWhileUpdating(b, in, db, agents, time.Millisecond) })
}

// listenWhileUpdating runs a Listener for in's Service during updateWorkplaces and
// reports what it saw.
func listenWhileUpdating(b *testing.B, in *authnInstance, db *sql.DB, agents []benchAgent, pace time.Duration) {
	p := newFeedProbe(in, agents, b.N)
	l, err := pglisten.New(db, in.engine, pglisten.Options{Sessions: p})
	if err != nil {
		b.Fatal(err)
	}
	stop := run(b, l)
	defer stop()
	eventually(b, 10*time.Second, func() bool { return in.svc.SessionCacheStats().Trusted }, "the listener vouches")
	updateWorkplaces(b, in, agents, pace, p)
	p.report(b)
}

// updateWorkplaces calls UpdateWorkplace b.N times, agents round robin, from
// b.RunParallel, each call changing the state; pace > 0 starts call i at i × pace
// after the first (or as soon as a writer is free, if they lag).
func updateWorkplaces(b *testing.B, in *authnInstance, agents []benchAgent, pace time.Duration, p *feedProbe) {
	ctx := context.Background()
	statuses := [...]string{"ready", "on call", "wrap-up"}
	took := make([]time.Duration, b.N)
	var seq atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	start := time.Now()
	if p != nil {
		p.start()
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(seq.Add(1) - 1)
			if pace > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(i) * pace)))
			}
			a := agents[i%len(agents)]
			began := time.Now()
			if p != nil {
				p.starts[i].Store(began.UnixNano())
			}
			err := in.svc.UpdateWorkplace(ctx, a.subject, authn.WorkplaceState{
				Status: statuses[i%len(statuses)], StatusSince: began, Queue: "sales", CallID: "call-" + strconv.Itoa(i)})
			if err != nil {
				b.Error(err)
				return
			}
			took[i] = time.Since(began)
			if p != nil {
				p.done.Add(1)
			}
		}
	})
	b.StopTimer()
	elapsed := time.Since(start)
	if p != nil {
		p.stop()
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "updates/s")
	slices.Sort(took)
	b.ReportMetric(ms(quantile(took, 0.5)), "update-ms-p50")
	b.ReportMetric(ms(quantile(took, 0.99)), "update-ms-p99")
}

// feedProbe is the SessionCache given to the listener: it passes every call on to the
// Service and notes when heartbeats and the benchmark's notifications arrive.
type feedProbe struct {
	svc    *authn.Service
	engine *access.Engine
	n      int
	index  map[benchKey]int // a session → its agent's index; read-only
	// starts[i] is when update i began (unix ns); update i is of agent i mod n, so the
	// k-th notification of agent j is of update j + k·n.
	starts   []atomic.Int64
	received []atomic.Int64 // notifications per agent
	done     atomic.Int64   // updates returned to their writers
	total    atomic.Int64   // notifications of the benchmark's sessions

	mu        sync.Mutex
	measuring bool // between start and stop
	notify    []time.Duration
	hb        []time.Duration // heartbeats that came back while measuring
	sampling  chan struct{}
	sampled   sync.WaitGroup
	samples   int
	trusted   int
	backlog   int64
}

type benchKey struct {
	tenant uuid.UUID
	hash   [32]byte
}

func newFeedProbe(in *authnInstance, agents []benchAgent, ops int) *feedProbe {
	p := &feedProbe{svc: in.svc, engine: in.engine, n: len(agents), index: make(map[benchKey]int, len(agents)),
		starts: make([]atomic.Int64, ops), received: make([]atomic.Int64, len(agents)),
		notify: make([]time.Duration, 0, ops)}
	for i, a := range agents {
		p.index[benchKey{a.subject.Tenant, a.hash}] = i
	}
	return p
}

func (p *feedProbe) SessionFeedStarted() { p.svc.SessionFeedStarted() }
func (p *feedProbe) SessionFeedStopped() { p.svc.SessionFeedStopped() }
func (p *feedProbe) SessionsChanged()    { p.svc.SessionsChanged() }

func (p *feedProbe) SessionFeedConfirmed(sentAt time.Time) {
	lag := p.engine.Now().Sub(sentAt)
	p.svc.SessionFeedConfirmed(sentAt)
	p.mu.Lock()
	if p.measuring {
		p.hb = append(p.hb, lag)
	}
	p.mu.Unlock()
}

func (p *feedProbe) SessionChanged(tenant uuid.UUID, hash [32]byte) {
	now := time.Now()
	p.svc.SessionChanged(tenant, hash)
	j, ok := p.index[benchKey{tenant, hash}]
	if !ok {
		return // another schema's (the channel is the database's)
	}
	op := j + int(p.received[j].Add(1)-1)*p.n
	if op < len(p.starts) {
		if s := p.starts[op].Load(); s != 0 {
			p.mu.Lock()
			p.notify = append(p.notify, now.Sub(time.Unix(0, s)))
			p.mu.Unlock()
		}
	}
	p.total.Add(1)
}

// start begins sampling the cache's trust and the backlog every 5 ms.
func (p *feedProbe) start() {
	p.mu.Lock()
	p.measuring = true
	p.sampling = make(chan struct{})
	stop := p.sampling
	p.mu.Unlock()
	p.sampled.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			trusted := p.svc.SessionCacheStats().Trusted
			backlog := p.done.Load() - p.total.Load()
			p.mu.Lock()
			p.samples++
			if trusted {
				p.trusted++
			}
			p.backlog = max(p.backlog, backlog)
			p.mu.Unlock()
		}
	})
}

// stop ends the sampling (the updates have all returned).
func (p *feedProbe) stop() {
	p.mu.Lock()
	p.measuring = false
	close(p.sampling)
	p.mu.Unlock()
	p.sampled.Wait()
}

// report waits (untimed) for the notification of every update, then reports.
func (p *feedProbe) report(b *testing.B) {
	if b.Failed() {
		return
	}
	deadline := time.Now().Add(time.Minute)
	for p.total.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("the listener received %d of %d notifications within a minute after the updates", p.total.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.samples > 0 {
		b.ReportMetric(100*float64(p.trusted)/float64(p.samples), "trusted-%")
	}
	b.ReportMetric(float64(p.backlog), "backlog-max")
	slices.Sort(p.notify)
	b.ReportMetric(ms(quantile(p.notify, 0.5)), "notify-ms-p50")
	b.ReportMetric(ms(quantile(p.notify, 0.99)), "notify-ms-p99")
	b.ReportMetric(ms(quantile(p.notify, 1)), "notify-ms-max")
	if len(p.hb) > 0 {
		slices.Sort(p.hb)
		b.ReportMetric(ms(quantile(p.hb, 0.5)), "hb-ms-p50")
		b.ReportMetric(ms(quantile(p.hb, 1)), "hb-ms-max")
	}
}

// signInAgents creates benchTenants tenants of benchAgentsPer agents, each signed in
// once in a workplace session: the first agent of a tenant through the Service
// (onboardAgent, SignIn), the others by copying those two rows in SQL (new IDs, e-mail
// addresses and secret hashes), which takes a second where the Service would take
// minutes. The copies are what the Service would have written for another agent.
func signInAgents(b *testing.B, in *authnInstance, store *sqlstore.Store, db *sql.DB) []benchAgent {
	b.Helper()
	ctx := context.Background()
	var out []benchAgent
	for range benchTenants {
		tenant, _, ann := onboardAgent(b, in, store)
		res, err := in.svc.SignIn(ctx, tenant, "ann@example.com", authn.NewPassword(agentPassword),
			authn.Meta{IP: office, Kind: authn.SessionWorkplace})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO cs_users
			SELECT (jsonb_populate_record(u, jsonb_build_object('id', gen_random_uuid(),
				'email', 'agent' || g || '@example.com', 'name', 'Agent ' || g))).*
			FROM cs_users u, generate_series(2, $3) g WHERE u.tenant_id = $1 AND u.id = $2`,
			tenant, ann, benchAgentsPer); err != nil {
			b.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO cs_sessions
			SELECT (jsonb_populate_record(s, jsonb_build_object('id', gen_random_uuid(), 'user_id', u.id,
				'secret_hash', '\x' || encode(sha256(uuid_send(gen_random_uuid())), 'hex')))).*
			FROM cs_sessions s JOIN cs_users u ON u.tenant_id = s.tenant_id AND u.id <> s.user_id
			WHERE s.tenant_id = $1 AND s.id = $2`, tenant, res.Session.ID); err != nil {
			b.Fatal(err)
		}
		rows, err := db.QueryContext(ctx, "SELECT id, user_id, secret_hash FROM cs_sessions WHERE tenant_id = $1 AND kind = 'workplace'", tenant)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var a benchAgent
			var hash []byte
			if err := rows.Scan(&a.subject.Session, &a.subject.User, &hash); err != nil {
				b.Fatal(err)
			}
			a.subject.Tenant = tenant
			copy(a.hash[:], hash)
			out = append(out, a)
			n++
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		_ = rows.Close()
		if n != benchAgentsPer {
			b.Fatalf("tenant %v: %d workplace sessions, want %d", tenant, n, benchAgentsPer)
		}
	}
	// Interleave the tenants, as their agents' updates would be.
	slices.SortFunc(out, func(x, y benchAgent) int { return slices.Compare(x.hash[:], y.hash[:]) })
	return out
}

// warnOfListeners logs the other connections LISTENing on the database (other test
// runs, other processes): they receive the benchmark's notifications too, and would
// make no-listener something else.
func warnOfListeners(b *testing.B, db *sql.DB) {
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM pg_stat_activity "+
		"WHERE datname = current_database() AND query = 'LISTEN "+pglisten.PolicyChannel+"'").Scan(&n); err != nil {
		b.Fatal(err)
	}
	if n > 0 {
		b.Logf("warning: %d other connections LISTEN on %s in this database; the figures include their cost", n, pglisten.PolicyChannel)
	}
}

// quantile returns the q-quantile of sorted d (0 when empty).
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
