package bench

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/internal/cassandratest"
)

func TestFleetTrace(t *testing.T) {
	cfg := DefaultFleetConfig()
	cfg.Sources, cfg.Widths, cfg.Requests = 10, 4, 5000
	a, b := fleetTrace(cfg), fleetTrace(cfg)
	if len(a) != cfg.Requests {
		t.Fatalf("%d requests, want %d", len(a), cfg.Requests)
	}
	count := map[int]int{}
	edges := map[int]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("the same seed drew two traces")
		}
		count[a[i].key]++
		edges[a[i].edge]++
	}
	// Zipf s = 1 over 40 keys: the top key has 1/H(40) = 23% of requests,
	// the 40th 0.6%; every edge a third.
	top := 0
	for _, n := range count {
		top = max(top, n)
	}
	if top < cfg.Requests/6 || top > cfg.Requests/3 || len(count) < 30 {
		t.Errorf("top key %d of %d requests, %d keys drawn: not Zipf s=1 over 40 keys", top, cfg.Requests, len(count))
	}
	for e := range cfg.Edges {
		if n := edges[e]; n < cfg.Requests/4 || n > cfg.Requests/2 {
			t.Errorf("edge %d got %d of %d requests", e, n, cfg.Requests)
		}
	}
}

// TestFleetSmall runs the real benchmark at a toy size: 2 edges on the test
// Cassandra. The fleet computes each requested key exactly once; independent
// edges at least as often. It asserts no timing.
func TestFleetSmall(t *testing.T) {
	cfg := DefaultFleetConfig()
	cfg.Mediaedge, cfg.Dir = edgeBinary(t), t.TempDir()
	cfg.CassandraHosts = cassandratest.Hosts(t)
	cfg.Edges, cfg.Sources, cfg.Widths, cfg.Requests, cfg.Concurrency = 2, 4, 3, 300, 8
	cfg.Timeout = 5 * time.Minute
	var out bytes.Buffer
	rep, err := Fleet(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	fl, in := rep.Fleet, rep.Independent
	if fl.Failed != 0 || in.Failed != 0 {
		t.Fatalf("failed requests: fleet %d, independent %d", fl.Failed, in.Failed)
	}
	if fl.Transforms != float64(rep.Distinct) || fl.CacheEntries < float64(rep.Distinct) {
		t.Errorf("fleet: %v transforms and %v cache entries for %d distinct keys; want each computed once", fl.Transforms, fl.CacheEntries, rep.Distinct)
	}
	if in.Transforms < fl.Transforms || in.Transforms > 2*float64(rep.Distinct) {
		t.Errorf("independent: %v transforms for %d distinct keys on 2 edges", in.Transforms, rep.Distinct)
	}
	if fl.Forwards == 0 || in.Forwards != 0 {
		t.Errorf("forwards: fleet %v, independent %v", fl.Forwards, in.Forwards)
	}
}
