// Package lease is the trust a change listener's heartbeats grant a cache: the access
// engine's policy cache and authn's session cache hold one each, so that the rule
// (how long a heartbeat vouches, and which heartbeats vouch for nothing) is written
// once.
package lease

import (
	"sync/atomic"
	"time"
)

// Lease is trusted until a heartbeat's send time plus its duration. The zero Lease
// trusts nothing; it is safe for concurrent use.
type Lease struct {
	until atomic.Int64 // UnixNano; 0: nothing
}

// Confirm extends the lease to sentAt + d for a heartbeat sent at sentAt that came
// back now. A sentAt after now is ignored: a heartbeat cannot come back before it was
// sent, so it was forged (anyone who may connect to the database may NOTIFY) or the
// clock stepped back, and it vouches for nothing. A later lease is kept, unless it
// lies more than d beyond now (the clock stepped back since it was granted): then
// this one replaces it.
func (l *Lease) Confirm(sentAt, now time.Time, d time.Duration) {
	n := now.UnixNano()
	if sentAt.UnixNano() > n {
		return
	}
	until := sentAt.Add(d).UnixNano()
	for {
		old := l.until.Load()
		if until <= old && old-n <= int64(d) || l.until.CompareAndSwap(old, until) {
			return
		}
	}
}

// Valid reports whether the lease vouches at now. A lease more than d ahead was not
// granted at this clock's time (it stepped back): it is not trusted until a later
// confirmation replaces it.
func (l *Lease) Valid(now time.Time, d time.Duration) bool {
	n, until := now.UnixNano(), l.until.Load()
	return n < until && until-n <= int64(d)
}

// Revoke ends the lease at once.
func (l *Lease) Revoke() { l.until.Store(0) }
