package feed

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/jsonapi"
	"github.com/mediaedge/mediaedge/social/posts"
)

// Service serves GET /v1/feed and runs the fan-out consumer's handler. It
// is safe for concurrent use.
type Service struct {
	cfg   Config
	store Store
	log   *slog.Logger
	mux   *http.ServeMux
	now   func() time.Time

	celebMu  sync.Mutex // guards celebs and celebsAt
	celebs   map[int64]bool
	celebsAt time.Time
}

// New builds the service from cfg.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, store: cfg.Store, log: cmp.Or(cfg.Logger, slog.Default()), now: time.Now}
	s.mux = http.NewServeMux()
	s.Register(s.mux)
	return s, nil
}

// Register adds the routes to mux (Go 1.22 patterns, full /v1 paths).
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/feed", jsonapi.Route(s.cfg.Auth, errorTable, s.log)(s.getFeed))
}

// ServeHTTP serves the routes of Register (tests, a standalone mount).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// errorTable maps every error a feed route meets to its answer.
var errorTable = httperr.Table{
	{Err: context.Canceled, Status: httperr.StatusClientClosed, Code: "client_closed", Message: "the client closed the request"},
	// A fault of a dependency (the feed store, the follow graph, the posts
	// service): unreachable or overloaded, a 503 to retry, not a 500.
	{Err: jsonapi.ErrStore, Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the feed store is unavailable, try again", RetryAfter: 1},
}

// page is the answer of GET /v1/feed.
type page struct {
	Items      []posts.PostJSON `json:"items"`
	NextCursor string           `json:"next_cursor"` // "" on the last page
}

// getFeed answers GET /v1/feed?limit=&cursor=: the newest posts of the
// user's feed below cursor (a post id).
func (s *Service) getFeed(w http.ResponseWriter, r *http.Request, uid int64) error {
	limit, err := jsonapi.Limit(r, s.cfg.PageLimit, s.cfg.MaxPageLimit)
	if err != nil {
		return err
	}
	var before int64
	if v := r.URL.Query().Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return httperr.BadParam("cursor", "cursor must be a next_cursor of an earlier page")
		}
		before = n
	}
	items, next, err := s.Read(r.Context(), uid, before, limit)
	if err != nil {
		return err
	}
	p := page{Items: items, NextCursor: ""}
	if p.Items == nil {
		p.Items = []posts.PostJSON{}
	}
	if next != 0 {
		p.NextCursor = strconv.FormatInt(next, 10)
	}
	return jsonapi.Write(w, http.StatusOK, p)
}
