// Package cassandratest holds the one rule every Cassandra-backed test follows:
// the hosts come from MEDIAEDGE_CASSANDRA (default 127.0.0.1); when no node
// answers, the test is skipped with a message saying how to start one — except
// under CI=true, where a missing Cassandra fails the run, because a CI run that
// silently skipped the real database would prove nothing.
package cassandratest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/schema"
)

// Hosts returns the Cassandra contact points, or skips (fails under CI) when
// none accepts a connection.
func Hosts(t testing.TB) []string {
	t.Helper()
	raw := os.Getenv("MEDIAEDGE_CASSANDRA")
	if raw == "" {
		raw = "127.0.0.1"
	}
	var hosts []string
	for _, h := range strings.Split(raw, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	for _, h := range hosts {
		addr := h
		if _, _, err := net.SplitHostPort(h); err != nil {
			addr = net.JoinHostPort(h, "9042")
		}
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.Close()
			return hosts
		}
	}
	msg := "no Cassandra answers on " + raw + " (start one with `scripts/cassandra.sh start` or `make cassandra`)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true requires it")
	}
	t.Skip(msg)
	return nil
}

// Keyspace creates a fresh keyspace with the mediaedge schema and drops it when
// the test ends.
func Keyspace(t testing.TB, hosts []string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	ks := "test_" + hex.EncodeToString(b)
	cfg := cassandra.DefaultConfig()
	cfg.Hosts = hosts
	cfg.Keyspace = ""
	s, err := cassandra.NewSession(cfg)
	if err != nil {
		t.Fatalf("cassandra session: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sc := schema.DefaultConfig()
	sc.Keyspace = ks
	if _, err := schema.Apply(ctx, s, sc); err != nil {
		s.Close()
		t.Fatalf("apply schema to %s: %v", ks, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := schema.Drop(ctx, s, ks); err != nil {
			t.Logf("drop keyspace %s: %v", ks, err)
		}
		s.Close()
	})
	return ks
}
