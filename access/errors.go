package access

import "errors"

// Errors of the access package. Storage errors (storage.ErrNotFound, ErrConflict,
// ErrStale) pass through wrapped; compare with errors.Is.
var (
	// ErrForbidden: the acting subject lacks the right the operation needs.
	ErrForbidden = errors.New("access: forbidden")
	// ErrRoleInUse: the role is still a member's role or a project override.
	ErrRoleInUse = errors.New("access: role in use")
	// ErrBuiltinRole: the default roles cannot be deleted, and Admin cannot be edited.
	ErrBuiltinRole = errors.New("access: built-in role")
	// ErrInvalidName: an empty, over-long or control-character name.
	ErrInvalidName = errors.New("access: invalid name")
	// ErrInvalidPrefix: an allowlist entry that is not an IP address or CIDR prefix.
	ErrInvalidPrefix = errors.New("access: invalid IP address or prefix")
	// ErrNoSubject: the request carries no authenticated subject.
	ErrNoSubject = errors.New("access: no authenticated subject")
)
