package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/feed"
	feedcassandra "github.com/mediaedge/mediaedge/social/feed/cassandrastore"
	feedpebble "github.com/mediaedge/mediaedge/social/feed/pebblestore"
	"github.com/mediaedge/mediaedge/social/notify"
	notifycassandra "github.com/mediaedge/mediaedge/social/notify/cassandrastore"
	notifypebble "github.com/mediaedge/mediaedge/social/notify/pebblestore"
	"github.com/mediaedge/mediaedge/social/posts"
	postscassandra "github.com/mediaedge/mediaedge/social/posts/cassandrastore"
	postspebble "github.com/mediaedge/mediaedge/social/posts/pebblestore"
	"github.com/mediaedge/mediaedge/social/stories"
	storiescassandra "github.com/mediaedge/mediaedge/social/stories/cassandrastore"
	storiespebble "github.com/mediaedge/mediaedge/social/stories/pebblestore"
	"github.com/mediaedge/mediaedge/social/users"
)

// contentStores are the stores of posts, feeds, stories and
// notifications, on the social store's backend.
type contentStores struct {
	posts   posts.Store
	feed    feed.Store
	stories stories.Store
	notify  notify.Store
}

func cassandraContent(s *gocql.Session) (contentStores, error) {
	var c contentStores
	var err error
	if c.posts, err = postscassandra.New(s, postscassandra.DefaultConfig()); err != nil {
		return c, fmt.Errorf("posts store: %w", err)
	}
	if c.feed, err = feedcassandra.New(s, feedcassandra.DefaultConfig()); err != nil {
		return c, fmt.Errorf("feed store: %w", err)
	}
	if c.stories, err = storiescassandra.New(s, storiescassandra.DefaultConfig()); err != nil {
		return c, fmt.Errorf("stories store: %w", err)
	}
	if c.notify, err = notifycassandra.New(s, notifycassandra.DefaultConfig()); err != nil {
		return c, fmt.Errorf("notify store: %w", err)
	}
	return c, nil
}

func pebbleContent(db *pebble.DB) contentStores {
	return contentStores{
		posts:   postspebble.New(db, postspebble.DefaultConfig()),
		feed:    feedpebble.New(db, feedpebble.DefaultConfig()),
		stories: storiespebble.New(db, storiespebble.DefaultConfig()),
		notify:  notifypebble.New(db, notifypebble.DefaultConfig()),
	}
}

// content is posts, the home feed, stories and notifications, with their
// consumers (feed fan-out, notifications).
type content struct {
	posts     *posts.Service
	feed      *feed.Service
	stories   *stories.Service
	notify    *notify.Service
	consumers []*events.Consumer
	stop      context.CancelFunc
	done      chan struct{}
}

