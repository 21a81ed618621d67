package stories

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/snowflake"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/jsonapi"
	"github.com/mediaedge/mediaedge/social/users"
)

// Service serves the stories API under /v1/stories (and a user's stories
// under /v1/users/{id}/stories). It is safe for concurrent use.
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
	const p = "/v1/stories"
	// Every route is a signed-in user's, its errors answered by errorTable.
	route := jsonapi.Route(s.cfg.Auth, errorTable, s.log)
	mux.HandleFunc("POST "+p, route(s.create))
	mux.HandleFunc("GET "+p+"/feed", route(s.tray))
	mux.HandleFunc("GET "+p+"/{id}", route(s.get))
	mux.HandleFunc("POST "+p+"/{id}/view", route(s.view))
	mux.HandleFunc("GET "+p+"/{id}/viewers", route(s.viewers))
	mux.HandleFunc("PUT "+p+"/{id}/like", route(s.like))
	mux.HandleFunc("DELETE "+p+"/{id}/like", route(s.unlike))
	mux.HandleFunc("GET /v1/users/{id}/stories", route(s.userStories))
}

// ServeHTTP serves the routes of Register (tests, a standalone mount).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// RunSweeper reclaims expired stories every interval until ctx ends, when
// the store needs it (a Sweeper: Pebble); with a store that expires rows
// itself (Cassandra's TTLs) it returns at once. Errors are logged and the
// next round tries again.
func (s *Service) RunSweeper(ctx context.Context, every time.Duration) {
	sw, ok := s.store.(Sweeper)
	if !ok || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := sw.Sweep(ctx, s.now()); err != nil && ctx.Err() == nil {
			s.log.Error("stories: sweep expired stories", "err", err)
		} else if n > 0 {
			s.log.Debug("stories: swept expired stories", "stories", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// errorTable maps every sentinel a stories route meets to its answer.
var errorTable = httperr.Table{
	{Err: context.Canceled, Status: httperr.StatusClientClosed, Code: "client_closed", Message: "the client closed the request"},
	{Err: ErrExpired, Status: http.StatusNotFound, Code: "story_expired", Message: "the story has expired"},
	// A story hidden from the caller answers like a missing one.
	{Err: ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "no such story"},
	{Err: ErrBusy, Status: http.StatusConflict, Code: "create_in_progress", Message: "a create with this Idempotency-Key is in progress; retry to get its result", Param: "Idempotency-Key", RetryAfter: 1},
	// A store fault (of this store or a dependency: the graph, the media
	// lookup) that matched no sentinel above: unreachable or overloaded, a
	// 503 to retry, not a 500.
	{Err: jsonapi.ErrStore, Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the stories store is unavailable, try again", RetryAfter: 1},
}

// Errors the routes return as they are.
var (
	errForeignMedia = httperr.New(http.StatusForbidden, "media_not_allowed", "media_id must be your own upload")
	errNotOwner     = httperr.New(http.StatusForbidden, "not_owner", "only the story's owner may do this")
	errNoUser       = httperr.NotFound("no such user")
)

// cursor reads ?cursor=: the last user id of the previous page, 0 when
// absent.
func cursor(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("cursor")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, httperr.BadParam("cursor", "cursor must be a next_cursor this route returned")
	}
	return n, nil
}

// event builds an outbox event of this service's ids.
func (s *Service) event(kind string, actor int64, to []int64, data any, at time.Time) (events.Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return events.Event{}, fmt.Errorf("encode %s event: %w", kind, err)
	}
	return events.Event{ID: s.cfg.IDs.Next(), Kind: kind, Actor: actor, To: to, Data: raw, At: at.UTC()}, nil
}

// clock is the time stamped on writes: UTC milliseconds, a Cassandra
// timestamp's precision, so what a write returns is what a read returns.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

func (s *Service) notify() {
	if s.cfg.Notify != nil {
		s.cfg.Notify()
	}
}

// expiredID reports whether a story with this id would have expired by
// now: ids are time-ordered (social/ids), and a story's id is made when it
// is created, so a missing story whose id is older than the lifetime was
// most likely a story that expired.
func (s *Service) expiredID(id int64) bool {
	born := time.UnixMilli(snowflake.ParseInt64(id).Time())
	return !born.Add(s.cfg.TTL).After(s.now())
}

// resolveUser reads the {id} path value: a decimal id or @username, in
// any case (usernames are stored lower case and UserIDs matches exactly).
func (s *Service) resolveUser(r *http.Request) (int64, error) {
	v := r.PathValue("id")
	name, ok := strings.CutPrefix(v, "@")
	if !ok {
		return jsonapi.PathID(r, "id")
	}
	name = users.NormaliseUsername(name)
	if s.cfg.UserIDs == nil || name == "" {
		return 0, errNoUser
	}
	m, err := s.cfg.UserIDs(r.Context(), []string{name})
	if err != nil {
		return 0, jsonapi.StoreFault(err)
	}
	id, ok := m[name]
	if !ok {
		return 0, errNoUser
	}
	return id, nil
}
