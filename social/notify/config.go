package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// Authenticator tells who a request is: (*users.Handler).Authenticate.
type Authenticator = jsonapi.Authenticator

// Config is everything the service needs; the composition root fills it.
type Config struct {
	// Store holds the notifications (required).
	Store Store
	// IDs makes group, activity and event ids (required).
	IDs *ids.Generator
	// Auth authenticates every route (required).
	Auth Authenticator
	// ConversationMembers lists a conversation's members (the chat
	// service's members), for "chat.message" events. Required.
	ConversationMembers func(ctx context.Context, conv int64) ([]int64, error) `json:"-"`
	// Online reports whether a user has a live socket (the push gateway);
	// a member who is online gets the message live and no notification.
	// Required.
	Online func(ctx context.Context, uid int64) bool `json:"-"`
	// MaxPerUser bounds each recipient's groups; the oldest beyond it are
	// deleted when a new group opens.
	MaxPerUser int
	// PageLimit is the default and MaxPageLimit the largest ?limit=.
	PageLimit, MaxPageLimit int
	// MaxBody caps a JSON request body; larger ones are answered 413.
	MaxBody int64
	// Parallel is how many recipients of one event (a mention of many, a
	// story's likers) are written at once.
	Parallel int
	// Consumer is the durable consumer of the events notifications are
	// made of ("notify").
	Consumer events.ConsumerConfig
	// Now is the clock; nil is time.Now.
	Now func() time.Time `json:"-"`
	// Notify, when set, is called after every write that put an event in
	// the outbox (the relay's Notify).
	Notify func() `json:"-"`
	// Logger; nil is slog.Default().
	Logger *slog.Logger `json:"-"`
}

// Kinds are the event kinds the consumer reads.
var Kinds = []string{"follow", "like", "comment", "mention", "story.like", "story.created", "chat.message"}

// DefaultConfig has the defaults of everything but the required fields.
func DefaultConfig() Config {
	c := events.DefaultConsumerConfig("notify")
	c.Kinds = append([]string(nil), Kinds...)
	// Recipients are locked one at a time in the store; events of
	// different recipients run in parallel.
	c.Concurrency = 8
	c.Prefetch = 128
	c.MaxDeliver = 10
	c.Backoff = []time.Duration{500 * time.Millisecond, 2 * time.Second, 10 * time.Second, time.Minute}
	return Config{
		MaxPerUser:   500,
		PageLimit:    30,
		MaxPageLimit: 100,
		MaxBody:      4 << 10,
		Parallel:     8,
		Consumer:     c,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("notify: no store"))
	}
	if c.IDs == nil {
		errs = append(errs, errors.New("notify: no id generator"))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("notify: no authenticator"))
	}
	if c.ConversationMembers == nil || c.Online == nil {
		errs = append(errs, errors.New("notify: ConversationMembers and Online are required"))
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"max per user", c.MaxPerUser}, {"parallel", c.Parallel}} {
		if v.n < 1 {
			errs = append(errs, fmt.Errorf("notify: %s %d: must be positive", v.name, v.n))
		}
	}
	errs = append(errs, jsonapi.ValidatePage("notify", c.PageLimit, c.MaxPageLimit)...)
	if c.MaxBody < 256 {
		errs = append(errs, fmt.Errorf("notify: max body %d: want at least 256", c.MaxBody))
	}
	if err := c.Consumer.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
