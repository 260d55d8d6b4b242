package totp_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn/totp"
)

// totp.BindAAD ties a sealed secret to tenant, user and totp.Config: the zero totp.Config binds like
// the explicit defaults, and a secret whose stored totp.Config was weakened, or that was
// moved to another user, does not open.
func TestBindAAD(t *testing.T) {
	key := bytes.Repeat([]byte{7}, totp.SealKeyBytes)
	sl, err := totp.NewSealer(map[uint32][]byte{1: key}, 1)
	require.NoError(t, err)
	tenant, user, other := [16]byte{1}, [16]byte{2}, [16]byte{3}
	eight := totp.Config{Digits: 8}
	aad, err := totp.BindAAD(tenant, user, eight)
	require.NoError(t, err)
	secret, err := totp.NewSecret(nil)
	require.NoError(t, err)
	sealed, err := sl.Seal(secret, aad)
	require.NoError(t, err)

	got, err := sl.Open(sealed, aad)
	require.NoError(t, err)
	assert.True(t, got.Equal(secret))

	zero, err := totp.BindAAD(tenant, user, totp.Config{})
	require.NoError(t, err)
	explicit, err := totp.BindAAD(tenant, user, totp.Config{Digits: 6, Period: 30 * time.Second, Algorithm: totp.SHA1, Skew: 1})
	require.NoError(t, err)
	assert.Equal(t, zero, explicit, "the zero totp.Config binds like the defaults")

	for name, c := range map[string]totp.Config{"fewer digits": {}, "longer period": {Digits: 8, Period: 5 * time.Minute},
		"another algorithm": {Digits: 8, Algorithm: totp.SHA256}, "no skew": {Digits: 8, Skew: totp.NoSkew}} {
		weak, err := totp.BindAAD(tenant, user, c)
		require.NoError(t, err)
		_, err = sl.Open(sealed, weak)
		assert.ErrorIs(t, err, totp.ErrSealedAuth, name)
	}
	moved, err := totp.BindAAD(tenant, other, eight)
	require.NoError(t, err)
	_, err = sl.Open(sealed, moved)
	assert.ErrorIs(t, err, totp.ErrSealedAuth, "another user's row")

	_, err = totp.BindAAD(tenant, user, totp.Config{Digits: 7})
	assert.ErrorIs(t, err, totp.ErrInvalidConfig)
}

func TestZeroSecretEqualsNothing(t *testing.T) {
	var zero totp.Secret
	assert.False(t, zero.Equal(totp.Secret{}))
	s, err := totp.NewSecret(nil)
	require.NoError(t, err)
	assert.False(t, zero.Equal(s))
	assert.False(t, s.Equal(zero))
	assert.True(t, s.Equal(s))
}
