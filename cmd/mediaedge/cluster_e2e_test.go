package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
)

// TestCassandraClusterNodeLoss is issue 13's last "done when": a 3-node
// Cassandra at RF 3, an edge at QUORUM under a steady load of uploads and
// reads, and two kinds of node loss — a node killed (kill -9, then
// restarted) and a node hung (SIGSTOP for 15 s, then SIGCONT). Not one
// request may fail in any phase; each phase's p99 is reported, never
// asserted (two shared cores make latencies a property of the machine).
//
// The cluster is started by scripts/cassandra.sh (cluster start 3) on
// 127.0.0.2-4, beside the single dev node on 127.0.0.1. Without Java or the
// jars it cannot start: the test then skips, except under CI=true where it
// fails. A cluster that was already running is left running; one the test
// started is stopped at the end.
func TestCassandraClusterNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node Cassandra; skipped with -short")
	}
	const nodes = 3
	hosts := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "cassandra.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cluster := func(args ...string) (string, error) {
		cmd := exec.Command(script, append([]string{"cluster"}, args...)...)
		cmd.Env = os.Environ()
		if os.Getenv("CASSANDRA_WAIT") == "" {
			cmd.Env = append(cmd.Env, "CASSANDRA_WAIT=150") // per node; keeps a stuck start bounded
		}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}

	began := time.Now()
	// Build while the cluster starts: both take a while on two cores.
	bin := filepath.Join(t.TempDir(), "mediaedge")
	built := make(chan error, 1)
	go func() {
		out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build: %v\n%s", err, out)
		}
		built <- err
	}()
	_, statusErr := cluster("status")
	wasUp := statusErr == nil
	if !wasUp {
		// A fresh cluster (it starts as fast as an old one): a node killed
		// in an earlier run must not bring its past into this one.
		if out, err := cluster("reset"); err != nil {
			t.Fatalf("cluster reset: %v\n%s", err, out)
		}
	}
	if out, err := cluster("start", strconv.Itoa(nodes)); err != nil {
		<-built
		msg := fmt.Sprintf("the 3-node Cassandra did not start (scripts/cassandra.sh cluster start 3): %v\n%s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "\nCI=true requires it")
		}
		t.Skip(msg)
	}
	if !wasUp {
		t.Cleanup(func() {
			if out, err := cluster("reset"); err != nil {
				t.Errorf("cluster reset: %v\n%s", err, out)
			}
		})
	}
	t.Logf("cluster up after %v (already running: %v)", time.Since(began).Round(time.Second), wasUp)

	if err := <-built; err != nil {
		t.Fatal(err)
	}
	t.Logf("binary built at %v", time.Since(began).Round(time.Second))
	// One keyspace, replaced (in a cluster that was already running) while
	// the cluster is calm: dropping it at the end would race the hints and
	// batchlog replays to the node that was down.
	const ks = "nodeloss"
	if wasUp {
		dropKeyspace(t, hosts, ks)
	}
	if out, err := exec.Command(bin, "schema", "apply", "--rf", "3", "--cassandra-hosts", strings.Join(hosts, ","),
		"--cassandra-keyspace", ks).CombinedOutput(); err != nil {
		t.Fatalf("schema apply --rf 3: %v\n%s", err, out)
	}
	t.Logf("binary built, schema applied at %v", time.Since(began).Round(time.Second))

	// Every read goes to Cassandra: no originals on the edge's disks, no
	// file rows in memory.
	s := startServe(t, bin, t.TempDir(), "--store", "cassandra", "--cassandra-hosts", strings.Join(hosts, ","),
		"--cassandra-keyspace", ks, "--cassandra-consistency", "QUORUM",
		"--cache-max-original", "0", "--stat-cache-ttl", "0", "--log-level", "warn")

	pid := func(node int) int {
		out, err := cluster("pid", strconv.Itoa(node))
		p, perr := strconv.Atoi(out)
		if err != nil || perr != nil {
			t.Fatalf("cluster pid %d: %v %q", node, err, out)
		}
		return p
	}

	load := newClusterLoad(s.base, s.token)
	load.phase("steady")
	stop := load.run(8)
	defer stop()
	time.Sleep(5 * time.Second) // the load runs; this only paces the phases

	// A dead node: node1 is the seed and likely holds the driver's control
	// connection, the harder case.
	load.phase("node1 killed")
	if err := syscall.Kill(pid(1), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	load.phase("node1 restarting")
	restartBegan := time.Now()
	if out, err := cluster("start", strconv.Itoa(nodes)); err != nil {
		stop()
		t.Fatalf("restart node1: %v\n%s", err, out)
	}
	t.Logf("node1 back after %v", time.Since(restartBegan).Round(time.Second))
	load.phase("after restart")
	time.Sleep(5 * time.Second)

	// A hung node: its sockets stay open and nothing answers.
	hung := pid(2)
	load.phase("node2 hung")
	if err := syscall.Kill(hung, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(hung, syscall.SIGCONT)
		}
	}
	defer resume()
	time.Sleep(15 * time.Second)
	resume()
	load.phase("node2 resumed")
	time.Sleep(5 * time.Second)
	stop()

	for _, ph := range load.phases() {
		t.Logf("%-17s %5d requests (%4d uploads), p50 %v, p99 %v, max %v, %d failed",
			ph.name, len(ph.lat), ph.uploads, ph.pct(0.50), ph.pct(0.99), ph.pct(1), len(ph.fails))
		if len(ph.lat) == 0 {
			t.Errorf("phase %q: no request completed", ph.name)
		}
		for i, f := range ph.fails {
			if i == 5 {
				t.Errorf("phase %q: ... and %d more", ph.name, len(ph.fails)-5)
				break
			}
			t.Errorf("phase %q: failed request: %s", ph.name, f)
		}
	}
	if t.Failed() {
		t.Logf("serve's log:\n%s", s.logs())
	}
}

