package socialtest

import (
	"context"
	"net/http"
	"strconv"

	"github.com/mediaedge/mediaedge/httperr"
)

// UserHeader carries the caller's user id to HeaderAuth.
const UserHeader = "X-Test-User"

// HeaderAuth is the services' test authenticator: the user id is the
// decimal number in UserHeader; a missing, malformed or non-positive one is
// a 401 httperr. The real authenticator (users.Handler) is tested with the
// users service.
type HeaderAuth struct{}

// Authenticate implements the services' Authenticator.
func (HeaderAuth) Authenticate(_ context.Context, r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.Header.Get(UserHeader), 10, 64)
	if err != nil || id <= 0 {
		return 0, httperr.New(http.StatusUnauthorized, "unauthenticated", "no user")
	}
	return id, nil
}
