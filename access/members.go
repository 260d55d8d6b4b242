package access

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/google/uuid"
)

// memberTable maps user IDs to their compiled grants. It is the structure every
// decision reads, built for that and for size: a member is one fixed-size, pointer-free
// memberSlot (40 bytes: the user ID, the tenant role's index and the first three
// project grants, each a project index and a role index of 2 bytes each), found through
// an open-addressing index of 8-byte words (a hash tag and the slot's position) that is
// at most 3/4 full. The garbage collector never scans either array. A decision is one
// hash, one index word, one slot and a bit test, whether the tenant has a thousand
// members or a million.
//
// A table is a base set of members plus, after incremental refreshes, an overlay set
// holding the members changed since the base was built (removed members as markers).
// Both sets are immutable once published: a refresh builds a new overlay (work in
// proportion to the changes) and shares the base; a compaction (in the background)
// folds the overlay into a new base.
//
// The hash is keyed with random values drawn per set. Keys are compared in full, so a
// collision only lengthens a probe, never changes a decision.
type memberTable struct {
	base *memberSet
	over *memberSet // nil: no change since base
	// rights and roles are indexed by the role indices the slots hold; indices stay
	// stable across incremental refreshes (a deleted role keeps its index, with no
	// rights, and no slot refers to it).
	rights []RightSet
	roles  []*compiledRole
	// projectIDs are indexed by the project indices the slots hold; projects is the
	// index from ID to project index, of the projects that exist.
	projectIDs []uuid.UUID
	projects   projectIndex
}

// maxProjectIndex bounds the projects a policy indexes: grants name projects with 2
// bytes. Memberships of projects beyond it grant nothing (Compile never widens access).
const maxProjectIndex = 0xffff

const inlineGrants = 3

// packedGrant is one project grant inside a memberSet: the project's index in
// memberTable.projectIDs and the role index (the override, or the tenant role).
type packedGrant struct {
	project uint16
	role    uint16
}

// slotGrant is a grant as the Policy methods see it.
type slotGrant struct {
	project uuid.UUID
	role    uint16 // index into memberTable.rights
}

type memberSlot struct {
	user   uuid.UUID
	role   uint16 // the tenant role's index
	flags  uint8
	_      uint8
	n      uint32 // number of project grants, sorted by project index
	more   uint32 // index in the set's overflow of grant inlineGrants
	inline [inlineGrants]packedGrant
}

const (
	slotDisabled = 1 << iota // Member.Disabled: the member holds no right
	slotRemoved              // overlay only: the user is no member any more
	slotOverlay              // the slot lives in the overlay set (its overflow is there)
)

// memberSet is one immutable hash set of member slots.
type memberSet struct {
	index    []uint64 // 0: empty; else hash tag << 32 | slot position + 1
	mask     uint64
	k0, k1   uint64
	slots    []memberSlot
	overflow []packedGrant // grants beyond the inline ones, per member contiguous and sorted
	flag     uint8         // slotOverlay for an overlay set
}

func newMemberSet(n int, flag uint8) *memberSet {
	var seed [16]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails (it crashes the program instead)
	s := &memberSet{k0: binary.LittleEndian.Uint64(seed[:8]), k1: binary.LittleEndian.Uint64(seed[8:]), flag: flag}
	size := 8
	for size*3 < n*4 {
		size *= 2
	}
	s.index = make([]uint64, size)
	s.mask = uint64(size - 1)
	s.slots = make([]memberSlot, 0, n)
	return s
}

func (s *memberSet) hash(u uuid.UUID) uint64 {
	hi, lo := bits.Mul64(binary.LittleEndian.Uint64(u[:8])^s.k0, binary.LittleEndian.Uint64(u[8:])^s.k1)
	return hi ^ lo
}

// position returns the position of the user's slot, or -1.
func (s *memberSet) position(u uuid.UUID) int {
	if s == nil || len(s.slots) == 0 {
		return -1
	}
	h := s.hash(u)
	tag := h >> 32
	for i := h & s.mask; ; i = (i + 1) & s.mask {
		x := s.index[i]
		if x == 0 {
			return -1
		}
		if x>>32 == tag {
			if p := int(uint32(x)) - 1; s.slots[p].user == u {
				return p
			}
		}
	}
}

