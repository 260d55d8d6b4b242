package memory

import (
	"github.com/callshield/callshield/audit"
	"github.com/google/uuid"
)

// TamperForTest lets the tests of this package change a tenant's stored audit chain
// behind the store's back, as an attacker with access to its memory would: under the
// store's lock, edit receives the tenant's events (in the order Events reads them),
// its chain head and its checkpoint (nil if none), may change them in place, and
// returns the events to keep. It is defined in a _test.go file, so it is no part of
// the package's API.
func TamperForTest(s *Store, tenant uuid.UUID, edit func(events []audit.Event, head *audit.Link, cp **audit.Checkpoint) []audit.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	head := s.audit.heads[tenant]
	var cp *audit.Checkpoint
	if c, ok := s.audit.checkpoints[tenant]; ok {
		cp = &c
	}
	s.chains[tenant] = edit(s.chains[tenant], &head, &cp)
	if s.audit.heads == nil {
		s.audit.heads = make(map[uuid.UUID]audit.Link)
	}
	s.audit.heads[tenant] = head
	if cp == nil {
		delete(s.audit.checkpoints, tenant)
	} else {
		if s.audit.checkpoints == nil {
			s.audit.checkpoints = make(map[uuid.UUID]audit.Checkpoint)
		}
		s.audit.checkpoints[tenant] = *cp
	}
}

// SetChainForTest makes s link with chain from now on, as the memory store of an app
// restarted with another key ring would (its data kept), and returns s.
func SetChainForTest(s *Store, chain audit.Chain) *Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chain = chain.Clone()
	s.chainErr = chain.Validate()
	return s
}
