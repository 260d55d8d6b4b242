package authn_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/authn/totp"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
)

// Turn two-factor on ("Connect") and sign in with the app's code; the same code again
// is refused.
func ExampleService_StartTwoFactor() {
	ctx := context.Background()
	now := time.Date(2026, 3, 14, 9, 26, 45, 0, time.UTC)
	clock := func() time.Time { return now }
	store := memory.New(memory.Options{})
	engine := access.NewEngine(store, access.EngineOptions{})
	acc := access.NewService(store, engine, access.ServiceOptions{Clock: clock})
	key := make([]byte, totp.SealKeyBytes) // from a secret manager in production
	_, _ = rand.Read(key)
	sealer, _ := totp.NewSealer(map[uint32][]byte{1: key}, 1)
	outbox := &authn.Outbox{}
	svc, _ := authn.NewService(store, engine, authn.Options{Mailer: outbox, Clock: clock,
		LinkURL:         func(_ authn.Purpose, tok authn.LinkToken) string { return "https://app.example.com/#" + tok.Reveal() },
		TwoFactorSealer: sealer})

	tenant, _ := acc.CreateTenant(ctx, "Acme Call Center")
	roles, _ := store.Roles(ctx, tenant.ID)
	admin := access.Subject{Tenant: tenant.ID, User: uuid.New()}
	for _, r := range roles {
		if r.Kind == access.KindAdmin {
			_, _ = acc.SetMember(ctx, access.System(tenant.ID), admin.User, r.ID)
		}
	}
	for _, r := range roles {
		if r.Kind == access.KindAgent {
			_, _ = svc.Invite(ctx, admin, authn.InviteRequest{Email: "ann@example.com", Name: "Ann", Role: r.ID})
		}
	}
	mail, _ := outbox.Last("ann@example.com")
	pw := authn.NewPassword("a long and unusual passphrase")
	_, _ = svc.AcceptInvitation(ctx, regexp.MustCompile(`csinv_[\w-]+`).FindString(mail.Text), pw, authn.Meta{})

	// Signed in (just now, so recently enough to enrol), Ann presses "Connect".
	res, _ := svc.SignIn(ctx, tenant.ID, "ann@example.com", pw, authn.Meta{})
	ann := access.Subject{Tenant: tenant.ID, User: res.Session.User, Session: res.Session.ID}
	setup, err := svc.StartTwoFactor(ctx, ann)
	fmt.Println("started:", err)
	// Show setup.Key.PNG(0) (the QR code) and setup.Key.Secret().Base32(); here the
	// app's code is computed from the secret.
	done, err := svc.ConfirmTwoFactor(ctx, ann, totp.Code(setup.Key.Secret(), now, totp.Config{}))
	fmt.Println("on:", err, len(done.RecoveryCodes), "recovery codes")

	// The next sign-in owes a code; the app's next one completes it, once.
	now = now.Add(30 * time.Second)
	code := totp.Code(setup.Key.Secret(), now, totp.Config{})
	res, _ = svc.SignIn(ctx, tenant.ID, "ann@example.com", pw, authn.Meta{})
	res, err = svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, code, authn.Meta{})
	fmt.Println("signed in:", err, res.Session.Factors)
	res, _ = svc.SignIn(ctx, tenant.ID, "ann@example.com", pw, authn.Meta{})
	_, err = svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, code, authn.Meta{})
	fmt.Println("same code again:", errors.Is(err, authn.ErrInvalidCredentials))
	// Output:
	// started: <nil>
	// on: <nil> 10 recovery codes
	// signed in: <nil> [password totp]
	// same code again: true
}
