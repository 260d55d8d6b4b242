package totp

import (
	"errors"
	"fmt"
)

// Errors of the package. Compare with errors.Is (and errors.As for the typed errors
// below), never by message. No error of this package contains a code, a secret, a
// recovery code or key material: they may be logged as they are.
//
// [ErrInvalidCode] and [ErrReplayed] are told apart for the audit log; a message shown
// to the user should not say which of the two happened (a replay means someone else
// may have seen the code).
var (
	// ErrMalformedCode: the code is not Digits ASCII digits once spaces are removed.
	ErrMalformedCode = errors.New("totp: malformed code")
	// ErrInvalidCode: a well-formed code that matches no step of the window.
	ErrInvalidCode = errors.New("totp: invalid code")
	// ErrReplayed: the code matches a step that is not after the last accepted one:
	// it was used already, or an older code arrived after a newer one.
	ErrReplayed = errors.New("totp: code already used")
	// ErrNoSecret: the zero Secret was passed where a key is needed.
	ErrNoSecret = errors.New("totp: no secret")
	// ErrMalformedSecret: an imported secret that is not base32 (RFC 4648).
	ErrMalformedSecret = errors.New("totp: malformed base32 secret")
	// ErrSecretTooShort: an imported secret below MinSecretBits (see [SecretLengthError]).
	ErrSecretTooShort = errors.New("totp: secret too short")
	// ErrSecretTooLong: an imported secret above MaxSecretBytes (see [SecretLengthError]).
	ErrSecretTooLong = errors.New("totp: secret too long")
	// ErrInvalidConfig: a [Config] field out of range (see [ConfigError]).
	ErrInvalidConfig = errors.New("totp: invalid config")
	// ErrInvalidLabel: an issuer or account name that cannot go into a key URI: empty,
	// not UTF-8, or holding a colon or a control character.
	ErrInvalidLabel = errors.New("totp: invalid issuer or account name")
	// ErrQRCode: a QR code image size out of range, or an image that could not be
	// drawn.
	ErrQRCode = errors.New("totp: QR code image cannot be made")
	// ErrRecoveryCount: a number of recovery codes outside 1..MaxRecoveryCodes.
	ErrRecoveryCount = errors.New("totp: invalid number of recovery codes")
	// ErrRandom: the random source failed or repeated itself.
	ErrRandom = errors.New("totp: random source failed")

	// ErrSealerKey: a keyring that [NewSealer] refuses (see [KeyError]).
	ErrSealerKey = errors.New("totp: invalid sealer key")
	// ErrMissingAAD: Seal or Open without associated data. The caller binds each
	// sealed secret to its row (tenant ID ‖ user ID); sealing without it would let a
	// sealed secret be copied to another user's row and still open.
	ErrMissingAAD = errors.New("totp: sealing needs associated data (tenant ID ‖ user ID)")
	// ErrSealedFormat: sealed bytes that are too short or of an unknown version.
	ErrSealedFormat = errors.New("totp: sealed secret malformed")
	// ErrSealedUnknownKey: sealed under a key ID that is not in the keyring (see
	// [UnknownKeyError]).
	ErrSealedUnknownKey = errors.New("totp: sealed secret under an unknown key")
	// ErrSealedAuth: the sealed bytes fail authentication: they were changed, or the
	// associated data is not the one they were sealed with (another user's row).
	// GCM cannot tell the two apart, and neither does this error.
	ErrSealedAuth = errors.New("totp: sealed secret failed authentication")
)

// SecretLengthError reports an imported secret of the wrong size. It matches
// [ErrSecretTooShort] or [ErrSecretTooLong] with errors.Is.
type SecretLengthError struct {
	Bits int // the decoded size; the secret itself is never kept
}

// Error says the size, never the secret.
func (e *SecretLengthError) Error() string {
	return fmt.Sprintf("totp: secret of %d bits; need %d to %d", e.Bits, MinSecretBits, MaxSecretBytes*8)
}

// Is matches ErrSecretTooShort or ErrSecretTooLong, whichever applies.
func (e *SecretLengthError) Is(target error) bool {
	if e.Bits < MinSecretBits {
		return target == ErrSecretTooShort
	}
	return target == ErrSecretTooLong
}

// ConfigError names the [Config] field that is out of range. It matches
// [ErrInvalidConfig] with errors.Is.
type ConfigError struct {
	Field  string // "Digits", "Period", "Algorithm" or "Skew"
	Reason string
}

// Error names the field and what is wrong with it.
func (e *ConfigError) Error() string { return "totp: invalid config: " + e.Field + " " + e.Reason }

// Is matches ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// KeyError reports a sealer key that is not 32 bytes, or a current key ID missing from
// the keyring. It matches [ErrSealerKey] with errors.Is.
type KeyError struct {
	ID     uint32
	Len    int  // the key's length in bytes; 0 when missing
	Absent bool // the ID is not in the keyring
}

// Error names the key ID and its length, never the key.
func (e *KeyError) Error() string {
	if e.Absent {
		return fmt.Sprintf("totp: sealer key %d is not in the keyring", e.ID)
	}
	return fmt.Sprintf("totp: sealer key %d is %d bytes; AES-256 needs 32", e.ID, e.Len)
}

// Is matches ErrSealerKey.
func (e *KeyError) Is(target error) bool { return target == ErrSealerKey }

// UnknownKeyError names the key ID a sealed secret was sealed under when the keyring no
// longer (or not yet) holds it: a key retired too early, or a deployment that lacks
// the newest key. It matches [ErrSealedUnknownKey] with errors.Is.
type UnknownKeyError struct {
	ID uint32
}

// Error names the key ID.
func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("totp: sealed secret under unknown key %d", e.ID)
}

// Is matches ErrSealedUnknownKey.
func (e *UnknownKeyError) Is(target error) bool { return target == ErrSealedUnknownKey }
