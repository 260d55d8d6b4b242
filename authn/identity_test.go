package authn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/authn/oidc"
	"github.com/callshield/callshield/internal/oidctest"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// idEnv is an env whose service offers two real providers: an OpenID Connect issuer
// ("corp", also standing for Google) and a Facebook-style OAuth 2.0 provider.
type idEnv struct {
	*env
	op     *oidctest.Provider
	fb     *oidctest.Facebook
	sealer *authn.AESTokenSealer
}

const callbackURL = "https://app.example/auth/callback"

func newIdentityEnv(t *testing.T) *idEnv {
	t.Helper()
	ctx := context.Background()
	e := &idEnv{env: newEnv(t), fb: oidctest.NewFacebook()}
	var err error
	e.op, err = oidctest.New()
	require.NoError(t, err)
	t.Cleanup(e.op.Close)
	t.Cleanup(e.fb.Close)
	e.op.SetClock(e.clock.Now)
	corp, err := oidc.New(ctx, oidc.Config{Name: "corp", Issuer: e.op.Issuer(), ClientID: e.op.ClientID,
		ClientSecret: e.op.ClientSecret, RedirectURL: callbackURL, Clock: e.clock.Now})
	require.NoError(t, err)
	fb, err := oidc.NewFacebook(oidc.FacebookConfig{ClientID: e.fb.ClientID, ClientSecret: e.fb.ClientSecret,
		RedirectURL: callbackURL, AuthURL: e.fb.AuthURL(), TokenURL: e.fb.TokenURL(), GraphURL: e.fb.GraphURL()})
	require.NoError(t, err)
	e.sealer, err = authn.NewTokenSealer(map[uint32][]byte{1: []byte("0123456789abcdef0123456789abcdef")}, 1)
	require.NoError(t, err)
	e.svc, err = authn.NewService(e.store, e.engine, authn.Options{
		Mailer: e.outbox,
		LinkURL: func(p authn.Purpose, tok authn.LinkToken) string {
			return "https://app.example/" + string(p) + "#" + tok.Reveal()
		},
		Hasher: fastHasher(), Audit: audit.NewRecorder(e.store, audit.Options{Clock: e.clock.Now}),
		Sessions: e.sess, Clock: e.clock.Now,
		Identity: authn.IdentityOptions{Providers: []authn.IdentityProvider{corp, fb}, TokenSealer: e.sealer},
	})
	require.NoError(t, err)
	return e
}

// session returns u signed in with a session.
func (e *idEnv) session(u authn.User) access.Subject {
	s := e.subject(u)
	s.Session = uuid.New()
	return s
}

// login plays the browser at the provider the flow's URL points to.
func (e *idEnv) login(t *testing.T, start authn.IdentityFlowStart) authn.Callback {
	t.Helper()
	var code, state string
	var err error
	if strings.HasPrefix(start.URL, e.fb.Server.URL) {
		code, state, err = e.fb.Login(start.URL)
	} else {
		code, state, err = e.op.Login(start.URL)
	}
	require.NoError(t, err)
	return authn.Callback{Flow: start.Token.Reveal(), State: state, Code: code}
}

// link runs a whole link flow for actor with the provider's current user.
func (e *idEnv) link(t *testing.T, actor access.Subject, provider string) (authn.Identity, error) {
	t.Helper()
	start, err := e.svc.StartLink(context.Background(), actor, provider)
	require.NoError(t, err)
	return e.svc.CompleteLink(context.Background(), actor, e.login(t, start))
}

// linkAnn onboards ann@example.com as an agent and links her corp identity (the
// provider's user is ann), unconfirmed.
func (e *idEnv) linkAnn(t *testing.T) authn.User {
	t.Helper()
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	e.op.SetUser(ann)
	_, err := e.link(t, e.session(u), "corp")
	require.NoError(t, err)
	return u
}

var confirmRE = regexp.MustCompile(`csidc_[A-Za-z0-9_-]+`)

// confirm opens the newest confirmation link mailed to email.
func (e *idEnv) confirm(t *testing.T, email string) authn.Identity {
	t.Helper()
	m, ok := e.outbox.Last(email)
	require.True(t, ok)
	tok := confirmRE.FindString(m.Text)
	require.NotEmpty(t, tok, "no confirmation link in %q", m.Subject)
	id, err := e.svc.ConfirmIdentity(context.Background(), tok, authn.Meta{})
	require.NoError(t, err)
	return id
}

// signIn runs a whole sign-in flow with the provider's current user.
func (e *idEnv) signIn(t *testing.T, provider string, meta authn.Meta) (authn.SignInResult, error) {
	t.Helper()
	start, err := e.svc.StartIdentitySignIn(context.Background(), e.tenant.ID, provider, meta)
	require.NoError(t, err)
	return e.svc.SignInWithIdentity(context.Background(), e.login(t, start), meta)
}

// lastLogin returns the newest login event.
func (e *idEnv) lastLogin(t *testing.T) audit.Event {
	t.Helper()
	evs := e.events(t, audit.KindLogin)
	require.NotEmpty(t, evs)
	newest := evs[0]
	for _, ev := range evs {
		if ev.Seq > newest.Seq {
			newest = ev
		}
	}
	return newest
}

var ann = oidctest.User{Subject: "248289761001", Email: "ann.private@gmail.example", EmailVerified: true, Name: "Ann"}

