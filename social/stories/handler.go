package stories

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/snowflake"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/events"
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
	mux.HandleFunc("POST "+p, s.wrap(s.create))
	mux.HandleFunc("GET "+p+"/feed", s.wrap(s.tray))
	mux.HandleFunc("GET "+p+"/{id}", s.wrap(s.get))
	mux.HandleFunc("POST "+p+"/{id}/view", s.wrap(s.view))
	mux.HandleFunc("GET "+p+"/{id}/viewers", s.wrap(s.viewers))
	mux.HandleFunc("PUT "+p+"/{id}/like", s.wrap(s.like))
	mux.HandleFunc("DELETE "+p+"/{id}/like", s.wrap(s.unlike))
	mux.HandleFunc("GET /v1/users/{id}/stories", s.wrap(s.userStories))
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

// wrap turns a route returning an error into an http.HandlerFunc: the one
// place where a stories route's error becomes an answer.
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

// errStore marks an error of the store (or of a dependency: the graph, the
// media lookup): one that matches no sentinel is the database unreachable
// or overloaded, a 503 to retry, not a 500.
var errStore = errors.New("stories store fault")

type storeFault struct{ err error }

func (f *storeFault) Error() string   { return f.err.Error() }
func (f *storeFault) Unwrap() []error { return []error{f.err, errStore} }

// storeErr marks err as a store fault unless it is one of the sentinels
// (which keep their own answers).
func storeErr(err error) error {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrExpired) || errors.Is(err, ErrBusy) ||
		errors.Is(err, context.Canceled) {
		return err
	}
	return &storeFault{err}
}

// errorTable maps every sentinel a stories route meets to its answer.
var errorTable = httperr.Table{
	{Err: context.Canceled, Status: httperr.StatusClientClosed, Code: "client_closed", Message: "the client closed the request"},
	{Err: ErrExpired, Status: http.StatusNotFound, Code: "story_expired", Message: "the story has expired"},
	// A story hidden from the caller answers like a missing one.
	{Err: ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "no such story"},
	{Err: ErrBusy, Status: http.StatusConflict, Code: "create_in_progress", Message: "a create with this Idempotency-Key is in progress; retry to get its result", Param: "Idempotency-Key", RetryAfter: 1},
	{Err: errStore, Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the stories store is unavailable, try again", RetryAfter: 1},
}

// Errors the routes return as they are.
var (
	errForeignMedia = httperr.New(http.StatusForbidden, "media_not_allowed", "media_id must be your own upload")
	errNotOwner     = httperr.New(http.StatusForbidden, "not_owner", "only the story's owner may do this")
	errNoUser       = httperr.NotFound("no such user")
)

// pathID reads the {name} path value as a positive id.
func pathID(r *http.Request, name string) (int64, error) {
	v, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || v <= 0 {
		return 0, httperr.BadParam(name, name+" must be a positive decimal id")
	}
	return v, nil
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

// checkIdemKey validates an Idempotency-Key: 1 to 255 visible ASCII characters.
func checkIdemKey(k string) error {
	bad := len(k) == 0 || len(k) > 255
	for i := 0; i < len(k) && !bad; i++ {
		bad = k[i] < 0x21 || k[i] > 0x7e
	}
	if bad {
		return httperr.BadParam("Idempotency-Key", "Idempotency-Key must be 1 to 255 visible ASCII characters")
	}
	return nil
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

// resolveUser reads the {id} path value: a decimal id or @username.
func (s *Service) resolveUser(r *http.Request) (int64, error) {
	v := r.PathValue("id")
	name, ok := strings.CutPrefix(v, "@")
	if !ok {
		return pathID(r, "id")
	}
	if s.cfg.UserIDs == nil || name == "" {
		return 0, errNoUser
	}
	m, err := s.cfg.UserIDs(r.Context(), []string{name})
	if err != nil {
		return 0, storeErr(err)
	}
	id, ok := m[name]
	if !ok {
		return 0, errNoUser
	}
	return id, nil
}

// idStrings is a list of ids that encodes as JSON strings, as every id in
// the API does (encoding/json's ",string" option does not reach into a
// slice's elements).
type idStrings []int64

func (l idStrings) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i, id := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, id, 10)
		b = append(b, '"')
	}
	return append(b, ']'), nil
}
