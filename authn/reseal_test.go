package authn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/authn/totp"
	"github.com/callshield/callshield/storage"
	"github.com/callshield/callshield/storage/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The sealer keys of the rotation tests: key 1 is newTFEnv's.
var (
	resealKey1 = bytes.Repeat([]byte{7}, totp.SealKeyBytes)
	resealKey2 = bytes.Repeat([]byte{9}, totp.SealKeyBytes)
)

// ringOf returns a TOTP sealer over the named keys of resealKey1 and resealKey2.
func ringOf(t *testing.T, current uint32, ids ...uint32) *totp.Sealer {
	t.Helper()
	keys := map[uint32][]byte{}
	for _, id := range ids {
		keys[id] = map[uint32][]byte{1: resealKey1, 2: resealKey2}[id]
	}
	sl, err := totp.NewSealer(keys, current)
	require.NoError(t, err)
	return sl
}

// serviceWith is a Service over e's store and clock with these sealers, as an instance
// of the deployment after a key change would be.
func serviceWith(t *testing.T, e *env, sl *totp.Sealer, tokens authn.TokenSealer) *authn.Service {
	t.Helper()
	svc, err := authn.NewService(e.store, e.engine, authn.Options{
		Mailer:          e.outbox,
		LinkURL:         func(p authn.Purpose, tok authn.LinkToken) string { return "https://app.example/#" + tok.Reveal() },
		Hasher:          fastHasher(),
		Audit:           audit.NewRecorder(e.store, audit.Options{Clock: e.clock.Now}),
		Clock:           e.clock.Now,
		TwoFactorSealer: sl,
		Identity:        authn.IdentityOptions{TokenSealer: tokens},
	})
	require.NoError(t, err)
	return svc
}

// enrolSecret turns two-factor on for u through svc and returns the secret their app
// holds. It reports failures as errors (no require), so that racers can call it.
func enrolSecret(ctx context.Context, svc *authn.Service, u authn.User, now time.Time) (totp.Secret, error) {
	res, err := svc.SignIn(ctx, u.Tenant, u.Email, authn.NewPassword(goodPassword), tfMeta)
	if err != nil {
		return totp.Secret{}, err
	}
	if res.Session == nil {
		return totp.Secret{}, fmt.Errorf("sign-in of %s owes a second factor", u.Email)
	}
	actor := access.Subject{Tenant: u.Tenant, User: u.ID, Session: res.Session.ID, IP: tfMeta.IP, UserAgent: tfMeta.UserAgent}
	setup, err := svc.StartTwoFactor(ctx, actor)
	if err != nil {
		return totp.Secret{}, err
	}
	_, err = svc.ConfirmTwoFactor(ctx, actor, totp.Code(setup.Key.Secret(), now, totp.Config{}))
	return setup.Key.Secret(), err
}

// signInWithCode signs u in through svc with the password and the code of secret now.
func signInWithCode(ctx context.Context, svc *authn.Service, u authn.User, secret totp.Secret, now time.Time) error {
	res, err := svc.SignIn(ctx, u.Tenant, u.Email, authn.NewPassword(goodPassword), tfMeta)
	if err != nil {
		return err
	}
	if res.Pending == nil {
		return fmt.Errorf("sign-in of %s owes no second factor", u.Email)
	}
	_, err = svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, totp.Code(secret, now, totp.Config{}), tfMeta)
	return err
}

// storedKeyIDs returns the key ID of each user's stored sealed secret.
func storedKeyIDs(t *testing.T, e *env, users ...authn.User) []uint32 {
	t.Helper()
	var ids []uint32
	for _, u := range users {
		f, err := e.store.TwoFactor(context.Background(), u.Tenant, u.ID)
		require.NoError(t, err)
		id, ok := totp.KeyID(f.Sealed)
		require.True(t, ok)
		ids = append(ids, id)
	}
	return ids
}

