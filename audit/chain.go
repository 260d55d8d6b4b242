package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Chain computes the links of a tenant's hash chain: each event's Hash is SHA-256 (or,
// keyed, HMAC-SHA-256) over a canonical encoding of the event, the ID of the key the
// link is computed with, and the previous event's Hash. Editing, deleting or
// reordering a stored event breaks every later link.
//
// Keyed, an attacker who can write to the database but does not hold the key cannot
// recompute a consistent chain after tampering. Keep the keys outside the database (an
// environment secret, a KMS); the zero Chain is unkeyed, which still detects accidental
// and naive edits.
//
// The keys form a ring, so that the key can be rotated: Keys holds every key by ID and
// Current names the one new events and checkpoints are linked and sealed with. Each
// event records its key ID ([Event.KeyID]), which is part of what its link covers, and
// [Verify] checks each event with the key its ID names. Key is the ring of one key,
// ID 1 ([LegacyKeyID]): Chain{Key: k} is Chain{Keys: {1: k}, Current: 1}. Set Key or
// Keys, not both ([Chain.Validate]). See the package doc for the rotation procedure.
//
// Adapters call [Chain.Link] inside the transaction that appends, after locking the
// tenant's chain head, so several app instances writing to one database keep one chain.
//
// A Chain's String, Format, LogValue and MarshalJSON show key IDs only, never keys.
type Chain struct {
	// Key is a ring of one key, with ID LegacyKeyID; it is how the Chain was
	// configured before key IDs, and stays valid.
	Key []byte
	// Keys holds the ring's keys by ID. IDs are not 0 (0 marks an unkeyed link)
	// and keys are not empty.
	Keys map[uint32][]byte
	// Current is the ID in Keys that new events and checkpoints use. With Keys
	// empty it must be 0 (or LegacyKeyID with Key set).
	Current uint32
}

// LegacyKeyID is the key ID of [Chain.Key], and the key ID that migration 0020 of
// storage/sqlstore gives every event and checkpoint stored before key IDs existed.
// Those were linked with the version 1 encoding, which does not cover a key ID; an
// event or checkpoint with this ID is accepted in either encoding (see [Verify]).
const LegacyKeyID uint32 = 1

// ErrInvalidChain is wrapped by the errors of [Chain.Validate].
var ErrInvalidChain = errors.New("audit: invalid chain configuration")

// ErrUnknownKey is wrapped by every *[UnknownKeyError].
var ErrUnknownKey = errors.New("audit: chain key ID not in the ring")

// UnknownKeyError reports an event or checkpoint linked under a key ID that the
// Chain's ring does not hold: the key was removed from the ring too early, or the ID
// was changed in the database. It names the ID, never a key.
type UnknownKeyError struct {
	Tenant uuid.UUID
	// Seq is the event's Seq, or the checkpoint's when Checkpoint is true.
	Seq        int64
	Checkpoint bool
	KeyID      uint32
}

// Error names the tenant, the position and the key ID.
func (e *UnknownKeyError) Error() string {
	what := "event"
	if e.Checkpoint {
		what = "checkpoint"
	}
	return fmt.Sprintf("audit: chain of tenant %s: %s at seq %d is linked under key ID %d, which the ring does not hold",
		e.Tenant, what, e.Seq, e.KeyID)
}

// Unwrap makes errors.Is(err, ErrUnknownKey) true.
func (e *UnknownKeyError) Unwrap() error { return ErrUnknownKey }

// Validate reports whether the Chain is usable: Key and Keys are not both set, no key
// of Keys is empty or has ID 0, and Current names a key of the ring (or is 0 for the
// unkeyed Chain). Its errors wrap [ErrInvalidChain] and name key IDs only. Stores,
// [Verify] and [Purge] refuse an invalid Chain.
func (c Chain) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidChain, fmt.Sprintf(format, a...))
	}
	switch {
	case len(c.Key) > 0 && len(c.Keys) > 0:
		return bad("set Key or Keys, not both")
	case len(c.Keys) == 0 && len(c.Key) > 0:
		if c.Current != 0 && c.Current != LegacyKeyID {
			return bad("Current is key ID %d, but Key is key ID %d", c.Current, LegacyKeyID)
		}
		return nil
	case len(c.Keys) == 0:
		if c.Current != 0 {
			return bad("Current is key ID %d, but the ring is empty", c.Current)
		}
		return nil
	}
	for _, id := range c.KeyIDs() {
		if id == 0 {
			return bad("key ID 0 is reserved for unkeyed links")
		}
		if len(c.Keys[id]) == 0 {
			return bad("key ID %d is empty", id)
		}
	}
	if _, ok := c.Keys[c.Current]; !ok {
		return bad("Current is key ID %d, which is not in the ring", c.Current)
	}
	return nil
}