func (s *memberSet) find(u uuid.UUID) *memberSlot {
	if p := s.position(u); p >= 0 {
		return &s.slots[p]
	}
	return nil
}

// add returns the position of the user's slot, making a zero one if there is none.
func (s *memberSet) add(u uuid.UUID) int {
	if (len(s.slots)+1)*4 > len(s.index)*3 {
		s.grow() // not reached when the set was sized for what is added
	}
	h := s.hash(u)
	tag := h >> 32
	i := h & s.mask
	for ; s.index[i] != 0; i = (i + 1) & s.mask {
		if x := s.index[i]; x>>32 == tag {
			if p := int(uint32(x)) - 1; s.slots[p].user == u {
				return p
			}
		}
	}
	s.slots = append(s.slots, memberSlot{user: u, flags: s.flag})
	s.index[i] = tag<<32 | uint64(len(s.slots))
	return len(s.slots) - 1
}

// grow doubles the index.
func (s *memberSet) grow() {
	s.index = make([]uint64, 2*len(s.index))
	s.mask = uint64(len(s.index) - 1)
	for p := range s.slots {
		h := s.hash(s.slots[p].user)
		i := h & s.mask
		for s.index[i] != 0 {
			i = (i + 1) & s.mask
		}
		s.index[i] = h>>32<<32 | uint64(p+1)
	}
}

// setGrants stores gs (sorted by project index, no duplicates) as the slot's grants.
func (s *memberSet) setGrants(m *memberSlot, gs []packedGrant) {
	m.n = uint32(len(gs))
	m.inline = [inlineGrants]packedGrant{}
	copy(m.inline[:], gs)
	m.more = 0
	if len(gs) > inlineGrants {
		m.more = uint32(len(s.overflow))
		s.overflow = append(s.overflow, gs[inlineGrants:]...)
	}
}

// packed returns the slot's grants, sorted by project index.
func (s *memberSet) packed(m *memberSlot, buf []packedGrant) []packedGrant {
	n := int(m.n)
	buf = append(buf[:0], m.inline[:min(n, inlineGrants)]...)
	if n > inlineGrants {
		buf = append(buf, s.overflow[m.more:int(m.more)+n-inlineGrants]...)
	}
	return buf
}

// copySlot copies slot m of set from into s, with its grants.
func (s *memberSet) copySlot(from *memberSet, m *memberSlot, buf []packedGrant) []packedGrant {
	d := &s.slots[s.add(m.user)]
	d.role, d.flags = m.role, m.flags&^slotOverlay|s.flag
	buf = from.packed(m, buf)
	s.setGrants(d, buf)
	return buf
}

func (s *memberSet) bytes() int {
	if s == nil {
		return 0
	}
	return len(s.index)*8 + cap(s.slots)*int(unsafe.Sizeof(memberSlot{})) + cap(s.overflow)*4
}

// find returns the member's slot, or nil.
func (t *memberTable) find(user uuid.UUID) *memberSlot {
	if t.over != nil {
		if m := t.over.find(user); m != nil {
			if m.flags&slotRemoved != 0 {
				return nil
			}
			return m
		}
	}
	return t.base.find(user)
}

func (t *memberTable) setOf(m *memberSlot) *memberSet {
	if m.flags&slotOverlay != 0 {
		return t.over
	}
	return t.base
}

// grant returns the role index the member holds in a project they belong to.
func (t *memberTable) grant(m *memberSlot, project uuid.UUID) (uint16, bool) {
	pi, ok := t.projects.lookup(project)
	if !ok {
		return 0, false
	}
	n := int(m.n)
	for i := 0; i < n && i < inlineGrants; i++ {
		if m.inline[i].project == pi {
			return m.inline[i].role, true
		}
	}
	if n <= inlineGrants {
		return 0, false
	}
	set := t.setOf(m)
	rest := set.overflow[m.more : int(m.more)+n-inlineGrants]
	if i, ok := slices.BinarySearchFunc(rest, pi, func(g packedGrant, p uint16) int { return int(g.project) - int(p) }); ok {
		return rest[i].role, true
	}
	return 0, false
}