// buildContent builds the four services over st and starts their
// consumers on bus.
func buildContent(cfg serveConfig, st contentStores, so *social, accounts users.Store, chats chat.Store,
	media *chunkstore.Store, log *slog.Logger) (*content, error) {
	c := &content{}
	auth, gen, wake := so.users, so.ids, so.relay.Notify
	stat := func(ctx context.Context, id string) (chunkstore.FileInfo, bool, error) {
		info, err := media.Stat(ctx, id)
		if isNotFound(err) {
			return info, false, nil
		}
		return info, err == nil, err
	}
	userIDs := func(ctx context.Context, names []string) (map[string]int64, error) {
		out := make(map[string]int64, len(names))
		for _, n := range names {
			u, err := accounts.GetUserByName(ctx, n)
			if err == nil {
				out[n] = u.ID
			} else if !isUserNotFound(err) {
				return nil, err
			}
		}
		return out, nil
	}

	pc := posts.DefaultConfig()
	pc.Store, pc.IDs, pc.Auth, pc.Notify, pc.UserIDs = st.posts, gen, auth, wake, userIDs
	pc.Logger = log.With("component", "posts")
	pc.MediaInfo = func(ctx context.Context, id string) (posts.MediaInfo, error) {
		info, ok, err := stat(ctx, id)
		if err == nil && !ok {
			err = posts.ErrNoMedia
		}
		return posts.MediaInfo{Owner: info.Owner, Type: info.ContentType}, err
	}
	var err error
	if c.posts, err = posts.New(pc); err != nil {
		return nil, fmt.Errorf("posts: %w", err)
	}

	fc := feed.DefaultConfig()
	fc.Store, fc.Graph, fc.Posts, fc.Auth = st.feed, accounts, c.posts, auth
	fc.Logger = log.With("component", "feed")
	if c.feed, err = feed.New(fc); err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}

	sc := stories.DefaultConfig()
	sc.Store, sc.IDs, sc.Auth, sc.Graph, sc.Notify, sc.UserIDs = st.stories, gen, auth, accounts, wake, userIDs
	if cfg.StoryTTL > 0 {
		sc.TTL = cfg.StoryTTL
	}
	sc.Logger = log.With("component", "stories")
	sc.MediaInfo = func(ctx context.Context, id string) (stories.MediaInfo, error) {
		info, ok, err := stat(ctx, id)
		if err == nil && !ok {
			err = stories.ErrNoMedia
		}
		return stories.MediaInfo{Owner: info.Owner, Type: info.ContentType}, err
	}
	if c.stories, err = stories.New(sc); err != nil {
		return nil, fmt.Errorf("stories: %w", err)
	}

	nc := notify.DefaultConfig()
	nc.Store, nc.IDs, nc.Auth, nc.Notify = st.notify, gen, auth, wake
	nc.Logger = log.With("component", "notify")
	nc.Online = so.push.Online
	nc.ConversationMembers = func(ctx context.Context, conv int64) ([]int64, error) {
		ms, err := chats.ListMembers(ctx, conv, 0, 0)
		if err != nil {
			return nil, err
		}
		out := make([]int64, len(ms))
		for i, m := range ms {
			out[i] = m.User
		}
		return out, nil
	}
	if c.notify, err = notify.New(nc); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	c.stop, c.done = cancel, make(chan struct{})
	go func() {
		defer close(c.done)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			sweepIdempotency(ctx, log, 10*time.Minute, st.posts, chats) // Cassandra: TTL does it
		}()
		c.stories.RunSweeper(ctx, time.Minute) // expired stories (Cassandra: TTL does it)
		wg.Wait()
	}()
	for _, start := range []func(context.Context, *events.Bus) (*events.Consumer, error){c.feed.Start, c.notify.Start} {
		con, err := start(context.Background(), so.bus)
		if err != nil {
			c.close()
			return nil, err
		}
		c.consumers = append(c.consumers, con)
	}
	return c, nil
}

// idempotencySweeper is a capability of the embedded stores: Cassandra
// expires Idempotency-Keys by TTL, Pebble keeps them until swept.
type idempotencySweeper interface {
	SweepIdempotency(ctx context.Context, now time.Time) (int, error)
}

// sweepIdempotency sweeps the stores that need it every interval until ctx
// ends; it returns at once when none does.
func sweepIdempotency(ctx context.Context, log *slog.Logger, every time.Duration, stores ...any) {
	var sws []idempotencySweeper
	for _, s := range stores {
		if sw, ok := s.(idempotencySweeper); ok {
			sws = append(sws, sw)
		}
	}
	if len(sws) == 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, sw := range sws {
			n, err := sw.SweepIdempotency(ctx, time.Now())
			if err != nil && ctx.Err() == nil {
				log.Warn("sweep expired idempotency keys", "store", fmt.Sprintf("%T", sw), "err", err)
			} else if n > 0 {
				log.Debug("swept expired idempotency keys", "store", fmt.Sprintf("%T", sw), "deleted", n)
			}
		}
	}
}

func isUserNotFound(err error) bool { return errors.Is(err, users.ErrNotFound) }

// register adds the services' routes to mux.
func (c *content) register(mux *http.ServeMux) {
	c.posts.Register(mux)
	c.feed.Register(mux)
	c.stories.Register(mux)
	c.notify.Register(mux)
}

// close stops the consumers and the sweeper.
func (c *content) close() error {
	var first error
	for _, con := range c.consumers {
		if err := con.Close(); err != nil && first == nil {
			first = err
		}
	}
	if c.stop != nil {
		c.stop()
		<-c.done
	}
	return first
}

// The users store is the follow graph that feeds and stories read.
var (
	_ feed.Graph    = users.Store(nil)
	_ stories.Graph = users.Store(nil)
)
