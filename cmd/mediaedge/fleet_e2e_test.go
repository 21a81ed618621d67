package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/fleet"
	"github.com/mediaedge/mediaedge/internal/cassandratest"
	"github.com/mediaedge/mediaedge/internal/freeport"
	"github.com/mediaedge/mediaedge/internal/promtext"
	"github.com/mediaedge/mediaedge/transform"
)

// fleetEdge is one `serve` of the fleet test, with what restarts it.
type fleetEdge struct {
	*served
	name, dir, gossip string
	args              []string
}

// TestFleet is issue 13's "Done when" on one machine: three edges on one
// Cassandra keyspace (so they share originals), 300 rendition keys x 20
// requests from 16 workers to random edges; each result computed once and
// cached on one edge. Then one edge is killed with -9 mid-load behind a
// client that retries a failed connection once on another edge (as a
// balancer does): no request fails, and only that edge's keys are
// recomputed. Then it comes back and a fourth edge joins: about a quarter of
// the keys change owner and none is recomputed (the new owner asks the
// previous one, only-if-cached).
//
// Transforms are counted by mediaedge_transforms_total on each edge; cache
// entries by mediaedge_cache_disk_entries (the disks' index, as
// /admin/cache reports it). A spill target (bounded loads) passes the
// owner's bytes through without keeping them, counted by
// mediaedge_fleet_fills_total{source="owner"}: so each result is on
// exactly one edge, entries == keys.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four servers and Cassandra; skipped with -short")
	}
	hosts := cassandratest.Hosts(t)
	ks := cassandratest.Keyspace(t, hosts)
	bin := buildBinary(t)
	// Bounded loads at the default c = 1.25 spill a busy owner's keys to
	// their next edge, which keeps a copy (a hot key on two or three edges,
	// still computed once); with c large nothing spills, and every result
	// is on exactly one edge.
	t.Run("LoadFactor1.25", func(t *testing.T) { fleetScenario(t, bin, hosts, ks, "1.25") })
	t.Run("NoSpill", func(t *testing.T) { fleetScenario(t, bin, hosts, ks, "1000") })
}