// resealEvents returns the tenant's reseal events.
func resealEvents(t *testing.T, e *env) []audit.Event {
	t.Helper()
	var out []audit.Event
	for _, ev := range e.events(t, audit.KindChange) {
		if ev.Action == "secrets.reseal" {
			out = append(out, ev)
		}
	}
	return out
}

// The rotation the Sealer's keyring is for: users enrolled under key 1; key 2 made
// current; the job reseals; then a deployment whose ring holds key 2 alone signs them
// in with their codes, which it could not before the job.
func TestResealSecretsRetiresTheOldKey(t *testing.T) {
	ctx := context.Background()
	e := newTFEnv(t) // its sealer is key 1 alone
	ann := e.onboard(t, "ann@example.com", access.KindAgent)
	bob := e.onboard(t, "bob@example.com", access.KindSupervisor)
	cy := e.onboard(t, "cy@example.com", access.KindAgent) // no second factor
	annB32, _, _ := e.enrol(t, ann)                        // the codes of oathtool, as the user's app shows
	bobB32, _, _ := e.enrol(t, bob)
	annSecret, err := totp.ParseSecret(annB32)
	require.NoError(t, err)
	bobSecret, err := totp.ParseSecret(bobB32)
	require.NoError(t, err)
	assert.Equal(t, []uint32{1, 1}, storedKeyIDs(t, e.env, ann, bob))

	rotated := serviceWith(t, e.env, ringOf(t, 2, 1, 2), nil)
	only2 := serviceWith(t, e.env, ringOf(t, 2, 2), nil)

	// Before the job: key 2 alone opens nothing of theirs, and fails closed.
	e.clock.Advance(time.Minute)
	err = signInWithCode(ctx, only2, ann, annSecret, e.clock.Now())
	require.Error(t, err)
	assert.ErrorIs(t, err, totp.ErrSealedUnknownKey)
	assert.NotErrorIs(t, err, authn.ErrInvalidCredentials, "not the user's mistake")

	// A sign-in under the rotated ring still works meanwhile (key 1 is in it).
	require.NoError(t, signInWithCode(ctx, rotated, bob, bobSecret, e.clock.Now()))

	rep, err := rotated.ResealSecrets(ctx, authn.ResealOptions{Batch: 1}) // one factor a page
	require.NoError(t, err)
	assert.Equal(t, 2, rep.TwoFactor.Resealed)
	assert.Zero(t, rep.TwoFactor.Current)
	assert.Zero(t, rep.TwoFactor.Skipped)
	assert.Empty(t, rep.TwoFactor.Failed)
	assert.Equal(t, map[uint32]int{1: 2}, rep.TwoFactor.NotCurrent)
	assert.False(t, rep.Done(), "this run found values under key 1")
	assert.Equal(t, []uint32{2, 2}, storedKeyIDs(t, e.env, ann, bob))
	_, err = e.store.TwoFactor(ctx, cy.Tenant, cy.ID)
	assert.Error(t, err, "cy has still no factor")

	// Idempotent: a second run reseals nothing and says the old key holds nothing.
	again, err := rotated.ResealSecrets(ctx, authn.ResealOptions{})
	require.NoError(t, err)
	assert.Zero(t, again.TwoFactor.Resealed)
	assert.Equal(t, 2, again.TwoFactor.Current)
	assert.True(t, again.Done())

	// Key 1 removed: both sign in with their apps' codes, and replay protection held
	// (the job kept the last used step).
	e.clock.Advance(time.Minute)
	require.NoError(t, signInWithCode(ctx, only2, ann, annSecret, e.clock.Now()))
	require.NoError(t, signInWithCode(ctx, only2, bob, bobSecret, e.clock.Now()))
	assert.ErrorIs(t, signInWithCode(ctx, only2, bob, bobSecret, e.clock.Now()), authn.ErrInvalidCredentials, "the step was used")
	res := e.signIn(t, ann)
	require.NotNil(t, res.Pending)
	_, err = e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP,
		oathtoolCode(t, annB32, e.clock.Now().Add(time.Minute)), tfMeta)
	assert.ErrorIs(t, err, totp.ErrSealedUnknownKey, "the key-1-only deployment can no longer open it")

	// One event for the run that changed something, none for the idle run.
	evs := resealEvents(t, e.env)
	require.Len(t, evs, 1)
	ev := evs[0]
	assert.Equal(t, "system", ev.Actor.Role)
	assert.Equal(t, audit.Success, ev.Outcome)
	assert.Equal(t, map[string]string{"two_factor_resealed": "2", "two_factor_skipped": "0", "two_factor_failed": "0",
		"two_factor_key_1": "2"}, ev.Details)
}

