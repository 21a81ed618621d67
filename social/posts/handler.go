package posts

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/events"
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
	mux.HandleFunc("POST "+p, s.wrap(s.create))
	mux.HandleFunc("GET "+p+"/{id}", s.wrap(s.get))
	mux.HandleFunc("PATCH "+p+"/{id}", s.wrap(s.edit))
	mux.HandleFunc("DELETE "+p+"/{id}", s.wrap(s.delete))
	mux.HandleFunc("POST "+p+"/{id}/archive", s.wrap(s.archive(true)))
	mux.HandleFunc("DELETE "+p+"/{id}/archive", s.wrap(s.archive(false)))
	mux.HandleFunc("PUT "+p+"/{id}/like", s.wrap(s.like(true)))
	mux.HandleFunc("DELETE "+p+"/{id}/like", s.wrap(s.like(false)))
	mux.HandleFunc("GET "+p+"/{id}/likes", s.wrap(s.likers))
	mux.HandleFunc("POST "+p+"/{id}/comments", s.wrap(s.addComment))
	mux.HandleFunc("GET "+p+"/{id}/comments", s.wrap(s.listComments))
	mux.HandleFunc("DELETE "+p+"/{id}/comments/{cid}", s.wrap(s.deleteComment))
	mux.HandleFunc("GET /v1/users/{id}/posts", s.wrap(s.timeline))
}

// ServeHTTP serves the routes of Register (tests, a standalone mount).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// wrap turns a route returning an error into an http.HandlerFunc: the one
// place where a posts route's error becomes an answer.
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

// errStore marks an error of the store (or of a dependency's store): one
// that matches no sentinel is the database unreachable or overloaded, a
// 503 to retry, not a 500.
var errStore = errors.New("posts store fault")

type storeFault struct{ err error }

func (f *storeFault) Error() string   { return f.err.Error() }
func (f *storeFault) Unwrap() []error { return []error{f.err, errStore} }

func storeErr(err error) error {
	if err == nil {
		return nil
	}
	return &storeFault{err}
}

// errorTable maps every sentinel a posts route meets to its answer.
var errorTable = httperr.Table{
	{Err: context.Canceled, Status: httperr.StatusClientClosed, Code: "client_closed", Message: "the client closed the request"},
	{Err: ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "no such post or comment"},
	// A deleted post is gone for everyone: the same answer as a missing one.
	{Err: ErrDeleted, Status: http.StatusNotFound, Code: "not_found", Message: "no such post (it was deleted)"},
	{Err: ErrBusy, Status: http.StatusConflict, Code: "busy", Message: "the post is being changed by another request; retry", RetryAfter: 1},
	{Err: errStore, Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the posts store is unavailable, try again", RetryAfter: 1},
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

// pathID reads the {name} path value as a positive id.
func pathID(r *http.Request, name string) (int64, error) {
	v, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || v <= 0 {
		return 0, httperr.BadParam(name, name+" must be a positive decimal id")
	}
	return v, nil
}

// page reads ?limit= (within [1, MaxPageLimit]) and ?cursor= (0 when
// absent).
func (s *Service) page(r *http.Request) (limit int, cursor int64, err error) {
	q := r.URL.Query()
	limit = s.cfg.PageLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s.cfg.MaxPageLimit {
			return 0, 0, httperr.BadParam("limit", fmt.Sprintf("limit must be 1..%d", s.cfg.MaxPageLimit))
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		if cursor, err = decodeCursor(v); err != nil {
			return 0, 0, err
		}
	}
	return limit, cursor, nil
}

// Cursors are opaque to clients: the last id of a page, 8 bytes big
// endian, base64url (as the users service's).
func encodeCursor(id int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(v string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) != 8 || int64(binary.BigEndian.Uint64(b)) <= 0 {
		return 0, httperr.BadParam("cursor", "cursor is not one this server returned")
	}
	return int64(binary.BigEndian.Uint64(b)), nil
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

// idStrings is a list of ids that encodes as JSON strings, as every id in
// the API does.
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

// pageJSON is every list answer: {items, next_cursor} ("" on the last page).
type pageJSON struct {
	Items      any    `json:"items"`
	NextCursor string `json:"next_cursor"`
}
