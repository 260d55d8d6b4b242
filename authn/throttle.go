package authn

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/storage"
	"github.com/google/uuid"
)

// Throttling (ASVS 6.3.1, NIST SP 800-63B §3.2.2).
//
// Every path that checks a secret counts its failures in the store, so that every
// instance sharing the database sees the same counts: the password (sign-in and
// re-authentication), second factors (TOTP and recovery codes, in CompleteSignIn),
// linked-identity sign-ins (whose code calls the helpers below before and after
// verifying) and one-time links. First and second factors keep separate counts
// (throttleKind). Per tenant, with T = SessionSettings.LockThreshold (default 10, at
// most 100) and D = SessionSettings.LockDuration (default 15 minutes), three counters
// are kept:
//
//   - the account: T consecutive failures (each within D of the previous, a success
//     resets it) lock the account for D; the lock lifts by itself, or earlier by
//     [Service.Unlock] (audited).
//   - the account from one address (an IPv6 client by its /64): after n >= 2 failures
//     the next attempt from there is refused for 2^(n-2) seconds (escalating delay: one
//     typo costs nothing), and max(2, T/2) failures lock that pair for D.
//   - the address, over all accounts (password spraying): 10·T failures lock the
//     address for D.
//
// The rule that keeps an attacker from locking a victim out: an attempt refused by a
// counter is not counted against the account, and the pair locks at fewer failures
// (T/2) than the account (T), for as long as the account's count lasts. So one address
// by itself can never lock an account; it takes failures from more than one address,
// and even then the lock lifts after D. The user can still sign in from their own
// address while an attacker's address is locked out. The rule holds for concurrent
// attempts too: a failure reaches the account only while the pair's count, read in the
// same atomic increment, is within the pair's threshold (countFailure), and second
// factors, whose checks are cheap, count each attempt before the code is looked at
// (reserveAttempt), so that a burst of guesses gets no more checks than the counters
// allow.
//
// A refused attempt is answered exactly as a wrong password is: the same error
// (ErrInvalidCredentials, or ErrIPNotAllowed from outside the allowlist), after the
// same work (the password is hashed against a dummy hash, the counters are written);
// the login log records the real reason ("locked", "address_locked",
// "address_throttled", "throttled").

// throttleKind separates the counts of first factors (password, linked identity,
// links) from those of second factors (TOTP, recovery codes).
type throttleKind string

const (
	throttleFirst  throttleKind = "1"
	throttleSecond throttleKind = "2"
)

