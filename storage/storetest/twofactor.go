package storetest

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callshield/callshield/authn"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cases of authn.TwoFactorStore. Besides its doc comments, they hold adapters to
// these choices:
//   - TwoFactor and TwoFactorEnrolment of an unknown tenant or user are
//     storage.ErrNotFound; RecoveryCodeHashes and TwoFactorUsers answer an empty list.
//   - UseTOTPStep of a user without an active factor is storage.ErrNotFound, and a step
//     not after the last one is (false, nil); it appends no event.
//   - UseRecoveryCode of a hash that is not there (used, another user's, not 32 bytes)
//     is (0, false, nil) and appends no event; a mutation of an unknown tenant is
//     storage.ErrNotFound.
//   - DeleteUser erases the user's factor, codes and enrolment.
var twoFactorCases = []testCase{
	{"an enrolment is stored, replaced and read back; nothing is active yet", func(t *testing.T, f *fx) {
		tn := f.createTenant("2FA enrol")
		u, _ := f.activeUser(tn, "ann@example.com")
		e := enrolmentValue(u, at(time.Hour))
		require.NoError(t, f.s.Authn.SetTwoFactorEnrolment(f.ctx, e, changeEvent(t, tn.ID, "two_factor.start")))
		got, err := f.s.Authn.TwoFactorEnrolment(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assertEnrolment(t, e, got)
		_, err = f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "not active before confirmation")

		e2 := enrolmentValue(u, at(2*time.Hour))
		require.NoError(t, f.s.Authn.SetTwoFactorEnrolment(f.ctx, e2, changeEvent(t, tn.ID, "two_factor.start")))
		got, err = f.s.Authn.TwoFactorEnrolment(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assertEnrolment(t, e2, got)
		assert.Equal(t, 2, countActions(f, tn.ID, "two_factor.start"))

		// The replaced enrolment can no longer be confirmed.
		err = f.s.Authn.EnableTwoFactor(f.ctx, factorOf(e, e.CreatedAt.Add(time.Minute)), e.Sealed, recoveryHashes(3), changeEvent(t, tn.ID, "two_factor.enable"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		assert.Zero(t, countActions(f, tn.ID, "two_factor.enable"))
	}},
	{"confirming turns the factor on with its step and codes, once", func(t *testing.T, f *fx) {
		tn := f.createTenant("2FA confirm")
		u, _ := f.activeUser(tn, "ann@example.com")
		e := enrolmentValue(u, at(time.Hour))
		require.NoError(t, f.s.Authn.SetTwoFactorEnrolment(f.ctx, e, changeEvent(t, tn.ID, "two_factor.start")))
		codes := recoveryHashes(10)
		tf := factorOf(e, e.CreatedAt.Add(time.Minute))
		tf.LastStep = 59116013
		require.NoError(t, f.s.Authn.EnableTwoFactor(f.ctx, tf, e.Sealed, codes, changeEvent(t, tn.ID, "two_factor.enable")))

		got, err := f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Equal(t, tf.Sealed, got.Sealed)
		assert.Equal(t, tf.LastStep, got.LastStep, "the confirming code's step is used")
		assertTime(t, tf.EnabledAt, got.EnabledAt, "EnabledAt")
		assert.Equal(t, tn.ID, got.Tenant)
		assert.Equal(t, u.ID, got.User)
		hs, err := f.s.Authn.RecoveryCodeHashes(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.ElementsMatch(t, codes, hs)
		_, err = f.s.Authn.TwoFactorEnrolment(f.ctx, tn.ID, u.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "the enrolment is consumed")
		users, err := f.s.Authn.TwoFactorUsers(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, []uuid.UUID{u.ID}, users)

		// Again: the enrolment is gone.
		err = f.s.Authn.EnableTwoFactor(f.ctx, tf, e.Sealed, codes, changeEvent(t, tn.ID, "two_factor.enable"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		assert.Equal(t, 1, countActions(f, tn.ID, "two_factor.enable"))
		// A new enrolment while the factor is on is refused.
		err = f.s.Authn.SetTwoFactorEnrolment(f.ctx, enrolmentValue(u, at(3*time.Hour)), changeEvent(t, tn.ID, "two_factor.start"))
		assert.ErrorIs(t, err, storage.ErrConflict)
		assert.Equal(t, 1, countActions(f, tn.ID, "two_factor.start"))
	}},
	{"an expired or different enrolment is not confirmed, and nothing changes", func(t *testing.T, f *fx) {
		tn := f.createTenant("2FA expired")
		u, _ := f.activeUser(tn, "ann@example.com")
		e := enrolmentValue(u, at(time.Hour))
		require.NoError(t, f.s.Authn.SetTwoFactorEnrolment(f.ctx, e, changeEvent(t, tn.ID, "two_factor.start")))
		other := enrolmentValue(u, at(time.Hour))
		for name, c := range map[string]struct {
			tf      authn.TwoFactor
			pending []byte
		}{
			"at the expiry":    {factorOf(e, e.ExpiresAt), e.Sealed},
			"after the expiry": {factorOf(e, e.ExpiresAt.Add(time.Second)), e.Sealed},
			"other sealed":     {factorOf(e, e.CreatedAt.Add(time.Minute)), other.Sealed},
			"other user":       {func() authn.TwoFactor { x := factorOf(e, e.CreatedAt); x.User = newID(); return x }(), e.Sealed},
			"other tenant's ID": {func() authn.TwoFactor {
				x := factorOf(e, e.CreatedAt)
				x.Tenant = f.createTenant("2FA other").ID
				return x
			}(), e.Sealed},
		} {
			err := f.s.Authn.EnableTwoFactor(f.ctx, c.tf, c.pending, recoveryHashes(2), changeEvent(t, c.tf.Tenant, "two_factor.enable"))
			assert.ErrorIs(t, err, storage.ErrNotFound, name)
		}
		// Hashes that are not 32 bytes are refused, even for a valid enrolment.
		err := f.s.Authn.EnableTwoFactor(f.ctx, factorOf(e, e.CreatedAt), e.Sealed, [][]byte{make([]byte, 32), {1, 2}}, changeEvent(t, tn.ID, "two_factor.enable"))
		assert.Error(t, err)
		err = f.s.Authn.EnableTwoFactor(f.ctx, factorOf(e, e.CreatedAt), e.Sealed, [][]byte{nil}, changeEvent(t, tn.ID, "two_factor.enable"))
		assert.Error(t, err)
		_, err = f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		got, err := f.s.Authn.TwoFactorEnrolment(f.ctx, tn.ID, u.ID)
		require.NoError(t, err, "the enrolment stays")
		assertEnrolment(t, e, got)
		assert.Zero(t, countActions(f, tn.ID, "two_factor.enable"))
	}},
	{"an enrolment needs a user who is not deleted", func(t *testing.T, f *fx) {
		tn := f.createTenant("2FA users")
		err := f.s.Authn.SetTwoFactorEnrolment(f.ctx, enrolmentValue(authn.User{ID: newID(), Tenant: tn.ID}, at(time.Hour)), changeEvent(t, tn.ID, "two_factor.start"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
		u, _ := f.activeUser(tn, "ann@example.com")
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, u.ID, []authn.Status{authn.StatusActive}, authn.ReasonRemoved, later, changeEvent(t, tn.ID, "user.delete")))
		err = f.s.Authn.SetTwoFactorEnrolment(f.ctx, enrolmentValue(u, at(time.Hour)), changeEvent(t, tn.ID, "two_factor.start"))
		assert.ErrorIs(t, err, authn.ErrUserDeleted)
		assert.Zero(t, countActions(f, tn.ID, "two_factor.start"))
	}},
	{"a step is used once, and only steps after the last one", func(t *testing.T, f *fx) {
		tn := f.createTenant("2FA steps")
		u := f.twoFactorUser(tn, "ann@example.com", 100)
		before := len(f.allEvents(tn.ID))
		for _, c := range []struct {
			step int64
			ok   bool
		}{{100, false}, {99, false}, {101, true}, {101, false}, {100, false}, {105, true}, {103, false}, {-1, false}} {
			ok, err := f.s.Authn.UseTOTPStep(f.ctx, tn.ID, u.ID, c.step)
			require.NoError(t, err, "step %d", c.step)
			assert.Equal(t, c.ok, ok, "step %d", c.step)
		}
		got, err := f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(105), got.LastStep)
		assert.Len(t, f.allEvents(tn.ID), before, "UseTOTPStep appends no event")
		other, _ := f.activeUser(tn, "bob@example.com")
		_, err = f.s.Authn.UseTOTPStep(f.ctx, tn.ID, other.ID, 200)
		assert.ErrorIs(t, err, storage.ErrNotFound, "no factor")
	}},
	{"recovery codes are used once, counted, replaced and voided", func(t *testing.T, f *fx) {
		tn := f.createTenant("2FA recovery")
		u := f.twoFactorUser(tn, "ann@example.com", 1)
		hs, err := f.s.Authn.RecoveryCodeHashes(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		require.Len(t, hs, 10)
		n, ok, err := f.s.Authn.UseRecoveryCode(f.ctx, tn.ID, u.ID, hs[3], changeEvent(t, tn.ID, "two_factor.recovery_used"))
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, 9, n)
		for name, h := range map[string][]byte{"used": hs[3], "unknown": recoveryHashes(1)[0], "empty": nil, "short": hs[4][:31],
			"empty string's SHA-256": func() []byte { s := sha256.Sum256(nil); return s[:] }()} {
			n, ok, err = f.s.Authn.UseRecoveryCode(f.ctx, tn.ID, u.ID, h, changeEvent(t, tn.ID, "two_factor.recovery_used"))
			require.NoError(t, err, name)
			assert.False(t, ok, name)
			assert.Zero(t, n, name)
		}
		assert.Equal(t, 1, countActions(f, tn.ID, "two_factor.recovery_used"), "an event for the use only")
		left, err := f.s.Authn.RecoveryCodeHashes(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.ElementsMatch(t, slices.Delete(slices.Clone(hs), 3, 4), left)

		fresh := recoveryHashes(10)
		require.NoError(t, f.s.Authn.ReplaceRecoveryCodes(f.ctx, tn.ID, u.ID, fresh, changeEvent(t, tn.ID, "two_factor.recovery_regenerate")))
		got, err := f.s.Authn.RecoveryCodeHashes(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.ElementsMatch(t, fresh, got)
		_, ok, err = f.s.Authn.UseRecoveryCode(f.ctx, tn.ID, u.ID, hs[5], changeEvent(t, tn.ID, "two_factor.recovery_used"))
		require.NoError(t, err)
		assert.False(t, ok, "the old set is void")
		assert.Error(t, f.s.Authn.ReplaceRecoveryCodes(f.ctx, tn.ID, u.ID, [][]byte{{1}}, changeEvent(t, tn.ID, "two_factor.recovery_regenerate")))
		got, err = f.s.Authn.RecoveryCodeHashes(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.ElementsMatch(t, fresh, got, "a refused replacement changes nothing")

		other, _ := f.activeUser(tn, "bob@example.com")
		err = f.s.Authn.ReplaceRecoveryCodes(f.ctx, tn.ID, other.ID, fresh, changeEvent(t, tn.ID, "two_factor.recovery_regenerate"))
		assert.ErrorIs(t, err, storage.ErrNotFound, "no factor")
	}},
	{"disabling deletes the factor, its codes and a pending enrolment", func(t *testing.T, f *fx) {
		tn := f.createTenant("2FA disable")
		u := f.twoFactorUser(tn, "ann@example.com", 7)
		require.NoError(t, f.s.Authn.DisableTwoFactor(f.ctx, tn.ID, u.ID, changeEvent(t, tn.ID, "two_factor.disable")))
		_, err := f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		hs, err := f.s.Authn.RecoveryCodeHashes(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Empty(t, hs)
		users, err := f.s.Authn.TwoFactorUsers(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Empty(t, users)
		err = f.s.Authn.DisableTwoFactor(f.ctx, tn.ID, u.ID, changeEvent(t, tn.ID, "two_factor.disable"))
		assert.ErrorIs(t, err, storage.ErrNotFound, "nothing to disable")
		assert.Equal(t, 1, countActions(f, tn.ID, "two_factor.disable"))

		// A pending enrolment alone is cancelled too; enrolling again works after.
		require.NoError(t, f.s.Authn.SetTwoFactorEnrolment(f.ctx, enrolmentValue(u, at(time.Hour)), changeEvent(t, tn.ID, "two_factor.start")))
		require.NoError(t, f.s.Authn.DisableTwoFactor(f.ctx, tn.ID, u.ID, changeEvent(t, tn.ID, "two_factor.disable")))
		_, err = f.s.Authn.TwoFactorEnrolment(f.ctx, tn.ID, u.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		f.twoFactorUserOf(u, 8)
	}},
	{"deleting a user erases their second factor", func(t *testing.T, f *fx) {
		tn := f.createTenant("2FA delete")
		u := f.twoFactorUser(tn, "ann@example.com", 7)
		keep := f.twoFactorUser(tn, "bob@example.com", 7)
		require.NoError(t, f.s.Authn.DeleteUser(f.ctx, tn.ID, u.ID, []authn.Status{authn.StatusActive}, authn.ReasonRemoved, later, changeEvent(t, tn.ID, "user.delete")))
		_, err := f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		hs, err := f.s.Authn.RecoveryCodeHashes(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Empty(t, hs)
		users, err := f.s.Authn.TwoFactorUsers(f.ctx, tn.ID)
		require.NoError(t, err)
		assert.Equal(t, []uuid.UUID{keep.ID}, users)
	}},
	{"tenant isolation: no method reads or changes another tenant's second factors", func(t *testing.T, f *fx) {
		a, b := f.createTenant("2FA tenant A"), f.createTenant("2FA tenant B")
		u := f.twoFactorUser(a, "ann@example.com", 50)
		pendingUser, _ := f.activeUser(a, "pending@example.com")
		e := enrolmentValue(pendingUser, at(time.Hour))
		require.NoError(t, f.s.Authn.SetTwoFactorEnrolment(f.ctx, e, changeEvent(t, a.ID, "two_factor.start")))
		hs, err := f.s.Authn.RecoveryCodeHashes(f.ctx, a.ID, u.ID)
		require.NoError(t, err)
		before := f.snapshot(a.ID)
		unknown := newID()
		for _, other := range []uuid.UUID{b.ID, unknown} {
			_, err := f.s.Authn.TwoFactor(f.ctx, other, u.ID)
			assert.ErrorIs(t, err, storage.ErrNotFound)
			_, err = f.s.Authn.TwoFactorEnrolment(f.ctx, other, pendingUser.ID)
			assert.ErrorIs(t, err, storage.ErrNotFound)
			got, err := f.s.Authn.RecoveryCodeHashes(f.ctx, other, u.ID)
			require.NoError(t, err)
			assert.Empty(t, got)
			users, err := f.s.Authn.TwoFactorUsers(f.ctx, other)
			require.NoError(t, err)
			assert.Empty(t, users)
			_, err = f.s.Authn.UseTOTPStep(f.ctx, other, u.ID, 60)
			assert.ErrorIs(t, err, storage.ErrNotFound)
			_, ok, err := f.s.Authn.UseRecoveryCode(f.ctx, other, u.ID, hs[0], changeEvent(t, other, "two_factor.recovery_used"))
			assert.False(t, ok)
			if other == unknown {
				assert.ErrorIs(t, err, storage.ErrNotFound)
			} else {
				assert.NoError(t, err)
			}
			err = f.s.Authn.ReplaceRecoveryCodes(f.ctx, other, u.ID, recoveryHashes(2), changeEvent(t, other, "two_factor.recovery_regenerate"))
			assert.ErrorIs(t, err, storage.ErrNotFound)
			err = f.s.Authn.DisableTwoFactor(f.ctx, other, u.ID, changeEvent(t, other, "two_factor.disable"))
			assert.ErrorIs(t, err, storage.ErrNotFound)
			err = f.s.Authn.DisableTwoFactor(f.ctx, other, pendingUser.ID, changeEvent(t, other, "two_factor.disable"))
			assert.ErrorIs(t, err, storage.ErrNotFound)
			x := e
			x.Tenant = other
			err = f.s.Authn.SetTwoFactorEnrolment(f.ctx, x, changeEvent(t, other, "two_factor.start"))
			assert.ErrorIs(t, err, storage.ErrNotFound)
			err = f.s.Authn.EnableTwoFactor(f.ctx, factorOf(x, e.CreatedAt), x.Sealed, recoveryHashes(2), changeEvent(t, other, "two_factor.enable"))
			assert.ErrorIs(t, err, storage.ErrNotFound)
		}
		f.assertUnchanged(before, a.ID)
		assert.Empty(t, f.allEvents(b.ID)[1:], "tenant B got only its creation event")
		got, err := f.s.Authn.TwoFactor(f.ctx, a.ID, u.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(50), got.LastStep)
		left, err := f.s.Authn.RecoveryCodeHashes(f.ctx, a.ID, u.ID)
		require.NoError(t, err)
		assert.ElementsMatch(t, hs, left)
		pe, err := f.s.Authn.TwoFactorEnrolment(f.ctx, a.ID, pendingUser.ID)
		require.NoError(t, err)
		assertEnrolment(t, e, pe)
	}},
}

// twoFactorConcurrencyCases race single-use things 100 times at once.
var twoFactorConcurrencyCases = []testCase{
	{"100 concurrent uses of one step: exactly one succeeds", func(t *testing.T, f *fx) {
		tn := f.createTenant("2FA step race")
		u := f.twoFactorUser(tn, "ann@example.com", 10)
		var wins atomic.Int32
		raceTwoFactor(t, 100, func(int) error {
			ok, err := f.s.Authn.UseTOTPStep(f.ctx, tn.ID, u.ID, 11)
			if ok {
				wins.Add(1)
			}
			return err
		})
		assert.Equal(t, int32(1), wins.Load())
	}},
	{"100 concurrent increasing steps: each accepted step is after the previous one", func(t *testing.T, f *fx) {
		tn := f.createTenant("2FA step order")
		u := f.twoFactorUser(tn, "ann@example.com", 0)
		var mu sync.Mutex
		var won []int64
		raceTwoFactor(t, 100, func(i int) error {
			ok, err := f.s.Authn.UseTOTPStep(f.ctx, tn.ID, u.ID, int64(i%10+1))
			if ok {
				mu.Lock()
				won = append(won, int64(i%10+1))
				mu.Unlock()
			}
			return err
		})
		assert.NotEmpty(t, won)
		assert.LessOrEqual(t, len(won), 10, "each of the 10 steps at most once")
		seen := map[int64]bool{}
		for _, s := range won {
			assert.False(t, seen[s], "step %d accepted twice", s)
			seen[s] = true
		}
		got, err := f.s.Authn.TwoFactor(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Equal(t, slices.Max(won), got.LastStep)
	}},
	{"100 concurrent uses of one recovery code: exactly one succeeds, with one event", func(t *testing.T, f *fx) {
		tn := f.createTenant("2FA recovery race")
		u := f.twoFactorUser(tn, "ann@example.com", 10)
		hs, err := f.s.Authn.RecoveryCodeHashes(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		var wins atomic.Int32
		raceTwoFactor(t, 100, func(int) error {
			n, ok, err := f.s.Authn.UseRecoveryCode(f.ctx, tn.ID, u.ID, hs[0], changeEvent(t, tn.ID, "two_factor.recovery_used"))
			if ok {
				wins.Add(1)
				if n != 9 {
					return fmt.Errorf("remaining %d, want 9", n)
				}
			}
			return err
		})
		assert.Equal(t, int32(1), wins.Load())
		assert.Equal(t, 1, countActions(f, tn.ID, "two_factor.recovery_used"))
	}},
	{"100 concurrent confirmations of one enrolment: exactly one succeeds", func(t *testing.T, f *fx) {
		tn := f.createTenant("2FA enable race")
		u, _ := f.activeUser(tn, "ann@example.com")
		e := enrolmentValue(u, at(time.Hour))
		require.NoError(t, f.s.Authn.SetTwoFactorEnrolment(f.ctx, e, changeEvent(t, tn.ID, "two_factor.start")))
		var wins atomic.Int32
		raceTwoFactor(t, 100, func(i int) error {
			tf := factorOf(e, e.CreatedAt.Add(time.Minute))
			tf.LastStep = int64(i)
			err := f.s.Authn.EnableTwoFactor(f.ctx, tf, e.Sealed, recoveryHashes(2), changeEvent(t, tn.ID, "two_factor.enable"))
			if err == nil {
				wins.Add(1)
				return nil
			}
			if errors.Is(err, storage.ErrNotFound) {
				return nil
			}
			return err
		})
		assert.Equal(t, int32(1), wins.Load())
		assert.Equal(t, 1, countActions(f, tn.ID, "two_factor.enable"))
		hs, err := f.s.Authn.RecoveryCodeHashes(f.ctx, tn.ID, u.ID)
		require.NoError(t, err)
		assert.Len(t, hs, 2, "one confirmation's codes only")
	}},
}

// raceTwoFactor runs fn(i) for i in 0..n-1 at once and fails the test on any error.
func raceTwoFactor(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "racer %d", i)
	}
}

// enrolmentValue is a pending enrolment of u created at `at`, valid for 10 minutes,
// with random bytes of a sealed secret's length.
func enrolmentValue(u authn.User, at time.Time) authn.TwoFactorEnrolment {
	sealed := make([]byte, 53)
	_, _ = rand.Read(sealed)
	return authn.TwoFactorEnrolment{Tenant: u.Tenant, User: u.ID, Sealed: sealed, CreatedAt: at, ExpiresAt: at.Add(10 * time.Minute)}
}

// factorOf is the factor that confirms e at `at`: its secret sealed anew (other bytes
// than e's, as the service seals the active secret under other associated data).
func factorOf(e authn.TwoFactorEnrolment, at time.Time) authn.TwoFactor {
	sealed := make([]byte, len(e.Sealed))
	_, _ = rand.Read(sealed)
	return authn.TwoFactor{Tenant: e.Tenant, User: e.User, Sealed: sealed, EnabledAt: at}
}

// recoveryHashes returns n random 32-byte hashes.
func recoveryHashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, 32)
		_, _ = rand.Read(out[i])
	}
	return out
}

// twoFactorUser makes an active user with an active factor at lastStep and 10 codes.
func (f *fx) twoFactorUser(tn tenantFx, email string, lastStep int64) authn.User {
	f.t.Helper()
	u, _ := f.activeUser(tn, email)
	f.twoFactorUserOf(u, lastStep)
	return u
}

// twoFactorUserOf enrols and confirms u.
func (f *fx) twoFactorUserOf(u authn.User, lastStep int64) {
	f.t.Helper()
	e := enrolmentValue(u, at(time.Hour))
	require.NoError(f.t, f.s.Authn.SetTwoFactorEnrolment(f.ctx, e, changeEvent(f.t, u.Tenant, "two_factor.start")))
	tf := factorOf(e, e.CreatedAt.Add(time.Minute))
	tf.LastStep = lastStep
	require.NoError(f.t, f.s.Authn.EnableTwoFactor(f.ctx, tf, e.Sealed, recoveryHashes(10), changeEvent(f.t, u.Tenant, "two_factor.enable")))
}

// countActions counts the tenant's events of an action.
func countActions(f *fx, tenant uuid.UUID, action string) int {
	n := 0
	for _, e := range f.allEvents(tenant) {
		if e.Action == action {
			n++
		}
	}
	return n
}

func assertEnrolment(t testing.TB, want, got authn.TwoFactorEnrolment) {
	t.Helper()
	assert.Equal(t, want.Tenant, got.Tenant)
	assert.Equal(t, want.User, got.User)
	assert.Equal(t, want.Sealed, got.Sealed)
	assertTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	assertTime(t, want.ExpiresAt, got.ExpiresAt, "ExpiresAt")
}
