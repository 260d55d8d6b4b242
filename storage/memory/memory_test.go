package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/memory"
	"github.com/callshield/callshield/storage/storetest"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConformance runs the storage conformance suite against the memory store, with
// the default unkeyed chain and with a keyed one.
func TestConformance(t *testing.T) {
	t.Run("unkeyed chain", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Stores {
			s := memory.New(memory.Options{})
			return storetest.Stores{Access: s, Audit: s, Authn: s, Token: s, ReopenAudit: reopen(s)}
		})
	})
	t.Run("keyed chain", func(t *testing.T) {
		chain := audit.Chain{Key: []byte("0123456789abcdef0123456789abcdef")}
		storetest.Run(t, func(t *testing.T) storetest.Stores {
			s := memory.New(memory.Options{Chain: chain})
			return storetest.Stores{Access: s, Audit: s, Authn: s, Token: s, Chain: chain, ReopenAudit: reopen(s)}
		})
	})
}

// reopen is storetest.Stores.ReopenAudit for s: the memory store has no restart, so
// it keeps its data and switches its chain (memory.SetChainForTest).
func reopen(s *memory.Store) func(audit.Chain) (audit.Retainer, error) {
	return func(c audit.Chain) (audit.Retainer, error) { return memory.SetChainForTest(s, c), nil }
}

// The memory store keeps times as the SQL adapters do, in UTC truncated to
// microseconds, so that code tested against it meets the same values in production.
func TestTimesAreStoredInUTCMicroseconds(t *testing.T) {
	ctx := t.Context()
	s := memory.New(memory.Options{})
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	created := time.Date(2025, 3, 14, 20, 39, 26, 535897999, zone)
	tn := access.Tenant{ID: uuid.New(), Name: "Acme", CreatedAt: created, UpdatedAt: created}
	ev := audit.Event{ID: uuid.New(), Tenant: tn.ID, Time: created.UTC(), Kind: audit.KindChange, Action: "tenant.create", Outcome: audit.Success}
	require.NoError(t, s.CreateTenant(ctx, tn, nil, ev))

	got, err := s.Tenant(ctx, tn.ID)
	require.NoError(t, err)
	want := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
	assert.Equal(t, want, got.CreatedAt)
	assert.Equal(t, time.UTC, got.CreatedAt.Location())
	events, err := s.Events(ctx, tn.ID, audit.Query{})
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, want, events[0].Time)
	assert.Equal(t, audit.Chain{}.Link(nil, &events[0]), events[0].Hash)
}

// The store fails closed on events that were not prepared: it will not chain an event
// without an ID or time, or one that audit.Event.Validate rejects, and an access
// mutation carrying such an event does not happen.
func TestUnpreparedEventsAreRejected(t *testing.T) {
	ctx := t.Context()
	s := memory.New(memory.Options{})
	tenant := uuid.New()
	valid := audit.Event{ID: uuid.New(), Tenant: tenant, Time: time.Now().UTC(), Kind: audit.KindChange, Action: "tenant.create", Outcome: audit.Success}
	cases := map[string]func(e *audit.Event){
		"no ID":        func(e *audit.Event) { e.ID = uuid.Nil },
		"no time":      func(e *audit.Event) { e.Time = time.Time{} },
		"non-UTC time": func(e *audit.Event) { e.Time = e.Time.In(time.FixedZone("X", 3600)) },
		"no tenant":    func(e *audit.Event) { e.Tenant = uuid.Nil },
		"bad kind":     func(e *audit.Event) { e.Kind = "Not A Name" },
		"bad outcome":  func(e *audit.Event) { e.Outcome = "maybe" },
	}
	for name, spoil := range cases {
		e := valid
		spoil(&e)
		err := s.Append(ctx, valid, e)
		assert.ErrorIs(t, err, audit.ErrInvalidEvent, name)
		err = s.CreateTenant(ctx, access.Tenant{ID: tenant, Name: "Acme"}, nil, e)
		assert.ErrorIs(t, err, audit.ErrInvalidEvent, name)
	}
	events, err := s.Events(ctx, tenant, audit.Query{})
	require.NoError(t, err)
	assert.Empty(t, events, "a rejected batch stores nothing")
	_, err = s.Tenant(ctx, tenant)
	assert.ErrorIs(t, err, storage.ErrNotFound, "a mutation with a rejected event does not happen")
}

// A cancelled context stops a call before it changes anything.
func TestCancelledContextChangesNothing(t *testing.T) {
	s := memory.New(memory.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tn := access.Tenant{ID: uuid.New(), Name: "Acme"}
	ev := audit.Event{ID: uuid.New(), Tenant: tn.ID, Time: time.Now().UTC(), Kind: audit.KindChange, Action: "tenant.create", Outcome: audit.Success}
	assert.ErrorIs(t, s.CreateTenant(ctx, tn, nil, ev), context.Canceled)
	assert.ErrorIs(t, s.Append(ctx, ev), context.Canceled)
	_, err := s.Events(ctx, tn.ID, audit.Query{})
	assert.ErrorIs(t, err, context.Canceled)

	_, err = s.Tenant(t.Context(), tn.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	events, err := s.Events(t.Context(), tn.ID, audit.Query{})
	require.NoError(t, err)
	assert.Empty(t, events)
}

// The key passed in Options is copied: changing the caller's slice later does not
// change the chain the store links with.
func TestChainKeyIsCopied(t *testing.T) {
	key := []byte("0123456789abcdef")
	s := memory.New(memory.Options{Chain: audit.Chain{Key: key}})
	key[0] ^= 0xff
	tenant := uuid.New()
	e := audit.Event{ID: uuid.New(), Tenant: tenant, Time: time.Now().UTC().Truncate(time.Microsecond), Kind: audit.KindLogin, Action: "login", Outcome: audit.Success}
	require.NoError(t, s.Append(t.Context(), e))
	events, err := s.Events(t.Context(), tenant, audit.Query{})
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, audit.Chain{Key: []byte("0123456789abcdef")}.Link(nil, &events[0]), events[0].Hash)
}
