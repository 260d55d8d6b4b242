package authn_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage/memory"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ip(s string) authn.Meta { return authn.Meta{IP: netip.MustParseAddr(s)} }

func (e *env) try(email, pw string, m authn.Meta) error {
	_, err := e.svc.SignIn(context.Background(), e.tenant.ID, email, authn.NewPassword(pw), m)
	return err
}

func (e *env) loginReasons(t *testing.T) []string {
	var out []string
	for _, ev := range e.events(t, audit.KindLogin) {
		out = append(out, ev.Reason)
	}
	return out
}

// 6.3.1: T consecutive failures lock the account for D; the lock lifts by itself; a
// locked account answers exactly as a wrong password does.
func TestThrottleLocksAccount(t *testing.T) {
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	addrs := []authn.Meta{ip("198.51.100.1"), ip("198.51.100.2"), ip("198.51.100.3")}
	for i := 0; i < authn.DefaultLockThreshold; i++ {
		e.clock.Advance(time.Minute) // past every escalating delay
		assert.ErrorIs(t, e.try("ann@example.com", "wrong password "+fmt.Sprint(i), addrs[i%3]), authn.ErrInvalidCredentials)
	}
	e.clock.Advance(time.Minute)
	wrong := e.try("ann@example.com", "yet another wrong one", ip("203.0.113.50"))
	locked := e.try("ann@example.com", goodPassword, ip("203.0.113.51"))
	assert.ErrorIs(t, locked, authn.ErrInvalidCredentials, "the right password of a locked account")
	assert.Equal(t, wrong, locked, "the same error value as a wrong password")
	assert.Equal(t, wrong.Error(), locked.Error())
	reasons := e.loginReasons(t)
	assert.Equal(t, "locked", reasons[len(reasons)-1], "the login log records the real reason")

	l, err := e.svc.LockStatus(context.Background(), e.admin, e.userID(t, "ann@example.com"))
	require.NoError(t, err)
	assert.True(t, l.Locked)
	assert.Equal(t, authn.DefaultLockThreshold, l.FirstFactorFailures)

	e.clock.Advance(authn.DefaultLockDuration)
	assert.NoError(t, e.try("ann@example.com", goodPassword, ip("203.0.113.51")), "the lock lifted by itself")
	l, err = e.svc.LockStatus(context.Background(), e.admin, e.userID(t, "ann@example.com"))
	require.NoError(t, err)
	assert.False(t, l.Locked)
	assert.Zero(t, l.FirstFactorFailures, "a success resets the count")
}

func (e *env) userID(t *testing.T, email string) uuid.UUID {
	t.Helper()
	us, err := e.svc.Users(context.Background(), e.admin)
	require.NoError(t, err)
	for _, u := range us {
		if u.Email == email {
			return u.ID
		}
	}
	t.Fatalf("no user %s", email)
	return uuid.Nil
}

// The rule that keeps a victim from being locked out: one address, however many
// attempts it makes over hours, never locks the account; the victim signs in from
// their own address throughout.
func TestThrottleOneAddressCannotLockVictim(t *testing.T) {
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	attacker, victim := ip("203.0.113.66"), ip("198.51.100.7")
	for i := 0; i < 2*60*6; i++ { // two hours, every ten seconds
		e.clock.Advance(10 * time.Second)
		assert.ErrorIs(t, e.try("ann@example.com", "guess "+fmt.Sprint(i), attacker), authn.ErrInvalidCredentials)
		if i%60 == 59 {
			require.NoError(t, e.try("ann@example.com", goodPassword, victim), "the victim signs in after %d attacker attempts", i+1)
		}
	}
	reasons := e.loginReasons(t)
	counted := 0
	for _, r := range reasons {
		if r == "wrong_password" {
			counted++
		}
	}
	assert.Contains(t, reasons, "address_locked", "the attacker's address got locked")
	assert.NotContains(t, reasons, "locked", "the account never was")
	assert.Less(t, counted, 100, "most attempts were refused without trying the password (%d tried)", counted)
}

