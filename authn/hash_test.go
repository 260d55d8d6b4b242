package authn

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"

	"github.com/callshield/callshield/authn/internal/phc"
)

// tinyParams keep argon2id fast under the race detector; tests that prove the defaults
// use the real ones.
var tinyParams = Params{Memory: 64, Time: 1, Threads: 1}

// tinyHasher returns a Hasher with tiny parameters (weak on purpose: tests only).
func tinyHasher(opts HasherOptions) *Hasher {
	if opts.Params == (Params{}) {
		opts.Params = tinyParams
	}
	opts.InsecureAllowWeakParams = true
	return NewHasher(opts)
}

// 11.4.2: the default parameters are the OWASP floor, stored with the hash.
func TestHasherDefaultsAreOWASP(t *testing.T) {
	assert.Equal(t, Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, OWASPParams())
	h := NewHasher(HasherOptions{})
	assert.Equal(t, OWASPParams(), h.Params())

	ctx := context.Background()
	pw := NewPassword("correct horse battery staple")
	encoded, err := h.Hash(ctx, pw)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$"), encoded)
	stored, err := phc.Parse(encoded)
	require.NoError(t, err)
	assert.Len(t, stored.Salt, 16)
	assert.Len(t, stored.Key, 32)
	ok, rehash, err := h.Verify(ctx, pw, encoded)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.False(t, rehash)
}

// 11.4.2: parameters below the floor are raised unless weak ones are explicitly allowed;
// zero fields take the defaults; absurd ones are bounded.
func TestHasherParamsFloorAndCeiling(t *testing.T) {
	owasp := OWASPParams()
	tests := []struct {
		name string
		opts HasherOptions
		want Params
	}{
		{"zero", HasherOptions{}, owasp},
		{"below floor raised", HasherOptions{Params: Params{Memory: 1024, Time: 1, SaltLen: 8, KeyLen: 16}}, owasp},
		{"stronger kept", HasherOptions{Params: Params{Memory: 65536, Time: 3, Threads: 2, SaltLen: 32, KeyLen: 64}},
			Params{Memory: 65536, Time: 3, Threads: 2, SaltLen: 32, KeyLen: 64}},
		{"alternative OWASP set: more memory, t=1 raised to 2", HasherOptions{Params: Params{Memory: 47104, Time: 1}},
			Params{Memory: 47104, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"ceiling", HasherOptions{Params: Params{Memory: 1 << 30, Time: 1000, Threads: 255, SaltLen: 1000, KeyLen: 1000}},
			Params{Memory: phc.MaxMemory, Time: phc.MaxTime, Threads: phc.MaxThreads, SaltLen: phc.MaxSaltLen, KeyLen: phc.MaxKeyLen}},
		{"weak allowed", HasherOptions{Params: Params{Memory: 64, Time: 1}, InsecureAllowWeakParams: true},
			Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"weak allowed, still valid argon2", HasherOptions{Params: Params{Memory: 1, Time: 1, Threads: 4, SaltLen: 1, KeyLen: 1}, InsecureAllowWeakParams: true},
			Params{Memory: 32, Time: 1, Threads: 4, SaltLen: phc.MinSaltLen, KeyLen: phc.MinKeyLen}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHasher(tt.opts)
			assert.Equal(t, tt.want, h.Params())
			var got Params
			h.kdf = func(_, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
				got = Params{Memory: memory, Time: time, Threads: threads, SaltLen: uint32(len(salt)), KeyLen: keyLen}
				return make([]byte, keyLen)
			}
			encoded, err := h.Hash(context.Background(), NewPassword("pw"))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got, "parameters given to argon2id")
			_, err = phc.Parse(encoded)
			assert.NoError(t, err, "own hashes always parse back")
		})
	}
}

