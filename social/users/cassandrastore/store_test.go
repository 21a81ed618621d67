package cassandrastore_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/users"
	"github.com/mediaedge/mediaedge/social/users/cassandrastore"
	"github.com/mediaedge/mediaedge/social/users/userstest"
)

// TestCassandra is the one entry point that needs a node: one fresh
// keyspace with the whole schema (schema.Apply, through cassandratest, so
// 0003_social_users.cql is applied as production applies it), shared by
// every case (users and names are random). Without a node it skips, or
// fails under CI=true.
func TestCassandra(t *testing.T) {
	s, ks := socialtest.Cassandra(t)
	socialtest.RequireMigration(t, ks.Name, 3, "social_users")
	socialtest.RequireMigration(t, ks.Name, 11, "user_sessions_by_user")
	socialtest.RequireTables(t, s, ks.Name, "outbox", "users", "usernames", "user_sessions", "user_sessions_by_user", "following", "followers", "blocks", "graph_locks")

	store, err := cassandrastore.New(s, cassandrastore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	open := func(*testing.T) userstest.Backend {
		return userstest.Backend{Store: store, Outbox: socialtest.CassandraOutbox(s)}
	}
	t.Run("conformance", func(t *testing.T) { userstest.Run(t, open) })
	t.Run("http", func(t *testing.T) { userstest.RunHTTP(t, open) })
	t.Run("claims of dead creates", func(t *testing.T) { testClaims(t, s) })
	t.Run("pair lock", func(t *testing.T) { testLock(t, s) })
}

// testClaims: a claim whose users row never came (its create died between
// the claim and the batch) blocks the name while it may still be in flight
// (a retry with its Idempotency-Key is told to wait), then is taken over.
func testClaims(t *testing.T, s *gocql.Session) {
	ctx := context.Background()
	cfg := cassandrastore.DefaultConfig()
	cfg.ReplayWait = 300 * time.Millisecond
	store, err := cassandrastore.New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := ids.New(1020)
	if err != nil {
		t.Fatal(err)
	}
	claim := func(name, idem string, age time.Duration) {
		_, err := s.Query(`INSERT INTO usernames (username, user_id, idem, claimed_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`,
			name, gen.Next(), idem, time.Now().Add(-age)).MapScanCAS(map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
	}
	create := func(name, idem string) (users.User, bool, error) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		u := users.User{ID: gen.Next(), Username: name, DisplayName: name, PasswordHash: "h", CreatedAt: now, UpdatedAt: now}
		return store.CreateUser(ctx, u, idem, events.Event{ID: gen.Next(), Kind: "user.created", Actor: u.ID, At: now})
	}
	fresh, stale := "fresh_"+strconv.FormatInt(gen.Next(), 36), "stale_"+strconv.FormatInt(gen.Next(), 36)
	claim(fresh, "key", time.Second)
	claim(stale, "key", 2*cfg.ClaimGrace)
	if _, _, err := create(fresh, ""); !errors.Is(err, users.ErrUsernameTaken) {
		t.Fatalf("a create in flight lost its name: %v", err)
	}
	if _, _, err := create(fresh, "key"); !errors.Is(err, users.ErrBusy) {
		t.Fatalf("a retry of a create in flight: %v, want ErrBusy", err)
	}
	u, created, err := create(stale, "")
	if err != nil || !created {
		t.Fatalf("a stale claim was not taken over: %v %v", created, err)
	}
	if got, err := store.GetUserByName(ctx, stale); err != nil || got.ID != u.ID {
		t.Fatalf("after the take-over: %+v %v", got, err)
	}
}

// testLock: a graph write waits for its pair's lock, gives up with
// ErrBusy after LockWait, and goes through once the lock is gone.
func testLock(t *testing.T, s *gocql.Session) {
	ctx := context.Background()
	cfg := cassandrastore.DefaultConfig()
	cfg.LockWait = 300 * time.Millisecond
	store, err := cassandrastore.New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := ids.New(1019)
	if err != nil {
		t.Fatal(err)
	}
	a, b := gen.Next(), gen.Next()
	if err := s.Query(`INSERT INTO graph_locks (lo, hi, holder) VALUES (?, ?, 'dead edge') USING TTL 60`, a, b).Exec(); err != nil {
		t.Fatal(err)
	}
	op := users.GraphOp{Actor: b, Target: a, At: time.Now(), Event: events.Event{ID: gen.Next(), Kind: "follow", Actor: b, To: []int64{a}}}
	start := time.Now()
	if _, err := store.Follow(ctx, op); !errors.Is(err, users.ErrBusy) || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("follow under a held lock: %v after %v", err, time.Since(start))
	}
	if _, err := s.Query(`DELETE FROM graph_locks WHERE lo = ? AND hi = ? IF EXISTS`, a, b).MapScanCAS(map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if changed, err := store.Follow(ctx, op); err != nil || !changed {
		t.Fatalf("follow once the lock is gone: %v %v", changed, err)
	}
}
