package notify

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// Service serves /v1/notifications and turns events into notifications
// (Handle). It is safe for concurrent use.
type Service struct {
	cfg   Config
	store Store
	now   func() time.Time
	log   *slog.Logger
	mux   *http.ServeMux
}

// New builds the service from cfg.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, store: cfg.Store, now: cfg.Now, log: cmp.Or(cfg.Logger, slog.Default())}
	if s.now == nil {
		s.now = time.Now
	}
	s.mux = http.NewServeMux()
	s.Register(s.mux)
	return s, nil
}

// Register adds the routes to mux (Go 1.22 patterns, full /v1 paths).
func (s *Service) Register(mux *http.ServeMux) {
	const n = "/v1/notifications"
	mux.HandleFunc("GET "+n, s.wrap(s.list))
	mux.HandleFunc("GET "+n+"/unread", s.wrap(s.unread))
	mux.HandleFunc("POST "+n+"/read", s.wrap(s.markRead))
}

// ServeHTTP serves the routes of Register (tests, a standalone mount).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// wrap turns a route returning an error into an http.HandlerFunc: the one
// place where a notification route's error becomes an answer.
func (s *Service) wrap(fn func(w http.ResponseWriter, r *http.Request, uid int64) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		uid, err := s.cfg.Auth.Authenticate(r.Context(), r)
		if err == nil {
			err = fn(w, r, uid)
		}
		if err != nil {
			httperr.Write(w, r, s.log, errorTable.Map(err))
		}
	}
}

// errStore marks an error of the store: the database unreachable or
// overloaded, a 503 to retry, not a 500.
var errStore = errors.New("notify store fault")

type storeFault struct{ err error }

func (f *storeFault) Error() string   { return f.err.Error() }
func (f *storeFault) Unwrap() []error { return []error{f.err, errStore} }

func storeErr(err error) error {
	if err == nil {
		return nil
	}
	return &storeFault{err}
}

// errorTable maps every error a notification route meets to its answer.
var errorTable = httperr.Table{
	{Err: context.Canceled, Status: httperr.StatusClientClosed, Code: "client_closed", Message: "the client closed the request"},
	{Err: errStore, Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the notification store is unavailable, try again", RetryAfter: 1},
}

// list is GET /v1/notifications?limit=&cursor=: newest activity first.
func (s *Service) list(w http.ResponseWriter, r *http.Request, uid int64) error {
	limit, err := s.limit(r)
	if err != nil {
		return err
	}
	var before int64
	if c := r.URL.Query().Get("cursor"); c != "" {
		if before, err = decodeCursor(c); err != nil {
			return err
		}
	}
	gs, err := s.store.List(r.Context(), uid, before, limit+1)
	if err != nil {
		return storeErr(err)
	}
	page := struct {
		Items []groupJSON `json:"items"`
		Next  string      `json:"next_cursor"` // "" on the last page
	}{Items: []groupJSON{}}
	if len(gs) > limit {
		gs = gs[:limit]
		page.Next = encodeCursor(gs[limit-1].Pos)
	}
	for _, g := range gs {
		page.Items = append(page.Items, toJSON(g))
	}
	return jsonapi.Write(w, http.StatusOK, page)
}

// unread is GET /v1/notifications/unread -> {"unread": N}.
func (s *Service) unread(w http.ResponseWriter, r *http.Request, uid int64) error {
	n, err := s.store.Unread(r.Context(), uid)
	if err != nil {
		return storeErr(err)
	}
	return jsonapi.Write(w, http.StatusOK, map[string]int{"unread": n})
}

// markRead is POST /v1/notifications/read {"upto": "<activity_id>"}: every
// group whose activity_id is at or below upto is read. Idempotent; the
// mark only rises.
func (s *Service) markRead(w http.ResponseWriter, r *http.Request, uid int64) error {
	f, err := jsonapi.ReadBody(w, r, s.cfg.MaxBody, "upto")
	if err != nil {
		return err
	}
	raw, err := f.Required("upto")
	if err != nil {
		return err
	}
	upto, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || upto <= 0 {
		return httperr.BadParam("upto", "upto must be an activity_id of a notification (a decimal id string)")
	}
	mark, err := s.store.MarkRead(r.Context(), uid, upto)
	if err != nil {
		return storeErr(err)
	}
	n, err := s.store.Unread(r.Context(), uid)
	if err != nil {
		return storeErr(err)
	}
	return jsonapi.Write(w, http.StatusOK, struct {
		ReadUpto int64 `json:"read_upto,string"`
		Unread   int   `json:"unread"`
	}{mark, n})
}

// limit reads ?limit= within [1, MaxPageLimit].
func (s *Service) limit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return s.cfg.PageLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > s.cfg.MaxPageLimit {
		return 0, httperr.BadParam("limit", fmt.Sprintf("limit must be 1..%d", s.cfg.MaxPageLimit))
	}
	return n, nil
}

// A cursor is the last item's Pos, opaque to clients.
func encodeCursor(pos int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(pos))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 8 || int64(binary.BigEndian.Uint64(b)) <= 0 {
		return 0, httperr.BadParam("cursor", "cursor is not one this server returned")
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}
