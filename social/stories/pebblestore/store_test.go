package pebblestore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/stories"
	"github.com/mediaedge/mediaedge/social/stories/pebblestore"
	"github.com/mediaedge/mediaedge/social/stories/storiestest"
)

func open(t *testing.T) (*pebble.DB, *pebblestore.Store, *socialtest.Clock) {
	db := socialtest.Pebble(t)
	c := socialtest.NewClock(time.Now())
	cfg := pebblestore.DefaultConfig()
	cfg.Sync, cfg.Now = false, c.Now
	return db, pebblestore.New(db, cfg), c
}

func TestConformance(t *testing.T) {
	storiestest.Run(t, func(t *testing.T) storiestest.Backend {
		db, s, c := open(t)
		return storiestest.Backend{Store: s, Outbox: socialtest.PebbleOutbox(t, db), Now: c.Now, Wait: c.Advance}
	})
}

// keys lists the database's keys under the store's prefix.
func keys(t *testing.T, db *pebble.DB) []string {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte("s/"), UpperBound: []byte("s0")})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []string
	for it.First(); it.Valid(); it.Next() {
		out = append(out, string(it.Key()))
	}
	return out
}

// TestSweepReclaims: after the sweep, nothing of an expired story is left
// on disk (its row, list and index entries, key, views, seen marks, likes,
// liked marks); the owner's liker stays until the likers' lifetime ends,
// and then the next sweep takes it too.
func TestSweepReclaims(t *testing.T) {
	ctx := context.Background()
	db, s, c := open(t)
	at := c.Now().UTC().Truncate(time.Millisecond)
	const owner, viewer, fan = 1, 2, 3
	for i, ttl := range []time.Duration{time.Second, 2 * time.Second} {
		st := stories.Story{ID: int64(100 + i), Owner: owner, Media: "m", MediaType: "image/jpeg", HideFrom: []int64{9},
			Key: "k" + string(rune('a'+i)), CreatedAt: at, ExpiresAt: at.Add(ttl)}
		if _, _, err := s.Create(ctx, st, events.Event{ID: int64(1000 + i), Kind: "story.created", At: at}); err != nil {
			t.Fatal(err)
		}
		if err := s.View(ctx, st, viewer, at); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Like(ctx, st, fan, at, events.Event{ID: int64(2000 + i), Kind: "story.like", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(1500 * time.Millisecond)
	if n, err := s.Sweep(ctx, c.Now()); err != nil || n != 1 {
		t.Fatalf("first sweep: %d %v, want 1 story", n, err)
	}
	for _, k := range keys(t, db) {
		if strings.Contains(k, "\x00\x00\x00\x00\x00\x00\x00d") { // story 100
			t.Errorf("key %q of the swept story left", k)
		}
	}
	c.Advance(time.Second)
	if n, err := s.Sweep(ctx, c.Now()); err != nil || n != 1 {
		t.Fatalf("second sweep: %d %v, want 1 story", n, err)
	}
	for _, k := range keys(t, db) {
		if !strings.HasPrefix(k, "s/likers/") && !strings.HasPrefix(k, "s/lexp/") {
			t.Errorf("key %q left after every story expired", k)
		}
	}
	if l, err := s.Likers(ctx, owner, 0); err != nil || len(l) != 1 {
		t.Fatalf("likers after the stories: %v %v", l, err)
	}
	c.Advance(31 * 24 * time.Hour)
	if _, err := s.Sweep(ctx, c.Now()); err != nil {
		t.Fatal(err)
	}
	if k := keys(t, db); len(k) != 0 {
		t.Fatalf("keys left after the likers' lifetime: %q", k)
	}
}
