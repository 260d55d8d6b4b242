package argon2

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	upstream "golang.org/x/crypto/argon2"
)

// The Argon2id test vector of RFC 9106, section 5.3 (with secret and associated data,
// which only deriveKey takes).
func TestRFC9106Argon2id(t *testing.T) {
	pw := bytes.Repeat([]byte{0x01}, 32)
	salt := bytes.Repeat([]byte{0x02}, 16)
	secret := bytes.Repeat([]byte{0x03}, 8)
	data := bytes.Repeat([]byte{0x04}, 12)
	want := "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"

	mem := make([]Block, Blocks(32, 4)+5)
	for range 2 { // the second run reuses the buffer the first one zeroed
		got := deriveKey(argon2id, mem[:Blocks(32, 4)], pw, salt, secret, data, 3, 32, 4, 32)
		clear(mem)
		if h := hex.EncodeToString(got); h != want {
			t.Fatalf("RFC 9106 argon2id: got %s, want %s", h, want)
		}
	}
	if got := hex.EncodeToString(deriveKey(argon2id, nil, pw, salt, secret, data, 3, 32, 4, 32)); got != want {
		t.Fatalf("RFC 9106 argon2id with fresh memory: got %s, want %s", got, want)
	}
}

// IDKeyIn computes exactly what upstream's IDKey does, for random parameters, through
// one buffer reused across calls of different sizes, and leaves the buffer zero.
func TestIDKeyInMatchesUpstream(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 300
	if testing.Short() {
		n = 60
	}
	mem := make([]Block, Blocks(4096, 8))
	for i := range n {
		pw := randBytes(r, r.IntN(80))
		salt := randBytes(r, 8+r.IntN(25))
		tm := uint32(1 + r.IntN(3))
		threads := uint8(1 + r.IntN(8))
		memory := uint32(8*int(threads) + r.IntN(4096-8*int(threads)))
		keyLen := uint32(4 + r.IntN(61))

		got := IDKeyIn(mem, pw, salt, tm, memory, threads, keyLen)
		want := upstream.IDKey(pw, salt, tm, memory, threads, keyLen)
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d (t=%d m=%d p=%d len=%d): IDKeyIn %x, upstream %x", i, tm, memory, threads, keyLen, got, want)
		}
		if !allZero(mem) {
			t.Fatalf("case %d: the buffer is not zero after IDKeyIn", i)
		}
	}
}

// IDKey and Key, whose code paths the fork touched, still equal upstream's.
func TestFreshMemoryMatchesUpstream(t *testing.T) {
	pw, salt := []byte("password"), []byte("somesaltsomesalt")
	if !bytes.Equal(IDKey(pw, salt, 2, 1024, 2, 32), upstream.IDKey(pw, salt, 2, 1024, 2, 32)) {
		t.Fatal("IDKey differs from upstream")
	}
	if !bytes.Equal(Key(pw, salt, 3, 1024, 2, 32), upstream.Key(pw, salt, 3, 1024, 2, 32)) {
		t.Fatal("Key differs from upstream")
	}
}

// A buffer left dirty breaks the result (the first pass XORs into it): the contract that
// IDKeyIn leaves it zero matters, and this test shows the check above can fail.
func TestDirtyBufferChangesResult(t *testing.T) {
	pw, salt := []byte("password"), []byte("somesaltsomesalt")
	mem := make([]Block, Blocks(64, 1))
	mem[40][3] = 1
	got := deriveKey(argon2id, mem, pw, salt, nil, nil, 1, 64, 1, 32)
	if bytes.Equal(got, upstream.IDKey(pw, salt, 1, 64, 1, 32)) {
		t.Fatal("a dirty buffer gave the same key; the zero-buffer contract is untested")
	}
}

func TestIDKeyInRejectsShortBuffer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		blocks  int
		threads uint8
		time    uint32
	}{
		{"short", Blocks(64, 1) - 1, 1, 1},
		{"no threads", 64, 0, 1},
		{"no passes", 64, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			IDKeyIn(make([]Block, tc.blocks), []byte("pw"), []byte("saltsalt"), tc.time, 64, tc.threads, 32)
		})
	}
}

