package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenEvent has every field set; its version 1 links below were computed by the
// first release of Chain.Link, its version 2 links by the release that added key IDs.
// Stores have linked events with both encodings: they must never change (a new
// encoding needs a new chainVersion, and older events keep verifying with the older
// one).
func goldenEvent() Event {
	return Event{
		ID:     uuid.MustParse("0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b"),
		Tenant: uuid.MustParse("0190a0b1-0000-7000-8000-000000000001"),
		Time:   time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC),
		Kind:   KindLogin, Action: "login",
		Actor: Actor{User: uuid.MustParse("0190a0b1-0000-7000-8000-000000000002"), Role: "Agent",
			IP: netip.MustParseAddr("2001:db8::1"), UserAgent: "Mozilla/5.0",
			Session: uuid.MustParse("0190a0b1-0000-7000-8000-000000000003")},
		Target:  Target{Type: "user", ID: "42", Name: "Zoë"},
		Project: uuid.MustParse("0190a0b1-0000-7000-8000-000000000004"),
		Outcome: Failure, Reason: "wrong_password",
		Changes: []Change{{Field: "name", Old: "a", New: "b"}, Secret("password")},
		Details: map[string]string{"browser": "Firefox", "url": "/login"},
		Seq:     7,
	}
}

func TestLinkEncodingIsStable(t *testing.T) {
	e := goldenEvent()
	// Version 1: what every event stored before key IDs carries (KeyID not covered).
	assert.Equal(t, "c419b59371118872d327a267911937b5c05221af405fd2bcde1b4d5e5c66194c",
		hex.EncodeToString(Chain{}.Linker().legacy(nil, &e)), "v1 unkeyed, first link")
	assert.Equal(t, "60a558b4e7bef1faeaac6953d562a16591cfba61bf32359ecbad996b782d8157",
		hex.EncodeToString(Chain{Key: []byte("golden key")}.Linker().legacy([]byte{1, 2, 3}, &e)), "v1 keyed, with a previous hash")
	// Version 2 covers the key ID.
	assert.Equal(t, "f72a9e57b823463a4d8b9f7f5d1406c242e6e88d401d9b4cff7699d530e70977",
		hex.EncodeToString(Chain{}.Link(nil, &e)), "v2 unkeyed, first link")
	e.KeyID = 7
	assert.Equal(t, "83b9cd8de698fcbf7af2a3f987f47cee93422e0fca25a00b0364eed49b5978d4",
		hex.EncodeToString(Chain{Keys: map[uint32][]byte{7: []byte("golden key")}, Current: 7}.Link([]byte{1, 2, 3}, &e)), "v2 key ID 7, with a previous hash")
}

// A checkpoint's version 1 seal (before key IDs) is stable too: checkpoints stored
// then verify with it.
func TestSealEncodingIsStable(t *testing.T) {
	tenant := uuid.MustParse("0190a0b1-0000-7000-8000-000000000001")
	cp := Checkpoint{Seq: 42, Hash: bytes.Repeat([]byte{7}, 32), Time: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), KeyID: LegacyKeyID}
	keyed := Chain{Key: []byte("golden key")}
	assert.Equal(t, "1e160c9f5e95e924c5986cdf4f84ba6bfbe03691eecec28eb0113186c42d7260", hex.EncodeToString(keyed.seal(checkpointDomain1, tenant, cp)), "v1 keyed")
	assert.Equal(t, "810d853b75138574088de44a14af4327f184d0a6759e41e3276e93fe766ba3de", hex.EncodeToString(keyed.Seal(tenant, cp)), "v2 key ID 1")
}

