package access_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
)

// Provision a tenant, give users roles and projects, and decide.
func Example() {
	ctx := context.Background()
	store := memory.New(memory.Options{})
	engine := access.NewEngine(store, access.EngineOptions{})
	svc := access.NewService(store, engine, access.ServiceOptions{})

	tenant, _ := svc.CreateTenant(ctx, "Acme Call Center")
	roles, _ := store.Roles(ctx, tenant.ID)
	byKind := map[access.RoleKind]uuid.UUID{}
	for _, r := range roles {
		byKind[r.Kind] = r.ID
	}
	alice, bob := uuid.New(), uuid.New()
	_, _ = svc.SetMember(ctx, access.System(tenant.ID), alice, byKind[access.KindAdmin])
	admin := access.Subject{Tenant: tenant.ID, User: alice}
	_, _ = svc.SetMember(ctx, admin, bob, byKind[access.KindAgent])
	sales, _ := svc.CreateProject(ctx, admin, "Sales")
	_, _ = svc.AddProjectMember(ctx, admin, sales.ID, bob, uuid.Nil)

	policy, _ := engine.Policy(ctx, tenant.ID)
	agent := access.Subject{Tenant: tenant.ID, User: bob}
	fmt.Println("agent may listen to recordings:", policy.Check(agent, access.ListenRecordings, sales.ID))
	fmt.Println("agent sees masked fields:", policy.Check(agent, access.SeeMaskedFields, sales.ID))
	scope := policy.Scope(agent, access.ViewAllCalls)
	fmt.Println("agent reads own calls only in Sales:", len(scope.Projects) == 0 && scope.OwnProjects[0] == sales.ID)
	fmt.Println("admin may listen in Sales:", policy.Check(admin, access.ListenRecordings, sales.ID))
	// Output:
	// agent may listen to recordings: false
	// agent sees masked fields: false
	// agent reads own calls only in Sales: true
	// admin may listen in Sales: true
}

// Protect a handler with a right; the project comes from the request.
func ExampleGuard_Require() {
	ctx := context.Background()
	store := memory.New(memory.Options{})
	engine := access.NewEngine(store, access.EngineOptions{})
	svc := access.NewService(store, engine, access.ServiceOptions{})
	tenant, _ := svc.CreateTenant(ctx, "Acme")
	roles, _ := store.Roles(ctx, tenant.ID)
	user := uuid.New()
	for _, r := range roles {
		if r.Kind == access.KindAgent {
			_, _ = svc.SetMember(ctx, access.System(tenant.ID), user, r.ID)
		}
	}

	guard := &access.Guard{Engine: engine, Audit: audit.NewRecorder(store, audit.Options{})}
	h := guard.Require(access.ManageRoles)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "roles page")
	}))

	req := httptest.NewRequest(http.MethodGet, "/roles", nil)
	// In a real server the session middleware sets the subject.
	subject := access.Subject{Tenant: tenant.ID, User: user, IP: netip.MustParseAddr("198.51.100.7")}
	req = req.WithContext(access.WithSubject(req.Context(), subject))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	fmt.Print(rr.Code, " ", rr.Body.String())
	// Output:
	// 403 {"error":"forbidden"}
}

// Read the client address behind a trusted reverse proxy.
func ExampleClientIP() {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "10.0.0.2:51234"
	// The client wrote the first entry itself; the proxy appended the real address.
	req.Header.Set("X-Forwarded-For", "1.2.3.4, 203.0.113.9")
	fmt.Println(access.ClientIP(req, proxies))

	req.RemoteAddr = "198.51.100.1:40000" // not a trusted proxy: the header is ignored
	fmt.Println(access.ClientIP(req, proxies))
	// Output:
	// 203.0.113.9
	// 198.51.100.1
}
