// Package httperr is mediaedge's one HTTP error type and its one writer.
//
// Every handler returns or passes an *Error (or any error, which becomes a 500).
// The JSON body is {"error":{"code":"...","message":"...","param":"..."}}. The
// public Message is written as is; the internal Cause is logged, never sent: a
// 5xx never echoes err.Error() to the client, where it could leak paths, hosts
// or driver details.
package httperr

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
)

// Error is an HTTP error with a public face and a private cause.
type Error struct {
	Status     int    // HTTP status code
	Code       string // stable machine-readable code, e.g. "invalid_parameter"
	Message    string // safe to show to the client
	Param      string // the offending query parameter or header, if any
	RetryAfter int    // seconds; sets Retry-After when > 0
	Header     http.Header
	Cause      error // internal; logged, never written
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	if e.Param != "" {
		msg += " (param " + e.Param + ")"
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an *Error with the given status, code and public message.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Wrap returns an *Error that keeps cause for the log.
func Wrap(status int, code, message string, cause error) *Error {
	return &Error{Status: status, Code: code, Message: message, Cause: cause}
}

// BadParam is the 400 for an invalid query parameter or header, naming it.
func BadParam(param, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_parameter", Message: message, Param: param}
}

// NotFound is the 404 for an unknown resource.
func NotFound(message string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Message: message}
}

type body struct {
	Error bodyError `json:"error"`
}

type bodyError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

// Write writes err as a JSON error response. Errors that are not *Error become
// a 500 with a generic message; the cause is logged with the request.
func Write(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var he *Error
	if !errors.As(err, &he) {
		he = Wrap(http.StatusInternalServerError, "internal", "internal server error", err)
	}
	if logger != nil && (he.Status >= 500 || he.Cause != nil) {
		level := slog.LevelWarn
		switch {
		case he.Status == StatusClientClosed:
			level = slog.LevelDebug // the client left; nothing failed here
		case he.Status == http.StatusServiceUnavailable && he.Cause == nil && he.RetryAfter > 0:
			// Load shed on purpose (a bound reached, "retry shortly"), not
			// a fault: at error level an overload would also flood the log.
			level = slog.LevelDebug
		case he.Status >= 500:
			level = slog.LevelError
		}
		logger.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path,
			"status", he.Status, "code", he.Code, "err", err)
	}
	h := w.Header()
	for k, vs := range he.Header {
		h[k] = vs
	}
	// A cached success header must not survive onto an error.
	h.Del("ETag")
	h.Del("Last-Modified")
	h.Del("Content-Encoding")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if he.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(he.RetryAfter))
	}
	msg := he.Message
	if msg == "" {
		msg = http.StatusText(he.Status)
	}
	w.WriteHeader(he.Status)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(body{Error: bodyError{Code: he.Code, Message: msg, Param: he.Param}})
}
