package authn

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/text/cases"

	"github.com/callshield/callshield/authn/internal/blocklist"
)

// Blocklist tells whether a password is known to attackers: too common, or seen in a
// breach. [PasswordPolicy.Validate] rejects a blocked password with the rule
// [RuleBlocklisted].
//
// The library ships [CommonPasswords]. A host can plug a breach corpus instead or as
// well (see [AnyBlocklist]), for instance a client of the Have I Been Pwned range API,
// which sends only the first five hex digits of the password's SHA-1 (k-anonymity).
//
// Blocked receives the normalised password and decides its own matching. An error
// makes Validate fail with that error (fail closed: no password is accepted while the
// list cannot be consulted); a host that prefers to accept passwords while a remote
// corpus is down wraps its Blocklist to return (false, nil) on error, knowingly.
// Implementations must be safe for concurrent use and must not log the password.
type Blocklist interface {
	Blocked(ctx context.Context, password Password) (bool, error)
}

// BlocklistFunc adapts a function to [Blocklist].
type BlocklistFunc func(ctx context.Context, password Password) (bool, error)

// Blocked calls f.
func (f BlocklistFunc) Blocked(ctx context.Context, password Password) (bool, error) {
	return f(ctx, password)
}

// CommonPasswords returns the built-in blocklist, used when [PasswordPolicy].Blocklist is
// nil: the 47,023 most common passwords of the zxcvbn frequency list (MIT; a superset of
// the 10,000 most common), matched against the whole password, case-insensitively
// (Unicode case folding after NFKC). "Password" and "PASSWORD" are blocked;
// "password2024!" is not (a minimum zxcvbn score, [PasswordPolicy].MinScore, catches
// such variations). The list is loaded on first use (about 750 KB of memory); a lookup
// takes about 120 ns and allocates only to case-fold a password with upper-case or
// non-ASCII letters.
func CommonPasswords() Blocklist { return commonPasswords{} }

type commonPasswords struct{}

func (commonPasswords) Blocked(_ context.Context, p Password) (bool, error) {
	if p.tooLong() {
		return false, nil // no list entry is that long
	}
	return blocklist.Contains(foldString(p.Reveal())), nil
}

// foldString returns s case-folded for caseless matching. A cases.Caser is not safe for
// concurrent use, so one is made per call that needs it.
func foldString(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return cases.Fold().String(s)
		}
	}
	return s // ASCII without upper case: already folded
}

// AnyBlocklist returns a Blocklist that blocks a password blocked by any of lists,
// asked in order; nil entries are skipped. Use it to keep the built-in list beside a
// breach corpus:
//
//	policy.Blocklist = authn.AnyBlocklist(authn.CommonPasswords(), hibpClient)
func AnyBlocklist(lists ...Blocklist) Blocklist { return anyBlocklist(lists) }

type anyBlocklist []Blocklist

func (l anyBlocklist) Blocked(ctx context.Context, p Password) (bool, error) {
	for _, b := range l {
		if b == nil {
			continue
		}
		blocked, err := b.Blocked(ctx, p)
		if err != nil {
			return false, err
		}
		if blocked {
			return true, nil
		}
	}
	return false, nil
}

// ErrBlocklistUnavailable wraps the error of a [Blocklist] that could not answer;
// [PasswordPolicy.Validate] returns it and accepts no password meanwhile.
var ErrBlocklistUnavailable = errors.New("authn: password blocklist unavailable")

func blocklistError(err error) error {
	return fmt.Errorf("%w: %w", ErrBlocklistUnavailable, err)
}
