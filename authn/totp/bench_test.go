package totp_test

import (
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/callshield/callshield/authn/totp"
)

// BenchmarkVerify: one sign-in, the code of the current step, three steps computed by
// pquerna/otp. There is no speed target: verification is measured for information
// only, since a few microseconds beside a sign-in's ~20 ms password hash cost nothing
// (the earlier target of one HMAC state and no allocation per step went with the
// hand-written HMAC code). The pquerna sub-benchmark is the library's own
// totp.ValidateCustom with the same window, in the same run, as the reference figure.
func BenchmarkVerify(b *testing.B) {
	b.Run("pquerna-ValidateCustom/SHA1", func(b *testing.B) {
		s := secretOf(b, []byte("12345678901234567890"))
		now := time.Date(2026, 3, 14, 9, 26, 45, 0, time.UTC)
		code := totp.Code(s, now, totp.Config{})
		key := s.Base32()
		b.ReportAllocs()
		for b.Loop() {
			if ok, err := pqtotp.ValidateCustom(code, key, now, pqtotp.ValidateOpts{Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}); !ok || err != nil {
				b.Fatal("pquerna refused the code", err)
			}
		}
	})
	for _, alg := range []totp.Algorithm{totp.SHA1, totp.SHA256, totp.SHA512} {
		b.Run(string(alg), func(b *testing.B) {
			s := secretOf(b, []byte("12345678901234567890"))
			c := totp.Config{Algorithm: alg}
			now := time.Date(2026, 3, 14, 9, 26, 45, 0, time.UTC)
			code := totp.Code(s, now, c)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := totp.Verify(s, code, now, 0, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHOTP: one code.
func BenchmarkHOTP(b *testing.B) {
	s := secretOf(b, []byte("12345678901234567890"))
	b.ReportAllocs()
	var counter uint64
	for b.Loop() {
		if totp.HOTP(s, counter, 6, totp.SHA1) == "" {
			b.Fatal("no code")
		}
		counter++
	}
}

// BenchmarkMatchRecoveryCode: a recovery code against a full set of 10 hashes.
func BenchmarkMatchRecoveryCode(b *testing.B) {
	codes, err := totp.NewRecoveryCodes(nil, 10)
	if err != nil {
		b.Fatal(err)
	}
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		hashes[i] = c.Hash()
	}
	in := codes[9].Reveal()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := totp.MatchRecoveryCode(in, hashes); !ok {
			b.Fatal("no match")
		}
	}
}