// A value that no key of the ring opens (sealed under a key that is gone, or changed in
// the database) is reported by user and count, and the others are resealed.
func TestResealSecretsReportsWhatNoKeyOpens(t *testing.T) {
	ctx := context.Background()
	e := newTFEnv(t)
	users := []authn.User{
		e.onboard(t, "ann@example.com", access.KindAgent),
		e.onboard(t, "bob@example.com", access.KindAgent),
		e.onboard(t, "cy@example.com", access.KindAgent),
	}
	secrets := make([]totp.Secret, len(users))
	for i, u := range users {
		b32, _, _ := e.enrol(t, u)
		var err error
		secrets[i], err = totp.ParseSecret(b32)
		require.NoError(t, err)
	}
	// bob's secret sealed under key 5, which no ring holds; cy's sealed bytes changed.
	aad, err := totp.BindAAD(users[1].Tenant, users[1].ID, totp.Config{})
	require.NoError(t, err)
	gone, err := totp.NewSealer(map[uint32][]byte{5: bytes.Repeat([]byte{5}, totp.SealKeyBytes)}, 5)
	require.NoError(t, err)
	under5, err := gone.Seal(secrets[1], aad)
	require.NoError(t, err)
	bobF, err := e.store.TwoFactor(ctx, users[1].Tenant, users[1].ID)
	require.NoError(t, err)
	require.NoError(t, e.store.ReplaceTwoFactorSecret(ctx, users[1].Tenant, users[1].ID, bobF.Sealed, under5))
	cyF, err := e.store.TwoFactor(ctx, users[2].Tenant, users[2].ID)
	require.NoError(t, err)
	tampered := bytes.Clone(cyF.Sealed)
	tampered[len(tampered)-1] ^= 1
	require.NoError(t, e.store.ReplaceTwoFactorSecret(ctx, users[2].Tenant, users[2].ID, cyF.Sealed, tampered))

	rotated := serviceWith(t, e.env, ringOf(t, 2, 1, 2), nil)
	rep, err := rotated.ResealSecrets(ctx, authn.ResealOptions{})
	require.NoError(t, err, "a value that does not open is not fatal")
	assert.Equal(t, 1, rep.TwoFactor.Resealed, "ann's")
	assert.ElementsMatch(t, []authn.UserRef{{Tenant: users[1].Tenant, User: users[1].ID}, {Tenant: users[2].Tenant, User: users[2].ID}},
		rep.TwoFactor.Failed)
	assert.Equal(t, map[uint32]int{1: 2, 5: 1}, rep.TwoFactor.NotCurrent)
	assert.Equal(t, []uint32{2, 5, 1}, storedKeyIDs(t, e.env, users...), "failed values are left as they are")
	assert.Equal(t, tampered, mustFactor(t, e.env, users[2]).Sealed)

	// The next run still finds them, and the operator knows the old key is not free.
	again, err := rotated.ResealSecrets(ctx, authn.ResealOptions{})
	require.NoError(t, err)
	assert.Len(t, again.TwoFactor.Failed, 2)
	assert.False(t, again.Done())
	evs := resealEvents(t, e.env)
	require.Len(t, evs, 2)
	for _, ev := range evs {
		assert.Equal(t, audit.Failure, ev.Outcome)
		assert.Equal(t, "2", ev.Details["two_factor_failed"])
	}
}

