package authn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
)

// TestCookieReadMatchesNetHTTP checks the allocation-free cookie scan against
// http.Request.Cookie on the cases that matter: several cookies and headers, quotes,
// a look-alike name, an invalid value skipped for a later valid one, none at all.
func TestCookieReadMatchesNetHTTP(t *testing.T) {
	c := authn.Cookie{}
	for _, headers := range [][]string{
		{"a=1; __Host-callshield=tok1; b=2"},
		{"a=1", "__Host-callshield=tok2"},
		{`__Host-callshield="tok3"`},
		{"__Host-callshieldx=no; x__Host-callshield=no"},
		{"__Host-callshield=bad\\value; __Host-callshield=tok4"},
		{"  __Host-callshield=tok5  ;"},
		{"__Host-callshield="},
		{""},
		{},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, h := range headers {
			r.Header.Add("Cookie", h)
		}
		want := ""
		if ck, err := r.Cookie("__Host-callshield"); err == nil {
			want = ck.Value
		}
		assert.Equal(t, want, c.Read(r), "headers %q", headers)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", "a=1; __Host-callshield=tok")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = c.Read(r) }), "Read allocates nothing")
}

// TestRequestValuesLookup checks that a context node answering with
// access.RequestValues is read by SubjectFrom and PolicyFrom, and that other keys
// reach the parent.
func TestRequestValuesLookup(t *testing.T) {
	type k struct{}
	subj := access.Subject{Tenant: uuid.New(), User: uuid.New()}
	ctx := valuesCtx{Context: context.WithValue(context.Background(), k{}, "parent"), v: access.RequestValues{Subject: subj}}
	got, ok := access.SubjectFrom(ctx)
	assert.True(t, ok)
	assert.Equal(t, subj, got)
	assert.Nil(t, access.PolicyFrom(ctx))
	assert.Equal(t, "parent", ctx.Value(k{}))
	_, ok = access.SubjectFrom(valuesCtx{Context: context.Background()})
	assert.False(t, ok, "a zero subject is not valid")
}

type valuesCtx struct {
	context.Context
	v access.RequestValues
}

func (c valuesCtx) Value(key any) any {
	if v, ok := c.v.Lookup(key); ok {
		return v
	}
	return c.Context.Value(key)
}
