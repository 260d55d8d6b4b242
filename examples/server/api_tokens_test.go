package main

import (
	"context"
	"testing"

	"github.com/callshield/callshield/access"
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
func TestTokenIsJudgedInTheRoutesProject(t *testing.T) {
	a, base := newInProcessServer(t)
	ctx := context.Background()
	tn, err := a.store.TenantByName(ctx, demoSlug)
	require.NoError(t, err)

	admin := newClient(t, base)
	admin.login("admin@demo.test", demoPassword)
	var integ, pm struct{ ID string }
	admin.must(201, "POST", "/api/v1/roles", map[string]any{"name": "Integrator PM",
		"rights": []string{"integrations.manage", "projects.manage", "profile.edit"}}, &integ)
	admin.must(201, "POST", "/api/v1/roles", map[string]any{"name": "PM only",
		"rights": []string{"projects.manage"}}, &pm)

	sam := newClient(t, base)
	sam.login("supervisor@demo.test", demoPassword)
	var me meBody
	sam.must(200, "GET", "/api/v1/me", nil, &me)
	admin.must(200, "PUT", "/api/v1/users/"+me.User.ID+"/role", map[string]string{"role": integ.ID}, nil)
	projects := map[string]uuid.UUID{}
	for _, p := range me.Projects {
		projects[p.Name] = uuid.MustParse(p.ID)
	}
	support, sales := projects["Support"], projects["Sales"]
	require.NotEqual(t, uuid.Nil, support)
	require.NotEqual(t, uuid.Nil, sales)
	_, err = a.access.AddProjectMember(ctx, access.System(tn.ID), support, uuid.MustParse(me.User.ID), uuid.MustParse(pm.ID))
	require.NoError(t, err, "in Support, Sam manages the project but holds no integrations right")

	var tok struct{ ID, Token string }
	sam.must(201, "POST", "/api/v1/me/token", map[string]string{"name": "CRM"}, &tok)
	bearer := newClient(t, base)
	bearer.hdr.Set("Authorization", "Bearer "+tok.Token)
	bearer.must(200, "GET", "/api/v1/me", nil, nil)

	cur, err := a.store.ProjectMembers(ctx, tn.ID, support)
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