// Keyed reports whether the ring holds a key.
func (c Chain) Keyed() bool { return len(c.Key) > 0 || len(c.Keys) > 0 }

// CurrentKeyID is the key ID new events and checkpoints get: Current with Keys,
// LegacyKeyID with Key, 0 for the unkeyed Chain.
func (c Chain) CurrentKeyID() uint32 {
	switch {
	case len(c.Keys) > 0:
		return c.Current
	case len(c.Key) > 0:
		return LegacyKeyID
	}
	return 0
}

// KeyIDs returns the IDs of the ring, in increasing order (none for the unkeyed
// Chain).
func (c Chain) KeyIDs() []uint32 {
	if len(c.Keys) == 0 {
		if len(c.Key) > 0 {
			return []uint32{LegacyKeyID}
		}
		return nil
	}
	return slices.Sorted(maps.Keys(c.Keys))
}

// key returns the key with this ID.
func (c Chain) key(id uint32) ([]byte, bool) {
	if id == 0 {
		return nil, false
	}
	if len(c.Keys) == 0 {
		if id == LegacyKeyID && len(c.Key) > 0 {
			return c.Key, true
		}
		return nil, false
	}
	k, ok := c.Keys[id]
	return k, ok && len(k) > 0
}

// Clone returns a copy of c that shares no key memory with it.
func (c Chain) Clone() Chain {
	out := Chain{Key: bytes.Clone(c.Key), Current: c.Current}
	if c.Keys != nil {
		out.Keys = make(map[uint32][]byte, len(c.Keys))
		for id, k := range c.Keys {
			out.Keys[id] = bytes.Clone(k)
		}
	}
	return out
}

// String describes the ring by key IDs, such as "audit.Chain{keys: [1 2], current: 2}"
// or "audit.Chain{unkeyed}". It never shows a key.
func (c Chain) String() string {
	ids := c.KeyIDs()
	if len(ids) == 0 {
		return "audit.Chain{unkeyed}"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return "audit.Chain{keys: [" + strings.Join(s, " ") + "], current: " + strconv.FormatUint(uint64(c.CurrentKeyID()), 10) + "}"
}

// Format writes String for every verb (%v, %+v, %#v, %x, %d …), so that no format
// prints the keys.
func (c Chain) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue shows the key IDs and the current one in slog output, never a key.
func (c Chain) LogValue() slog.Value {
	ids := c.KeyIDs()
	if len(ids) == 0 {
		return slog.GroupValue(slog.Bool("keyed", false))
	}
	return slog.GroupValue(slog.Bool("keyed", true), slog.Any("key_ids", ids), slog.Uint64("current", uint64(c.CurrentKeyID())))
}

// MarshalJSON encodes the key IDs and the current one, never a key.
func (c Chain) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		KeyIDs  []uint32 `json:"key_ids"`
		Current uint32   `json:"current"`
	}{c.KeyIDs(), c.CurrentKeyID()})
}

// Encoding versions: the first byte of an event's canonical encoding. Version 1 (before
// key IDs) did not cover the key ID; version 2 does, right after the version byte.
// Older events keep verifying with the encoding they were linked with.
const (
	chainVersion1 = 1
	chainVersion  = 2
)

// checkpointDomain is the first byte of a checkpoint's encoding ([Chain.Seal]). It
// differs from every event encoding version, so that a checkpoint MAC can never be
// passed off as an event's link or the other way round.
const (
	checkpointDomain1 = 0x80 | chainVersion1
	checkpointDomain  = 0x80 | chainVersion
)

// Seal returns the MAC of a tenant's retention checkpoint under the key cp.KeyID
// names: HMAC-SHA-256 (SHA-256 for key ID 0) over the key ID, the tenant, cp.Seq,
// cp.Hash and cp.Time (to the microsecond); cp.MAC is not read. It returns nil if the
// ring has no key cp.KeyID. [Purge] seals with the current key and stores the MAC and
// the key ID with the checkpoint; [Verify] checks it before trusting the checkpoint as
// the chain's first link. Unkeyed, it only detects accidental edits: anyone can
// recompute SHA-256.
func (c Chain) Seal(tenant uuid.UUID, cp Checkpoint) []byte {
	return c.seal(checkpointDomain, tenant, cp)
}

