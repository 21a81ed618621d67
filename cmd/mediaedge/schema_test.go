package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/internal/cassandratest"
	"github.com/mediaedge/mediaedge/schema"
)

// TestSchemaApplyTwice runs `mediaedge schema apply` twice against a real node:
// the first applies the migrations, the second says nothing was applied.
func TestSchemaApplyTwice(t *testing.T) {
	hosts := cassandratest.Hosts(t)
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	ks := "clitest_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		cfg := cassandra.DefaultConfig()
		cfg.Hosts, cfg.Keyspace = hosts, ""
		if s, err := cassandra.NewSession(cfg); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = schema.Drop(ctx, s, ks)
			s.Close()
		}
	})
	run := func() string {
		var out bytes.Buffer
		root := newRootCmd()
		root.SetOut(&out)
		root.SetArgs([]string{"schema", "apply", "--cassandra-hosts", strings.Join(hosts, ","), "--cassandra-keyspace", ks})
		if err := root.Execute(); err != nil {
			t.Fatalf("schema apply: %v", err)
		}
		return out.String()
	}
	if first := run(); !strings.Contains(first, "applied 0001_init") {
		t.Fatalf("first apply printed %q", first)
	}
	if second := run(); !strings.Contains(second, "nothing applied") {
		t.Fatalf("second apply printed %q", second)
	}
}
