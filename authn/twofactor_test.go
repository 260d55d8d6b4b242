package authn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/authn/totp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tfEnv is env with a Service that has a TwoFactorSealer.
type tfEnv struct {
	*env
	svc    *authn.Service
	sealer *totp.Sealer
}

var tfMeta = authn.Meta{IP: netip.MustParseAddr("198.51.100.7"), UserAgent: "Mozilla/5.0 test"}

func newTFEnv(t *testing.T) *tfEnv {
	t.Helper()
	e := newEnv(t)
	sl, err := totp.NewSealer(map[uint32][]byte{1: bytes.Repeat([]byte{7}, totp.SealKeyBytes)}, 1)
	require.NoError(t, err)
	svc, err := authn.NewService(e.store, e.engine, authn.Options{
		Mailer:          e.outbox,
		LinkURL:         func(p authn.Purpose, tok authn.LinkToken) string { return "https://app.example/#" + tok.Reveal() },
		Hasher:          fastHasher(),
		Audit:           audit.NewRecorder(e.store, audit.Options{Clock: e.clock.Now}),
		Clock:           e.clock.Now,
		TwoFactorSealer: sl,
	})
	require.NoError(t, err)
	return &tfEnv{env: e, svc: svc, sealer: sl}
}

// oathtoolCode returns oathtool's TOTP code of a base32 secret at `at`: the code a
// user's app shows. The secret goes on standard input, never on the command line. The
// test fails without oathtool when CALLSHIELD_REQUIRE_OATHTOOL is set (CI), and
// skips otherwise.
func oathtoolCode(t *testing.T, b32 string, at time.Time) string {
	t.Helper()
	bin, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CALLSHIELD_REQUIRE_OATHTOOL") != "" {
			t.Fatalf("oathtool not found and CALLSHIELD_REQUIRE_OATHTOOL is set: %v", err)
		}
		t.Skip("oathtool not installed (apt-get install oathtool)")
	}
	cmd := exec.Command(bin, "--totp", "-b", "--now", at.UTC().Format("2006-01-02 15:04:05 UTC"), "-")
	cmd.Stdin = strings.NewReader(b32)
	out, err := cmd.Output()
	require.NoError(t, err)
	code := strings.TrimSpace(string(out))
	require.Len(t, code, 6)
	return code
}

// signIn signs u in with the password; it returns the result (a session, or a pending
// sign-in when u has two-factor).
func (e *tfEnv) signIn(t *testing.T, u authn.User) authn.SignInResult {
	t.Helper()
	res, err := e.svc.SignIn(context.Background(), u.Tenant, u.Email, authn.NewPassword(goodPassword), tfMeta)
	require.NoError(t, err)
	return res
}

// session signs u (without two-factor) in and returns their session's subject.
func (e *tfEnv) session(t *testing.T, u authn.User) (access.Subject, authn.SessionToken) {
	t.Helper()
	res := e.signIn(t, u)
	require.NotNil(t, res.Session, "signed in without a second factor")
	return access.Subject{Tenant: u.Tenant, User: u.ID, Session: res.Session.ID, IP: tfMeta.IP, UserAgent: tfMeta.UserAgent}, res.Token
}

// enrol turns two-factor on for u through the API with a code from oathtool; it returns
// the secret's base32 (as the user's app holds it), the recovery codes and the session.
func (e *tfEnv) enrol(t *testing.T, u authn.User) (string, []totp.RecoveryCode, access.Subject) {
	t.Helper()
	ctx := context.Background()
	actor, _ := e.session(t, u)
	setup, err := e.svc.StartTwoFactor(ctx, actor)
	require.NoError(t, err)
	b32 := setup.Key.Secret().Base32()
	done, err := e.svc.ConfirmTwoFactor(ctx, actor, oathtoolCode(t, b32, e.clock.Now()))
	require.NoError(t, err)
	return b32, done.RecoveryCodes, actor
}

// complete signs u in with the password and then the second factor f.
func (e *tfEnv) complete(t *testing.T, u authn.User, f authn.Factor, code string) (authn.SignInResult, error) {
	t.Helper()
	res := e.signIn(t, u)
	require.NotNil(t, res.Pending, "a second factor is owed")
	return e.svc.CompleteSignIn(context.Background(), res.PendingToken.Reveal(), f, code, tfMeta)
}

