package chat

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/jsonapi"
	"github.com/mediaedge/mediaedge/social/ratelimit"
)

// Service serves the chat API under /v1/conversations and delivers
// messages live. It is safe for concurrent use.
type Service struct {
	cfg   Config
	store Store
	now   func() time.Time
	log   *slog.Logger
	// rate is Config.SendRate per user, spent by every action that
	// writes an event for other members; typingRate is typingLimit per
	// user and conversation (limits.go).
	rate       *ratelimit.Keyed
	typingRate *ratelimit.Keyed
	mux        *http.ServeMux
	// Ordered delivery runs one conversation at a time per process (see
	// deliver.go); a stripe of locks by conversation id.
	seed    maphash.Seed
	stripes [64]sync.Mutex
	// delivery is the running delivery consumer, whose backlog gates
	// sends (see admit); nil until StartDelivery.
	delivery atomic.Pointer[events.Consumer]
	// directPeers: conversation id -> its two members when direct, nil
	// when a group (blocks.go).
	directPeers *lru.Cache[int64, []int64]
}

// New builds the service from cfg.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:        cfg,
		store:      cfg.Store,
		now:        cfg.Now,
		log:        cmp.Or(cfg.Logger, slog.Default()),
		rate:       ratelimit.New(cfg.SendRate, cfg.Limiters),
		typingRate: ratelimit.New(typingLimit, cfg.Limiters),
		seed:       maphash.MakeSeed(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if s.directPeers, err = lru.New[int64, []int64](directPeersCached); err != nil {
		return nil, err
	}
	if cfg.Blocks == nil {
		s.log.Warn("chat: no block list (Config.Blocks): users who block each other can still message each other")
	}
	s.mux = http.NewServeMux()
	s.Register(s.mux)
	return s, nil
}

// Register adds the routes to mux (Go 1.22 patterns, full /v1 paths).
func (s *Service) Register(mux *http.ServeMux) {
	const c = "/v1/conversations"
	// Every route is a member's: signed in, its errors answered by errorTable.
	route := jsonapi.Route(s.cfg.Auth, errorTable, s.log)
	mux.HandleFunc("POST "+c, route(s.createConversation))
	mux.HandleFunc("GET "+c, route(s.listConversations))
	mux.HandleFunc("GET "+c+"/{id}", route(s.getConversation))
	mux.HandleFunc("PATCH "+c+"/{id}", route(s.updateConversation))
	mux.HandleFunc("GET "+c+"/{id}/members", route(s.listMembers))
	mux.HandleFunc("POST "+c+"/{id}/members", route(s.addMembers))
	mux.HandleFunc("DELETE "+c+"/{id}/members/{user}", route(s.removeMember))
	mux.HandleFunc("PUT "+c+"/{id}/members/{user}/role", route(s.setRole))
	mux.HandleFunc("POST "+c+"/{id}/messages", route(s.send))
	mux.HandleFunc("GET "+c+"/{id}/messages", route(s.history))
	mux.HandleFunc("PATCH "+c+"/{id}/messages/{seq}", route(s.edit))
	mux.HandleFunc("DELETE "+c+"/{id}/messages/{seq}", route(s.deleteMessage))
	mux.HandleFunc("PUT "+c+"/{id}/pins/{seq}", route(s.pin))
	mux.HandleFunc("DELETE "+c+"/{id}/pins/{seq}", route(s.unpin))
	mux.HandleFunc("POST "+c+"/{id}/read", route(s.mark(MarkRead)))
	mux.HandleFunc("POST "+c+"/{id}/delivered", route(s.mark(MarkDelivered)))
	mux.HandleFunc("POST "+c+"/{id}/clear", route(s.clear))
	mux.HandleFunc("POST "+c+"/{id}/typing", route(s.typing))
}

// ServeHTTP serves the routes of Register (tests, a standalone mount).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// errorTable maps every sentinel a chat route meets to its answer.
var errorTable = httperr.Table{
	{Err: context.Canceled, Status: httperr.StatusClientClosed, Code: "client_closed", Message: "the client closed the request"},
	{Err: ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "no such conversation or message"},
	// Not a member answers like a missing conversation: it does not tell
	// outsiders which conversation ids exist.
	{Err: ErrNotMember, Status: http.StatusNotFound, Code: "not_found", Message: "no such conversation, or you are not a member"},
	{Err: ErrMemberCap, Status: http.StatusConflict, Code: "member_cap", Message: "the conversation has as many members as it may", Param: "user_ids"},
	{Err: ErrDeleted, Status: http.StatusConflict, Code: "message_deleted", Message: "the message was deleted"},
	{Err: ErrNotSender, Status: http.StatusForbidden, Code: "not_sender", Message: "only the sender may edit a message"},
	{Err: ErrBusy, Status: http.StatusConflict, Code: "send_in_progress", Message: "a send with this client_msg_id is in progress; retry to get its result", Param: "client_msg_id", RetryAfter: 1},
	// A store fault that matched no sentinel above: unreachable or
	// overloaded, a 503 to retry, not a 500.
	{Err: jsonapi.ErrStore, Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the chat store is unavailable, try again", RetryAfter: 1},
}

// Errors the routes return as they are.
var (
	errNotAdmin   = httperr.New(http.StatusForbidden, "not_admin", "only a group admin may do this")
	errNotGroup   = httperr.New(http.StatusConflict, "not_group", "a direct conversation has no title, avatar, roles or other members")
	errForeignMed = httperr.New(http.StatusForbidden, "media_not_allowed", "media_ids must be your own uploads or already sent in this conversation")
	errOverloaded = &httperr.Error{Status: http.StatusServiceUnavailable, Code: "overloaded",
		Message: "more messages wait for delivery than this service takes on; retry shortly", RetryAfter: 1}
)

// member reads uid's membership of the {id} conversation: the gate of
// every conversation route.
func (s *Service) member(r *http.Request, uid int64) (Member, error) {
	conv, err := jsonapi.PathID(r, "id")
	if err != nil {
		return Member{}, err
	}
	m, err := s.store.GetMember(r.Context(), conv, uid)
	if err != nil && !errors.Is(err, ErrNotMember) {
		err = jsonapi.StoreFault(err)
	}
	return m, err
}

// event builds an outbox event of this service's ids.
func (s *Service) event(kind string, actor int64, to []int64, data any, at time.Time) (events.Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return events.Event{}, fmt.Errorf("encode %s event: %w", kind, err)
	}
	return events.Event{ID: s.cfg.IDs.Next(), Kind: kind, Actor: actor, To: to, Data: raw, At: at.UTC()}, nil
}

// memberIDs lists every member of conv (at most MaxMembers).
func (s *Service) memberIDs(ctx context.Context, conv int64) ([]int64, error) {
	ms, err := s.store.ListMembers(ctx, conv, 0, 0)
	if err != nil {
		return nil, jsonapi.StoreFault(err)
	}
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.User
	}
	return out, nil
}

// clock is the time stamped on writes: UTC milliseconds, a Cassandra
// timestamp's precision, so what a write returns is what a read returns.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

func (s *Service) notify() {
	if s.cfg.Notify != nil {
		s.cfg.Notify()
	}
}

func (s *Service) stripe(conv int64) *sync.Mutex {
	var b [8]byte
	for i := range b {
		b[i] = byte(conv >> (8 * i))
	}
	return &s.stripes[maphash.Bytes(s.seed, b[:])%uint64(len(s.stripes))]
}
