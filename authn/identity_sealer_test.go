package authn_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"

	"github.com/callshield/callshield/authn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenSealer(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	old, err := authn.NewTokenSealer(map[uint32][]byte{1: k1}, 1)
	require.NoError(t, err)
	plain, aad := []byte("rt-refresh-token-value"), []byte("tenant|user|identity")
	sealed, err := old.Seal(plain, aad)
	require.NoError(t, err)
	assert.NotContains(t, string(sealed), string(plain))
	again, err := old.Seal(plain, aad)
	require.NoError(t, err)
	assert.NotEqual(t, sealed, again, "a fresh nonce each time")

	got, err := old.Open(sealed, aad)
	require.NoError(t, err)
	assert.Equal(t, plain, got)

	// Rotation: the new current key seals, the old one still opens what it sealed.
	rotated, err := authn.NewTokenSealer(map[uint32][]byte{1: k1, 2: k2}, 2)
	require.NoError(t, err)
	got, err = rotated.Open(sealed, aad)
	require.NoError(t, err)
	assert.Equal(t, plain, got)
	fresh, err := rotated.Seal(plain, aad)
	require.NoError(t, err)
	_, err = old.Open(fresh, aad)
	assert.ErrorIs(t, err, authn.ErrSealedToken, "a key not in the ring")

	// KeyID names the sealing key without opening; CurrentKeyID the sealing one.
	assert.Equal(t, uint32(2), rotated.CurrentKeyID())
	for want, b := range map[uint32][]byte{1: sealed, 2: fresh} {
		id, ok := rotated.KeyID(b)
		assert.True(t, ok)
		assert.Equal(t, want, id)
	}
	for _, bad := range [][]byte{nil, {1, 0, 0}, append([]byte{2}, fresh[1:]...)} {
		_, ok := rotated.KeyID(bad)
		assert.False(t, ok, "too short or another version")
	}
	assert.Zero(t, (*authn.AESTokenSealer)(nil).CurrentKeyID())

	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		_, err := old.Open(bad, aad)
		assert.ErrorIs(t, err, authn.ErrSealedToken, "byte %d changed", i)
	}
	_, err = old.Open(sealed, []byte("another row"))
	assert.ErrorIs(t, err, authn.ErrSealedToken)
	for _, short := range [][]byte{nil, {}, sealed[:20], bytes.Repeat([]byte{1}, 9000)} {
		_, err := old.Open(short, aad)
		assert.ErrorIs(t, err, authn.ErrSealedToken)
	}
	_, err = old.Seal(plain, nil)
	assert.Error(t, err, "associated data is required")
	_, err = old.Seal(nil, aad)
	assert.Error(t, err)

	_, err = authn.NewTokenSealer(map[uint32][]byte{1: k1[:16]}, 1)
	assert.ErrorIs(t, err, authn.ErrSealerKey)
	_, err = authn.NewTokenSealer(map[uint32][]byte{1: k1}, 2)
	assert.ErrorIs(t, err, authn.ErrSealerKey)

	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("sealer", "s", rotated)
	for _, out := range []string{fmt.Sprint(rotated), fmt.Sprintf("%#v", rotated), fmt.Sprintf("%x", rotated), logged.String()} {
		assert.Contains(t, out, "current 2")
		assert.NotContains(t, out, "0101010101")
		assert.NotContains(t, out, "0202020202")
	}
}