// The whole flow through the package API, with the codes an authenticator app shows
// (oathtool): enrolment, sign-in with a code, replay protection, recovery codes.
func TestTwoFactorEndToEnd(t *testing.T) {
	e := newTFEnv(t)
	ctx := context.Background()
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	actor, oldToken := e.session(t, u)

	// Connect: the QR code's URI names the tenant and the user; nothing is on yet.
	setup, err := e.svc.StartTwoFactor(ctx, actor)
	require.NoError(t, err)
	uri, err := url.Parse(setup.Key.URI())
	require.NoError(t, err)
	assert.Equal(t, "/Acme Call Center:ann@example.com", uri.Path)
	assert.Equal(t, "Acme Call Center", uri.Query().Get("issuer"))
	png, err := setup.Key.PNG(0)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(png, []byte("\x89PNG")))
	b32 := setup.Key.Secret().Base32()
	assert.Len(t, setup.Key.Secret().Bytes(), 20, "160 bits")
	res := e.signIn(t, u)
	assert.NotNil(t, res.Session, "not active before confirmation")

	// A wrong code does not confirm; the app's code does.
	_, err = e.svc.ConfirmTwoFactor(ctx, actor, "000000")
	if oathtoolCode(t, b32, e.clock.Now()) != "000000" {
		assert.ErrorIs(t, err, authn.ErrInvalidCode)
	}
	setupCode := oathtoolCode(t, b32, e.clock.Now())
	done, err := e.svc.ConfirmTwoFactor(ctx, actor, setupCode)
	require.NoError(t, err)
	require.Len(t, done.RecoveryCodes, 10)
	// The session secret was rotated: the old one no longer works, the new one does.
	_, err = e.svc.ValidateSession(ctx, oldToken.Reveal(), authn.Request{Meta: tfMeta}, 0)
	assert.ErrorIs(t, err, authn.ErrSessionInvalid)
	_, err = e.svc.ValidateSession(ctx, done.Session.Reveal(), authn.Request{Meta: tfMeta}, 0)
	assert.NoError(t, err)

	// The setup code cannot be replayed as the first sign-in code.
	_, err = e.complete(t, u, authn.FactorTOTP, setupCode)
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials)

	// The next step's code signs in, once.
	e.clock.Advance(30 * time.Second)
	code := oathtoolCode(t, b32, e.clock.Now())
	res, err = e.complete(t, u, authn.FactorTOTP, code)
	require.NoError(t, err)
	require.NotNil(t, res.Session)
	assert.Equal(t, []authn.Factor{authn.FactorPassword, authn.FactorTOTP}, res.Session.Factors)
	_, err = e.complete(t, u, authn.FactorTOTP, code)
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "replay of the same code")

	// An older step after a newer one: the app's next code (accepted with one step of
	// skew) and then the current one.
	e.clock.Advance(30 * time.Second)
	_, err = e.complete(t, u, authn.FactorTOTP, oathtoolCode(t, b32, e.clock.Now().Add(30*time.Second)))
	require.NoError(t, err)
	_, err = e.complete(t, u, authn.FactorTOTP, oathtoolCode(t, b32, e.clock.Now()))
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "an older step after a newer one")

	// Recovery codes: each works once, typed loosely, and the number left is shown.
	e.clock.Advance(time.Minute)
	res, err = e.complete(t, u, authn.FactorRecoveryCode, strings.ToLower(done.RecoveryCodes[3].Reveal()))
	require.NoError(t, err)
	assert.Equal(t, []authn.Factor{authn.FactorPassword, authn.FactorRecoveryCode}, res.Session.Factors)
	_, err = e.complete(t, u, authn.FactorRecoveryCode, done.RecoveryCodes[3].Reveal())
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "a used recovery code")
	st, err := e.svc.TwoFactorStatusOf(ctx, e.subject(u), u.ID)
	require.NoError(t, err)
	assert.True(t, st.Enabled)
	assert.Equal(t, 9, st.RecoveryCodesLeft)

	// The change log and the login log hold no secret.
	all, err := e.store.Events(ctx, e.tenant.ID, audit.Query{Limit: audit.MaxLimit})
	require.NoError(t, err)
	actions := map[string]int{}
	for _, ev := range all {
		actions[ev.Action]++
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		for _, secret := range []string{b32, strings.ToLower(b32), setup.Key.URI(), done.RecoveryCodes[3].Reveal(), done.RecoveryCodes[0].Reveal(), setupCode, code} {
			assert.NotContains(t, string(b), secret, "event %s", ev.Action)
		}
	}
	assert.Equal(t, 1, actions["two_factor.start"])
	assert.Equal(t, 1, actions["two_factor.enable"])
	assert.Equal(t, 1, actions["two_factor.recovery_used"])
}

