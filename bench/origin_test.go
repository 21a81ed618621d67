package bench

import (
	"github.com/mediaedge/mediaedge/internal/testenv"

	"bytes"
	"context"
	"os"
	"testing"
)

// TestOriginSmall runs the origin benchmark on a small original: every GET
// of both targets returns the whole file.
func TestOriginSmall(t *testing.T) {
	cfg := DefaultOriginConfig()
	cfg.Nginx = testenv.Tool(t, cfg.Nginx)
	cfg.Mediaedge = edgeBinary(t)
	cfg.Size, cfg.Requests = 5<<20+3, 4
	var out bytes.Buffer
	rep, err := Origin(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]OriginResult{"mediaedge": rep.Ours, "nginx": rep.Nginx} {
		if r.Error != 0 || r.Requests != cfg.Requests {
			t.Errorf("%s: %d of %d GETs whole, %d errors", name, r.Requests, cfg.Requests, r.Error)
		}
	}
}

// TestOriginFull runs the benchmark when MEDIAEDGE_BENCH_FULL=1.
func TestOriginFull(t *testing.T) {
	if os.Getenv("MEDIAEDGE_BENCH_FULL") != "1" {
		t.Skip("set MEDIAEDGE_BENCH_FULL=1 for the full-size run")
	}
	cfg := DefaultOriginConfig()
	cfg.Mediaedge = edgeBinary(t)
	var out bytes.Buffer
	_, err := Origin(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
}
