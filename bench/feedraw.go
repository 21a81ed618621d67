package bench

// What the feed benchmark does to the stores directly, with no server
// running: the seeding, and the raw store loops (Pebble and gocql) the
// services' figures are set against, on the data the server left.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/users"
	userscassandra "github.com/mediaedge/mediaedge/social/users/cassandrastore"
	userspebble "github.com/mediaedge/mediaedge/social/users/pebblestore"
)

// feedRaw is a target's store as the bench touches it directly: the users
// store it seeds, and the raw reference loops. Opened while no server runs
// (Pebble allows one process).
type feedRaw interface {
	users() users.Store
	// fanout writes post (by author) into every user's feed.
	fanout(ctx context.Context, users []int64, post, author int64) error
	// read reads the newest limit entries of user's feed.
	read(ctx context.Context, user int64, limit int) error
	// like writes user's like row of post.
	like(ctx context.Context, post, user int64) error
	close() error
}

// feedReference runs the raw store loops on the data the server left.
func feedReference(ctx context.Context, cfg FeedConfig, gen *ids.Generator, raw feedRaw, author int64, followers []feedUser, t *FeedTarget) error {
	feeds := make([]int64, 0, len(followers)+1)
	feeds = append(feeds, author)
	for _, u := range followers {
		feeds = append(feeds, u.id)
	}
	// Reads first, on the feeds as the server left them.
	lat, errs := feedClosedLoop(ctx, cfg.Reads, cfg.ReadConc, func(rng *mrand.Rand) error {
		return raw.read(ctx, followers[rng.IntN(len(followers))].id, 20)
	})
	if errs > 0 || len(lat) == 0 {
		return fmt.Errorf("raw reads: %d of %d failed", errs, cfg.Reads)
	}
	t.Reads.RawP50, t.Reads.RawP99 = evPct(lat, 50), evPct(lat, 99)
	var runs []time.Duration
	for range cfg.Posts {
		t0 := time.Now()
		if err := raw.fanout(ctx, feeds, gen.Next(), author); err != nil {
			return fmt.Errorf("raw fan-out: %w", err)
		}
		runs = append(runs, time.Since(t0))
	}
	slices.Sort(runs)
	t.Fanout.Raw = runs[len(runs)/2]
	post := gen.Next()
	var next atomic.Int64
	t0 := time.Now()
	lat, errs = feedClosedLoop(ctx, cfg.Likes, cfg.LikeInFlight, func(*mrand.Rand) error {
		return raw.like(ctx, post, followers[next.Add(1)-1].id)
	})
	if errs > 0 || len(lat) == 0 {
		return fmt.Errorf("raw likes: %d of %d failed", errs, cfg.Likes)
	}
	t.Likes.RawPerSec = float64(len(lat)) / time.Since(t0).Seconds()
	t.Likes.RawP99 = evPct(lat, 99)
	return nil
}

// --- the stores, raw ---

// feedPebble is the embedded target's DATA/social database.
type feedPebble struct {
	db *pebble.DB
	us *userspebble.Store
}

func (p *feedPebble) users() users.Store { return p.us }

// feedKey is a key as the pebblestores make them: prefix, big-endian ids.
func feedKey(prefix string, ids ...int64) []byte {
	k := []byte(prefix)
	for _, id := range ids {
		k = binary.BigEndian.AppendUint64(k, uint64(id))
	}
	return k
}

// fanout writes f/e/<user><post> = author, 1,000 keys to a synced batch.
func (p *feedPebble) fanout(_ context.Context, us []int64, post, author int64) error {
	a := binary.BigEndian.AppendUint64(nil, uint64(author))
	for page := range slices.Chunk(us, 1000) {
		b := p.db.NewBatch()
		for _, u := range page {
			_ = b.Set(feedKey("f/e/", u, post), a, nil)
		}
		err := b.Commit(pebble.Sync)
		b.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// read iterates user's newest limit entries.
func (p *feedPebble) read(ctx context.Context, user int64, limit int) error {
	it, err := p.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: feedKey("f/e/", user), UpperBound: feedKey("f/e/", user+1)})
	if err != nil {
		return err
	}
	n := 0
	for ok := it.Last(); ok && n < limit; ok = it.Prev() {
		if _, err := it.ValueAndErr(); err != nil {
			it.Close()
			return err
		}
		n++
	}
	return errors.Join(it.Error(), it.Close())
}