func TestLinkCoversEveryField(t *testing.T) {
	// Changing any field, or the previous hash, changes the link; Hash and PrevHash
	// of the event itself are not read (PrevHash comes from prev).
	base := goldenEvent()
	prev := []byte("previous")
	want := Chain{}.Link(prev, &base)
	edits := map[string]func(e *Event){
		"ID":        func(e *Event) { e.ID[15]++ },
		"Tenant":    func(e *Event) { e.Tenant[15]++ },
		"Seq":       func(e *Event) { e.Seq++ },
		"Time":      func(e *Event) { e.Time = e.Time.Add(time.Microsecond) },
		"Kind":      func(e *Event) { e.Kind = KindSession },
		"Action":    func(e *Event) { e.Action = "logout" },
		"User":      func(e *Event) { e.Actor.User[15]++ },
		"Role":      func(e *Event) { e.Actor.Role = "Admin" },
		"IP":        func(e *Event) { e.Actor.IP = netip.MustParseAddr("2001:db8::2") },
		"UserAgent": func(e *Event) { e.Actor.UserAgent += " " },
		"Session":   func(e *Event) { e.Actor.Session[15]++ },
		"Token":     func(e *Event) { e.Actor.Token[15]++ },
		"Target":    func(e *Event) { e.Target.ID = "43" },
		"Name":      func(e *Event) { e.Target.Name = "Zoe" },
		"Project":   func(e *Event) { e.Project[15]++ },
		"Outcome":   func(e *Event) { e.Outcome = Success },
		"Reason":    func(e *Event) { e.Reason = "" },
		"Change":    func(e *Event) { e.Changes[0].New = "c" },
		"Redacted":  func(e *Event) { e.Changes[1].Redacted = false },
		"Details":   func(e *Event) { e.Details["url"] = "/logout" },
		"KeyID":     func(e *Event) { e.KeyID++ },
		"a detail moved between fields": func(e *Event) {
			e.Details = map[string]string{"browser": "Firefox/login", "url": ""}
		},
	}
	for name, edit := range edits {
		e := goldenEvent()
		e.Changes = append([]Change(nil), e.Changes...)
		edit(&e)
		assert.NotEqual(t, want, Chain{}.Link(prev, &e), name)
	}
	e := goldenEvent()
	e.Hash, e.PrevHash = []byte("ignored"), []byte("ignored")
	assert.Equal(t, want, Chain{}.Link(prev, &e))
	assert.NotEqual(t, want, Chain{}.Link([]byte("other"), &e))
}

func TestSealCoversTheCheckpointAndTheKey(t *testing.T) {
	tenant := uuid.MustParse("0190a0b1-0000-7000-8000-000000000001")
	cp := Checkpoint{Seq: 42, Hash: bytes.Repeat([]byte{7}, 32), Time: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), KeyID: 1}
	keyed := Chain{Key: []byte("k")}
	want := keyed.Seal(tenant, cp)
	require.Len(t, want, 32)
	cp.MAC = []byte("not read")
	assert.Equal(t, want, keyed.Seal(tenant, cp), "MAC is not part of what is sealed")
	for name, c := range map[string]Checkpoint{
		"Seq":  {Seq: 43, Hash: cp.Hash, Time: cp.Time, KeyID: 1},
		"Hash": {Seq: 42, Hash: bytes.Repeat([]byte{8}, 32), Time: cp.Time, KeyID: 1},
		"Time": {Seq: 42, Hash: cp.Hash, Time: cp.Time.Add(time.Microsecond), KeyID: 1},
	} {
		assert.NotEqual(t, want, keyed.Seal(tenant, c), name)
	}
	assert.NotEqual(t, want, keyed.Seal(uuid.New(), cp), "another tenant")
	assert.NotEqual(t, want, Chain{Key: []byte("other")}.Seal(tenant, cp), "another key")
	unkeyed := cp
	unkeyed.KeyID = 0
	assert.NotEqual(t, want, Chain{}.Seal(tenant, unkeyed), "unkeyed")
	// The key ID is covered: the same key under another ID seals otherwise.
	other := cp
	other.KeyID = 2
	assert.NotEqual(t, want, Chain{Keys: map[uint32][]byte{2: []byte("k")}, Current: 2}.Seal(tenant, other), "another key ID")
	assert.Nil(t, keyed.Seal(tenant, other), "a key ID the ring lacks seals nothing")
}

