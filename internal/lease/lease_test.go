package lease

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLease(t *testing.T) {
	const d = time.Second
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	var l Lease
	assert.False(t, l.Valid(t0, d), "the zero lease trusts nothing")
	l.Confirm(t0, t0, d)
	assert.True(t, l.Valid(t0.Add(999*time.Millisecond), d))
	assert.False(t, l.Valid(t0.Add(d), d), "it ends after d")

	l.Confirm(t0.Add(2*time.Second), t0.Add(time.Second), d)
	assert.False(t, l.Valid(t0.Add(time.Second), d), "a heartbeat sent after now vouches for nothing")

	l.Confirm(t0.Add(500*time.Millisecond), t0.Add(600*time.Millisecond), d)
	l.Confirm(t0.Add(100*time.Millisecond), t0.Add(600*time.Millisecond), d)
	assert.True(t, l.Valid(t0.Add(1400*time.Millisecond), d), "an older heartbeat does not shorten a later lease")

	// The clock steps back an hour: the lease granted before is too far ahead.
	back := t0.Add(-time.Hour)
	assert.False(t, l.Valid(back, d), "a lease beyond d from now is not trusted")
	l.Confirm(back, back, d)
	assert.True(t, l.Valid(back.Add(500*time.Millisecond), d), "a new heartbeat replaces it")

	l.Revoke()
	assert.False(t, l.Valid(back, d))
}

func TestLeaseConcurrentConfirms(t *testing.T) {
	const d = time.Second
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	var l Lease
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() { l.Confirm(t0.Add(time.Duration(i)*time.Millisecond), t0.Add(time.Second), d) })
	}
	wg.Wait()
	assert.True(t, l.Valid(t0.Add(1062*time.Millisecond), d), "the latest heartbeat's lease holds")
	assert.False(t, l.Valid(t0.Add(1063*time.Millisecond), d))
}
