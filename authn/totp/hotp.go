package totp

import (
	"crypto/hmac"
	"encoding/binary"
	"hash"
	"time"
)

// pow10 holds 10^0 .. 10^8, the moduli of RFC 4226 §5.3 step 3.
var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// HOTP returns the RFC 4226 code of counter: HMAC(key, counter) under alg, dynamically
// truncated (§5.3) to digits decimal digits, zero-padded. digits is 6, 7 or 8, the
// lengths RFC 4226 §5.3 describes; alg "" means SHA1. It returns "" for the zero Secret, other digits or an
// unknown alg, a value that no code equals.
//
// Most callers want [Code] and [Verify]; HOTP is exported for counter-based tokens and
// for checking against other implementations.
func HOTP(s Secret, counter uint64, digits int, alg Algorithm) string {
	hf := alg.hashFunc()
	if s.IsZero() || hf == nil || digits < 6 || digits > 8 {
		return ""
	}
	var g generator
	g.init(s.raw(), hf)
	var buf [8]byte
	return string(g.code(&buf, counter, digits))
}

// Code returns the TOTP code (RFC 6238) of s at t under c. It returns "" for the zero
// Secret, an invalid Config or a t before 1970, a value that no code equals; call
// c.Validate first to tell them apart.
func Code(s Secret, t time.Time, c Config) string {
	c, err := c.resolved()
	if err != nil {
		return ""
	}
	st := c.step(t)
	if st < 0 {
		return ""
	}
	return HOTP(s, uint64(st), c.Digits, c.Algorithm)
}

// generator computes codes under one key, reusing one HMAC state (Reset keeps the
// keyed pads), so that checking a window sets up HMAC once (a fixed few allocations), not once per step.
type generator struct {
	mac hash.Hash
	sum [64]byte // large enough for SHA-512
	msg [8]byte
}

func (g *generator) init(key []byte, hf func() hash.Hash) {
	g.mac = hmac.New(hf, key)
}

// code writes the digits-long code of counter into buf and returns buf[:digits].
func (g *generator) code(buf *[8]byte, counter uint64, digits int) []byte {
	binary.BigEndian.PutUint64(g.msg[:], counter)
	g.mac.Reset()
	g.mac.Write(g.msg[:])
	sum := g.mac.Sum(g.sum[:0])
	// Dynamic truncation, RFC 4226 §5.3: the low 4 bits of the last byte choose 4
	// bytes, of which the top bit is dropped so the value is the same signed or not.
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	v %= pow10[digits]
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return buf[:digits]
}