// like writes p/like/<post><user> in its own synced batch.
func (p *feedPebble) like(_ context.Context, post, user int64) error {
	v, _ := json.Marshal(struct {
		At time.Time `json:"at"`
	}{time.Now().UTC()})
	b := p.db.NewBatch()
	defer b.Close()
	_ = b.Set(feedKey("p/like/", post, user), v, nil)
	return b.Commit(pebble.Sync)
}

// close makes the unsynced seed durable (a flush) and closes the database.
func (p *feedPebble) close() error {
	return errors.Join(p.db.Flush(), p.db.Close())
}

// feedCassandraRaw is the Cassandra target's keyspace; the session is
// closed by feedCassandra.
type feedCassandraRaw struct {
	s  *gocql.Session
	us *userscassandra.Store
}

func (c *feedCassandraRaw) users() users.Store { return c.us }

// fanout inserts the rows into feed_entries, 64 in flight.
func (c *feedCassandraRaw) fanout(ctx context.Context, us []int64, post, author int64) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for _, u := range us {
		g.Go(func() error {
			return c.s.Query(`INSERT INTO feed_entries (user_id, post_id, author) VALUES (?, ?, ?)`, u, post, author).
				Idempotent(true).ExecContext(gctx)
		})
	}
	return g.Wait()
}

// read selects the partition's newest limit rows.
func (c *feedCassandraRaw) read(ctx context.Context, user int64, limit int) error {
	it := c.s.Query(`SELECT post_id, author FROM feed_entries WHERE user_id = ? LIMIT ?`, user, limit).
		Idempotent(true).PageSize(limit).IterContext(ctx)
	var p, a int64
	for it.Scan(&p, &a) {
	}
	return it.Close()
}

// like inserts the like row (shard = user % 16, posts.LikeShards).
func (c *feedCassandraRaw) like(ctx context.Context, post, user int64) error {
	return c.s.Query(`INSERT INTO post_likes (post_id, shard, user_id, liked_at) VALUES (?, ?, ?, ?)`,
		post, int(uint64(user)%16), user, time.Now().UTC().Truncate(time.Millisecond)).Idempotent(true).ExecContext(ctx)
}

func (c *feedCassandraRaw) close() error { return nil }

// feedSeed writes the author and the followers (each with a session) and
// the follows, with their events, through the users store.
func feedSeed(ctx context.Context, cfg FeedConfig, gen *ids.Generator, hash string, st users.Store) (feedUser, []feedUser, error) {
	all := make([]feedUser, cfg.Followers+1) // all[0] is the author
	for i := range all {
		all[i].id = gen.Next()
	}
	event := func(kind string, actor int64, to []int64, data map[string]string, at time.Time) events.Event {
		b, _ := json.Marshal(data)
		return events.Event{ID: gen.Next(), Kind: kind, Actor: actor, To: to, Data: b, At: at}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range all {
		g.Go(func() error {
			now := time.Now().UTC().Truncate(time.Millisecond)
			name := "feedf" + strconv.Itoa(i-1)
			if i == 0 {
				name = "feedauthor"
			}
			u := users.User{ID: all[i].id, Username: name, DisplayName: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
			ev := event("user.created", u.ID, nil, map[string]string{"username": name, "display_name": name}, now)
			if _, _, err := st.CreateUser(gctx, u, "", ev); err != nil {
				return err
			}
			var tok [32]byte
			_, _ = rand.Read(tok[:])
			sum := sha256.Sum256(tok[:])
			if err := st.CreateSession(gctx, users.Session{TokenHash: sum[:], UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
				return err
			}
			all[i].token = base64.RawURLEncoding.EncodeToString(tok[:])
			if i == 0 {
				return nil
			}
			target := all[0].id
			op := users.GraphOp{Actor: u.ID, Target: target, At: now,
				Event: event("follow", u.ID, []int64{target}, map[string]string{"user_id": strconv.FormatInt(target, 10)}, now)}
			if _, err := st.Follow(gctx, op); err != nil {
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return feedUser{}, nil, err
	}
	n, err := st.CountEdges(ctx, all[0].id)
	if err == nil && n.Followers != int64(cfg.Followers) {
		err = fmt.Errorf("the author has %d followers, want %d", n.Followers, cfg.Followers)
	}
	return all[0], all[1:], err
}
