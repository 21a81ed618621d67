package cassandrastore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/internal/cassandratest"
	"github.com/mediaedge/mediaedge/schema"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/notify/cassandrastore"
	"github.com/mediaedge/mediaedge/social/notify/notifytest"
)

// TestCassandra needs a node: one fresh keyspace with the whole schema
// (schema.Apply, so 0010_social_notify.cql is applied as production
// applies it), shared by every case (ids are random). Without a node it
// skips, or fails under CI=true.
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
	if !slices.ContainsFunc(ms, func(m schema.Migration) bool { return m.Version == 10 && m.Name == "social_notify" }) {
		t.Fatal("0010_social_notify.cql was not picked up")
	}
	for _, table := range []string{"notify_locks", "notify_groups", "notify_actors", "notify_seen", "notify_meta", "notify_read"} {
		var n int
		if err := s.Query(`SELECT COUNT(*) FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`, ks, table).Scan(&n); err != nil || n != 1 {
			t.Fatalf("table %s.%s: %d %v", ks, table, n, err)
		}
	}

	scfg := cassandrastore.DefaultConfig()
	scfg.LockWait = 30 * time.Second // 40 writers of one recipient at once, no consumer to retry
	store, err := cassandrastore.New(s, scfg)
	if err != nil {
		t.Fatal(err)
	}
	notifytest.Run(t, func(*testing.T) notifytest.Backend {
		return notifytest.Backend{Store: store, Outbox: func(ctx context.Context) ([]events.Event, error) { return readOutbox(ctx, s) }}
	})

	t.Run("config", func(t *testing.T) {
		if err := (cassandrastore.Config{}).Validate(); err == nil {
			t.Error("a zero config validated")
		}
		if _, err := cassandrastore.New(s, cassandrastore.Config{TTL: time.Hour}); err == nil {
			t.Error("New took a bad config")
		}
	})
}

func readOutbox(ctx context.Context, s *gocql.Session) ([]events.Event, error) {
	var out []events.Event
	for shard := range events.OutboxShards {
		it := s.Query(`SELECT id, event FROM outbox WHERE shard = ?`, shard).IterContext(ctx)
		var id int64
		var raw []byte
		for it.Scan(&id, &raw) {
			e, err := events.Decode(raw)
			if err != nil {
				_ = it.Close()
				return nil, err
			}
			if e.ID != id || events.OutboxShard(id) != shard {
				_ = it.Close()
				return nil, fmt.Errorf("event %d is in shard %d under id %d", e.ID, shard, id)
			}
			out = append(out, e)
			raw = nil
		}
		if err := it.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
