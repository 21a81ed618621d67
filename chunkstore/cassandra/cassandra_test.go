package cassandra_test

import (
	"context"
	"testing"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/chunkstore/storetest"
	"github.com/mediaedge/mediaedge/internal/cassandratest"
)

// TestConformance runs the shared suite against a real Cassandra node, in a
// fresh keyspace dropped afterwards. Ids are random, so the cases share it.
func TestConformance(t *testing.T) {
	hosts := cassandratest.Hosts(t)
	ks := cassandratest.Keyspace(t, hosts)
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		return func() chunkstore.Backend {
			cfg := cassandra.DefaultConfig()
			cfg.Hosts, cfg.Keyspace = hosts, ks
			b, err := cassandra.Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		}
	})
}

func TestValidate(t *testing.T) {
	cfg := cassandra.Config{Keyspace: "bad-name", Consistency: "SOMETIMES"}
	if err := cfg.Validate(); err == nil {
		t.Fatal("want errors for hosts, keyspace and consistency")
	}
}
