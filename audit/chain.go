package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"net/netip"
	"slices"

	"github.com/google/uuid"
)

// Chain computes the links of a tenant's hash chain: each event's Hash is SHA-256 (or,
// with a Key, HMAC-SHA-256) over a canonical encoding of the event and the previous
// event's Hash. Editing, deleting or reordering a stored event breaks every later link.
//
// With a Key, an attacker who can write to the database but does not hold the key cannot
// recompute a consistent chain after tampering. Keep the key outside the database (an
// environment secret, a KMS); the zero Chain is unkeyed, which still detects accidental
// and naive edits.
//
// Adapters call [Chain.Link] inside the transaction that appends, after locking the
// tenant's chain head, so several app instances writing to one database keep one chain.
type Chain struct {
	Key []byte
}

// chainVersion is the first byte of the canonical encoding; bump it if the encoding
// changes, and keep verifying older events with the older encoding.
const chainVersion = 1

// checkpointDomain is the first byte of a checkpoint's encoding ([Chain.Seal]). It
// differs from every chainVersion, so that a checkpoint MAC can never be passed off as
// an event's link or the other way round.
const checkpointDomain = 0x80 | chainVersion

// Seal returns the MAC of a tenant's retention checkpoint: HMAC-SHA-256 with the Key
// (SHA-256 for the zero Chain) over the tenant, cp.Seq, cp.Hash and cp.Time (to the
// microsecond); cp.MAC is not read. [Purge] stores it with the checkpoint and [Verify]
// checks it before trusting the checkpoint as the chain's first link. Unkeyed, it only
// detects accidental edits: anyone can recompute SHA-256.
func (c Chain) Seal(tenant uuid.UUID, cp Checkpoint) []byte {
	var stack [128]byte
	w := encoder{b: stack[:0]}
	w.byte(checkpointDomain)
	w.bytes(tenant[:])
	w.int(cp.Seq)
	w.bytes(cp.Hash)
	w.int(cp.Time.UnixMicro())
	return c.sum(w.b)
}

// Link returns the hash of e linked to prev (nil for a tenant's first event). It reads
// every field of e except Hash; PrevHash is taken from prev. To link many events, a
// [Linker] does the same with less work per event.
func (c Chain) Link(prev []byte, e *Event) []byte {
	var stack [768]byte
	return c.sum(appendLink(stack[:0], prev, e))
}

// Linker computes the links of many events with one Chain, as [Chain.Link] does, but
// keeps its encoding buffer and its HMAC state (keyed with the Chain's Key once) from
// one event to the next: a store links a batch with one Linker, a verifier a range. It
// is not safe for concurrent use.
type Linker struct {
	mac hash.Hash // nil for the unkeyed Chain
	buf []byte
}

// Linker returns a Linker of the chain.
func (c Chain) Linker() *Linker {
	l := &Linker{buf: make([]byte, 0, 1024)}
	if len(c.Key) > 0 {
		l.mac = hmac.New(sha256.New, c.Key)
	}
	return l
}

// Link returns what [Chain.Link] returns for prev and e: a new slice, which the caller
// may keep.
func (l *Linker) Link(prev []byte, e *Event) []byte {
	l.buf = appendLink(l.buf[:0], prev, e)
	out := make([]byte, 0, sha256.Size)
	if l.mac == nil {
		d := sha256.Sum256(l.buf)
		return append(out, d[:]...)
	}
	l.mac.Reset()
	l.mac.Write(l.buf)
	return l.mac.Sum(out)
}

// appendLink appends the canonical encoding of e linked to prev to b.
func appendLink(b []byte, prev []byte, e *Event) []byte {
	w := encoder{b: b}
	w.byte(chainVersion)
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

// sum returns the chain's hash of the encoding b: HMAC-SHA-256 with the Key, or
// SHA-256.
func (c Chain) sum(b []byte) []byte {
	if len(c.Key) > 0 {
		h := hmac.New(sha256.New, c.Key)
		h.Write(b)
		return h.Sum(nil)
	}
	d := sha256.Sum256(b)
	return d[:]
}

// encoder appends length-prefixed fields, so that no two different events encode
// alike. The encoding is hashed in one piece.
type encoder struct{ b []byte }

func (w *encoder) byte(b byte) { w.b = append(w.b, b) }
func (w *encoder) int(v int64) { w.b = binary.AppendVarint(w.b, v) }
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
