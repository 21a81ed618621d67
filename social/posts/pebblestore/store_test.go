package pebblestore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/posts"
	"github.com/mediaedge/mediaedge/social/posts/pebblestore"
	"github.com/mediaedge/mediaedge/social/posts/poststest"
)

// open gives each case a fresh database in a temp folder.
func open(t *testing.T) poststest.Backend {
	db := socialtest.Pebble(t)
	return poststest.Backend{Store: pebblestore.New(db, pebblestore.Config{}), Outbox: socialtest.PebbleOutbox(t, db)}
}

func TestConformance(t *testing.T) { poststest.Run(t, open) }

// TestKeyExpires: an Idempotency-Key is remembered for IdempotencyTTL;
// after it the same key makes a new post.
func TestKeyExpires(t *testing.T) {
	db, err := pebble.Open(t.TempDir(), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := pebblestore.DefaultConfig()
	cfg.Sync, cfg.Now = false, func() time.Time { return now }
	s := pebblestore.New(db, cfg)
	ctx := context.Background()
	none := func(posts.Post) ([]events.Event, error) { return nil, nil }
	create := func(id int64) (posts.Post, bool) {
		p, created, err := s.CreatePost(ctx, posts.Post{ID: id, Author: 7, Text: "x", CreatedAt: now}, "k", none)
		if err != nil {
			t.Fatal(err)
		}
		return p, created
	}
	if p, created := create(1); !created || p.ID != 1 {
		t.Fatalf("first: %+v %v", p, created)
	}
	now = now.Add(23 * time.Hour)
	if p, created := create(2); created || p.ID != 1 {
		t.Fatalf("retry within the TTL: %+v %v", p, created)
	}
	now = now.Add(2 * time.Hour)
	if p, created := create(3); !created || p.ID != 3 {
		t.Fatalf("retry after the TTL: %+v %v", p, created)
	}
}

// TestIdempotencySwept: post and comment Idempotency-Keys past the TTL are
// deleted by SweepIdempotency (Cassandra expires them by TTL; Pebble would
// keep them for good), and live ones stay and still replay.
func TestIdempotencySwept(t *testing.T) {
	db, err := pebble.Open(t.TempDir(), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := pebblestore.DefaultConfig()
	cfg.Sync, cfg.Now = false, func() time.Time { return now }
	s := pebblestore.New(db, cfg)
	ctx := context.Background()
	none := func(posts.Post) ([]events.Event, error) { return nil, nil }
	if _, _, err := s.CreatePost(ctx, posts.Post{ID: 1, Author: 7, Text: "x", CreatedAt: now}, "old", none); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddComment(ctx, posts.Comment{ID: 10, Post: 1, Author: 8, Text: "c", CreatedAt: now}, "old", nil); err != nil {
		t.Fatal(err)
	}
	now = now.Add(20 * time.Hour)
	if _, _, err := s.CreatePost(ctx, posts.Post{ID: 2, Author: 7, Text: "y", CreatedAt: now}, "new", none); err != nil {
		t.Fatal(err)
	}
	keys := func() int {
		n := 0
		for _, p := range []string{"p/idem/", "p/cidem/"} {
			it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte(p), UpperBound: append([]byte(p[:len(p)-1]), '/'+1)})
			if err != nil {
				t.Fatal(err)
			}
			for ok := it.First(); ok; ok = it.Next() {
				n++
			}
			it.Close()
		}
		return n
	}
	if n, err := s.SweepIdempotency(ctx, now); err != nil || n != 0 || keys() != 3 {
		t.Fatalf("sweep within the TTL: deleted %d (%v), %d keys left; want 0 and 3", n, err, keys())
	}
	now = now.Add(5 * time.Hour) // "old" keys are 25 h old, "new" 5 h
	if n, err := s.SweepIdempotency(ctx, now); err != nil || n != 2 || keys() != 1 {
		t.Fatalf("sweep after the TTL: deleted %d (%v), %d keys left; want 2 and 1", n, err, keys())
	}
	if p, created, err := s.CreatePost(ctx, posts.Post{ID: 3, Author: 7, Text: "y", CreatedAt: now}, "new", none); err != nil || created || p.ID != 2 {
		t.Fatalf("a live key after the sweep: %+v created %v (%v); want post 2 replayed", p, created, err)
	}
}

// TestHotPostSynced: likes of one post from many goroutines on a syncing
// store: the count is exact, and the rate is logged (the WAL syncs of
// concurrent likes are shared, not serialised under the post's mutex).
func TestHotPostSynced(t *testing.T) {
	db, err := pebble.Open(t.TempDir(), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := pebblestore.New(db, pebblestore.DefaultConfig())
	ctx := context.Background()
	const workers, each = 64, 100
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				u := int64(w*each + i + 1)
				ev := events.Event{ID: u, Kind: "like", Actor: u, At: start}
				if changed, err := s.Like(ctx, 42, u, start, ev); err != nil || !changed {
					t.Errorf("like by %d: %v %v", u, changed, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if n, err := s.LikeCount(ctx, 42); err != nil || n != workers*each {
		t.Fatalf("count %d %v, want %d", n, err, workers*each)
	}
	t.Logf("%d synced likes of one post in %v: %.0f/s", workers*each, el, float64(workers*each)/el.Seconds())
}
