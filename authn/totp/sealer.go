package totp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

// errNoKeys is the error of a nil or zero Sealer, one not made by NewSealer.
var errNoKeys = fmt.Errorf("%w: the Sealer has no keys; make it with NewSealer", ErrSealerKey)

// Sealed format.
const (
	// SealKeyBytes is the size of a sealer key: AES-256.
	SealKeyBytes = 32

	sealVersion   = 1
	sealHeaderLen = 1 + 4 // version ‖ key ID (big-endian)
	sealNonceLen  = 12    // the 96-bit GCM nonce
	sealTagLen    = 16
)

// Sealer encrypts secrets for storage, so that the database never holds a TOTP secret
// in clear: a copy of the database (a backup, a replica, an SQL injection) must not
// let anyone produce a user's codes. It uses AES-256-GCM with a random 96-bit nonce
// and writes
//
//	version (1 byte, 1) ‖ key ID (4 bytes, big-endian) ‖ nonce (12 bytes) ‖ ciphertext and tag
//
// The version and key ID are authenticated along with the caller's associated data.
//
// Keys are a keyring of IDs: new secrets are sealed under the current key and every
// key of the ring opens what it sealed, so a key is rotated by adding a new one, making
// it current, and removing the old one once nothing sealed under it remains ([KeyID]
// names the key of a sealed value). A stored secret moves to the current key when its
// user enrols again, or when authn's reseal job (Service.ResealSecrets) opens it and
// seals it anew under the current key, written back only if the stored value is still
// the one it read. Until every secret sealed under a key has moved, that key must stay
// in the ring, or those users cannot sign in: the job's report says when none is left.
//
// Random nonces are safe for up to about 2^32 seals per key (NIST SP 800-38D §8.3),
// orders of magnitude above the number of enrollments a key sees before rotation.
//
// A Sealer is safe for concurrent use. It prints as its key IDs only; the keys never
// appear in fmt or slog output. The zero Sealer has no keys: make one with
// [NewSealer].
type Sealer struct {
	current uint32
	aeads   map[uint32]cipher.AEAD
}

// NewSealer returns a Sealer over keys (key ID → 32-byte AES-256 key) that seals under
// current. It copies what it needs, so keys may be wiped after the call. It fails with
// a [KeyError] (errors.Is [ErrSealerKey]) when a key is not [SealKeyBytes] long or
// current is not in keys.
//
// Keys come from a secret manager or KMS, one per deployment, never from the database
// they protect.
func NewSealer(keys map[uint32][]byte, current uint32) (*Sealer, error) {
	if _, ok := keys[current]; !ok {
		return nil, &KeyError{ID: current, Absent: true}
	}
	s := &Sealer{current: current, aeads: make(map[uint32]cipher.AEAD, len(keys))}
	for id, k := range keys {
		if len(k) != SealKeyBytes {
			return nil, &KeyError{ID: id, Len: len(k)}
		}
		block, err := aes.NewCipher(k)
		if err != nil { // unreachable with 32 bytes; kept so a change cannot panic
			return nil, &KeyError{ID: id, Len: len(k)}
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, &KeyError{ID: id, Len: len(k)}
		}
		s.aeads[id] = aead
	}
	return s, nil
}

