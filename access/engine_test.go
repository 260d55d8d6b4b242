package access_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
)

// hooked wraps a store and runs afterVersion once, right after a PolicyVersion read
// returned: the moment an in-flight request has read the version but not yet used it.
type hooked struct {
	access.Store
	mu           sync.Mutex
	afterVersion func()
}

func (h *hooked) PolicyVersion(ctx context.Context, tenant uuid.UUID) (int64, error) {
	v, err := h.Store.PolicyVersion(ctx, tenant)
	h.mu.Lock()
	fn := h.afterVersion
	h.afterVersion = nil
	h.mu.Unlock()
	if fn != nil {
		fn()
	}
	return v, err
}

// A request that read the policy version just before a Service change committed must
// not confirm the cached snapshot over the change's invalidation: with MaxStaleness > 0
// the demoted user would otherwise keep their rights for up to MaxStaleness on the
// instance that made the change (review issue #14, item 5).
func TestEngineInvalidationWinsOverInFlightCheck(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := &hooked{Store: w.store}
	e := access.NewEngine(h, access.EngineOptions{MaxStaleness: time.Minute, Clock: clock})
	svc := access.NewService(h, e, access.ServiceOptions{})
	p, err := e.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	require.True(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil))

	// Let the cached confirmation expire, so that the next call reads the version; the
	// demotion commits (and invalidates) between that read and its confirmation.
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	h.mu.Lock()
	h.afterVersion = func() {
		_, err := svc.SetMember(ctx, w.admin, w.supervisorID, w.roles[access.KindAgent].ID)
		require.NoError(t, err)
	}
	h.mu.Unlock()
	p, err = e.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	require.True(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil),
		"the in-flight request decides on the version it read")

	p, err = e.Policy(ctx, w.tenant.ID)
	require.NoError(t, err)
	assert.False(t, p.Check(w.supervisor, access.ViewReports, uuid.Nil),
		"the next request sees the demotion, although MaxStaleness has not passed")
}
