package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestChatSmall runs the chat benchmark at a toy size on the embedded
// store and Centrifugo (and on Cassandra when MEDIAEDGE_CASSANDRA names
// hosts): every accepted message reaches every recipient's socket exactly
// once and no one else's, nothing is lost, and the ratio comes out. It
// asserts no timing: how many messages the senders manage to offer in the
// window is the machine's business.
func TestChatSmall(t *testing.T) {
	cfg := DefaultChatConfig()
	cfg.Mediaedge, cfg.Centrifugo, cfg.Dir = edgeBinary(t), centrifugoBinary(t), t.TempDir()
	cfg.Users, cfg.Directs, cfg.GroupSize = 10, 20, 10
	cfg.Rate, cfg.GroupRate, cfg.Duration, cfg.Senders = 200, 20, 2*time.Second, 16
	if h := os.Getenv("MEDIAEDGE_CASSANDRA"); h != "" {
		cfg.CassandraHosts = strings.Split(h, ",")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, err := Chat(ctx, cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	targets := []ChatTarget{rep.Embedded, *rep.Ref}
	if rep.Cassandra != nil {
		targets = append(targets, *rep.Cassandra)
	}
	for _, tg := range targets {
		for _, r := range []ChatRun{tg.Direct, tg.Group} {
			want := map[string]int{"direct": 2, "group": 10}[r.Workload]
			if r.Recipients != want || r.Messages < 1 || r.Failed != 0 || r.Lost != 0 || r.Dups != 0 || r.Wrong != 0 ||
				r.Frames != r.Messages*r.Recipients || r.P99 <= 0 {
				t.Errorf("%s %s: %+v", tg.Name, r.Workload, r)
			}
		}
	}
	if rep.Ratio() <= 0 || !strings.Contains(out.String(), "ratio") || !strings.Contains(out.String(), "goal mediaedge embedded") {
		t.Errorf("no ratio or goal in the table (ratio %v)", rep.Ratio())
	}
}

// TestChatLayout: the directs are distinct pairs of distinct users, spread
// evenly, up to every pair there is.
func TestChatLayout(t *testing.T) {
	for _, c := range []struct{ users, directs int }{{10, 20}, {10, 45}, {4, 6}, {5, 10}, {100, 1000}} {
		cfg := ChatConfig{Users: c.users, Directs: c.directs, GroupSize: 2}
		lay := newChatLayout(cfg)
		if len(lay.convs) != c.directs+1 || lay.group != c.directs || len(lay.convs[lay.group]) != 2 {
			t.Fatalf("%+v: %d conversations, group at %d", c, len(lay.convs), lay.group)
		}
		seen := map[[2]int]bool{}
		per := make([]int, c.users)
		for _, p := range lay.convs[:c.directs] {
			a, b := min(p[0], p[1]), max(p[0], p[1])
			if len(p) != 2 || a == b || seen[[2]int{a, b}] {
				t.Fatalf("%+v: bad or repeated pair %v", c, p)
			}
			seen[[2]int{a, b}] = true
			per[a]++
			per[b]++
		}
		if c.directs%c.users == 0 && c.directs < c.users*(c.users-1)/2 {
			for u, n := range per {
				if n != 2*c.directs/c.users {
					t.Errorf("%+v: user %d in %d directs, want %d", c, u, n, 2*c.directs/c.users)
				}
			}
		}
	}
}
