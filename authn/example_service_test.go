package authn_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
)

// Invite a user, accept the mailed link with a password, sign in, then block the user.
func ExampleService() {
	ctx := context.Background()
	store := memory.New(memory.Options{})
	engine := access.NewEngine(store, access.EngineOptions{})
	acc := access.NewService(store, engine, access.ServiceOptions{})
	outbox := &authn.Outbox{} // use authn.SMTPMailer in production
	svc, _ := authn.NewService(store, engine, authn.Options{
		Mailer: outbox,
		LinkURL: func(p authn.Purpose, tok authn.LinkToken) string {
			return "https://app.example.com/" + string(p) + "#" + tok.Reveal()
		},
		Audit: audit.NewRecorder(store, audit.Options{}),
	})

	// Provision a tenant and its first Admin (a host operation).
	tenant, _ := acc.CreateTenant(ctx, "Acme Call Center")
	roles, _ := store.Roles(ctx, tenant.ID)
	var adminRole, agentRole uuid.UUID
	for _, r := range roles {
		switch r.Kind {
		case access.KindAdmin:
			adminRole = r.ID
		case access.KindAgent:
			agentRole = r.ID
		}
	}
	admin := access.Subject{Tenant: tenant.ID, User: uuid.New()}
	_, _ = acc.SetMember(ctx, access.System(tenant.ID), admin.User, adminRole)

	inv, err := svc.Invite(ctx, admin, authn.InviteRequest{Email: "ann@example.com", Name: "Ann", Role: agentRole})
	fmt.Println("invited:", inv.User.Email, inv.User.Status, err)

	// The user opens the mailed link; the page posts its secret and the new password.
	mail, _ := outbox.Last("ann@example.com")
	token := regexp.MustCompile(`csinv_[\w-]+`).FindString(mail.Text)
	u, err := svc.AcceptInvitation(ctx, token, authn.NewPassword("a long and unusual passphrase"), authn.Meta{})
	fmt.Println("accepted:", u.Status, err)

	_, err = svc.Authenticate(ctx, tenant.ID, "ann@example.com", authn.NewPassword("a long and unusual passphrase"), authn.Meta{})
	fmt.Println("sign-in:", err)

	_ = svc.Block(ctx, admin, u.ID)
	_, err = svc.Authenticate(ctx, tenant.ID, "ann@example.com", authn.NewPassword("a long and unusual passphrase"), authn.Meta{})
	fmt.Println("sign-in after block:", errors.Is(err, authn.ErrInvalidCredentials))
	// Output:
	// invited: ann@example.com invited <nil>
	// accepted: active <nil>
	// sign-in: <nil>
	// sign-in after block: true
}