// Input that is not one of the user's recovery codes fails, whatever it is (review
// #14, authboss#351).
func TestTwoFactorRecoveryCodeInputs(t *testing.T) {
	e := newTFEnv(t)
	ann := e.onboard(t, "ann@example.com", access.KindAgent)
	bob := e.onboard(t, "bob@example.com", access.KindAgent)
	_, annCodes, _ := e.enrol(t, ann)
	_, bobCodes, _ := e.enrol(t, bob)
	for name, in := range map[string]string{
		"empty": "", "whitespace": "   \t ", "dashes": "-----", "another user's": bobCodes[0].Reveal(),
		"very long": strings.Repeat("7", 100000), "odd": "'; DROP TABLE cs_recovery_codes; --",
		"a code with more": annCodes[0].Reveal() + "X", "NUL": "\x00",
	} {
		_, err := e.complete(t, ann, authn.FactorRecoveryCode, in)
		assert.ErrorIs(t, err, authn.ErrInvalidCredentials, name)
	}
	// The failures count in the second-factor throttle (whose escalating delay then
	// refuses even a right code from this address for a while).
	l, err := e.svc.LockStatus(context.Background(), e.admin, ann.ID)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, l.SecondFactorFailures, 2, "failed codes are counted")
	e.clock.Advance(time.Hour)
	_, err = e.complete(t, ann, authn.FactorRecoveryCode, annCodes[0].Reveal())
	assert.NoError(t, err)
}

// A sealed secret copied into another user's row fails to open: the sign-in is
// refused (fail closed), though the code is right for the copied secret.
func TestTwoFactorSealedSecretMovedToAnotherUser(t *testing.T) {
	e := newTFEnv(t)
	ctx := context.Background()
	ann := e.onboard(t, "ann@example.com", access.KindAgent)
	bob := e.onboard(t, "bob@example.com", access.KindAgent)
	annB32, _, _ := e.enrol(t, ann)
	_, _, _ = e.enrol(t, bob)
	annRow, err := e.store.TwoFactor(ctx, e.tenant.ID, ann.ID)
	require.NoError(t, err)

	// Someone who can write to the database puts Ann's sealed secret into Bob's row.
	admin := access.System(e.tenant.ID)
	require.NoError(t, e.store.DisableTwoFactor(ctx, e.tenant.ID, bob.ID, sysEvent(t, admin, "tamper")))
	pending := authn.TwoFactorEnrolment{Tenant: e.tenant.ID, User: bob.ID, Sealed: bytes.Repeat([]byte{1}, 53),
		CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour)}
	require.NoError(t, e.store.SetTwoFactorEnrolment(ctx, pending, sysEvent(t, admin, "tamper")))
	require.NoError(t, e.store.EnableTwoFactor(ctx, authn.TwoFactor{Tenant: e.tenant.ID, User: bob.ID, Sealed: annRow.Sealed,
		EnabledAt: e.clock.Now()}, pending.Sealed, nil, sysEvent(t, admin, "tamper")))

	e.clock.Advance(30 * time.Second)
	_, err = e.complete(t, bob, authn.FactorTOTP, oathtoolCode(t, annB32, e.clock.Now()))
	require.Error(t, err)
	assert.ErrorIs(t, err, totp.ErrSealedAuth)
	assert.NotErrorIs(t, err, authn.ErrInvalidCredentials, "not counted as the user's wrong code")
	// Ann's own row still works.
	_, err = e.complete(t, ann, authn.FactorTOTP, oathtoolCode(t, annB32, e.clock.Now()))
	assert.NoError(t, err)
}

func sysEvent(t *testing.T, actor access.Subject, action string) audit.Event {
	t.Helper()
	ev := audit.Event{Tenant: actor.Tenant, Kind: audit.KindChange, Action: action, Actor: audit.Actor{Role: "system"},
		Target: audit.Target{Type: "user", ID: uuid.NewString()}, Outcome: audit.Success}
	require.NoError(t, audit.Prepare(&ev, time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)))
	return ev
}

