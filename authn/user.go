package authn

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Status is where a user is in their lifecycle.
//
//	invited ──accept──▶ active ◀──unblock── blocked ──archive──▶ archived ──purge──▶ deleted
//	                      └───────block───────▲                                ▲
//	any status but deleted ──remove (exclude from company)─────────────────────┘
type Status string

// User statuses.
const (
	// StatusInvited: invited, has not accepted yet; cannot sign in.
	StatusInvited Status = "invited"
	// StatusActive: may sign in.
	StatusActive Status = "active"
	// StatusBlocked: "access to system" is off. Cannot sign in; sessions and API tokens
	// stop working on the next request; all data stays for reports.
	StatusBlocked Status = "blocked"
	// StatusArchived: a blocked user put aside; reports still work. Deleted
	// automatically when the tenant's retention period has passed.
	StatusArchived Status = "archived"
	// StatusDeleted: a tombstone. The user was removed from the company or deleted
	// after retention: e-mail, name and password are erased, memberships are gone, and
	// only the ID remains so that the API can say so ([ErrUserDeleted]).
	StatusDeleted Status = "deleted"
)

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusInvited, StatusActive, StatusBlocked, StatusArchived, StatusDeleted:
		return true
	}
	return false
}

// User is an account in one tenant. Its e-mail is unique within the tenant. The
// password hash is not part of User: it is read and written through dedicated store
// methods so that a User value can be logged and shown without risk.
type User struct {
	ID     uuid.UUID
	Tenant uuid.UUID
	// Email is normalised by [NormalizeEmail] (trimmed, lower-case); empty once deleted.
	Email string
	// Name is the display name; empty once deleted.
	Name   string
	Status Status
	// StatusAt is when the status last changed (invited, accepted, blocked, ...).
	StatusAt time.Time
	// DeletedReason is "removed" (excluded from the company) or "retention" (deleted
	// after the retention period) for deleted users.
	DeletedReason string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Version is the optimistic-concurrency version of the row.
	Version int64
	// TwoFactor says the user has two-factor on. It is set by Service.Users (the user
	// list) from the two-factor store; the account stores leave it false.
	TwoFactor bool
}

// CanSignIn reports whether the user's status lets them authenticate. Sessions and API
// tokens check it on every request.
func (u User) CanSignIn() bool { return u.Status == StatusActive }

// Deletion reasons.
const (
	ReasonRemoved   = "removed"
	ReasonRetention = "retention"
)

// NormalizeEmail validates a single bare e-mail address ("ann@example.com", not
// "Ann <ann@example.com>") of at most 254 bytes and returns it trimmed and in lower
// case, the form stored and compared. Lower-casing the local part is a deliberate
// simplification: no mainstream provider treats case as significant, and treating it so
// would let "Ann@x" and "ann@x" be two users.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return "", ErrInvalidEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || !strings.Contains(s[at+1:], ".") {
		return "", ErrInvalidEmail
	}
	return strings.ToLower(s), nil
}

// localPart returns the part of a normalised e-mail before the '@'.
func localPart(email string) string {
	if at := strings.LastIndexByte(email, '@'); at > 0 {
		return email[:at]
	}
	return email
}

// validName trims a display name and checks it: 1 to 200 characters, valid UTF-8, no
// control characters.
func validName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 200 ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return "", fmt.Errorf("%w", ErrInvalidName)
	}
	return name, nil
}
