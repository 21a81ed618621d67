package cassandrastore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/stories"
	"github.com/mediaedge/mediaedge/social/stories/cassandrastore"
	"github.com/mediaedge/mediaedge/social/stories/storiestest"
)

var ctx = context.Background()

// TestCassandra is the one entry point that needs a node: one fresh
// keyspace with the whole schema (schema.Apply, through cassandratest, so
// 0009_social_stories.cql is applied as production applies it), shared by
// every case (ids are random). Without a node it skips, or fails under
// CI=true.
func TestCassandra(t *testing.T) {
	s, ks := socialtest.Cassandra(t)
	socialtest.RequireMigration(t, ks.Name, 9, "social_stories")
	tables := []string{"stories", "stories_by_owner", "story_idem", "story_views", "story_seen", "story_likes", "story_liked", "story_likers"}
	for _, table := range tables {
		var ttl int
		err := s.Query(`SELECT default_time_to_live FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`, ks.Name, table).Scan(&ttl)
		if err != nil || ttl <= 0 {
			t.Fatalf("table %s.%s: default ttl %d, %v", ks.Name, table, ttl, err)
		}
	}

	sc := cassandrastore.DefaultConfig()
	sc.ReplayWait = 300 * time.Millisecond
	store, err := cassandrastore.New(s, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("conformance", func(t *testing.T) {
		storiestest.Run(t, func(*testing.T) storiestest.Backend {
			return storiestest.Backend{Store: store, Outbox: socialtest.CassandraOutbox(s),
				Now: time.Now, Wait: time.Sleep}
		})
	})
	gen := socialtest.IDs(t)
	t.Run("every row of a story is written with its TTL", func(t *testing.T) { testTTLs(t, s, store, gen) })
	t.Run("a stale key claim is taken over, a fresh one is busy", func(t *testing.T) { testClaims(t, s, store, gen) })
	t.Run("config", testConfig)
}

func testTTLs(t *testing.T, s *gocql.Session, store *cassandrastore.Store, gen *ids.Generator) {
	at := time.Now().UTC().Truncate(time.Millisecond)
	st := stories.Story{ID: gen.Next(), Owner: gen.Next(), Media: "m", MediaType: "image/jpeg", Key: "k",
		CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	if _, _, err := store.Create(ctx, st, events.Event{ID: gen.Next(), Kind: "story.created", At: at}); err != nil {
		t.Fatal(err)
	}
	viewer := gen.Next()
	if err := store.View(ctx, st, viewer, at); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Like(ctx, st, viewer, at, events.Event{ID: gen.Next(), Kind: "story.like", At: at}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		stmt string
		args []any
		max  int
	}{
		{`SELECT TTL(caption) FROM stories WHERE id = ?`, []any{st.ID}, 3600},
		{`SELECT TTL(caption) FROM stories_by_owner WHERE owner = ? AND id = ?`, []any{st.Owner, st.ID}, 3600},
		{`SELECT TTL(story_id) FROM story_idem WHERE owner = ? AND idem_key = ?`, []any{st.Owner, "k"}, 3600},
		{`SELECT TTL(viewed_at) FROM story_views WHERE story_id = ? AND viewer_id = ?`, []any{st.ID, viewer}, 3600},
		{`SELECT TTL(liked_at) FROM story_likes WHERE story_id = ? AND user_id = ?`, []any{st.ID, viewer}, 3600},
		{`SELECT TTL(liked_at) FROM story_likers WHERE owner = ? AND user_id = ?`, []any{st.Owner, viewer}, 30 * 86400},
	} {
		var ttl int
		if err := s.Query(q.stmt, q.args...).Scan(&ttl); err != nil || ttl <= 0 || ttl > q.max || ttl < q.max-60 {
			t.Errorf("%s: ttl %d, %v; want about %d", q.stmt, ttl, err, q.max)
		}
	}
}

func testClaims(t *testing.T, s *gocql.Session, store *cassandrastore.Store, gen *ids.Generator) {
	at := time.Now().UTC().Truncate(time.Millisecond)
	owner := gen.Next()
	story := func(key string) stories.Story {
		return stories.Story{ID: gen.Next(), Owner: owner, Media: "m", MediaType: "image/jpeg", Key: key, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	}
	ev := func() events.Event { return events.Event{ID: gen.Next(), Kind: "story.created", At: at} }
	// A claim a minute old whose story never came: its create died.
	if err := s.Query(`INSERT INTO story_idem (owner, idem_key, story_id, claimed_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
		owner, "stale", gen.Next(), time.Now().Add(-time.Minute)).Exec(); err != nil {
		t.Fatal(err)
	}
	st := story("stale")
	got, created, err := store.Create(ctx, st, ev())
	if err != nil || !created || got.ID != st.ID {
		t.Fatalf("create over a stale claim: %+v created %v, %v", got, created, err)
	}
	if again, created, err := store.Create(ctx, story("stale"), ev()); err != nil || created || again.ID != st.ID {
		t.Fatalf("retry after the takeover: %d created %v, %v", again.ID, created, err)
	}
	// A claim just made whose story has not come yet: in flight.
	if err := s.Query(`INSERT INTO story_idem (owner, idem_key, story_id, claimed_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
		owner, "fresh", gen.Next(), time.Now()).Exec(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Create(ctx, story("fresh"), ev()); !errors.Is(err, stories.ErrBusy) {
		t.Fatalf("create over a claim in flight: %v, want ErrBusy", err)
	}
}

func testConfig(t *testing.T) {
	err := cassandrastore.Config{Serial: gocql.One}.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"likers ttl", "claim grace", "replay wait", "serial"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
	if err := cassandrastore.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}
