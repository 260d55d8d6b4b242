package authn

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
)

// Errors of the AES-GCM TokenSealer.
var (
	// ErrSealerKey: NewTokenSealer got a key that is not 32 bytes long, or a current
	// key ID that is not in the keyring.
	ErrSealerKey = errors.New("authn: token sealer key must be 32 bytes and current must be in the keyring")
	// ErrSealedToken: sealed bytes that do not open (changed, truncated, another row's
	// associated data, or a key not in the keyring).
	ErrSealedToken = errors.New("authn: sealed provider token does not open")
)

// Sealed token format, as totp.Sealer's: version ‖ key ID ‖ nonce ‖ ciphertext+tag.
const (
	tokenSealVersion   = 1
	tokenSealHeaderLen = 1 + 4
	tokenSealNonceLen  = 12
	tokenSealTagLen    = 16
	maxSealedTokenLen  = 8192
)

// AESTokenSealer is the [TokenSealer] of provider tokens: AES-256-GCM with a random
// 96-bit nonce under a keyring of IDs, the format and rotation of totp.Sealer (new
// tokens are sealed under the current key, every key of the ring opens what it
// sealed; [Service.ResealSecrets] moves stored tokens to the current key). It prints
// as its key IDs only; make one with [NewTokenSealer].
type AESTokenSealer struct {
	current uint32
	aeads   map[uint32]cipher.AEAD
}

var _ KeyedTokenSealer = (*AESTokenSealer)(nil)

// NewTokenSealer returns an AESTokenSealer over keys (key ID → 32-byte key) sealing
// under current. Keys come from a secret manager or KMS, never from the database they
// protect.
func NewTokenSealer(keys map[uint32][]byte, current uint32) (*AESTokenSealer, error) {
	if _, ok := keys[current]; !ok {
		return nil, ErrSealerKey
	}
	s := &AESTokenSealer{current: current, aeads: make(map[uint32]cipher.AEAD, len(keys))}
	for id, k := range keys {
		if len(k) != 32 {
			return nil, ErrSealerKey
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, ErrSealerKey
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, ErrSealerKey
		}
		s.aeads[id] = aead
	}
	return s, nil
}

// Seal encrypts plain under the current key, bound to aad (which must not be empty).
func (s *AESTokenSealer) Seal(plain, aad []byte) ([]byte, error) {
	if s == nil || s.aeads == nil || len(aad) == 0 || len(plain) == 0 ||
		len(plain) > maxSealedTokenLen-tokenSealHeaderLen-tokenSealNonceLen-tokenSealTagLen {
		return nil, errors.New("authn: seal: no keys, no associated data, or a token empty or too long")
	}
	aead := s.aeads[s.current]
	out := make([]byte, tokenSealHeaderLen+tokenSealNonceLen, tokenSealHeaderLen+tokenSealNonceLen+len(plain)+aead.Overhead())
	out[0] = tokenSealVersion
	binary.BigEndian.PutUint32(out[1:tokenSealHeaderLen], s.current)
	if _, err := io.ReadFull(rand.Reader, out[tokenSealHeaderLen:]); err != nil {
		return nil, fmt.Errorf("authn: seal: random: %w", err)
	}
	return aead.Seal(out, out[tokenSealHeaderLen:], plain, tokenSealAAD(out[:tokenSealHeaderLen], aad)), nil
}

// Open decrypts what Seal wrote with the same aad; anything else is ErrSealedToken.
// It never panics on any input.
func (s *AESTokenSealer) Open(sealed, aad []byte) ([]byte, error) {
	if s == nil || s.aeads == nil || len(aad) == 0 || len(sealed) < tokenSealHeaderLen+tokenSealNonceLen+tokenSealTagLen+1 ||
		len(sealed) > maxSealedTokenLen || sealed[0] != tokenSealVersion {
		return nil, ErrSealedToken
	}
	aead, ok := s.aeads[binary.BigEndian.Uint32(sealed[1:tokenSealHeaderLen])]
	if !ok {
		return nil, ErrSealedToken
	}
	nonce := sealed[tokenSealHeaderLen : tokenSealHeaderLen+tokenSealNonceLen]
	plain, err := aead.Open(nil, nonce, sealed[tokenSealHeaderLen+tokenSealNonceLen:], tokenSealAAD(sealed[:tokenSealHeaderLen], aad))
	if err != nil {
		return nil, ErrSealedToken
	}
	return plain, nil
}

// CurrentKeyID returns the ID new tokens are sealed under.
func (s *AESTokenSealer) CurrentKeyID() uint32 {
	if s == nil {
		return 0
	}
	return s.current
}

// KeyID returns the ID of the key sealed was sealed under, without opening it; ok is
// false for bytes too short or of another version.
func (s *AESTokenSealer) KeyID(sealed []byte) (id uint32, ok bool) {
	if len(sealed) < tokenSealHeaderLen || sealed[0] != tokenSealVersion {
		return 0, false
	}
	return binary.BigEndian.Uint32(sealed[1:tokenSealHeaderLen]), true
}

func tokenSealAAD(header, aad []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(aad)), header...), aad...)
}

// String names the key IDs, never the keys.
func (s *AESTokenSealer) String() string {
	if s == nil {
		return "authn.AESTokenSealer(none)"
	}
	ids := make([]string, 0, len(s.aeads))
	for id := range s.aeads {
		ids = append(ids, strconv.FormatUint(uint64(id), 10))
	}
	slices.Sort(ids)
	return "authn.AESTokenSealer(current " + strconv.FormatUint(uint64(s.current), 10) + ", keys " + strings.Join(ids, ",") + ")"
}

// GoString is String.
func (s *AESTokenSealer) GoString() string { return s.String() }

// Format prints String for every verb.
func (s *AESTokenSealer) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue logs String.
func (s *AESTokenSealer) LogValue() slog.Value { return slog.StringValue(s.String()) }
