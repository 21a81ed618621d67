package bench

// Fleet benchmark: the real thing fleetsim simulates. Three mediaedge
// processes on one Cassandra keyspace answer one seeded request trace twice:
// once as independent edges (each its own cache, as N edges behind a load
// balancer were before the fleet), once as a fleet (--fleet-bind/--peers:
// each key served by its rendezvous owner). The trace, the edge each request
// is sent to and the sources are the same in both runs; what differs is how
// often a rendition is computed, how often an original is read from the
// store and how many copies the edges' disks hold.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mediaedge/mediaedge/internal/freeport"
	"github.com/mediaedge/mediaedge/internal/promtext"
)

// FleetConfig configures the benchmark.
type FleetConfig struct {
	Mediaedge      string
	CassandraHosts []string
	Edges          int
	Sources        int     // distinct originals
	Widths         int     // renditions per original (w = 64, 96, ...)
	Requests       int     // requests in the trace
	Skew           float64 // Zipf exponent over the keys
	Concurrency    int
	Seed           uint64
	Dir            string
	Timeout        time.Duration // bound on the whole benchmark
}

// DefaultFleetConfig: 3 edges, 60 originals x 8 widths = 480 keys, 6,000
// requests at Zipf s = 1.0 from 16 workers.
func DefaultFleetConfig() FleetConfig {
	return FleetConfig{Edges: 3, Sources: 60, Widths: 8, Requests: 6000, Skew: 1.0, Concurrency: 16, Seed: 1,
		Timeout: 10 * time.Minute}
}

// Validate reports a configuration the benchmark cannot run.
func (c FleetConfig) Validate() error {
	var errs []error
	if c.Mediaedge == "" {
		errs = append(errs, errors.New("fleet: no mediaedge binary"))
	}
	if len(c.CassandraHosts) == 0 {
		errs = append(errs, errors.New("fleet: the edges share a Cassandra keyspace: name --fleet-cassandra-hosts"))
	}
	if c.Edges < 2 || c.Sources < 1 || c.Widths < 1 || c.Widths > 30 || c.Requests < 1 || c.Concurrency < 1 || c.Timeout <= 0 {
		errs = append(errs, errors.New("fleet: edges >= 2, sources >= 1, widths 1-30, requests, concurrency and timeout > 0"))
	}
	if c.Skew <= 0 {
		errs = append(errs, errors.New("fleet: Zipf skew must be > 0"))
	}
	return errors.Join(errs...)
}

// FleetRun is one mode's totals over all edges.
type FleetRun struct {
	Mode         string // "independent" or "fleet"
	Requests     int
	Failed       int
	Transforms   float64 // renditions computed (mediaedge_transforms_total)
	OriginReads  float64 // originals opened from the store
	CacheEntries float64 // entries on all edges' disks
	Forwards     float64 // requests an edge sent to another
	Elapsed      time.Duration
	P50, P99     time.Duration
}

// HitRatio is the share of requests answered without computing a rendition.
func (r FleetRun) HitRatio() float64 {
	if r.Requests == 0 {
		return 0
	}
	return 1 - r.Transforms/float64(r.Requests)
}

// FleetReport is both runs and the trace's size.
type FleetReport struct {
	Keys        int
	Distinct    int // keys the trace asks for at least once: the fewest transforms possible
	Independent FleetRun
	Fleet       FleetRun
}

// Fleet runs the benchmark.
func Fleet(ctx context.Context, cfg FleetConfig, out io.Writer) (FleetReport, error) {
	rep := FleetReport{Keys: cfg.Sources * cfg.Widths}
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dir, cleanup, err := benchDir(cfg.Dir)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	var sources [][]byte
	for i := range cfg.Sources {
		raw, err := fleetSource(ctx, dir, i)
		if err != nil {
			return rep, err
		}
		sources = append(sources, raw)
	}
	trace := fleetTrace(cfg)
	seen := map[int]bool{}
	for _, r := range trace {
		seen[r.key] = true
	}
	rep.Distinct = len(seen)
	fmt.Fprintf(out, "fleet: %d edges on one Cassandra keyspace, %d originals x %d widths = %d keys, %d requests (Zipf s=%.1f, %d workers), the same trace and edge choice in both runs\n",
		cfg.Edges, cfg.Sources, cfg.Widths, rep.Keys, cfg.Requests, cfg.Skew, cfg.Concurrency)
	for _, mode := range []string{"independent", "fleet"} {
		run, err := fleetMode(ctx, cfg, filepath.Join(dir, mode), mode, sources, trace)
		if err != nil {
			return rep, fmt.Errorf("fleet (%s): %w", mode, err)
		}
		if mode == "fleet" {
			rep.Fleet = run
		} else {
			rep.Independent = run
		}
	}
	fmt.Fprintf(out, "distinct keys requested: %d (the fewest transforms possible)\n", rep.Distinct)
	printFleet(out, rep)
	return rep, nil
}

