package socialtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/internal/cassandratest"
	"github.com/mediaedge/mediaedge/schema"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
)

// Keyspace is a test's Cassandra keyspace and the nodes that hold it.
type Keyspace struct {
	Hosts []string
	Name  string
}

// Cassandra creates a fresh keyspace with the whole schema (schema.Apply,
// through cassandratest, as production applies it; dropped when the test
// ends) and returns a session bound to it, closed when the test ends.
// Without a node the test is skipped, or fails under CI=true.
func Cassandra(t testing.TB) (*gocql.Session, Keyspace) {
	t.Helper()
	hosts := cassandratest.Hosts(t)
	ks := Keyspace{Hosts: hosts, Name: cassandratest.Keyspace(t, hosts)}
	return ks.Session(t), ks
}

// Session opens another session bound to the keyspace (another edge),
// closed when the test ends.
func (k Keyspace) Session(t testing.TB) *gocql.Session {
	t.Helper()
	cfg := cassandra.DefaultConfig()
	cfg.Hosts, cfg.Keyspace = k.Hosts, k.Name
	s, err := cassandra.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// RequireMigration fails the test unless the schema's migrations for ks
// include version with name (0006_social_chat.cql is 6, "social_chat"):
// a service's tables come from its own migration file, picked up by
// schema.Apply.
func RequireMigration(t testing.TB, ks string, version int, name string) {
	t.Helper()
	ms, err := schema.Migrations(ks)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ms, func(m schema.Migration) bool { return m.Version == version && m.Name == name }) {
		t.Fatalf("%04d_%s.cql was not picked up", version, name)
	}
}

// RequireTables fails the test unless every table exists in keyspace ks.
func RequireTables(t testing.TB, s *gocql.Session, ks string, tables ...string) {
	t.Helper()
	for _, table := range tables {
		var n int
		if err := s.Query(`SELECT COUNT(*) FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`, ks, table).Scan(&n); err != nil || n != 1 {
			t.Fatalf("table %s.%s: %d %v", ks, table, n, err)
		}
	}
}

// CassandraOutbox reads every shard of the outbox table of the keyspace s
// is bound to. An event stored under another id, or in another shard than
// events.OutboxShard of its id, is an error.
func CassandraOutbox(s *gocql.Session) OutboxFunc {
	return func(ctx context.Context) ([]events.Event, error) {
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
}

// IDs is a generator on a random node: it keeps a test's ids apart from
// those of other test processes sharing the database (and its outbox).
func IDs(t testing.TB) *ids.Generator {
	t.Helper()
	g, err := ids.New(rand.Int64N(1024))
	if err != nil {
		t.Fatal(err)
	}
	return g
}
