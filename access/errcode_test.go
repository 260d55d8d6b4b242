package access_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/stretchr/testify/assert"
)

// waitErr is an error that carries its wait, as token.RegenerateTooSoonError does.
type waitErr struct {
	sentinel error
	wait     time.Duration
}

func (e waitErr) Error() string             { return e.sentinel.Error() }
func (e waitErr) Unwrap() error             { return e.sentinel }
func (e waitErr) RetryAfter() time.Duration { return e.wait }

var errSlowDown = errors.New("test: slow down")

func init() {
	access.RegisterErrors(access.ErrorMapping{Err: errSlowDown, Status: http.StatusTooManyRequests, Code: "slow_down"})
}

// RetryAfter rounds the wait up to whole seconds, at least 1; WriteErrorFor sends it
// as Retry-After on a 429 answer only, and not for an error that carries no wait.
func TestRetryAfter(t *testing.T) {
	for _, c := range []struct {
		wait time.Duration
		want int64
	}{{0, 1}, {-time.Second, 1}, {time.Nanosecond, 1}, {time.Second, 1}, {time.Second + time.Microsecond, 2},
		{39*time.Second + 500*time.Millisecond, 40}, {10 * time.Minute, 600}} {
		got, ok := access.RetryAfter(fmt.Errorf("wrapped: %w", waitErr{errSlowDown, c.wait}))
		assert.True(t, ok)
		assert.Equal(t, c.want, got, "wait %v", c.wait)
	}
	_, ok := access.RetryAfter(errSlowDown)
	assert.False(t, ok, "the bare sentinel knows no wait")

	rec := httptest.NewRecorder()
	access.WriteErrorFor(rec, waitErr{errSlowDown, 2500 * time.Millisecond})
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "3", rec.Header().Get("Retry-After"))
	assert.JSONEq(t, `{"error":"slow_down"}`, rec.Body.String())

	rec = httptest.NewRecorder()
	access.WriteErrorFor(rec, errSlowDown)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Empty(t, rec.Header().Values("Retry-After"), "no wait, no header")

	rec = httptest.NewRecorder()
	access.WriteErrorFor(rec, waitErr{access.ErrForbidden, time.Minute})
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Empty(t, rec.Header().Values("Retry-After"), "only a 429 answer carries it")
}