// After two failures from one address the next attempt waits 1 s, then 2 s, ...;
// an IPv6 client is counted by its /64.
func TestThrottleEscalatingDelayAndIPv6(t *testing.T) {
	e := newEnv(t)
	e.onboard(t, "ann@example.com", access.KindAgent)
	a, b := ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff::9") // one /64
	assert.ErrorIs(t, e.try("ann@example.com", "wrong password one", a), authn.ErrInvalidCredentials)
	assert.ErrorIs(t, e.try("ann@example.com", "wrong password two", b), authn.ErrInvalidCredentials)
	assert.ErrorIs(t, e.try("ann@example.com", goodPassword, a), authn.ErrInvalidCredentials, "within 1 s of the second failure of this /64")
	assert.NoError(t, e.try("ann@example.com", goodPassword, ip("2001:db8:1:3::1")), "another /64 is not delayed")
	// The success reset the account but not this /64's pair.
	// The refused attempt counted against this /64 too (a third failure): 2 s now.
	e.clock.Advance(1100 * time.Millisecond)
	assert.ErrorIs(t, e.try("ann@example.com", goodPassword, a), authn.ErrInvalidCredentials, "hammering extends the delay")
	e.clock.Advance(4100 * time.Millisecond)
	assert.NoError(t, e.try("ann@example.com", goodPassword, a), "after the delay")
	reasons := e.loginReasons(t)
	assert.Contains(t, reasons, "throttled")
}

// An administrator unlocks an account (audited); others may not.
func TestUnlock(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	agent := e.onboard(t, "bob@example.com", access.KindAgent)
	for i := 0; i < authn.DefaultLockThreshold; i++ {
		e.clock.Advance(time.Minute)
		_ = e.try("ann@example.com", "wrong password "+fmt.Sprint(i), ip(fmt.Sprintf("198.51.100.%d", i%3+1)))
	}
	assert.ErrorIs(t, e.try("ann@example.com", goodPassword, ip("198.51.100.9")), authn.ErrInvalidCredentials)
	assert.ErrorIs(t, e.svc.Unlock(ctx, e.subject(agent), u.ID), authn.ErrForbidden)
	require.NoError(t, e.svc.Unlock(ctx, e.admin, u.ID))
	assert.NoError(t, e.try("ann@example.com", goodPassword, ip("198.51.100.1")), "unlocked, also from an address that had its own count")
	var unlocks []audit.Event
	for _, ev := range e.events(t, audit.KindChange) {
		if ev.Action == "user.unlock" {
			unlocks = append(unlocks, ev)
		}
	}
	require.Len(t, unlocks, 1)
	assert.Equal(t, e.admin.User, unlocks[0].Actor.User)
	assert.Equal(t, u.ID.String(), unlocks[0].Target.ID)
}

// First and second factors keep separate counts: a locked password does not lock the
// second factor and vice versa.
func TestThrottleFactorsSeparate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	authn.SetSecondFactor(e.svc, &authn.TestSecondFactor{Enrolled: map[uuid.UUID]bool{u.ID: true}, Code: "123456"})
	m := ip("198.51.100.4")
	for i := 0; i < 4; i++ { // below the pair lock of 5
		res, err := e.svc.SignIn(ctx, e.tenant.ID, "ann@example.com", authn.NewPassword(goodPassword), m)
		require.NoError(t, err)
		e.clock.Advance(time.Minute)
		_, err = e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "000000", m)
		assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
	}
	l, err := e.svc.LockStatus(ctx, e.admin, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 4, l.SecondFactorFailures)
	assert.Zero(t, l.FirstFactorFailures, "second-factor failures do not count as first-factor ones")
	e.clock.Advance(time.Minute) // past the escalating delay of the four failures
	res, err := e.svc.SignIn(ctx, e.tenant.ID, "ann@example.com", authn.NewPassword(goodPassword), m)
	require.NoError(t, err)
	_, err = e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "123456", m)
	require.NoError(t, err)
	l, err = e.svc.LockStatus(ctx, e.admin, u.ID)
	require.NoError(t, err)
	assert.Zero(t, l.SecondFactorFailures, "a success resets the second-factor count")
}