func TestLinkConfirmAndSignIn(t *testing.T) {
	for _, provider := range []string{"corp", "facebook"} {
		t.Run(provider, func(t *testing.T) {
			ctx := context.Background()
			e := newIdentityEnv(t)
			u := e.onboard(t, "ann@example.com", access.KindAgent)
			e.op.SetUser(ann)
			e.fb.SetUser(ann)
			meta := authn.Meta{IP: netip.MustParseAddr("203.0.113.7"), UserAgent: "test"}

			id, err := e.link(t, e.session(u), provider)
			require.NoError(t, err)
			assert.Equal(t, authn.IdentityPending, id.Status)
			assert.Equal(t, u.ID, id.User)
			assert.Equal(t, ann.Subject, id.Subject)
			assert.Equal(t, ann.Email, id.Email, "the provider's address is kept for display")

			_, err = e.signIn(t, provider, meta)
			assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "an unconfirmed link does not sign in")
			assert.Equal(t, "identity_pending", e.lastLogin(t).Reason)

			m, ok := e.outbox.Last("ann@example.com")
			require.True(t, ok, "the confirmation goes to the user's address, not the provider's")
			assert.Contains(t, m.Text, "https://app.example/identity_confirm#csidc_")
			tok := confirmRE.FindString(m.Text)
			got, err := e.svc.ConfirmIdentity(ctx, tok, authn.Meta{})
			require.NoError(t, err)
			assert.Equal(t, authn.IdentityActive, got.Status)
			_, err = e.svc.ConfirmIdentity(ctx, tok, authn.Meta{})
			assert.ErrorIs(t, err, authn.ErrTicketInvalid, "the confirmation link is single use")

			signed, err := e.signIn(t, provider, meta)
			require.NoError(t, err)
			require.NotNil(t, signed.Session, "signed in through the password's flow: a session")
			assert.Equal(t, u.ID, signed.Session.User)
			assert.Equal(t, []authn.Factor{authn.FactorIdentity}, signed.Session.Factors)
			assert.NotEmpty(t, signed.Token.Reveal())
			ev := e.lastLogin(t)
			assert.Equal(t, audit.Success, ev.Outcome)
			assert.Equal(t, "login.identity", ev.Action)
			assert.Equal(t, "identity", ev.Details["factor"])
			assert.Equal(t, provider, ev.Details["provider"], "the success names the provider it came through")
			assert.Equal(t, id.Issuer, ev.Details["issuer"])
			assert.Equal(t, id.ID.String(), ev.Details["identity"])
			assert.Len(t, ev.Details, 4, "nothing else: no token or code")
			assert.Equal(t, u.ID, ev.Actor.User)
			assert.Equal(t, signed.Session.ID, ev.Actor.Session)

			var actions []string
			for _, ev := range e.events(t, audit.KindChange) {
				actions = append(actions, ev.Action)
			}
			assert.Contains(t, actions, "identity.link")
			assert.Contains(t, actions, "identity.confirm")

			ids, err := e.svc.Identities(ctx, e.session(u), u.ID)
			require.NoError(t, err)
			require.Len(t, ids, 1)
			assert.Equal(t, [32]byte{}, ids[0].ConfirmHash)
		})
	}
}

func TestIdentitySignInFollowsTheUsersStatusAndAllowlist(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	u := e.linkAnn(t)
	e.confirm(t, "ann@example.com")

	_, err := e.acc.SetAllowlist(ctx, e.admin, []string{"192.0.2.0/24"})
	require.NoError(t, err)
	_, err = e.signIn(t, "corp", authn.Meta{IP: netip.MustParseAddr("203.0.113.7")})
	assert.ErrorIs(t, err, authn.ErrIPNotAllowed)
	_, err = e.signIn(t, "corp", authn.Meta{IP: netip.MustParseAddr("192.0.2.7")})
	require.NoError(t, err)

	require.NoError(t, e.svc.Block(ctx, e.admin, u.ID))
	_, err = e.signIn(t, "corp", authn.Meta{IP: netip.MustParseAddr("192.0.2.7")})
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "a blocked user does not sign in with a link either")
	assert.Equal(t, "user_blocked", e.lastLogin(t).Reason)
}

func TestLinkingNeedsTheSessionThatStartedIt(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	bob := e.onboard(t, "bob@example.com", access.KindAgent)
	e.op.SetUser(ann)

	noSession := e.subject(u)
	_, err := e.svc.StartLink(ctx, noSession, "corp")
	assert.ErrorIs(t, err, authn.ErrSessionRequired)
	viaToken := e.session(u)
	viaToken.Token = uuid.New()
	_, err = e.svc.StartLink(ctx, viaToken, "corp")
	assert.ErrorIs(t, err, authn.ErrSessionRequired, "an API token cannot link identities")
	_, err = e.svc.StartLink(ctx, access.System(e.tenant.ID), "corp")
	assert.ErrorIs(t, err, authn.ErrSessionRequired)
	_, err = e.svc.StartLink(ctx, e.session(u), "nope")
	assert.ErrorIs(t, err, authn.ErrUnknownProvider)

	s1 := e.session(u)
	start, err := e.svc.StartLink(ctx, s1, "corp")
	require.NoError(t, err)
	cb := e.login(t, start)
	_, err = e.svc.CompleteLink(ctx, e.session(u), cb)
	assert.ErrorIs(t, err, authn.ErrFlowInvalid, "another session of the same user")

	start, err = e.svc.StartLink(ctx, s1, "corp")
	require.NoError(t, err)
	cb = e.login(t, start)
	_, err = e.svc.CompleteLink(ctx, e.session(bob), cb)
	assert.ErrorIs(t, err, authn.ErrFlowInvalid, "another user's session cannot take over a flow")

	start, err = e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", authn.Meta{})
	require.NoError(t, err)
	_, err = e.svc.CompleteLink(ctx, s1, e.login(t, start))
	assert.ErrorIs(t, err, authn.ErrFlowInvalid, "a sign-in flow cannot link")

	start, err = e.svc.StartLink(ctx, s1, "corp")
	require.NoError(t, err)
	_, err = e.svc.SignInWithIdentity(ctx, e.login(t, start), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrFlowInvalid, "a link flow cannot sign in")

	ids, err := e.svc.Identities(ctx, e.session(bob), bob.ID)
	require.NoError(t, err)
	assert.Empty(t, ids)
	ids, err = e.svc.Identities(ctx, s1, u.ID)
	require.NoError(t, err)
	assert.Empty(t, ids, "no failed flow stored a link")
}

