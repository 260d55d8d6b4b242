// Package pglisten keeps an access.Engine's policy cache, and an authn.Service's
// session cache, fresh through PostgreSQL LISTEN/NOTIFY (the notifications of
// sqlstore's migrations 0010, 0015 and 0017). It is a package of its own because it
// needs the pgx driver, which storage/sqlstore never imports (the host picks its
// driver); a host on PostgreSQL imports pgx anyway.
//
//	l, err := pglisten.New(db, engine, pglisten.Options{Sessions: accounts})
//	go l.Run(ctx) // one per process
//
// Any role that may connect to the database may LISTEN and NOTIFY on the channel
// (PostgreSQL has no privilege for either). The listener's heartbeats are therefore
// authenticated with an HMAC under a key that never leaves the process, a forged
// policy version costs one refresh (the store's read settles it), and a forged
// session notification only drops cache entries: see [Listener].
package pglisten

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"database/sql"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/stdlib"
)

// PolicyChannel is the PostgreSQL notification channel of policy changes: migration
// 0010 notifies it with '<tenant id> <version>' in every transaction that increments a
// tenant's policy version, and migration 0015 with 's <tenant id> <secret hash in
// hex>' in every transaction that ends a session or changes what its lookup returns
// (migration 0017: 's *' after a TRUNCATE of the sessions, every session). Listeners
// send their heartbeats through it too: 'hb <listener id> <sent at, unix nanoseconds
// of the engine's clock> <MAC>'.
const PolicyChannel = "callshield_policy"

// macLen is the length of a heartbeat's MAC: HMAC-SHA256 truncated to 16 bytes.
const macLen = 16

// Options configure a [Listener]. The zero value is valid.
type Options struct {
	// Heartbeat is how often the listener sends itself a heartbeat through the
	// channel; each one that comes back renews the engine's trust in its cache for
	// the engine's ListenLease. If zero, a third of the engine's ListenLease.
	Heartbeat time.Duration
	// RetryMin and RetryMax bound the wait before reconnecting after a failure; it
	// doubles from RetryMin up to RetryMax. If zero, 100 ms and 5 s.
	RetryMin, RetryMax time.Duration
	// After returns a channel that receives once d has passed: heartbeat and retry
	// waits. If nil, time.After. Tests inject it.
	After func(d time.Duration) <-chan time.Time
	// Logger receives connection failures. If nil, slog.Default().
	Logger *slog.Logger
	// Sessions, if set, is told of session changes (the notifications of sqlstore's
	// migration 0015, through the same channel) and of the subscription's health, so
	// that its session cache is trusted exactly while this listener vouches for it:
	// pass the authn.Service. Without it that cache never fills on PostgreSQL and
	// every request reads its session. The Service's access engine must be this
	// listener's engine: its lease is the engine's ListenLease, judged by the
	// engine's clock, which also stamps the heartbeats.
	Sessions SessionCache
}

// SessionCache is the session cache a listener keeps fresh; *authn.Service
// implements it (see authn.Options.SessionCache).
type SessionCache interface {
	// SessionFeedStarted: subscribed; every change committed from now on is announced.
	SessionFeedStarted()
	// SessionFeedConfirmed: a heartbeat sent at sentAt (the engine's clock) came back.
	SessionFeedConfirmed(sentAt time.Time)
	// SessionFeedStopped: the subscription is lost; announcements may be missed.
	SessionFeedStopped()
	// SessionChanged: the session with this secret hash changed or ended.
	SessionChanged(tenant uuid.UUID, secretHash [32]byte)
	// SessionsChanged: any session may have changed or ended.
	SessionsChanged()
}