// 100 concurrent failures, from 100 addresses, are counted exactly once each.
func TestThrottleConcurrentFailuresCountedExactly(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	_, err := e.svc.UpdateSessionSettings(ctx, e.admin, authn.SessionSettings{LockThreshold: 100})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e.try("ann@example.com", "wrong password", ip(fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)))
			assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
		}()
	}
	wg.Wait()
	l, err := e.svc.LockStatus(ctx, e.admin, u.ID)
	require.NoError(t, err)
	assert.Equal(t, 100, l.FirstFactorFailures)
	assert.True(t, l.Locked, "the 100th failure locked the account")
}

// Unusable links count against the client's address; a locked address gets "invalid"
// even for a valid link, which still works from elsewhere.
func TestThrottleLinks(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, err := e.svc.Invite(ctx, e.admin, authn.InviteRequest{Email: "ann@example.com", Name: "Ann", Role: e.roles[access.KindAgent]})
	require.NoError(t, err)
	good := e.linkFor(t, "ann@example.com")
	tenant, _, err := authn.ParseLinkToken(authn.PurposeInvitation, good)
	require.NoError(t, err)
	_ = tenant
	bad := good[:len(good)-4] + "AAAA"
	if bad == good {
		bad = good[:len(good)-4] + "BBBB"
	}
	attacker := ip("203.0.113.99")
	for i := 0; i < 10*authn.DefaultLockThreshold; i++ {
		_, err := e.svc.AcceptInvitation(ctx, bad, authn.NewPassword(goodPassword), attacker)
		require.ErrorIs(t, err, authn.ErrTicketInvalid)
	}
	_, err = e.svc.AcceptInvitation(ctx, good, authn.NewPassword(goodPassword), attacker)
	assert.ErrorIs(t, err, authn.ErrTicketInvalid, "the address is locked for links")
	_, err = e.svc.AcceptInvitation(ctx, good, authn.NewPassword(goodPassword), ip("198.51.100.3"))
	assert.NoError(t, err, "the link was not used up")
}

// A link naming a tenant that does not exist is just an unusable link, whatever the
// store answers for the unknown tenant's counters: no other error tells that the
// tenant does not exist.
func TestThrottleLinksOfUnknownTenant(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	raw := make([]byte, 48)
	unknown := uuid.New()
	copy(raw, unknown[:])
	raw[20] = 1
	secret := base64.RawURLEncoding.EncodeToString(raw)
	_, err := e.svc.AcceptInvitation(ctx, "csinv_"+secret, authn.NewPassword(goodPassword), ip("203.0.113.1"))
	assert.ErrorIs(t, err, authn.ErrTicketInvalid)
	_, err = e.svc.ResetPassword(ctx, "csrst_"+secret, authn.NewPassword(goodPassword), ip("203.0.113.1"))
	assert.ErrorIs(t, err, authn.ErrTicketInvalid)
	_, err = e.svc.ConfirmIdentity(ctx, "csidc_"+secret, ip("203.0.113.1"))
	assert.ErrorIs(t, err, authn.ErrTicketInvalid)
}

