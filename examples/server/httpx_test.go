package main

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
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