// Hashes agree with the reference implementation (phc-winner-argon2): the stored
// parameters are the ones used.
func TestVerifyReferenceVectors(t *testing.T) {
	h := tinyHasher(HasherOptions{})
	tests := []struct{ pw, encoded string }{
		// echo -n "correct horse battery staple" | argon2 somesalt12345678 -id -t 2 -k 19456 -p 1 -l 32 -e
		{"correct horse battery staple", "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQxMjM0NTY3OA$iqbHhgtqJMWWf23kIatRWniYNRyhFWif/l6I+m/2Exw"},
		// echo -n "pässwörd" | argon2 saltsaltsaltsalt -id -t 1 -k 64 -p 1 -l 16 -e
		{"pässwörd", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$WnRd40vPp3ZXIAnvxDdNsA"},
	}
	for _, tt := range tests {
		ok, _, err := h.Verify(context.Background(), NewPassword(tt.pw), tt.encoded)
		require.NoError(t, err)
		assert.True(t, ok, tt.encoded)
		ok, _, err = h.Verify(context.Background(), NewPassword(tt.pw+"x"), tt.encoded)
		require.NoError(t, err)
		assert.False(t, ok)
	}
}

// 11.4.2: a hash made with lower parameters verifies and asks to be rehashed; the
// rehash carries the new parameters.
func TestVerifyRehashWhenParamsRise(t *testing.T) {
	ctx := context.Background()
	pw := NewPassword("correct horse battery staple")
	old := tinyHasher(HasherOptions{Params: Params{Memory: 64, Time: 1}})
	encoded, err := old.Hash(ctx, pw)
	require.NoError(t, err)

	for name, p := range map[string]Params{
		"memory":   {Memory: 128, Time: 1},
		"time":     {Memory: 64, Time: 2},
		"key size": {Memory: 64, Time: 1, KeyLen: 64},
		"salt":     {Memory: 64, Time: 1, SaltLen: 32},
	} {
		t.Run(name, func(t *testing.T) {
			cur := tinyHasher(HasherOptions{Params: p})
			ok, rehash, err := cur.Verify(ctx, pw, encoded)
			require.NoError(t, err)
			assert.True(t, ok)
			assert.True(t, rehash)
			assert.True(t, cur.NeedsRehash(encoded))

			fresh, err := cur.Hash(ctx, pw)
			require.NoError(t, err)
			ok, rehash, err = cur.Verify(ctx, pw, fresh)
			require.NoError(t, err)
			assert.True(t, ok)
			assert.False(t, rehash)
			assert.False(t, cur.NeedsRehash(fresh))
		})
	}

	// The same or weaker current parameters: no rehash; and none on a failed verify.
	ok, rehash, err := old.Verify(ctx, pw, encoded)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.False(t, rehash)
	stronger := tinyHasher(HasherOptions{Params: Params{Memory: 128, Time: 2}})
	ok, rehash, err = stronger.Verify(ctx, NewPassword("wrong"), encoded)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.False(t, rehash, "only a successful verification triggers a rehash")
}

// 6.2.8: passwords are verified exactly as received, after NFKC only.
func TestVerifyExactlyAsReceived(t *testing.T) {
	ctx := context.Background()
	h := tinyHasher(HasherOptions{})
	long := strings.Repeat("x", 72)
	tests := []struct {
		name        string
		set, try    string
		shouldMatch bool
	}{
		{"case is kept", "pass", "PASS", false},
		{"case is kept (mixed)", "Correct Horse", "correct horse", false},
		{"no trimming (trailing space)", "correct horse ", "correct horse", false},
		{"no trimming (leading space)", " correct horse", "correct horse", false},
		{"byte 73 matters (no bcrypt-style truncation)", long + "A", long + "B", false},
		{"bytes after 72 matter", long + "AAAA", long, false},
		{"ligature ﬁ is fi", "ﬁsh and chips", "fish and chips", true},
		{"full-width digits are digits", "pin１２３４５６", "pin123456", true},
		{"full-width letters", "ｐａｓｓｗｏｒｄ", "password", true},
		{"composed and decomposed é", "caf\u00e9 au lait", "cafe\u0301 au lait", true},
		{"identical", long + "tail", long + "tail", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded, err := h.Hash(ctx, NewPassword(tt.set))
			require.NoError(t, err)
			ok, _, err := h.Verify(ctx, NewPassword(tt.try), encoded)
			require.NoError(t, err)
			assert.Equal(t, tt.shouldMatch, ok)
			ok, _, err = h.Verify(ctx, NewPassword(tt.set), encoded)
			require.NoError(t, err)
			assert.True(t, ok)
		})
	}
}