// 6.3.8 / the lock oracle: the median time of a locked account's answer is that of a
// wrong password.
func TestThrottleLockTimingLikeWrongPassword(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	hasher := authn.NewHasher(authn.HasherOptions{Params: authn.Params{Memory: 4096, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, InsecureAllowWeakParams: true})
	svc, err := authn.NewService(e.store, e.engine, authn.Options{Mailer: e.outbox, Hasher: hasher, Clock: e.clock.Now,
		LinkURL: func(authn.Purpose, authn.LinkToken) string { return "" }})
	require.NoError(t, err)
	e.onboard(t, "locked@example.com", access.KindAgent)
	e.onboard(t, "open@example.com", access.KindAgent)
	for _, em := range []string{"locked@example.com", "open@example.com"} { // hashes with the dummy's parameters
		_, err = svc.SignIn(ctx, e.tenant.ID, em, authn.NewPassword(goodPassword), ip("198.51.100.1"))
		require.NoError(t, err)
	}
	for i := 0; i < authn.DefaultLockThreshold; i++ {
		e.clock.Advance(time.Second)
		_, _ = svc.SignIn(ctx, e.tenant.ID, "locked@example.com", authn.NewPassword("wrong"), ip(fmt.Sprintf("198.51.100.%d", 10+i)))
	}
	measure := func(email string, m authn.Meta) time.Duration {
		start := time.Now()
		_, err := svc.SignIn(ctx, e.tenant.ID, email, authn.NewPassword("definitely wrong pw"), m)
		require.ErrorIs(t, err, authn.ErrInvalidCredentials)
		return time.Since(start)
	}
	var locked, wrong []time.Duration
	for i := 0; i < 15; i++ {
		m := ip(fmt.Sprintf("192.0.2.%d", i+1)) // fresh addresses: no delay on the open account
		locked = append(locked, measure("locked@example.com", m))
		wrong = append(wrong, measure("open@example.com", m))
	}
	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	ml, mw := median(locked), median(wrong)
	t.Logf("median locked %v, wrong password %v", ml, mw)
	ratio := float64(ml) / float64(mw)
	assert.True(t, ratio > 0.5 && ratio < 2, "a locked account answers in the time of a wrong password (ratio %.2f)", ratio)
	l, err := e.svc.LockStatus(ctx, e.admin, e.userID(t, "locked@example.com"))
	require.NoError(t, err)
	assert.True(t, l.Locked, "it was locked throughout")
}

// The nil tenant (a sign-in page that could not resolve the tenant) is answered like
// an unknown one, not with a storage error from the throttle.
func TestSignInNilTenant(t *testing.T) {
	e := newEnv(t)
	_, err := e.svc.SignIn(context.Background(), uuid.Nil, "ann@example.com", authn.NewPassword(goodPassword), ip("198.51.100.1"))
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
}

// heldGuesses signs u in from each address (one pending sign-in each) and sends
// perPending concurrent wrong codes on every pending sign-in, each held in its
// verification until every guess is either held or answered; it returns how many
// were verified.
func heldGuesses(t *testing.T, e *env, u authn.User, addrs []authn.Meta, perPending int) int32 {
	t.Helper()
	ctx := context.Background()
	release := make(chan struct{})
	var verified, finished atomic.Int32
	authn.SetSecondFactor(e.svc, &authn.TestSecondFactor{Enrolled: map[uuid.UUID]bool{u.ID: true}, Code: "123456",
		Verifying: func() { verified.Add(1); <-release }})
	var wg sync.WaitGroup
	for _, m := range addrs {
		res, err := e.svc.SignIn(ctx, e.tenant.ID, u.Email, authn.NewPassword(goodPassword), m)
		require.NoError(t, err)
		require.NotNil(t, res.Pending)
		for range perPending {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.svc.CompleteSignIn(ctx, res.PendingToken.Reveal(), authn.FactorTOTP, "999999", m)
				assert.Error(t, err)
				finished.Add(1)
			}()
		}
	}
	total := int32(len(addrs) * perPending)
	require.Eventually(t, func() bool { return verified.Load()+finished.Load() == total }, 10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	return verified.Load()
}

// A burst of concurrent second-factor guesses, all passing the throttle's check before
// any failure is counted, is still bounded by the account's lock (LockThreshold) and,
// from one address, by the pair's, which stays below the account's: one address's
// burst does not lock the account.
func TestThrottleSecondFactorBoundsConcurrentGuesses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	var addrs []authn.Meta
	for i := range 6 {
		addrs = append(addrs, ip(fmt.Sprintf("198.51.100.%d", i+1)))
	}
	got := heldGuesses(t, e, u, addrs, authn.MaxPendingAttempts)
	assert.LessOrEqual(t, got, int32(authn.DefaultLockThreshold), "guesses verified past the account's lock")
	l, err := e.svc.LockStatus(ctx, e.admin, u.ID)
	require.NoError(t, err)
	assert.True(t, l.Locked)

	f := newEnv(t)
	v := f.onboard(t, "bob@example.com", access.KindAgent)
	one := ip("203.0.113.9")
	got = heldGuesses(t, f, v, []authn.Meta{one, one, one, one}, authn.MaxPendingAttempts)
	assert.LessOrEqual(t, got, int32(authn.DefaultLockThreshold/2), "guesses verified from one address past the pair's lock")
	l, err = f.svc.LockStatus(ctx, f.admin, v.ID)
	require.NoError(t, err)
	assert.False(t, l.Locked, "one address's burst does not lock the account")
}

