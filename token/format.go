package token

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/bits"

	"github.com/google/uuid"
)

// The token format (see [Secret]):
//
//	cst_ <body: 55 base62 characters> <checksum: 6 base62 characters>
//
// The body is 40 bytes, the tenant ID (16) followed by 24 random bytes (192 bits from
// crypto/rand), written as five big-endian 64-bit words of 11 base62 digits each
// (zero-padded). The checksum is the CRC-32 (IEEE) of the 55 body characters, as 6
// base62 digits. Every word and the checksum have exactly one encoding (a digit string
// whose value does not fit is refused), so the text and the bytes correspond one to
// one.
//
// Because the CRC is computed over the characters, any single changed character is
// detected: a change in the body alters one byte, a burst of at most 8 bits, which
// CRC-32 always detects; a change in the checksum changes the value it encodes; a
// change in the prefix is not the prefix. The tests and FuzzParse hold this.
const (
	// Prefix starts every API token, so that secret scanners (and people) recognise
	// one: register "cst_[0-9A-Za-z]{61}" with your scanner.
	Prefix = "cst_"
	// Len is the length of every token, in bytes.
	Len = len(Prefix) + bodyLen + crcLen

	randomLen = 24 // 192 random bits
	rawLen    = 16 + randomLen
	wordLen   = 11 // base62 digits of a 64-bit word
	bodyLen   = rawLen / 8 * wordLen
	crcLen    = 6 // base62 digits of a 32-bit CRC
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// digit maps a byte to its base62 value, or 0xff.
var digit = func() (d [256]byte) {
	for i := range d {
		d[i] = 0xff
	}
	for i := 0; i < len(alphabet); i++ {
		d[alphabet[i]] = byte(i)
	}
	return d
}()

// Secret is an API token as shown to its user, once, when it is issued. Only its
// SHA-256 is stored. It redacts itself in every printed, logged or marshalled form;
// [Secret.Reveal] returns the token for showing it.
//
// The zero Secret is empty ([Secret.IsZero]).
type Secret struct{ s string }

// Reveal returns the token, to show to its user once. Never log it.
func (s Secret) Reveal() string { return s.s }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.s == "" }

const redacted = "[REDACTED]"

// String redacts the token.
func (s Secret) String() string { return redacted }

// GoString redacts the token.
func (s Secret) GoString() string { return redacted }

// LogValue redacts the token in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the token.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText redacts the token.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Format redacts the token for every fmt verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// newSecret draws a token of tenant from rand and returns it with its hash.
func newSecret(rand io.Reader, tenant uuid.UUID) (Secret, [32]byte, error) {
	var raw [rawLen]byte
	copy(raw[:16], tenant[:])
	if _, err := io.ReadFull(rand, raw[16:]); err != nil {
		return Secret{}, [32]byte{}, fmt.Errorf("token: random: %w", err)
	}
	return Secret{encode(&raw)}, sha256.Sum256(raw[16:]), nil
}

// encode writes the token text of raw.
func encode(raw *[rawLen]byte) string {
	var b [Len]byte
	copy(b[:], Prefix)
	body := b[len(Prefix) : len(Prefix)+bodyLen]
	for w := 0; w < rawLen/8; w++ {
		putBase62(body[w*wordLen:(w+1)*wordLen], binary.BigEndian.Uint64(raw[w*8:]))
	}
	putBase62(b[len(Prefix)+bodyLen:], uint64(crc32.ChecksumIEEE(body)))
	return string(b[:])
}

// putBase62 writes v into dst as len(dst) base62 digits, most significant first.
func putBase62(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = alphabet[v%62]
		v /= 62
	}
}

// base62 reads s (at most wordLen digits) as an unsigned base62 number; ok is false
// for a character outside the alphabet or a value that does not fit 64 bits.
func base62(s string) (v uint64, ok bool) {
	if len(s) == 0 || len(s) > wordLen {
		return 0, false
	}
	// 62^10 < 2^64: the first wordLen-1 digits cannot overflow. Invalid characters map
	// to 0xff, whose high bit no digit (< 62) has, so one test after the loop finds them.
	n := min(len(s), wordLen-1)
	var bad byte
	for i := 0; i < n; i++ {
		d := digit[s[i]]
		bad |= d
		v = v*62 + uint64(d&0x3f)
	}
	if bad&0x80 != 0 {
		return 0, false
	}
	if len(s) == n {
		return v, true
	}
	d := digit[s[n]]
	if d == 0xff {
		return 0, false
	}
	hi, lo := bits.Mul64(v, 62)
	var carry uint64
	v, carry = bits.Add64(lo, uint64(d), 0)
	if hi != 0 || carry != 0 {
		return 0, false
	}
	return v, true
}

