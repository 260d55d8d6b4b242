package storetest

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cases of the reseal job's two store methods (authn.Service.ResealSecrets):
// SealedTwoFactors, a cross-tenant walk of the active factors in (tenant, user) byte
// order, and ReplaceTwoFactorSecret, a compare and swap of one sealed secret. The
// group's stores are shared with its other cases, so a walk may meet other cases'
// factors: the checks look at their own tenants' rows, and at the order of all.
var twoFactorResealCases = []testCase{
	{"SealedTwoFactors visits every tenant's active factors exactly once, in order", func(t *testing.T, f *fx) {
		tn := f.createTenant("Reseal walk")
		other := f.createTenant("Reseal walk other")
		want := map[authn.UserRef][]byte{}
		for _, tf := range []tenantFx{tn, other} {
			for _, email := range []string{"ann@example.com", "bob@example.com", "cy@example.com"} {
				u := f.twoFactorUser(tf, email, 7)
				got, err := f.s.Authn.TwoFactor(f.ctx, tf.ID, u.ID)
				require.NoError(t, err)
				want[authn.UserRef{Tenant: tf.ID, User: u.ID}] = got.Sealed
			}
		}
		// Neither a user without a factor nor a pending enrolment is a factor.
		f.activeUser(tn, "none@example.com")
		pendingUser, _ := f.activeUser(other, "pending@example.com")
		require.NoError(t, f.s.Authn.SetTwoFactorEnrolment(f.ctx, enrolmentValue(pendingUser, at(time.Hour)), changeEvent(t, other.ID, "two_factor.start")))

		seen := map[authn.UserRef]int{}
		var all []authn.UserRef
		var after authn.UserRef
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10000, "the walk ends")
			page, err := f.s.Authn.SealedTwoFactors(f.ctx, after, 2)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), 2, "a page holds at most limit factors")
			if len(page) == 0 {
				break
			}
			for _, got := range page {
				ref := authn.UserRef{Tenant: got.Tenant, User: got.User}
				all = append(all, ref)
				if w, ok := want[ref]; ok {
					seen[ref]++
					assert.Equal(t, w, got.Sealed, "the stored sealed secret")
					assert.Equal(t, int64(7), got.LastStep)
				}
			}
			after = all[len(all)-1]
		}
		for ref := range want {
			assert.Equal(t, 1, seen[ref], "factor %v seen once", ref)
		}
		for i := 1; i < len(all); i++ {
			assert.Negative(t, compareRefs(all[i-1], all[i]), "strictly ascending (tenant, user) at %d", i)
		}
		assert.NotContains(t, all, authn.UserRef{Tenant: other.ID, User: pendingUser.ID})

		none, err := f.s.Authn.SealedTwoFactors(f.ctx, authn.UserRef{}, 0)
		require.NoError(t, err)
		assert.Empty(t, none, "limit 0 returns none")
		big, err := f.s.Authn.SealedTwoFactors(f.ctx, authn.UserRef{}, authn.SealedPageMax+5)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(big), authn.SealedPageMax, "the page is bounded")
	}},
	{"ReplaceTwoFactorSecret swaps the sealed secret only while it is still the old one", func(t *testing.T, f *fx) {
		tn := f.createTenant("Reseal swap")
		u := f.twoFactorUser(tn, "ann@example.com", 41)
		neighbour := f.twoFactorUser(tn, "bob@example.com", 3)
		before, err := f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		nb, err := f.s.Authn.TwoFactor(f.ctx, tn.ID, neighbour.ID)
		require.NoError(t, err)
		codes, err := f.s.Authn.RecoveryCodeHashes(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		events := len(f.allEvents(tn.ID))

		resealed := randomSealed()
		require.NoError(t, f.s.Authn.ReplaceTwoFactorSecret(f.ctx, tn.ID, u.ID, before.Sealed, resealed))
		got, err := f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Equal(t, resealed, got.Sealed)
		assert.Equal(t, before.LastStep, got.LastStep, "the last step is kept")
		assertTime(t, before.EnabledAt, got.EnabledAt, "EnabledAt")
		hs, err := f.s.Authn.RecoveryCodeHashes(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.ElementsMatch(t, codes, hs, "the recovery codes are kept")

		// The old value is stale now: a second swap from it is refused, nothing changes.
		err = f.s.Authn.ReplaceTwoFactorSecret(f.ctx, tn.ID, u.ID, before.Sealed, randomSealed())
		assert.ErrorIs(t, err, storage.ErrStale)
		got, err = f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Equal(t, resealed, got.Sealed, "a stale swap changes nothing")

		// Another user's sealed bytes are not this user's old value.
		err = f.s.Authn.ReplaceTwoFactorSecret(f.ctx, tn.ID, u.ID, nb.Sealed, randomSealed())
		assert.ErrorIs(t, err, storage.ErrStale)
		assert.Error(t, f.s.Authn.ReplaceTwoFactorSecret(f.ctx, tn.ID, u.ID, resealed, nil), "an empty sealed secret")
		got, err = f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Equal(t, resealed, got.Sealed)
		after, err := f.s.Authn.TwoFactor(f.ctx, tn.ID, neighbour.ID)
		require.NoError(t, err)
		assert.Equal(t, nb.Sealed, after.Sealed, "the neighbour's factor is untouched")

		err = f.s.Authn.ReplaceTwoFactorSecret(f.ctx, tn.ID, uuid.Must(uuid.NewV7()), resealed, randomSealed())
		assert.ErrorIs(t, err, storage.ErrNotFound, "an unknown user")
		assert.Equal(t, events, len(f.allEvents(tn.ID)), "no event is appended")
	}},
	{"ReplaceTwoFactorSecret never reaches another tenant's factor", func(t *testing.T, f *fx) {
		tn := f.createTenant("Reseal isolation")
		other := f.createTenant("Reseal isolation other")
		u := f.twoFactorUser(tn, "ann@example.com", 5)
		theirs, err := f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)

		// The right user and the right old bytes, under another tenant's ID.
		err = f.s.Authn.ReplaceTwoFactorSecret(f.ctx, other.ID, u.ID, theirs.Sealed, randomSealed())
		assert.ErrorIs(t, err, storage.ErrNotFound)
		err = f.s.Authn.ReplaceTwoFactorSecret(f.ctx, uuid.Must(uuid.NewV7()), u.ID, theirs.Sealed, randomSealed())
		assert.ErrorIs(t, err, storage.ErrNotFound, "an unknown tenant")
		got, err := f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Equal(t, theirs.Sealed, got.Sealed, "unchanged")
		_, err = f.s.Authn.TwoFactor(f.ctx, other.ID, u.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "no factor appeared in the other tenant")
	}},
	{"a factor removed during a walk is skipped, and its swap is not found", func(t *testing.T, f *fx) {
		tn := f.createTenant("Reseal removed")
		var users []authn.User
		for _, email := range []string{"ann@example.com", "bob@example.com", "cy@example.com", "di@example.com"} {
			users = append(users, f.twoFactorUser(tn, email, 1))
		}
		mine := func(ref authn.UserRef) bool { return ref.Tenant == tn.ID }
		// Start just before the tenant's first factor: (tn, nil) sorts before its users.
		after := authn.UserRef{Tenant: tn.ID}
		first, err := f.s.Authn.SealedTwoFactors(f.ctx, after, 1)
		require.NoError(t, err)
		require.Len(t, first, 1)
		require.Equal(t, tn.ID, first[0].Tenant)

		// Turn off every other factor of the tenant after the first, mid-walk.
		var removed []authn.TwoFactor
		for _, u := range users {
			if u.ID == first[0].User {
				continue
			}
			if len(removed) < 2 {
				tf, err := f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
				require.NoError(t, err)
				require.NoError(t, f.s.Authn.DisableTwoFactor(f.ctx, tn.ID, u.ID, changeEvent(t, tn.ID, "two_factor.disable")))
				removed = append(removed, tf)
			}
		}
		seen := map[uuid.UUID]bool{first[0].User: true}
		after = authn.UserRef{Tenant: first[0].Tenant, User: first[0].User}
		for {
			page, err := f.s.Authn.SealedTwoFactors(f.ctx, after, 1)
			require.NoError(t, err, "a removed row is no error")
			if len(page) == 0 || !mine(authn.UserRef{Tenant: page[0].Tenant}) {
				break
			}
			seen[page[0].User] = true
			after = authn.UserRef{Tenant: page[0].Tenant, User: page[0].User}
		}
		assert.Len(t, seen, len(users)-len(removed), "the walk met the factors still on")
		for _, r := range removed {
			assert.False(t, seen[r.User], "a removed factor is not returned")
			err := f.s.Authn.ReplaceTwoFactorSecret(f.ctx, tn.ID, r.User, r.Sealed, randomSealed())
			assert.ErrorIs(t, err, storage.ErrNotFound)
		}
	}},
}

