package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTokenIsJudgedInTheRoutesProject: the token middleware runs before routing, where
// the {project} path value is unknown, so it judged the integrations right on
// ?project= or the tenant role. A route whose project is in its path must judge a
// token there too: a user whose tenant role holds integrations but whose role in
// Support does not must not use their token on Support's routes, with or without a
// ?project= naming another project. A token also never mints a token.
// tokenFixture: Sam (the seed's supervisor, member of Sales and Support) gets a tenant
// role with the integrations right, but in Support an override role without it (it
// manages the project and sees all its calls and recordings), and an API token.
type tokenFixture struct {
	a              *app
	tenant         uuid.UUID
	sam, bearer    *client
	sales, support uuid.UUID
}

func newTokenFixture(t *testing.T) tokenFixture {
	t.Helper()
	a, base := newInProcessServer(t)
	ctx := context.Background()
	tn, err := a.store.TenantByName(ctx, demoSlug)
	require.NoError(t, err)

	admin := newClient(t, base)
	admin.login("admin@demo.test", demoPassword)
	var integ, pm struct{ ID string }
	admin.must(201, "POST", "/api/v1/roles", map[string]any{"name": "Integrator PM",
		"rights": []string{"integrations.manage", "projects.manage", "profile.edit", "calls.view_all", "recordings.listen"}}, &integ)
	admin.must(201, "POST", "/api/v1/roles", map[string]any{"name": "PM only",
		"rights": []string{"projects.manage", "calls.view_all", "recordings.listen"}}, &pm)

	f := tokenFixture{a: a, tenant: tn.ID, sam: newClient(t, base), bearer: newClient(t, base)}
	f.sam.login("supervisor@demo.test", demoPassword)
	var me meBody
	f.sam.must(200, "GET", "/api/v1/me", nil, &me)
	admin.must(200, "PUT", "/api/v1/users/"+me.User.ID+"/role", map[string]string{"role": integ.ID}, nil)
	projects := map[string]uuid.UUID{}
	for _, p := range me.Projects {
		projects[p.Name] = uuid.MustParse(p.ID)
	}
	f.support, f.sales = projects["Support"], projects["Sales"]
	require.NotEqual(t, uuid.Nil, f.support)
	require.NotEqual(t, uuid.Nil, f.sales)
	_, err = a.access.AddProjectMember(ctx, access.System(tn.ID), f.support, uuid.MustParse(me.User.ID), uuid.MustParse(pm.ID))
	require.NoError(t, err, "in Support, Sam manages the project but holds no integrations right")

	var tok struct{ ID, Token string }
	f.sam.must(201, "POST", "/api/v1/me/token", map[string]string{"name": "CRM"}, &tok)
	f.bearer.hdr.Set("Authorization", "Bearer "+tok.Token)
	f.bearer.must(200, "GET", "/api/v1/me", nil, nil)
	return f
}

func TestTokenIsJudgedInTheRoutesProject(t *testing.T) {
	f := newTokenFixture(t)
	ctx := context.Background()
	sam, bearer, support, sales := f.sam, f.bearer, f.support, f.sales

	cur, err := f.a.store.ProjectMembers(ctx, f.tenant, support)
	require.NoError(t, err)
	var members []memberJSON
	for _, m := range cur {
		members = append(members, memberJSON{User: m.User, Role: m.Role})
	}
	body := map[string]any{"members": members}
	var e errBody
	bearer.must(403, "PUT", "/api/v1/projects/"+support.String()+"/members", body, &e)
	assert.Equal(t, "forbidden", e.Error.Code)
	bearer.must(403, "PUT", "/api/v1/projects/"+support.String()+"/members?project="+sales.String(), body, nil)
	sam.must(200, "PUT", "/api/v1/projects/"+support.String()+"/members", body, nil) // the session may

	// A token does not regenerate itself (it would get a fresh secret without expiry).
	bearer.must(403, "POST", "/api/v1/me/token", map[string]string{"name": "forever"}, nil)
	bearer.must(200, "GET", "/api/v1/me", nil, nil)
}