// everywhere reports whether the member holds r in every project of the tenant: their
// tenant role holds SeeAllProjects and r, and so does every override role of theirs.
// It does not allocate.
func (t *memberTable) everywhere(s *memberSlot, r Right) bool {
	if !t.seeAll(s) || !t.rights[s.role].Has(r) {
		return false
	}
	n := int(s.n)
	for i := 0; i < n && i < inlineGrants; i++ {
		if !t.rights[s.inline[i].role].Has(r) {
			return false
		}
	}
	if n > inlineGrants {
		for _, g := range t.setOf(s).overflow[s.more : int(s.more)+n-inlineGrants] {
			if !t.rights[g.role].Has(r) {
				return false
			}
		}
	}
	return true
}

// grants returns all of a member's project grants, sorted by project.
func (t *memberTable) grants(m *memberSlot) []slotGrant {
	gs := t.setOf(m).packed(m, nil)
	out := make([]slotGrant, 0, len(gs))
	for _, g := range gs {
		out = append(out, slotGrant{project: t.projectIDs[g.project], role: g.role})
	}
	slices.SortFunc(out, func(a, b slotGrant) int { return compareUUID(a.project, b.project) })
	return out
}

// seeAll reports whether the member's tenant role holds SeeAllProjects (a disabled
// member holds nothing).
func (t *memberTable) seeAll(m *memberSlot) bool {
	return m.flags&slotDisabled == 0 && t.rights[m.role].Has(SeeAllProjects)
}

// each calls fn for every member slot.
func (t *memberTable) each(fn func(*memberSlot)) {
	if t.base != nil {
		for i := range t.base.slots {
			m := &t.base.slots[i]
			if t.over.position(m.user) < 0 {
				fn(m)
			}
		}
	}
	if t.over != nil {
		for i := range t.over.slots {
			if m := &t.over.slots[i]; m.flags&slotRemoved == 0 {
				fn(m)
			}
		}
	}
}

// projectIndex maps project IDs to project indices: a small open-addressing table.
type projectIndex struct {
	slots  []projectSlot
	mask   uint64
	k0, k1 uint64
}

type projectSlot struct {
	id  uuid.UUID
	idx uint16
	ok  bool
}

// newProjectIndex indexes ids[i] as i, for every i with live[i] (all if live is nil).
func newProjectIndex(ids []uuid.UUID, live func(int) bool) projectIndex {
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	x := projectIndex{k0: binary.LittleEndian.Uint64(seed[:8]), k1: binary.LittleEndian.Uint64(seed[8:])}
	size := 8
	for size < len(ids)*2 {
		size *= 2
	}
	x.slots = make([]projectSlot, size)
	x.mask = uint64(size - 1)
	for i, id := range ids {
		if live != nil && !live(i) {
			continue
		}
		j := x.hash(id) & x.mask
		for x.slots[j].ok {
			j = (j + 1) & x.mask
		}
		x.slots[j] = projectSlot{id: id, idx: uint16(i), ok: true}
	}
	return x
}

func (x *projectIndex) hash(u uuid.UUID) uint64 {
	hi, lo := bits.Mul64(binary.LittleEndian.Uint64(u[:8])^x.k0, binary.LittleEndian.Uint64(u[8:])^x.k1)
	return hi ^ lo
}

func (x *projectIndex) lookup(id uuid.UUID) (uint16, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	for j := x.hash(id) & x.mask; ; j = (j + 1) & x.mask {
		s := &x.slots[j]
		if !s.ok {
			return 0, false
		}
		if s.id == id {
			return s.idx, true
		}
	}
}

// count returns how many slots the set holds.
func (s *memberSet) count() int {
	if s == nil {
		return 0
	}
	return len(s.slots)
}