// Listener keeps an [access.Engine]'s cache fresh through PostgreSQL LISTEN/NOTIFY
// on one dedicated connection taken from the Store's pool: run one per process. While
// it is subscribed and its heartbeats come back, the engine serves requests without
// reading the policy version (no round trip), and refreshes a tenant as soon as its
// change is announced. The moment the connection fails the engine falls back to
// version reads; if the connection stalls or the notification queue lags, the
// heartbeats stop coming back and the engine falls back within its ListenLease, the
// bound between a commit on another instance and its enforcement here. It never fails
// open: without a fresh confirmation every request reads the version.
//
// # Forged notifications
//
// PostgreSQL has no privilege for LISTEN or NOTIFY: any role that may connect to the
// database can read the channel (this listener's ID included) and send on it.
//
//   - Heartbeats are authenticated. Each Listener draws a random 32-byte key when it
//     is made (crypto/rand; it never leaves the process: it is neither sent nor
//     logged), and each heartbeat carries an HMAC-SHA256 (the first 16 bytes, in hex)
//     of the listener's ID and send time under it. A heartbeat with this listener's
//     ID whose MAC does not verify (compared in constant time) vouches for nothing:
//     it is counted ([Listener.RejectedHeartbeats]) and otherwise ignored, like an
//     unreadable one. It neither revokes the lease nor empties a cache, so forging
//     costs the forger a NOTIFY and this listener one HMAC, and never a read. Without
//     the MAC, a heartbeat forged with a send time between its own commit and its
//     arrival would vouch for genuine changes still queued behind it.
//   - A replayed genuine heartbeat verifies, but it only confirms its own send time
//     again: the lease it grants ends when the original's did (or it already has),
//     and the queue order still holds (the copy commits after the original). Replays
//     are harmless and accepted.
//   - A forged policy version costs one refresh: the engine settles an announced
//     version on the store's (see access.Engine.Notified).
//   - A forged session notification only drops cache entries (an unreadable one
//     empties the session cache): reads, never a stale session.
type Listener struct {
	db       *sql.DB
	engine   *access.Engine
	opts     Options
	id       string
	key      *[32]byte // the heartbeats' MAC key; a pointer, so that %v shows no bytes
	rejected atomic.Int64
}

// New returns a listener for engine over db, a handle of the pgx stdlib driver on the
// database of the engine's sqlstore.Store (migrated to 0010 or later). Call Run to
// start it. (SQLite has no notifications: engines there read the policy version, see
// access.EngineOptions.)
func New(db *sql.DB, engine *access.Engine, opts Options) (*Listener, error) {
	if db == nil || engine == nil {
		return nil, errors.New("pglisten: nil *sql.DB or engine")
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = engine.ListenLease() / 3
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 100 * time.Millisecond
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 5 * time.Second
	}
	opts.RetryMax = max(opts.RetryMax, opts.RetryMin)
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var b [8]byte
	key := new([32]byte)
	// crypto/rand.Read never fails (since Go 1.24 it crashes the program instead of
	// returning a key that is not random).
	_, _ = rand.Read(b[:])
	_, _ = rand.Read(key[:])
	return &Listener{db: db, engine: engine, opts: opts, id: hex.EncodeToString(b[:]), key: key}, nil
}

// RejectedHeartbeats returns how many heartbeats naming this listener arrived whose
// MAC did not verify: forged by a role that may connect to the database (they vouch
// for nothing and are otherwise ignored), for an alert. It counts since New.
func (l *Listener) RejectedHeartbeats() int64 { return l.rejected.Load() }

// mac returns the MAC of a heartbeat of this listener sent at nanos (its decimal
// text, as in the payload).
func (l *Listener) mac(nanos string) [macLen]byte {
	h := hmac.New(sha256.New, l.key[:])
	h.Write([]byte("callshield pglisten heartbeat\x00" + l.id + "\x00" + nanos))
	var out [macLen]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Run listens until ctx ends, reconnecting after failures, and returns ctx's error.
// The engine trusts its cache only while Run is subscribed and confirmed.
func (l *Listener) Run(ctx context.Context) error {
	wait := l.opts.RetryMin
	for {
		start := time.Now()
		err := l.listen(ctx)
		l.engine.ListenStopped()
		if l.opts.Sessions != nil {
			l.opts.Sessions.SessionFeedStopped()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.opts.Logger.Warn("pglisten: listener lost its connection; engines read versions until it is back",
			"err", err, "retry_in", wait)
		if time.Since(start) > l.opts.RetryMax {
			wait = l.opts.RetryMin // it had been up a while: start over
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.opts.After(wait):
		}
		wait = min(2*wait, l.opts.RetryMax)
	}
}

// listen subscribes on one dedicated connection and handles notifications until the
// connection fails or ctx ends.
func (l *Listener) listen(ctx context.Context) error {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("pglisten: listener needs the pgx stdlib driver, not %T", dc)
		}
		pc := sc.Conn()
		// Entries confirmed before this moment may predate the subscription.
		since := l.engine.Now()
		if _, err := pc.Exec(ctx, "LISTEN "+PolicyChannel); err != nil {
			return err
		}
		l.engine.ListenStarted(since)
		if l.opts.Sessions != nil {
			l.opts.Sessions.SessionFeedStarted()
		}
		go l.heartbeats(ctx)
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return err
			}
			l.handle(n.Payload)
		}
	})
}