func BenchmarkChainLink(b *testing.B) {
	// The cost of hashing one event into the chain, the part of an append that chaining
	// adds (compare with the per-event cost of BenchmarkIngest in storage/sqlstore).
	for _, c := range []struct {
		name  string
		chain Chain
	}{{"unkeyed", Chain{}}, {"keyed", Chain{Key: bytes.Repeat([]byte{1}, 32)}}} {
		b.Run(c.name, func(b *testing.B) {
			e := goldenEvent()
			prev := bytes.Repeat([]byte{9}, 32)
			b.ReportAllocs()
			for b.Loop() {
				prev = c.chain.Link(prev, &e)
			}
		})
		b.Run(c.name+"-linker", func(b *testing.B) {
			e := goldenEvent()
			prev := bytes.Repeat([]byte{9}, 32)
			l := c.chain.Linker()
			b.ReportAllocs()
			for b.Loop() {
				prev = l.Link(prev, &e)
			}
		})
	}
}

// A Linker links exactly as Chain.Link does, event after event, keyed and unkeyed,
// through encodings larger than its first buffer, and hands out slices it never
// touches again.
func TestLinkerMatchesLink(t *testing.T) {
	for _, c := range []Chain{{}, {Key: bytes.Repeat([]byte{7}, 32)}, {Key: bytes.Repeat([]byte{8}, 100)}} {
		l := c.Linker()
		var prev []byte
		var kept [][]byte
		for i := range 50 {
			e := goldenEvent()
			e.Seq = int64(i + 1)
			e.Reason = strings.Repeat("r", i*60) // up to ~3 KiB: the buffer grows
			e.KeyID = c.CurrentKeyID()
			want := c.Link(prev, &e)
			got := l.Link(prev, &e)
			require.Equal(t, want, got, "event %d, key %d bytes", i, len(c.Key))
			kept = append(kept, got)
			prev = got
		}
		// The slices handed out are still the links computed then.
		prev = nil
		for i, h := range kept {
			e := goldenEvent()
			e.Seq = int64(i + 1)
			e.Reason = strings.Repeat("r", i*60)
			e.KeyID = c.CurrentKeyID()
			require.Equal(t, c.Link(prev, &e), h, "kept link %d", i)
			prev = h
		}
	}
}

