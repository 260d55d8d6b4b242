package authn

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
)

// rolesText is the audit and storage text of a role list: IDs sorted, comma-separated.
func rolesText(ids []uuid.UUID) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id.String()
	}
	return strings.Join(parts, ",")
}

// Settings are a tenant's account rules. The zero value of every field means the
// default; [Settings.withDefaults] fills them in.
type Settings struct {
	Tenant uuid.UUID
	// PasswordMode is "nist" (default: length, blocklist and context words, no
	// composition rules) or "classes" (the seed product's rule: digits, upper and lower
	// case and symbols, plus length).
	PasswordMode string
	// PasswordMinLength overrides the minimum length: 0 (the floor) or the floor to
	// 64. The floor is 15 while the password is the only factor, which it is for every
	// tenant until sign-in enforces RequireTwoFactor, and 8 with an enforced second
	// factor (NIST SP 800-63B rev 4). UpdateSettings refuses a value below the floor
	// (ErrPasswordMinLength) rather than store a rule that would not apply;
	// [Settings.EffectivePasswordMinLength] is the length sign-up enforces, also for
	// a value stored before this rule.
	PasswordMinLength int
	// PasswordMinScore is a minimum zxcvbn strength score 0..4 (0: not checked).
	PasswordMinScore int
	// RequireTwoFactor says that every user of the tenant signs in with a second
	// factor: a user without one gets a restricted session that may only enrol, and
	// passwords may be 8 characters instead of 15 (NIST SP 800-63B rev 4), since the
	// password alone then opens nothing but enrolment. UpdateSettings refuses true
	// (ErrTwoFactorUnavailable) when the Service has no Options.TwoFactorSealer, with
	// which nobody could enrol.
	RequireTwoFactor bool
	// RequireTwoFactorRoles requires a second factor of the members of these roles
	// only (the tenant's roles; a member is held to it through their tenant role or
	// any project override role): sign-in treats them as RequireTwoFactor treats
	// everyone, and they cannot turn their own second factor off
	// (ErrTwoFactorRequired; an administrator's reset for a lost device stays
	// possible, and the next sign-in then owes enrolment). A session that is live when
	// its user's role gains the requirement keeps its access until it ends: the next
	// sign-in is restricted to enrolment. The password floor stays that of the
	// tenant (15 unless RequireTwoFactor), since it is one rule for every user.
	// UpdateSettings sorts it, drops duplicates, refuses a role that is not the
	// tenant's (ErrInvalidSettings) and, like RequireTwoFactor, refuses a non-empty
	// list without Options.TwoFactorSealer (ErrTwoFactorUnavailable).
	RequireTwoFactorRoles []uuid.UUID
	// InvitationTTL is how long an invitation link is valid: 1 hour to 30 days,
	// default 7 days. The product promises 7 days; a tenant may deliberately choose
	// longer (up to 30 days, for invitees who are slow to start) or shorter. Longer
	// means a mailed link stays usable longer if the mailbox is read by someone else,
	// so the value is the tenant administrator's decision, recorded in the change
	// log, and the invitation mail states the exact expiry. Show the tenant's value
	// in the product, not "7 days".
	InvitationTTL time.Duration
	// ResetTTL is how long a password-reset link is valid. Default 1 hour.
	ResetTTL time.Duration
	// Retention is how long archived users are kept before they are deleted
	// automatically. Default 180 days.
	Retention time.Duration
	UpdatedAt time.Time
	// Version is the optimistic-concurrency version (0: never stored).
	Version int64
}

// Defaults.
const (
	DefaultInvitationTTL = 7 * 24 * time.Hour
	DefaultResetTTL      = time.Hour
	DefaultRetention     = 180 * 24 * time.Hour
)

func (s Settings) withDefaults() Settings {
	if s.PasswordMode == "" {
		s.PasswordMode = "nist"
	}
	if s.InvitationTTL == 0 {
		s.InvitationTTL = DefaultInvitationTTL
	}
	if s.ResetTTL == 0 {
		s.ResetTTL = DefaultResetTTL
	}
	if s.Retention == 0 {
		s.Retention = DefaultRetention
	}
	return s
}

// ErrInvalidSettings: a setting out of its range.
var ErrInvalidSettings = fmt.Errorf("authn: invalid settings")

