// Package phc parses and formats argon2id hashes in the PHC string format:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// where salt and hash are standard base64 without padding. Only the canonical form is
// accepted — version 19, parameters in the order m, t, p, decimal without leading zeros,
// no optional keyid/data fields, strict base64 — so that Parse and String round-trip
// exactly, and a stored row has one spelling only.
//
// Parse bounds every parameter: a stored hash decides how much memory and time its
// verification takes, and a tampered row must not be able to exhaust the process.
package phc

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Prefix starts every argon2id PHC string.
const Prefix = "$argon2id$"

// Bounds of the parameters Parse accepts.
const (
	MaxMemory  = 1 << 20 // KiB: 1 GiB
	MaxTime    = 100
	MaxThreads = 64
	MinSaltLen = 8 // bytes, the PHC and RFC 9106 minimum
	MaxSaltLen = 64
	MinKeyLen  = 16 // bytes; shorter tags make online guessing collisions plausible
	MaxKeyLen  = 64
)

// version is the only Argon2 version supported (0x13), the one golang.org/x/crypto
// implements.
const version = 19

// Errors of Parse.
var (
	// ErrMalformed: not a canonical argon2id PHC string.
	ErrMalformed = errors.New("malformed argon2id PHC string")
	// ErrOutOfRange: well formed, but a parameter is outside the accepted bounds.
	ErrOutOfRange = errors.New("argon2id parameter out of range")
	// ErrVersion: an Argon2 version other than 19.
	ErrVersion = errors.New("unsupported argon2 version")
)

// Hash is a parsed argon2id hash.
type Hash struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	Salt    []byte
	Key     []byte
}

var b64 = base64.RawStdEncoding.Strict()

// String returns h in the canonical PHC form.
func (h Hash) String() string {
	var b strings.Builder
	b.Grow(len(Prefix) + 40 + b64.EncodedLen(len(h.Salt)) + b64.EncodedLen(len(h.Key)))
	b.WriteString(Prefix)
	b.WriteString("v=19$m=")
	b.WriteString(strconv.FormatUint(uint64(h.Memory), 10))
	b.WriteString(",t=")
	b.WriteString(strconv.FormatUint(uint64(h.Time), 10))
	b.WriteString(",p=")
	b.WriteString(strconv.FormatUint(uint64(h.Threads), 10))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(h.Salt))
	b.WriteByte('$')
	b.WriteString(b64.EncodeToString(h.Key))
	return b.String()
}

// Check reports whether h's parameters are within the bounds Parse accepts.
func (h Hash) Check() error {
	switch {
	case h.Time < 1 || h.Time > MaxTime,
		h.Threads < 1 || h.Threads > MaxThreads,
		h.Memory < 8*uint32(h.Threads) || h.Memory > MaxMemory, // RFC 9106: m >= 8p
		len(h.Salt) < MinSaltLen || len(h.Salt) > MaxSaltLen,
		len(h.Key) < MinKeyLen || len(h.Key) > MaxKeyLen:
		return ErrOutOfRange
	}
	return nil
}

// maxLen bounds the input: the longest canonical string is well under it.
const maxLen = 256

// Parse parses a canonical argon2id PHC string. It never panics, and its errors
// (ErrMalformed, ErrOutOfRange, ErrVersion) do not quote the input.
func Parse(s string) (Hash, error) {
	if len(s) > maxLen || !strings.HasPrefix(s, Prefix) {
		return Hash{}, ErrMalformed
	}
	// "v=19", "m=..,t=..,p=..", salt, key
	f := strings.Split(s[len(Prefix):], "$")
	if len(f) != 4 {
		return Hash{}, ErrMalformed
	}
	v, ok := strings.CutPrefix(f[0], "v=")
	if !ok {
		return Hash{}, ErrMalformed
	}
	ver, ok := parseDecimal(v)
	if !ok {
		return Hash{}, ErrMalformed
	}
	if ver != version {
		return Hash{}, ErrVersion
	}
	ps := strings.Split(f[1], ",")
	if len(ps) != 3 {
		return Hash{}, ErrMalformed
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		d, ok := strings.CutPrefix(ps[i], name)
		if !ok {
			return Hash{}, ErrMalformed
		}
		if vals[i], ok = parseDecimal(d); !ok {
			return Hash{}, ErrMalformed
		}
	}
	// The base64 decoder skips \r and \n; refuse them so that the form is canonical.
	if strings.ContainsAny(f[2], "\r\n") || strings.ContainsAny(f[3], "\r\n") {
		return Hash{}, ErrMalformed
	}
	salt, err := b64.DecodeString(f[2])
	if err != nil {
		return Hash{}, ErrMalformed
	}
	key, err := b64.DecodeString(f[3])
	if err != nil {
		return Hash{}, ErrMalformed
	}
	if vals[0] > MaxMemory || vals[1] > MaxTime || vals[2] > MaxThreads {
		return Hash{}, ErrOutOfRange
	}
	h := Hash{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2]), Salt: salt, Key: key}
	if err := h.Check(); err != nil {
		return Hash{}, err
	}
	return h, nil
}

// parseDecimal parses a canonical unsigned decimal: digits only, no sign, no leading
// zero (but "0"), at most 10 digits.
func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