// Wrong passwords from one address that all pass the throttle's check before the first
// is counted (a burst held in the hashing queue) do not lock the account: only the
// failures within the pair's threshold count against it, as when they come one by one.
func TestThrottleBurstFromOneAddressDoesNotLockAccount(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	h := fastHasher()
	trips := &throttleTrips{Store: e.store}
	svc, err := authn.NewService(trips, e.engine, authn.Options{Mailer: e.outbox,
		LinkURL: func(authn.Purpose, authn.LinkToken) string { return "https://app.example/" },
		Hasher:  h, Audit: audit.NewRecorder(e.store, audit.Options{Clock: e.clock.Now}), Clock: e.clock.Now})
	require.NoError(t, err)
	release := authn.HoldHashSlots(h)
	var wg sync.WaitGroup
	for i := range 2 * authn.DefaultLockThreshold {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.SignIn(ctx, e.tenant.ID, u.Email, authn.NewPassword(fmt.Sprint("wrong password ", i)), ip("203.0.113.66"))
			assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
		}()
	}
	// Every attempt has checked the throttle (one round trip each) and waits for a
	// hashing slot before any failure is counted.
	require.Eventually(t, func() bool { return trips.n.Load() >= 2*authn.DefaultLockThreshold }, 10*time.Second, time.Millisecond)
	release()
	wg.Wait()
	l, err := e.svc.LockStatus(ctx, e.admin, u.ID)
	require.NoError(t, err)
	assert.False(t, l.Locked, "one address locked the account")
	assert.LessOrEqual(t, l.FirstFactorFailures, authn.DefaultLockThreshold/2)
	e.clock.Advance(time.Minute)
	_, err = svc.SignIn(ctx, e.tenant.ID, u.Email, authn.NewPassword(goodPassword), ip("198.51.100.20"))
	assert.NoError(t, err, "the user signs in from their own address")
}

// throttleTrips counts a store's round trips for the throttle's counters.
type throttleTrips struct {
	*memory.Store
	n atomic.Int32
}

func (s *throttleTrips) HitThrottle(ctx context.Context, tenant uuid.UUID, hits []authn.ThrottleHit, now time.Time) ([]authn.ThrottleState, error) {
	s.n.Add(1)
	return s.Store.HitThrottle(ctx, tenant, hits, now)
}

func (s *throttleTrips) ThrottleStates(ctx context.Context, tenant uuid.UUID, keys []string) ([]authn.ThrottleState, error) {
	s.n.Add(1)
	return s.Store.ThrottleStates(ctx, tenant, keys)
}