// ErrTwoFactorUnavailable: Settings.RequireTwoFactor was set on a Service without
// Options.TwoFactorSealer, so nobody could enrol. It matches ErrInvalidSettings too.
var ErrTwoFactorUnavailable = fmt.Errorf("%w: two-factor needs Options.TwoFactorSealer", ErrInvalidSettings)

// ErrPasswordMinLength: Settings.PasswordMinLength is below the floor that applies to
// the tenant (15 while the password is the only factor). It matches ErrInvalidSettings
// too.
var ErrPasswordMinLength = fmt.Errorf("%w: minimum password length below the floor", ErrInvalidSettings)

// EffectivePasswordMinLength returns the minimum password length the tenant's
// passwords are held to: PasswordMinLength raised to the floor that applies (15 while
// the password is the only factor, 8 with an enforced second factor). Show this one to
// users, not PasswordMinLength.
func (s Settings) EffectivePasswordMinLength() int {
	return max(s.PasswordMinLength, s.passwordPolicy().lengthFloor())
}

// TwoFactorRequiredFor reports whether the settings require user (judged by the
// roles p gives them) to sign in with a second factor: RequireTwoFactor, or one of
// their roles in RequireTwoFactorRoles.
func (s Settings) TwoFactorRequiredFor(p *access.Policy, user uuid.UUID) bool {
	if s.RequireTwoFactor {
		return true
	}
	if len(s.RequireTwoFactorRoles) == 0 {
		return false
	}
	for _, r := range p.MemberRoles(user) {
		if slices.Contains(s.RequireTwoFactorRoles, r) {
			return true
		}
	}
	return false
}

// ErrTwoFactorRequired: a user whose second factor the tenant requires (for everyone
// or for one of their roles) tried to turn it off themselves.
var ErrTwoFactorRequired = fmt.Errorf("authn: the tenant requires a second factor for this user")

// twoFactorEnforced says whether sign-in enforces Settings.RequireTwoFactor: it does
// (a pending sign-in owes the second factor, a user without one gets a restricted
// session), so the tenant's setting lowers the password floor to 8.
const twoFactorEnforced = true

// passwordPolicy returns the tenant's password policy.
func (s Settings) passwordPolicy() PasswordPolicy {
	p := PasswordPolicy{MinLength: s.PasswordMinLength, MinScore: s.PasswordMinScore,
		SingleFactor: !(twoFactorEnforced && s.RequireTwoFactor)}
	if s.PasswordMode == "classes" {
		p.Mode = ModeClasses
	}
	return p
}

func (s Settings) validate() error {
	switch {
	case s.PasswordMode != "nist" && s.PasswordMode != "classes":
		return fmt.Errorf("%w: password mode must be nist or classes", ErrInvalidSettings)
	case s.PasswordMinLength != 0 && (s.PasswordMinLength < 8 || s.PasswordMinLength > 64):
		return fmt.Errorf("%w: minimum password length must be 8 to 64", ErrInvalidSettings)
	case s.PasswordMinScore < 0 || s.PasswordMinScore > 4:
		return fmt.Errorf("%w: minimum score must be 0 to 4", ErrInvalidSettings)
	case s.InvitationTTL < time.Hour || s.InvitationTTL > 30*24*time.Hour:
		return fmt.Errorf("%w: invitation validity must be 1 hour to 30 days", ErrInvalidSettings)
	case s.ResetTTL < 5*time.Minute || s.ResetTTL > 7*24*time.Hour:
		return fmt.Errorf("%w: reset link validity must be 5 minutes to 7 days", ErrInvalidSettings)
	case s.Retention < 24*time.Hour || s.Retention > 10*365*24*time.Hour:
		return fmt.Errorf("%w: retention must be 1 day to 10 years", ErrInvalidSettings)
	case s.PasswordMinLength != 0 && s.PasswordMinLength < s.EffectivePasswordMinLength():
		// A length the floor would raise: refused, so that Settings never reports a
		// rule other than the one enforced.
		return fmt.Errorf("%w: it must be %d to 64, or 0 for the floor (15 while the password is the only factor)",
			ErrPasswordMinLength, s.EffectivePasswordMinLength())
	}
	return nil
}