func fleetScenario(t *testing.T, bin string, hosts []string, ks, loadFactor string) {
	start := time.Now()

	var edges []*fleetEdge
	startEdge := func(e *fleetEdge) {
		t.Helper()
		e.served = startServe(t, bin, e.dir, e.args...)
	}
	newEdge := func(i int, seeds []string) *fleetEdge {
		e := &fleetEdge{name: fmt.Sprintf("edge%d", i), dir: t.TempDir(), gossip: freeGossipAddr(t)}
		e.args = []string{"--store", "cassandra", "--cassandra-hosts", strings.Join(hosts, ","), "--cassandra-keyspace", ks,
			"--node-id", strconv.Itoa(i + 1), "--log-level", "warn",
			"--fleet-bind", e.gossip, "--fleet-name", e.name, "--fleet-load-factor", loadFactor}
		if len(seeds) > 0 {
			e.args = append(e.args, "--peers", strings.Join(seeds, ","))
		}
		return e
	}
	for i := range 3 {
		edges = append(edges, newEdge(i, nil))
	}
	// Each edge names all three as seeds: the order they come up in does not matter.
	for _, e := range edges {
		e.args = append(e.args, "--peers", edges[0].gossip+","+edges[1].gossip+","+edges[2].gossip)
	}
	var wg sync.WaitGroup
	for _, e := range edges {
		wg.Add(1)
		go func() { defer wg.Done(); startEdge(e) }()
	}
	wg.Wait()
	waitMembers(t, edges, 3)
	t.Logf("3 edges up and joined in %v", time.Since(start).Round(time.Millisecond))

	// 30 images x 10 widths = 300 keys.
	var ids []string
	for i := range 30 {
		resp, body := request(t, "POST", edges[i%3].base+"/upload", edges[i%3].token, nil, bytes.NewReader(testPNG(i)))
		if resp.StatusCode != 201 {
			t.Fatalf("upload %d: %d %s", i, resp.StatusCode, body)
		}
		var up struct{ ID string }
		if err := json.Unmarshal(body, &up); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, up.ID)
	}
	var keys []string
	for _, id := range ids {
		for w := 1; w <= 10; w++ {
			keys = append(keys, fmt.Sprintf("/m/%s?w=%d", id, 8*w))
		}
	}

	// Phase 1: 300 keys x 20 requests, 16 workers, random edges.
	lc := newLoadClient()
	if failed := lc.run(t, bases(edges), keys, 20, 16, nil); failed != 0 {
		t.Fatalf("phase 1: %d requests failed", failed)
	}
	tf := sumAll(t, edges, "mediaedge_transforms_total")
	entries := sumAll(t, edges, "mediaedge_cache_disk_entries")
	spills := sumAll(t, edges, `mediaedge_fleet_fills_total{source="owner"}`)
	t.Logf("phase 1 (%v): transforms %v, cache entries %v (per edge %v), spill copies %v, forwards %v",
		time.Since(start).Round(time.Millisecond), tf, entries, perEdge(t, edges, "mediaedge_cache_disk_entries"), spills,
		perEdge(t, edges, `mediaedge_fleet_forwards_total{result="ok"}`))
	if tf != float64(len(keys)) {
		t.Errorf("phase 1: %v transforms across the fleet, want exactly %d", tf, len(keys))
	}
	if loadFactor == "1000" && spills != 0 {
		t.Errorf("phase 1: %v spill copies with bounded loads off", spills)
	}
	if entries != float64(len(keys)) {
		t.Errorf("phase 1: %v cache entries across the fleet, want %d (one per key; %v spilled requests passed through): a result is cached on more than one edge", entries, len(keys), spills)
	}

	// Phase 2: kill -9 one edge a third of the way into 300 x 10 requests.
	victim := edges[2]
	share := metricSum(t, victim.base, "mediaedge_cache_disk_entries")
	before := sumAll(t, edges[:2], "mediaedge_transforms_total")
	kill := func(done int64) {
		if done == int64(len(keys))*10/3 {
			_ = victim.cmd.Process.Kill()
		}
	}
	if failed := lc.run(t, bases(edges), keys, 10, 16, kill); failed != 0 {
		t.Errorf("phase 2: %d requests failed with an edge killed mid-load", failed)
	}
	<-victim.exited
	recomputed := sumAll(t, edges[:2], "mediaedge_transforms_total") - before
	t.Logf("phase 2 (%v): killed %s holding %v entries; %v keys recomputed; retries %d",
		time.Since(start).Round(time.Millisecond), victim.name, share, recomputed, lc.retries.Load())
	if recomputed > share+3 {
		t.Errorf("phase 2: %v keys recomputed, want at most the killed edge's %v (+3)", recomputed, share)
	}
	waitMembers(t, edges[:2], 2)

	// Phase 3: the killed edge comes back (same name, same disk) and a
	// fourth joins; nothing is recomputed.
	startEdge(victim)
	waitMembers(t, edges, 3)
	waitIndexed(t, victim)
	ownersBefore := owners(t, edges[0].gossip, 3, keys)
	d := newEdge(3, []string{edges[0].gossip})
	startEdge(d)
	edges = append(edges, d)
	waitMembers(t, edges, 4)
	ownersAfter := owners(t, edges[0].gossip, 4, keys)
	changed := 0
	for k, o := range ownersAfter {
		if ownersBefore[k] != o {
			changed++
			if o != d.name {
				t.Errorf("key %s moved from %s to %s, not to the new edge", k, ownersBefore[k], o)
			}
		}
	}
	before = sumAll(t, edges, "mediaedge_transforms_total")
	if failed := lc.run(t, bases(edges), keys, 5, 16, nil); failed != 0 {
		t.Errorf("phase 3: %d requests failed", failed)
	}
	moved := metricSum(t, d.base, `mediaedge_fleet_fills_total{source="previous"}`)
	recomputed = sumAll(t, edges, "mediaedge_transforms_total") - before
	t.Logf("phase 3 (%v): %d of %d keys changed owner (%.0f%%), all to the new edge; it fetched %v from their previous owners; %v recomputed",
		time.Since(start).Round(time.Millisecond), changed, len(keys), 100*float64(changed)/float64(len(keys)), moved, recomputed)
	if recomputed != 0 {
		t.Errorf("phase 3: %v keys recomputed after a restart and a join, want 0", recomputed)
	}
	if f := float64(changed) / float64(len(keys)); f < 0.15 || f > 0.35 {
		t.Errorf("phase 3: %.0f%% of the keys changed owner, want about 25%%", 100*f)
	}
	if moved > float64(changed) || (loadFactor == "1000" && moved < float64(changed)*0.95) {
		t.Errorf("phase 3: the new edge fetched %v keys from previous owners; %d changed owner", moved, changed)
	}

	// `mediaedge fleet status` sees the four, sharing the keys.
	out, err := exec.Command(bin, "fleet", "status", "--peers", edges[1].gossip, "--json").Output()
	if err != nil {
		t.Fatalf("fleet status: %v", err)
	}
	var st statusReport
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("fleet status --json: %v\n%s", err, out)
	}
	var total float64
	for _, m := range st.Members {
		total += m.Share
		if m.State != "alive" || m.Share < 0.15 || m.Share > 0.35 || m.HTTP == "" {
			t.Errorf("fleet status member %+v", m)
		}
	}
	if len(st.Members) != 4 || total < 0.999 {
		t.Errorf("fleet status: %d members, shares summing to %v\n%s", len(st.Members), total, out)
	}
	t.Logf("done in %v", time.Since(start).Round(time.Millisecond))
}

