package events

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediaedge/mediaedge/internal/testenv"
)

// natsServerBinary builds the nats-server command of the version go.mod
// requires (already a dependency, so it builds from the module cache).
func natsServerBinary(t *testing.T) string {
	t.Helper()
	goBin := testenv.Tool(t, "go")
	bin := filepath.Join(t.TempDir(), "nats-server")
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type natsProc struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	url  string
	done chan struct{}
}

func (p *natsProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// startCluster runs n nats-server processes with JetStream, routed to each
// other, on 127.0.0.1.
func startCluster(t *testing.T, bin string, n int) []*natsProc {
	t.Helper()
	var cports []int
	for range n {
		cports = append(cports, freePort(t))
	}
	var routes []string
	for _, p := range cports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var procs []*natsProc
	for i := range n {
		port := freePort(t)
		args := []string{"-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", t.TempDir(), "-n", fmt.Sprintf("n%d", i+1)}
		if n > 1 {
			args = append(args, "--cluster_name", "mediaedge-test", "--cluster", routes[i], "--routes", strings.Join(routes, ","))
		}
		cmd := exec.Command(bin, args...)
		p := &natsProc{cmd: cmd, out: &bytes.Buffer{}, url: fmt.Sprintf("nats://127.0.0.1:%d", port), done: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = p.out, p.out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { cmd.Wait(); close(p.done) }()
		t.Cleanup(func() {
			p.kill()
			if t.Failed() {
				t.Logf("nats-server n%d:\n%s", i+1, p.out)
			}
		})
		procs = append(procs, p)
	}
	return procs
}

// TestExternalNATS runs the backbone against a real 3-node nats-server
// cluster: the streams are R3, and a node killed half-way loses nothing.
func TestExternalNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and runs a cluster")
	}
	procs := startCluster(t, natsServerBinary(t), 3)
	var urls []string
	for _, p := range procs {
		urls = append(urls, p.url)
	}
	cfg := testConfig("")
	cfg.URL = strings.Join(urls, ",")
	cfg.Relay.AckTimeout = 2 * time.Second

	// The cluster needs a JetStream meta leader before streams can be made.
	var b *Bus
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		if b, err = Open(context.Background(), cfg); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("open bus on the cluster: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Cleanup(func() { b.Close() })

	ctx := context.Background()
	s, err := b.JetStream().Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("stream has %d replicas, want 3 on a cluster", r)
	}

	ob := NewPebbleOutbox(openPebble(t, pebbleDir(t)))
	r := startRelay(t, b, ob)
	got := newTally()
	consume(t, b, fastConsumer("external"), func(_ context.Context, ev Event) error {
		got.add(ev.ID)
		return nil
	})
	g := generator(t, 1)
	evs := makeEvents(t, g, 300)
	appendAll(t, ob, r, evs)
	waitFor(t, "the first 300 events", 60*time.Second, func() bool { return got.distinct() == len(evs) })

	// One node down: a quorum of two still acknowledges.
	procs[0].kill()
	more := makeEvents(t, g, 300)
	appendAll(t, ob, r, more)
	evs = append(evs, more...)
	flush(t, r)
	waitFor(t, "every event after a node died", 60*time.Second, func() bool { return got.distinct() == len(evs) })
	checkOnce(t, countsByGet(t, b, cfg.Stream), evs)
	t.Logf("relay %+v", r.Stats())
}

// countsByGet reads a stream message by message from its leader: creating
// a consumer to read it can hang while the cluster still places it on the
// node just killed.
func countsByGet(t *testing.T, b *Bus, stream string) map[int64]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := b.JetStream().Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int64]int{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		id, err := strconv.ParseInt(m.Header.Get(jetstream.MsgIDHeader), 10, 64)
		if err != nil {
			t.Fatalf("message %d without a numeric id", seq)
		}
		counts[id]++
	}
	return counts
}
