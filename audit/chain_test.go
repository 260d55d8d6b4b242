package audit

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenEvent has every field set; its links below were computed by the first release
// of Chain.Link. Stores have linked events with that encoding: it must never change
// (a new encoding needs a new chainVersion, and older events keep verifying with the
// older one).
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
	assert.Equal(t, "c419b59371118872d327a267911937b5c05221af405fd2bcde1b4d5e5c66194c",
		hex.EncodeToString(Chain{}.Link(nil, &e)), "unkeyed, first link")
	assert.Equal(t, "60a558b4e7bef1faeaac6953d562a16591cfba61bf32359ecbad996b782d8157",
		hex.EncodeToString(Chain{Key: []byte("golden key")}.Link([]byte{1, 2, 3}, &e)), "keyed, with a previous hash")
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
	cp := Checkpoint{Seq: 42, Hash: bytes.Repeat([]byte{7}, 32), Time: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)}
	keyed := Chain{Key: []byte("k")}
	want := keyed.Seal(tenant, cp)
	require.Len(t, want, 32)
	cp.MAC = []byte("not read")
	assert.Equal(t, want, keyed.Seal(tenant, cp), "MAC is not part of what is sealed")
	for name, c := range map[string]Checkpoint{
		"Seq":  {Seq: 43, Hash: cp.Hash, Time: cp.Time},
		"Hash": {Seq: 42, Hash: bytes.Repeat([]byte{8}, 32), Time: cp.Time},
		"Time": {Seq: 42, Hash: cp.Hash, Time: cp.Time.Add(time.Microsecond)},
	} {
		assert.NotEqual(t, want, keyed.Seal(tenant, c), name)
	}
	assert.NotEqual(t, want, keyed.Seal(uuid.New(), cp), "another tenant")
	assert.NotEqual(t, want, Chain{Key: []byte("other")}.Seal(tenant, cp), "another key")
	assert.NotEqual(t, want, Chain{}.Seal(tenant, cp), "unkeyed")
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
