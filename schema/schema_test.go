package schema_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/internal/cassandratest"
	"github.com/mediaedge/mediaedge/schema"
)

func TestPrint(t *testing.T) {
	cfg := schema.DefaultConfig()
	cfg.RF = 3
	out, err := schema.Print(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"'replication_factor': 3",
		"CREATE TABLE IF NOT EXISTS mediaedge.chunks",
		"PRIMARY KEY ((id, idx))",
		"compression = {'enabled': 'false'}",
		"CREATE TABLE IF NOT EXISTS mediaedge.derived",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("schema lacks %q", want)
		}
	}
	if strings.Contains(out, "{{ks}}") {
		t.Error("placeholder left in schema")
	}
}

func TestValidate(t *testing.T) {
	bad := schema.Config{Keyspace: "1bad;drop", RF: 0, Class: "Nope"}
	err := bad.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"keyspace", "rf", "class"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestApplyTwice applies the schema to a fresh keyspace on a real node twice:
// the first run applies every migration, the second nothing. Then a recorded
// checksum that no longer matches its file must stop Apply.
func TestApplyTwice(t *testing.T) {
	hosts := cassandratest.Hosts(t)
	cfg := cassandra.DefaultConfig()
	cfg.Hosts, cfg.Keyspace = hosts, ""
	s, err := cassandra.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	sc := schema.DefaultConfig()
	sc.Keyspace = "schematest_" + hex.EncodeToString(b)
	defer func() {
		if err := schema.Drop(context.Background(), s, sc.Keyspace); err != nil {
			t.Errorf("drop %s: %v", sc.Keyspace, err)
		}
	}()

	ms, err := schema.Migrations(sc.Keyspace)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := schema.Apply(ctx, s, sc)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(ms) || len(ms) == 0 {
		t.Fatalf("first apply ran %v, want all %d migrations", applied, len(ms))
	}
	applied, err = schema.Apply(ctx, s, sc)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Fatalf("second apply ran %v, want nothing", applied)
	}
	var n int
	if err := s.Query("SELECT count(*) FROM "+sc.Keyspace+".schema_migrations").ScanContext(ctx, &n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Fatalf("%d migrations recorded, want %d", n, len(ms))
	}
	for _, table := range []string{"files", "chunks", "uploads", "derived"} {
		if err := s.Query("SELECT * FROM " + sc.Keyspace + "." + table + " LIMIT 1").ExecContext(ctx); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}

	// An edited migration is refused rather than silently skipped.
	if err := s.Query("UPDATE "+sc.Keyspace+".schema_migrations SET checksum = 'edited' WHERE version = ?",
		ms[0].Version).ExecContext(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := schema.Apply(ctx, s, sc); !errors.Is(err, schema.ErrChecksum) {
		t.Fatalf("apply over an edited migration: %v, want ErrChecksum", err)
	}
}

func TestPrintNetworkTopology(t *testing.T) {
	cfg := schema.Config{Keyspace: "media", RF: 3, Class: "NetworkTopologyStrategy", DC: "us-east-1"}
	out, err := schema.Print(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "{'class': 'NetworkTopologyStrategy', 'us-east-1': 3}") {
		t.Errorf("replication not in output:\n%s", out)
	}
	cfg.DC = "it's"
	if _, err := schema.Print(cfg); err == nil {
		t.Error("a quote in the DC name was accepted")
	}
}