// 6.2.9: 64- and 128-character passwords (and the 256 maximum, in 4-byte code points)
// hash and verify; longer input is refused by Hash and never matches.
func TestHashLongPasswords(t *testing.T) {
	ctx := context.Background()
	h := tinyHasher(HasherOptions{})
	for _, pw := range []string{
		strings.Repeat("a", 64), strings.Repeat("b", 128), strings.Repeat("é", 128),
		strings.Repeat("😀", MaxPasswordLength), // 1024 bytes
	} {
		encoded, err := h.Hash(ctx, NewPassword(pw))
		require.NoError(t, err)
		ok, _, err := h.Verify(ctx, NewPassword(pw), encoded)
		require.NoError(t, err)
		assert.True(t, ok, "%d bytes", len(pw))
		ok, _, err = h.Verify(ctx, NewPassword(pw[:len(pw)-1]+"?"), encoded)
		require.NoError(t, err)
		assert.False(t, ok)
	}
	tooLong := strings.Repeat("a", MaxPasswordBytes+1)
	_, err := h.Hash(ctx, NewPassword(tooLong))
	assert.ErrorIs(t, err, ErrPasswordTooLong)
	_, err = h.Hash(ctx, NewPassword(strings.Repeat("a", 1<<20)))
	assert.ErrorIs(t, err, ErrPasswordTooLong)
	_, err = h.Hash(ctx, Password{})
	assert.ErrorIs(t, err, ErrEmptyPassword)

	// A hash of the first 1024 bytes does not match the 1025-byte input.
	encoded, err := h.Hash(ctx, NewPassword(tooLong[:MaxPasswordBytes]))
	require.NoError(t, err)
	ok, _, err := h.Verify(ctx, NewPassword(tooLong), encoded)
	require.NoError(t, err)
	assert.False(t, ok)
}

// bcrypt hashes from other systems verify and ask for a rehash; bcrypt's 72-byte
// truncation is not honoured.
func TestVerifyBcryptImported(t *testing.T) {
	ctx := context.Background()
	h := tinyHasher(HasherOptions{})
	long72 := strings.Repeat("a", 72)
	tests := []struct {
		name, encoded, pw string
	}{
		// htpasswd -nbB -C 5 u "correct horse battery staple" (Apache, $2y$)
		{"2y", "$2y$05$YOCXmThEjvHEDjE.RJFQWeVp5jlXHBWrgp4fIuRzbfqSOGjccvXp.", "correct horse battery staple"},
		// the same hash in the $2b$ spelling (OpenBSD, Python bcrypt)
		{"2b", "$2b$05$YOCXmThEjvHEDjE.RJFQWeVp5jlXHBWrgp4fIuRzbfqSOGjccvXp.", "correct horse battery staple"},
		// Openwall crypt_blowfish test vector
		{"2a", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
		// htpasswd -nbB -C 4 u "pass"
		{"short", "$2y$04$K4UvFaaFiSeKDGT7E5xJB.rGZMlP4JUNC/jzgnpbXjI8BRbELiUVi", "pass"},
		// htpasswd -nbB -C 4 u "$(72 × a)XYZ": Apache hashed the first 72 bytes
		{"72 bytes", "$2y$04$BsGToh8o0T34tHy/2BAxa.qOQGaCcXJxewT7tbDuiiMNdZoZbQ.s2", long72},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, NewPassword(tt.pw), tt.encoded)
			require.NoError(t, err)
			assert.True(t, ok)
			assert.True(t, rehash, "bcrypt is always replaced")
			assert.True(t, h.NeedsRehash(tt.encoded))

			ok, rehash, err = h.Verify(ctx, NewPassword(strings.ToUpper(tt.pw)+"!"), tt.encoded)
			require.NoError(t, err)
			assert.False(t, ok)
			assert.False(t, rehash)
		})
	}
	// bcrypt would accept anything sharing the first 72 bytes; Verify does not.
	ok, _, err := h.Verify(ctx, NewPassword(long72+"XYZ"), tests[4].encoded)
	require.NoError(t, err)
	assert.False(t, ok, "the password bcrypt truncated does not match")
	ok, _, err = h.Verify(ctx, NewPassword(long72+"anything"), tests[4].encoded)
	require.NoError(t, err)
	assert.False(t, ok)
}

