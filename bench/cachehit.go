package bench

// Cache-hit benchmark: 50 KB entries served from the edge cache through
// http.ServeContent (sendfile, reused open files) against nginx serving the same
// bytes from a plain folder (sendfile on, open_file_cache on, access_log off),
// with one Go load generator against each in turn on loopback.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mediaedge/mediaedge/edgecache"
)

// CacheHitConfig configures the cache-hit benchmark.
type CacheHitConfig struct {
	// Entries of EntrySize bytes each are cached and served.
	Entries   int
	EntrySize int
	// Concurrency is the number of keep-alive connections of the load generator.
	Concurrency int
	// Requests and Duration bound each measured run (whichever comes first).
	Requests int
	Duration time.Duration
	// Warmup requests precede each run and are not measured.
	Warmup int
	// Rounds alternates the targets (Go, nginx, Go, nginx, ...) to spread the noise
	// of a shared machine; each target's best round is reported.
	Rounds int
	// Dir holds the cache and nginx folders; "" is a temp folder removed at the end.
	Dir string
	// Nginx is the nginx binary.
	Nginx string
	// OpenFileCache is edgecache's Config.OpenFileCache.
	OpenFileCache int
}

// DefaultCacheHitConfig is the benchmark.
func DefaultCacheHitConfig() CacheHitConfig {
	return CacheHitConfig{
		Entries: 1000, EntrySize: 50_000, Concurrency: 32, Requests: 100_000, Duration: 15 * time.Second,
		Warmup: 2000, Rounds: 2, Nginx: "/usr/sbin/nginx", OpenFileCache: 1024,
	}
}