// fleetReq is one request of the trace: a key and the edge it is sent to.
type fleetReq struct{ key, edge int }

// fleetTrace draws the requests: keys by Zipf rank (key 0 the most asked),
// the edge uniformly, as a load balancer would spread them.
func fleetTrace(cfg FleetConfig) []fleetReq {
	r := rand.New(rand.NewPCG(cfg.Seed, 0x6d656469616564))
	keys := cfg.Sources * cfg.Widths
	// rand.Zipf needs s > 1; draw from the inverse CDF for any s > 0.
	cdf := make([]float64, keys)
	var sum float64
	for k := range keys {
		sum += 1 / math.Pow(float64(k+1), cfg.Skew)
		cdf[k] = sum
	}
	// Which key is rank k is shuffled, so that popular keys are not all
	// widths of the first originals.
	perm := r.Perm(keys)
	out := make([]fleetReq, cfg.Requests)
	for i := range out {
		k, _ := slices.BinarySearch(cdf, r.Float64()*sum)
		out[i] = fleetReq{key: perm[min(k, keys-1)], edge: r.IntN(cfg.Edges)}
	}
	return out
}

// fleetSource is original i: a 1200x900 JPEG, distinct per i.
func fleetSource(ctx context.Context, dir string, i int) ([]byte, error) {
	p := filepath.Join(dir, "src"+strconv.Itoa(i)+".jpg")
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-y", "-f", "lavfi",
		"-i", fmt.Sprintf("mandelbrot=size=1200x900:start_scale=%g:end_pts=1", 3.0+float64(i)*0.05), "-frames:v", "1", p)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("make source %d: %v %s", i, err, out)
	}
	return os.ReadFile(p)
}

