package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
	"github.com/stretchr/testify/require"
)

// benchServer is the whole server on the memory store, seeded, with the agent signed in.
type benchServer struct {
	a      *app
	cookie *http.Cookie
	ctx    context.Context // the agent's subject and policy, for the bare handler
}

func newBenchServer(tb testing.TB) *benchServer {
	tb.Helper()
	ctx := context.Background()
	chain := audit.Chain{Key: bytes.Repeat([]byte{7}, 32)}
	store := memory.New(memory.Options{Chain: chain})
	cfg := config{Addr: "127.0.0.1:0", Dev: true, PublicURL: "http://127.0.0.1", AdminPassword: demoPassword, Seed: true}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := assemble(cfg, store, chain, &memCalls{}, time.Now, logger)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = a.close(context.Background()) })
	require.NoError(tb, seed(ctx, a, io.Discard))

	req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"tenant":"demo","email":"agent@demo.test","password":"`+demoPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	require.Equal(tb, 200, rec.Code, rec.Body.String())
	var cookie *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Value != "" {
			cookie = c // the session cookie, the only one a sign-in sets
		}
	}
	require.NotNil(tb, cookie)

	// The bare handler's context: the same subject and policy the chain would put there.
	probe := httptest.NewRequest("GET", "/api/v1/me", nil)
	probe.AddCookie(cookie)
	var bctx context.Context
	a.authenticate(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { bctx = r.Context() })).ServeHTTP(httptest.NewRecorder(), probe)
	s, ok := access.SubjectFrom(bctx)
	require.True(tb, ok)
	p, err := a.engine.Policy(ctx, s.Tenant)
	require.NoError(tb, err)
	return &benchServer{a: a, cookie: cookie, ctx: access.WithPolicy(access.WithSubject(ctx, s), p)}
}

const benchPath = "/api/v1/calls?limit=20"

// BenchmarkProtectedEndpoint is GET /api/v1/calls through the whole security chain:
// security headers, cross-origin check, client address, session lookup and the user's
// status, the policy's freshness check and the allowlist, the action-log event (queued
// on the Writer, hash-chained into the memory store), then scope and masking.
func BenchmarkProtectedEndpoint(b *testing.B) {
	bs := newBenchServer(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", benchPath, nil)
			req.AddCookie(bs.cookie)
			rec := httptest.NewRecorder()
			bs.a.handler.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkBareEndpoint is the same handler without the security chain: the subject
// and policy are put in the context up front, nothing is checked or logged.
func BenchmarkBareEndpoint(b *testing.B) {
	bs := newBenchServer(b)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := bs.a.listCalls(w, r); err != nil {
			bs.a.writeError(w, r, err)
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", benchPath, nil).WithContext(bs.ctx)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