// Every bad ID token is refused on both paths: linking stores nothing, signing in is
// the wrong-password answer.
func TestIDTokenVerification(t *testing.T) {
	cases := []struct {
		name    string
		signing oidctest.Signing
		tamper  func(c map[string]any)
	}{
		{"wrong audience", oidctest.SignRS256, func(c map[string]any) { c["aud"] = "another-client" }},
		{"several audiences, another authorized party", oidctest.SignRS256, func(c map[string]any) {
			c["aud"], c["azp"] = []string{c["aud"].(string), "another-client"}, "another-client"
		}},
		{"wrong issuer", oidctest.SignRS256, func(c map[string]any) { c["iss"] = "https://accounts.evil.example" }},
		{"expired", oidctest.SignRS256, func(c map[string]any) {
			iat := c["iat"].(int64)
			c["iat"], c["exp"] = iat-600, iat-60
		}},
		{"issued long ago", oidctest.SignRS256, func(c map[string]any) { c["iat"] = c["iat"].(int64) - 3600 }},
		{"issued in the future", oidctest.SignRS256, func(c map[string]any) {
			c["iat"], c["exp"] = c["iat"].(int64)+600, c["exp"].(int64)+600
		}},
		{"no issue time", oidctest.SignRS256, func(c map[string]any) { delete(c, "iat") }},
		{"nonce mismatch", oidctest.SignRS256, func(c map[string]any) { c["nonce"] = "another-nonce" }},
		{"no nonce", oidctest.SignRS256, func(c map[string]any) { delete(c, "nonce") }},
		{"bad signature", oidctest.SignOtherKey, nil},
		{"alg none", oidctest.SignNone, nil},
		{"HS256 signed with the public key", oidctest.SignHS256PublicKey, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			e := newIdentityEnv(t)
			u := e.onboard(t, "ann@example.com", access.KindAgent)
			e.op.SetUser(ann)
			// A confirmed link exists, so that only the token decides the sign-in.
			_, err := e.link(t, e.session(u), "corp")
			require.NoError(t, err)
			e.confirm(t, "ann@example.com")
			_, err = e.signIn(t, "corp", authn.Meta{})
			require.NoError(t, err, "the unchanged token signs in")

			e.op.SetSigning(c.signing)
			e.op.SetTamper(c.tamper)
			_, err = e.signIn(t, "corp", authn.Meta{})
			assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
			assert.Equal(t, "identity_invalid", e.lastLogin(t).Reason)

			bob := e.onboard(t, "bob@example.com", access.KindAgent)
			e.op.SetUser(oidctest.User{Subject: "bob-at-corp"})
			_, err = e.link(t, e.session(bob), "corp")
			assert.ErrorIs(t, err, authn.ErrIdentityInvalid)
			ids, err := e.svc.Identities(ctx, e.session(bob), bob.ID)
			require.NoError(t, err)
			assert.Empty(t, ids)
		})
	}
}

func TestFlowStateAndReplay(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	e.linkAnn(t)
	e.confirm(t, "ann@example.com")

	t.Run("state mismatch, then reuse", func(t *testing.T) {
		start, err := e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", authn.Meta{})
		require.NoError(t, err)
		cb := e.login(t, start)
		bad := cb
		bad.State = strings.ToUpper(cb.State)
		_, err = e.svc.SignInWithIdentity(ctx, bad, authn.Meta{})
		assert.ErrorIs(t, err, authn.ErrFlowInvalid)
		assert.Equal(t, "state_mismatch", e.lastLogin(t).Reason)
		_, err = e.svc.SignInWithIdentity(ctx, cb, authn.Meta{})
		assert.ErrorIs(t, err, authn.ErrFlowInvalid, "a flow is consumed by its first callback, even a failed one")
	})
	t.Run("state of another flow", func(t *testing.T) {
		a, err := e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", authn.Meta{})
		require.NoError(t, err)
		b, err := e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", authn.Meta{})
		require.NoError(t, err)
		cbA, cbB := e.login(t, a), e.login(t, b)
		cbA.State = cbB.State
		_, err = e.svc.SignInWithIdentity(ctx, cbA, authn.Meta{})
		assert.ErrorIs(t, err, authn.ErrFlowInvalid, "the state is bound to the browser's flow cookie")
	})
	t.Run("replayed callback", func(t *testing.T) {
		start, err := e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", authn.Meta{})
		require.NoError(t, err)
		cb := e.login(t, start)
		_, err = e.svc.SignInWithIdentity(ctx, cb, authn.Meta{})
		require.NoError(t, err)
		exchanges := e.op.Exchanges()
		_, err = e.svc.SignInWithIdentity(ctx, cb, authn.Meta{})
		assert.ErrorIs(t, err, authn.ErrFlowInvalid)
		assert.Equal(t, exchanges, e.op.Exchanges(), "a replay never reaches the provider")
	})
	t.Run("replayed authorization code", func(t *testing.T) {
		first, err := e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", authn.Meta{})
		require.NoError(t, err)
		used := e.login(t, first)
		_, err = e.svc.SignInWithIdentity(ctx, used, authn.Meta{})
		require.NoError(t, err)
		// The code goes with a fresh flow of the attacker's own browser.
		second, err := e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", authn.Meta{})
		require.NoError(t, err)
		cb := e.login(t, second)
		cb.Code = used.Code
		_, err = e.svc.SignInWithIdentity(ctx, cb, authn.Meta{})
		assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
		assert.Equal(t, "identity_invalid", e.lastLogin(t).Reason)
	})
	t.Run("code of another flow (PKCE)", func(t *testing.T) {
		a, err := e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", authn.Meta{})
		require.NoError(t, err)
		b, err := e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", authn.Meta{})
		require.NoError(t, err)
		cbA, cbB := e.login(t, a), e.login(t, b)
		cbB.Code = cbA.Code // an unredeemed code, but issued for a's challenge
		_, err = e.svc.SignInWithIdentity(ctx, cbB, authn.Meta{})
		assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
	})
	t.Run("expired flow", func(t *testing.T) {
		start, err := e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", authn.Meta{})
		require.NoError(t, err)
		cb := e.login(t, start)
		e.clock.Advance(authn.DefaultFlowTTL)
		_, err = e.svc.SignInWithIdentity(ctx, cb, authn.Meta{})
		assert.ErrorIs(t, err, authn.ErrFlowInvalid)
	})
	t.Run("malformed or foreign flow cookie", func(t *testing.T) {
		for _, flow := range []string{"", "csflw_", "csinv_AAAA", strings.Repeat("a", 500)} {
			_, err := e.svc.SignInWithIdentity(ctx, authn.Callback{Flow: flow, State: "x", Code: "y"}, authn.Meta{})
			assert.ErrorIs(t, err, authn.ErrFlowInvalid, "%q", flow)
		}
	})
}