// heartbeats sends a heartbeat now and every Heartbeat until ctx ends. A heartbeat
// goes through another connection of the pool, as a change's notification would.
func (l *Listener) heartbeats(ctx context.Context) {
	for {
		if _, err := l.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", PolicyChannel, l.heartbeat(l.engine.Now())); err != nil && ctx.Err() == nil {
			l.opts.Logger.Warn("pglisten: listener heartbeat failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-l.opts.After(l.opts.Heartbeat):
		}
	}
}

// heartbeat returns the payload of a heartbeat sent at.
func (l *Listener) heartbeat(at time.Time) string {
	nanos := strconv.FormatInt(at.UnixNano(), 10)
	mac := l.mac(nanos)
	return "hb " + l.id + " " + nanos + " " + hex.EncodeToString(mac[:])
}

// handle applies one notification: a tenant's new version, a session's change, or a
// heartbeat (only this listener's own count: another process's clock says nothing
// about this one's; and only with a MAC under this listener's key, see [Listener]).
func (l *Listener) handle(payload string) {
	if rest, ok := strings.CutPrefix(payload, "hb "); ok {
		id, rest, _ := strings.Cut(rest, " ")
		if id != l.id {
			return // another listener's
		}
		nanos, sum, _ := strings.Cut(rest, " ")
		var got [macLen]byte
		want := l.mac(nanos)
		if len(sum) != hex.EncodedLen(macLen) || !decodes(got[:], sum) || !hmac.Equal(got[:], want[:]) {
			// Forged (or corrupted): it vouches for nothing. Not a reason to drop the
			// caches or the lease either, or forging would be a cheap denial of service.
			l.rejected.Add(1)
			return
		}
		// A heartbeat cannot come back before it was sent: one stamped after now was
		// sent before the clock stepped back (a forger cannot make its MAC), and
		// would vouch past the lease.
		if n, err := strconv.ParseInt(nanos, 10, 64); err == nil && n <= l.engine.Now().UnixNano() {
			l.engine.ListenConfirmed(time.Unix(0, n))
			if l.opts.Sessions != nil {
				l.opts.Sessions.SessionFeedConfirmed(time.Unix(0, n))
			}
		}
		return
	}
	if rest, ok := strings.CutPrefix(payload, "s "); ok {
		if l.opts.Sessions == nil {
			return
		}
		if rest == "*" { // every session may have changed (a TRUNCATE)
			l.opts.Sessions.SessionsChanged()
			return
		}
		t, h, _ := strings.Cut(rest, " ")
		tenant, err := uuid.Parse(t)
		var hash [32]byte
		if len(h) != hex.EncodedLen(len(hash)) {
			err = errors.New("bad hash")
		} else if _, herr := hex.Decode(hash[:], []byte(h)); herr != nil {
			err = herr
		}
		if err != nil {
			// A session notification this listener cannot read: drop every cached
			// session rather than keep one that may have ended.
			l.opts.Sessions.SessionFeedStarted()
			return
		}
		l.opts.Sessions.SessionChanged(tenant, hash)
		return
	}
	t, v, ok := strings.Cut(payload, " ")
	if !ok {
		return
	}
	tenant, err1 := uuid.Parse(t)
	version, err2 := strconv.ParseInt(v, 10, 64)
	if err1 == nil && err2 == nil {
		l.engine.Notified(tenant, version)
	}
}

// decodes reports whether s is the hex encoding of len(dst) bytes, decoding it into dst.
func decodes(dst []byte, s string) bool {
	n, err := hex.Decode(dst, []byte(s))
	return err == nil && n == len(dst)
}
