package totp_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callshield/callshield/authn/totp"
)

func newKey(t testing.TB) []byte {
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

// id16 is a random 16-byte ID, as the tenant and user UUIDs are.
type id16 = [16]byte

func newID() id16 {
	var id id16
	_, _ = rand.Read(id[:])
	return id
}

// rowAAD is what the caller passes: tenant ID ‖ user ID.
func rowAAD(tenant, user id16) []byte { return append(tenant[:], user[:]...) }

func TestSealerRoundTrip(t *testing.T) {
	sl, err := totp.NewSealer(map[uint32][]byte{7: newKey(t)}, 7)
	require.NoError(t, err)
	s, err := totp.NewSecret(nil)
	require.NoError(t, err)
	aad := rowAAD(newID(), newID())

	sealed, err := sl.Seal(s, aad)
	require.NoError(t, err)
	assert.Len(t, sealed, 1+4+12+20+16, "version ‖ key ID ‖ nonce ‖ ciphertext ‖ tag")
	assert.Equal(t, byte(1), sealed[0])
	assert.Equal(t, []byte{0, 0, 0, 7}, sealed[1:5])
	id, ok := totp.KeyID(sealed)
	assert.True(t, ok)
	assert.Equal(t, uint32(7), id)
	assert.Equal(t, uint32(7), sl.CurrentKeyID())

	back, err := sl.Open(sealed, aad)
	require.NoError(t, err)
	assert.True(t, back.Equal(s))
	assert.Equal(t, s.Bytes(), back.Bytes())

	// The sealed bytes hold the secret in no recognisable form.
	for _, f := range secretForms(s.Bytes()) {
		assert.False(t, bytes.Contains(sealed, []byte(f)), "sealed bytes contain %q", f)
	}
	assert.False(t, bytes.Contains(sealed, s.Bytes()[:8]))

	// A fresh nonce each time: sealing twice gives different bytes.
	again, err := sl.Seal(s, aad)
	require.NoError(t, err)
	assert.NotEqual(t, sealed, again)
	assert.NotEqual(t, sealed[5:17], again[5:17], "nonces differ")

	// The keys passed in may be wiped after NewSealer.
	keys := map[uint32][]byte{1: newKey(t)}
	sl2, err := totp.NewSealer(keys, 1)
	require.NoError(t, err)
	sealed2, err := sl2.Seal(s, aad)
	require.NoError(t, err)
	clear(keys[1])
	back, err = sl2.Open(sealed2, aad)
	require.NoError(t, err)
	assert.True(t, back.Equal(s))
}

// Rotation: a new current key seals, old keys keep opening, and a key removed from the
// ring leaves its secrets unopenable with a typed error naming the key.
func TestSealerRotation(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	old, err := totp.NewSealer(map[uint32][]byte{1: k1}, 1)
	require.NoError(t, err)
	s, err := totp.NewSecret(nil)
	require.NoError(t, err)
	aad := rowAAD(newID(), newID())
	sealedOld, err := old.Seal(s, aad)
	require.NoError(t, err)

	both, err := totp.NewSealer(map[uint32][]byte{1: k1, 2: k2}, 2)
	require.NoError(t, err)
	back, err := both.Open(sealedOld, aad)
	require.NoError(t, err, "an old key still opens")
	assert.True(t, back.Equal(s))
	sealedNew, err := both.Seal(back, aad)
	require.NoError(t, err)
	id, _ := totp.KeyID(sealedNew)
	assert.Equal(t, uint32(2), id, "resealed under the current key")

	_, err = old.Open(sealedNew, aad)
	assert.ErrorIs(t, err, totp.ErrSealedUnknownKey, "a deployment without the new key")
	var uk *totp.UnknownKeyError
	require.ErrorAs(t, err, &uk)
	assert.Equal(t, uint32(2), uk.ID)

	onlyNew, err := totp.NewSealer(map[uint32][]byte{2: k2}, 2)
	require.NoError(t, err)
	_, err = onlyNew.Open(sealedOld, aad)
	assert.ErrorIs(t, err, totp.ErrSealedUnknownKey, "the old key retired")
	back, err = onlyNew.Open(sealedNew, aad)
	require.NoError(t, err)
	assert.True(t, back.Equal(s))

	// Same ID, different key material: authentication fails.
	other, err := totp.NewSealer(map[uint32][]byte{2: newKey(t)}, 2)
	require.NoError(t, err)
	_, err = other.Open(sealedNew, aad)
	assert.ErrorIs(t, err, totp.ErrSealedAuth)
}

// Changing any single byte (any bit pattern) of the sealed bytes makes Open fail with a
// typed error: format for the version, unknown key for the key ID, authentication for
// the nonce, ciphertext and tag.
func TestSealerTamperEveryByte(t *testing.T) {
	sl, err := totp.NewSealer(map[uint32][]byte{7: newKey(t), 8: newKey(t)}, 7)
	require.NoError(t, err)
	s, err := totp.NewSecret(nil)
	require.NoError(t, err)
	aad := rowAAD(newID(), newID())
	sealed, err := sl.Seal(s, aad)
	require.NoError(t, err)

	for i := range sealed {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(sealed)
			bad[i] ^= flip
			got, err := sl.Open(bad, aad)
			require.Error(t, err, "byte %d ^ %#x", i, flip)
			assert.True(t, got.IsZero())
			switch {
			case i == 0:
				assert.ErrorIs(t, err, totp.ErrSealedFormat, "byte %d", i)
			case i < 5:
				// None of these flips turns ID 7 into 8, the ring's other key; that
				// case is checked below.
				assert.ErrorIs(t, err, totp.ErrSealedUnknownKey, "byte %d", i)
			default:
				assert.ErrorIs(t, err, totp.ErrSealedAuth, "byte %d", i)
			}
		}
	}
	// The key ID changed to another key of the ring: authenticated header, fails.
	bad := bytes.Clone(sealed)
	bad[4] = 8
	_, err = sl.Open(bad, aad)
	assert.ErrorIs(t, err, totp.ErrSealedAuth)

	// Truncated, extended and empty inputs.
	for _, b := range [][]byte{nil, {}, sealed[:1], sealed[:5], sealed[:17], sealed[:33], sealed[:len(sealed)-1], append(bytes.Clone(sealed), 0)} {
		_, err := sl.Open(b, aad)
		assert.Error(t, err, "%d bytes", len(b))
		assert.True(t, errorsIsAny(err, totp.ErrSealedFormat, totp.ErrSealedAuth), "%d bytes: %v", len(b), err)
	}
	_, err = sl.Open(append(bytes.Clone(sealed), make([]byte, 1<<20)...), aad)
	assert.ErrorIs(t, err, totp.ErrSealedFormat)

	// Untouched, it still opens.
	_, err = sl.Open(sealed, aad)
	assert.NoError(t, err)
}

