package authn

import (
	"net/http"

	"github.com/callshield/callshield/access"
	"github.com/callshield/callshield/authn/totp"
)

// authnErrors are authn's (and authn/totp's) entries of the SDK's one mapping from
// sentinel errors to HTTP answers (access.ErrorCode, access.WriteErrorFor). A sentinel
// that wraps another comes before it. authn.ErrForbidden is access.ErrForbidden and is
// mapped there. A new sentinel of authn gets its line here; the test
// TestEverySentinelHasAnHTTPAnswer fails until it has one.
var authnErrors = []access.ErrorMapping{
	{Err: ErrInvalidCredentials, Status: http.StatusUnauthorized, Code: "invalid_credentials"},
	{Err: ErrIPNotAllowed, Status: http.StatusForbidden, Code: "ip_not_allowed"},
	{Err: ErrBusy, Status: http.StatusServiceUnavailable, Code: "busy"},
	{Err: ErrInvalidEmail, Status: http.StatusBadRequest, Code: "invalid_email"},
	{Err: ErrInvalidName, Status: http.StatusBadRequest, Code: "invalid_name"},
	{Err: ErrTicketInvalid, Status: http.StatusGone, Code: "link_invalid"},
	{Err: ErrUserExists, Status: http.StatusConflict, Code: "user_exists"},
	{Err: ErrInvalidTransition, Status: http.StatusConflict, Code: "invalid_transition"},
	{Err: ErrUserDeleted, Status: http.StatusGone, Code: "user_deleted"},
	{Err: ErrWrongPassword, Status: http.StatusForbidden, Code: "wrong_password"},
	{Err: ErrWeakPassword, Status: http.StatusBadRequest, Code: "weak_password"},
	{Err: ErrPasswordTooLong, Status: http.StatusBadRequest, Code: "password_too_long"},
	{Err: ErrEmptyPassword, Status: http.StatusBadRequest, Code: "empty_password"},
	{Err: ErrTwoFactorUnavailable, Status: http.StatusBadRequest, Code: "two_factor_unavailable"},
	{Err: ErrPasswordMinLength, Status: http.StatusBadRequest, Code: "password_min_length"},
	{Err: ErrInvalidSettings, Status: http.StatusBadRequest, Code: "invalid_settings"},
	{Err: ErrBlocklistUnavailable, Status: http.StatusServiceUnavailable, Code: "unavailable"},
	{Err: ErrSessionEnded, Status: http.StatusUnauthorized, Code: "unauthenticated"},
	{Err: ErrSessionInvalid, Status: http.StatusUnauthorized, Code: "unauthenticated"},
	{Err: ErrPendingInvalid, Status: http.StatusUnauthorized, Code: "sign_in_expired"},
	{Err: ErrSessionLimit, Status: http.StatusConflict, Code: "session_limit"},
	{Err: ErrReauthRequired, Status: http.StatusUnauthorized, Code: "reauthentication_required"},
	{Err: ErrRestrictedSession, Status: http.StatusForbidden, Code: "two_factor_enrolment_required"},
	// Linked identities (OIDC).
	{Err: ErrFlowInvalid, Status: http.StatusBadRequest, Code: "sign_in_flow_invalid"},
	{Err: ErrTooManyFlows, Status: http.StatusTooManyRequests, Code: "too_many_sign_in_starts"},
	{Err: ErrIdentityInvalid, Status: http.StatusUnauthorized, Code: "identity_invalid"},
	{Err: ErrUnknownProvider, Status: http.StatusNotFound, Code: "unknown_provider"},
	{Err: ErrIdentityTaken, Status: http.StatusConflict, Code: "identity_taken"},
	{Err: ErrIdentityLinked, Status: http.StatusConflict, Code: "identity_linked"},
	{Err: ErrLastSignInMethod, Status: http.StatusConflict, Code: "last_sign_in_method"},
	{Err: ErrSessionRequired, Status: http.StatusForbidden, Code: "session_required"},
	{Err: ErrSealerKey, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: ErrSealedToken, Status: http.StatusInternalServerError, Code: "internal"},
	// Two-factor (twofactor.go).
	{Err: ErrInvalidCode, Status: http.StatusBadRequest, Code: "invalid_code"},
	{Err: ErrEnrolmentInvalid, Status: http.StatusGone, Code: "enrolment_invalid"},
	{Err: ErrTwoFactorEnabled, Status: http.StatusConflict, Code: "two_factor_enabled"},
	{Err: ErrTwoFactorNotEnabled, Status: http.StatusConflict, Code: "two_factor_not_enabled"},
	{Err: ErrTwoFactorRequired, Status: http.StatusForbidden, Code: "two_factor_required"},
	// Configuration and stored-data errors: the host's set-up is wrong.
	{Err: ErrTwoFactorNotConfigured, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: ErrInvalidPolicy, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: ErrMalformedHash, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: ErrUnsupportedHash, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: ErrNoSTARTTLS, Status: http.StatusInternalServerError, Code: "internal"},

	// authn/totp: a wrong, malformed or replayed code is one answer, so that a
	// replay is not told apart from a wrong code.
	{Err: totp.ErrInvalidCode, Status: http.StatusUnauthorized, Code: "invalid_code"},
	{Err: totp.ErrReplayed, Status: http.StatusUnauthorized, Code: "invalid_code"},
	{Err: totp.ErrMalformedCode, Status: http.StatusUnauthorized, Code: "invalid_code"},
	{Err: totp.ErrMalformedSecret, Status: http.StatusBadRequest, Code: "invalid_secret"},
	{Err: totp.ErrSecretTooShort, Status: http.StatusBadRequest, Code: "invalid_secret"},
	{Err: totp.ErrSecretTooLong, Status: http.StatusBadRequest, Code: "invalid_secret"},
	{Err: totp.ErrInvalidLabel, Status: http.StatusBadRequest, Code: "invalid_name"},
	{Err: totp.ErrNoSecret, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: totp.ErrInvalidConfig, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: totp.ErrQRCode, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: totp.ErrRecoveryCount, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: totp.ErrRandom, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: totp.ErrSealerKey, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: totp.ErrMissingAAD, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: totp.ErrSealedFormat, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: totp.ErrSealedUnknownKey, Status: http.StatusInternalServerError, Code: "internal"},
	{Err: totp.ErrSealedAuth, Status: http.StatusInternalServerError, Code: "internal"},
}

func init() { access.RegisterErrors(authnErrors...) }
