package totp_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/callshield/callshield/authn/totp"
)

// fuzzConfig picks a valid Config from a byte: every digits, algorithm, skew and a
// few periods.
func fuzzConfig(sel uint8) totp.Config {
	return totp.Config{
		Digits:    []int{6, 8}[sel%2],
		Algorithm: []totp.Algorithm{totp.SHA1, totp.SHA256, totp.SHA512}[sel/2%3],
		Skew:      []int{0, 1, totp.NoSkew}[sel/6%3],
		Period:    []time.Duration{30 * time.Second, time.Second, time.Minute, totp.MaxPeriod}[sel/18%4],
	}
}

// FuzzVerify: Verify never panics, and agrees with a plain reference that computes the
// code of each step of the window with HOTP: it accepts exactly the codes of a step in
// [now−Skew, now+Skew] (≥ 0), returns the latest such step, and reports it as replayed
// exactly when that step is ≤ lastStep. pick in −3..3 replaces the code with the real
// one of the step that far from now, so that the accepting paths are exercised too.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("12345678901234567890"), "287082", int64(59), int64(0), int8(100), uint8(0))
	f.Add([]byte("12345678901234567890"), "", int64(1111111109), int64(0), int8(0), uint8(1))
	f.Add([]byte("12345678901234567890"), "", int64(1234567890), int64(41152263), int8(-1), uint8(2))
	f.Add([]byte("0123456789abcdef0123"), " 1 2 3\u00a04 5 6 ", int64(-31), int64(-5), int8(100), uint8(7))
	f.Add([]byte{}, "12345678", int64(math.MaxInt64), int64(math.MinInt64), int8(1), uint8(9))
	f.Add([]byte("short"), "", int64(math.MinInt64), int64(0), int8(2), uint8(30))
	f.Fuzz(func(t *testing.T, key []byte, code string, unix, lastStep int64, pick int8, sel uint8) {
		if len(key) < totp.MinSecretBits/8 || len(key) > totp.MaxSecretBytes {
			key = []byte("12345678901234567890")
		}
		s := secretOf(t, key)
		c := fuzzConfig(sel)
		now := time.Unix(unix, 0)
		p := int64(c.Period / time.Second)
		skew := int64(c.Skew)
		switch c.Skew {
		case 0:
			skew = 1
		case totp.NoSkew:
			skew = 0
		}
		cur := now.Unix() / p
		if now.Unix()%p < 0 {
			cur--
		}
		digits := c.Digits
		if pick >= -3 && pick <= 3 {
			st := cur + int64(pick)
			if (pick > 0 && cur > math.MaxInt64-int64(pick)) || (pick < 0 && cur < math.MinInt64-int64(pick)) || st < 0 {
				st = 0
			}
			real := totp.HOTP(s, uint64(st), digits, c.Algorithm)
			code = real[:3] + strings.Repeat(" ", len(code)%3) + real[3:] // spaces inside too
		}

		// The reference.
		var wantErr error
		var wantStep int64
		norm := strings.NewReplacer(" ", "", "\t", "", "\u00a0", "").Replace(code)
		switch {
		case len(code) > 64 || len(norm) != digits || strings.Trim(norm, "0123456789") != "":
			wantErr = totp.ErrMalformedCode
		default:
			found := false
			for d := -skew; d <= skew; d++ {
				if (d > 0 && cur > math.MaxInt64-d) || (d < 0 && cur < math.MinInt64-d) || cur+d < 0 {
					continue
				}
				if totp.HOTP(s, uint64(cur+d), digits, c.Algorithm) == norm {
					found, wantStep = true, cur+d
				}
			}
			switch {
			case !found:
				wantErr = totp.ErrInvalidCode
			case wantStep <= lastStep:
				wantErr = totp.ErrReplayed
			}
		}

		step, err := totp.Verify(s, code, now, lastStep, c)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("Verify(%q at %d, last %d, %+v) = %d, %v; want %v", code, unix, lastStep, c, step, err, wantErr)
			}
			if step != 0 {
				t.Fatalf("step %d returned with an error", step)
			}
			if err != totp.ErrMalformedCode && err != totp.ErrInvalidCode && err != totp.ErrReplayed {
				t.Fatalf("error %q is not one of the fixed messages", err) // which cannot hold the code
			}
			return
		}
		if err != nil || step != wantStep {
			t.Fatalf("Verify(%q at %d, last %d, %+v) = %d, %v; want step %d", code, unix, lastStep, c, step, err, wantStep)
		}
		// Distances in uint64: exact for any two int64s, where cur+skew could overflow.
		outside := (step < cur && uint64(cur)-uint64(step) > uint64(skew)) ||
			(step > cur && uint64(step)-uint64(cur) > uint64(skew))
		if step <= lastStep || step < 0 || outside {
			t.Fatalf("accepted step %d outside (last %d) or the window around %d", step, lastStep, cur)
		}
	})
}

