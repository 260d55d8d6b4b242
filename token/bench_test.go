package token_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/callshield/callshield/token"
)

// benchService returns a token service over a memory store with CacheTTL ttl and a
// valid token, verified once (the cache warm).
func benchService(b *testing.B, ttl time.Duration) (*token.Service, string) {
	e := newEnv(b, envOptions{})
	ann := e.onboard(b, "ann@example.com", e.integrator, e.sales.ID)
	svc, err := token.NewService(e.store, e.engine, token.Options{Users: token.StatusFunc(e.userStatus),
		Actions: e.writer, After: never, CacheTTL: ttl})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = svc.Close(context.Background()) })
	_, sec, err := svc.Issue(context.Background(), ann, token.IssueRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Verify(context.Background(), sec.Reveal()); err != nil {
		b.Fatal(err)
	}
	return svc, sec.Reveal()
}

// BenchmarkVerify measures Service.Verify of a valid token on the memory store with
// the verification cache warm (CacheTTL one minute): parse and checksum, SHA-256, the
// cache lookup and the expiry check. Compare it with BenchmarkHMACSHA256 from the same
// run (target: at most 2x its time, at most 1 allocation).
func BenchmarkVerify(b *testing.B) {
	svc, raw := benchService(b, time.Minute)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyNoCache is Verify without the cache (the default): also the lookup by
// hash and the user's status, two reads of the memory store.
func BenchmarkVerifyNoCache(b *testing.B) {
	svc, raw := benchService(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyVsHMAC runs Verify and the HMAC-SHA256 check of BenchmarkHMACSHA256
// in alternating chunks of 256 calls and reports the ratio of their times ("x-hmac"):
// on a shared machine whose load drifts between two benchmarks, the alternation makes
// both see the same load.
func BenchmarkVerifyVsHMAC(b *testing.B) {
	b.Run("cache", func(b *testing.B) { verifyVsHMAC(b, time.Minute) })
	b.Run("nocache", func(b *testing.B) { verifyVsHMAC(b, 0) })
}

func verifyVsHMAC(b *testing.B, ttl time.Duration) {
	svc, raw := benchService(b, ttl)
	ctx := context.Background()
	mac := hmac.New(sha256.New, make([]byte, 32))
	msg := make([]byte, 32)
	mac.Write(msg)
	want := mac.Sum(nil)
	var buf [sha256.Size]byte
	var tv, th time.Duration
	const chunk = 256
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		for range chunk {
			if _, err := svc.Verify(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		for range chunk {
			mac.Reset()
			mac.Write(msg)
			if !hmac.Equal(mac.Sum(buf[:0]), want) {
				b.Fatal("mismatch")
			}
		}
		tv += t1.Sub(t0)
		th += time.Since(t1)
	}
	b.ReportMetric(float64(tv)/float64(th), "x-hmac")
	b.ReportMetric(float64(tv.Nanoseconds())/float64(b.N*chunk), "verify-ns")
	b.ReportMetric(float64(th.Nanoseconds())/float64(b.N*chunk), "hmac-ns")
}

// BenchmarkHMACSHA256 is the peer: verifying an HMAC-SHA256 tag over 32 bytes, with
// the keyed hash set up once and reused (its cheapest form: no allocation).
func BenchmarkHMACSHA256(b *testing.B) {
	key := make([]byte, 32)
	msg := make([]byte, 32)
	mac := hmac.New(sha256.New, key)
	mac.Write(msg)
	want := mac.Sum(nil)
	var buf [sha256.Size]byte
	b.ReportAllocs()
	for b.Loop() {
		mac.Reset()
		mac.Write(msg)
		if !hmac.Equal(mac.Sum(buf[:0]), want) {
			b.Fatal("mismatch")
		}
	}
}