func mustFactor(t *testing.T, e *env, u authn.User) authn.TwoFactor {
	t.Helper()
	f, err := e.store.TwoFactor(context.Background(), u.Tenant, u.ID)
	require.NoError(t, err)
	return f
}

// The job runs while users sign in, and while an administrator turns factors off and
// the users enrol again (under the current key): a factor changed between the job's
// read and write is skipped, never overwritten with the old secret. Run with -race.
func TestResealSecretsRacesSignInsAndReenrolment(t *testing.T) {
	ctx := context.Background()
	e := newTFEnv(t)
	const n = 8
	users := make([]authn.User, n)
	secrets := make([]totp.Secret, n)
	for i := range users {
		users[i] = e.onboard(t, fmt.Sprintf("user%d@example.com", i), access.KindAgent)
		var err error
		secrets[i], err = enrolSecret(ctx, e.svc, users[i], e.clock.Now())
		require.NoError(t, err)
	}
	e.clock.Advance(time.Minute)
	rotated := serviceWith(t, e.env, ringOf(t, 2, 1, 2), nil)

	var mu sync.Mutex
	var rep authn.ResealReport
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	start := make(chan struct{})
	wg.Go(func() {
		<-start
		r, err := rotated.ResealSecrets(ctx, authn.ResealOptions{Batch: 2})
		mu.Lock()
		rep, errs[n] = r, err
		mu.Unlock()
	})
	for i, u := range users {
		wg.Go(func() {
			<-start
			if i%2 == 0 { // signs in with a code, under the rotated ring
				errs[i] = signInWithCode(ctx, rotated, u, secrets[i], e.clock.Now())
				return
			}
			// turned off by an administrator, then enrolled again by the user
			if err := rotated.DisableTwoFactor(ctx, e.admin, u.ID); err != nil {
				errs[i] = err
				return
			}
			s, err := enrolSecret(ctx, rotated, u, e.clock.Now())
			mu.Lock()
			secrets[i] = s
			mu.Unlock()
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "racer %d", i)
	}
	assert.Empty(t, rep.TwoFactor.Failed)
	assert.LessOrEqual(t, rep.TwoFactor.Resealed+rep.TwoFactor.Skipped, n)
	assert.GreaterOrEqual(t, rep.TwoFactor.Resealed, n/2, "the signing-in users' factors are not changed by anyone else")

	// Whatever the interleaving, nothing is left under key 1, and key 2 alone opens
	// every user's current secret, new or resealed.
	again, err := rotated.ResealSecrets(ctx, authn.ResealOptions{})
	require.NoError(t, err)
	assert.True(t, again.Done(), "nothing under key 1 after one run: %+v", again.TwoFactor)
	assert.Equal(t, n, again.TwoFactor.Current)
	only2 := serviceWith(t, e.env, ringOf(t, 2, 2), nil)
	e.clock.Advance(time.Minute)
	for i, u := range users {
		assert.NoError(t, signInWithCode(ctx, only2, u, secrets[i], e.clock.Now()), "user %d", i)
	}
}

// Linked identities' provider tokens rotate the same way: a token sealed under key 1 is
// resealed under key 2 with its identity's associated data, and a key-2-only
// deployment then returns it.
func TestResealSecretsRotatesProviderTokens(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t) // its token sealer is one key, ID 1
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	s := e.session(u)
	e.op.SetUser(ann)
	e.op.SetRefreshTokens(true)
	_, err := e.link(t, s, "corp")
	require.NoError(t, err)
	confirmed := e.confirm(t, "ann@example.com")
	tok, err := e.svc.IdentityToken(ctx, s, confirmed.ID)
	require.NoError(t, err)

	k1 := []byte("0123456789abcdef0123456789abcdef")
	k2 := bytes.Repeat([]byte{3}, 32)
	both, err := authn.NewTokenSealer(map[uint32][]byte{1: k1, 2: k2}, 2)
	require.NoError(t, err)
	alone, err := authn.NewTokenSealer(map[uint32][]byte{2: k2}, 2)
	require.NoError(t, err)
	rotated := serviceWith(t, e.env, nil, both)
	only2 := serviceWith(t, e.env, nil, alone)

	_, err = only2.IdentityToken(ctx, s, confirmed.ID)
	assert.ErrorIs(t, err, authn.ErrSealedToken, "key 2 alone cannot open it before the job")

	rep, err := rotated.ResealSecrets(ctx, authn.ResealOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Tokens.Resealed)
	assert.Equal(t, map[uint32]int{1: 1}, rep.Tokens.NotCurrent)
	assert.Zero(t, rep.TwoFactor, "no TOTP sealer, no TOTP walk")
	got, err := only2.IdentityToken(ctx, s, confirmed.ID)
	require.NoError(t, err)
	assert.Equal(t, tok.Reveal(), got.Reveal())
	again, err := rotated.ResealSecrets(ctx, authn.ResealOptions{})
	require.NoError(t, err)
	assert.True(t, again.Done())
	assert.Equal(t, 1, again.Tokens.Current)

	evs := resealEvents(t, e.env)
	require.Len(t, evs, 1)
	assert.Equal(t, "1", evs[0].Details["token_resealed"])
	assert.Equal(t, "1", evs[0].Details["token_key_1"])
	assert.NotContains(t, evs[0].Details, "two_factor_resealed")
}