// fleetMode starts the edges in one mode on a fresh keyspace, uploads the
// originals, replays the trace and reads the edges' metrics.
func fleetMode(ctx context.Context, cfg FleetConfig, dir, mode string, sources [][]byte, trace []fleetReq) (FleetRun, error) {
	run := FleetRun{Mode: mode}
	ks, drop, err := freshKeyspace(ctx, cfg.CassandraHosts, "bench_fleet_")
	if err != nil {
		return run, err
	}
	defer drop()
	gossip := make([]string, cfg.Edges)
	for i := range gossip {
		if gossip[i], err = freeport.Gossip(); err != nil {
			return run, err
		}
	}
	edges := make([]*process, cfg.Edges)
	var wg sync.WaitGroup
	errs := make([]error, cfg.Edges)
	for i := range edges {
		args := []string{"--store", "cassandra", "--cassandra-hosts", strings.Join(cfg.CassandraHosts, ","),
			"--cassandra-keyspace", ks, "--node-id", strconv.Itoa(i + 1), "--cache-dir", filepath.Join(dir, "cache"+strconv.Itoa(i)) + ":2GiB"}
		if mode == "fleet" {
			args = append(args, "--fleet-bind", gossip[i], "--fleet-name", "edge"+strconv.Itoa(i), "--peers", strings.Join(gossip, ","))
		}
		if err := os.MkdirAll(filepath.Join(dir, "cache"+strconv.Itoa(i)), 0o755); err != nil {
			return run, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			edges[i], errs[i] = startMediaedge(ctx, cfg.Mediaedge, filepath.Join(dir, "data"+strconv.Itoa(i)), benchToken, args...)
		}()
	}
	wg.Wait()
	defer func() {
		for _, e := range edges {
			if e != nil {
				e.Stop()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return run, err
	}
	if mode == "fleet" {
		if err := waitFleetMembers(ctx, edges); err != nil {
			return run, err
		}
	}
	var ids []string
	for i, raw := range sources {
		id, err := benchUpload(ctx, edges[i%len(edges)].Base, raw)
		if err != nil {
			return run, fmt.Errorf("upload %d: %w", i, err)
		}
		ids = append(ids, id)
	}
	// Uploads read nothing back; the counters start from here.
	before, err := fleetCounters(ctx, edges)
	if err != nil {
		return run, err
	}
	paths := make([]string, 0, len(ids)*cfg.Widths)
	for _, id := range ids {
		for w := range cfg.Widths {
			paths = append(paths, fmt.Sprintf("/m/%s?w=%d&fm=webp", id, 64+32*w))
		}
	}
	lat, failed, elapsed := replay(ctx, edges, paths, trace, cfg.Concurrency)
	if ctx.Err() != nil {
		return run, ctx.Err()
	}
	after, err := fleetCounters(ctx, edges)
	if err != nil {
		return run, err
	}
	run.Requests, run.Failed, run.Elapsed = len(trace), failed, elapsed
	run.Transforms = after.transforms - before.transforms
	run.OriginReads = after.opens - before.opens
	run.Forwards = after.forwards - before.forwards
	run.CacheEntries = after.entries
	slices.Sort(lat)
	if len(lat) > 0 {
		run.P50, run.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return run, nil
}

// replay sends the trace with conc workers, each request to its edge;
// a refused connection is retried once on the next edge, as a load
// balancer would.
func replay(ctx context.Context, edges []*process, paths []string, trace []fleetReq, conc int) ([]time.Duration, int, time.Duration) {
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	defer client.CloseIdleConnections()
	var (
		mu     sync.Mutex
		lat    = make([]time.Duration, 0, len(trace))
		failed int
		next   = make(chan fleetReq)
	)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				t0 := time.Now()
				ok := fleetGet(ctx, client, edges[r.edge].Base+paths[r.key])
				d := time.Since(t0)
				mu.Lock()
				if ok {
					lat = append(lat, d)
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	for _, r := range trace {
		select {
		case next <- r:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	return lat, failed, time.Since(start)
}

func fleetGet(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err == nil && resp.StatusCode == http.StatusOK
}

// fleetTotals are the counters summed over the edges.
type fleetTotals struct{ transforms, opens, forwards, entries float64 }

func fleetCounters(ctx context.Context, edges []*process) (fleetTotals, error) {
	var t fleetTotals
	for _, e := range edges {
		m, err := scrape(ctx, e.Base)
		if err != nil {
			return t, err
		}
		t.transforms += promtext.Sum(m, "mediaedge_transforms_total")
		t.opens += promtext.Sum(m, `mediaedge_store_operation_duration_seconds_count{op="open"}`)
		t.forwards += promtext.Sum(m, "mediaedge_fleet_forwards_total")
		t.entries += promtext.Sum(m, "mediaedge_cache_disk_entries")
	}
	return t, nil
}

// scrape reads one edge's /metrics page.
func scrape(ctx context.Context, base string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("metrics of %s: %s %v", base, resp.Status, err)
	}
	return string(body), nil
}

// waitFleetMembers waits until every edge sees all of them.
func waitFleetMembers(ctx context.Context, edges []*process) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, e := range edges {
			m, err := scrape(ctx, e.Base)
			if err != nil || promtext.Sum(m, "mediaedge_fleet_members") != float64(len(edges)) {
				ok = false
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the edges did not all join within 30s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func printFleet(out io.Writer, rep FleetReport) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "edges\trequests\tfailed\ttransforms\ttransforms/request\thit ratio\toriginals read\tcache entries (copies)\tforwards\tp50\tp99\treq/s")
	for _, r := range []FleetRun{rep.Independent, rep.Fleet} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.3f\t%.1f%%\t%.0f\t%.0f\t%.0f\t%v\t%v\t%.0f\n", r.Mode, r.Requests, r.Failed, r.Transforms,
			r.Transforms/float64(max(r.Requests, 1)), 100*r.HitRatio(), r.OriginReads, r.CacheEntries, r.Forwards,
			r.P50.Round(100*time.Microsecond), r.P99.Round(100*time.Microsecond), float64(r.Requests)/r.Elapsed.Seconds())
	}
	tw.Flush()
	if rep.Fleet.Transforms > 0 {
		fmt.Fprintf(out, "fleet vs independent: %.2fx fewer transforms, %.2fx fewer original reads, %.2fx fewer cached copies (distinct keys requested bound both from below)\n",
			rep.Independent.Transforms/rep.Fleet.Transforms, rep.Independent.OriginReads/max(rep.Fleet.OriginReads, 1),
			rep.Independent.CacheEntries/max(rep.Fleet.CacheEntries, 1))
	}
}
