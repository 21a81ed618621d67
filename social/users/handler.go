package users

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/jsonapi"
	"github.com/mediaedge/mediaedge/social/ratelimit"
)

// Handler serves the users API under /v1: accounts, sessions, profiles and
// the follow graph. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	store   Store
	hasher  Hasher
	now     func() time.Time
	log     *slog.Logger
	addr    func(*http.Request) string
	mux     *http.ServeMux
	hashSem chan struct{} // one token per password hash being computed
	// dummyHash is a real hash of a random password: a login for an unknown
	// user is checked against it, so it costs what a wrong password costs.
	dummyHash string
	perAddr   *ratelimit.Keyed
	perAcct   *loginLimits // failed logins per account: per address and overall
}

// New builds the handler from cfg (defaults filled in where zero).
func New(cfg Config) (*Handler, error) {
	def := DefaultConfig()
	cfg.HashConcurrency = cmp.Or(cfg.HashConcurrency, def.HashConcurrency)
	if cfg.Hasher == nil {
		cfg.Hasher = Argon2{Params: DefaultArgon2Params()}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{
		cfg:     cfg,
		store:   cfg.Store,
		hasher:  cfg.Hasher,
		now:     cfg.Now,
		log:     cmp.Or(cfg.Logger, slog.Default()),
		addr:    cfg.ClientAddr,
		hashSem: make(chan struct{}, cfg.HashConcurrency),
		perAddr: ratelimit.New(cfg.LoginPerAddress, cfg.Limiters),
		perAcct: newLoginLimits(cfg.LoginPerAccountAddress, cfg.LoginPerAccount, cfg.Limiters),
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.addr == nil {
		h.addr = clientAddr
	}
	var pw [32]byte
	_, _ = rand.Read(pw[:]) // never fails (crypto/rand)
	dummy, err := h.hasher.Hash(hex.EncodeToString(pw[:]))
	if err != nil {
		return nil, fmt.Errorf("users: hash the dummy password: %w", err)
	}
	h.dummyHash = dummy
	h.mux = http.NewServeMux()
	h.Register(h.mux)
	return h, nil
}

// Register adds the handler's routes to mux (Go 1.22 patterns, full /v1
// paths), so they share the edge's mux with other services' routes.
func (h *Handler) Register(mux *http.ServeMux) {
	// Sign-up and login are public and the other routes authenticate
	// themselves (a profile is public too), so none goes through
	// jsonapi.Route; every error is answered by errorTable.
	handle := jsonapi.Handle(errorTable, h.log)
	mux.HandleFunc("POST /v1/users", handle(h.createUser))
	mux.HandleFunc("GET /v1/users/{id}", handle(h.getProfile))
	mux.HandleFunc("PATCH /v1/users/{id}", handle(h.patchProfile))
	mux.HandleFunc("PUT /v1/users/{id}/password", handle(h.changePassword))
	mux.HandleFunc("PUT /v1/users/{id}/follow", handle(h.follow))
	mux.HandleFunc("DELETE /v1/users/{id}/follow", handle(h.unfollow))
	mux.HandleFunc("PUT /v1/users/{id}/block", handle(h.block))
	mux.HandleFunc("DELETE /v1/users/{id}/block", handle(h.unblock))
	mux.HandleFunc("GET /v1/users/{id}/followers", handle(h.listFollowers))
	mux.HandleFunc("GET /v1/users/{id}/following", handle(h.listFollowing))
	mux.HandleFunc("POST /v1/sessions", handle(h.login))
	mux.HandleFunc("DELETE /v1/sessions", handle(h.logout))
	mux.HandleFunc("GET /v1/sessions", handle(h.listSessions))
	mux.HandleFunc("DELETE /v1/sessions/{id}", handle(h.endSession))
}

// ServeHTTP serves the routes of Register (for tests and a standalone mount).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// errMedia marks (jsonapi.Mark) a fault of the media check, as
// jsonapi.StoreFault marks one of the store: where an error that matched
// no sentinel came from.
var errMedia = errors.New("media check fault")

// errorTable maps every sentinel a users route meets to its answer,
// specific sentinels first, the fault markers last.
var errorTable = httperr.Table{
	{Err: context.Canceled, Status: httperr.StatusClientClosed, Code: "client_closed", Message: "the client closed the request"},
	{Err: ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "no such user"},
	{Err: ErrUsernameTaken, Status: http.StatusConflict, Code: "username_taken", Message: "that username is taken", Param: "username"},
	{Err: ErrBlocked, Status: http.StatusForbidden, Code: "blocked", Message: "you cannot follow this user"},
	{Err: ErrFollowLimit, Status: http.StatusConflict, Code: "following_limit", Message: "you follow as many users as an account may"},
	{Err: ErrBusy, Status: http.StatusServiceUnavailable, Code: "busy", Message: "the server is busy, try again", RetryAfter: 1},
	{Err: errMedia, Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the media store is unavailable, try again", RetryAfter: 1},
	{Err: jsonapi.ErrStore, Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the user store is unavailable, try again", RetryAfter: 1},
}

// Errors the routes return as they are.
var (
	errUnauthenticated = &httperr.Error{Status: http.StatusUnauthorized, Code: "unauthenticated",
		Message: "a valid Authorization: Bearer session token is required",
		Header:  http.Header{"Www-Authenticate": {`Bearer realm="mediaedge"`}}}
	errInvalidToken = &httperr.Error{Status: http.StatusUnauthorized, Code: "unauthenticated",
		Message: "the session token is invalid, expired or revoked",
		Header:  http.Header{"Www-Authenticate": {`Bearer realm="mediaedge", error="invalid_token"`}}}
	errBadCredentials = &httperr.Error{Status: http.StatusUnauthorized, Code: "invalid_credentials",
		Message: "wrong username or password"}
	errForbidden = httperr.New(http.StatusForbidden, "forbidden", "you may change only your own profile")
	// errWrongPassword answers a wrong current password as login answers
	// a wrong password, naming the field.
	errWrongPassword = &httperr.Error{Status: http.StatusUnauthorized, Code: "invalid_credentials",
		Message: "wrong current password", Param: "current_password"}
)

// userJSON is a user as the API shows it: ids as strings (JavaScript
// loses precision above 2^53), never the password hash.
type userJSON struct {
	ID          int64     `json:"id,string"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	Bio         string    `json:"bio"`
	Avatar      string    `json:"avatar"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Followers   int64     `json:"followers_count"`
	Following   int64     `json:"following_count"`
}

func toJSON(u User, c Counts) userJSON {
	return userJSON{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Bio: u.Bio, Avatar: u.Avatar,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), Followers: c.Followers, Following: c.Following}
}

// event builds an outbox event of this handler's clock and ids.
func (h *Handler) event(kind string, actor int64, to []int64, data any, at time.Time) (events.Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return events.Event{}, fmt.Errorf("encode %s event: %w", kind, err)
	}
	return events.Event{ID: h.cfg.IDs.Next(), Kind: kind, Actor: actor, To: to, Data: raw, At: at.UTC()}, nil
}

// hash runs fn in a hashing slot: at most HashConcurrency at once, each
// waiting HashWait at most (ErrBusy after), so a burst of logins queues
// briefly instead of taking 64 MiB each all at once.
func (h *Handler) hash(ctx context.Context, fn func() error) error {
	t := time.NewTimer(h.cfg.HashWait)
	defer t.Stop()
	select {
	case h.hashSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("wait for a password hashing slot: %w", ErrBusy)
	}
	defer func() { <-h.hashSem }()
	return fn()
}

// clock is the time stamped on writes: UTC, in milliseconds, the precision
// of a Cassandra timestamp, so that what a write returns is what a read of
// it returns later.
func (h *Handler) clock() time.Time { return h.now().UTC().Truncate(time.Millisecond) }

// notify tells the relay that the outbox has a new event.
func (h *Handler) notify() {
	if h.cfg.Notify != nil {
		h.cfg.Notify()
	}
}
