package token_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
	"github.com/callshield/callshield/token"
	"github.com/google/uuid"
)

// ExampleService issues a token, authenticates a request with it, and revokes it. The
// host's users here are all active; with authn, pass token.StatusFunc(accounts.Status).
func ExampleService() {
	ctx := context.Background()
	store := memory.New(memory.Options{})
	engine := access.NewEngine(store, access.EngineOptions{})
	admin := access.NewService(store, engine, access.ServiceOptions{})
	tenant, _ := admin.CreateTenant(ctx, "Acme")
	roles, _ := store.Roles(ctx, tenant.ID)
	user := uuid.New()
	for _, r := range roles {
		if r.Kind == access.KindAdmin {
			_, _ = admin.SetMember(ctx, access.System(tenant.ID), user, r.ID)
		}
	}

	actions := audit.NewWriter(store, audit.WriterOptions{}) // the batched action log
	defer actions.Close(ctx)
	allActive := func(context.Context, uuid.UUID, uuid.UUID) (string, error) { return "active", nil }
	tokens, _ := token.NewService(store, engine, token.Options{Users: token.StatusFunc(allActive), Actions: actions})
	defer tokens.Close(ctx) // flushes the usage counters

	me := access.Subject{Tenant: tenant.ID, User: user}
	_, secret, _ := tokens.Issue(ctx, me, token.IssueRequest{Name: "CRM sync"})
	fmt.Println("shown once:", secret.Reveal()[:4], len(secret.Reveal()), "characters; printed:", secret)

	api := tokens.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := access.SubjectFrom(r.Context())
		fmt.Println("acting as the user:", s.User == user, "with a token:", s.Token != uuid.Nil)
	}))
	req := httptest.NewRequest(http.MethodGet, "/api/calls", nil)
	req.Header.Set("Authorization", "Bearer "+secret.Reveal())
	api.ServeHTTP(httptest.NewRecorder(), req)

	_ = tokens.Revoke(ctx, me, user)
	_, err := tokens.Verify(ctx, secret.Reveal())
	fmt.Println("after revocation:", errors.Is(err, token.ErrInvalid))
	// Output:
	// shown once: cst_ 65 characters; printed: [REDACTED]
	// acting as the user: true with a token: true
	// after revocation: true
}
