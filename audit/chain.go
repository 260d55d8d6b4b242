package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
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

// newHash returns the chain's hash function: HMAC-SHA-256 with the Key, or SHA-256.
func (c Chain) newHash() hash.Hash {
	if len(c.Key) > 0 {
		return hmac.New(sha256.New, c.Key)
	}
	return sha256.New()
}

// Seal returns the MAC of a tenant's retention checkpoint: HMAC-SHA-256 with the Key
// (SHA-256 for the zero Chain) over the tenant, cp.Seq, cp.Hash and cp.Time (to the
// microsecond); cp.MAC is not read. [Purge] stores it with the checkpoint and [Verify]
// checks it before trusting the checkpoint as the chain's first link. Unkeyed, it only
// detects accidental edits: anyone can recompute SHA-256.
func (c Chain) Seal(tenant uuid.UUID, cp Checkpoint) []byte {
	h := c.newHash()
	w := encoder{h: h}
	w.byte(checkpointDomain)
	w.bytes(tenant[:])
	w.int(cp.Seq)
	w.bytes(cp.Hash)
	w.int(cp.Time.UnixMicro())
	return h.Sum(nil)
}

// Link returns the hash of e linked to prev (nil for a tenant's first event). It reads
// every field of e except Hash; PrevHash is taken from prev.
func (c Chain) Link(prev []byte, e *Event) []byte {
	h := c.newHash()
	w := encoder{h: h}
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
	ip, _ := e.Actor.IP.MarshalBinary()
	w.bytes(ip)
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
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.int(int64(len(keys)))
	for _, k := range keys {
		w.str(k)
		w.str(e.Details[k])
	}
	return h.Sum(nil)
}

// encoder writes length-prefixed fields so that no two different events encode alike.
type encoder struct {
	h   hash.Hash
	buf [binary.MaxVarintLen64]byte
}

func (w *encoder) byte(b byte) { w.buf[0] = b; w.h.Write(w.buf[:1]) }
func (w *encoder) int(v int64) { w.h.Write(w.buf[:binary.PutVarint(w.buf[:], v)]) }
func (w *encoder) bytes(b []byte) {
	w.int(int64(len(b)))
	w.h.Write(b)
}
func (w *encoder) str(s string) {
	w.int(int64(len(s)))
	w.h.Write([]byte(s))
}
