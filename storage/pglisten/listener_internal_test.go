package pglisten

import (
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
)

// clock is an engine clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Only a heartbeat MACed under this listener's key vouches: another listener's key
// (another process that took the same ID, or a forger's) does not, whatever its ID
// and time; a replay of a genuine heartbeat confirms only its own send time. The key
// shows in no payload and no formatting of the listener.
func TestHeartbeatMAC(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}
	e := access.NewEngine(nil, access.EngineOptions{Clock: clk.Now, ListenLease: time.Second})
	db, err := sql.Open("pgx", "postgres://nowhere.invalid/x") // never connects
	require.NoError(t, err)
	defer db.Close()
	l, err := New(db, e, Options{})
	require.NoError(t, err)
	other, err := New(db, e, Options{})
	require.NoError(t, err)
	other.id = l.id
	e.ListenStarted(clk.Now())

	l.handle(other.heartbeat(clk.Now()))
	assert.False(t, e.Listening(), "a MAC under another key vouches for nothing")
	assert.Equal(t, int64(1), l.RejectedHeartbeats())
	other.handle(l.heartbeat(clk.Now()))
	assert.Equal(t, int64(1), other.RejectedHeartbeats(), "and the other way round")

	sent := clk.Now()
	genuine := l.heartbeat(sent)
	l.handle(genuine)
	assert.True(t, e.Listening(), "its own heartbeat vouches")
	clk.Add(2 * time.Second)
	require.False(t, e.Listening())
	l.handle(genuine) // replayed after its lease
	assert.False(t, e.Listening(), "a replay confirms only its old send time")
	assert.Equal(t, int64(1), l.RejectedHeartbeats(), "a replay is not counted as forged")

	key := hex.EncodeToString(l.key[:])
	assert.NotContains(t, genuine, key)
	formatted := fmt.Sprintf("%v %+v %#v", l, l, l)
	assert.NotContains(t, formatted, key)
	assert.NotContains(t, strings.ToUpper(formatted), strings.ToUpper(key))
	assert.NotContains(t, formatted, fmt.Sprint(l.key[:]), "nor as a byte list")
}
