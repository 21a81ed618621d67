package httperr

import (
	"errors"
	"net/http"
)

// StatusClientClosed is nginx's 499: the client closed the connection before
// the answer was ready. It is logged at debug, never as a server error.
const StatusClientClosed = 499

// Rule is one row of an error table: an error that errors.Is matches, and
// the answer for it.
type Rule struct {
	Err        error
	Status     int
	Code       string
	Message    string
	Param      string
	RetryAfter int // seconds
}

// Table maps errors to answers. A component keeps one table for all its
// routes, so an error gets the same status wherever it surfaces.
type Table []Rule

// Map returns the answer for err: an *Error found in its chain as is, else
// the first rule whose Err matches (the cause kept for the log), else a 500.
func (t Table) Map(err error) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	for _, r := range t {
		if errors.Is(err, r.Err) {
			return &Error{Status: r.Status, Code: r.Code, Message: r.Message, Param: r.Param,
				RetryAfter: r.RetryAfter, Cause: err}
		}
	}
	return Wrap(http.StatusInternalServerError, "internal", "internal server error", err)
}
