package authn

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"

	"github.com/callshield/callshield/authn/internal/phc"
)

// memParams cost 1 MiB per hash: enough to see one buffer per hash in the allocation
// counters, small enough to run many.
var memParams = Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// The Hasher's argon2id is upstream's: a hash it makes verifies with
// golang.org/x/crypto/argon2, also when its buffers are reused.
func TestHasherMatchesUpstreamArgon2(t *testing.T) {
	ctx := context.Background()
	h := tinyHasher(HasherOptions{Params: Params{Memory: 256, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}, Slots: 1})
	for i := range 5 {
		pw := NewPassword("correct horse battery staple " + string(rune('a'+i)))
		encoded, err := h.Hash(ctx, pw)
		require.NoError(t, err)
		stored, err := phc.Parse(encoded)
		require.NoError(t, err)
		want := argon2.IDKey([]byte(pw.Reveal()), stored.Salt, stored.Time, stored.Memory, stored.Threads, uint32(len(stored.Key)))
		require.Equal(t, want, stored.Key, "hash %d", i)
	}
}

// Hashing memory is bounded by the slots: concurrent callers reuse the slots' buffers
// instead of allocating the memory cost per hash, and verifications share them.
func TestHasherReusesMemory(t *testing.T) {
	ctx := context.Background()
	const slots, callers, perCaller = 2, 8, 5
	h := tinyHasher(HasherOptions{Params: memParams, Slots: slots, QueueLen: callers, MaxWait: time.Minute})
	encoded, err := h.Hash(ctx, NewPassword("warm up the pool"))
	require.NoError(t, err)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	errs := make(chan error, callers*perCaller*2)
	for range callers {
		wg.Go(func() {
			for range perCaller {
				_, err := h.Hash(ctx, NewPassword("correct horse battery staple"))
				errs <- err
				_, _, err = h.Verify(ctx, NewPassword("warm up the pool"), encoded)
				errs <- err
			}
		})
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	free, allocated := h.mem.pooled()
	assert.LessOrEqual(t, allocated, slots, "buffers allocated")
	assert.Equal(t, allocated, free, "every buffer is back in the pool")
	// 80 KDF runs would allocate 80 MiB; the pool allocates at most one more buffer.
	allocatedBytes := after.TotalAlloc - before.TotalAlloc
	assert.Less(t, allocatedBytes, uint64(2*memParams.Memory)*1024,
		"bytes allocated by %d hashes and verifications", callers*perCaller*2)
}

// After IdleRelease without a hash the buffers are freed; the next hash allocates again.
func TestHasherReleasesIdleMemory(t *testing.T) {
	ctx := context.Background()
	h := tinyHasher(HasherOptions{Params: memParams, Slots: 2, IdleRelease: 20 * time.Millisecond})
	_, err := h.Hash(ctx, NewPassword("correct horse battery staple"))
	require.NoError(t, err)
	free, _ := h.mem.pooled()
	require.Equal(t, 1, free, "the buffer is kept right after the hash")
	require.Eventually(t, func() bool { free, _ := h.mem.pooled(); return free == 0 },
		5*time.Second, 5*time.Millisecond, "the idle buffer is freed")
	_, err = h.Hash(ctx, NewPassword("correct horse battery staple"))
	require.NoError(t, err)
	free, allocated := h.mem.pooled()
	assert.Equal(t, 1, free)
	assert.Equal(t, 2, allocated, "a buffer is allocated again after the release")
}

// A negative IdleRelease keeps no buffers: every hash allocates, as upstream does.
func TestHasherWithoutPool(t *testing.T) {
	ctx := context.Background()
	h := tinyHasher(HasherOptions{Params: memParams, IdleRelease: -1})
	pw := NewPassword("correct horse battery staple")
	encoded, err := h.Hash(ctx, pw)
	require.NoError(t, err)
	ok, _, err := h.Verify(ctx, pw, encoded)
	require.NoError(t, err)
	assert.True(t, ok)
	free, allocated := h.mem.pooled()
	assert.Zero(t, free)
	assert.Zero(t, allocated)
}

// A stored hash with a higher memory cost than the Hasher's (left by a lowered
// configuration) verifies in memory of its own and leaves the pool's buffers alone.
func TestHasherVerifiesLargerStoredMemory(t *testing.T) {
	ctx := context.Background()
	big := tinyHasher(HasherOptions{Params: Params{Memory: 2048, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	pw := NewPassword("correct horse battery staple")
	encoded, err := big.Hash(ctx, pw)
	require.NoError(t, err)

	h := tinyHasher(HasherOptions{Params: memParams})
	ok, rehash, err := h.Verify(ctx, pw, encoded)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.False(t, rehash, "stronger than the current parameters")
	ok, _, err = h.Verify(ctx, NewPassword("wrong"), encoded)
	require.NoError(t, err)
	assert.False(t, ok)
	free, allocated := h.mem.pooled()
	assert.Zero(t, free)
	assert.Zero(t, allocated, "the pool's buffers are sized for the Hasher's own parameters")
}
