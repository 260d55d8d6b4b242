package access

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/google/uuid"
)

// memberTable maps user IDs to their compiled grants. It is the structure every
// decision reads, built for that: one open-addressing array of fixed-size slots with no
// pointers (the garbage collector never scans it), where a member's tenant role and
// first three project grants sit in the slot itself. A decision is one hash, usually one
// cache line, and a bit test, whether the tenant has a thousand members or a million.
//
// The hash is keyed with random values drawn per compiled policy. Keys are compared in
// full, so a collision only lengthens a probe, never changes a decision.
type memberTable struct {
	slots    []memberSlot // power-of-two length, at most 3/4 full
	mask     uint64
	k0, k1   uint64
	overflow []slotGrant // grants beyond the inline ones, per member contiguous and sorted
	rights   []RightSet  // by role index
	roles    []*compiledRole
	count    int
}

const inlineGrants = 3

type slotGrant struct {
	project uuid.UUID
	role    uint16 // index into memberTable.rights: the override, or the tenant role
}

type memberSlot struct {
	user   uuid.UUID
	role   uint16 // the tenant role's index
	flags  uint8
	n      uint32 // number of project grants
	more   uint32 // index in overflow of grant inlineGrants
	inline [inlineGrants]slotGrant
}

const (
	slotUsed     = 1 << iota
	slotSeeAll   // the tenant role holds SeeAllProjects (never set with slotDisabled)
	slotDisabled // Member.Disabled: the member holds no right
)

func (t *memberTable) hash(u uuid.UUID) uint64 {
	hi, lo := bits.Mul64(binary.LittleEndian.Uint64(u[:8])^t.k0, binary.LittleEndian.Uint64(u[8:])^t.k1)
	return hi ^ lo
}

// find returns the member's slot, or nil.
func (t *memberTable) find(user uuid.UUID) *memberSlot {
	if len(t.slots) == 0 {
		return nil
	}
	for i := t.hash(user) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.flags&slotUsed == 0 {
			return nil
		}
		if s.user == user {
			return s
		}
	}
}

// grant returns the role index the member holds in a project they belong to.
func (t *memberTable) grant(s *memberSlot, project uuid.UUID) (uint16, bool) {
	n := int(s.n)
	for i := 0; i < n && i < inlineGrants; i++ {
		if s.inline[i].project == project {
			return s.inline[i].role, true
		}
	}
	if n <= inlineGrants {
		return 0, false
	}
	rest := t.overflow[s.more : int(s.more)+n-inlineGrants]
	if i, ok := slices.BinarySearchFunc(rest, project, func(g slotGrant, p uuid.UUID) int { return compareUUID(g.project, p) }); ok {
		return rest[i].role, true
	}
	return 0, false
}

// grants returns all of a member's project grants, sorted by project.
func (t *memberTable) grants(s *memberSlot) []slotGrant {
	n := int(s.n)
	out := make([]slotGrant, 0, n)
	out = append(out, s.inline[:min(n, inlineGrants)]...)
	if n > inlineGrants {
		out = append(out, t.overflow[s.more:int(s.more)+n-inlineGrants]...)
	}
	return out
}

// build fills the table. members maps each user to their tenant role index;
// grants holds each user's project grants (in input order, possibly with duplicates);
// disabled marks the members who hold no right.
func (t *memberTable) build(members map[uuid.UUID]uint16, grants map[uuid.UUID][]slotGrant, disabled map[uuid.UUID]bool) {
	var seed [16]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails (it crashes the program instead)
	t.k0, t.k1 = binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])
	size := 8
	for size*3 < len(members)*4 {
		size *= 2
	}
	t.slots = make([]memberSlot, size)
	t.mask = uint64(size - 1)
	t.count = len(members)
	for user, role := range members {
		gs := grants[user]
		slices.SortStableFunc(gs, func(a, b slotGrant) int { return compareUUID(a.project, b.project) })
		// A duplicate membership keeps its first row: deterministic whatever the store.
		gs = slices.CompactFunc(gs, func(a, b slotGrant) bool { return a.project == b.project })
		i := t.hash(user) & t.mask
		for t.slots[i].flags&slotUsed != 0 {
			i = (i + 1) & t.mask
		}
		s := &t.slots[i]
		s.user, s.role, s.flags, s.n = user, role, slotUsed, uint32(len(gs))
		if disabled[user] {
			s.flags |= slotDisabled
		} else if t.rights[role].Has(SeeAllProjects) {
			s.flags |= slotSeeAll
		}
		copy(s.inline[:], gs)
		if len(gs) > inlineGrants {
			s.more = uint32(len(t.overflow))
			t.overflow = append(t.overflow, gs[inlineGrants:]...)
		}
	}
}

// each calls fn for every member slot.
func (t *memberTable) each(fn func(*memberSlot)) {
	for i := range t.slots {
		if t.slots[i].flags&slotUsed != 0 {
			fn(&t.slots[i])
		}
	}
}
