package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// queryLimit is the one parser of ?limit= (the audit search and the call list): absent
// is the endpoint's default, 1..1000 is taken, anything else is 400.
func TestQueryLimit(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  int
		ok    bool
	}{
		{"", 7, true}, {"limit=1", 1, true}, {"limit=1000", 1000, true},
		{"limit=0", 0, false}, {"limit=1001", 0, false}, {"limit=-3", 0, false},
		{"limit=ten", 0, false}, {"limit=1e3", 0, false},
	} {
		t.Run(tc.query, func(t *testing.T) {
			n, err := queryLimit(httptest.NewRequest("GET", "/x?"+tc.query, nil), 7)
			if !tc.ok {
				assert.ErrorIs(t, err, errBadRequest)
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, tc.want, n)
		})
	}
}

// The sign-in page's ?next= is followed by the browser after signing in: only a path
// of this site is kept, whatever a browser would make of the rest.
func TestLocalPath(t *testing.T) {
	for next, want := range map[string]string{
		"/users":                 "/users",
		"/calls?project=1&x=%2F": "/calls?project=1&x=%2F",
		"":                       "/calls",
		"users":                  "/calls",
		"https://evil.example/":  "/calls",
		"//evil.example/":        "/calls",
		"/\\evil.example/":       "/calls",
		"/\t/evil.example/":      "/calls", // browsers drop tabs and newlines: "//evil.example/"
		"/\n/evil.example/":      "/calls",
		"/\r/evil.example/":      "/calls",
		"/\x00/evil.example/":    "/calls",
		"/\x7f/evil.example/":    "/calls",
		"javascript:alert(1)":    "/calls",
	} {
		assert.Equal(t, want, localPath(next), "%q", next)
	}
}

// HSTS is sent exactly when the server runs as it does in production (over HTTPS,
// behind a TLS-terminating proxy): whenever its cookies are Secure. In dev mode on a
// loopback address, the one plain-HTTP setup, it is never sent, so that a developer's
// browser does not pin localhost to HTTPS.
func TestStrictTransportSecurity(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config
		hsts bool
	}{
		{"dev on 127.0.0.1", config{Addr: "127.0.0.1:8080", Dev: true}, false},
		{"dev on localhost", config{Addr: "localhost:8080", Dev: true}, false},
		{"dev on ::1", config{Addr: "[::1]:8080", Dev: true}, false},
		{"production on loopback behind a proxy", config{Addr: "127.0.0.1:8080", SMTPAddr: "relay:25"}, true},
		{"production on every address", config{Addr: ":8443", SMTPAddr: "relay:25"}, true},
		{"dev on a public address", config{Addr: "0.0.0.0:8080", Dev: true}, true},
		{"dev on a host name", config{Addr: "backoffice.example:8080", Dev: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.PublicURL = "https://backoffice.example"
			chain := audit.Chain{Key: bytes.Repeat([]byte{7}, 32)}
			store := memory.New(memory.Options{Chain: chain})
			a, err := assemble(tc.cfg, store, chain, &memCalls{}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.NoError(t, err)
			t.Cleanup(func() { _ = a.close(context.Background()) })
			for _, path := range []string{"/", "/login", "/api/v1/me", "/static/app.js"} {
				rec := httptest.NewRecorder()
				a.handler.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				got := rec.Header().Get("Strict-Transport-Security")
				if tc.hsts {
					assert.Equal(t, "max-age=63072000; includeSubDomains", got, "%s", path)
				} else {
					assert.Empty(t, got, "%s", path)
				}
			}
			assert.Equal(t, tc.hsts, !a.sessionCookie().Insecure, "HSTS goes with Secure cookies")
		})
	}
}
