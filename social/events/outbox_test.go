package events

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/internal/cassandratest"
)

// testOutbox is the conformance suite every outbox runs: reads in id order
// with paging, deletes, and the relay moving it to JetStream exactly once.
type outboxUnderTest interface {
	Outbox
	Appender
}

func testOutbox(t *testing.T, newOutbox func(t *testing.T) outboxUnderTest) {
	t.Run("ReadInIDOrder", func(t *testing.T) {
		ob := newOutbox(t)
		ctx := context.Background()
		var want []int64
		// Out of order and spread over every shard.
		for _, id := range []int64{900, 17, 5, 33, 16, 1 << 40, 250, 1, 64, 31} {
			ev := Event{ID: id, Kind: "k", At: time.Unix(0, 0).UTC()}
			if err := ob.Append(ctx, ev); err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
		slices.Sort(want)
		var got []int64
		after := int64(0)
		for {
			es, err := ob.Read(ctx, after, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) > 3 {
				t.Fatalf("read %d entries, limit 3", len(es))
			}
			for _, e := range es {
				ev, err := Decode(e.Data)
				if err != nil || ev.ID != e.ID {
					t.Fatalf("entry %d decodes to %+v, %v", e.ID, ev, err)
				}
				got = append(got, e.ID)
				after = e.ID
			}
			if len(es) == 0 {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paged reads returned %v, want %v", got, want)
		}
		es, err := ob.Read(ctx, 33, 100)
		if err != nil || len(es) == 0 || es[0].ID != 64 {
			t.Fatalf("read after 33: %v, %v", es, err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		ob := newOutbox(t)
		ctx := context.Background()
		for id := int64(1); id <= 40; id++ {
			if err := ob.Append(ctx, Event{ID: id, Kind: "k"}); err != nil {
				t.Fatal(err)
			}
		}
		var del []int64
		for id := int64(1); id <= 40; id += 2 {
			del = append(del, id)
		}
		if err := ob.Delete(ctx, append(del, 1000)); err != nil { // 1000 never existed
			t.Fatal(err)
		}
		es, err := ob.Read(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 20 {
			t.Fatalf("%d entries left, want 20", len(es))
		}
		for _, e := range es {
			if e.ID%2 != 0 {
				t.Fatalf("deleted entry %d still there", e.ID)
			}
		}
	})

	t.Run("RelayExactlyOnce", func(t *testing.T) {
		ob := newOutbox(t)
		b := openBus(t, testConfig(t.TempDir()))
		r := startRelay(t, b, ob)
		evs := makeEvents(t, generator(t, 3), 600)
		start := time.Now()
		appendAll(t, ob, r, evs)
		t.Logf("appended in %v", time.Since(start))
		flush(t, r)
		t.Logf("flushed in %v", time.Since(start))
		checkOnce(t, streamCounts(t, b, b.cfg.Stream), evs)
		// DeleteDelay 0: the outbox empties once acknowledged.
		waitFor(t, "the outbox to empty", 30*time.Second, func() bool {
			es, err := ob.Read(context.Background(), 0, 1)
			return err == nil && len(es) == 0
		})
		if s := r.Stats(); s.Acked != int64(len(evs)) || s.Duplicates != 0 {
			t.Errorf("stats %+v, want %d acked and no duplicates", s, len(evs))
		}
	})
}

func TestPebbleOutbox(t *testing.T) {
	testOutbox(t, func(t *testing.T) outboxUnderTest {
		return NewPebbleOutbox(openPebble(t, pebbleDir(t)))
	})
}

func cassandraSession(t testing.TB) *gocql.Session {
	t.Helper()
	hosts := cassandratest.Hosts(t)
	ks := cassandratest.Keyspace(t, hosts)
	cfg := cassandra.DefaultConfig()
	cfg.Hosts, cfg.Keyspace = hosts, ks
	s, err := cassandra.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestCassandraOutbox(t *testing.T) {
	s := cassandraSession(t)
	testOutbox(t, func(t *testing.T) outboxUnderTest {
		// Each subtest gets empty partitions: truncate is slow on a real
		// node, a fresh keyspace slower still.
		if err := s.Query(`TRUNCATE outbox`).Exec(); err != nil {
			t.Fatal(err)
		}
		ob, err := NewCassandraOutbox(s)
		if err != nil {
			t.Fatal(err)
		}
		return ob
	})

	t.Run("Floor", func(t *testing.T) {
		ob, err := NewCassandraOutbox(s, 3, 5)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := s.Query(`TRUNCATE outbox_floor`).Exec(); err != nil {
			t.Fatal(err)
		}
		if f, err := ob.Floor(ctx); err != nil || f != 0 {
			t.Fatalf("floor of a new outbox: %d, %v", f, err)
		}
		if err := ob.SetFloor(ctx, 12345); err != nil {
			t.Fatal(err)
		}
		if f, err := ob.Floor(ctx); err != nil || f != 12345 {
			t.Fatalf("floor %d, %v; want 12345", f, err)
		}
		other, _ := NewCassandraOutbox(s, 3, 6) // shard 6 has no floor yet
		if f, err := other.Floor(ctx); err != nil || f != 0 {
			t.Fatalf("floor over a shard without one: %d, %v", f, err)
		}
	})

	t.Run("ShardsAndBatches", func(t *testing.T) {
		if _, err := NewCassandraOutbox(s, 16); err == nil {
			t.Error("shard 16 accepted")
		}
		if err := AddCassandra(s.Batch(gocql.UnloggedBatch), Event{ID: 1}); err == nil {
			t.Error("an unlogged batch accepted: the event would not be atomic with its data")
		}
	})
}

// TestAddPebble checks the writer's side of the contract: the event rides
// in the caller's batch with its data, under OutboxKey.
func TestAddPebble(t *testing.T) {
	db := openPebble(t, pebbleDir(t))
	b := db.NewBatch()
	ev := Event{ID: 42, Kind: "follow", Data: json.RawMessage(`{"x":1}`)}
	if err := b.Set([]byte("users/42/following/7"), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := AddPebble(b, ev); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	v, closer, err := db.Get(OutboxKey(42))
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	got, err := Decode(v)
	if err != nil || got.ID != 42 || got.Kind != "follow" {
		t.Fatalf("outbox holds %+v, %v", got, err)
	}
}