// clusterLoad is a bounded, paced load of uploads and reads against one edge:
// each worker uploads a small random file, reads it back, and reads one
// uploaded earlier, checking every body's SHA-256. Each request counts in
// the phase current when it started.
type clusterLoad struct {
	base, token string
	client      *http.Client
	cur         atomic.Pointer[loadPhase]

	mu     sync.Mutex // guards all, files
	all    []*loadPhase
	files  []storedFile
	stopMu sync.Once
}

type storedFile struct{ id, sha string }

type loadPhase struct {
	name    string
	mu      sync.Mutex // guards lat, fails, uploads
	lat     []time.Duration
	fails   []string
	uploads int
}

func newClusterLoad(base, token string) *clusterLoad {
	return &clusterLoad{base: base, token: token, client: &http.Client{
		Timeout:   90 * time.Second, // far above a retry after the driver's 12 s timeout
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
}

func (l *clusterLoad) phase(name string) {
	p := &loadPhase{name: name}
	l.mu.Lock()
	l.all = append(l.all, p)
	l.mu.Unlock()
	l.cur.Store(p)
}

func (l *clusterLoad) phases() []*loadPhase {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

// run starts n workers; the returned stop ends them and waits (idempotent).
func (l *clusterLoad) run(n int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				l.iteration(ctx)
				// Paced (about 8 x 3 requests every 150 ms at most): the
				// cluster, the edge and this test share two cores, and a
				// node restarting under an unbounded load takes minutes.
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	return func() { l.stopMu.Do(func() { cancel(); wg.Wait() }) }
}

func (l *clusterLoad) iteration(ctx context.Context) {
	// Small files: what a node replays from its commitlog at restart grows
	// with the bytes written, and the restart is on the test's clock.
	data := make([]byte, 1<<10+mrand.IntN(31<<10))
	_, _ = rand.Read(data)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	var up struct{ ID string }
	ok := l.do(ctx, "POST", "/upload", data, func(status int, body []byte) error {
		if status != http.StatusCreated {
			return fmt.Errorf("status %d: %.200s", status, body)
		}
		return json.Unmarshal(body, &up)
	})
	if !ok {
		return
	}
	l.mu.Lock()
	l.files = append(l.files, storedFile{up.ID, want})
	old := l.files[mrand.IntN(len(l.files))]
	l.mu.Unlock()
	for _, f := range []storedFile{{up.ID, want}, old} {
		l.do(ctx, "GET", "/m/"+f.id, nil, func(status int, body []byte) error {
			got := sha256.Sum256(body)
			if status != http.StatusOK || hex.EncodeToString(got[:]) != f.sha {
				return fmt.Errorf("status %d, %d bytes, sha256 %x, want %s", status, len(body), got[:4], f.sha[:8])
			}
			return nil
		})
	}
}

// do sends one request and records its latency or failure; a request cut
// by the load's own stop is not counted.
func (l *clusterLoad) do(ctx context.Context, method, path string, body []byte, check func(int, []byte) error) bool {
	ph := l.cur.Load()
	req, err := http.NewRequestWithContext(ctx, method, l.base+path, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	if method == "POST" {
		req.Header.Set("Authorization", "Bearer "+l.token)
	}
	start := time.Now()
	resp, err := l.client.Do(req)
	var b []byte
	if err == nil {
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if ctx.Err() != nil {
		return false
	}
	if err == nil {
		err = check(resp.StatusCode, b)
	}
	d := time.Since(start)
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if err != nil {
		ph.fails = append(ph.fails, fmt.Sprintf("%s %s after %v: %v", method, path, d.Round(time.Millisecond), err))
		return false
	}
	ph.lat = append(ph.lat, d)
	if method == "POST" {
		ph.uploads++
	}
	return true
}

// pct is the q-quantile of the phase's latencies (nearest rank).
func (p *loadPhase) pct(q float64) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lat) == 0 {
		return 0
	}
	s := slices.Clone(p.lat)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))].Round(time.Millisecond)
}

// dropKeyspace removes the previous run's keyspace.
func dropKeyspace(t *testing.T, hosts []string, ks string) {
	cfg := cassandra.DefaultConfig()
	cfg.Hosts, cfg.Keyspace = hosts, ""
	s, err := cassandra.NewSession(cfg)
	if err != nil {
		t.Fatalf("drop keyspace %s: %v", ks, err)
	}
	defer s.Close()
	if err := s.Query("DROP KEYSPACE IF EXISTS " + ks).Exec(); err != nil {
		t.Fatalf("drop keyspace %s: %v", ks, err)
	}
}