// The encoding of an address is its MarshalBinary form, as in the first chain version.
func TestEncoderAddrIsMarshalBinary(t *testing.T) {
	for _, a := range []netip.Addr{{}, netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("::ffff:203.0.113.7"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1%eth0")} {
		var got, want encoder
		got.addr(a)
		m, err := a.MarshalBinary()
		require.NoError(t, err)
		want.bytes(m)
		assert.Equal(t, want.b, got.b, "%v", a)
	}
}

// A ring is refused when it could link an event under a key it does not hold, or
// mixes the two ways to give keys; its errors name key IDs, never keys.
func TestChainValidate(t *testing.T) {
	key := []byte("a secret chain key")
	for _, c := range []Chain{{}, {Key: key}, {Key: key, Current: 1}, {Keys: map[uint32][]byte{1: key, 7: key}, Current: 7}} {
		assert.NoError(t, c.Validate(), "%v", c)
	}
	for name, c := range map[string]Chain{
		"Key and Keys":            {Key: key, Keys: map[uint32][]byte{2: key}, Current: 2},
		"Current not in the ring": {Keys: map[uint32][]byte{1: key}, Current: 2},
		"Current of no key":       {Current: 1},
		"Key with Current 2":      {Key: key, Current: 2},
		"key ID 0":                {Keys: map[uint32][]byte{0: key, 1: key}, Current: 1},
		"an empty key":            {Keys: map[uint32][]byte{1: key, 2: {}}, Current: 1},
	} {
		err := c.Validate()
		require.ErrorIs(t, err, ErrInvalidChain, name)
		assert.NotContains(t, err.Error(), string(key), name)
	}
}

// No way of printing a Chain shows a key: String, every fmt verb, slog (text and
// JSON) and encoding/json show key IDs only.
func TestChainNeverPrintsKeys(t *testing.T) {
	k1, k2 := []byte("first secret key material"), []byte("second secret key material")
	ring := Chain{Keys: map[uint32][]byte{1: k1, 2: k2}, Current: 2}
	assert.Equal(t, "audit.Chain{keys: [1 2], current: 2}", ring.String())
	assert.Equal(t, "audit.Chain{keys: [1], current: 1}", Chain{Key: k1}.String())
	assert.Equal(t, "audit.Chain{unkeyed}", Chain{}.String())
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		out = append(out, fmt.Sprintf(verb, ring), fmt.Sprintf(verb, &ring), fmt.Sprintf(verb, Chain{Key: k1}))
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("chain", "chain", ring, "single", Chain{Key: k1})
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("chain", "chain", ring, "single", Chain{Key: k1})
	out = append(out, buf.String())
	j, err := json.Marshal(struct{ C Chain }{ring})
	require.NoError(t, err)
	out = append(out, string(j))
	assert.Contains(t, buf.String(), "current=2")
	assert.Contains(t, string(j), `"key_ids":[1,2]`)
	for _, s := range out {
		for _, k := range [][]byte{k1, k2} {
			assert.NotContains(t, s, string(k))
			assert.NotContains(t, s, hex.EncodeToString(k))
			assert.NotContains(t, s, strings.ToUpper(hex.EncodeToString(k)))
			assert.NotContains(t, s, base64.StdEncoding.EncodeToString(k))
			assert.NotContains(t, s, fmt.Sprint([]byte(k)))
		}
	}
}

// An event linked under one key ID never verifies under another ID, even one holding
// the same key bytes (the ID is covered), and an unkeyed link is refused by a keyed
// ring; an unknown ID is named.
func TestLinkerCheckKeyIDs(t *testing.T) {
	key := []byte("k")
	ring := Chain{Keys: map[uint32][]byte{1: key, 2: key}, Current: 2}
	e := goldenEvent()
	e.KeyID = 2
	e.PrevHash, e.Hash = nil, ring.Link(nil, &e)
	l := ring.Linker()
	assert.Equal(t, BreakReason(""), l.check(nil, &e))
	moved := e
	moved.KeyID = 1
	assert.Equal(t, ReasonHashMismatch, l.check(nil, &moved), "moved to key 1, same bytes")
	unkeyed := e
	unkeyed.KeyID = 0
	unkeyed.Hash = Chain{}.Link(nil, &unkeyed)
	assert.Equal(t, ReasonUnkeyed, l.check(nil, &unkeyed))
	assert.Equal(t, BreakReason(""), Chain{}.Linker().check(nil, &unkeyed), "an unkeyed ring verifies it")
	unknown := e
	unknown.KeyID = 3
	assert.Equal(t, ReasonUnknownKey, l.check(nil, &unknown))
	assert.Nil(t, ring.Link(nil, &unknown), "no link under a key the ring lacks")
	// A key-1 event may carry its version 1 link (stored before key IDs), under key 1.
	legacy := e
	legacy.KeyID = 1
	legacy.Hash = ring.Linker().legacy(nil, &legacy)
	assert.Equal(t, BreakReason(""), l.check(nil, &legacy))
	assert.Equal(t, ReasonHashMismatch, Chain{Keys: map[uint32][]byte{1: []byte("other")}, Current: 1}.Linker().check(nil, &legacy))
	// A key-2 event never passes with a version 1 link.
	v1 := e
	v1.Hash = ring.Linker().legacy(nil, &v1)
	assert.Equal(t, ReasonHashMismatch, l.check(nil, &v1))
}
