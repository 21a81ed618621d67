package cassandrastore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/bwmarrin/snowflake"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/posts"
	"github.com/mediaedge/mediaedge/social/posts/cassandrastore"
	"github.com/mediaedge/mediaedge/social/posts/poststest"
)

// TestCassandra is the one entry point that needs a node: one fresh
// keyspace with the whole schema (schema.Apply, through cassandratest, so
// 0007_social_posts.cql is applied as production applies it), shared by
// every case (ids are random). Without a node it skips, or fails under
// CI=true.
func TestCassandra(t *testing.T) {
	s, ks := socialtest.Cassandra(t)
	socialtest.RequireMigration(t, ks.Name, 7, "social_posts")
	socialtest.RequireTables(t, s, ks.Name, "posts", "posts_idempotency", "posts_by_author", "posts_author_buckets", "post_likes", "post_comments")
	store, err := cassandrastore.New(s, cassandrastore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("conformance", func(t *testing.T) {
		poststest.Run(t, func(*testing.T) poststest.Backend {
			return poststest.Backend{Store: store, Outbox: socialtest.CassandraOutbox(s)}
		})
	})
	t.Run("a key whose first request died before its post is taken over", func(t *testing.T) { testDeadClaim(t, s, store) })
	t.Run("a comment key whose first add died is busy, then taken over", func(t *testing.T) { testDeadCommentClaim(t, s) })
	t.Run("timeline across buckets", func(t *testing.T) { testBuckets(t, s, store) })
	t.Run("two edges like one post at once", func(t *testing.T) { testTwoEdges(t, ks, store) })
	t.Run("config", testConfig)
}

var ctx = context.Background()

func noEvents(posts.Post) ([]events.Event, error) { return nil, nil }

// testDeadClaim: a key claimed by a request that died before inserting its
// post: the retry writes the post under the claimed id, once.
func testDeadClaim(t *testing.T, s *gocql.Session, store *cassandrastore.Store) {
	g := socialtest.IDs(t)
	author, claimed := g.Next(), g.Next()
	if _, err := s.Query(`INSERT INTO posts_idempotency (author_id, idem_key, post_id) VALUES (?, 'k', ?) IF NOT EXISTS USING TTL 60`, author, claimed).MapScanCAS(map[string]any{}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	var built []int64
	evs := func(p posts.Post) ([]events.Event, error) {
		built = append(built, p.ID)
		return nil, nil
	}
	got, created, err := store.CreatePost(ctx, posts.Post{ID: g.Next(), Author: author, Text: "retry", CreatedAt: at}, "k", evs)
	if err != nil || !created || got.ID != claimed || !slices.Equal(built, []int64{claimed}) {
		t.Fatalf("retry of a dead claim: %+v created %v, %v; events built for %v", got, created, err, built)
	}
	again, created, err := store.CreatePost(ctx, posts.Post{ID: g.Next(), Author: author, Text: "retry", CreatedAt: at}, "k", noEvents)
	if err != nil || created || again.ID != claimed || again.Text != "retry" {
		t.Fatalf("second retry: %+v created %v, %v", again, created, err)
	}
	if tl, err := store.Timeline(ctx, author, 0, 10); err != nil || !slices.Equal(tl, []int64{claimed}) {
		t.Fatalf("timeline: %v %v", tl, err)
	}
}

// testDeadCommentClaim: a comment key claimed by an add that never wrote
// its comment answers ErrBusy while the add may be in flight (ClaimGrace
// after its comment id's time), then is taken over by the retry, once.
func testDeadCommentClaim(t *testing.T, s *gocql.Session) {
	cfg := cassandrastore.DefaultConfig()
	cfg.ReplayWait = 200 * time.Millisecond
	store, err := cassandrastore.New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := socialtest.IDs(t)
	author, post := g.Next(), g.Next()
	key := fmt.Sprintf("comment %d k", post)
	// The table is written by lightweight transactions only, here too.
	if _, err := s.Query(`INSERT INTO posts_idempotency (author_id, idem_key, post_id) VALUES (?, ?, ?) IF NOT EXISTS USING TTL 60`, author, key, g.Next()).MapScanCAS(map[string]any{}); err != nil {
		t.Fatal(err)
	}
	claim := func(id int64) {
		t.Helper()
		if _, err := s.Query(`UPDATE posts_idempotency USING TTL 60 SET post_id = ? WHERE author_id = ? AND idem_key = ? IF EXISTS`, id, author, key).MapScanCAS(map[string]any{}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	c := posts.Comment{ID: g.Next(), Post: post, Author: author, Text: "retry", CreatedAt: at}
	if _, _, err := store.AddComment(ctx, c, "k", nil); !errors.Is(err, posts.ErrBusy) {
		t.Fatalf("add over a claim in flight: %v, want ErrBusy", err)
	}
	// A claim made two grace periods ago: an id of that time.
	claim((time.Now().Add(-2*cfg.ClaimGrace).UnixMilli() - snowflake.Epoch) << 22)
	got, created, err := store.AddComment(ctx, c, "k", nil)
	if err != nil || !created || got.ID != c.ID {
		t.Fatalf("add over a stale claim: %+v created %v, %v", got, created, err)
	}
	again, created, err := store.AddComment(ctx, posts.Comment{ID: g.Next(), Post: post, Author: author, Text: "again", CreatedAt: at}, "k", nil)
	if err != nil || created || again.ID != c.ID || again.Text != "retry" {
		t.Fatalf("add again: %+v created %v, %v", again, created, err)
	}
	if n, err := store.CommentCount(ctx, post); err != nil || n != 1 {
		t.Fatalf("comment count %d %v, want 1", n, err)
	}
}

// testBuckets: posts whose ids fall in buckets far apart are read newest
// first across them, paged.
func testBuckets(t *testing.T, s *gocql.Session, store *cassandrastore.Store) {
	g := socialtest.IDs(t)
	author := g.Next()
	base := g.Next()
	var want []int64
	for i := range 5 {
		// Ids in five buckets (2^54 apart), two posts each.
		for j := range 2 {
			id := base + int64(i)<<54 + int64(j)
			want = append(want, id)
			p := posts.Post{ID: id, Author: author, Text: fmt.Sprint(i, j), CreatedAt: time.Now()}
			if _, _, err := store.CreatePost(ctx, p, "", noEvents); err != nil {
				t.Fatal(err)
			}
		}
	}
	slices.Reverse(want)
	var got []int64
	before := int64(0)
	for range 20 {
		page, err := store.Timeline(ctx, author, before, 3)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 3 {
			break
		}
		before = page[len(page)-1]
	}
	if !slices.Equal(got, want) {
		t.Fatalf("timeline across buckets: %v, want %v", got, want)
	}
}

// testTwoEdges: two sessions (two edges), 16 goroutines each, like and
// unlike one post: the count equals the likes that stayed, at once.
func testTwoEdges(t *testing.T, ks socialtest.Keyspace, store *cassandrastore.Store) {
	g := socialtest.IDs(t)
	author := g.Next()
	p, _, err := store.CreatePost(ctx, posts.Post{ID: g.Next(), Author: author, Text: "viral", CreatedAt: time.Now()}, "", noEvents)
	if err != nil {
		t.Fatal(err)
	}
	other, err := cassandrastore.New(ks.Session(t), cassandrastore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 40
	var wg sync.WaitGroup
	var mu sync.Mutex // guards stay
	stay := 0
	for w := range 2 * workers {
		st := []*cassandrastore.Store{store, other}[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				u := g.Next()
				if _, err := st.Like(ctx, p.ID, u, time.Now(), events.Event{}); err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					if _, err := st.Unlike(ctx, p.ID, u, events.Event{}); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				mu.Lock()
				stay++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if n, err := store.LikeCount(ctx, p.ID); err != nil || n != int64(stay) {
		t.Fatalf("like count %d %v, want %d", n, err, stay)
	}
}

func testConfig(t *testing.T) {
	err := cassandrastore.Config{Serial: gocql.One}.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"serial", "edit tries", "idempotency ttl", "claim grace", "replay wait"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
	if err := cassandrastore.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}