// A locked account's answer makes as many round trips to the throttle's store as a
// wrong password's, so that a database's latency does not tell them apart.
func TestThrottleLockedSameStoreTripsAsWrongPassword(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	trips := &throttleTrips{Store: e.store}
	svc, err := authn.NewService(trips, e.engine, authn.Options{Mailer: e.outbox, Hasher: fastHasher(), Clock: e.clock.Now,
		LinkURL: func(authn.Purpose, authn.LinkToken) string { return "" }})
	require.NoError(t, err)
	e.onboard(t, "locked@example.com", access.KindAgent)
	e.onboard(t, "open@example.com", access.KindAgent)
	for i := range authn.DefaultLockThreshold {
		e.clock.Advance(time.Second)
		_, _ = svc.SignIn(ctx, e.tenant.ID, "locked@example.com", authn.NewPassword("wrong"), ip(fmt.Sprintf("198.51.100.%d", 10+i)))
	}
	count := func(email string) int32 {
		before := trips.n.Load()
		_, err := svc.SignIn(ctx, e.tenant.ID, email, authn.NewPassword("definitely wrong pw"), ip("192.0.2.1"))
		require.ErrorIs(t, err, authn.ErrInvalidCredentials)
		return trips.n.Load() - before
	}
	assert.Equal(t, count("open@example.com"), count("locked@example.com"))
	l, err := e.svc.LockStatus(ctx, e.admin, e.userID(t, "locked@example.com"))
	require.NoError(t, err)
	assert.True(t, l.Locked)
}

// The same for the second factor: a locked account's wrong or right code makes as many
// round trips to the throttle's store as a wrong code of an open account.
func TestThrottleSecondFactorLockedSameStoreTrips(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	trips := &throttleTrips{Store: e.store}
	svc, err := authn.NewService(trips, e.engine, authn.Options{Mailer: e.outbox, Hasher: fastHasher(), Clock: e.clock.Now,
		LinkURL: func(authn.Purpose, authn.LinkToken) string { return "" }})
	require.NoError(t, err)
	locked := e.onboard(t, "locked@example.com", access.KindAgent)
	open := e.onboard(t, "open@example.com", access.KindAgent)
	authn.SetSecondFactor(svc, &authn.TestSecondFactor{Enrolled: map[uuid.UUID]bool{locked.ID: true, open.ID: true}, Code: "123456"})
	pending := func(u authn.User, m authn.Meta) string {
		res, err := svc.SignIn(ctx, e.tenant.ID, u.Email, authn.NewPassword(goodPassword), m)
		require.NoError(t, err)
		require.NotNil(t, res.Pending)
		return res.PendingToken.Reveal()
	}
	for i := range authn.DefaultLockThreshold {
		e.clock.Advance(time.Second)
		m := ip(fmt.Sprintf("198.51.100.%d", 10+i))
		_, err := svc.CompleteSignIn(ctx, pending(locked, m), authn.FactorTOTP, "000000", m)
		require.ErrorIs(t, err, authn.ErrInvalidCredentials)
	}
	count := func(u authn.User, code string) int32 {
		m := ip("192.0.2.1")
		tok := pending(u, m)
		before := trips.n.Load()
		_, err := svc.CompleteSignIn(ctx, tok, authn.FactorTOTP, code, m)
		require.ErrorIs(t, err, authn.ErrInvalidCredentials)
		return trips.n.Load() - before
	}
	wrong := count(open, "000000")
	assert.Equal(t, wrong, count(locked, "000000"), "a locked account's wrong code")
	assert.Equal(t, wrong, count(locked, "123456"), "a locked account's right code")
	l, err := e.svc.LockStatus(ctx, e.admin, locked.ID)
	require.NoError(t, err)
	assert.True(t, l.Locked)
}

// heldCheck holds one attempt right after its throttle check has read the counters
// (the three-key read of checkThrottle), so that a test can count other attempts
// between that read and the attempt's own count: the race of concurrent attempts that
// all pass the check before any is counted, made deterministic.
type heldCheck struct {
	*memory.Store
	armed         atomic.Bool
	read, release chan struct{}
}

