package token

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/callshield/callshield/access"
	"github.com/google/uuid"
)

// Errors of the token package. Storage errors (storage.ErrNotFound, ErrConflict,
// ErrStale) pass through wrapped; compare with errors.Is.
var (
	// ErrInvalid is wrapped by every reason a presented token does not authenticate:
	// malformed, failing its checksum, unknown, revoked, expired, or its user may no
	// longer act. The middleware answers all of them alike (401 "invalid_token").
	ErrInvalid = errors.New("token: invalid token")
	// ErrMalformed: not a token of this format (wraps ErrInvalid).
	ErrMalformed = fmt.Errorf("%w: malformed", ErrInvalid)
	// ErrChecksum: the checksum does not match, a mistyped or altered token (wraps
	// ErrInvalid). Detected before any store lookup.
	ErrChecksum = fmt.Errorf("%w: checksum mismatch", ErrInvalid)
	// ErrUnknown: no token with this hash in its tenant (wraps ErrInvalid).
	ErrUnknown = fmt.Errorf("%w: unknown", ErrInvalid)
	// ErrRevoked: the token was revoked or replaced (wraps ErrInvalid).
	ErrRevoked = fmt.Errorf("%w: revoked", ErrInvalid)
	// ErrExpired: the token's expiry has passed (wraps ErrInvalid).
	ErrExpired = fmt.Errorf("%w: expired", ErrInvalid)
	// ErrUserInactive: the token's user is blocked, archived, deleted or otherwise
	// not active (wraps ErrInvalid).
	ErrUserInactive = fmt.Errorf("%w: user may not act", ErrInvalid)

	// ErrForbidden: the acting subject lacks the right the operation needs. It is
	// access.ErrForbidden itself (as authn.ErrForbidden is), so that errors.Is matches
	// either name.
	ErrForbidden = access.ErrForbidden
	// ErrExists: the user already has an active token; regenerate it instead.
	ErrExists = errors.New("token: the user already has an active token")
	// ErrNoToken: the user has no active token.
	ErrNoToken = errors.New("token: no active token")
	// ErrInvalidName: a token name that is empty after trimming, longer than 100
	// characters, not UTF-8 or holding control characters.
	ErrInvalidName = errors.New("token: invalid name")
	// ErrInvalidExpiry: an expiry that is not in the future.
	ErrInvalidExpiry = errors.New("token: expiry not in the future")
	// ErrRegenerateTooSoon: the user's current token was created less than
	// Options.RegenerateInterval ago; it was not replaced.
	ErrRegenerateTooSoon = errors.New("token: the token was regenerated too recently")
)

// Token is an API token's record, as stored: never the token itself, only the SHA-256
// of its random part. A Token value holds no secret and may be logged and shown.
type Token struct {
	ID     uuid.UUID
	Tenant uuid.UUID
	// User is the user the token acts as, with never more than their current rights.
	User uuid.UUID
	// Name is the label the user gave it ("CRM sync").
	Name string
	// Hash is the SHA-256 of the token's 24 random bytes: the lookup key.
	Hash      [32]byte
	CreatedBy uuid.UUID // who issued it: the user, or a user manager
	CreatedAt time.Time
	// ExpiresAt is when the token stops working; zero: never.
	ExpiresAt time.Time
	// LastUsedAt is the last request made with it, as of the last usage flush (see
	// [Service.Flush]); zero: never used.
	LastUsedAt time.Time
	// RevokedAt is when it was revoked or replaced; zero while it is not.
	RevokedAt time.Time
}

// Active reports whether the token works at now: a stored token (non-zero ID), not
// revoked, not expired. The zero Token (what Verify returns for an unknown token) is
// not active. Active says nothing about the token's user: only Verify's nil error
// means the token authenticates.
func (t Token) Active(now time.Time) bool {
	return t.ID != uuid.Nil && t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// Day is a calendar day, "2006-01-02". Usage is counted per day in the tenant's time
// zone (UTC unless [Options.Location] says otherwise). Days order as strings.
type Day string

// DayOf returns the day of t in loc (UTC if loc is nil).
func DayOf(t time.Time, loc *time.Location) Day {
	return civilOf(t, loc).asDay()
}

// ParseDay parses "2006-01-02".
func ParseDay(s string) (Day, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return "", fmt.Errorf("token: day %q: %w", s, err)
	}
	return Day(t.Format(time.DateOnly)), nil
}

// Valid reports whether d is a well-formed day.
func (d Day) Valid() bool {
	_, err := ParseDay(string(d))
	return err == nil
}

// Usage is one token's requests on one day. Stores add counters up (several app
// instances flush into the same rows); a report reads them back per user or tenant.
type Usage struct {
	Tenant uuid.UUID
	Token  uuid.UUID
	// User is the token's user (filled by the store from the token).
	User uuid.UUID
	Day  Day
	// Requests counts every request made with the token; Errors those answered with
	// a status of 400 or more.
	Requests int64
	Errors   int64
	// LastUsed is the time of the last request counted, UTC.
	LastUsed time.Time
}

// UsageQuery selects usage rows of one tenant: the days From to To, both included, of
// one user or (User zero) of every user.
type UsageQuery struct {
	User     uuid.UUID
	From, To Day
}

// MaxNameLen bounds a token's name, in characters.
const MaxNameLen = 100

// validName trims a token name and checks it.
func validName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLen ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return "", ErrInvalidName
	}
	return name, nil
}
