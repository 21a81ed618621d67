package cassandrastore_test

import (
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/notify/cassandrastore"
	"github.com/mediaedge/mediaedge/social/notify/notifytest"
)

// TestCassandra needs a node: one fresh keyspace with the whole schema
// (schema.Apply, so 0010_social_notify.cql is applied as production
// applies it), shared by every case (ids are random). Without a node it
// skips, or fails under CI=true.
func TestCassandra(t *testing.T) {
	s, ks := socialtest.Cassandra(t)
	socialtest.RequireMigration(t, ks.Name, 10, "social_notify")
	socialtest.RequireTables(t, s, ks.Name, "notify_locks", "notify_groups", "notify_actors", "notify_seen", "notify_meta", "notify_read")

	scfg := cassandrastore.DefaultConfig()
	scfg.LockWait = 30 * time.Second // 40 writers of one recipient at once, no consumer to retry
	store, err := cassandrastore.New(s, scfg)
	if err != nil {
		t.Fatal(err)
	}
	notifytest.Run(t, func(*testing.T) notifytest.Backend {
		return notifytest.Backend{Store: store, Outbox: socialtest.CassandraOutbox(s)}
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
