package authn

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/callshield/callshield/internal/secretfmt"
	"github.com/google/uuid"
)

// Purpose says what a one-time link is for.
type Purpose string

// Link purposes.
const (
	// PurposeInvitation: accept an invitation and set the first password.
	PurposeInvitation Purpose = "invitation"
	// PurposePasswordReset: set a new password after an administrator forced a reset.
	PurposePasswordReset Purpose = "password_reset"
)

// tokenPrefix marks each purpose's links, so that a leaked link is recognisable (and
// a reset link cannot be replayed as an invitation: the purpose is also in the lookup).
// The prefixes are defined in internal/secretfmt, so that the audit log recognises them.
var tokenPrefix = map[Purpose]string{
	PurposeInvitation:    secretfmt.Invitation,
	PurposePasswordReset: secretfmt.PasswordReset,
}

// Ticket is a one-time link as stored: only the SHA-256 of its secret is kept. It is
// bound to one tenant, user, e-mail and purpose, expires, is used at most once (a
// conditional write in the store settles races), and is revoked when a newer ticket of
// the same purpose is issued for the user.
type Ticket struct {
	ID        uuid.UUID
	Tenant    uuid.UUID
	User      uuid.UUID
	Purpose   Purpose
	Email     string // the address the link was sent to
	TokenHash [32]byte
	// Role and Projects are fixed at invitation (PurposeInvitation only).
	Role      uuid.UUID
	Projects  []uuid.UUID
	CreatedBy uuid.UUID // the acting user; zero for the system
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
	RevokedAt time.Time // zero while not revoked
}

// Open reports whether the ticket can still be used at now.
func (t Ticket) Open(now time.Time) bool {
	return t.UsedAt.IsZero() && t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// LinkToken is the secret of a one-time link, as mailed to the user. It redacts itself
// in every printed, logged or marshalled form; [LinkToken.Reveal] returns the raw value
// for building the link.
//
// Format: a purpose prefix ("csinv_", "csrst_"), then base64url (no padding) of the
// 16-byte tenant ID followed by 32 random bytes (256 bits from crypto/rand). The tenant
// travels in the link so that the lookup is tenant-scoped like every other.
type LinkToken struct{ s string }

const tokenSecretLen = 32

// newToken is the one generator of authn's secrets that carry their tenant (link
// tokens, session and pending sign-in secrets): prefix, then base64url (no padding) of
// the tenant's 16 bytes and tokenSecretLen random bytes; the hash stored is SHA-256
// of the random part. Their parsers differ (ParseLinkToken, parseSessionToken).
func newToken(rand io.Reader, prefix string, tenant uuid.UUID) (string, [32]byte, error) {
	var raw [16 + tokenSecretLen]byte
	copy(raw[:16], tenant[:])
	if _, err := io.ReadFull(rand, raw[16:]); err != nil {
		return "", [32]byte{}, fmt.Errorf("authn: random: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(raw[:]), sha256.Sum256(raw[16:]), nil
}

func newLinkToken(rand io.Reader, purpose Purpose, tenant uuid.UUID) (LinkToken, [32]byte, error) {
	s, hash, err := newToken(rand, tokenPrefix[purpose], tenant)
	return LinkToken{s}, hash, err
}

// ParseLinkToken reads a link secret of the given purpose and returns its tenant and the
// hash under which the ticket is stored. Any malformed input is [ErrTicketInvalid].
func ParseLinkToken(purpose Purpose, s string) (tenant uuid.UUID, hash [32]byte, err error) {
	prefix, ok := tokenPrefix[purpose]
	if !ok || !strings.HasPrefix(s, prefix) || len(s) > 128 {
		return uuid.Nil, hash, ErrTicketInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(s[len(prefix):])
	if err != nil || len(raw) != 16+tokenSecretLen {
		return uuid.Nil, hash, ErrTicketInvalid
	}
	copy(tenant[:], raw[:16])
	if tenant == uuid.Nil {
		return uuid.Nil, hash, ErrTicketInvalid
	}
	return tenant, sha256.Sum256(raw[16:]), nil
}

// Reveal returns the secret, for building the link that is mailed. Never log it.
func (t LinkToken) Reveal() string { return t.s }

// IsZero reports whether the token is empty.
func (t LinkToken) IsZero() bool { return t.s == "" }

// String redacts the token.
func (t LinkToken) String() string { return redacted }

// GoString redacts the token.
func (t LinkToken) GoString() string { return redacted }

// LogValue redacts the token in slog output.
func (t LinkToken) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the token.
func (t LinkToken) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText redacts the token.
func (t LinkToken) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Format redacts the token for every fmt verb.
func (t LinkToken) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

const redacted = "[REDACTED]"