// Malformed, foreign or absurd stored hashes fail with a typed error, never a panic,
// after the same work as a verification (one KDF run with the current parameters).
func TestVerifyMalformedHashes(t *testing.T) {
	ctx := context.Background()
	const salt, key = "c29tZXNhbHQxMjM0NTY3OA", "iqbHhgtqJMWWf23kIatRWniYNRyhFWif/l6I+m/2Exw"
	tests := []struct {
		name, encoded string
		want          error
	}{
		{"empty (no password set)", "", ErrMalformedHash},
		{"plaintext", "hunter2", ErrMalformedHash},
		{"truncated", "$argon2id$v=19$m=19456,t=2,p=1$" + salt, ErrMalformedHash},
		{"bad base64", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key[:10] + "*" + key[11:], ErrMalformedHash},
		{"memory 2 GiB", "$argon2id$v=19$m=2097152,t=2,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"time 1000", "$argon2id$v=19$m=19456,t=1000,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"threads 255", "$argon2id$v=19$m=19456,t=2,p=255$" + salt + "$" + key, ErrMalformedHash},
		{"threads 0", "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key, ErrMalformedHash},
		{"version 16", "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"scrypt", "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E", ErrUnsupportedHash},
		{"bcrypt 2x", "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", ErrUnsupportedHash},
		{"bcrypt cost 31", "$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", ErrMalformedHash},
		{"bcrypt cost 03", "$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", ErrMalformedHash},
		{"bcrypt short", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe", ErrMalformedHash},
		{"bcrypt bad char", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyO*W", ErrMalformedHash},
		{"bcrypt no separator", "$2a$05xCCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", ErrMalformedHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tinyHasher(HasherOptions{})
			var calls []Params
			h.kdf = func(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
				calls = append(calls, Params{Memory: memory, Time: time, Threads: threads, SaltLen: uint32(len(salt)), KeyLen: keyLen})
				return argon2.IDKey(pw, salt, time, memory, threads, keyLen)
			}
			var ok, rehash bool
			var err error
			require.NotPanics(t, func() { ok, rehash, err = h.Verify(ctx, NewPassword("U*U"), tt.encoded) })
			assert.ErrorIs(t, err, tt.want)
			assert.False(t, ok)
			assert.False(t, rehash)
			assert.NotContains(t, err.Error(), "U*U")
			assert.Equal(t, []Params{h.Params()}, calls, "one dummy verification with the current parameters")
		})
	}
}

// 6.3.8 (support): DummyVerify runs the KDF exactly as a verification against a hash
// with the current parameters does, so unknown users cost the same work.
func TestDummyVerifySameWork(t *testing.T) {
	ctx := context.Background()
	h := tinyHasher(HasherOptions{})
	var calls []Params
	h.kdf = func(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		calls = append(calls, Params{Memory: memory, Time: time, Threads: threads, SaltLen: uint32(len(salt)), KeyLen: keyLen})
		return argon2.IDKey(pw, salt, time, memory, threads, keyLen)
	}
	pw := NewPassword("correct horse battery staple")
	encoded, err := h.Hash(ctx, pw)
	require.NoError(t, err)
	_, _, err = h.Verify(ctx, NewPassword("wrong password"), encoded)
	require.NoError(t, err)
	require.NoError(t, h.DummyVerify(ctx, pw))
	require.Len(t, calls, 3)
	assert.Equal(t, calls[1], calls[2], "dummy verification = real verification")
	assert.Equal(t, h.Params(), calls[2])

	// Two Hashers have different dummy salts: nothing fixed to precompute against.
	assert.False(t, bytes.Equal(h.dummy.Salt, tinyHasher(HasherOptions{}).dummy.Salt))
}

// Hash draws its salt from the injected reader, and fails closed when it fails.
func TestHashSalt(t *testing.T) {
	ctx := context.Background()
	h := tinyHasher(HasherOptions{Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 16))})
	encoded, err := h.Hash(ctx, NewPassword("pw"))
	require.NoError(t, err)
	stored, err := phc.Parse(encoded)
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte{7}, 16), stored.Salt)
	_, err = h.Hash(ctx, NewPassword("pw")) // reader exhausted
	assert.ErrorContains(t, err, "salt")

	h = tinyHasher(HasherOptions{})
	a, err := h.Hash(ctx, NewPassword("pw"))
	require.NoError(t, err)
	b, err := h.Hash(ctx, NewPassword("pw"))
	require.NoError(t, err)
	assert.NotEqual(t, a, b, "fresh salt per hash")
}

// blockingKDF lets a test hold hashes in their slots.
type blockingKDF struct {
	entered chan struct{}
	release chan struct{}
	running atomic.Int32
	peak    atomic.Int32
}

