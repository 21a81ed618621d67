package cassandrastore_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/internal/cassandratest"
	"github.com/mediaedge/mediaedge/schema"
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
	hosts := cassandratest.Hosts(t)
	ks := cassandratest.Keyspace(t, hosts)
	cfg := cassandra.DefaultConfig()
	cfg.Hosts, cfg.Keyspace = hosts, ks
	s, err := cassandra.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)

	ms, err := schema.Migrations(ks)
	if err != nil {
		t.Fatal(err)
	}
	if last := ms[len(ms)-1]; last.Version < 3 {
		t.Fatalf("the last migration is %d %s: 0003_social_users.cql was not picked up", last.Version, last.Name)
	}
	for _, table := range []string{"outbox", "users", "usernames", "user_sessions", "following", "followers", "blocks", "graph_locks"} {
		var n int
		if err := s.Query(`SELECT COUNT(*) FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`, ks, table).Scan(&n); err != nil || n != 1 {
			t.Fatalf("table %s.%s: %d %v", ks, table, n, err)
		}
	}

	store, err := cassandrastore.New(s, cassandrastore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	open := func(*testing.T) userstest.Backend {
		return userstest.Backend{Store: store, Outbox: func(ctx context.Context) ([]events.Event, error) { return readOutbox(ctx, s) }}
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

// readOutbox reads every shard of the outbox, checking each event is in
// its shard under its id.
func readOutbox(ctx context.Context, s *gocql.Session) ([]events.Event, error) {
	var out []events.Event
	for shard := range events.OutboxShards {
		sc := s.Query(`SELECT id, event FROM outbox WHERE shard = ?`, shard).IterContext(ctx).Scanner()
		for sc.Next() {
			var id int64
			var raw []byte
			if err := sc.Scan(&id, &raw); err != nil {
				_ = sc.Err()
				return nil, err
			}
			e, err := events.Decode(raw)
			if err != nil {
				_ = sc.Err()
				return nil, err
			}
			if e.ID != id || events.OutboxShard(id) != shard {
				_ = sc.Err()
				return nil, errMisplaced
			}
			out = append(out, e)
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var errMisplaced = errorString("an outbox event is not under its shard and id")

type errorString string

func (e errorString) Error() string { return string(e) }
