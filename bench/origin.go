package bench

// Origin benchmark: a large original streamed from the chunk store (edge
// cache off for originals, so every request reads chunks) against nginx
// serving the same bytes from a file with sendfile.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"text/tabwriter"
	"time"
)

// OriginConfig configures the origin benchmark.
type OriginConfig struct {
	Mediaedge, Nginx string
	Size             int64 // bytes of the original
	Requests         int   // GETs per target per round
	Concurrency      int
	Dir              string
}

// DefaultOriginConfig is the benchmark: a 64 MiB original.
func DefaultOriginConfig() OriginConfig {
	return OriginConfig{Size: 64 << 20, Requests: 24, Concurrency: 2, Nginx: "/usr/sbin/nginx"}
}

// OriginResult is one target's numbers.
type OriginResult struct {
	MBps            float64
	TTFB50, TTFB99  time.Duration
	Requests, Error int
}

// OriginReport is the result.
type OriginReport struct {
	Ours, Nginx OriginResult // each target's best round
	Ratios      Spread       // ours / nginx in MB/s, round by round
}

// Origin runs the benchmark.
func Origin(ctx context.Context, cfg OriginConfig, out io.Writer) (OriginReport, error) {
	var rep OriginReport
	dir, cleanup, err := benchDir(cfg.Dir)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	data, err := io.ReadAll(newGen(cfg.Size))
	if err != nil {
		return rep, err
	}
	root := filepath.Join(dir, "www")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return rep, err
	}
	if err := os.WriteFile(filepath.Join(root, "0"), data, 0o644); err != nil {
		return rep, err
	}
	me, err := startMediaedge(ctx, cfg.Mediaedge, filepath.Join(dir, "me"), benchToken, "--cache-max-original", "0")
	if err != nil {
		return rep, err
	}
	defer me.Stop()
	id, err := benchUpload(ctx, me.Base, data)
	if err != nil {
		return rep, fmt.Errorf("origin benchmark: %w", err)
	}
	data = nil
	prefix := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755); err != nil {
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
			r, err := getLoad(ctx, me.Base+"/m/"+id, cfg)
			if err != nil {
				return fmt.Errorf("mediaedge: %w", err)
			}
			ours = append(ours, r.MBps)
			if r.MBps > rep.Ours.MBps {
				rep.Ours = r
			}
			return nil
		}
		r, err := getLoad(ctx, nbase+"0", cfg)
		if err != nil {
			return fmt.Errorf("nginx: %w", err)
		}
		ref = append(ref, r.MBps)
		if r.MBps > rep.Nginx.MBps {
			rep.Nginx = r
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Ratios = ratios(ours, ref)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "origin: a %d MiB original, %d GETs at concurrency %d (%d rounds in rotating order, best of each shown)\n", cfg.Size>>20, cfg.Requests, cfg.Concurrency, Rounds)
	fmt.Fprintln(tw, "target\tMB/s\tTTFB p50\tTTFB p99")
	fmt.Fprintf(tw, "mediaedge (chunks from the embedded store)\t%.0f\t%s\t%s\n", rep.Ours.MBps, rep.Ours.TTFB50, rep.Ours.TTFB99)
	fmt.Fprintf(tw, "nginx (file, sendfile)\t%.0f\t%s\t%s\n", rep.Nginx.MBps, rep.Nginx.TTFB50, rep.Nginx.TTFB99)
	fmt.Fprintf(tw, "ratio MB/s per round (min / median / max)\t%s\t\t\n", rep.Ratios)
	tw.Flush()
	return rep, nil
}

func getLoad(ctx context.Context, url string, cfg OriginConfig) (OriginResult, error) {
	var res OriginResult
	var mu sync.Mutex
	var ttfb []time.Duration
	var total int64
	jobs := make(chan struct{}, cfg.Requests)
	for i := 0; i < cfg.Requests; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	client := &http.Client{Timeout: 5 * time.Minute}
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for range jobs {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					res.Error++
					mu.Unlock()
					continue
				}
				first := time.Since(t0)
				n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
				resp.Body.Close()
				mu.Lock()
				if err != nil || resp.StatusCode != 200 || n != cfg.Size {
					res.Error++
				} else {
					ttfb = append(ttfb, first)
					total += n
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(ttfb) == 0 {
		return res, fmt.Errorf("every GET of %s failed", url)
	}
	slices.Sort(ttfb)
	res.Requests = len(ttfb)
	res.MBps = float64(total) / mib / time.Since(start).Seconds()
	res.TTFB50 = ttfb[len(ttfb)/2].Round(10 * time.Microsecond)
	res.TTFB99 = ttfb[min(len(ttfb)-1, len(ttfb)*99/100)].Round(10 * time.Microsecond)
	return res, nil
}