// netOf is the address part of a key: the address itself for IPv4, the /64 for IPv6
// (one subscriber holds a whole /64), "invalid" for an unknown address.
func netOf(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid"
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

type throttleKeys struct{ account, pair, address string }

func keysOf(user uuid.UUID, kind throttleKind, ip netip.Addr) throttleKeys {
	k := string(kind)
	n := netOf(ip)
	return throttleKeys{account: "a" + k + ":" + user.String(), pair: pairPrefix(kind, user) + n, address: "n" + k + ":" + n}
}

func pairPrefix(kind throttleKind, user uuid.UUID) string {
	return "p" + string(kind) + ":" + user.String() + "@"
}

// throttleRules are the three counters' rules under the tenant's settings.
type throttleRules struct{ account, pair, address ThrottleHit }

func rulesOf(st SessionSettings, k throttleKeys) throttleRules {
	t, d := st.LockThreshold, st.LockDuration
	return throttleRules{
		account: ThrottleHit{Key: k.account, Threshold: t, Window: d, Lock: d},
		pair:    ThrottleHit{Key: k.pair, Threshold: pairThreshold(t), Window: d, Lock: d},
		address: ThrottleHit{Key: k.address, Threshold: 10 * t, Window: d, Lock: d},
	}
}

// pairThreshold is the failures from one address that lock the pair: below the
// account's threshold (t >= 3), so one address cannot lock the account.
func pairThreshold(t int) int { return max(2, t/2) }

// throttleDelay is how long the pair waits after its n-th failure.
func throttleDelay(n int, limit time.Duration) time.Duration {
	if n < 2 {
		return 0
	}
	d := time.Second << min(n-2, 20)
	return min(d, limit)
}

// checkThrottle reports why an attempt of the user's factor kind from ip must be
// refused without looking at the secret ("" if it may proceed). The linked-identity
// sign-in calls it before verifying, with throttleFirst.
func (s *Service) checkThrottle(ctx context.Context, tenant, user uuid.UUID, kind throttleKind, ip netip.Addr) (string, error) {
	st, err := s.SessionSettings(ctx, tenant)
	if err != nil {
		return "", err
	}
	k := keysOf(user, kind, ip)
	sts, err := s.store.ThrottleStates(ctx, tenant, []string{k.account, k.pair, k.address})
	if err != nil {
		return "", fmt.Errorf("authn: throttle: %w", err)
	}
	now := s.now()
	switch {
	case sts[0].Locked(now):
		return "locked", nil
	case sts[1].Locked(now):
		return "address_locked", nil
	case sts[2].Locked(now):
		return "address_throttled", nil
	case sts[1].live(now) && now.Before(sts[1].LastAt.Add(throttleDelay(sts[1].Count, st.LockDuration))):
		return "throttled", nil
	}
	return "", nil
}

// countFailure counts a failed attempt. refused is checkThrottle's reason for an
// attempt that was refused without checking the secret: it counts against the pair and
// the address only, never the account (see the rule above). The linked-identity
// sign-in calls it after a failed verification, with refused "".
//
// A failure counts against the account only if the pair's count, read in the same
// atomic increment, is within the pair's threshold: concurrent attempts from one
// address that all passed checkThrottle before the first was counted would otherwise
// all reach the account, and a burst from a single address could lock it.
func (s *Service) countFailure(ctx context.Context, tenant, user uuid.UUID, kind throttleKind, ip netip.Addr, refused string) error {
	_, _, err := s.countAttempt(ctx, tenant, user, kind, ip, refused, true)
	return err
}

// reserveAttempt counts an attempt before its secret is checked, each count one atomic
// increment-and-read: against the pair, then, only if the pair is within its threshold,
// against the account. An attempt past either threshold (one of concurrent attempts
// that all passed checkThrottle before any was counted) is refused after all, with
// checkThrottle's reason, so that no more secrets are checked than the thresholds
// allow, and one address never reaches the account's threshold. refused is
// checkThrottle's reason for an attempt it refused: that one counts against the pair
// only (the rule above) and is returned as it is, after the same round trips to the
// store as any other. The address is not counted here (the successes of an office
// behind one address must not add up): the caller counts a failure or a refusal with
// countAddressFailure, and a success resets the account and the pair
// (resetThrottle). The second factor uses it: its checks are cheap, so a burst of
// guesses is not bounded by the hashing queue as the password's are.
func (s *Service) reserveAttempt(ctx context.Context, tenant, user uuid.UUID, kind throttleKind, ip netip.Addr, refused string) (string, error) {
	pairOver, accountOver, err := s.countAttempt(ctx, tenant, user, kind, ip, refused, false)
	switch {
	case err != nil:
		return "", err
	case refused != "":
		return refused, nil
	case pairOver:
		return "address_locked", nil
	case accountOver:
		return "locked", nil
	}
	return "", nil
}

// countAttempt is the part countFailure and reserveAttempt share: it counts an attempt
// against the pair (and, with withAddress, the address, in the same call), each key one
// atomic increment-and-read, and then against the account only if refused is "" and
// the pair's count is within the pair's threshold. An attempt not counted against the
// account reads the account's state instead, so that it makes the same round trips to
// the store as a counted one, and takes as long. pairOver reports whether the pair's
// count is past its threshold; accountOver whether the account's is, after this
// attempt (false when it was not counted against the account).
func (s *Service) countAttempt(ctx context.Context, tenant, user uuid.UUID, kind throttleKind, ip netip.Addr, refused string, withAddress bool) (pairOver, accountOver bool, err error) {
	st, err := s.SessionSettings(ctx, tenant)
	if err != nil {
		return false, false, err
	}
	r := rulesOf(st, keysOf(user, kind, ip))
	now := s.now()
	hits := []ThrottleHit{r.pair}
	if withAddress {
		hits = append(hits, r.address)
	}
	sts, err := s.store.HitThrottle(ctx, tenant, hits, now)
	if err != nil {
		return false, false, fmt.Errorf("authn: throttle: %w", err)
	}
	pairOver = sts[0].Count > r.pair.Threshold
	if refused != "" || pairOver {
		// Not counted, but read: the same round trips as a counted attempt.
		if _, err := s.store.ThrottleStates(ctx, tenant, []string{r.account.Key}); err != nil {
			return false, false, fmt.Errorf("authn: throttle: %w", err)
		}
		return pairOver, false, nil
	}
	if sts, err = s.store.HitThrottle(ctx, tenant, []ThrottleHit{r.account}, now); err != nil {
		return false, false, fmt.Errorf("authn: throttle: %w", err)
	}
	return false, sts[0].Count > r.account.Threshold, nil
}

// resetThrottle clears the account's count of kind, that of the pair with ip, and the
// extra keys, after a success.
func (s *Service) resetThrottle(ctx context.Context, tenant, user uuid.UUID, kind throttleKind, ip netip.Addr, extra ...string) error {
	k := keysOf(user, kind, ip)
	if err := s.store.ResetThrottle(ctx, tenant, append([]string{k.account, k.pair}, extra...), nil, nil); err != nil {
		return fmt.Errorf("authn: throttle: %w", err)
	}
	return nil
}

// addressRefused reports whether ip is locked for kind over all accounts (an attempt
// that names no known account: an unknown e-mail, an unusable link).
func (s *Service) addressRefused(ctx context.Context, tenant uuid.UUID, kind throttleKind, ip netip.Addr) (bool, error) {
	k := keysOf(uuid.Nil, kind, ip)
	sts, err := s.store.ThrottleStates(ctx, tenant, []string{k.address})
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil // an unknown tenant (a made-up link) has no counters
	}
	if err != nil {
		return false, fmt.Errorf("authn: throttle: %w", err)
	}
	return sts[0].Locked(s.now()), nil
}

