package schema_test

import (
	"context"
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
// the second run must apply nothing.
func TestApplyTwice(t *testing.T) {
	hosts := cassandratest.Hosts(t)
	ks := cassandratest.Keyspace(t, hosts) // first apply
	cfg := cassandra.DefaultConfig()
	cfg.Hosts, cfg.Keyspace = hosts, ""
	s, err := cassandra.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sc := schema.DefaultConfig()
	sc.Keyspace = ks
	applied, err := schema.Apply(ctx, s, sc)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Fatalf("second apply ran %v, want nothing", applied)
	}
	var n int
	if err := s.Query("SELECT count(*) FROM "+ks+".schema_migrations").ScanContext(ctx, &n); err != nil {
		t.Fatal(err)
	}
	ms, _ := schema.Migrations(ks)
	if n != len(ms) {
		t.Fatalf("%d migrations recorded, want %d", n, len(ms))
	}
}