// TestTokenReadsOnlyProjectsWithTheRight: a tenant-wide read (the calls list, a
// recording by ID) made with a token returns no record of a project where the token's
// user lacks the integrations right, although their session sees them.
func TestTokenReadsOnlyProjectsWithTheRight(t *testing.T) {
	f := newTokenFixture(t)
	type callsBody struct {
		Calls []struct {
			ID        string `json:"id"`
			Project   string `json:"project"`
			Recording bool   `json:"has_recording"`
		}
	}
	var viaSession, viaToken callsBody
	f.sam.must(200, "GET", "/api/v1/calls?limit=1000", nil, &viaSession)
	recorded := ""
	projects := map[string]int{}
	for _, c := range viaSession.Calls {
		projects[c.Project]++
		if c.Project == f.support.String() && c.Recording {
			recorded = c.ID
		}
	}
	require.NotZero(t, projects[f.support.String()], "the session sees Support's calls")
	require.NotZero(t, projects[f.sales.String()])
	require.NotEmpty(t, recorded)
	f.sam.must(200, "GET", "/api/v1/calls/"+recorded+"/recording", nil, nil)

	f.bearer.must(200, "GET", "/api/v1/calls?limit=1000", nil, &viaToken)
	got := map[string]int{}
	for _, c := range viaToken.Calls {
		got[c.Project]++
	}
	assert.Zero(t, got[f.support.String()], "no Support call reaches the token")
	assert.Equal(t, projects[f.sales.String()], got[f.sales.String()], "Sales' calls are all there")
	status, _ := f.bearer.do("GET", "/api/v1/calls/"+recorded+"/recording", nil, nil)
	assert.Equal(t, 404, status, "nor a Support recording")
	f.bearer.must(403, "GET", "/api/v1/calls?limit=1000&project="+f.support.String(), nil, nil)
}

// TestAPIUsageReadDoesNotFlush: GET /api/v1/api-usage, open to every signed-in user for
// their own usage, is current (this instance's unflushed counts, from memory) without
// writing: it used to flush the usage counters, a write transaction per request.
func TestAPIUsageReadDoesNotFlush(t *testing.T) {
	f := newTokenFixture(t)
	ctx := context.Background()
	type usageBody struct {
		Usage []struct {
			Token    string `json:"token"`
			Requests int64  `json:"requests"`
		} `json:"usage"`
	}
	total := func(b usageBody) (n int64) {
		for _, u := range b.Usage {
			n += u.Requests
		}
		return n
	}
	var first usageBody
	f.sam.must(200, "GET", "/api/v1/api-usage", nil, &first)
	require.NotZero(t, total(first), "the fixture's bearer request is in the report")
	for range 10 {
		f.sam.must(200, "GET", "/api/v1/api-usage", nil, nil)
	}
	f.bearer.must(200, "GET", "/api/v1/me", nil, nil)
	var report usageBody
	f.sam.must(200, "GET", "/api/v1/api-usage", nil, &report)
	day := token.DayOf(f.a.clock(), nil)
	stored, err := f.a.store.Usage(ctx, f.tenant, token.UsageQuery{From: day, To: day})
	require.NoError(t, err)
	var inStore int64
	for _, u := range stored {
		inStore += u.Requests
	}
	assert.Equal(t, total(first)+1, total(report), "the report counts the request made just before it")
	assert.Less(t, inStore, total(report), "the report was not made by writing the counts to the store first")
}

// rawDo sends a JSON request as c and returns the whole response (closed body read).
func rawDo(t *testing.T, c *client, method, path string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	res, err := c.http.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, raw
}

// TestTokenChurnIsRefusedWithRetryAfter: revoking the token and asking for a new one
// at once is refused 429 too_many_regenerations with a Retry-After of the seconds left
// of the interval since the revoked token's creation; a sign-in refused by the
// throttle carries no Retry-After, and answers exactly as a wrong password.
func TestTokenChurnIsRefusedWithRetryAfter(t *testing.T) {
	f := newTokenFixture(t)
	f.sam.must(204, "DELETE", "/api/v1/me/token", nil, nil)
	res, raw := rawDo(t, f.sam, "POST", "/api/v1/me/token", map[string]string{"name": "again"})
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode, "%s", raw)
	assert.Contains(t, string(raw), "too_many_regenerations")
	secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", res.Header.Get("Retry-After"))
	assert.True(t, secs >= 1 && secs <= int(token.DefaultRegenerateInterval/time.Second), "Retry-After %d", secs)

	c := newClient(t, f.sam.base)
	var wrong []byte
	var wrongHdr http.Header
	for i := range 6 { // one address: its pair locks at 5 failures
		res, raw := rawDo(t, c, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": "agent@demo.test", "password": fmt.Sprint("wrong ", i)})
		require.Equal(t, http.StatusUnauthorized, res.StatusCode, "%s", raw)
		assert.Empty(t, res.Header.Values("Retry-After"))
		if i == 0 {
			wrong, wrongHdr = raw, res.Header
		}
	}
	res, raw = rawDo(t, c, "POST", "/api/v1/login", map[string]string{"tenant": "demo", "email": "agent@demo.test", "password": demoPassword})
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "the right password from a locked address")
	assert.Equal(t, string(wrong), string(raw), "the body of a wrong password")
	assert.Empty(t, res.Header.Values("Retry-After"), "no wait that would tell a lock")
	for _, h := range []string{"Content-Type", "Cache-Control"} {
		assert.Equal(t, wrongHdr.Get(h), res.Header.Get(h), h)
	}
}
