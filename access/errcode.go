package access

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/callshield/callshield/audit"
	"github.com/callshield/callshield/storage"
)

// ErrorMapping is the HTTP answer to one sentinel error of the SDK: the status and a
// stable, machine-readable code (lower-case, underscores) that a host may show to its
// clients and match on. Codes never change once published.
type ErrorMapping struct {
	Err    error
	Status int
	Code   string
}

// Errors of the Guard's own answers, mapped like every other sentinel.
var (
	// ErrBadProject: Guard.Project could not read the request's project.
	ErrBadProject = errors.New("access: the request's project cannot be read")
	// ErrUnavailable: the tenant's policy could not be loaded (the request is
	// refused, fail closed).
	ErrUnavailable = errors.New("access: policy unavailable")
)

// errorTable is the SDK's one mapping from sentinel errors to HTTP answers. Every
// package that declares sentinels registers them (authn in its init, token likewise);
// ErrorCode matches them in registration order with errors.Is, so a derived sentinel
// (one wrapping another) is registered before the one it wraps. The generic storage
// and context errors come last, so that a package's error that also wraps
// storage.ErrNotFound answers with the package's code.
var errorTable struct {
	mu       sync.RWMutex
	specific []ErrorMapping
}

var accessErrors = []ErrorMapping{
	{ErrNoSubject, http.StatusUnauthorized, "unauthenticated"},
	{ErrBadProject, http.StatusBadRequest, "bad_project"},
	{ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{ErrLastAdmin, http.StatusConflict, "last_admin"},
	{ErrBuiltinRole, http.StatusForbidden, "builtin_role"},
	{ErrForbidden, http.StatusForbidden, "forbidden"},
	{ErrRoleInUse, http.StatusConflict, "role_in_use"},
	{ErrInvalidName, http.StatusBadRequest, "invalid_name"},
	{ErrInvalidPrefix, http.StatusBadRequest, "invalid_prefix"},
	{ErrInvalidTenantName, http.StatusBadRequest, "invalid_tenant_name"},
	{ErrUnknownRight, http.StatusBadRequest, "unknown_right"},
	// Start-up errors of the right catalog: the host's program is wrong.
	{ErrRightExists, http.StatusInternalServerError, "internal"},
	{ErrInvalidRightName, http.StatusInternalServerError, "internal"},
	{ErrTooManyRights, http.StatusInternalServerError, "internal"},

	{audit.ErrInvalidQuery, http.StatusBadRequest, "invalid_query"},
	{audit.ErrParams, http.StatusBadRequest, "invalid_parameters"},
	// The event of a security-relevant change could not be stored, so the change was
	// refused: the audit store is unavailable.
	{audit.ErrNotRecorded, http.StatusServiceUnavailable, "unavailable"},
	{audit.ErrQueueFull, http.StatusServiceUnavailable, "busy"},
	{audit.ErrClosed, http.StatusServiceUnavailable, "unavailable"},
	{audit.ErrNotFlushed, http.StatusServiceUnavailable, "unavailable"},
	{audit.ErrCheckpointStale, http.StatusConflict, "stale"},
	{audit.ErrChainBroken, http.StatusInternalServerError, "chain_broken"},
	// A chain event under a key the ring lacks (retired too early, or an edited
	// key ID): verification cannot complete, which is no proof of an intact chain.
	{audit.ErrUnknownKey, http.StatusInternalServerError, "chain_broken"},
	// A misconfigured key ring: the server's fault, never the client's.
	{audit.ErrInvalidChain, http.StatusInternalServerError, "internal"},
	{audit.ErrInvalidEvent, http.StatusInternalServerError, "internal"},
	{audit.ErrDuplicateEvent, http.StatusInternalServerError, "internal"},
}

var genericErrors = []ErrorMapping{
	{storage.ErrNotFound, http.StatusNotFound, "not_found"},
	{storage.ErrConflict, http.StatusConflict, "conflict"},
	{storage.ErrStale, http.StatusConflict, "stale"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "unavailable"},
	{context.Canceled, http.StatusServiceUnavailable, "unavailable"},
}

func init() { errorTable.specific = append(errorTable.specific, accessErrors...) }

// RegisterErrors adds a package's sentinels to the SDK's mapping. Packages of callshield
// call it from init (authn, token); a host may register its own sentinels the same
// way, to answer them with [WriteErrorFor]. Register a sentinel that wraps another
// before the one it wraps. It is safe for concurrent use.
func RegisterErrors(ms ...ErrorMapping) {
	errorTable.mu.Lock()
	defer errorTable.mu.Unlock()
	errorTable.specific = append(errorTable.specific, ms...)
}

// ErrorMappings returns the whole mapping in the order ErrorCode consults it, for
// documentation and tests.
func ErrorMappings() []ErrorMapping {
	errorTable.mu.RLock()
	defer errorTable.mu.RUnlock()
	out := append([]ErrorMapping(nil), errorTable.specific...)
	return append(out, genericErrors...)
}

// ErrorCode returns the HTTP status and stable code for err: the first mapping (see
// [RegisterErrors]) whose sentinel err matches with errors.Is; 500 "internal" for an
// error no mapping knows (a storage failure, a bug), and 200 "" for nil. It is the one
// mapping of the SDK: [Guard] answers with it, and hosts answering the errors of
// access, authn and token services themselves should too (see [WriteErrorFor]).
func ErrorCode(err error) (status int, code string) {
	if err == nil {
		return http.StatusOK, ""
	}
	errorTable.mu.RLock()
	defer errorTable.mu.RUnlock()
	for _, m := range errorTable.specific {
		if errors.Is(err, m.Err) {
			return m.Status, m.Code
		}
	}
	for _, m := range genericErrors {
		if errors.Is(err, m.Err) {
			return m.Status, m.Code
		}
	}
	return http.StatusInternalServerError, "internal"
}

// WriteErrorFor answers err with [WriteError] and the status and code of [ErrorCode].
// The error's text is never written: it may name internals. A 429 answer whose error
// knows its wait ([RetryAfter]) carries it as the Retry-After header, in whole
// seconds.
func WriteErrorFor(w http.ResponseWriter, err error) {
	status, code := ErrorCode(err)
	if status == http.StatusTooManyRequests {
		if secs, ok := RetryAfter(err); ok {
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
	}
	WriteError(w, status, code)
}

// RetryAfterError is an error that knows how long its client should wait before the
// same request can succeed, such as token.RegenerateTooSoonError. Only an error whose
// wait is the client's own business implements it: a wait that depends on the state
// of another account, or that would tell a locked account from a wrong password (the
// sign-in throttle of authn), is never carried.
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}

// RetryAfter returns the wait of the first [RetryAfterError] in err's chain, rounded
// up to whole seconds and at least 1 (the form of an HTTP Retry-After header), and
// whether there is one.
func RetryAfter(err error) (seconds int64, ok bool) {
	var re RetryAfterError
	if !errors.As(err, &re) {
		return 0, false
	}
	d := re.RetryAfter()
	secs := int64(d / time.Second)
	if d%time.Second > 0 {
		secs++
	}
	return max(secs, 1), true
}
