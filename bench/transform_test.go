package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestTransformSmall runs the transform benchmark on small sources: every
// case must succeed on our processor and the report must name each target.
// imaginary joins when IMAGINARY_BIN names it (scripts/bench.sh builds it).
func TestTransformSmall(t *testing.T) {
	cfg := DefaultTransformConfig()
	cfg.Requests, cfg.Concurrency, cfg.SourceScale, cfg.IdleWait = 4, 2, 0.1, 10*time.Millisecond
	cfg.Imaginary, cfg.Imgproxy = os.Getenv("IMAGINARY_BIN"), os.Getenv("IMGPROXY_BIN")
	var out bytes.Buffer
	rep, err := Transform(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	ours := 0
	for _, r := range rep.Results {
		if r.Target != "mediaedge" {
			continue
		}
		ours++
		if r.Errors != 0 || r.MeanBytes == 0 {
			t.Errorf("%s: %d errors (%s), %d bytes", r.Case, r.Errors, r.FirstError, r.MeanBytes)
		}
	}
	if ours != len(transformCases()) {
		t.Errorf("%d mediaedge results, want %d", ours, len(transformCases()))
	}
	if !strings.Contains(out.String(), "throughput ratio") {
		t.Error("no table printed")
	}
	m := rep.Memory
	if want := 2 * cfg.Requests * len(transformCases()); m.Transforms != want || m.Start == 0 || m.AfterLoad == 0 || m.AfterIdle == 0 {
		t.Errorf("memory report %+v, want RSS read three times around %d transforms", m, want)
	}
	if !strings.Contains(out.String(), "VmRSS") {
		t.Error("no memory line printed")
	}
}

// TestTransformFull runs the benchmark at full size when
// MEDIAEDGE_BENCH_FULL=1 (go test -run TransformFull -v ./bench/).
func TestTransformFull(t *testing.T) {
	if os.Getenv("MEDIAEDGE_BENCH_FULL") != "1" {
		t.Skip("set MEDIAEDGE_BENCH_FULL=1 for the full-size run")
	}
	cfg := DefaultTransformConfig()
	cfg.Imaginary, cfg.Imgproxy = os.Getenv("IMAGINARY_BIN"), os.Getenv("IMGPROXY_BIN")
	var out bytes.Buffer
	_, err := Transform(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
}