// Enrolment needs a recent proof of a factor, expires, and a new start replaces the
// old one.
func TestTwoFactorEnrolmentRules(t *testing.T) {
	e := newTFEnv(t)
	ctx := context.Background()
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	actor, _ := e.session(t, u)

	e.clock.Advance(authn.DefaultReauthWindow + time.Second)
	_, err := e.svc.StartTwoFactor(ctx, actor)
	assert.ErrorIs(t, err, authn.ErrReauthRequired)
	require.NoError(t, e.svc.Reauthenticate(ctx, actor, authn.NewPassword(goodPassword), tfMeta))
	first, err := e.svc.StartTwoFactor(ctx, actor)
	require.NoError(t, err)
	second, err := e.svc.StartTwoFactor(ctx, actor)
	require.NoError(t, err)
	require.False(t, first.Key.Secret().Equal(second.Key.Secret()))
	_, err = e.svc.ConfirmTwoFactor(ctx, actor, oathtoolCode(t, first.Key.Secret().Base32(), e.clock.Now()))
	assert.ErrorIs(t, err, authn.ErrInvalidCode, "the replaced enrolment's secret")

	e.clock.Advance(authn.TwoFactorEnrolmentTTL)
	_, err = e.svc.ConfirmTwoFactor(ctx, actor, oathtoolCode(t, second.Key.Secret().Base32(), e.clock.Now()))
	assert.ErrorIs(t, err, authn.ErrEnrolmentInvalid, "expired")

	// API tokens and subjects without a session cannot enrol.
	for _, s := range []access.Subject{{Tenant: u.Tenant, User: u.ID}, {Tenant: u.Tenant, User: u.ID, Token: uuid.New()}, access.System(u.Tenant)} {
		_, err = e.svc.StartTwoFactor(ctx, s)
		assert.ErrorIs(t, err, authn.ErrForbidden)
	}

	// Without a sealer two-factor is unavailable.
	noSealer, err := authn.NewService(e.store, e.engine, authn.Options{Mailer: e.outbox,
		LinkURL: func(authn.Purpose, authn.LinkToken) string { return "x" }, Hasher: fastHasher(), Clock: e.clock.Now})
	require.NoError(t, err)
	_, err = noSealer.StartTwoFactor(ctx, actor)
	assert.ErrorIs(t, err, authn.ErrTwoFactorNotConfigured)

	// With two-factor on, enrolling again is refused until it is turned off.
	e.enrol(t, e.onboard(t, "bob@example.com", access.KindAgent))
}

// Turning two-factor off: one's own with edit-profile and a recent re-authentication;
// another user's with user management, never above the actor.
func TestDisableTwoFactor(t *testing.T) {
	e := newTFEnv(t)
	ctx := context.Background()
	agent := e.onboard(t, "agent@example.com", access.KindAgent)
	_, _, actor := e.enrol(t, agent)

	e.clock.Advance(authn.DefaultReauthWindow + time.Second)
	assert.ErrorIs(t, e.svc.DisableTwoFactor(ctx, actor, agent.ID), authn.ErrReauthRequired)
	require.NoError(t, e.svc.Reauthenticate(ctx, actor, authn.NewPassword(goodPassword), tfMeta))
	require.NoError(t, e.svc.DisableTwoFactor(ctx, actor, agent.ID))
	assert.NotNil(t, e.signIn(t, agent).Session, "no second factor any more")
	assert.ErrorIs(t, e.svc.DisableTwoFactor(ctx, e.admin, agent.ID), authn.ErrTwoFactorNotEnabled)

	// An administrator turns another user's off; an agent cannot.
	other := e.onboard(t, "other@example.com", access.KindAgent)
	e.enrol(t, other)
	assert.ErrorIs(t, e.svc.DisableTwoFactor(ctx, e.subject(agent), other.ID), authn.ErrForbidden)
	users, err := e.svc.Users(ctx, e.admin)
	require.NoError(t, err)
	has := map[string]bool{}
	for _, u := range users {
		has[u.Email] = u.TwoFactor
	}
	assert.True(t, has["other@example.com"], "the user list shows who has 2FA")
	assert.False(t, has["agent@example.com"])
	require.NoError(t, e.svc.DisableTwoFactor(ctx, e.admin, other.ID))

	// A user manager below an Admin cannot turn the Admin's off (manage-above).
	mgrRole, err := e.acc.CreateRole(ctx, e.admin, access.RoleSpec{Name: "User manager", Rights: []access.Right{access.UserManagement, access.EditProfile}})
	require.NoError(t, err)
	mgrID := uuid.New()
	_, err = e.acc.SetMember(ctx, e.admin, mgrID, mgrRole.ID)
	require.NoError(t, err)
	mgr := access.Subject{Tenant: e.tenant.ID, User: mgrID}
	adminUser := e.onboard(t, "boss@example.com", access.KindAdmin)
	e.enrol(t, adminUser)
	assert.ErrorIs(t, e.svc.DisableTwoFactor(ctx, mgr, adminUser.ID), authn.ErrForbidden)
	e.enrol(t, other)
	require.NoError(t, e.svc.DisableTwoFactor(ctx, mgr, other.ID), "an agent is below the manager")
}

