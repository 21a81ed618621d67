package bench

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/mediaedge/mediaedge/edgecache"
)

func TestEvictionSmallTrace(t *testing.T) {
	cfg := DefaultEvictionConfig()
	cfg.Keys, cfg.Requests = 5_000, 100_000
	var out bytes.Buffer
	rep, err := Eviction(context.Background(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if len(rep.Results) != len(cfg.Policies)*len(cfg.CacheFractions) {
		t.Fatalf("%d results", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.HitRatio <= 0 || r.HitRatio >= 1 || r.ByteHitRatio <= 0 || r.ByteHitRatio >= 1 {
			t.Errorf("implausible result %+v", r)
		}
	}
	// The trace is seeded, so this is deterministic: the default policy must be
	// the one that measures better.
	if rep.Best != edgecache.DefaultConfig().Policy {
		t.Errorf("best policy %s, default %s", rep.Best, edgecache.DefaultConfig().Policy)
	}
	if err := (EvictionConfig{}).Validate(); err == nil {
		t.Error("empty config validated")
	}
}

func TestZipfSkew(t *testing.T) {
	z := newZipf(1000, 0.9, newRand(1))
	counts := make([]int, 1000)
	for i := 0; i < 200_000; i++ {
		counts[z.next()]++
	}
	// Rank 1 vs rank 10 should be about 10^0.9 = 7.9 times as popular.
	ratio := float64(counts[0]) / float64(counts[9])
	if ratio < 6.5 || ratio > 9.5 {
		t.Errorf("rank1/rank10 = %.2f, want about 7.9", ratio)
	}
}

// TestEvictionFull runs the benchmark at full size when
// MEDIAEDGE_BENCH_FULL=1.
func TestEvictionFull(t *testing.T) {
	if os.Getenv("MEDIAEDGE_BENCH_FULL") != "1" {
		t.Skip("set MEDIAEDGE_BENCH_FULL=1 for the full-size run")
	}
	var out bytes.Buffer
	if _, err := Eviction(context.Background(), DefaultEvictionConfig(), &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
}
