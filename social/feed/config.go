package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/jsonapi"
	"github.com/mediaedge/mediaedge/social/posts"
	"github.com/mediaedge/mediaedge/social/users"
)

// Authenticator tells who a request is: (*users.Handler).Authenticate.
type Authenticator = jsonapi.Authenticator

// Graph is the follow graph as the feed reads it (*users.Handler's store).
type Graph interface {
	// ListEdges returns up to limit of user's followers or followings with
	// ids above after (0: from the start), in increasing id order.
	ListEdges(ctx context.Context, user int64, dir users.Direction, after int64, limit int) ([]users.Edge, error)
	// CountEdges counts user's followers and followings.
	CountEdges(ctx context.Context, user int64) (users.Counts, error)
}

// Posts is the posts service as the feed reads it.
//
// Posts renders the posts of ids as viewer sees them, skipping deleted,
// archived and missing ones (*posts.Service implements both methods).
//
// Timeline returns up to limit ids of author's live posts below before (0:
// from the newest), newest first.
type Posts interface {
	Posts(ctx context.Context, viewer int64, ids []int64) ([]posts.PostJSON, error)
	Timeline(ctx context.Context, author, before int64, limit int) ([]int64, error)
}

// Config is everything the service needs; the composition root fills it.
type Config struct {
	// Store holds the feeds and the celebrity set (required).
	Store Store `json:"-"`
	// Graph is the follow graph (required).
	Graph Graph `json:"-"`
	// Posts renders posts and lists authors' timelines (required).
	Posts Posts `json:"-"`
	// Auth authenticates GET /v1/feed (required).
	Auth Authenticator `json:"-"`
	// CelebrityThreshold: an author with more followers than this is a
	// celebrity, whose posts are merged at read time instead of fanned out.
	// Inclusive: an author with exactly this many followers is fanned out.
	CelebrityThreshold int64
	// FeedCap is how many of the newest entries a feed keeps.
	FeedCap int
	// TrimEvery: a fan-out trims a follower's feed back to FeedCap on one
	// write in TrimEvery (picked by a hash of user and post), so a feed
	// holds FeedCap plus a few TrimEvery entries at most, and a fan-out
	// reads one feed in TrimEvery. 1 trims on every write.
	TrimEvery int
	// Backfill is how many of a followee's newest posts a follow copies into
	// the follower's feed.
	Backfill int
	// FanoutPage is how many followers are read and written per step of a
	// fan-out.
	FanoutPage int
	// CelebrityCacheTTL is how long the celebrity set read by a feed read is
	// reused; 0 reads it on every request.
	CelebrityCacheTTL time.Duration
	// PageLimit is the default and MaxPageLimit the largest ?limit=.
	PageLimit, MaxPageLimit int
	// MaxRounds bounds the store and posts reads of one page: when deleted
	// posts keep a page from filling, it is answered short (with a cursor)
	// after this many rounds.
	MaxRounds int
	// Fanout is the durable consumer "feed-fanout".
	Fanout events.ConsumerConfig
	// Logger; nil is slog.Default().
	Logger *slog.Logger `json:"-"`
}

// Kinds of the events the fan-out consumes.
const (
	KindPostCreated  = "post.created"
	KindPostDeleted  = "post.deleted"
	KindPostArchived = "post.archived"
	KindFollow       = "follow"
	KindUnfollow     = "unfollow"
	KindBlock        = "block"
)

// DefaultConfig has the defaults of everything but the required fields.
func DefaultConfig() Config {
	c := events.DefaultConsumerConfig("feed-fanout")
	c.Kinds = []string{KindPostCreated, KindPostDeleted, KindPostArchived, KindFollow, KindUnfollow, KindBlock}
	// Fan-outs of different posts run side by side; a follow and an
	// unfollow of one pair may then be handled out of order, which the
	// follow's edge check covers (see fanout.go).
	c.Concurrency = 4
	// A 10,000-follower fan-out takes well under a second; a prefetch of 16
	// of them stays far inside AckWait.
	c.Prefetch = 16
	c.MaxDeliver = 10
	c.Backoff = []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second, 30 * time.Second}
	return Config{
		CelebrityThreshold: 10_000,
		FeedCap:            800,
		TrimEvery:          16,
		Backfill:           50,
		FanoutPage:         1000,
		CelebrityCacheTTL:  10 * time.Second,
		PageLimit:          20,
		MaxPageLimit:       100,
		MaxRounds:          4,
		Fanout:             c,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("feed: no store"))
	}
	if c.Graph == nil {
		errs = append(errs, errors.New("feed: no follow graph"))
	}
	if c.Posts == nil {
		errs = append(errs, errors.New("feed: no posts service"))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("feed: no authenticator"))
	}
	if c.CelebrityThreshold < 0 {
		errs = append(errs, fmt.Errorf("feed: celebrity threshold %d: must not be negative", c.CelebrityThreshold))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"feed cap", c.FeedCap}, {"trim every", c.TrimEvery}, {"fanout page", c.FanoutPage},
		{"max rounds", c.MaxRounds}} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("feed: %s %d: must be positive", f.name, f.v))
		}
	}
	if c.Backfill < 0 {
		errs = append(errs, fmt.Errorf("feed: backfill %d: must not be negative", c.Backfill))
	}
	if c.CelebrityCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("feed: celebrity cache ttl %v: must not be negative", c.CelebrityCacheTTL))
	}
	errs = append(errs, jsonapi.ValidatePage("feed", c.PageLimit, c.MaxPageLimit)...)
	if c.MaxPageLimit > c.FeedCap {
		errs = append(errs, fmt.Errorf("feed: max page limit %d above the feed cap %d", c.MaxPageLimit, c.FeedCap))
	}
	if err := c.Fanout.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
