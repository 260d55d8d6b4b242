package memory_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
	"github.com/callshield/callshield/storage/storetest"
	"github.com/google/uuid"
)

// TestTamperEvidence runs the tamper-evidence cases of the conformance suite against
// the memory store, tampering through memory.TamperForTest.
func TestTamperEvidence(t *testing.T) {
	chain := audit.Chain{Key: []byte("0123456789abcdef0123456789abcdef")}
	storetest.RunTamper(t, func(t *testing.T) (storetest.Stores, storetest.Tamperer) {
		s := memory.New(memory.Options{Chain: chain})
		return storetest.Stores{Access: s, Audit: s, Chain: chain}, tamperer{s}
	})
}

// tamperer is storetest.Tamperer over memory.TamperForTest.
type tamperer struct{ s *memory.Store }

// at runs fn on the event at seq, or fails if there is none.
func (tm tamperer) at(tenant uuid.UUID, seq int64, fn func(evs []audit.Event, i int) []audit.Event) error {
	var err error
	memory.TamperForTest(tm.s, tenant, func(evs []audit.Event, _ *audit.Link, _ **audit.Checkpoint) []audit.Event {
		i := slices.IndexFunc(evs, func(e audit.Event) bool { return e.Seq == seq })
		if i < 0 {
			err = fmt.Errorf("no event at seq %d", seq)
			return evs
		}
		return fn(evs, i)
	})
	return err
}

func (tm tamperer) EditReason(_ context.Context, tenant uuid.UUID, seq int64, reason string) error {
	return tm.at(tenant, seq, func(evs []audit.Event, i int) []audit.Event {
		evs[i].Reason = reason
		return evs
	})
}

func (tm tamperer) DeleteEvent(_ context.Context, tenant uuid.UUID, seq int64) error {
	return tm.at(tenant, seq, func(evs []audit.Event, i int) []audit.Event {
		return slices.Delete(evs, i, i+1)
	})
}

// SwapSeq exchanges the two events' places and Seq: each is then read where the other
// was, as rows whose seq columns were swapped are.
func (tm tamperer) SwapSeq(_ context.Context, tenant uuid.UUID, a, b int64) error {
	return tm.at(tenant, a, func(evs []audit.Event, i int) []audit.Event {
		j := slices.IndexFunc(evs, func(e audit.Event) bool { return e.Seq == b })
		if j < 0 {
			return evs
		}
		evs[i].Seq, evs[j].Seq = evs[j].Seq, evs[i].Seq
		evs[i], evs[j] = evs[j], evs[i]
		return evs
	})
}

func (tm tamperer) SetHashes(_ context.Context, tenant uuid.UUID, seq int64, prev, hash []byte) error {
	return tm.at(tenant, seq, func(evs []audit.Event, i int) []audit.Event {
		evs[i].PrevHash, evs[i].Hash = slices.Clone(prev), slices.Clone(hash)
		return evs
	})
}

func (tm tamperer) SetHead(_ context.Context, tenant uuid.UUID, head audit.Link) error {
	memory.TamperForTest(tm.s, tenant, func(evs []audit.Event, h *audit.Link, _ **audit.Checkpoint) []audit.Event {
		*h = audit.Link{Seq: head.Seq, Hash: slices.Clone(head.Hash)}
		return evs
	})
	return nil
}

func (tm tamperer) DeleteCheckpoint(_ context.Context, tenant uuid.UUID) error {
	memory.TamperForTest(tm.s, tenant, func(evs []audit.Event, _ *audit.Link, cp **audit.Checkpoint) []audit.Event {
		*cp = nil
		return evs
	})
	return nil
}

func (tm tamperer) SetKeyID(_ context.Context, tenant uuid.UUID, seq int64, keyID uint32) error {
	return tm.at(tenant, seq, func(evs []audit.Event, i int) []audit.Event {
		evs[i].KeyID = keyID
		return evs
	})
}

func (tm tamperer) SetCheckpointKeyID(_ context.Context, tenant uuid.UUID, keyID uint32) error {
	var err error
	memory.TamperForTest(tm.s, tenant, func(evs []audit.Event, _ *audit.Link, cp **audit.Checkpoint) []audit.Event {
		if *cp == nil {
			err = fmt.Errorf("no checkpoint")
			return evs
		}
		(*cp).KeyID = keyID
		return evs
	})
	return err
}
