package authn

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Linked identities: the types shared by the service (identity_service.go), the stores
// (store_identity.go) and the provider adapters (package authn/oidc).
//
// authn itself speaks no OAuth: an [IdentityProvider] does the protocol (package
// authn/oidc implements it for OpenID Connect and for Facebook over golang.org/x/oauth2
// and github.com/coreos/go-oidc/v3), and authn owns everything that decides who signs
// in: the flow state bound to the browser and the session, the identity records keyed
// by (issuer, subject), the e-mail confirmation, and the sign-in flow. A host that
// offers no social sign-in compiles no OAuth code.

// Errors of linked identities.
var (
	// ErrFlowInvalid: an authorization callback whose flow is unknown, used, expired,
	// of another session or user, or whose state does not match. Deliberately
	// uninformative; the audit event records the reason.
	ErrFlowInvalid = errors.New("authn: sign-in flow invalid or expired")
	// ErrTooManyFlows: the client's address started IdentityOptions.MaxFlowsPerAddress
	// sign-in flows in a row without signing in; it may start more after FlowTTL.
	ErrTooManyFlows = errors.New("authn: too many sign-in flows started from this address")
	// ErrIdentityInvalid: the provider's answer did not verify (code exchange refused,
	// ID token with a wrong signature, algorithm, issuer, audience, nonce or time).
	// Provider adapters wrap it.
	ErrIdentityInvalid = errors.New("authn: identity could not be verified")
	// ErrUnknownProvider: no provider of this name is configured.
	ErrUnknownProvider = errors.New("authn: unknown identity provider")
	// ErrIdentityTaken: the identity is linked (or pending) to another user of the
	// tenant.
	ErrIdentityTaken = errors.New("authn: this identity is linked to another user")
	// ErrIdentityLinked: the identity is already linked to this user.
	ErrIdentityLinked = errors.New("authn: this identity is already linked to the user")
	// ErrLastSignInMethod: unlinking would leave the user no way to sign in (no
	// password and no other confirmed identity).
	ErrLastSignInMethod = errors.New("authn: the user's last way to sign in cannot be removed")
	// ErrSessionRequired: linking needs a subject signed in with a session, not an API
	// token or the system.
	ErrSessionRequired = errors.New("authn: linking an identity needs a signed-in session")
)

// IdentityProvider is one configured provider of linked identities. Package
// authn/oidc implements it for OpenID Connect issuers (Google, Microsoft Entra ID,
// Okta, Keycloak, Zitadel, ...) and for Facebook.
//
// The service generates state, nonce and PKCE verifier, binds them to the browser and
// the session, and checks the state; the provider puts them in the authorization
// request and, at the callback, redeems the code with the verifier and verifies what
// comes back.
type IdentityProvider interface {
	// Name is the provider's configuration name ("google", "facebook", ...), unique
	// among the service's providers; it is stored with each identity.
	Name() string
	// AuthCodeURL returns the authorization URL to send the browser to, carrying state,
	// nonce (OpenID Connect) and the S256 challenge of verifier.
	AuthCodeURL(state, nonce, verifier string) string
	// Exchange redeems the authorization code with the PKCE verifier and returns the
	// verified identity. An OpenID Connect provider verifies the ID token: signature by
	// an allowed algorithm (never "none", never HMAC), issuer, audience = client ID,
	// expiry and issue time, and that its nonce is nonce. Every failure wraps
	// [ErrIdentityInvalid].
	Exchange(ctx context.Context, code, verifier, nonce string) (ExternalIdentity, error)
}

// ExternalIdentity is what a provider vouches for after a verified exchange.
type ExternalIdentity struct {
	// Issuer and Subject identify the account at the provider: the only key an
	// identity is found by. Subject is the provider's stable, never reassigned ID.
	Issuer  string
	Subject string
	// Email, EmailVerified and Name are shown to the user (which account was linked)
	// and never used to find or link an account: e-mail addresses are mutable and
	// reassignable at many providers (CVE-2023-3128).
	Email         string
	EmailVerified bool
	Name          string
	// RefreshToken is the provider's refresh token, if it issued one. It is kept only
	// when the host configures IdentityOptions.TokenSealer, and then sealed.
	RefreshToken ProviderToken
}