// CVE-2023-3128 and auto-linking: a provider account that reports another user's
// verified address neither signs in as that user nor links to them.
func TestAnotherUsersEmailNeverSignsInOrLinks(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	victim := e.onboard(t, "victim@example.com", access.KindSupervisor)
	attacker := e.onboard(t, "attacker@example.com", access.KindAgent)
	evil := oidctest.User{Subject: "attacker-at-corp", Email: "victim@example.com", EmailVerified: true, Name: "Victim"}
	e.op.SetUser(evil)
	e.fb.SetUser(evil)

	for _, provider := range []string{"corp", "facebook"} {
		_, err := e.signIn(t, provider, authn.Meta{})
		assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "%s: no account is found by e-mail", provider)
		assert.Equal(t, "unknown_identity", e.lastLogin(t).Reason)
	}

	id, err := e.link(t, e.session(attacker), "corp")
	require.NoError(t, err)
	assert.Equal(t, attacker.ID, id.User, "the link goes to the signed-in user, whatever the claimed e-mail")
	_, ok := e.outbox.Last("attacker@example.com")
	assert.True(t, ok)
	e.confirm(t, "attacker@example.com")
	signed, err := e.signIn(t, "corp", authn.Meta{})
	require.NoError(t, err)
	require.NotNil(t, signed.Session)
	assert.Equal(t, attacker.ID, signed.Session.User)
	assert.NotEqual(t, victim.ID, signed.Session.User)

	ids, err := e.svc.Identities(ctx, e.admin, victim.ID)
	require.NoError(t, err)
	assert.Empty(t, ids, "nothing was linked to the victim")
}

func TestIdentityBelongsToOneUser(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	bob := e.onboard(t, "bob@example.com", access.KindAgent)
	e.op.SetUser(ann)

	_, err := e.link(t, e.session(u), "corp")
	require.NoError(t, err)
	_, err = e.link(t, e.session(u), "corp")
	require.NoError(t, err, "linking again while pending sends a new confirmation")
	e.confirm(t, "ann@example.com")
	_, err = e.link(t, e.session(u), "corp")
	assert.ErrorIs(t, err, authn.ErrIdentityLinked)
	_, err = e.link(t, e.session(bob), "corp")
	assert.ErrorIs(t, err, authn.ErrIdentityTaken)

	ids, err := e.svc.Identities(ctx, e.session(u), u.ID)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	assert.Equal(t, authn.IdentityActive, ids[0].Status)

	// A pending link whose confirmation expired does not hold the identity.
	carol := e.onboard(t, "carol@example.com", access.KindAgent)
	e.op.SetUser(oidctest.User{Subject: "carol-at-corp"})
	_, err = e.link(t, e.session(carol), "corp")
	require.NoError(t, err)
	_, err = e.link(t, e.session(bob), "corp")
	assert.ErrorIs(t, err, authn.ErrIdentityTaken, "pending for Carol")
	e.clock.Advance(authn.DefaultConfirmTTL)
	_, err = e.link(t, e.session(bob), "corp")
	require.NoError(t, err, "Carol's confirmation expired")
	m, _ := e.outbox.Last("carol@example.com")
	_, err = e.svc.ConfirmIdentity(ctx, confirmRE.FindString(m.Text), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrTicketInvalid)
}