// No TOTP secret, provider token or sealer key reaches the reseal events, the report
// or the errors of a run, of the sign-ins that fail before it, or of the values it
// cannot open.
func TestResealSecretsLeaksNoSecret(t *testing.T) {
	ctx := context.Background()
	e := newTFEnv(t)
	ann := e.onboard(t, "ann@example.com", access.KindAgent)
	bob := e.onboard(t, "bob@example.com", access.KindAgent)
	annB32, _, _ := e.enrol(t, ann)
	bobB32, _, _ := e.enrol(t, bob)
	annSecret, err := totp.ParseSecret(annB32)
	require.NoError(t, err)
	bobF := mustFactor(t, e.env, bob)
	tampered := bytes.Clone(bobF.Sealed)
	tampered[len(tampered)-1] ^= 1
	require.NoError(t, e.store.ReplaceTwoFactorSecret(ctx, bob.Tenant, bob.ID, bobF.Sealed, tampered))

	var errs []error
	only2 := serviceWith(t, e.env, ringOf(t, 2, 2), nil)
	e.clock.Advance(time.Minute)
	errs = append(errs, signInWithCode(ctx, only2, ann, annSecret, e.clock.Now()))
	rotated := serviceWith(t, e.env, ringOf(t, 2, 1, 2), nil)
	rep, err := rotated.ResealSecrets(ctx, authn.ResealOptions{})
	errs = append(errs, err)
	require.Len(t, rep.TwoFactor.Failed, 1)
	errs = append(errs, signInWithCode(ctx, only2, bob, annSecret, e.clock.Now())) // bob's does not open

	var needles []string
	for _, b32 := range []string{annB32, bobB32} {
		s, err := totp.ParseSecret(b32)
		require.NoError(t, err)
		needles = append(needles, b32, strings.ToLower(b32), string(s.Bytes()), fmt.Sprintf("%x", s.Bytes()))
	}
	for _, k := range [][]byte{resealKey1, resealKey2} {
		needles = append(needles, string(k), fmt.Sprintf("%x", k))
	}
	var haystacks []string
	for _, ev := range e.events(t, "") {
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		haystacks = append(haystacks, "event "+ev.Action+": "+string(b)+fmt.Sprintf("%+v", ev))
	}
	require.Len(t, resealEvents(t, e.env), 1)
	js, err := json.Marshal(rep)
	require.NoError(t, err)
	haystacks = append(haystacks, "report: "+string(js)+fmt.Sprintf("%+v %#v", rep, rep),
		fmt.Sprintf("sealers: %v %+v %#v", ringOf(t, 2, 1, 2), ringOf(t, 2, 1, 2), ringOf(t, 2, 2)))
	for _, err := range errs {
		if err != nil {
			haystacks = append(haystacks, "error: "+err.Error())
		}
	}
	require.GreaterOrEqual(t, len(errs), 2)
	for _, h := range haystacks {
		for _, n := range needles {
			if strings.Contains(h, n) {
				t.Errorf("secret %x found in %.80s…", n[:min(len(n), 6)], h)
			}
		}
	}
}