// Validate reports every problem at once.
func (c CacheHitConfig) Validate() error {
	var errs []error
	if c.Entries < 1 || c.EntrySize < 1 {
		errs = append(errs, errors.New("entries and entry size must be positive"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, errors.New("concurrency must be positive"))
	}
	if c.Requests < 1 || c.Duration <= 0 {
		errs = append(errs, errors.New("requests and duration must be positive"))
	}
	if c.Warmup < 0 || c.Rounds < 1 {
		errs = append(errs, errors.New("warmup must not be negative and rounds must be positive"))
	}
	if c.Nginx == "" {
		errs = append(errs, errors.New("no nginx binary"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cache-hit benchmark config: %w", err)
	}
	return nil
}

// LoadResult is one measured run against one target.
type LoadResult struct {
	Target    string
	Requests  int
	Errors    int
	Elapsed   time.Duration
	ReqPerSec float64
	P50, P99  time.Duration
}

// CacheHitReport holds every round and the best of each target.
type CacheHitReport struct {
	Config    CacheHitConfig
	Rounds    []LoadResult
	Go, Nginx LoadResult // best round of each
	// RatioRPS is Go req/s over nginx req/s (the goal is at least 0.8);
	// RatioP99 is Go p99 over nginx p99 (lower is better).
	RatioRPS, RatioP99 float64
	// OpenFiles shows the open-file cache at work during the Go runs.
	OpenFiles edgecache.OpenFileStats
}

func entryBytes(i, size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(i), 7))
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

// CacheHit runs the benchmark and writes a table to out.
func CacheHit(ctx context.Context, cfg CacheHitConfig, out io.Writer) (CacheHitReport, error) {
	rep := CacheHitReport{Config: cfg}
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	if out == nil {
		out = io.Discard
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "mediaedge-cachehit-")
		if err != nil {
			return rep, fmt.Errorf("cache-hit benchmark: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	cacheDir, docRoot, prefix := filepath.Join(dir, "cache"), filepath.Join(dir, "www"), filepath.Join(dir, "nginx")
	for _, d := range []string{cacheDir, docRoot, filepath.Join(prefix, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return rep, fmt.Errorf("cache-hit benchmark: %w", err)
		}
	}

	// The same bytes in the cache and in nginx's folder.
	ccfg := edgecache.DefaultConfig()
	ccfg.Disks = []edgecache.DiskConfig{{Path: cacheDir, Budget: int64(cfg.Entries*cfg.EntrySize) * 2}}
	ccfg.OpenFileCache = cfg.OpenFileCache
	cache, err := edgecache.Open(ctx, ccfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return rep, err
	}
	defer cache.Close()
	if err := cache.WaitReady(ctx); err != nil {
		return rep, err
	}
	fmt.Fprintf(out, "cachehit: filling %d entries of %d bytes\n", cfg.Entries, cfg.EntrySize)
	for i := 0; i < cfg.Entries; i++ {
		b := entryBytes(i, cfg.EntrySize)
		if err := os.WriteFile(filepath.Join(docRoot, strconv.Itoa(i)), b, 0o644); err != nil {
			return rep, fmt.Errorf("cache-hit benchmark: %w", err)
		}
		e, err := cache.GetOrFill(ctx, "bench/"+strconv.Itoa(i), func(_ context.Context, w io.Writer) (edgecache.Meta, error) {
			_, err := w.Write(b)
			return edgecache.Meta{ContentType: "application/octet-stream", ETag: fmt.Sprintf(`"b%d"`, i)}, err
		})
		if err != nil {
			return rep, fmt.Errorf("cache-hit benchmark: fill: %w", err)
		}
		e.Close()
	}

	goURL, stopGo, err := serveCache(cache)
	if err != nil {
		return rep, err
	}
	defer stopGo()
	ngURL, stopNginx, err := startNginx(ctx, cfg.Nginx, prefix, docRoot)
	if err != nil {
		return rep, err
	}
	defer stopNginx()

	// Both must serve the same bytes before anything is measured.
	for _, base := range []string{goURL, ngURL} {
		if err := checkOne(ctx, base, 3, entryBytes(3, cfg.EntrySize)); err != nil {
			return rep, err
		}
	}
	targets := []struct{ name, url string }{{"edgecache (Go)", goURL}, {"nginx", ngURL}}
	for r := 0; r < cfg.Rounds; r++ {
		for _, tg := range targets {
			if _, err := load(ctx, tg.name, tg.url, cfg, cfg.Warmup); err != nil {
				return rep, err
			}
			res, err := load(ctx, tg.name, tg.url, cfg, cfg.Requests)
			if err != nil {
				return rep, err
			}
			rep.Rounds = append(rep.Rounds, res)
			best := &rep.Nginx
			if tg.url == goURL {
				best = &rep.Go
			}
			if res.ReqPerSec > best.ReqPerSec {
				*best = res
			}
		}
	}
	rep.OpenFiles = cache.OpenFiles()
	rep.RatioRPS = rep.Go.ReqPerSec / rep.Nginx.ReqPerSec
	rep.RatioP99 = float64(rep.Go.P99) / float64(rep.Nginx.P99)

	fmt.Fprintf(out, "cachehit: %d entries x %d B, %d connections, keep-alive, loopback, %d requests or %v per run, %d rounds\n",
		cfg.Entries, cfg.EntrySize, cfg.Concurrency, cfg.Requests, cfg.Duration, cfg.Rounds)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tREQUESTS\tERRORS\tREQ/S\tP50\tP99")
	for _, r := range rep.Rounds {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%v\t%v\n", r.Target, r.Requests, r.Errors, r.ReqPerSec,
			r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
	}
	tw.Flush()
	fmt.Fprintf(out, "best: edgecache %.0f req/s p99 %v; nginx %.0f req/s p99 %v; ratio %.2fx req/s, %.2fx p99\n",
		rep.Go.ReqPerSec, rep.Go.P99.Round(time.Microsecond), rep.Nginx.ReqPerSec, rep.Nginx.P99.Round(time.Microsecond),
		rep.RatioRPS, rep.RatioP99)
	if pinning.Server != "" {
		// The edge cache's server runs in this process, so pinned it shares
		// the load generator's CPU while nginx has one to itself.
		fmt.Fprintln(out, "note: the edge cache is served from this process, on the load generator's CPU; nginx has its own. "+
			"For a pinned comparison of the whole edge's cache hits see `bench transformhit` with --cache-ram 0")
	}
	fmt.Fprintf(out, "open-file cache: %d opens, %d reuses, %d idle\n", rep.OpenFiles.Opens, rep.OpenFiles.Reuses, rep.OpenFiles.Idle)
	return rep, nil
}

// serveCache serves /c/N from the cache the way the edge does.
func serveCache(cache *edgecache.Cache) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("cache-hit benchmark: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /c/{n}", func(w http.ResponseWriter, r *http.Request) {
		e, err := cache.Get(r.Context(), "bench/"+r.PathValue("n"))
		if err != nil {
			http.Error(w, "miss", http.StatusNotFound)
			return
		}
		defer e.Close()
		h := w.Header()
		h.Set("Content-Type", e.Meta.ContentType)
		h.Set("ETag", e.Meta.ETag)
		http.ServeContent(w, r, "", e.ModTime, e.File)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/c/", func() { srv.Close() }, nil
}

const nginxConf = `%s
worker_processes 2;
daemon off;
master_process on;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
    default_type application/octet-stream;
    client_body_temp_path %[2]s/tmp/body;
    proxy_temp_path %[2]s/tmp/proxy;
    fastcgi_temp_path %[2]s/tmp/fastcgi;
    uwsgi_temp_path %[2]s/tmp/uwsgi;
    scgi_temp_path %[2]s/tmp/scgi;
    server {
        listen 127.0.0.1:%[3]d;
        location /c/ { alias %[4]s/; }
    }
}
`

// startNginx runs nginx in the foreground with a temp prefix and config.
func startNginx(ctx context.Context, bin, prefix, root string) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers would drop to nobody, who may not read the temp folder
	}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, user, prefix, port, root)), 0o644); err != nil {
		return "", nil, fmt.Errorf("cache-hit benchmark: nginx config: %w", err)
	}
	cmd := serverCommand(bin, "-p", prefix, "-c", conf, "-e", filepath.Join(prefix, "error.log"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("cache-hit benchmark: start nginx: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGQUIT) // graceful: master stops its workers
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			return "", nil, fmt.Errorf("cache-hit benchmark: nginx exited (%v): %s", err, stderr.String())
		case <-ctx.Done():
			stop()
			return "", nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("cache-hit benchmark: nginx did not listen on %s: %s", addr, stderr.String())
		}
	}
	return "http://" + addr + "/c/", stop, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("cache-hit benchmark: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func checkOne(ctx context.Context, base string, i int, want []byte) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+strconv.Itoa(i), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cache-hit benchmark: check %s: %w", base, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		return fmt.Errorf("cache-hit benchmark: check %s: status %d, %d bytes, err %v", base, resp.StatusCode, len(got), err)
	}
	return nil
}

// load sends up to n requests (bounded by cfg.Duration) over cfg.Concurrency
// keep-alive connections, each for a random entry, and checks every response.
func load(ctx context.Context, name, base string, cfg CacheHitConfig, n int) (LoadResult, error) {
	urls := make([]string, cfg.Entries)
	for i := range urls {
		urls[i] = base + strconv.Itoa(i)
	}
	pick := func(r *rand.Rand) string { return urls[r.IntN(len(urls))] }
	return runLoad(ctx, name, pick, int64(cfg.EntrySize), cfg.Concurrency, n, cfg.Duration)
}

// runLoad is the load generator every request-rate benchmark uses: up to n
// GETs (bounded by dur) over conc keep-alive connections, each URL from pick,
// every response checked for status 200 and size bytes.
func runLoad(ctx context.Context, name string, pick func(*rand.Rand) string, size int64, conc, n int, dur time.Duration) (LoadResult, error) {
	res := LoadResult{Target: name}
	if n == 0 {
		return res, nil
	}
	tr := &http.Transport{
		MaxIdleConns: conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc,
		DisableCompression: true, IdleConnTimeout: time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var next, errs atomic.Int64
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			buf := make([]byte, 64<<10)
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, pick(r), nil)
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				got, err := io.CopyBuffer(io.Discard, resp.Body, buf)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || got != size {
					errs.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	res.Requests, res.Errors = len(all), int(errs.Load())
	if len(all) > 0 {
		res.ReqPerSec = float64(len(all)) / res.Elapsed.Seconds()
		res.P50 = all[len(all)/2]
		res.P99 = all[min(len(all)-1, len(all)*99/100)]
	}
	if res.Errors > 0 && len(all) == 0 {
		return res, fmt.Errorf("benchmark: every request to %s failed", name)
	}
	return res, nil
}