// decodeBody reads the five words of a body into raw; ok is false for a character
// outside the alphabet or a word that does not fit 64 bits. It is base62 for each word,
// the five words interleaved so that their multiply chains run side by side.
func decodeBody(body string, raw *[rawLen]byte) bool {
	_ = body[bodyLen-1]
	var v [rawLen / 8]uint64
	var bad byte
	for i := 0; i < wordLen-1; i++ {
		for w := range v {
			d := digit[body[w*wordLen+i]]
			bad |= d
			v[w] = v[w]*62 + uint64(d&0x3f)
		}
	}
	for w := range v {
		d := digit[body[w*wordLen+wordLen-1]]
		bad |= d
		hi, lo := bits.Mul64(v[w], 62)
		var carry uint64
		v[w], carry = bits.Add64(lo, uint64(d&0x3f), 0)
		if hi != 0 || carry != 0 {
			return false
		}
		binary.BigEndian.PutUint64(raw[w*8:], v[w])
	}
	return bad&0x80 == 0
}

// crcTables are the slicing-by-8 tables of CRC-32 (IEEE), so that the checksum of the
// body is computed on the string in place: the result is crc32.ChecksumIEEE's (a test
// and FuzzCRC hold this).
var crcTables = func() (t [8][256]uint32) {
	base := crc32.MakeTable(crc32.IEEE)
	t[0] = *base
	for i := 0; i < 256; i++ {
		c := t[0][i]
		for j := 1; j < 8; j++ {
			c = t[0][c&0xff] ^ c>>8
			t[j][i] = c
		}
	}
	return t
}()

// crcString returns crc32.ChecksumIEEE([]byte(s)) without converting s.
func crcString(s string) uint32 {
	crc := ^uint32(0)
	for len(s) >= 8 {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = crcTables[0][s[7]] ^ crcTables[1][s[6]] ^ crcTables[2][s[5]] ^ crcTables[3][s[4]] ^
			crcTables[4][crc>>24] ^ crcTables[5][crc>>16&0xff] ^ crcTables[6][crc>>8&0xff] ^ crcTables[7][crc&0xff]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		crc = crcTables[0][byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}

// Parse reads an API token without any store lookup: its format and checksum. It
// returns the tenant the token belongs to and the SHA-256 under which its record is
// stored. A string that is not a token is an error wrapping [ErrMalformed]; one whose
// checksum does not match (a mistyped or altered token) wraps [ErrChecksum]; both wrap
// [ErrInvalid]. Parse never panics and does not allocate.
func Parse(s string) (tenant uuid.UUID, hash [32]byte, err error) {
	if len(s) != Len || s[:len(Prefix)] != Prefix {
		return uuid.Nil, hash, ErrMalformed
	}
	body := s[len(Prefix) : len(Prefix)+bodyLen]
	var raw [rawLen]byte
	if !decodeBody(body, &raw) {
		return uuid.Nil, hash, ErrMalformed
	}
	sum, ok := base62(s[len(Prefix)+bodyLen:])
	if !ok || sum > 0xffffffff {
		return uuid.Nil, hash, ErrMalformed
	}
	if uint32(sum) != crcString(body) {
		return uuid.Nil, hash, ErrChecksum
	}
	copy(tenant[:], raw[:16])
	if tenant == uuid.Nil {
		return uuid.Nil, hash, ErrMalformed
	}
	return tenant, sha256.Sum256(raw[16:]), nil
}

// Looks reports whether s contains something shaped like an API token (the prefix
// followed by base62 characters): the middleware refuses requests that carry one in
// their URL or form, and never logs them.
func Looks(s string) bool {
	for i := 0; i+len(Prefix) < len(s); i++ {
		if s[i] == 'c' && s[i:i+len(Prefix)] == Prefix && digit[s[i+len(Prefix)]] != 0xff {
			return true
		}
	}
	return false
}
