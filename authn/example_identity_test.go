package authn_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/authn/oidc"
	"github.com/callshield/callshield/internal/oidctest"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
)

// Link an OpenID Connect identity from the profile, confirm it through the mailed
// link, and sign in with it. The provider here is a test peer; in production use
// oidc.New(ctx, oidc.Google(clientID, clientSecret, redirectURL)) or any issuer URL.
func ExampleService_SignInWithIdentity() {
	ctx := context.Background()
	op, _ := oidctest.New()
	defer op.Close()
	corp, _ := oidc.New(ctx, oidc.Config{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID,
		ClientSecret: op.ClientSecret, RedirectURL: "https://app.example.com/auth/callback"})

	store := memory.New(memory.Options{})
	engine := access.NewEngine(store, access.EngineOptions{})
	acc := access.NewService(store, engine, access.ServiceOptions{})
	outbox := &authn.Outbox{}
	svc, _ := authn.NewService(store, engine, authn.Options{
		Mailer: outbox,
		LinkURL: func(p authn.Purpose, tok authn.LinkToken) string {
			return "https://app.example.com/" + string(p) + "#" + tok.Reveal()
		},
		Identity: authn.IdentityOptions{Providers: []authn.IdentityProvider{corp}},
	})
	tenant, _ := acc.CreateTenant(ctx, "Acme Call Center")
	roles, _ := store.Roles(ctx, tenant.ID)
	kinds := map[access.RoleKind]uuid.UUID{}
	for _, r := range roles {
		kinds[r.Kind] = r.ID
	}
	admin := access.Subject{Tenant: tenant.ID, User: uuid.New()}
	_, _ = acc.SetMember(ctx, access.System(tenant.ID), admin.User, kinds[access.KindAdmin])
	agent := kinds[access.KindAgent]
	_, _ = svc.Invite(ctx, admin, authn.InviteRequest{Email: "ann@example.com", Name: "Ann", Role: agent})
	mail, _ := outbox.Last("ann@example.com")
	u, _ := svc.AcceptInvitation(ctx, regexp.MustCompile(`csinv_[\w-]+`).FindString(mail.Text),
		authn.NewPassword("a long and unusual passphrase"), authn.Meta{})
	op.SetUser(oidctest.User{Subject: "248289761001", Email: "ann@corp.example", EmailVerified: true})

	// Profile → "Link corp": redirect to start.URL, keep start.Token in a cookie.
	ann := access.Subject{Tenant: tenant.ID, User: u.ID, Session: uuid.New()} // from the session middleware
	start, _ := svc.StartLink(ctx, ann, "corp")
	code, state, _ := op.Login(start.URL) // the browser at the provider, back at the callback
	id, err := svc.CompleteLink(ctx, ann, authn.Callback{Flow: start.Token.Reveal(), State: state, Code: code})
	fmt.Println("linked:", id.Status, err)

	signIn := func() error {
		start, _ := svc.StartIdentitySignIn(ctx, tenant.ID, "corp", authn.Meta{})
		code, state, _ := op.Login(start.URL)
		_, err := svc.SignInWithIdentity(ctx, authn.Callback{Flow: start.Token.Reveal(), State: state, Code: code}, authn.Meta{})
		return err
	}
	fmt.Println("sign-in before confirming:", errors.Is(signIn(), authn.ErrInvalidCredentials))

	mail, _ = outbox.Last("ann@example.com")
	id, err = svc.ConfirmIdentity(ctx, regexp.MustCompile(`csidc_[\w-]+`).FindString(mail.Text), authn.Meta{})
	fmt.Println("confirmed:", id.Status, err)
	fmt.Println("sign-in:", signIn())
	// Output:
	// linked: pending <nil>
	// sign-in before confirming: true
	// confirmed: active <nil>
	// sign-in: <nil>
}
