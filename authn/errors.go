package authn

import (
	"errors"

	"github.com/callshield/callshield/access"
)

// Errors of the account part of authn. Storage errors (storage.ErrNotFound,
// storage.ErrConflict, storage.ErrStale) pass through wrapped; compare with errors.Is.
//
// Errors meant for end users never say which of e-mail or password was wrong:
// [ErrInvalidCredentials] covers an unknown e-mail, a wrong password and a user who may
// not sign in, alike.
var (
	// ErrInvalidCredentials: sign-in failed. Deliberately uninformative.
	ErrInvalidCredentials = errors.New("authn: invalid credentials")
	// ErrInvalidEmail: not a single bare e-mail address.
	ErrInvalidEmail = errors.New("authn: invalid e-mail address")
	// ErrInvalidName: an empty, over-long or control-character display name.
	ErrInvalidName = errors.New("authn: invalid name")
	// ErrTicketInvalid: an invitation or password-reset link that is unknown, used,
	// revoked, expired, or of another tenant. Deliberately uninformative.
	ErrTicketInvalid = errors.New("authn: link invalid or expired")
	// ErrUserExists: an invitation for an e-mail that already belongs to a user who is
	// not merely invited.
	ErrUserExists = errors.New("authn: a user with this e-mail exists")
	// ErrInvalidTransition: a lifecycle change not allowed from the user's status
	// (archiving an active user, unblocking a deleted one, ...).
	ErrInvalidTransition = errors.New("authn: transition not allowed from the user's status")
	// ErrUserDeleted: the user was removed from the company or deleted after the
	// retention period; their personal data is gone and reports about them are no
	// longer possible.
	ErrUserDeleted = errors.New("authn: user deleted; reports about this user are no longer possible")
	// ErrForbidden: the acting subject lacks the right the operation needs. It is
	// access.ErrForbidden itself, so that errors.Is matches either name whichever
	// package refused: authn's checks run through access's rules.
	ErrForbidden = access.ErrForbidden
	// ErrWrongPassword: a password change whose current password is wrong.
	ErrWrongPassword = errors.New("authn: current password is wrong")
)
