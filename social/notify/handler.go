package notify

import (
	"cmp"
	"context"
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
	// Every route is a signed-in user's, its errors answered by errorTable.
	route := jsonapi.Route(s.cfg.Auth, errorTable, s.log)
	mux.HandleFunc("GET "+n, route(s.list))
	mux.HandleFunc("GET "+n+"/unread", route(s.unread))
	mux.HandleFunc("POST "+n+"/read", route(s.markRead))
}

// ServeHTTP serves the routes of Register (tests, a standalone mount).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// errorTable maps every error a notification route meets to its answer.
var errorTable = httperr.Table{
	{Err: context.Canceled, Status: httperr.StatusClientClosed, Code: "client_closed", Message: "the client closed the request"},
	// A store fault: unreachable or overloaded, a 503 to retry, not a 500.
	{Err: jsonapi.ErrStore, Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the notification store is unavailable, try again", RetryAfter: 1},
}

// list is GET /v1/notifications?limit=&cursor=: newest activity first.
func (s *Service) list(w http.ResponseWriter, r *http.Request, uid int64) error {
	limit, err := jsonapi.Limit(r, s.cfg.PageLimit, s.cfg.MaxPageLimit)
	if err != nil {
		return err
	}
	var before int64
	if c := r.URL.Query().Get("cursor"); c != "" {
		if before, err = jsonapi.DecodeCursor(c); err != nil {
			return err
		}
	}
	gs, err := s.store.List(r.Context(), uid, before, limit+1)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	page := struct {
		Items []groupJSON `json:"items"`
		Next  string      `json:"next_cursor"` // "" on the last page
	}{Items: []groupJSON{}}
	if len(gs) > limit {
		gs = gs[:limit]
		page.Next = jsonapi.EncodeCursor(gs[limit-1].Pos)
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
		return jsonapi.StoreFault(err)
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
		return jsonapi.StoreFault(err)
	}
	n, err := s.store.Unread(r.Context(), uid)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	return jsonapi.Write(w, http.StatusOK, struct {
		ReadUpto int64 `json:"read_upto,string"`
		Unread   int   `json:"unread"`
	}{mark, n})
}