// Every file but argon2.go is byte for byte upstream's, and argon2.go differs only by
// the diff in UPSTREAM.md. Upstream is read from the module cache, where the build of
// this test put it.
func TestSameAsUpstream(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/crypto").Output()
	if err != nil {
		t.Skipf("go list: %v (the go command is needed to find upstream)", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "argon2")
	files, err := filepath.Glob("*")
	if err != nil {
		t.Fatal(err)
	}
	var compared []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "argon2.go" || f == "UPSTREAM.md" || f == "LICENSE" {
			continue
		}
		ours, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s is not upstream's: %v", f, err)
		}
		if !bytes.Equal(ours, theirs) {
			t.Errorf("%s differs from upstream's %s", f, filepath.Join(dir, f))
		}
		compared = append(compared, f)
	}
	if !slices.Contains(compared, "blamka_amd64.s") {
		t.Fatalf("compared %v: the assembly is missing", compared)
	}
	// argon2.go: every line of upstream's is kept, in order, but for the lines the
	// diff in UPSTREAM.md removes.
	removed, added := upstreamDiff(t)
	ours, _ := os.ReadFile("argon2.go")
	theirs, err := os.ReadFile(filepath.Join(dir, "argon2.go"))
	if err != nil {
		t.Fatal(err)
	}
	// Compared as sorted lists: a diff may pair equal lines ("}", blank) differently.
	slices.Sort(removed)
	slices.Sort(added)
	if got := sorted(linesNotIn(strings.Split(string(theirs), "\n"), strings.Split(string(ours), "\n"))); !slices.Equal(got, removed) {
		t.Errorf("argon2.go drops upstream lines %q; UPSTREAM.md says %q", got, removed)
	}
	if got := sorted(linesNotIn(strings.Split(string(ours), "\n"), strings.Split(string(theirs), "\n"))); !slices.Equal(got, added) {
		t.Errorf("argon2.go adds lines\n%s\nUPSTREAM.md says\n%s", strings.Join(got, "\n"), strings.Join(added, "\n"))
	}
}

// upstreamDiff returns the removed and added lines of the diff in UPSTREAM.md.
func upstreamDiff(t *testing.T) (removed, added []string) {
	md, err := os.ReadFile("UPSTREAM.md")
	if err != nil {
		t.Fatal(err)
	}
	_, diff, ok := strings.Cut(string(md), "```diff\n")
	if !ok {
		t.Fatal("UPSTREAM.md has no diff block")
	}
	diff, _, _ = strings.Cut(diff, "```")
	for _, l := range strings.Split(diff, "\n") {
		switch {
		case strings.HasPrefix(l, "---"), strings.HasPrefix(l, "+++"):
		case strings.HasPrefix(l, "-"):
			removed = append(removed, l[1:])
		case strings.HasPrefix(l, "+"):
			added = append(added, l[1:])
		}
	}
	return removed, added
}

// linesNotIn returns the lines of a that are not matched, in order, by a longest common
// subsequence with b.
func linesNotIn(a, b []string) []string {
	// LCS table; the files are a few hundred lines.
	n, m := len(a), len(b)
	dp := make([][]int, n+1)
	for i := range dp {
		dp[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n {
		switch {
		case j < m && a[i] == b[j]:
			i, j = i+1, j+1
		case j < m && dp[i][j+1] >= dp[i+1][j]:
			j++
		default:
			out = append(out, a[i])
			i++
		}
	}
	return out
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

func FuzzIDKeyIn(f *testing.F) {
	f.Add([]byte("password"), []byte("somesalt"), uint8(1), uint16(64), uint8(1), uint8(32))
	mem := make([]Block, Blocks(1024, 4))
	f.Fuzz(func(t *testing.T, pw, salt []byte, tm uint8, memory uint16, threads uint8, keyLen uint8) {
		tm = 1 + tm%3
		threads = 1 + threads%4
		m := uint32(8*int(threads)) + uint32(memory)%(1024-8*uint32(threads))
		kl := 4 + uint32(keyLen)%61
		got := IDKeyIn(mem, pw, salt, uint32(tm), m, threads, kl)
		if want := upstream.IDKey(pw, salt, uint32(tm), m, threads, kl); !bytes.Equal(got, want) {
			t.Fatalf("t=%d m=%d p=%d len=%d: %x, upstream %x", tm, m, threads, kl, got, want)
		}
		if !allZero(mem) {
			t.Fatal("buffer not zero")
		}
	})
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func allZero(mem []Block) bool {
	for i := range mem {
		if mem[i] != (Block{}) {
			return false
		}
	}
	return true
}