// Regenerating recovery codes needs a recent re-authentication and voids the old set.
func TestRegenerateRecoveryCodes(t *testing.T) {
	e := newTFEnv(t)
	ctx := context.Background()
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	_, old, actor := e.enrol(t, u)
	fresh, err := e.svc.RegenerateRecoveryCodes(ctx, actor)
	require.NoError(t, err)
	require.Len(t, fresh, 10)
	_, err = e.complete(t, u, authn.FactorRecoveryCode, old[0].Reveal())
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "the old set is void")
	_, err = e.complete(t, u, authn.FactorRecoveryCode, fresh[0].Reveal())
	assert.NoError(t, err)
	e.clock.Advance(authn.DefaultReauthWindow + time.Second)
	_, err = e.svc.RegenerateRecoveryCodes(ctx, actor)
	assert.ErrorIs(t, err, authn.ErrReauthRequired)
}

// A tenant that requires two-factor: the setting is accepted with a sealer, a user
// without a second factor gets a restricted session that can enrol, and the session
// enrolment rotates is no longer restricted; the next sign-in owes the code. Disabling
// the factor makes the user enrol again at the next sign-in.
func TestRequiredTwoFactorEnrolsFromARestrictedSession(t *testing.T) {
	e := newTFEnv(t)
	ctx := context.Background()
	st, err := e.svc.Settings(ctx, e.tenant.ID)
	require.NoError(t, err)
	st.RequireTwoFactor = true
	_, err = e.svc.UpdateSettings(ctx, e.admin, st)
	require.NoError(t, err)
	got, err := e.svc.Settings(ctx, e.tenant.ID)
	require.NoError(t, err)
	assert.Equal(t, authn.MinPasswordLength, got.EffectivePasswordMinLength(), "an enforced second factor: 8 characters")

	u := e.onboard(t, "ann@example.com", access.KindAgent)
	res := e.signIn(t, u)
	require.NotNil(t, res.Session)
	assert.True(t, res.Session.Restricted, "no second factor yet: enrolment only")
	actor := access.Subject{Tenant: u.Tenant, User: u.ID, Session: res.Session.ID, IP: tfMeta.IP}
	setup, err := e.svc.StartTwoFactor(ctx, actor)
	require.NoError(t, err)
	done, err := e.svc.ConfirmTwoFactor(ctx, actor, oathtoolCode(t, setup.Key.Secret().Base32(), e.clock.Now()))
	require.NoError(t, err)
	v, err := e.svc.ValidateSession(ctx, done.Session.Reveal(), authn.Request{Meta: tfMeta}, 0)
	require.NoError(t, err)
	assert.False(t, v.Session.Restricted, "the rotated session may do everything")
	assert.NotNil(t, e.signIn(t, u).Pending, "the next sign-in owes the code")

	require.NoError(t, e.svc.DisableTwoFactor(ctx, e.admin, u.ID))
	res = e.signIn(t, u)
	require.NotNil(t, res.Session)
	assert.True(t, res.Session.Restricted, "must enrol again")
}