// Seal encrypts s under the current key, bound to aad: pass [BindAAD] of the tenant,
// the user and the secret's Config, so that a sealed secret copied to another user's
// row, in this tenant or another, fails to open, and so does one whose stored Config
// was changed (fewer digits, a longer period) to weaken it. It fails with [ErrNoSecret] for the
// zero Secret and [ErrMissingAAD] for an empty aad.
func (sl *Sealer) Seal(s Secret, aad []byte) ([]byte, error) {
	if sl == nil || sl.aeads == nil {
		return nil, errNoKeys
	}
	if s.IsZero() {
		return nil, ErrNoSecret
	}
	if len(aad) == 0 {
		return nil, ErrMissingAAD
	}
	aead := sl.aeads[sl.current]
	key := s.raw()
	out := make([]byte, sealHeaderLen+sealNonceLen, sealHeaderLen+sealNonceLen+len(key)+aead.Overhead())
	out[0] = sealVersion
	binary.BigEndian.PutUint32(out[1:sealHeaderLen], sl.current)
	if _, err := io.ReadFull(rand.Reader, out[sealHeaderLen:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	return aead.Seal(out, out[sealHeaderLen:], key, sealAAD(out[:sealHeaderLen], aad)), nil
}

// Open decrypts what [Sealer.Seal] wrote, with the same aad. It fails with
// [ErrSealedFormat] for bytes too short, too long or of another version, an [UnknownKeyError]
// (errors.Is [ErrSealedUnknownKey]) for a key ID not in the keyring, [ErrSealedAuth]
// for any changed byte or another aad, and [ErrMissingAAD] for an empty aad. It never
// panics on any input.
func (sl *Sealer) Open(sealed, aad []byte) (Secret, error) {
	if sl == nil || sl.aeads == nil {
		return Secret{}, errNoKeys
	}
	if len(aad) == 0 {
		return Secret{}, ErrMissingAAD
	}
	if len(sealed) < sealHeaderLen+sealNonceLen+sealTagLen+1 ||
		len(sealed) > sealHeaderLen+sealNonceLen+sealTagLen+MaxSecretBytes ||
		sealed[0] != sealVersion {
		return Secret{}, ErrSealedFormat
	}
	id := binary.BigEndian.Uint32(sealed[1:sealHeaderLen])
	aead, ok := sl.aeads[id]
	if !ok {
		return Secret{}, &UnknownKeyError{ID: id}
	}
	nonce := sealed[sealHeaderLen : sealHeaderLen+sealNonceLen]
	key, err := aead.Open(nil, nonce, sealed[sealHeaderLen+sealNonceLen:], sealAAD(sealed[:sealHeaderLen], aad))
	if err != nil {
		return Secret{}, ErrSealedAuth
	}
	s := secretFrom(key)
	clear(key)
	return s, nil
}

// CurrentKeyID returns the ID new secrets are sealed under.
func (sl *Sealer) CurrentKeyID() uint32 {
	if sl == nil {
		return 0
	}
	return sl.current
}

// KeyID returns the ID of the key sealed was sealed under, without opening it, so that
// an operator can find what is still sealed under a key before removing it from the
// ring. ok is false for bytes too short or of another version.
func KeyID(sealed []byte) (id uint32, ok bool) {
	if len(sealed) < sealHeaderLen || sealed[0] != sealVersion {
		return 0, false
	}
	return binary.BigEndian.Uint32(sealed[1:sealHeaderLen]), true
}

// sealAAD is the associated data GCM authenticates: the header, then the caller's.
// BindAAD returns the additional data that binds a sealed secret to its row: the
// tenant and user IDs and the Config the secret was enrolled with (resolved, so the
// zero Config and the explicit defaults bind alike). Pass it to Seal and Open. Someone
// who can write to the database can then neither move a sealed secret to another user
// nor weaken its parameters without Open failing with [ErrSealedAuth]. It fails only
// for an invalid Config.
func BindAAD(tenant, user [16]byte, c Config) ([]byte, error) {
	rc, err := c.resolved()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 64)
	b = append(b, "callshield/totp/v1"...)
	b = append(b, tenant[:]...)
	b = append(b, user[:]...)
	b = append(b, byte(rc.Digits), byte(rc.Skew), byte(len(rc.Algorithm)))
	b = append(b, rc.Algorithm...)
	b = binary.BigEndian.AppendUint32(b, uint32(rc.Period/time.Second))
	return b, nil
}

func sealAAD(header, aad []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(aad)), header...), aad...)
}

// String lists the key IDs, never the keys.
func (sl *Sealer) String() string {
	if sl == nil {
		return "totp.Sealer(nil)"
	}
	ids := make([]uint32, 0, len(sl.aeads))
	for id := range sl.aeads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return fmt.Sprintf("totp.Sealer{current: %d, keys: %v}", sl.current, ids)
}

// GoString is String, for %#v.
func (sl *Sealer) GoString() string { return sl.String() }

// Format writes String for every verb, so that no verb reaches the keys.
func (sl *Sealer) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, sl.String()) }

// LogValue makes log/slog write String.
func (sl *Sealer) LogValue() slog.Value { return slog.StringValue(sl.String()) }