// interleaved is the memory store with a hook run once, right after the first page of
// the reseal walk is read: what another instance might do between the job's read and
// its write.
type interleaved struct {
	*memory.Store
	once  sync.Once
	after func()
}

func (s *interleaved) SealedTwoFactors(ctx context.Context, after authn.UserRef, limit int) ([]authn.TwoFactor, error) {
	page, err := s.Store.SealedTwoFactors(ctx, after, limit)
	s.once.Do(s.after)
	return page, err
}

// The compare and swap, deterministically: a factor turned off, or turned off and
// enrolled again, after the job read it is skipped, and the job never writes the old
// secret back over the new one.
func TestResealSecretsSkipsAFactorChangedAfterItsRead(t *testing.T) {
	ctx := context.Background()
	e := newTFEnv(t)
	ann := e.onboard(t, "ann@example.com", access.KindAgent)
	bob := e.onboard(t, "bob@example.com", access.KindAgent)
	cy := e.onboard(t, "cy@example.com", access.KindAgent)
	for _, u := range []authn.User{ann, bob, cy} {
		_, err := enrolSecret(ctx, e.svc, u, e.clock.Now())
		require.NoError(t, err)
	}
	cySecret := mustFactor(t, e.env, cy)
	rotated := serviceWith(t, e.env, ringOf(t, 2, 1, 2), nil)
	var annNew totp.Secret
	var hookErr error
	st := &interleaved{Store: e.store, after: func() {
		// bob turns two-factor off; ann turns it off and enrols again (under key 2).
		hookErr = errors.Join(rotated.DisableTwoFactor(ctx, e.admin, bob.ID), rotated.DisableTwoFactor(ctx, e.admin, ann.ID))
		var err error
		annNew, err = enrolSecret(ctx, rotated, ann, e.clock.Now())
		hookErr = errors.Join(hookErr, err)
	}}
	job, err := authn.NewService(st, e.engine, authn.Options{Hasher: fastHasher(), Clock: e.clock.Now, Mailer: e.outbox,
		LinkURL: func(p authn.Purpose, tok authn.LinkToken) string { return "https://app.example/#" + tok.Reveal() },
		Audit:   audit.NewRecorder(e.store, audit.Options{Clock: e.clock.Now}), TwoFactorSealer: ringOf(t, 2, 1, 2)})
	require.NoError(t, err)

	rep, err := job.ResealSecrets(ctx, authn.ResealOptions{})
	require.NoError(t, err)
	require.NoError(t, hookErr)
	assert.Equal(t, 1, rep.TwoFactor.Resealed, "cy's")
	assert.Equal(t, 2, rep.TwoFactor.Skipped, "ann's and bob's changed after the read")
	assert.Empty(t, rep.TwoFactor.Failed)
	assert.NotEqual(t, cySecret.Sealed, mustFactor(t, e.env, cy).Sealed)
	_, err = e.store.TwoFactor(ctx, bob.Tenant, bob.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "bob's factor stays off")

	// ann's new secret is the stored one: key 2 alone signs her in with it.
	only2 := serviceWith(t, e.env, ringOf(t, 2, 2), nil)
	e.clock.Advance(time.Minute)
	assert.NoError(t, signInWithCode(ctx, only2, ann, annNew, e.clock.Now()))
	evs := resealEvents(t, e.env)
	require.Len(t, evs, 1)
	assert.Equal(t, "2", evs[0].Details["two_factor_skipped"])
}