// A tenant that requires two-factor of one role only (Settings.RequireTwoFactorRoles):
// the list is validated (a role of another tenant or none is refused; duplicates are
// dropped) and audited; a Supervisor without a factor gets a restricted session while
// an Agent signs in as before; an Agent given the role through a project override is
// held to it too; a user held to it cannot turn their factor off themselves, while an
// administrator's reset (a lost device) still works and the next sign-in owes
// enrolment.
func TestRequiredTwoFactorPerRole(t *testing.T) {
	e := newTFEnv(t)
	ctx := context.Background()
	sup := e.roles[access.KindSupervisor]
	st, err := e.svc.Settings(ctx, e.tenant.ID)
	require.NoError(t, err)
	st.RequireTwoFactorRoles = []uuid.UUID{uuid.New()}
	_, err = e.svc.UpdateSettings(ctx, e.admin, st)
	assert.ErrorIs(t, err, authn.ErrInvalidSettings, "not a role of the tenant")
	st.RequireTwoFactorRoles = []uuid.UUID{sup, sup}
	saved, err := e.svc.UpdateSettings(ctx, e.admin, st)
	require.NoError(t, err)
	assert.Equal(t, []uuid.UUID{sup}, saved.RequireTwoFactorRoles, "duplicates dropped")
	got, err := e.svc.Settings(ctx, e.tenant.ID)
	require.NoError(t, err)
	assert.Equal(t, []uuid.UUID{sup}, got.RequireTwoFactorRoles, "stored")
	assert.False(t, got.RequireTwoFactor)
	assert.Equal(t, 15, got.EffectivePasswordMinLength(), "the tenant's floor stays: one rule for every user")
	changes := e.events(t, audit.KindChange)
	last := changes[len(changes)-1]
	require.Len(t, last.Changes, 1)
	assert.Equal(t, audit.Change{Field: "require_two_factor_roles", Old: "", New: sup.String()}, last.Changes[0])

	agent := e.onboard(t, "agent@example.com", access.KindAgent)
	res := e.signIn(t, agent)
	require.NotNil(t, res.Session)
	assert.False(t, res.Session.Restricted, "the Agent role does not require it")

	boss := e.onboard(t, "boss@example.com", access.KindSupervisor)
	res = e.signIn(t, boss)
	require.NotNil(t, res.Session)
	assert.True(t, res.Session.Restricted, "a Supervisor without a factor may only enrol")

	// A project override with the Supervisor role holds the Agent to it as well.
	proj, err := e.acc.CreateProject(ctx, e.admin, "Second-factor desk")
	require.NoError(t, err)
	_, err = e.acc.AddProjectMember(ctx, e.admin, proj.ID, agent.ID, sup)
	require.NoError(t, err)
	res = e.signIn(t, agent)
	require.NotNil(t, res.Session)
	assert.True(t, res.Session.Restricted, "held to it through a project override role")

	// Enrolled, the Supervisor cannot turn the factor off; an administrator can reset it.
	other := e.onboard(t, "lead@example.com", access.KindSupervisor)
	st2, err := e.svc.Settings(ctx, e.tenant.ID)
	require.NoError(t, err)
	st2.RequireTwoFactorRoles = nil
	_, err = e.svc.UpdateSettings(ctx, e.admin, st2)
	require.NoError(t, err)
	_, _, actor := e.enrol(t, other)
	st3, err := e.svc.Settings(ctx, e.tenant.ID)
	require.NoError(t, err)
	st3.RequireTwoFactorRoles = []uuid.UUID{sup}
	_, err = e.svc.UpdateSettings(ctx, e.admin, st3)
	require.NoError(t, err)
	assert.ErrorIs(t, e.svc.DisableTwoFactor(ctx, actor, other.ID), authn.ErrTwoFactorRequired)
	status, err := e.svc.TwoFactorStatusOf(ctx, e.admin, other.ID)
	require.NoError(t, err)
	assert.True(t, status.Enabled, "still on")
	require.NoError(t, e.svc.DisableTwoFactor(ctx, e.admin, other.ID), "an administrator's reset")
	res = e.signIn(t, other)
	require.NotNil(t, res.Session)
	assert.True(t, res.Session.Restricted, "the next sign-in owes enrolment")
}

// A role listed in RequireTwoFactorRoles and deleted afterwards (nobody held it) does
// not stay in the settings: they read back without it and save again.
func TestRequiredTwoFactorRoleDeleted(t *testing.T) {
	e := newTFEnv(t)
	ctx := context.Background()
	desk, err := e.acc.CreateRole(ctx, e.admin, access.RoleSpec{Name: "Night desk", Rights: []access.Right{access.EditProfile}})
	require.NoError(t, err)
	st, err := e.svc.Settings(ctx, e.tenant.ID)
	require.NoError(t, err)
	st.RequireTwoFactorRoles = []uuid.UUID{desk.ID, e.roles[access.KindSupervisor]}
	_, err = e.svc.UpdateSettings(ctx, e.admin, st)
	require.NoError(t, err)
	require.NoError(t, e.acc.DeleteRole(ctx, e.admin, desk.ID))
	st, err = e.svc.Settings(ctx, e.tenant.ID)
	require.NoError(t, err)
	assert.Equal(t, []uuid.UUID{e.roles[access.KindSupervisor]}, st.RequireTwoFactorRoles, "the deleted role is gone")
	st.PasswordMinLength = 16
	_, err = e.svc.UpdateSettings(ctx, e.admin, st)
	assert.NoError(t, err, "the settings read back save again")
}