func newBlockingKDF() *blockingKDF {
	return &blockingKDF{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (k *blockingKDF) kdf(_, _ []byte, _, _ uint32, _ uint8, keyLen uint32) []byte {
	n := k.running.Add(1)
	for {
		p := k.peak.Load()
		if n <= p || k.peak.CompareAndSwap(p, n) {
			break
		}
	}
	k.entered <- struct{}{}
	<-k.release
	k.running.Add(-1)
	return make([]byte, keyLen)
}

// The bound: Slots hashes run, QueueLen wait, and the next caller gets ErrBusy at once.
// When a slot frees, a queued caller takes it and the queue has room again.
func TestHasherBusyExactlyWhenQueueFull(t *testing.T) {
	const slots, queue = 2, 3
	ctx := context.Background()
	k := newBlockingKDF()
	queued := make(chan struct{}, 100)
	h := tinyHasher(HasherOptions{Slots: slots, QueueLen: queue})
	h.kdf = k.kdf
	h.onQueued = func() { queued <- struct{}{} }

	var wg sync.WaitGroup
	results := make(chan error, slots+queue+1)
	hash := func() {
		defer wg.Done()
		_, err := h.Hash(ctx, NewPassword("pw"))
		results <- err
	}
	for range slots {
		wg.Add(1)
		go hash()
		<-k.entered
	}
	for range queue {
		wg.Add(1)
		go hash()
		<-queued
	}
	assert.EqualValues(t, queue, h.waiting.Load())

	_, err := h.Hash(ctx, NewPassword("pw"))
	assert.ErrorIs(t, err, ErrBusy, "queue full: busy at once")
	_, _, err = h.Verify(ctx, NewPassword("pw"), "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
	assert.ErrorIs(t, err, ErrBusy, "Verify shares the bound")
	assert.ErrorIs(t, h.DummyVerify(ctx, NewPassword("pw")), ErrBusy, "so does DummyVerify")

	// One slot frees: a queued caller enters, leaving room for one more in the queue.
	k.release <- struct{}{}
	<-k.entered
	wg.Add(1)
	go hash()
	<-queued
	_, err = h.Hash(ctx, NewPassword("pw"))
	assert.ErrorIs(t, err, ErrBusy)

	close(k.release)
	wg.Wait()
	close(results)
	for err := range results {
		assert.NoError(t, err)
	}
	assert.EqualValues(t, slots, k.peak.Load(), "never more than Slots at once")
	assert.EqualValues(t, 0, h.waiting.Load())
}

// A caller waiting for a slot returns as soon as its context ends, with ErrBusy and the
// context's error; a context already ended does not start.
func TestHasherWaitEndsWithContext(t *testing.T) {
	k := newBlockingKDF()
	queued := make(chan struct{}, 10)
	h := tinyHasher(HasherOptions{Slots: 1, QueueLen: 4})
	h.kdf = k.kdf
	h.onQueued = func() { queued <- struct{}{} }

	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), NewPassword("pw"))
		done <- err
	}()
	<-k.entered

	ctx, cancel := context.WithCancel(context.Background())
	waiter := make(chan error, 1)
	go func() {
		_, _, err := h.Verify(ctx, NewPassword("pw"), "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
		waiter <- err
	}()
	<-queued
	cancel()
	select {
	case err := <-waiter:
		assert.ErrorIs(t, err, ErrBusy)
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second): // a guard against a hang, not a delay
		t.Fatal("cancelled waiter did not return")
	}
	assert.EqualValues(t, 0, h.waiting.Load())

	_, err := h.Hash(ctx, NewPassword("pw"))
	assert.ErrorIs(t, err, context.Canceled, "ended context: no hashing")

	close(k.release)
	require.NoError(t, <-done)
}

// A caller waiting longer than MaxWait gets ErrBusy (the timer is injected).
func TestHasherMaxWait(t *testing.T) {
	k := newBlockingKDF()
	h := tinyHasher(HasherOptions{Slots: 1, QueueLen: 4, MaxWait: 3 * time.Second})
	h.kdf = k.kdf
	fire := make(chan time.Time)
	var asked atomic.Int64
	h.newTimer = func(d time.Duration) (<-chan time.Time, func() bool) {
		asked.Store(int64(d))
		return fire, func() bool { return true }
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), NewPassword("pw"))
		done <- err
	}()
	<-k.entered

	waiter := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), NewPassword("pw"))
		waiter <- err
	}()
	fire <- time.Time{} // received only once the waiter is in its select
	err := <-waiter
	assert.ErrorIs(t, err, ErrBusy)
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
	assert.Equal(t, int64(3*time.Second), asked.Load())

	close(k.release)
	require.NoError(t, <-done)
}

// QueueLen < 0: nobody waits.
func TestHasherNoQueue(t *testing.T) {
	k := newBlockingKDF()
	h := tinyHasher(HasherOptions{Slots: 1, QueueLen: -1})
	h.kdf = k.kdf
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), NewPassword("pw"))
		done <- err
	}()
	<-k.entered
	_, err := h.Hash(context.Background(), NewPassword("pw"))
	assert.ErrorIs(t, err, ErrBusy)
	close(k.release)
	require.NoError(t, <-done)
}

// Many concurrent callers through a real (tiny) argon2id: all succeed, and the race
// detector sees the limiter's synchronisation.
func TestHasherConcurrentCallers(t *testing.T) {
	ctx := context.Background()
	h := tinyHasher(HasherOptions{Slots: 2, QueueLen: 64})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := NewPassword(strings.Repeat("p", i+1))
			encoded, err := h.Hash(ctx, pw)
			if err != nil {
				errs <- err
				return
			}
			ok, _, err := h.Verify(ctx, pw, encoded)
			if err == nil && !ok {
				err = errors.New("no match")
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}