func errorsIsAny(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// A sealed secret copied to another user's row (same tenant or another) does not open.
func TestSealerWrongAAD(t *testing.T) {
	sl, err := totp.NewSealer(map[uint32][]byte{1: newKey(t)}, 1)
	require.NoError(t, err)
	s, err := totp.NewSecret(nil)
	require.NoError(t, err)
	tenant, user := newID(), newID()
	sealed, err := sl.Seal(s, rowAAD(tenant, user))
	require.NoError(t, err)

	for name, aad := range map[string][]byte{
		"other user":             rowAAD(tenant, newID()),
		"other tenant":           rowAAD(newID(), user),
		"swapped":                rowAAD(user, tenant),
		"tenant only":            tenant[:],
		"one more byte":          append(rowAAD(tenant, user), 0),
		"one bit":                flipBit(rowAAD(tenant, user), 77),
		"header bytes prepended": append([]byte{1, 0, 0, 0, 1}, rowAAD(tenant, user)...),
	} {
		_, err := sl.Open(sealed, aad)
		assert.ErrorIs(t, err, totp.ErrSealedAuth, name)
	}
	_, err = sl.Open(sealed, nil)
	assert.ErrorIs(t, err, totp.ErrMissingAAD)
	_, err = sl.Seal(s, nil)
	assert.ErrorIs(t, err, totp.ErrMissingAAD)
	_, err = sl.Seal(totp.Secret{}, rowAAD(tenant, user))
	assert.ErrorIs(t, err, totp.ErrNoSecret)
}

func flipBit(b []byte, bit int) []byte {
	b[bit/8] ^= 1 << (bit % 8)
	return b
}

func TestNewSealerKeys(t *testing.T) {
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		_, err := totp.NewSealer(map[uint32][]byte{1: make([]byte, n)}, 1)
		assert.ErrorIs(t, err, totp.ErrSealerKey, "%d-byte key", n)
		var ke *totp.KeyError
		require.ErrorAs(t, err, &ke)
		assert.Equal(t, uint32(1), ke.ID)
		assert.Equal(t, n, ke.Len)
	}
	// A bad old key is refused too, not only the current one.
	_, err := totp.NewSealer(map[uint32][]byte{1: newKey(t), 2: make([]byte, 16)}, 1)
	assert.ErrorIs(t, err, totp.ErrSealerKey)

	_, err = totp.NewSealer(map[uint32][]byte{1: newKey(t)}, 2)
	assert.ErrorIs(t, err, totp.ErrSealerKey, "current not in the ring")
	var ke *totp.KeyError
	require.ErrorAs(t, err, &ke)
	assert.True(t, ke.Absent)
	_, err = totp.NewSealer(nil, 0)
	assert.ErrorIs(t, err, totp.ErrSealerKey)

	// The zero and nil Sealer fail cleanly.
	var nilSealer *totp.Sealer
	_, err = nilSealer.Seal(rfcSecret(t), []byte("x"))
	assert.ErrorIs(t, err, totp.ErrSealerKey)
	_, err = (&totp.Sealer{}).Open(make([]byte, 64), []byte("x"))
	assert.ErrorIs(t, err, totp.ErrSealerKey)
}

// A Sealer prints its key IDs, never its keys, whatever the verb or logger.
func TestSealerRedaction(t *testing.T) {
	k := bytes.Repeat([]byte("K3y!"), 8)
	sl, err := totp.NewSealer(map[uint32][]byte{3: k, 1: newKey(t)}, 3)
	require.NoError(t, err)
	forms := secretForms(k)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		out := fmt.Sprintf(verb, sl)
		assertNoLeak(t, out, forms, verb)
		assert.Equal(t, "totp.Sealer{current: 3, keys: [1 3]}", out, verb)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "sealer", sl)
	assert.Contains(t, buf.String(), `"sealer":"totp.Sealer{current: 3, keys: [1 3]}"`)
	assertNoLeak(t, fmt.Sprintf("%+v", struct{ S *totp.Sealer }{sl}), forms, "in a struct")
}
