package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediaedge/mediaedge/internal/freeport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig is a fleet member on 127.0.0.1 with a free gossip port and
// timings fast enough for a test to see joins and deaths within a second or
// two, and slow enough that -race on two cores does not fake suspicions.
func testConfig(name, httpAddr string, peers ...string) Config {
	cfg := DefaultConfig()
	cfg.Bind = "127.0.0.1:0"
	cfg.Name = name
	cfg.HTTPAddr = httpAddr
	cfg.Peers = peers
	cfg.ProbeInterval = 200 * time.Millisecond
	cfg.ProbeTimeout = 100 * time.Millisecond
	cfg.GossipInterval = 50 * time.Millisecond
	cfg.SuspicionMult = 2
	cfg.LoadInterval = 50 * time.Millisecond
	cfg.LoadTTL = time.Second
	cfg.RejoinInterval = 200 * time.Millisecond
	cfg.ReconnectInterval = 300 * time.Millisecond
	cfg.LeaveTimeout = time.Second
	cfg.Logger = testLogger()
	return cfg
}

// testLogger discards logs unless FLEET_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("FLEET_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// join starts a member and closes it when the test ends.
func join(t *testing.T, cfg Config) *Fleet {
	t.Helper()
	f, err := Join(context.Background(), cfg)
	if err != nil {
		t.Fatalf("join %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// startFleet starts n members, the first the seed of the others, each with
// the HTTP address httpAddr(i) (or a placeholder), and waits until every one
// sees all n.
func startFleet(t *testing.T, n int, httpAddr func(i int) string) []*Fleet {
	t.Helper()
	return startFleetWith(t, n, httpAddr, nil)
}

// startFleetWith is startFleet with each member's config adjusted by opt.
func startFleetWith(t *testing.T, n int, httpAddr func(i int) string, opt func(*Config)) []*Fleet {
	t.Helper()
	fs := make([]*Fleet, n)
	for i := range n {
		addr := fmt.Sprintf("http://127.0.0.1:%d", 9000+i)
		if httpAddr != nil {
			addr = httpAddr(i)
		}
		var peers []string
		if i > 0 {
			peers = []string{fs[0].GossipAddr()}
		}
		cfg := testConfig(fmt.Sprintf("edge-%d", i), addr, peers...)
		if opt != nil {
			opt(&cfg)
		}
		fs[i] = join(t, cfg)
	}
	waitMembers(t, fs, n)
	return fs
}

// waitMembers waits until every fleet in fs sees exactly n members.
func waitMembers(t *testing.T, fs []*Fleet, n int) time.Duration {
	t.Helper()
	return waitFor(t, 10*time.Second, fmt.Sprintf("every member to see %d members", n), func() bool {
		for _, f := range fs {
			if len(f.Members()) != n {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond until it holds and returns how long that took, or
// fails the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func names(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("media%06d/w=%d&fmt=webp", i*7919, 100+i%5)
	}
	return out
}

// owners maps each key to its owner's name as f sees it.
func owners(f *Fleet, ks []string) map[string]string {
	out := make(map[string]string, len(ks))
	for _, k := range ks {
		out[k] = f.Owner(k).Name
	}
	return out
}

func TestThreeMembersConverge(t *testing.T) {
	fs := startFleet(t, 3, nil)
	for i, f := range fs {
		ms := f.Members()
		if got := names(ms); !slices.Equal(got, []string{"edge-0", "edge-1", "edge-2"}) {
			t.Fatalf("edge-%d sees %v", i, got)
		}
		for j, m := range ms {
			if want := fmt.Sprintf("http://127.0.0.1:%d", 9000+j); m.HTTPAddr != want {
				t.Errorf("edge-%d sees %s at %q, want %q", i, m.Name, m.HTTPAddr, want)
			}
			if m.Local != (j == i) || m.State != "alive" || !strings.HasPrefix(m.GossipAddr, "127.0.0.1:") {
				t.Errorf("edge-%d sees %+v", i, m)
			}
		}
	}
}

func TestLateSeedIsRetried(t *testing.T) {
	// The second edge starts first, pointing at a seed that is not up: it
	// runs alone, then joins once the seed answers.
	seed := join(t, testConfig("seed", "http://127.0.0.1:9000"))
	addr := seed.GossipAddr()
	if err := seed.Close(); err != nil {
		t.Fatal(err)
	}
	early := join(t, testConfig("early", "http://127.0.0.1:9001", addr))
	if n := len(early.Members()); n != 1 {
		t.Fatalf("early sees %d members alone", n)
	}
	cfg := testConfig("seed", "http://127.0.0.1:9000")
	cfg.Bind = addr
	seed = join(t, cfg)
	waitMembers(t, []*Fleet{early, seed}, 2)
}

func TestLeaveRemovesAtOnce(t *testing.T) {
	fs := startFleet(t, 3, nil)
	if err := fs[2].Close(); err != nil {
		t.Fatal(err)
	}
	// A leave is gossiped, not detected: well under a failure detection.
	took := waitMembers(t, fs[:2], 2)
	t.Logf("a left member was gone everywhere after %v", took)
}

func TestKilledMemberLosesOnlyItsKeys(t *testing.T) {
	fs := startFleet(t, 3, nil)
	ks := keys(300)
	before := owners(fs[0], ks)

	fs[2].kill() // no leave message: the others must detect it
	took := waitMembers(t, fs[:2], 2)
	t.Logf("a killed member was declared dead everywhere after %v", took)

	moved := 0
	for _, f := range fs[:2] {
		after := owners(f, ks)
		moved = 0
		for _, k := range ks {
			switch {
			case before[k] == "edge-2":
				moved++
				if after[k] == "edge-2" {
					t.Fatalf("%s still owned by the dead member", k)
				}
			case after[k] != before[k]:
				t.Fatalf("%s moved from %s to %s though its owner lives", k, before[k], after[k])
			}
		}
	}
	if moved < 60 || moved > 140 {
		t.Fatalf("%d of 300 keys moved, want about 100", moved)
	}
	t.Logf("%d of 300 keys moved", moved)
}

func TestFourthMemberTakesAQuarter(t *testing.T) {
	fs := startFleet(t, 3, nil)
	ks := keys(300)
	before := owners(fs[0], ks)

	fs = append(fs, join(t, testConfig("edge-3", "http://127.0.0.1:9003", fs[1].GossipAddr())))
	waitMembers(t, fs, 4)

	var moved int
	for _, f := range fs {
		after := owners(f, ks)
		moved = 0
		for _, k := range ks {
			if after[k] != before[k] {
				moved++
				if after[k] != "edge-3" {
					t.Fatalf("%s moved from %s to %s, not to the new member", k, before[k], after[k])
				}
			}
		}
	}
	if moved < 40 || moved > 110 {
		t.Fatalf("%d of 300 keys moved, want about 75", moved)
	}
	t.Logf("%d of 300 keys moved to the new member", moved)
}

func TestConfigValidateReportsEverything(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Bind = "localhost:0"
	cfg.HTTPAddr = "ftp://x"
	cfg.LoadFactor = 1
	cfg.SecretKey = []byte("short")
	cfg.ProbeTimeout = 2 * cfg.ProbeInterval
	err := cfg.Validate()
	if err == nil {
		t.Fatal("a bad config validated")
	}
	for _, want := range []string{"bind address", "HTTP address", "load factor", "secret key", "probe timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention the %s", err, want)
		}
	}
	cfg = DefaultConfig()
	cfg.Bind = "127.0.0.1:0"
	cfg.HTTPAddr = "http://127.0.0.1:8080"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "name is required") {
		t.Fatalf("port 0 without a name: %v", err)
	}
	cfg.Name = "a"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSeedsAreRejoinedAfterAPartition(t *testing.T) {
	// Two halves that only know their own seeds: a is seeded with c, which
	// is not up when a starts, and b joins a, so a is not alone when c
	// comes up; c and d form the other half. Only the periodic reconnect to
	// seeds that are not members (a to c) makes them one fleet, as it must
	// after a partition, once memberlist has forgotten the far side.
	addrC, err := freeport.Gossip()
	if err != nil {
		t.Fatal(err)
	}
	a := join(t, testConfig("a", "http://127.0.0.1:9000", addrC))
	b := join(t, testConfig("b", "http://127.0.0.1:9001", a.GossipAddr()))
	waitMembers(t, []*Fleet{a, b}, 2)

	cfg := testConfig("c", "http://127.0.0.1:9002")
	cfg.Bind = addrC
	c := join(t, cfg)
	d := join(t, testConfig("d", "http://127.0.0.1:9003", c.GossipAddr()))
	took := waitMembers(t, []*Fleet{a, b, c, d}, 4)
	t.Logf("the halves merged after %v (reconnect interval %v)", took, a.cfg.ReconnectInterval)
}

func TestConfigValidateRequiresAKey(t *testing.T) {
	for _, tc := range []struct {
		name     string
		bind     string
		key      []byte
		insecure bool
		observer bool
		ok       bool
	}{
		{name: "LAN without a key", bind: "10.0.0.5:7946"},
		{name: "every interface without a key", bind: "0.0.0.0:7946"},
		{name: "LAN with a key", bind: "10.0.0.5:7946", key: []byte("0123456789abcdef"), ok: true},
		{name: "LAN, insecure", bind: "10.0.0.5:7946", insecure: true, ok: true},
		{name: "loopback", bind: "127.0.0.1:7946", ok: true},
		{name: "loopback v6", bind: "[::1]:7946", ok: true},
		{name: "observer", bind: "10.0.0.9:0", observer: true, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Bind, cfg.Name, cfg.HTTPAddr = tc.bind, "a", "http://10.0.0.5:8080"
			cfg.SecretKey, cfg.Insecure, cfg.Observer = tc.key, tc.insecure, tc.observer
			err := cfg.Validate()
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "secret key is required")) {
				t.Fatalf("validated without a key: %v", err)
			}
		})
	}
}
