package bench

import (
	"github.com/mediaedge/mediaedge/internal/testenv"

	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

func TestCacheHitSmall(t *testing.T) {
	cfg := DefaultCacheHitConfig()
	cfg.Nginx = testenv.Tool(t, cfg.Nginx)
	cfg.Entries, cfg.Requests, cfg.Warmup, cfg.Concurrency, cfg.Rounds = 50, 2000, 100, 4, 1
	cfg.Duration = 20 * time.Second
	var out bytes.Buffer
	rep, err := CacheHit(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rounds {
		if r.Errors != 0 || r.Requests != cfg.Requests {
			t.Errorf("%s: %d requests, %d errors; want %d and none", r.Target, r.Requests, r.Errors, cfg.Requests)
		}
	}
	if rep.OpenFiles.Reuses == 0 {
		t.Error("no hit reused an open file")
	}
}

// TestCacheHitFull runs the benchmark at full size when
// MEDIAEDGE_BENCH_FULL=1 (go test -run Full -v ./bench/).
func TestCacheHitFull(t *testing.T) {
	if os.Getenv("MEDIAEDGE_BENCH_FULL") != "1" {
		t.Skip("set MEDIAEDGE_BENCH_FULL=1 for the full-size run")
	}
	var out bytes.Buffer
	_, err := CacheHit(context.Background(), DefaultCacheHitConfig(), &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
}
