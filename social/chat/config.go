package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/jsonapi"
	"github.com/mediaedge/mediaedge/social/ratelimit"
)

// Authenticator tells who a request is: (*users.Handler).Authenticate.
type Authenticator = jsonapi.Authenticator

// Live is the push gateway as the chat service uses it
// (*push.Handler): Deliver stores updates in the recipients' streams in
// the order given, Signal sends a frame now and stores nothing.
type Live interface {
	Deliver(ctx context.Context, evs []events.Event) error
	Signal(ctx context.Context, ev events.Event) error
}

// Blocks is the block list as the chat service reads it (the users
// store, users.Graph).
type Blocks interface {
	// Blocked reports whether either of a and b blocks the other.
	Blocked(ctx context.Context, a, b int64) (bool, error)
}

// ErrNoMedia is what Config.MediaOwner returns for an id that names no
// stored file.
var ErrNoMedia = errors.New("chat: no such media")

// Config is everything the service needs; the composition root fills it.
type Config struct {
	// Store holds conversations, members and messages (required).
	Store Store
	// IDs makes conversation, message and event ids (required).
	IDs *ids.Generator
	// Auth authenticates every route (required).
	Auth Authenticator
	// Live delivers messages to sockets; nil delivers nothing live (history
	// and the chat list still work).
	Live Live `json:"-"`
	// MediaOwner returns the owner recorded with a media id (the edge's
	// "user:<id>" form) or ErrNoMedia; a media id in a message must be the
	// sender's own or already sent in the conversation. Required.
	MediaOwner func(ctx context.Context, id string) (owner string, err error) `json:"-"`
	// UsersExist returns which of ids are not users; conversations are made
	// only with existing users. Required.
	UsersExist func(ctx context.Context, ids []int64) (missing []int64, err error) `json:"-"`
	// Blocks tells whether two users block each other; between two such
	// users chat refuses a direct conversation, adding either to a group
	// by the other and sends in their direct conversation (blocks.go).
	// nil checks no blocks, and New logs a warning: a composition root
	// that forgot it would otherwise let a blocked user keep messaging.
	Blocks Blocks `json:"-"`
	// MaxMembers caps a group's members (the seeds' 1000).
	MaxMembers int
	// MaxText caps a message's text, in bytes of UTF-8.
	MaxText int
	// MaxMedia caps the media ids of one message.
	MaxMedia int
	// MaxTitle caps a group's title, in bytes.
	MaxTitle int
	// MaxBody caps a JSON request body; larger ones are answered 413.
	MaxBody int64
	// SendRate limits each user's sends and every other action that
	// writes an event for other members (edits, deletes for everyone, pins
	// and unpins, creating conversations, changing a group's title, avatar,
	// members or roles), one budget for all of them in all conversations
	// together; over it the action is answered 429 with Retry-After. Read
	// and delivered marks are not limited; typing has its own limit
	// (limits.go).
	SendRate ratelimit.Limit
	// Limiters caps the users whose SendRate bucket is remembered, and
	// apart from those the (user, conversation) pairs whose typing bucket
	// is.
	Limiters int
	// PageLimit is the default and MaxPageLimit the largest ?limit=.
	PageLimit, MaxPageLimit int
	// Delivery is the durable consumer that hands messages to the members'
	// update streams in seq order.
	Delivery events.ConsumerConfig
	// MaxBacklog bounds the sends waiting for live delivery, fleet-wide
	// (the delivery consumer's Backlog, read every Delivery.BacklogEvery).
	// Past it a send is answered 503 overloaded with Retry-After: a fleet
	// offered more than it can deliver keeps its delivery delay bounded
	// instead of accepting messages that reach the other side seconds
	// late. The per-user SendRate cannot do this: the overload comes from
	// many users at once. 0 is no bound.
	MaxBacklog int64
	// Now is the clock; nil is time.Now.
	Now func() time.Time `json:"-"`
	// Notify, when set, is called after every write that put an event in
	// the outbox (the relay's Notify).
	Notify func() `json:"-"`
	// Logger; nil is slog.Default().
	Logger *slog.Logger `json:"-"`
}

// defaultMaxBacklog: about two seconds of what one pinned core delivers
// (README, Chat).
const defaultMaxBacklog = 2000

// DefaultConfig has the defaults of everything but the required fields.
func DefaultConfig() Config {
	d := events.DefaultConsumerConfig("chat-delivery")
	d.Kinds = []string{KindSent}
	// Conversations are delivered in parallel, each in seq order under its
	// own lock (see deliver.go).
	d.Concurrency = 32
	d.Prefetch = 512
	d.Backoff = []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second, 30 * time.Second}
	d.MaxDeliver = 10
	d.BacklogEvery = 100 * time.Millisecond
	return Config{
		MaxMembers:   1000,
		MaxText:      4096,
		MaxMedia:     10,
		MaxTitle:     128,
		MaxBody:      64 << 10,
		SendRate:     ratelimit.Limit{Every: 50 * time.Millisecond, Burst: 60}, // 20/s sustained, bursts of 60
		Limiters:     100_000,
		PageLimit:    50,
		MaxPageLimit: 200,
		Delivery:     d,
		MaxBacklog:   defaultMaxBacklog,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("chat: no store"))
	}
	if c.IDs == nil {
		errs = append(errs, errors.New("chat: no id generator"))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("chat: no authenticator"))
	}
	if c.MediaOwner == nil || c.UsersExist == nil {
		errs = append(errs, errors.New("chat: MediaOwner and UsersExist are required"))
	}
	for name, v := range map[string]int{"max members": c.MaxMembers, "max text": c.MaxText, "max media": c.MaxMedia,
		"max title": c.MaxTitle, "limiters": c.Limiters} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("chat: %s %d: must be positive", name, v))
		}
	}
	if c.MaxMembers < 2 {
		errs = append(errs, fmt.Errorf("chat: max members %d: a conversation has at least 2", c.MaxMembers))
	}
	errs = append(errs, jsonapi.ValidatePage("chat", c.PageLimit, c.MaxPageLimit)...)
	if c.MaxBody < 1024 {
		errs = append(errs, fmt.Errorf("chat: max body %d: want at least 1024", c.MaxBody))
	}
	if !c.SendRate.Valid() {
		errs = append(errs, fmt.Errorf("chat: send rate %v/%d: want a positive interval and a burst of 1 or more", c.SendRate.Every, c.SendRate.Burst))
	}
	if err := c.Delivery.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBacklog < 0 {
		errs = append(errs, fmt.Errorf("chat: max backlog %d: want 0 (no bound) or more", c.MaxBacklog))
	}
	if c.MaxBacklog > 0 && c.Delivery.BacklogEvery == 0 {
		errs = append(errs, errors.New("chat: a max backlog needs Delivery.BacklogEvery, how often the backlog is read"))
	}
	return errors.Join(errs...)
}