func (c Chain) seal(domain byte, tenant uuid.UUID, cp Checkpoint) []byte {
	var stack [128]byte
	w := encoder{b: stack[:0]}
	w.byte(domain)
	if domain != checkpointDomain1 {
		w.uint(cp.KeyID)
	}
	w.bytes(tenant[:])
	w.int(cp.Seq)
	w.bytes(cp.Hash)
	w.int(cp.Time.UnixMicro())
	if cp.KeyID == 0 {
		d := sha256.Sum256(w.b)
		return d[:]
	}
	key, ok := c.key(cp.KeyID)
	if !ok {
		return nil
	}
	h := hmac.New(sha256.New, key)
	h.Write(w.b)
	return h.Sum(nil)
}

// checkSeal returns "" if cp's MAC verifies under the ring, else why not, as
// [Linker] check does for events: an unkeyed checkpoint (key ID 0) in a keyed ring, a
// key ID the ring does not hold, or a MAC mismatch. A checkpoint with LegacyKeyID may
// carry its version 1 MAC (sealed before key IDs); in an unkeyed ring that is the only
// MAC it may carry.
func (c Chain) checkSeal(tenant uuid.UUID, cp Checkpoint) BreakReason {
	keyed := c.Keyed()
	switch {
	case cp.KeyID == 0 && keyed:
		return ReasonUnkeyed
	case cp.KeyID == LegacyKeyID && !keyed:
		v1 := cp
		v1.KeyID = 0 // the version 1 seal of an unkeyed chain was SHA-256
		if macEqual(c.seal(checkpointDomain1, tenant, v1), cp.MAC) {
			return ""
		}
		return ReasonCheckpoint
	case cp.KeyID != 0:
		if _, ok := c.key(cp.KeyID); !ok {
			return ReasonUnknownKey
		}
	}
	if macEqual(c.Seal(tenant, cp), cp.MAC) {
		return ""
	}
	if cp.KeyID == LegacyKeyID && macEqual(c.seal(checkpointDomain1, tenant, cp), cp.MAC) {
		return ""
	}
	return ReasonCheckpoint
}

// macEqual reports whether got is a whole SHA-256-sized MAC equal to want, in
// constant time. A missing MAC (nil, for a key the ring lacks) never matches, not even
// an empty stored one.
func macEqual(got, want []byte) bool {
	return len(got) == sha256.Size && hmac.Equal(got, want)
}

// Link returns the hash of e linked to prev (nil for a tenant's first event) under the
// key e.KeyID names (SHA-256 for key ID 0), or nil if the ring has no key e.KeyID. It
// reads every field of e except Hash; PrevHash is taken from prev. To link many events,
// a [Linker] does the same with less work per event.
func (c Chain) Link(prev []byte, e *Event) []byte {
	var stack [768]byte
	b := appendLink(stack[:0], chainVersion, prev, e)
	if e.KeyID == 0 {
		d := sha256.Sum256(b)
		return d[:]
	}
	key, ok := c.key(e.KeyID)
	if !ok {
		return nil
	}
	h := hmac.New(sha256.New, key)
	h.Write(b)
	return h.Sum(nil)
}

// Linker computes the links of many events with one Chain, as [Chain.Link] does, but
// keeps its encoding buffer and its HMAC states (one per key ID, keyed once) from one
// event to the next: a store links a batch with one Linker, a verifier a range. It is
// not safe for concurrent use.
type Linker struct {
	chain Chain
	keyed bool
	macs  map[uint32]hash.Hash
	buf   []byte
}

// Linker returns a Linker of the chain.
func (c Chain) Linker() *Linker {
	return &Linker{chain: c, keyed: c.Keyed(), buf: make([]byte, 0, 1024)}
}

// Link returns what [Chain.Link] returns for prev and e: a new slice, which the caller
// may keep.
func (l *Linker) Link(prev []byte, e *Event) []byte {
	l.buf = appendLink(l.buf[:0], chainVersion, prev, e)
	return l.sum(e.KeyID, l.buf)
}

// legacy returns e's version 1 link (the encoding before key IDs, not covering
// e.KeyID) under the key LegacyKeyID, or SHA-256 for an unkeyed ring.
func (l *Linker) legacy(prev []byte, e *Event) []byte {
	l.buf = appendLink(l.buf[:0], chainVersion1, prev, e)
	if !l.keyed {
		return l.sum(0, l.buf)
	}
	return l.sum(LegacyKeyID, l.buf)
}