// ProviderToken is a provider's token (refresh or access). It redacts itself in every
// printed, logged or marshalled form; [ProviderToken.Reveal] returns it.
type ProviderToken struct{ s string }

// NewProviderToken wraps a provider's token.
func NewProviderToken(s string) ProviderToken { return ProviderToken{s} }

// Reveal returns the token. Never log it.
func (t ProviderToken) Reveal() string { return t.s }

// IsZero reports whether there is no token.
func (t ProviderToken) IsZero() bool { return t.s == "" }

// String redacts the token.
func (t ProviderToken) String() string { return redacted }

// GoString redacts the token.
func (t ProviderToken) GoString() string { return redacted }

// LogValue redacts the token in slog output.
func (t ProviderToken) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the token.
func (t ProviderToken) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText redacts the token.
func (t ProviderToken) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Format redacts the token for every fmt verb.
func (t ProviderToken) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// IdentityStatus says whether a linked identity can be used to sign in.
type IdentityStatus string

// Identity statuses.
const (
	// IdentityPending: linked from the profile, waiting for the user to confirm it
	// through the mailed link. It cannot be used to sign in.
	IdentityPending IdentityStatus = "pending"
	// IdentityActive: confirmed; signs the user in.
	IdentityActive IdentityStatus = "active"
)

// Identity is an account at a provider linked to a user, as stored.
type Identity struct {
	ID       uuid.UUID
	Tenant   uuid.UUID
	User     uuid.UUID
	Provider string // the IdentityProvider's Name
	Issuer   string
	Subject  string
	// Email is the provider's e-mail claim when the link was made, for display only.
	Email  string
	Status IdentityStatus
	// ConfirmHash is the SHA-256 of the confirmation link's secret while pending; zero
	// once confirmed.
	ConfirmHash      [32]byte
	ConfirmExpiresAt time.Time // zero once confirmed
	// SealedToken is the provider's refresh token sealed with the host's TokenSealer;
	// nil unless the host asked to keep tokens.
	SealedToken []byte
	CreatedAt   time.Time
	ConfirmedAt time.Time // zero while pending
}

// LogValue logs the identity without its sealed token or confirmation hash.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", id.ID.String()), slog.String("user", id.User.String()),
		slog.String("provider", id.Provider), slog.String("issuer", id.Issuer), slog.String("status", string(id.Status)))
}

// FlowPurpose says what an authorization-code flow is for.
type FlowPurpose string

// Flow purposes.
const (
	// FlowLink: a signed-in user links an identity from their profile.
	FlowLink FlowPurpose = "link"
	// FlowSignIn: a user signs in with a linked identity.
	FlowSignIn FlowPurpose = "sign_in"
)

