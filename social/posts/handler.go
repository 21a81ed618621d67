package posts

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// Event kinds this service writes to the outbox (data ids are strings;
// "author" is always the post's author, Event.Actor the user who acted).
const (
	KindCreated        = "post.created"    // {post_id, author}, To=[]
	KindEdited         = "post.edited"     // {post_id, author}, To=[]
	KindDeleted        = "post.deleted"    // {post_id, author}, To=[]
	KindArchived       = "post.archived"   // {post_id, author}, To=[]
	KindUnarchived     = "post.unarchived" // {post_id, author}, To=[]
	KindLike           = "like"            // {post_id, author}, To=[author unless self]
	KindUnlike         = "unlike"          // {post_id, author}, To=[]
	KindComment        = "comment"         // {post_id, comment_id, author, text}, To=[author unless self]
	KindCommentDeleted = "comment.deleted" // {post_id, comment_id, author}, To=[]
	KindMention        = "mention"         // {post_id, comment_id?, author}, To=[mentioned minus the actor]
)

// PreviewRunes is how much of a comment's text its event carries.
const PreviewRunes = 100

// Service serves the posts API under /v1/posts and /v1/users/{id}/posts,
// and answers the feed's reads (Posts, Timeline). It is safe for
// concurrent use.
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
	const p = "/v1/posts"
	// Every route is a signed-in user's, its errors answered by errorTable.
	route := jsonapi.Route(s.cfg.Auth, errorTable, s.log)
	mux.HandleFunc("POST "+p, route(s.create))
	mux.HandleFunc("GET "+p+"/{id}", route(s.get))
	mux.HandleFunc("PATCH "+p+"/{id}", route(s.edit))
	mux.HandleFunc("DELETE "+p+"/{id}", route(s.delete))
	mux.HandleFunc("POST "+p+"/{id}/archive", route(s.archive(true)))
	mux.HandleFunc("DELETE "+p+"/{id}/archive", route(s.archive(false)))
	mux.HandleFunc("PUT "+p+"/{id}/like", route(s.like(true)))
	mux.HandleFunc("DELETE "+p+"/{id}/like", route(s.like(false)))
	mux.HandleFunc("GET "+p+"/{id}/likes", route(s.likers))
	mux.HandleFunc("POST "+p+"/{id}/comments", route(s.addComment))
	mux.HandleFunc("GET "+p+"/{id}/comments", route(s.listComments))
	mux.HandleFunc("DELETE "+p+"/{id}/comments/{cid}", route(s.deleteComment))
	mux.HandleFunc("GET /v1/users/{id}/posts", route(s.timeline))
}

// ServeHTTP serves the routes of Register (tests, a standalone mount).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// errorTable maps every sentinel a posts route meets to its answer.
var errorTable = httperr.Table{
	{Err: context.Canceled, Status: httperr.StatusClientClosed, Code: "client_closed", Message: "the client closed the request"},
	{Err: ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "no such post or comment"},
	// A deleted post is gone for everyone: the same answer as a missing one.
	{Err: ErrDeleted, Status: http.StatusNotFound, Code: "not_found", Message: "no such post (it was deleted)"},
	{Err: ErrBusy, Status: http.StatusConflict, Code: "busy", Message: "the post is being changed by another request; retry", RetryAfter: 1},
	// A store fault (of this store or a dependency's) that matched no
	// sentinel above: unreachable or overloaded, a 503 to retry, not a 500.
	{Err: jsonapi.ErrStore, Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the posts store is unavailable, try again", RetryAfter: 1},
}

// Errors the routes return as they are.
var (
	errNotAuthor  = httperr.New(http.StatusForbidden, "not_author", "only the post's author may do this")
	errArchived   = httperr.New(http.StatusConflict, "post_archived", "the post is archived")
	errNotAllowed = httperr.New(http.StatusForbidden, "not_allowed", "only the comment's author or the post's author may delete it")
)

// errIs reports whether err is one of the sentinels a route returns as is
// (the error table answers them); anything else from a store is a fault.
func errIs(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// page reads ?limit= (within [1, MaxPageLimit]) and ?cursor= (0 when
// absent).
func (s *Service) page(r *http.Request) (limit int, cursor int64, err error) {
	if limit, err = jsonapi.Limit(r, s.cfg.PageLimit, s.cfg.MaxPageLimit); err != nil {
		return 0, 0, err
	}
	if v := r.URL.Query().Get("cursor"); v != "" {
		if cursor, err = jsonapi.DecodeCursor(v); err != nil {
			return 0, 0, err
		}
	}
	return limit, cursor, nil
}

// event builds an outbox event of this service's ids.
func (s *Service) event(kind string, actor int64, to []int64, data any, at time.Time) (events.Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return events.Event{}, fmt.Errorf("encode %s event: %w", kind, err)
	}
	return events.Event{ID: s.cfg.IDs.Next(), Kind: kind, Actor: actor, To: to, Data: raw, At: at.UTC()}, nil
}

// postData is the data of the post.* and like events.
func postData(p Post) map[string]string {
	return map[string]string{"post_id": idStr(p.ID), "author": idStr(p.Author)}
}

func idStr(id int64) string { return strconv.FormatInt(id, 10) }

// toAuthor is the To of an event for the post's author: nobody when the
// author acted.
func toAuthor(author, actor int64) []int64 {
	if author == actor {
		return nil
	}
	return []int64{author}
}

// clock is the time stamped on writes: UTC milliseconds, a Cassandra
// timestamp's precision, so what a write returns is what a read returns.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

func (s *Service) notify() {
	if s.cfg.Notify != nil {
		s.cfg.Notify()
	}
}

// pageJSON is every list answer: {items, next_cursor} ("" on the last page).
type pageJSON struct {
	Items      any    `json:"items"`
	NextCursor string `json:"next_cursor"`
}
