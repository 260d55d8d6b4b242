package access_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
)

// stalledChain is the audit store of the denial Writer: its appends wait until the
// gate opens, as appends do when the tenant's chain head is contended.
type stalledChain struct {
	*memory.Store
	gate    chan struct{}
	appends atomic.Int64
}

func (s *stalledChain) Append(ctx context.Context, events ...audit.Event) error {
	<-s.gate
	s.appends.Add(1)
	return s.Store.Append(ctx, events...)
}

// A caller flooding denied requests is answered at once while the denials wait to be
// stored, changes to the same tenant (which append to the same chain) proceed during
// the flood, and every denial is recorded afterwards, in batches (ASVS 16.3.2).
func TestDenialFloodDoesNotBlockOnTheChain(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	chain := &stalledChain{Store: w.store, gate: make(chan struct{})}
	writer := audit.NewWriter(chain, audit.WriterOptions{QueueSize: 4096, MaxBlock: -1})
	g := &access.Guard{Engine: w.engine, Denials: writer}
	h := g.Require(access.ManageCompany)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("an agent passed ManageCompany")
	}))

	const flood = 2000
	var wg sync.WaitGroup
	var denied atomic.Int64
	for range 4 {
		wg.Go(func() {
			for range flood / 4 {
				req := httptest.NewRequest(http.MethodPost, "/company", nil)
				req = req.WithContext(access.WithSubject(req.Context(), w.agent))
				rr := httptest.NewRecorder()
				h.ServeHTTP(rr, req)
				if rr.Code == http.StatusForbidden {
					denied.Add(1)
				}
			}
		})
	}
	// Meanwhile an Admin changes the tenant: the change's own event goes to the same
	// chain, unhindered by the queued denials.
	for range 20 {
		_, err := w.svc.SetMember(ctx, w.admin, uuid.New(), w.roles[access.KindAgent].ID)
		require.NoError(t, err)
	}
	wg.Wait()
	assert.Equal(t, int64(flood), denied.Load(), "every flooded request was answered 403 while the chain was stalled")
	assert.Zero(t, chain.appends.Load(), "no denial was stored yet: the requests did not wait for the chain")

	close(chain.gate)
	closeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, writer.Close(closeCtx))
	st := writer.Stats()
	assert.Equal(t, int64(flood), st.Written, "every denial is recorded")
	assert.Zero(t, st.Refused)
	assert.Less(t, chain.appends.Load(), int64(flood/10), "denials are stored in batches, not one transaction each")
	evs, err := w.store.Events(ctx, w.tenant.ID, audit.Query{Kind: audit.KindAccess, Limit: audit.MaxLimit})
	require.NoError(t, err)
	assert.Len(t, evs, min(flood, audit.MaxLimit))
	assert.Equal(t, "access.denied", evs[0].Action)
	assert.Equal(t, w.agentID, evs[0].Actor.User)
}