// IdentityFlow is the server-side state of one authorization-code flow. Only the
// SHA-256 of the flow secret is stored; the state, nonce and PKCE verifier are derived
// from the secret, which only the browser holds (in a cookie), so that neither the
// database nor the callback URL reveals the verifier.
type IdentityFlow struct {
	Tenant    uuid.UUID
	TokenHash [32]byte
	Purpose   FlowPurpose
	Provider  string
	// User and Session bind a FlowLink to the session that started it; zero for
	// FlowSignIn.
	User      uuid.UUID
	Session   uuid.UUID
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Link purposes of linked identities: the flow cookie and the confirmation link. They
// are LinkTokens like the invitation's (tenant-prefixed, 256 random bits, stored
// hashed).
const (
	// PurposeIdentityFlow marks the secret of an authorization-code flow, kept by the
	// browser in a short-lived cookie between the start and the callback.
	PurposeIdentityFlow Purpose = "identity_flow"
	// PurposeIdentityConfirm marks the mailed link that confirms a linked identity.
	PurposeIdentityConfirm Purpose = "identity_confirm"
)

func init() {
	tokenPrefix[PurposeIdentityFlow] = "csflw_"
	tokenPrefix[PurposeIdentityConfirm] = "csidc_"
}

// flowSecrets are what a flow secret yields.
type flowSecrets struct {
	tenant                 uuid.UUID
	hash                   [32]byte // the stored lookup key
	state, nonce, verifier string
}

// deriveFlow parses a flow secret and derives its state, nonce and PKCE verifier, each
// HMAC-SHA256(secret, label) in base64url: 43 characters, within RFC 7636's 43..128
// unreserved characters for the verifier. Malformed input is ErrFlowInvalid.
func deriveFlow(token string) (flowSecrets, error) {
	prefix := tokenPrefix[PurposeIdentityFlow]
	if !strings.HasPrefix(token, prefix) || len(token) > 128 {
		return flowSecrets{}, ErrFlowInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(token[len(prefix):])
	if err != nil || len(raw) != 16+tokenSecretLen {
		return flowSecrets{}, ErrFlowInvalid
	}
	var fs flowSecrets
	copy(fs.tenant[:], raw[:16])
	if fs.tenant == uuid.Nil {
		return flowSecrets{}, ErrFlowInvalid
	}
	secret := raw[16:]
	fs.hash = sha256.Sum256(secret)
	derive := func(label string) string {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("callshield identity flow " + label))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	fs.state, fs.nonce, fs.verifier = derive("state"), derive("nonce"), derive("pkce verifier")
	return fs, nil
}

// stateMatches compares a callback's state with the flow's in constant time.
func (fs flowSecrets) stateMatches(state string) bool {
	return hmac.Equal([]byte(state), []byte(fs.state))
}

// IdentityOptions configure linked identities in [Options].
type IdentityOptions struct {
	// Providers are the configured providers, by their unique Name. None: linked
	// identities are off and every identity call is ErrUnknownProvider.
	Providers []IdentityProvider
	// FlowTTL bounds the time from the start of a flow to its callback. Default 10
	// minutes; at most 30 minutes.
	FlowTTL time.Duration
	// MaxFlowsPerAddress bounds the sign-in flows one client address (an IPv6 client
	// by its /64) may start in a tenant, each within FlowTTL of the previous one, before
	// further starts are refused for FlowTTL (see [Service.StartIdentitySignIn]), so that
	// nobody can fill the flow table. Default 100; at most 10000.
	MaxFlowsPerAddress int
	// ConfirmTTL is how long the mailed confirmation link of a new identity is valid.
	// Default 24 hours.
	ConfirmTTL time.Duration
	// TokenSealer, if set, keeps the provider's refresh token of each identity, sealed
	// with it. If nil (the default), provider tokens are never stored.
	TokenSealer TokenSealer
}

// TokenSealer seals provider tokens at rest, bound to associated data (tenant, user
// and identity), like TOTP secrets. [NewTokenSealer] returns the AES-256-GCM one. Only
// a [KeyedTokenSealer] has its tokens moved to its current key by
// [Service.ResealSecrets].
type TokenSealer interface {
	Seal(plain, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Defaults of IdentityOptions.
const (
	DefaultFlowTTL = 10 * time.Minute
	// DefaultMaxFlowsPerAddress is IdentityOptions.MaxFlowsPerAddress's default.
	DefaultMaxFlowsPerAddress = 100
	DefaultConfirmTTL         = 24 * time.Hour
)

// withDefaults checks the options and fills in the defaults.
func (o IdentityOptions) withDefaults() (IdentityOptions, error) {
	if o.FlowTTL == 0 {
		o.FlowTTL = DefaultFlowTTL
	}
	if o.ConfirmTTL == 0 {
		o.ConfirmTTL = DefaultConfirmTTL
	}
	if o.MaxFlowsPerAddress == 0 {
		o.MaxFlowsPerAddress = DefaultMaxFlowsPerAddress
	}
	if o.MaxFlowsPerAddress < 0 || o.MaxFlowsPerAddress > 10000 {
		return o, errors.New("authn: IdentityOptions.MaxFlowsPerAddress must be 1 to 10000")
	}
	if o.FlowTTL < 0 || o.FlowTTL > 30*time.Minute {
		return o, errors.New("authn: IdentityOptions.FlowTTL must be at most 30 minutes")
	}
	if o.ConfirmTTL < 0 || o.ConfirmTTL > 7*24*time.Hour {
		return o, errors.New("authn: IdentityOptions.ConfirmTTL must be at most 7 days")
	}
	seen := map[string]bool{}
	for _, p := range o.Providers {
		if p == nil || p.Name() == "" || seen[p.Name()] {
			return o, errors.New("authn: IdentityOptions.Providers need unique, non-empty names")
		}
		seen[p.Name()] = true
	}
	return o, nil
}
