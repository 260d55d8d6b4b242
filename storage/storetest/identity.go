package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cases of authn.IdentityStore. Besides its doc comments, they hold adapters to
// these choices:
//   - A flow is open at t while t is before its ExpiresAt (consumed at the instant it
//     expires: authn.ErrFlowInvalid). Flows append no audit event; every identity
//     mutation appends exactly its event.
//   - ConfirmIdentity erases the confirmation hash and expiry and sets ConfirmedAt; a
//     confirmation at the instant it expires is authn.ErrTicketInvalid.
//   - With keepSignIn, a non-empty password hash and the user's other active
//     identities count as ways to sign in; a pending identity is always removable.
//   - Identities of a tenant that exists but of a user without identities is an empty
//     list; of an unknown tenant storage.ErrNotFound.
func identityGroups() []group {
	return []group{
		{"identities", identityCases},
		{"identity units of work", identityUnitCases},
		{"identity concurrency", identityConcurrencyCases},
	}
}

// The suite's identity times.
var (
	flowAt    = at(2 * time.Hour)
	flowUntil = at(2*time.Hour + 10*time.Minute)
	linkedAt  = at(3 * time.Hour)
	confirmBy = at(27 * time.Hour)
	confirmAt = at(4 * time.Hour)
)

func flowValue(tenant uuid.UUID, purpose authn.FlowPurpose) authn.IdentityFlow {
	f := authn.IdentityFlow{Tenant: tenant, TokenHash: newTokenHash(), Purpose: purpose, Provider: "corp",
		CreatedAt: flowAt, ExpiresAt: flowUntil}
	if purpose == authn.FlowLink {
		f.User, f.Session = newID(), newID()
	}
	return f
}

func identityValue(u authn.User, issuer, subject string) authn.Identity {
	return authn.Identity{ID: newID(), Tenant: u.Tenant, User: u.ID, Provider: "corp", Issuer: issuer, Subject: subject,
		Email: "someone@provider.example", Status: authn.IdentityPending, ConfirmHash: newTokenHash(),
		ConfirmExpiresAt: confirmBy, CreatedAt: linkedAt}
}

// link stores a pending identity of u and returns it.
func (f *fx) link(u authn.User, issuer, subject string) authn.Identity {
	f.t.Helper()
	id := identityValue(u, issuer, subject)
	require.NoError(f.t, f.s.Authn.CreateIdentity(f.ctx, id, linkedAt, changeEvent(f.t, u.Tenant, "identity.link")))
	return id
}

// confirmed stores an identity of u and confirms it.
func (f *fx) confirmed(u authn.User, issuer, subject string) authn.Identity {
	f.t.Helper()
	id := f.link(u, issuer, subject)
	got, err := f.s.Authn.ConfirmIdentity(f.ctx, u.Tenant, id.ConfirmHash, confirmAt, changeEvent(f.t, u.Tenant, "identity.confirm"))
	require.NoError(f.t, err)
	return got
}

func (f *fx) unlink(id authn.Identity, keepSignIn bool) error {
	return f.s.Authn.DeleteIdentity(f.ctx, id.Tenant, id.User, id.ID, keepSignIn, changeEvent(f.t, id.Tenant, "identity.unlink"))
}

// passwordless erases u's password hash (a forced reset) and returns u.
func (f *fx) passwordless(u authn.User) authn.User {
	f.t.Helper()
	tk := resetValue(u)
	require.NoError(f.t, f.s.Authn.CreateTicket(f.ctx, tk, true, changeEvent(f.t, u.Tenant, "password.reset_forced")))
	require.Empty(f.t, f.passwordHash(u.Tenant, u.ID))
	return u
}