func TestUnlinkKeepsAWayToSignIn(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	s := e.session(u)
	e.op.SetUser(ann)
	_, err := e.link(t, s, "corp")
	require.NoError(t, err)
	first := e.confirm(t, "ann@example.com")

	// The password is erased by a forced reset: the link is the only way left.
	require.NoError(t, e.svc.ForcePasswordReset(ctx, e.admin, u.ID))
	err = e.svc.Unlink(ctx, s, first.ID)
	assert.ErrorIs(t, err, authn.ErrLastSignInMethod)

	e.fb.SetUser(oidctest.User{Subject: "10158"})
	_, err = e.link(t, s, "facebook")
	require.NoError(t, err)
	pending, err := e.svc.Identities(ctx, s, u.ID)
	require.NoError(t, err)
	require.Len(t, pending, 2)
	assert.ErrorIs(t, e.svc.Unlink(ctx, s, first.ID), authn.ErrLastSignInMethod, "a pending link is no way to sign in")
	second := e.confirm(t, "ann@example.com")
	require.NoError(t, e.svc.Unlink(ctx, s, first.ID))
	assert.ErrorIs(t, e.svc.Unlink(ctx, s, second.ID), authn.ErrLastSignInMethod)
	_, err = e.signIn(t, "corp", authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "an unlinked identity no longer signs in")

	// With a password, the last link may go.
	bob := e.onboard(t, "bob@example.com", access.KindAgent)
	e.op.SetUser(oidctest.User{Subject: "bob-at-corp"})
	_, err = e.link(t, e.session(bob), "corp")
	require.NoError(t, err)
	bobs := e.confirm(t, "bob@example.com")
	require.NoError(t, e.svc.Unlink(ctx, e.session(bob), bobs.ID))

	// Nobody unlinks another user's identity through Unlink.
	assert.ErrorIs(t, e.svc.Unlink(ctx, e.session(bob), second.ID), storage.ErrNotFound)
}

func TestAdminRemovesLinks(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	manager := e.userManager(t)
	agent := e.onboard(t, "agent@example.com", access.KindAgent)
	boss := e.onboard(t, "boss@example.com", access.KindAdmin)
	e.op.SetUser(oidctest.User{Subject: "agent-at-corp"})
	_, err := e.link(t, e.session(agent), "corp")
	require.NoError(t, err)
	agentID := e.confirm(t, "agent@example.com")
	e.op.SetUser(oidctest.User{Subject: "boss-at-corp"})
	_, err = e.link(t, e.session(boss), "corp")
	require.NoError(t, err)
	bossID := e.confirm(t, "boss@example.com")

	assert.ErrorIs(t, e.svc.RemoveIdentity(ctx, e.session(agent), boss.ID, bossID.ID), authn.ErrForbidden, "needs user management")
	assert.ErrorIs(t, e.svc.RemoveIdentity(ctx, manager, boss.ID, bossID.ID), authn.ErrForbidden, "nobody manages a user above them")
	_, err = e.svc.Identities(ctx, e.session(agent), boss.ID)
	assert.ErrorIs(t, err, authn.ErrForbidden)

	// The administrator may remove even the last way: the user gets a reset link.
	require.NoError(t, e.svc.ForcePasswordReset(ctx, manager, agent.ID))
	require.NoError(t, e.svc.RemoveIdentity(ctx, manager, agent.ID, agentID.ID))
	ids, err := e.svc.Identities(ctx, manager, agent.ID)
	require.NoError(t, err)
	assert.Empty(t, ids)
	assert.ErrorIs(t, e.svc.RemoveIdentity(ctx, e.admin, boss.ID, agentID.ID), storage.ErrNotFound, "the identity must be the user's")
	require.NoError(t, e.svc.RemoveIdentity(ctx, e.admin, boss.ID, bossID.ID))

	var removed int
	for _, ev := range e.events(t, audit.KindChange) {
		if ev.Action == "identity.remove" {
			removed++
		}
	}
	assert.Equal(t, 2, removed)

	// A removed user's identities go with their personal data.
	e.op.SetUser(oidctest.User{Subject: "agent-again"})
	_, err = e.link(t, e.session(agent), "corp")
	require.NoError(t, err)
	e.confirm(t, "agent@example.com")
	require.NoError(t, e.svc.Remove(ctx, e.admin, agent.ID))
	_, err = e.store.IdentityBySubject(ctx, e.tenant.ID, e.op.Issuer(), "agent-again")
	assert.ErrorIs(t, err, storage.ErrNotFound)
}

// Unusable confirmation links count against the client's address as unusable
// invitation links do; a locked address gets "invalid" even for a valid link, which
// still works from elsewhere.
func TestThrottleIdentityConfirmLinks(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	e.linkAnn(t)
	m, ok := e.outbox.Last("ann@example.com")
	require.True(t, ok)
	good := confirmRE.FindString(m.Text)
	require.NotEmpty(t, good)
	bad := good[:len(good)-4] + "AAAA"
	if bad == good {
		bad = good[:len(good)-4] + "BBBB"
	}
	attacker := authn.Meta{IP: netip.MustParseAddr("203.0.113.99")}
	for range 10 * authn.DefaultLockThreshold {
		_, err := e.svc.ConfirmIdentity(ctx, bad, attacker)
		require.ErrorIs(t, err, authn.ErrTicketInvalid)
	}
	_, err := e.svc.ConfirmIdentity(ctx, good, attacker)
	assert.ErrorIs(t, err, authn.ErrTicketInvalid, "the address is locked for links")
	id, err := e.svc.ConfirmIdentity(ctx, good, authn.Meta{IP: netip.MustParseAddr("198.51.100.3")})
	require.NoError(t, err, "the link was not used up")
	assert.Equal(t, authn.IdentityActive, id.Status)
}