// randomSealed returns random bytes of a sealed secret's length.
func randomSealed() []byte {
	b := make([]byte, 53)
	_, _ = rand.Read(b)
	return b
}

// compareRefs orders user references as the walk does: tenant, then user, as bytes.
func compareRefs(a, b authn.UserRef) int {
	if c := bytes.Compare(a.Tenant[:], b.Tenant[:]); c != 0 {
		return c
	}
	return bytes.Compare(a.User[:], b.User[:])
}

// The reseal job's identity-token methods: SealedIdentityTokens, the walk of every
// tenant's identities that hold a sealed provider token, in (tenant, ID) byte order,
// and ReplaceIdentityToken, a compare and swap of one sealed token.
var identityResealCases = []testCase{
	{"SealedIdentityTokens visits every tenant's sealed tokens exactly once, in order", func(t *testing.T, f *fx) {
		tn := f.createTenant("Token walk")
		other := f.createTenant("Token walk other")
		want := map[authn.IdentityRef][]byte{}
		var bare authn.IdentityRef
		for _, tf := range []tenantFx{tn, other} {
			u, _ := f.activeUser(tf, "ann@example.com")
			for i, sub := range []string{"a", "b", "c"} {
				id := f.confirmed(u, "https://i.example", sub)
				ref := authn.IdentityRef{Tenant: tf.ID, ID: id.ID}
				if i == 2 {
					bare = ref // an identity without a token is not walked
					continue
				}
				sealed := randomSealed()
				require.NoError(t, f.s.Authn.SetIdentityToken(f.ctx, tf.ID, u.ID, id.ID, sealed, changeEvent(t, tf.ID, "identity.token")))
				want[ref] = sealed
			}
			// A pending identity created with a token holds one too.
			p := identityValue(u, "https://i.example", "pending")
			p.SealedToken = randomSealed()
			require.NoError(t, f.s.Authn.CreateIdentity(f.ctx, p, linkedAt, changeEvent(t, tf.ID, "identity.link")))
			want[authn.IdentityRef{Tenant: tf.ID, ID: p.ID}] = p.SealedToken
		}
		seen := map[authn.IdentityRef]int{}
		var all []authn.IdentityRef
		var after authn.IdentityRef
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10000, "the walk ends")
			page, err := f.s.Authn.SealedIdentityTokens(f.ctx, after, 3)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), 3)
			if len(page) == 0 {
				break
			}
			for _, got := range page {
				ref := authn.IdentityRef{Tenant: got.Tenant, ID: got.ID}
				all = append(all, ref)
				assert.NotEmpty(t, got.SealedToken, "only identities with a token")
				if w, ok := want[ref]; ok {
					seen[ref]++
					assert.Equal(t, w, got.SealedToken)
				}
			}
			after = all[len(all)-1]
		}
		for ref := range want {
			assert.Equal(t, 1, seen[ref], "identity %v seen once", ref)
		}
		assert.NotContains(t, all, bare)
		for i := 1; i < len(all); i++ {
			assert.Negative(t, compareRefs(authn.UserRef{Tenant: all[i-1].Tenant, User: all[i-1].ID},
				authn.UserRef{Tenant: all[i].Tenant, User: all[i].ID}), "strictly ascending (tenant, ID) at %d", i)
		}
		none, err := f.s.Authn.SealedIdentityTokens(f.ctx, authn.IdentityRef{}, 0)
		require.NoError(t, err)
		assert.Empty(t, none, "limit 0 returns none")
	}},
	{"ReplaceIdentityToken swaps only the stored old token, of its own tenant", func(t *testing.T, f *fx) {
		tn := f.createTenant("Token swap")
		other := f.createTenant("Token swap other")
		u, _ := f.activeUser(tn, "ann@example.com")
		id := f.confirmed(u, "https://i.example", "a")
		bare := f.confirmed(u, "https://i.example", "b")
		old := randomSealed()
		require.NoError(t, f.s.Authn.SetIdentityToken(f.ctx, tn.ID, u.ID, id.ID, old, changeEvent(t, tn.ID, "identity.token")))
		events := len(f.allEvents(tn.ID))
		read := func() []byte {
			got, err := f.s.Authn.Identity(f.ctx, tn.ID, id.ID)
			require.NoError(t, err)
			assert.Equal(t, authn.IdentityActive, got.Status, "nothing else changes")
			return got.SealedToken
		}

		// Another tenant's ID with the right identity and old bytes reaches nothing.
		assert.ErrorIs(t, f.s.Authn.ReplaceIdentityToken(f.ctx, other.ID, id.ID, old, randomSealed()), storage.ErrNotFound)
		assert.Equal(t, old, read())

		resealed := randomSealed()
		require.NoError(t, f.s.Authn.ReplaceIdentityToken(f.ctx, tn.ID, id.ID, old, resealed))
		assert.Equal(t, resealed, read())
		assert.ErrorIs(t, f.s.Authn.ReplaceIdentityToken(f.ctx, tn.ID, id.ID, old, randomSealed()), storage.ErrStale, "the old token is stale")
		assert.Equal(t, resealed, read())
		assert.ErrorIs(t, f.s.Authn.ReplaceIdentityToken(f.ctx, tn.ID, bare.ID, nil, randomSealed()), storage.ErrStale, "no token to replace")
		assert.Error(t, f.s.Authn.ReplaceIdentityToken(f.ctx, tn.ID, id.ID, resealed, nil), "an empty sealed token")
		assert.Equal(t, resealed, read())

		// An identity unlinked mid-run is not found.
		require.NoError(t, f.unlink(id, false))
		assert.ErrorIs(t, f.s.Authn.ReplaceIdentityToken(f.ctx, tn.ID, id.ID, resealed, randomSealed()), storage.ErrNotFound)
		page, err := f.s.Authn.SealedIdentityTokens(f.ctx, authn.IdentityRef{Tenant: tn.ID}, authn.SealedPageMax)
		require.NoError(t, err)
		for _, got := range page {
			assert.NotEqual(t, id.ID, got.ID, "an unlinked identity is not walked")
		}
		assert.Equal(t, events+1, len(f.allEvents(tn.ID)), "only the unlink appended an event")
	}},
}