// owners joins the fleet through seed as an observer (as `fleet status`
// does), waits until it sees n members and returns each key's owner, by the
// cache key the edges compute.
func owners(t *testing.T, seed string, n int, paths []string) map[string]string {
	t.Helper()
	cfg := fleet.DefaultConfig()
	cfg.Bind, cfg.Peers, cfg.Observer = "127.0.0.1:0", []string{seed}, true
	cfg.Name = "test-observer-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := fleet.Join(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	deadline := time.Now().Add(20 * time.Second)
	for len(f.Members()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("the observer sees %d members, want %d", len(f.Members()), n)
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline
	}
	out := map[string]string{}
	for _, p := range paths {
		u, err := url.Parse(p)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := transform.Parse(transform.DefaultConfig(), "", u.Query(), "")
		if err != nil {
			t.Fatal(err)
		}
		out[p] = f.Owner(strings.TrimPrefix(u.Path, "/m/") + "/" + spec.Key()).Name
	}
	return out
}

// loadClient sends GETs to random edges and, like a load balancer, retries
// a request whose connection failed (refused, reset) once on another edge.
type loadClient struct {
	hc      *http.Client
	retries atomic.Int64
}

func newLoadClient() *loadClient {
	return &loadClient{hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
}

// run sends each key reps times in random order from workers goroutines and
// returns the requests that failed; progress (if set) sees each completion.
func (lc *loadClient) run(t *testing.T, bases, keys []string, reps, workers int, progress func(done int64)) int {
	t.Helper()
	var reqs []string
	for range reps {
		reqs = append(reqs, keys...)
	}
	rand.Shuffle(len(reqs), func(i, j int) { reqs[i], reqs[j] = reqs[j], reqs[i] })
	ch := make(chan string)
	var failed, done atomic.Int64
	var mu sync.Mutex
	var firstErrs []string
	fail := func(msg string) {
		failed.Add(1)
		mu.Lock()
		if len(firstErrs) < 5 {
			firstErrs = append(firstErrs, msg)
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for path := range ch {
				i := rand.IntN(len(bases))
				status, err := lc.get(bases[i] + path)
				if err != nil {
					lc.retries.Add(1)
					j := (i + 1 + rand.IntN(len(bases)-1)) % len(bases)
					status, err = lc.get(bases[j] + path)
				}
				switch {
				case err != nil:
					fail(fmt.Sprintf("GET %s: %v", path, err))
				case status != http.StatusOK:
					fail(fmt.Sprintf("GET %s: %d", path, status))
				}
				if progress != nil {
					progress(done.Add(1))
				}
			}
		}()
	}
	for _, r := range reqs {
		ch <- r
	}
	close(ch)
	wg.Wait()
	if len(firstErrs) > 0 {
		t.Logf("failures (first %d): %s", len(firstErrs), strings.Join(firstErrs, "; "))
	}
	return int(failed.Load())
}

// get is one GET read to the end; err is a connection-level failure.
func (lc *loadClient) get(url string) (int, error) {
	resp, err := lc.hc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func bases(edges []*fleetEdge) []string {
	var out []string
	for _, e := range edges {
		out = append(out, e.base)
	}
	return out
}

// metricSum adds every series of a metric on one edge's /metrics; name may
// carry a label set prefix (promtext.Sum).
func metricSum(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("metrics of %s: %v", base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return promtext.Sum(string(body), name)
}

func sumAll(t *testing.T, edges []*fleetEdge, name string) float64 {
	t.Helper()
	var s float64
	for _, e := range edges {
		s += metricSum(t, e.base, name)
	}
	return s
}

func perEdge(t *testing.T, edges []*fleetEdge, name string) []float64 {
	t.Helper()
	var out []float64
	for _, e := range edges {
		out = append(out, metricSum(t, e.base, name))
	}
	return out
}

// waitMembers waits until every edge sees n members.
func waitMembers(t *testing.T, edges []*fleetEdge, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, e := range edges {
			if metricSum(t, e.base, "mediaedge_fleet_members") != float64(n) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edges do not see %d members: %v", n, perEdge(t, edges, "mediaedge_fleet_members"))
		}
		time.Sleep(100 * time.Millisecond) // polling, with a deadline
	}
}

// waitIndexed waits until an edge's cache disks are indexed (a restarted
// edge finds its entries on its disks).
func waitIndexed(t *testing.T, e *fleetEdge) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body := request(t, "GET", e.base+"/admin/cache", "", nil, nil)
		var st struct{ Disks []struct{ Indexed bool } }
		if resp.StatusCode == 200 && json.Unmarshal(body, &st) == nil && len(st.Disks) > 0 {
			all := true
			for _, d := range st.Disks {
				all = all && d.Indexed
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: cache not indexed: %s", e.name, body)
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline
	}
}

// freeGossipAddr is a 127.0.0.1 port free for both TCP and UDP.
func freeGossipAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Gossip()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// testPNG is a small distinct image: a gradient with the index in its colours.
func testPNG(i int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for y := range 120 {
		for x := range 160 {
			img.Set(x, y, color.RGBA{uint8(x + 7*i), uint8(y * 2), uint8(13 * i), 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}
