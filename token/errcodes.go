package token

import (
	"net/http"

	"github.com/callshield/callshield/access"
)

// tokenErrors are the token package's entries of the SDK's one mapping from sentinel
// errors to HTTP answers (access.ErrorCode). Every reason a presented token fails is
// one answer, 401 "invalid_token", as the middleware gives it. ErrForbidden is
// access.ErrForbidden and is mapped there.
var tokenErrors = []access.ErrorMapping{
	{Err: ErrInvalid, Status: http.StatusUnauthorized, Code: "invalid_token"},
	{Err: ErrExists, Status: http.StatusConflict, Code: "token_exists"},
	{Err: ErrNoToken, Status: http.StatusNotFound, Code: "no_token"},
	{Err: ErrInvalidName, Status: http.StatusBadRequest, Code: "invalid_name"},
	{Err: ErrInvalidExpiry, Status: http.StatusBadRequest, Code: "invalid_expiry"},
	{Err: ErrInvalidPeriod, Status: http.StatusBadRequest, Code: "invalid_period"},
	{Err: ErrRegenerateTooSoon, Status: http.StatusTooManyRequests, Code: "too_many_regenerations"},
}

func init() { access.RegisterErrors(tokenErrors...) }
