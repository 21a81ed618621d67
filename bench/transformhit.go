package bench

// Transform-hit benchmark: a transformed image already in the edge cache,
// requested again through the whole edge (route, store Stat, parse, cache
// lookup, ServeContent), against nginx serving the same bytes from a file.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"
)

// TransformHitConfig configures the benchmark.
type TransformHitConfig struct {
	Mediaedge, Nginx string
	Concurrency      int
	Requests         int
	Width            int  // of the WebP rendition: 400 makes about 10 KB, 1400 about 50 KB
	GoClient         bool // load from the Go client even when wrk is installed
	Duration         time.Duration
	Dir              string
}

// DefaultTransformHitConfig: 32 keep-alive connections, 30k requests.
func DefaultTransformHitConfig() TransformHitConfig {
	return TransformHitConfig{Nginx: "/usr/sbin/nginx", Concurrency: 32, Requests: 30000, Duration: 10 * time.Second, Width: 400}
}

// TransformHitReport is the result.
type TransformHitReport struct {
	Ours, Nginx LoadResult // each target's best round
	Ratios      Spread     // ours / nginx in req/s, round by round
}

// TransformHit runs the benchmark.
func TransformHit(ctx context.Context, cfg TransformHitConfig, out io.Writer) (TransformHitReport, error) {
	var rep TransformHitReport
	dir, cleanup, err := benchDir(cfg.Dir)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	src := filepath.Join(dir, "photo.jpg")
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "mandelbrot=size=1600x1200:end_pts=1",
		"-frames:v", "1", src).CombinedOutput(); err != nil {
		return rep, fmt.Errorf("make source: %v %s", err, out)
	}
	raw, err := os.ReadFile(src)
	if err != nil {
		return rep, err
	}
	me, err := startMediaedge(ctx, cfg.Mediaedge, filepath.Join(dir, "me"), benchToken)
	if err != nil {
		return rep, err
	}
	defer me.Stop()
	id, err := benchUpload(ctx, me.Base, raw)
	if err != nil {
		return rep, err
	}
	url := me.Base + "/m/" + id + "?w=" + strconv.Itoa(max(cfg.Width, 1)) + "&fm=webp"
	resp, err := http.Get(url)
	if err != nil {
		return rep, err
	}
	result, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		return rep, fmt.Errorf("first transform: %s %v", resp.Status, err)
	}
	root := filepath.Join(dir, "www")
	prefix := filepath.Join(dir, "nginx")
	for _, d := range []string{root, filepath.Join(prefix, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return rep, err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "0"), result, 0o644); err != nil {
		return rep, err
	}
	nbase, stop, err := startNginx(ctx, cfg.Nginx, prefix, root)
	if err != nil {
		return rep, err
	}
	defer stop()
	var ours, ref []float64
	err = rotate(ctx, Rounds, 2, func(_, target int) error {
		if target == 0 {
			r, err := fixedLoad(ctx, "mediaedge", url, len(result), cfg)
			if err != nil {
				return err
			}
			ours = append(ours, r.ReqPerSec)
			if r.ReqPerSec > rep.Ours.ReqPerSec {
				rep.Ours = r
			}
			return nil
		}
		r, err := fixedLoad(ctx, "nginx", nbase+"0", len(result), cfg)
		if err != nil {
			return err
		}
		ref = append(ref, r.ReqPerSec)
		if r.ReqPerSec > rep.Nginx.ReqPerSec {
			rep.Nginx = r
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Ratios = ratios(ours, ref)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	client := "the Go client"
	if wrkPath() != "" && !cfg.GoClient {
		client = "wrk -t1"
	}
	fmt.Fprintf(tw, "transform hit: a cached %d-byte WebP rendition, %d connections from %s (%d rounds in rotating order, best of each shown)\n", len(result), cfg.Concurrency, client, Rounds)
	fmt.Fprintln(tw, "target\treq/s\tp50\tp99")
	fmt.Fprintf(tw, "mediaedge (full edge path)\t%.0f\t%s\t%s\n", rep.Ours.ReqPerSec, rep.Ours.P50, rep.Ours.P99)
	fmt.Fprintf(tw, "nginx (same bytes, file)\t%.0f\t%s\t%s\n", rep.Nginx.ReqPerSec, rep.Nginx.P50, rep.Nginx.P99)
	fmt.Fprintf(tw, "ratio req/s per round (min / median / max)\t%s\t\t\n", rep.Ratios)
	tw.Flush()
	return rep, nil
}

// fixedLoad GETs one URL with keep-alive connections, bounded in count and
// time: with wrk when installed (see wrk.go), else the Go client.
func fixedLoad(ctx context.Context, name, url string, size int, cfg TransformHitConfig) (LoadResult, error) {
	if wrkPath() != "" && !cfg.GoClient {
		return wrkLoad(ctx, name, url, cfg.Concurrency, cfg.Duration)
	}
	return runLoad(ctx, name, func(*rand.Rand) string { return url }, int64(size), cfg.Concurrency, cfg.Requests, cfg.Duration)
}