// FuzzOpen: Open never panics on any bytes or associated data, and opens nothing but
// what was sealed, under the associated data it was sealed with: a forgery would
// have to break AES-GCM.
func FuzzOpen(f *testing.F) {
	sl, err := totp.NewSealer(map[uint32][]byte{
		1: bytes.Repeat([]byte{1}, 32),
		2: bytes.Repeat([]byte{2}, 32),
	}, 2)
	if err != nil {
		f.Fatal(err)
	}
	s := secretOf(f, []byte("12345678901234567890"))
	aad := []byte("tenant-0000000001user-00000000001")
	sealed, err := sl.Seal(s, aad)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, aad)
	f.Add(sealed[:len(sealed)-1], aad)
	f.Add(sealed, aad[1:])
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1, 0, 0, 0, 1}, aad)
	f.Add(append([]byte{1, 0, 0, 0, 9}, sealed[5:]...), aad)
	f.Fuzz(func(t *testing.T, b, ad []byte) {
		got, err := sl.Open(b, ad)
		if err != nil {
			if !got.IsZero() {
				t.Fatal("a secret returned with an error")
			}
			if !errors.Is(err, totp.ErrSealedFormat) && !errors.Is(err, totp.ErrSealedUnknownKey) &&
				!errors.Is(err, totp.ErrSealedAuth) && !errors.Is(err, totp.ErrMissingAAD) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !got.Equal(s) || !bytes.Equal(ad, aad) {
			t.Fatalf("Open accepted %x with aad %q: not something that was sealed", b, ad)
		}
	})
}

// FuzzParseSecret: ParseSecret never panics; what it accepts is within the size bounds
// and round-trips through Base32.
func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "gezd gnbv gy3t qojq gezd gnbv gy3t qojq", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQA===", "", "===", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := totp.ParseSecret(in)
		if err != nil {
			if !s.IsZero() {
				t.Fatal("a secret returned with an error")
			}
			return
		}
		n := len(s.Bytes())
		if n*8 < totp.MinSecretBits || n > totp.MaxSecretBytes {
			t.Fatalf("accepted a %d-byte secret", n)
		}
		back, err := totp.ParseSecret(s.Base32())
		if err != nil || !back.Equal(s) {
			t.Fatalf("Base32 round trip: %v", err)
		}
		if strings.ToUpper(s.Base32()) != s.Base32() || strings.Contains(s.Base32(), "=") {
			t.Fatal("Base32 not unpadded upper case")
		}
	})
}

// FuzzHashRecoveryCode: the hash ignores ASCII case, dashes and spaces, and reads I, L
// and O as 1, 1 and 0, wherever they appear; a well-formed code matches its own hash;
// anything else has no hash and matches nothing, not even the SHA-256 of "".
func FuzzHashRecoveryCode(f *testing.F) {
	f.Add("01ABC-DEF1G-H0JKM-NPQRS", uint8(3))
	f.Add("oil", uint8(0))
	f.Add("", uint8(0))
	empty := sha256.Sum256(nil)
	f.Fuzz(func(t *testing.T, code string, at uint8) {
		h := totp.HashRecoveryCode(code)
		if h == nil {
			if _, ok := totp.MatchRecoveryCode(code, [][]byte{empty[:], nil, {}}); ok {
				t.Fatalf("%q has no hash but matched", code)
			}
			return
		}
		lower := strings.Map(func(r rune) rune {
			if 'A' <= r && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}, code)
		i := int(at) % (len(code) + 1)
		for i > 0 && i < len(code) && !utf8.RuneStart(code[i]) {
			i-- // insert between characters, not inside one
		}
		for _, variant := range []string{
			lower,
			code[:i] + "-" + code[i:],
			code[:i] + " " + code[i:],
			strings.NewReplacer("0", "O", "1", "l").Replace(code),
		} {
			if len(variant) > 256 {
				continue // past the input bound
			}
			if !bytes.Equal(h, totp.HashRecoveryCode(variant)) {
				t.Fatalf("%q and %q hash differently", code, variant)
			}
		}
		if _, ok := totp.MatchRecoveryCode(code, [][]byte{h}); !ok {
			t.Fatal("a code does not match its own hash")
		}
	})
}