func assertIdentity(t testing.TB, want, got authn.Identity) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.Tenant, got.Tenant)
	assert.Equal(t, want.User, got.User)
	assert.Equal(t, want.Provider, got.Provider)
	assert.Equal(t, want.Issuer, got.Issuer)
	assert.Equal(t, want.Subject, got.Subject)
	assert.Equal(t, want.Email, got.Email)
	assert.Equal(t, want.Status, got.Status)
	assert.Equal(t, want.ConfirmHash, got.ConfirmHash)
	assert.Equal(t, want.SealedToken, got.SealedToken)
	assertTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	assertTime(t, want.ConfirmExpiresAt, got.ConfirmExpiresAt, "ConfirmExpiresAt")
	assertTime(t, want.ConfirmedAt, got.ConfirmedAt, "ConfirmedAt")
}

var identityCases = []testCase{
	{"a flow is consumed once, before it expires, and appends no event", func(t *testing.T, f *fx) {
		tn := f.createTenant("Flows")
		events := len(f.allEvents(tn.ID))
		fl := flowValue(tn.ID, authn.FlowLink)
		require.NoError(t, f.s.Authn.CreateIdentityFlow(f.ctx, fl))
		assert.ErrorIs(t, f.s.Authn.CreateIdentityFlow(f.ctx, fl), storage.ErrConflict, "a token hash is stored once")
		got, err := f.s.Authn.ConsumeIdentityFlow(f.ctx, tn.ID, fl.TokenHash, flowUntil.Add(-time.Microsecond))
		require.NoError(t, err)
		assert.Equal(t, fl.Tenant, got.Tenant)
		assert.Equal(t, fl.TokenHash, got.TokenHash)
		assert.Equal(t, fl.Purpose, got.Purpose)
		assert.Equal(t, fl.Provider, got.Provider)
		assert.Equal(t, fl.User, got.User)
		assert.Equal(t, fl.Session, got.Session)
		assertTime(t, fl.CreatedAt, got.CreatedAt, "CreatedAt")
		assertTime(t, fl.ExpiresAt, got.ExpiresAt, "ExpiresAt")
		_, err = f.s.Authn.ConsumeIdentityFlow(f.ctx, tn.ID, fl.TokenHash, flowAt)
		assert.ErrorIs(t, err, authn.ErrFlowInvalid, "single use")

		signIn := flowValue(tn.ID, authn.FlowSignIn)
		require.NoError(t, f.s.Authn.CreateIdentityFlow(f.ctx, signIn))
		_, err = f.s.Authn.ConsumeIdentityFlow(f.ctx, tn.ID, signIn.TokenHash, flowUntil)
		assert.ErrorIs(t, err, authn.ErrFlowInvalid, "expired at the instant of its ExpiresAt")
		_, err = f.s.Authn.ConsumeIdentityFlow(f.ctx, tn.ID, newTokenHash(), flowAt)
		assert.ErrorIs(t, err, authn.ErrFlowInvalid)
		got, err = f.s.Authn.ConsumeIdentityFlow(f.ctx, tn.ID, signIn.TokenHash, flowAt)
		require.NoError(t, err, "an expired consumption changes nothing")
		assert.Equal(t, uuid.Nil, got.User)
		assert.Equal(t, uuid.Nil, got.Session)

		assert.Len(t, f.allEvents(tn.ID), events, "flows append no event")
		assert.ErrorIs(t, f.s.Authn.CreateIdentityFlow(f.ctx, flowValue(newID(), authn.FlowSignIn)), storage.ErrNotFound)
	}},
	{"a new flow removes the tenant's expired flows only", func(t *testing.T, f *fx) {
		tn := f.createTenant("Flow cleanup")
		other := f.createTenant("Flow cleanup other")
		old := flowValue(tn.ID, authn.FlowSignIn)
		otherOld := flowValue(other.ID, authn.FlowSignIn)
		require.NoError(t, f.s.Authn.CreateIdentityFlow(f.ctx, old))
		require.NoError(t, f.s.Authn.CreateIdentityFlow(f.ctx, otherOld))
		next := flowValue(tn.ID, authn.FlowSignIn)
		next.CreatedAt, next.ExpiresAt = flowUntil.Add(time.Second), flowUntil.Add(11*time.Minute)
		require.NoError(t, f.s.Authn.CreateIdentityFlow(f.ctx, next))
		_, err := f.s.Authn.ConsumeIdentityFlow(f.ctx, tn.ID, old.TokenHash, flowAt)
		assert.ErrorIs(t, err, authn.ErrFlowInvalid, "removed as expired")
		_, err = f.s.Authn.ConsumeIdentityFlow(f.ctx, other.ID, otherOld.TokenHash, flowAt)
		assert.NoError(t, err, "another tenant's flows are not touched")
	}},
	{"DeleteExpiredIdentityFlows removes every tenant's expired flows and keeps the live ones", func(t *testing.T, f *fx) {
		tn := f.createTenant("Flow sweep")
		other := f.createTenant("Flow sweep other")
		old := flowValue(tn.ID, authn.FlowSignIn)
		otherOld := flowValue(other.ID, authn.FlowLink)
		live := flowValue(tn.ID, authn.FlowSignIn)
		live.ExpiresAt = flowUntil.Add(time.Microsecond)
		for _, fl := range []authn.IdentityFlow{old, otherOld, live} {
			require.NoError(t, f.s.Authn.CreateIdentityFlow(f.ctx, fl))
		}
		events := len(f.allEvents(tn.ID))
		n, err := f.s.Authn.DeleteExpiredIdentityFlows(f.ctx, flowUntil)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, 2, "both expired flows (expired at the instant of ExpiresAt) are counted")
		_, err = f.s.Authn.ConsumeIdentityFlow(f.ctx, tn.ID, old.TokenHash, flowAt)
		assert.ErrorIs(t, err, authn.ErrFlowInvalid, "removed")
		_, err = f.s.Authn.ConsumeIdentityFlow(f.ctx, other.ID, otherOld.TokenHash, flowAt)
		assert.ErrorIs(t, err, authn.ErrFlowInvalid, "removed in the other tenant too")
		_, err = f.s.Authn.ConsumeIdentityFlow(f.ctx, tn.ID, live.TokenHash, flowAt)
		assert.NoError(t, err, "a flow that expires after now is kept")
		n, err = f.s.Authn.DeleteExpiredIdentityFlows(f.ctx, flowUntil)
		require.NoError(t, err)
		assert.Zero(t, n, "nothing left to remove")
		assert.Len(t, f.allEvents(tn.ID), events, "appends no event")
	}},
	{"a pending identity is read back, confirmed once, and then active", func(t *testing.T, f *fx) {
		tn := f.createTenant("Identities")
		u, _ := f.activeUser(tn, "ann@example.com")
		events := len(f.allEvents(tn.ID))
		id := identityValue(u, "https://issuer.example", "sub-1")
		id.SealedToken = []byte{1, 2, 3, 0, 255}
		require.NoError(t, f.s.Authn.CreateIdentity(f.ctx, id, linkedAt, changeEvent(t, tn.ID, "identity.link")))
		assert.Len(t, f.allEvents(tn.ID), events+1)

		got, err := f.s.Authn.Identity(f.ctx, tn.ID, id.ID)
		require.NoError(t, err)
		assertIdentity(t, id, got)
		got, err = f.s.Authn.IdentityBySubject(f.ctx, tn.ID, id.Issuer, id.Subject)
		require.NoError(t, err)
		assertIdentity(t, id, got)
		got, err = f.s.Authn.IdentityByConfirmation(f.ctx, tn.ID, id.ConfirmHash)
		require.NoError(t, err)
		assertIdentity(t, id, got)
		list, err := f.s.Authn.Identities(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assertIdentity(t, id, list[0])
		_, err = f.s.Authn.IdentityBySubject(f.ctx, tn.ID, id.Issuer, "SUB-1")
		assert.ErrorIs(t, err, storage.ErrNotFound, "subjects compare exactly")
		_, err = f.s.Authn.IdentityBySubject(f.ctx, tn.ID, "https://issuer.example/", id.Subject)
		assert.ErrorIs(t, err, storage.ErrNotFound, "issuers compare exactly")

		_, err = f.s.Authn.ConfirmIdentity(f.ctx, tn.ID, id.ConfirmHash, confirmBy, changeEvent(t, tn.ID, "identity.confirm"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid, "expired at the instant of its expiry")
		active, err := f.s.Authn.ConfirmIdentity(f.ctx, tn.ID, id.ConfirmHash, confirmAt, changeEvent(t, tn.ID, "identity.confirm"))
		require.NoError(t, err)
		want := id
		want.Status, want.ConfirmHash, want.ConfirmExpiresAt, want.ConfirmedAt = authn.IdentityActive, [32]byte{}, time.Time{}, confirmAt
		assertIdentity(t, want, active)
		got, err = f.s.Authn.Identity(f.ctx, tn.ID, id.ID)
		require.NoError(t, err)
		assertIdentity(t, want, got)
		assert.Len(t, f.allEvents(tn.ID), events+2)

		_, err = f.s.Authn.ConfirmIdentity(f.ctx, tn.ID, id.ConfirmHash, confirmAt, changeEvent(t, tn.ID, "identity.confirm"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid, "single use")
		_, err = f.s.Authn.IdentityByConfirmation(f.ctx, tn.ID, id.ConfirmHash)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		assert.Len(t, f.allEvents(tn.ID), events+2, "a refused confirmation appends nothing")

		list, err = f.s.Authn.Identities(f.ctx, tn.ID, newID())
		require.NoError(t, err)
		assert.Empty(t, list)
		_, err = f.s.Authn.Identities(f.ctx, newID(), u.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
	}},
	{"identities are listed oldest first", func(t *testing.T, f *fx) {
		tn := f.createTenant("Identity order")
		u, _ := f.activeUser(tn, "ann@example.com")
		late := identityValue(u, "https://b.example", "1")
		late.CreatedAt = linkedAt.Add(time.Minute)
		early := identityValue(u, "https://a.example", "1")
		require.NoError(t, f.s.Authn.CreateIdentity(f.ctx, late, linkedAt, changeEvent(t, tn.ID, "identity.link")))
		require.NoError(t, f.s.Authn.CreateIdentity(f.ctx, early, linkedAt, changeEvent(t, tn.ID, "identity.link")))
		list, err := f.s.Authn.Identities(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, []uuid.UUID{early.ID, late.ID}, []uuid.UUID{list[0].ID, list[1].ID})
	}},
	{"one (issuer, subject) belongs to one user of a tenant", func(t *testing.T, f *fx) {
		tn := f.createTenant("Identity keys")
		other := f.createTenant("Identity keys other")
		ann, _ := f.activeUser(tn, "ann@example.com")
		bob, _ := f.activeUser(tn, "bob@example.com")
		carl, _ := f.activeUser(other, "carl@example.com")
		const iss, sub = "https://issuer.example", "shared"

		first := f.link(ann, iss, sub)
		before := f.accounts(tn.ID, []uuid.UUID{ann.ID, bob.ID})
		err := f.s.Authn.CreateIdentity(f.ctx, identityValue(bob, iss, sub), linkedAt, changeEvent(t, tn.ID, "identity.link"))
		assert.ErrorIs(t, err, storage.ErrConflict, "pending for another user")
		f.assertAccountsUnchanged(before, tn.ID)

		again := f.link(ann, iss, sub)
		_, err = f.s.Authn.Identity(f.ctx, tn.ID, first.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "the same user's pending identity is replaced")
		_, err = f.s.Authn.IdentityByConfirmation(f.ctx, tn.ID, first.ConfirmHash)
		assert.ErrorIs(t, err, storage.ErrNotFound, "and its confirmation voided")
		_, err = f.s.Authn.ConfirmIdentity(f.ctx, tn.ID, again.ConfirmHash, confirmAt, changeEvent(t, tn.ID, "identity.confirm"))
		require.NoError(t, err)
		for _, u := range []authn.User{ann, bob} {
			err := f.s.Authn.CreateIdentity(f.ctx, identityValue(u, iss, sub), confirmBy.Add(time.Hour), changeEvent(t, tn.ID, "identity.link"))
			assert.ErrorIs(t, err, storage.ErrConflict, "an active identity is never replaced")
		}

		f.link(carl, iss, sub) // another tenant
		f.link(bob, "https://other-issuer.example", sub)
		f.link(bob, iss, "Shared")

		expiring := f.link(bob, iss, "expiring")
		err = f.s.Authn.CreateIdentity(f.ctx, identityValue(ann, iss, "expiring"), confirmBy.Add(-time.Microsecond), changeEvent(t, tn.ID, "identity.link"))
		assert.ErrorIs(t, err, storage.ErrConflict, "still pending for Bob")
		taken := identityValue(ann, iss, "expiring")
		require.NoError(t, f.s.Authn.CreateIdentity(f.ctx, taken, confirmBy, changeEvent(t, tn.ID, "identity.link")),
			"Bob's confirmation expired")
		_, err = f.s.Authn.Identity(f.ctx, tn.ID, expiring.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		got, err := f.s.Authn.IdentityBySubject(f.ctx, tn.ID, iss, "expiring")
		require.NoError(t, err)
		assert.Equal(t, ann.ID, got.User)

		dup := identityValue(bob, iss, "dup-hash")
		dup.ConfirmHash = taken.ConfirmHash
		err = f.s.Authn.CreateIdentity(f.ctx, dup, linkedAt, changeEvent(t, tn.ID, "identity.link"))
		assert.ErrorIs(t, err, storage.ErrConflict, "a confirmation hash is stored once")
	}},
	{"an identity needs a user who is not deleted", func(t *testing.T, f *fx) {
		tn := f.createTenant("Identity users")
		u, _ := f.activeUser(tn, "ann@example.com")
		ghost := u
		ghost.ID = newID()
		err := f.s.Authn.CreateIdentity(f.ctx, identityValue(ghost, "https://i.example", "1"), linkedAt, changeEvent(t, tn.ID, "identity.link"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		stranger := u
		stranger.Tenant = newID()
		err = f.s.Authn.CreateIdentity(f.ctx, identityValue(stranger, "https://i.example", "1"), linkedAt, changeEvent(t, stranger.Tenant, "identity.link"))
		assert.ErrorIs(t, err, storage.ErrNotFound)

		id := f.confirmed(u, "https://i.example", "1")
		pending := f.link(u, "https://i.example", "2")
		u = f.setStatus(u, authn.StatusBlocked, later)
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, u.ID, []authn.Status{authn.StatusBlocked}, authn.ReasonRemoved, later,
			changeEvent(t, tn.ID, "user.remove")))
		_, err = f.s.Authn.Identity(f.ctx, tn.ID, id.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "DeleteUser removes the user's identities")
		_, err = f.s.Authn.IdentityByConfirmation(f.ctx, tn.ID, pending.ConfirmHash)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		list, err := f.s.Authn.Identities(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Empty(t, list)
		err = f.s.Authn.CreateIdentity(f.ctx, identityValue(u, "https://i.example", "3"), linkedAt, changeEvent(t, tn.ID, "identity.link"))
		assert.ErrorIs(t, err, authn.ErrUserDeleted)
		bob, _ := f.activeUser(tn, "bob@example.com")
		f.link(bob, "https://i.example", "1") // the removed user's identity is free again
	}},
	{"unlinking keeps a way to sign in", func(t *testing.T, f *fx) {
		tn := f.createTenant("Unlink")
		withPassword, _ := f.activeUser(tn, "pw@example.com")
		id := f.confirmed(withPassword, "https://i.example", "pw")
		require.NoError(t, f.unlink(id, true), "the password remains")

		u, _ := f.activeUser(tn, "nopw@example.com")
		u = f.passwordless(u)
		a := f.confirmed(u, "https://i.example", "a")
		before := f.accounts(tn.ID, []uuid.UUID{u.ID})
		assert.ErrorIs(t, f.unlink(a, true), authn.ErrLastSignInMethod)
		f.assertAccountsUnchanged(before, tn.ID)
		p := f.link(u, "https://i.example", "p")
		assert.ErrorIs(t, f.unlink(a, true), authn.ErrLastSignInMethod, "a pending identity does not count")
		require.NoError(t, f.unlink(p, true), "a pending identity is always removable")
		b := f.confirmed(u, "https://i.example", "b")
		require.NoError(t, f.unlink(a, true))
		assert.ErrorIs(t, f.unlink(b, true), authn.ErrLastSignInMethod)
		require.NoError(t, f.unlink(b, false), "without keepSignIn the last one goes")
		assert.ErrorIs(t, f.unlink(b, false), storage.ErrNotFound)

		c := f.confirmed(withPassword, "https://i.example", "c")
		foreign := c
		foreign.User = u.ID
		assert.ErrorIs(t, f.unlink(foreign, false), storage.ErrNotFound, "the identity must be the user's")
		_, err := f.s.Authn.Identity(f.ctx, tn.ID, c.ID)
		assert.NoError(t, err)
	}},
	{"an active identity's sealed token is replaced", func(t *testing.T, f *fx) {
		tn := f.createTenant("Identity tokens")
		u, _ := f.activeUser(tn, "ann@example.com")
		bob, _ := f.activeUser(tn, "bob@example.com")
		active := f.confirmed(u, "https://i.example", "a")
		pending := f.link(u, "https://i.example", "p")
		set := func(user, id uuid.UUID, sealed []byte) error {
			return f.s.Authn.SetIdentityToken(f.ctx, tn.ID, user, id, sealed, changeEvent(t, tn.ID, "identity.token"))
		}
		events := len(f.allEvents(tn.ID))
		require.NoError(t, set(u.ID, active.ID, []byte{9, 8, 7}))
		got, err := f.s.Authn.Identity(f.ctx, tn.ID, active.ID)
		require.NoError(t, err)
		assert.Equal(t, []byte{9, 8, 7}, got.SealedToken)
		assert.Len(t, f.allEvents(tn.ID), events+1)
		require.NoError(t, set(u.ID, active.ID, nil))
		got, err = f.s.Authn.Identity(f.ctx, tn.ID, active.ID)
		require.NoError(t, err)
		assert.Empty(t, got.SealedToken, "nil clears it")
		assert.ErrorIs(t, set(u.ID, pending.ID, []byte{1}), storage.ErrNotFound, "a pending identity")
		assert.ErrorIs(t, set(bob.ID, active.ID, []byte{1}), storage.ErrNotFound, "another user's")
		assert.ErrorIs(t, set(u.ID, newID(), []byte{1}), storage.ErrNotFound)
		assert.Len(t, f.allEvents(tn.ID), events+2, "refused writes append nothing")
	}},
	{"no identity method crosses tenants", func(t *testing.T, f *fx) {
		tn := f.createTenant("Identity home")
		other := f.createTenant("Identity elsewhere")
		u, _ := f.activeUser(tn, "ann@example.com")
		active := f.confirmed(u, "https://i.example", "active")
		pending := f.link(u, "https://i.example", "pending")
		fl := flowValue(tn.ID, authn.FlowSignIn)
		require.NoError(t, f.s.Authn.CreateIdentityFlow(f.ctx, fl))
		before := f.accounts(other.ID, nil)
		home := f.accounts(tn.ID, []uuid.UUID{u.ID})

		_, err := f.s.Authn.Identity(f.ctx, other.ID, active.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Authn.IdentityBySubject(f.ctx, other.ID, active.Issuer, active.Subject)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Authn.IdentityByConfirmation(f.ctx, other.ID, pending.ConfirmHash)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		list, err := f.s.Authn.Identities(f.ctx, other.ID, u.ID)
		require.NoError(t, err)
		assert.Empty(t, list)
		_, err = f.s.Authn.ConfirmIdentity(f.ctx, other.ID, pending.ConfirmHash, confirmAt, changeEvent(t, other.ID, "identity.confirm"))
		assert.ErrorIs(t, err, authn.ErrTicketInvalid)
		err = f.s.Authn.DeleteIdentity(f.ctx, other.ID, u.ID, active.ID, false, changeEvent(t, other.ID, "identity.remove"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		err = f.s.Authn.SetIdentityToken(f.ctx, other.ID, u.ID, active.ID, []byte{1}, changeEvent(t, other.ID, "identity.token"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		_, err = f.s.Authn.ConsumeIdentityFlow(f.ctx, other.ID, fl.TokenHash, flowAt)
		assert.ErrorIs(t, err, authn.ErrFlowInvalid)
		stranger := u
		stranger.Tenant = other.ID
		err = f.s.Authn.CreateIdentity(f.ctx, identityValue(stranger, "https://i.example", "x"), linkedAt, changeEvent(t, other.ID, "identity.link"))
		assert.ErrorIs(t, err, storage.ErrNotFound, "a user of another tenant")
		f.assertAccountsUnchanged(before, other.ID)
		f.assertAccountsUnchanged(home, tn.ID)
		_, err = f.s.Authn.ConsumeIdentityFlow(f.ctx, tn.ID, fl.TokenHash, flowAt)
		assert.NoError(t, err, "the flow is still there for its tenant")
	}},
}

// identityMutations are the identity mutations of u, each succeeding once in order.
func identityMutations(u authn.User) (pending authn.Identity, ms []authnMutation) {
	pending = identityValue(u, "https://i.example", "unit")
	return pending, []authnMutation{
		{"CreateIdentity", func(f *fx, ev audit.Event) error {
			return f.s.Authn.CreateIdentity(f.ctx, pending, linkedAt, ev)
		}},
		{"ConfirmIdentity", func(f *fx, ev audit.Event) error {
			_, err := f.s.Authn.ConfirmIdentity(f.ctx, u.Tenant, pending.ConfirmHash, confirmAt, ev)
			return err
		}},
		{"SetIdentityToken", func(f *fx, ev audit.Event) error {
			return f.s.Authn.SetIdentityToken(f.ctx, u.Tenant, u.ID, pending.ID, []byte{1, 2}, ev)
		}},
		{"DeleteIdentity", func(f *fx, ev audit.Event) error {
			return f.s.Authn.DeleteIdentity(f.ctx, u.Tenant, u.ID, pending.ID, false, ev)
		}},
	}
}

var identityUnitCases = []testCase{
	// Each identity mutation and its event are one transaction: with an event that
	// cannot be appended (its ID is stored already, or it is of another tenant) the
	// mutation does not happen either; with a good event it appends exactly that event.
	{"every identity mutation happens together with its event, or not at all", func(t *testing.T, f *fx) {
		tn := f.createTenant("Identity units")
		other := f.createTenant("Identity units other")
		u, _ := f.activeUser(tn, "ann@example.com")
		pending, ms := identityMutations(u)
		read := func() (authn.Identity, error) { return f.s.Authn.Identity(f.ctx, tn.ID, pending.ID) }
		for _, m := range ms {
			before, beforeErr := read()
			events := f.allEvents(tn.ID)
			dup := changeEvent(t, tn.ID, "dup.event")
			dup.ID = events[len(events)-1].ID
			assert.ErrorIs(t, m.do(f, dup), storage.ErrConflict, "%s with an event ID already stored", m.name)
			assert.ErrorIs(t, m.do(f, changeEvent(t, other.ID, "cross.tenant")), audit.ErrInvalidEvent, "%s with another tenant's event", m.name)
			after, afterErr := read()
			assert.Equal(t, beforeErr == nil, afterErr == nil, "%s: nothing changed", m.name)
			assert.Equal(t, before.Status, after.Status, "%s: nothing changed", m.name)
			assert.Len(t, f.allEvents(tn.ID), len(events), m.name)

			ev := fullEvent(t, tn.ID, later)
			require.NoError(t, m.do(f, ev), m.name)
			all := f.allEvents(tn.ID)
			if assert.Len(t, all, len(events)+1, "%s: one event appended", m.name) {
				assertEvent(t, ev, all[len(all)-1])
			}
			verifyChain(t, f.s.Chain, all)
		}
	}},
}

var identityConcurrencyCases = []testCase{
	{"of users linking one (issuer, subject) at once, one wins", func(t *testing.T, f *fx) {
		tn := f.createTenant("Link race")
		const racers = 8
		users := make([]authn.User, racers)
		for i := range users {
			users[i], _ = f.activeUser(tn, fmt.Sprintf("racer%d@example.com", i))
		}
		ids := make([]authn.Identity, racers)
		evs := make([]audit.Event, racers)
		for i, u := range users {
			ids[i] = identityValue(u, "https://i.example", "contested")
			evs[i] = changeEvent(t, tn.ID, "identity.link")
		}
		errs := race(racers, func(i int) error { return f.s.Authn.CreateIdentity(f.ctx, ids[i], linkedAt, evs[i]) })
		if w := oneWinner(t, errs, storage.ErrConflict); w >= 0 {
			got, err := f.s.Authn.IdentityBySubject(f.ctx, tn.ID, "https://i.example", "contested")
			require.NoError(t, err)
			assert.Equal(t, users[w].ID, got.User)
		}
	}},
	{"of callbacks consuming one flow at once, one wins", func(t *testing.T, f *fx) {
		tn := f.createTenant("Flow race")
		fl := flowValue(tn.ID, authn.FlowSignIn)
		require.NoError(t, f.s.Authn.CreateIdentityFlow(f.ctx, fl))
		errs := race(8, func(int) error {
			_, err := f.s.Authn.ConsumeIdentityFlow(f.ctx, tn.ID, fl.TokenHash, flowAt)
			return err
		})
		oneWinner(t, errs, authn.ErrFlowInvalid)
	}},
	{"of confirmations with one link at once, one wins", func(t *testing.T, f *fx) {
		tn := f.createTenant("Confirm race")
		u, _ := f.activeUser(tn, "ann@example.com")
		id := f.link(u, "https://i.example", "1")
		evs := make([]audit.Event, 8)
		for i := range evs {
			evs[i] = changeEvent(t, tn.ID, "identity.confirm")
		}
		errs := race(len(evs), func(i int) error {
			_, err := f.s.Authn.ConfirmIdentity(f.ctx, tn.ID, id.ConfirmHash, confirmAt, evs[i])
			return err
		})
		oneWinner(t, errs, authn.ErrTicketInvalid)
	}},
	{"of unlinks of a user's last two ways at once, one wins", func(t *testing.T, f *fx) {
		tn := f.createTenant("Unlink race")
		for round := range 4 {
			u, _ := f.activeUser(tn, fmt.Sprintf("round%d@example.com", round))
			u = f.passwordless(u)
			ids := []authn.Identity{f.confirmed(u, "https://i.example", fmt.Sprint(round, "a")), f.confirmed(u, "https://i.example", fmt.Sprint(round, "b"))}
			evs := []audit.Event{changeEvent(t, tn.ID, "identity.unlink"), changeEvent(t, tn.ID, "identity.unlink")}
			errs := race(len(ids), func(i int) error { return f.s.Authn.DeleteIdentity(f.ctx, tn.ID, u.ID, ids[i].ID, true, evs[i]) })
			oneWinner(t, errs, authn.ErrLastSignInMethod)
			list, err := f.s.Authn.Identities(f.ctx, tn.ID, u.ID)
			require.NoError(t, err)
			assert.Len(t, list, 1, "one way to sign in remains")
		}
	}},
}
