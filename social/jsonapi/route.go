package jsonapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/mediaedge/mediaedge/httperr"
)

// Authenticator tells who a request is: (*users.Handler).Authenticate. Its
// errors are answers (*httperr.Error: 401, 503) and are written as they are.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (userID int64, err error)
}

// PublicFunc is a route anyone may call; an error it returns is the answer.
type PublicFunc func(w http.ResponseWriter, r *http.Request) error

// UserFunc is a route of the signed-in user uid; an error it returns is
// the answer.
type UserFunc func(w http.ResponseWriter, r *http.Request, uid int64) error

// Handle makes the handlers of a service's public routes: a route returns
// an error, which is mapped through table (an *httperr.Error as is, a
// sentinel by its rule, anything else a 500) and written by httperr.Write,
// which logs to log. This is the one place where a social route's error
// becomes an answer.
func Handle(table httperr.Table, log *slog.Logger) func(PublicFunc) http.HandlerFunc {
	return func(fn PublicFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := fn(w, r); err != nil {
				httperr.Write(w, r, log, table.Map(err))
			}
		}
	}
}

// Route is Handle for the routes of a signed-in user: auth names the
// caller before a route runs with their id, and its error is the answer
// (mapped through table like the route's). A service makes it once:
//
//	route := jsonapi.Route(s.cfg.Auth, errorTable, s.log)
//	mux.HandleFunc("GET /v1/feed", route(s.getFeed))
func Route(auth Authenticator, table httperr.Table, log *slog.Logger) func(UserFunc) http.HandlerFunc {
	handle := Handle(table, log)
	return func(fn UserFunc) http.HandlerFunc {
		return handle(func(w http.ResponseWriter, r *http.Request) error {
			uid, err := auth.Authenticate(r.Context(), r)
			if err != nil {
				return err
			}
			return fn(w, r, uid)
		})
	}
}

// ErrStore is the mark of a store fault (StoreFault). A service's table
// answers it last, after its sentinels: 503 store_unavailable with
// Retry-After, naming its own store.
var ErrStore = errors.New("store fault")

// StoreFault marks err, an error of a store (or of a dependency's store),
// as a fault: errors.Is matches ErrStore as well as everything err
// matches, so a sentinel in it keeps its own answer and an unknown error
// is a 503 to retry, not a 500. The message is err's. nil stays nil.
func StoreFault(err error) error { return Mark(err, ErrStore) }

// Mark returns err, also matching mark with errors.Is (nil stays nil): a
// table rule on mark answers an error that matched none of the rules
// before it, by where it came from.
func Mark(err, mark error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, mark: mark}
}

type marked struct{ err, mark error }

func (m *marked) Error() string   { return m.err.Error() }
func (m *marked) Unwrap() []error { return []error{m.err, m.mark} }