func (s *heldCheck) ThrottleStates(ctx context.Context, tenant uuid.UUID, keys []string) ([]authn.ThrottleState, error) {
	sts, err := s.Store.ThrottleStates(ctx, tenant, keys)
	if len(keys) == 3 && s.armed.CompareAndSwap(true, false) {
		close(s.read)
		<-s.release
	}
	return sts, err
}

// A second-factor attempt that passed the throttle's check while its address's pair
// was open, but is counted after the pair's threshold was reached by others from the
// same address, is refused after all (reserveAttempt's "address_locked"): even the
// right code is answered exactly as a wrong one, the login log records the real
// reason, the refused attempt does not count against the account, and another address
// of the same account is not locked by it.
func TestThrottleSecondFactorPairOverThresholdAfterCheck(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	held := &heldCheck{Store: e.store, read: make(chan struct{}), release: make(chan struct{})}
	svc, err := authn.NewService(held, e.engine, authn.Options{Mailer: e.outbox, Hasher: fastHasher(), Clock: e.clock.Now,
		Audit: audit.NewRecorder(e.store, audit.Options{Clock: e.clock.Now}), LinkURL: func(authn.Purpose, authn.LinkToken) string { return "" }})
	require.NoError(t, err)
	u := e.onboard(t, "ann@example.com", access.KindAgent)
	authn.SetSecondFactor(svc, &authn.TestSecondFactor{Enrolled: map[uuid.UUID]bool{u.ID: true}, Code: "123456"})
	pending := func(m authn.Meta) string {
		res, err := svc.SignIn(ctx, e.tenant.ID, u.Email, authn.NewPassword(goodPassword), m)
		require.NoError(t, err)
		require.NotNil(t, res.Pending)
		return res.PendingToken.Reveal()
	}
	attacker := ip("203.0.113.66")
	late := pending(attacker)

	type answer struct {
		res authn.SignInResult
		err error
	}
	done := make(chan answer)
	held.armed.Store(true)
	go func() { // the right code, checked against an open pair, then held
		res, err := svc.CompleteSignIn(ctx, late, authn.FactorTOTP, "123456", attacker)
		done <- answer{res, err}
	}()
	<-held.read

	pairThreshold := max(2, authn.DefaultLockThreshold/2)
	var wrong answer
	for i := range pairThreshold { // wrong codes from the same address lock the pair
		e.clock.Advance(10 * time.Second) // past the escalating delay
		res, err := svc.CompleteSignIn(ctx, pending(attacker), authn.FactorTOTP, "000000", attacker)
		require.ErrorIs(t, err, authn.ErrInvalidCredentials)
		if i == 0 {
			wrong = answer{res, err}
		}
	}
	close(held.release)
	got := <-done

	require.ErrorIs(t, got.err, authn.ErrInvalidCredentials, "the right code from an address over its pair's threshold")
	assert.Equal(t, wrong.err, got.err, "the same error value as a wrong code")
	assert.Equal(t, wrong.err.Error(), got.err.Error())
	assert.Equal(t, wrong.res, got.res)
	reasons := e.loginReasons(t)
	count := func(r string) (n int) {
		for _, x := range reasons {
			if x == r {
				n++
			}
		}
		return n
	}
	assert.Equal(t, 1, count("address_locked"), "the login log records the real reason: %v", reasons)
	assert.Equal(t, pairThreshold, count("wrong_code"), "%v", reasons)

	l, err := e.svc.LockStatus(ctx, e.admin, u.ID)
	require.NoError(t, err)
	assert.False(t, l.Locked)
	assert.Equal(t, pairThreshold, l.SecondFactorFailures, "the refused attempt did not count against the account")

	e.clock.Advance(10 * time.Second)
	_, err = svc.CompleteSignIn(ctx, pending(attacker), authn.FactorTOTP, "123456", attacker)
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials, "the pair is locked")
	other := ip("198.51.100.7")
	_, err = svc.CompleteSignIn(ctx, pending(other), authn.FactorTOTP, "123456", other)
	assert.NoError(t, err, "another address of the same account is not locked")
}