// The confirmation mail is what stops someone who has the user's session for a moment
// from linking an account of their own: it names the provider account's e-mail
// address only when the provider verified it, so that an attacker's account claiming
// the user's own address does not pass for the user's.
func TestIdentityConfirmationMailNamesOnlyAVerifiedAddress(t *testing.T) {
	e := newIdentityEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	e.op.SetUser(oidctest.User{Subject: "attacker-at-corp", Email: "ann@example.com", EmailVerified: false})
	_, err := e.link(t, e.session(u), "corp")
	require.NoError(t, err)
	m, ok := e.outbox.Last("ann@example.com")
	require.True(t, ok)
	assert.NotContains(t, m.Text, "account ann@example.com", "an unverified address is not shown as the account's")
	assert.Contains(t, m.Text, "not verified")

	v := e.onboard(t, "bob@example.com", access.KindAgent)
	e.op.SetUser(oidctest.User{Subject: "bob-at-corp", Email: "bob.private@gmail.example", EmailVerified: true})
	_, err = e.link(t, e.session(v), "corp")
	require.NoError(t, err)
	m, ok = e.outbox.Last("bob@example.com")
	require.True(t, ok)
	assert.Contains(t, m.Text, "corp account bob.private@gmail.example", "a verified address is shown")
}

// A callback carries the flow secret and the provider's authorization code: neither
// shows when it is printed, logged or marshalled.
func TestCallbackRedacts(t *testing.T) {
	cb := authn.Callback{Flow: "csflw_flow-secret-value", State: "state-value", Code: "auth-code-value"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("callback", "cb", cb)
	js, err := json.Marshal(cb)
	require.NoError(t, err)
	for _, out := range []string{fmt.Sprint(cb), fmt.Sprintf("%v %+v %#v %s %q", cb, cb, cb, cb, cb),
		logs.String(), string(js), fmt.Sprint([]authn.Callback{cb}), fmt.Sprintf("%+v", struct{ C authn.Callback }{cb})} {
		assert.NotContains(t, out, "flow-secret-value")
		assert.NotContains(t, out, "auth-code-value")
	}
}

// Provider tokens are kept only sealed, and no secret of the flows (flow cookie,
// confirmation link, provider tokens) reaches an audit event.
func TestIdentitySecretsStayOutOfEventsAndRows(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	s := e.session(u)
	e.op.SetUser(ann)
	e.op.SetRefreshTokens(true)

	start, err := e.svc.StartLink(ctx, s, "corp")
	require.NoError(t, err)
	cb := e.login(t, start)
	linked, err := e.svc.CompleteLink(ctx, s, cb)
	require.NoError(t, err)
	confirmed := e.confirm(t, "ann@example.com")
	tok, err := e.svc.IdentityToken(ctx, s, confirmed.ID)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(tok.Reveal(), "rt-"), "the refresh token is kept")
	assert.Equal(t, "[REDACTED]", tok.String())
	js, _ := json.Marshal(tok)
	assert.Equal(t, `"[REDACTED]"`, string(js))

	// A sign-in that brings a new refresh token replaces the kept one.
	_, err = e.signIn(t, "corp", authn.Meta{})
	require.NoError(t, err)
	renewed, err := e.svc.IdentityToken(ctx, s, confirmed.ID)
	require.NoError(t, err)
	assert.NotEqual(t, tok.Reveal(), renewed.Reveal())
	assert.True(t, strings.HasPrefix(renewed.Reveal(), "rt-"))
	var renewals int
	for _, ev := range e.events(t, audit.KindChange) {
		if ev.Action == "identity.token" {
			renewals++
		}
	}
	assert.Equal(t, 1, renewals)

	stored, err := e.store.Identity(ctx, e.tenant.ID, linked.ID)
	require.NoError(t, err)
	require.NotEmpty(t, stored.SealedToken)
	assert.NotContains(t, string(stored.SealedToken), renewed.Reveal(), "sealed at rest")
	assert.NotContains(t, string(stored.SealedToken), tok.Reveal(), "sealed at rest")
	_, err = e.sealer.Open(stored.SealedToken, []byte("another row"))
	assert.ErrorIs(t, err, authn.ErrSealedToken, "bound to its row")

	m, _ := e.outbox.Last("ann@example.com")
	secrets := []string{tok.Reveal(), renewed.Reveal(), cb.Flow, cb.Code, cb.State, confirmRE.FindString(m.Text)}
	var all []audit.Event
	for _, k := range []audit.Kind{audit.KindChange, audit.KindLogin} {
		all = append(all, e.events(t, k)...)
	}
	require.NotEmpty(t, all)
	for _, ev := range all {
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		for _, sec := range secrets {
			assert.NotContains(t, string(b), sec, "event %s", ev.Action)
		}
	}

	// Without a sealer, nothing is kept.
	other := newIdentityEnv(t)
	corp, err := oidc.New(ctx, oidc.Config{Name: "corp", Issuer: other.op.Issuer(), ClientID: other.op.ClientID,
		ClientSecret: other.op.ClientSecret, RedirectURL: callbackURL, Clock: other.clock.Now})
	require.NoError(t, err)
	other.svc, err = authn.NewService(other.store, other.engine, authn.Options{Mailer: other.outbox,
		LinkURL: func(p authn.Purpose, tok authn.LinkToken) string { return "https://app.example/#" + tok.Reveal() },
		Hasher:  fastHasher(), Clock: other.clock.Now,
		Identity: authn.IdentityOptions{Providers: []authn.IdentityProvider{corp}}})
	require.NoError(t, err)
	v := other.onboard(t, "ann@example.com", access.KindAgent)
	other.op.SetUser(ann)
	other.op.SetRefreshTokens(true)
	id, err := other.link(t, other.session(v), "corp")
	require.NoError(t, err)
	stored, err = other.store.Identity(ctx, other.tenant.ID, id.ID)
	require.NoError(t, err)
	assert.Empty(t, stored.SealedToken, "provider tokens are not kept unless the host asks")
}

