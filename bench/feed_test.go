package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestFeedSmall runs the feed benchmark at a toy size on the embedded
// store (and on Cassandra when MEDIAEDGE_CASSANDRA names hosts): every
// follower's feed holds every post, no sampled follower misses one, every
// read answers, and the like count equals the likes answered 2xx, which
// are all of them. It asserts no timing.
func TestFeedSmall(t *testing.T) {
	cfg := DefaultFeedConfig()
	cfg.Mediaedge, cfg.Dir = edgeBinary(t), t.TempDir()
	cfg.Followers, cfg.Posts, cfg.PostGap, cfg.Sample = 300, 2, 100*time.Millisecond, 50
	cfg.Reads, cfg.Likes, cfg.LikeRate, cfg.LikeInFlight = 200, 300, 1000, 32
	cfg.DrainTimeout, cfg.Timeout = time.Minute, 5*time.Minute
	if h := os.Getenv("MEDIAEDGE_CASSANDRA"); h != "" {
		cfg.CassandraHosts = strings.Split(h, ",")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, err := Feed(ctx, cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	targets := []FeedTarget{rep.Embedded}
	if rep.Cassandra != nil {
		targets = append(targets, *rep.Cassandra)
	}
	for _, tg := range targets {
		f, r, l := tg.Fanout, tg.Reads, tg.Likes
		if f.Missing != 0 || len(f.Saw) != cfg.Posts || len(f.Whole) != cfg.Posts || f.P99 <= 0 || f.Raw <= 0 {
			t.Errorf("%s fan-out: %+v", tg.Name, f)
		}
		for k, n := range f.Saw {
			if n != cfg.Followers {
				t.Errorf("%s: post %d in %d of %d feeds", tg.Name, k, n, cfg.Followers)
			}
		}
		if r.Errors != 0 || r.P99 <= 0 || r.RawP99 <= 0 {
			t.Errorf("%s reads: %+v", tg.Name, r)
		}
		if l.OK != cfg.Likes || l.Failed != 0 || !l.Exact || l.Count != int64(cfg.Likes) || l.RawPerSec <= 0 {
			t.Errorf("%s likes: %+v", tg.Name, l)
		}
	}
	if s := out.String(); !strings.Contains(s, "ratio") || !strings.Contains(s, "goals mediaedge embedded") {
		t.Error("no ratios or goals in the report")
	}
}