// sum returns the hash of b under the key with this ID (SHA-256 for 0), or nil if the
// ring has no such key.
func (l *Linker) sum(id uint32, b []byte) []byte {
	out := make([]byte, 0, sha256.Size)
	if id == 0 {
		d := sha256.Sum256(b)
		return append(out, d[:]...)
	}
	mac := l.macs[id]
	if mac == nil {
		key, ok := l.chain.key(id)
		if !ok {
			return nil
		}
		if l.macs == nil {
			l.macs = make(map[uint32]hash.Hash, 2)
		}
		mac = hmac.New(sha256.New, key)
		l.macs[id] = mac
	}
	mac.Reset()
	mac.Write(b)
	return mac.Sum(out)
}

// check returns "" if e, stored after a link with Hash prev, verifies, else why not,
// in this order: a PrevHash other than prev; an unkeyed link (key ID 0) in a keyed
// ring, which would be a downgrade; a key ID the ring does not hold; a Hash that is
// not the link recomputed. An event with LegacyKeyID may carry its version 1 link (it
// was stored before key IDs); in an unkeyed ring that is the only link it may carry.
func (l *Linker) check(prev []byte, e *Event) BreakReason {
	if !bytes.Equal(e.PrevHash, prev) {
		return ReasonPrevMismatch
	}
	switch {
	case e.KeyID == 0 && l.keyed:
		return ReasonUnkeyed
	case e.KeyID == LegacyKeyID && !l.keyed:
		// Stored unkeyed before key IDs: only the version 1 SHA-256 link.
		if macEqual(l.legacy(prev, e), e.Hash) {
			return ""
		}
		return ReasonHashMismatch
	case e.KeyID != 0:
		if _, ok := l.chain.key(e.KeyID); !ok {
			return ReasonUnknownKey
		}
	}
	if macEqual(l.Link(prev, e), e.Hash) {
		return ""
	}
	if e.KeyID == LegacyKeyID && macEqual(l.legacy(prev, e), e.Hash) {
		return ""
	}
	return ReasonHashMismatch
}

// appendLink appends the canonical encoding of e linked to prev, in the given
// encoding version, to b.
func appendLink(b []byte, version byte, prev []byte, e *Event) []byte {
	w := encoder{b: b}
	w.byte(version)
	if version != chainVersion1 {
		w.uint(e.KeyID)
	}
	w.bytes(prev)
	w.bytes(e.ID[:])
	w.bytes(e.Tenant[:])
	w.int(e.Seq)
	w.int(e.Time.UnixMicro())
	w.str(string(e.Kind))
	w.str(e.Action)
	w.bytes(e.Actor.User[:])
	w.str(e.Actor.Role)
	w.addr(e.Actor.IP)
	w.str(e.Actor.UserAgent)
	w.bytes(e.Actor.Session[:])
	w.bytes(e.Actor.Token[:])
	w.str(e.Target.Type)
	w.str(e.Target.ID)
	w.str(e.Target.Name)
	w.bytes(e.Project[:])
	w.str(string(e.Outcome))
	w.str(e.Reason)
	w.int(int64(len(e.Changes)))
	for _, ch := range e.Changes {
		w.str(ch.Field)
		w.str(ch.Old)
		w.str(ch.New)
		if ch.Redacted {
			w.byte(1)
		} else {
			w.byte(0)
		}
	}
	w.int(int64(len(e.Details)))
	if len(e.Details) > 0 {
		var kstack [16]string
		keys := kstack[:0]
		for k := range e.Details {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			w.str(k)
			w.str(e.Details[k])
		}
	}
	return w.b
}

// encoder appends length-prefixed fields, so that no two different events encode
// alike. The encoding is hashed in one piece.
type encoder struct{ b []byte }

func (w *encoder) byte(b byte)   { w.b = append(w.b, b) }
func (w *encoder) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *encoder) uint(v uint32) { w.b = binary.AppendUvarint(w.b, uint64(v)) }
func (w *encoder) bytes(b []byte) {
	w.int(int64(len(b)))
	w.b = append(w.b, b...)
}
func (w *encoder) str(s string) {
	w.int(int64(len(s)))
	w.b = append(w.b, s...)
}

// addr appends an address as its MarshalBinary form (empty for the zero Addr, 4 bytes
// for IPv4, 16 and the zone for IPv6), without allocating.
func (w *encoder) addr(ip netip.Addr) {
	switch {
	case !ip.IsValid():
		w.bytes(nil)
	case ip.Is4():
		a := ip.As4()
		w.bytes(a[:])
	default:
		a, zone := ip.As16(), ip.Zone()
		w.int(int64(len(a) + len(zone)))
		w.b = append(append(w.b, a[:]...), zone...)
	}
}