// countAddressFailure counts a failure that names no known account against ip.
func (s *Service) countAddressFailure(ctx context.Context, tenant uuid.UUID, kind throttleKind, ip netip.Addr) error {
	st, err := s.SessionSettings(ctx, tenant)
	if err != nil {
		return err
	}
	r := rulesOf(st, keysOf(uuid.Nil, kind, ip))
	if _, err := s.store.HitThrottle(ctx, tenant, []ThrottleHit{r.address}, s.now()); err != nil {
		return fmt.Errorf("authn: throttle: %w", err)
	}
	return nil
}

// Lock is an account's throttle state, for administrators.
type Lock struct {
	// Locked reports whether first or second factors are locked now; Until is when the
	// later lock lifts by itself.
	Locked bool
	Until  time.Time
	// Failures are the consecutive failures counted, of first and second factors.
	FirstFactorFailures, SecondFactorFailures int
}

// LockStatus returns a user's account lock. It needs UserManagement.
func (s *Service) LockStatus(ctx context.Context, actor access.Subject, user uuid.UUID) (Lock, error) {
	if _, err := s.authorize(ctx, actor, access.UserManagement); err != nil {
		return Lock{}, err
	}
	sts, err := s.store.ThrottleStates(ctx, actor.Tenant, []string{keysOf(user, throttleFirst, netip.Addr{}).account,
		keysOf(user, throttleSecond, netip.Addr{}).account})
	if err != nil {
		return Lock{}, fmt.Errorf("authn: throttle: %w", err)
	}
	now := s.now()
	var l Lock
	for i, st := range sts {
		if st.live(now) {
			if i == 0 {
				l.FirstFactorFailures = st.Count
			} else {
				l.SecondFactorFailures = st.Count
			}
		}
		if st.Locked(now) {
			l.Locked = true
			if st.ExpiresAt.After(l.Until) {
				l.Until = st.ExpiresAt
			}
		}
	}
	return l, nil
}

// Unlock lifts a user's account locks and the locks of every address on that account
// (first and second factors), recorded as a "user.unlock" change event. It needs
// UserManagement and every right of the user's role. Address-wide locks (spraying)
// are left: they lift by themselves.
func (s *Service) Unlock(ctx context.Context, actor access.Subject, user uuid.UUID) error {
	p, err := s.authorizeOver(ctx, actor, user)
	if err != nil {
		return err
	}
	u, err := s.user(ctx, actor.Tenant, user)
	if errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if err != nil && !errors.Is(err, ErrUserDeleted) {
		return err
	}
	ev, err := s.changeEvent(p, actor, "user.unlock", userTarget(u), nil)
	if err != nil {
		return err
	}
	keys := []string{keysOf(user, throttleFirst, netip.Addr{}).account, keysOf(user, throttleSecond, netip.Addr{}).account}
	prefixes := []string{pairPrefix(throttleFirst, user), pairPrefix(throttleSecond, user)}
	if err := s.store.ResetThrottle(ctx, actor.Tenant, keys, prefixes, &ev); err != nil {
		return fmt.Errorf("authn: unlock: %w", err)
	}
	return nil
}

// openLink is openTicket behind the address throttle: unusable links count against
// the client's address like failed first factors of unknown accounts, and a locked
// address gets ErrTicketInvalid for every link without a lookup. (A link's secret has
// 256 bits, so this bounds the lookups an address can make rather than guesses that
// could succeed.)
func (s *Service) openLink(ctx context.Context, purpose Purpose, token string, meta Meta) (Ticket, [32]byte, error) {
	tenant, _, perr := ParseLinkToken(purpose, token)
	if perr != nil {
		return s.openTicket(ctx, purpose, token) // names no tenant to count against
	}
	var hash [32]byte
	t, err := behindLinkThrottle(ctx, s, tenant, meta.IP, func() (t Ticket, err error) {
		t, hash, err = s.openTicket(ctx, purpose, token)
		return t, err
	})
	return t, hash, err
}

// behindLinkThrottle runs open, the check of a link of tenant, behind the address
// throttle of links: from an address the throttle refuses, the answer is
// ErrTicketInvalid without open running; an ErrTicketInvalid from open counts against
// the address. Every path that checks a link's secret goes through it.
func behindLinkThrottle[T any](ctx context.Context, s *Service, tenant uuid.UUID, ip netip.Addr, open func() (T, error)) (T, error) {
	var zero T
	refused, err := s.addressRefused(ctx, tenant, throttleFirst, ip)
	if err != nil {
		return zero, err
	}
	if refused {
		return zero, ErrTicketInvalid
	}
	v, err := open()
	if errors.Is(err, ErrTicketInvalid) {
		if terr := s.countAddressFailure(ctx, tenant, throttleFirst, ip); terr != nil && !errors.Is(terr, storage.ErrNotFound) {
			return zero, terr
		}
	}
	return v, err
}