func TestIdentityOptionsAreChecked(t *testing.T) {
	e := newEnv(t)
	base := authn.Options{Mailer: e.outbox, LinkURL: func(authn.Purpose, authn.LinkToken) string { return "" }}
	fb, err := oidc.NewFacebook(oidc.FacebookConfig{ClientID: "a", ClientSecret: "b", RedirectURL: callbackURL})
	require.NoError(t, err)
	for name, o := range map[string]authn.IdentityOptions{
		"duplicate name": {Providers: []authn.IdentityProvider{fb, fb}},
		"long flows":     {FlowTTL: time.Hour},
		"long confirm":   {ConfirmTTL: 30 * 24 * time.Hour},
	} {
		opts := base
		opts.Identity = o
		_, err := authn.NewService(e.store, e.engine, opts)
		assert.Error(t, err, name)
	}
	_, err = oidc.New(context.Background(), oidc.Config{Name: "x", Issuer: "https://x.example", ClientID: "c",
		RedirectURL: callbackURL, Algorithms: []string{"HS256"}})
	assert.ErrorIs(t, err, oidc.ErrConfig, "HMAC algorithms are refused")
	_, err = oidc.New(context.Background(), oidc.Config{Name: "x", Issuer: "https://x.example", ClientID: "c",
		RedirectURL: callbackURL, Algorithms: []string{"none"}})
	assert.ErrorIs(t, err, oidc.ErrConfig)
}

// A linked identity is a first factor like the password: a user with a second factor
// gets a pending sign-in, and the session holds both factors.
func TestIdentitySignInOwesTheSecondFactor(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	u := e.linkAnn(t)
	e.confirm(t, "ann@example.com")
	authn.SetSecondFactor(e.svc, &authn.TestSecondFactor{Enrolled: map[uuid.UUID]bool{u.ID: true}, Code: "123456"})

	meta := authn.Meta{IP: netip.MustParseAddr("203.0.113.7")}
	res, err := e.signIn(t, "corp", meta)
	require.NoError(t, err)
	require.NotNil(t, res.Pending, "a second factor is owed")
	assert.Nil(t, res.Session)
	_, err = e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "000000", meta)
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
	done, err := e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "123456", meta)
	require.NoError(t, err)
	require.NotNil(t, done.Session)
	assert.Equal(t, []authn.Factor{authn.FactorIdentity, authn.FactorTOTP}, done.Session.Factors)
}

func TestFlowCookie(t *testing.T) {
	e := newIdentityEnv(t)
	start, err := e.svc.StartIdentitySignIn(context.Background(), e.tenant.ID, "corp", authn.Meta{})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	authn.FlowCookie{}.Set(rec, start)
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	ck := cookies[0]
	assert.Equal(t, "__Host-callshield_flow", ck.Name)
	assert.Equal(t, start.Token.Reveal(), ck.Value)
	assert.True(t, ck.Secure)
	assert.True(t, ck.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, ck.SameSite, "sent on the provider's redirect back")
	assert.Equal(t, "/", ck.Path)
	assert.Empty(t, ck.Domain)
	assert.Equal(t, int(authn.DefaultFlowTTL/time.Second), ck.MaxAge)

	code, state, err := e.op.Login(start.URL)
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, callbackURL+"?state="+url.QueryEscape(state)+"&code="+url.QueryEscape(code), nil)
	r.AddCookie(ck)
	cb := authn.FlowCookie{}.Callback(r)
	assert.Equal(t, authn.Callback{Flow: start.Token.Reveal(), State: state, Code: code}, cb)

	rec = httptest.NewRecorder()
	authn.FlowCookie{Insecure: true}.Clear(rec)
	cleared := rec.Result().Cookies()
	require.Len(t, cleared, 1)
	assert.Equal(t, "callshield_flow_dev", cleared[0].Name)
	assert.False(t, cleared[0].Secure)
	assert.Less(t, cleared[0].MaxAge, 0)
}

// An identity is linked per tenant: a sign-in at another tenant does not find it, and
// the same provider account may be linked to a user of each tenant.
func TestIdentityIsPerTenant(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	u := e.linkAnn(t)
	e.confirm(t, "ann@example.com")

	other, err := e.acc.CreateTenant(ctx, "Other Call Center")
	require.NoError(t, err)
	roles, err := e.store.Roles(ctx, other.ID)
	require.NoError(t, err)
	kinds := map[access.RoleKind]uuid.UUID{}
	for _, r := range roles {
		kinds[r.Kind] = r.ID
	}
	otherAdmin := access.Subject{Tenant: other.ID, User: uuid.New()}
	_, err = e.acc.SetMember(ctx, access.System(other.ID), otherAdmin.User, kinds[access.KindAdmin])
	require.NoError(t, err)

	start, err := e.svc.StartIdentitySignIn(ctx, other.ID, "corp", authn.Meta{})
	require.NoError(t, err)
	_, err = e.svc.SignInWithIdentity(ctx, e.login(t, start), authn.Meta{})
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "tenant A's link does not sign in at tenant B")

	_, err = e.svc.Invite(ctx, otherAdmin, authn.InviteRequest{Email: "ann@other.example", Name: "Ann", Role: kinds[access.KindAgent]})
	require.NoError(t, err)
	v, err := e.svc.AcceptInvitation(ctx, e.linkFor(t, "ann@other.example"), authn.NewPassword(goodPassword), authn.Meta{})
	require.NoError(t, err)
	_, err = e.link(t, e.session(v), "corp")
	require.NoError(t, err, "the same provider account links to a user of another tenant")
	e.confirm(t, "ann@other.example")
	start, err = e.svc.StartIdentitySignIn(ctx, other.ID, "corp", authn.Meta{})
	require.NoError(t, err)
	res, err := e.svc.SignInWithIdentity(ctx, e.login(t, start), authn.Meta{})
	require.NoError(t, err)
	assert.Equal(t, v.ID, res.Session.User)
	assert.Equal(t, other.ID, res.Session.Tenant)

	// A flow of tenant A cannot complete a link in tenant B's session.
	start, err = e.svc.StartLink(ctx, e.session(u), "corp")
	require.NoError(t, err)
	_, err = e.svc.CompleteLink(ctx, e.session(v), e.login(t, start))
	assert.ErrorIs(t, err, authn.ErrFlowInvalid)
}

