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