// The identity sign-in is throttled as the password is: a locked account does not sign
// in with a linked identity either, and failures that name no account (unknown
// identities) lock the address, which is then refused before its code is redeemed.
func TestIdentitySignInIsThrottled(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	_, err := e.svc.UpdateSessionSettings(ctx, e.admin, authn.SessionSettings{LockThreshold: 3})
	require.NoError(t, err)
	e.linkAnn(t)
	e.confirm(t, "ann@example.com")

	for i, a := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		e.clock.Advance(time.Minute)
		assert.ErrorIs(t, e.try("ann@example.com", fmt.Sprint("wrong password ", i), ip(a)), authn.ErrInvalidCredentials)
	}
	_, err = e.signIn(t, "corp", ip("203.0.113.9"))
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "the account is locked for every first factor")
	assert.Equal(t, "locked", e.lastLogin(t).Reason)
	e.clock.Advance(authn.DefaultLockDuration)
	_, err = e.signIn(t, "corp", ip("203.0.113.9"))
	require.NoError(t, err, "the lock lifted by itself")

	stranger := ip("203.0.113.66")
	e.op.SetUser(oidctest.User{Subject: "nobody-here"})
	for range 10 * 3 {
		_, err := e.signIn(t, "corp", stranger)
		require.ErrorIs(t, err, authn.ErrInvalidCredentials)
	}
	exchanges := e.op.Exchanges()
	e.op.SetUser(ann)
	_, err = e.signIn(t, "corp", stranger)
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "the address is locked, even for a linked identity")
	assert.Equal(t, "address_locked", e.lastLogin(t).Reason)
	assert.Equal(t, exchanges, e.op.Exchanges(), "refused before the code is redeemed")
	_, err = e.signIn(t, "corp", ip("203.0.113.9"))
	assert.NoError(t, err, "another address is not locked")
}

// Starting a sign-in flow stores a row for anyone, so the starts are bounded per
// client address: MaxFlowsPerAddress starts are stored, the next is refused with
// ErrTooManyFlows and stores nothing, for FlowTTL; another address (and the same
// address in another tenant) is unaffected; a successful sign-in from the address
// clears its count; the cleanup job removes the expired flows.
func TestIdentitySignInStartsAreBoundedPerAddress(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	attacker := authn.Meta{IP: netip.MustParseAddr("203.0.113.66")}
	user := authn.Meta{IP: netip.MustParseAddr("198.51.100.9")}
	for i := range authn.DefaultMaxFlowsPerAddress {
		_, err := e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", attacker)
		require.NoError(t, err, "start %d", i+1)
	}
	_, err := e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", attacker)
	assert.ErrorIs(t, err, authn.ErrTooManyFlows)
	status, code := access.ErrorCode(err)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "too_many_sign_in_starts", code)
	v6 := authn.Meta{IP: netip.MustParseAddr("2001:db8::1")}
	for range authn.DefaultMaxFlowsPerAddress {
		_, err = e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", v6)
		require.NoError(t, err)
	}
	_, err = e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", authn.Meta{IP: netip.MustParseAddr("2001:db8::2")})
	assert.ErrorIs(t, err, authn.ErrTooManyFlows, "an IPv6 client counts by its /64")
	_, err = e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", user)
	assert.NoError(t, err, "another address is unaffected")
	other, err := e.acc.CreateTenant(ctx, "Other")
	require.NoError(t, err)
	_, err = e.svc.StartIdentitySignIn(ctx, other.ID, "corp", attacker)
	assert.NoError(t, err, "the count is the tenant's")
	_, err = e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "nope", authn.Meta{IP: netip.MustParseAddr("192.0.2.1")})
	assert.ErrorIs(t, err, authn.ErrUnknownProvider)

	// The refused starts stored nothing: the cleanup finds exactly the stored ones.
	e.clock.Advance(authn.DefaultFlowTTL)
	rep, err := e.svc.CleanupSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2*authn.DefaultMaxFlowsPerAddress+2, rep.Flows, "expired flows are removed by the cleanup job")
	rep, err = e.svc.CleanupSessions(ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Flows)

	// After FlowTTL the address may start again; a successful sign-in clears its count.
	e.linkAnn(t)
	e.confirm(t, "ann@example.com")
	for range authn.DefaultMaxFlowsPerAddress - 1 {
		_, err = e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", attacker)
		require.NoError(t, err)
	}
	_, err = e.signIn(t, "corp", attacker)
	require.NoError(t, err, "the last start allowed")
	_, err = e.svc.StartIdentitySignIn(ctx, e.tenant.ID, "corp", attacker)
	assert.NoError(t, err, "the sign-in cleared the count")
}
