package bench

// Feed benchmark (issue #12): one author with Followers followers, through
// `mediaedge serve` on the embedded store and on Cassandra.
//
//   - fan-out: the author posts (text only) Posts times, PostGap apart;
//     for each post a random Sample of followers polls GET
//     /v1/feed?limit=1 until the post is on top. A follower's visibility is
//     from just before the POST to the answer that showed it (an upper
//     bound: it includes up to one poll round, a few ms to ~100 ms with
//     the sample's size). After the last post every follower's feed is
//     read once and each post counted in it.
//   - reads: GET /v1/feed?limit=20 by random followers, ReadConc requests
//     in flight (closed loop), Reads in all.
//   - likes: the first Likes followers each PUT /v1/posts/{id}/like once on
//     the first post, offered open-loop at LikeRate with at most
//     LikeInFlight requests in flight (the schedule slips when they are
//     all taken; the achieved rate is printed). One second after the last
//     answer, GET /v1/posts/{id} must count exactly the likes answered 2xx.
//
// The goals: fan-out to 10,000 followers visible in every
// follower's feed at p99 <= 2 s, feed reads at p99 <= 20 ms, 10,000
// likes/s on one post with the count exact a second after the load.
//
// Seeding: 10,000 sign-ups through HTTP would be 10,000 argon2 hashes (~1
// CPU-hour here), so the accounts, their sessions and the follows are
// written through the users store libraries before the server starts
// (embedded: DATA/social opened with users/pebblestore while no server
// holds it; Cassandra: a fresh keyspace). Every account has the same
// precomputed argon2id hash; sessions are stored as the users service
// stores them (SHA-256 of a random 32-byte token we keep), and each follow
// is a store Follow with its "follow" event, so the server's relay and
// consumers (feed back-fill, notifications, push) handle 10,000 follow
// events after it starts. The bench waits for that backlog to drain:
// until the server process used under 5% of a core for three half-second
// samples in a row (bounded by DrainTimeout; the report prints how long
// it took, or that it gave up), so the fan-out is not timed against it.
//
// References, on the same machine and data, run after the server stopped
// (so nothing competes for the two cores): the same feed rows written
// straight into the store (Pebble: the f/e/<user><post> keys in batches of
// 1,000, each committed with a WAL sync, as the fan-out's store writes a
// page; Cassandra: single-row INSERTs into feed_entries, 64 in flight, as
// the feed store does); one feed partition read raw (a Pebble iterator
// over the newest 20 keys; SELECT ... LIMIT 20), ReadConc at once; the
// like rows written raw (Pebble: one synced batch per p/like/<post><user>
// key; INSERT INTO post_likes), LikeInFlight at once as fast as they go.
// The raw loops skip what the services add on top (auth, the outbox and
// its relay, JetStream, the consumer, graph reads, rendering, the exact
// count's read-then-write under the post's lock), which is what the
// ratios measure. The key layouts are copied from the stores' doc
// comments (social/feed/pebblestore, social/posts/pebblestore).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/users"
	userscassandra "github.com/mediaedge/mediaedge/social/users/cassandrastore"
	userspebble "github.com/mediaedge/mediaedge/social/users/pebblestore"
)

// FeedConfig configures the feed benchmark.
type FeedConfig struct {
	Mediaedge string // the mediaedge binary (required)
	// CassandraHosts are the contact points of the Cassandra run; empty
	// skips it (the report says so).
	CassandraHosts []string
	// Followers of the author (10,000: the celebrity threshold, inclusive,
	// so the posts are fanned out on write).
	Followers int
	// Posts the author makes, PostGap apart (after the previous one was
	// seen by the whole sample, or VisibleWithin passed).
	Posts   int
	PostGap time.Duration
	// Sample is how many random followers poll for each post; a follower
	// not seeing it within VisibleWithin is counted missing from the sample.
	Sample        int
	VisibleWithin time.Duration
	// Pollers are the sample's requests in flight.
	Pollers int
	// Reads home-feed reads, ReadConc in flight.
	Reads, ReadConc int
	// Likes distinct followers like the first post once each (at most
	// Followers), offered at LikeRate a second, LikeInFlight in flight.
	Likes, LikeRate, LikeInFlight int
	// RequestTimeout bounds every request; DrainTimeout the wait for the
	// seeded follow events; Timeout each target's whole run.
	RequestTimeout, DrainTimeout, Timeout time.Duration
	// Dir for the servers' data; "" = a temp folder.
	Dir string
}

// DefaultFeedConfig is the run.
func DefaultFeedConfig() FeedConfig {
	return FeedConfig{Followers: 10_000, Posts: 5, PostGap: time.Second, Sample: 500, VisibleWithin: 30 * time.Second, Pollers: 16,
		Reads: 3000, ReadConc: 16, Likes: 10_000, LikeRate: 10_000, LikeInFlight: 256,
		RequestTimeout: 10 * time.Second, DrainTimeout: 5 * time.Minute, Timeout: 30 * time.Minute}
}

// Validate reports every problem at once.
func (c FeedConfig) Validate() error {
	var errs []error
	if c.Mediaedge == "" {
		errs = append(errs, errors.New("feed benchmark: the mediaedge binary is required"))
	}
	if c.Followers < 1 || c.Posts < 1 || c.Sample < 1 || c.Pollers < 1 || c.Reads < 1 || c.ReadConc < 1 ||
		c.Likes < 1 || c.LikeRate < 1 || c.LikeInFlight < 1 {
		errs = append(errs, errors.New("feed benchmark: want followers, posts, sample, pollers, reads, read concurrency, likes, like rate and in-flight likes of 1 or more"))
	}
	if c.Sample > c.Followers || c.Likes > c.Followers {
		errs = append(errs, fmt.Errorf("feed benchmark: sample %d and likes %d: at most the %d followers", c.Sample, c.Likes, c.Followers))
	}
	if c.Posts > 100 {
		errs = append(errs, fmt.Errorf("feed benchmark: posts %d: at most 100 (one feed page holds them all)", c.Posts))
	}
	if c.PostGap < 0 || c.VisibleWithin <= 0 || c.RequestTimeout <= 0 || c.DrainTimeout <= 0 || c.Timeout <= 0 {
		errs = append(errs, errors.New("feed benchmark: want positive timeouts and no negative post gap"))
	}
	return errors.Join(errs...)
}

// FeedFanout is the fan-out of the posts to the followers' feeds.
type FeedFanout struct {
	Posts, Sample int
	// P50, P99, Max of every sampled follower's visibility, all posts.
	P50, P99, Max time.Duration
	// Whole is, per post, when the last sampled follower saw it; WholeMax
	// the largest.
	Whole    []time.Duration
	WholeMax time.Duration
	// Missing sampled followers that did not see their post in time;
	// PollErrs polls answered with an error.
	Missing, PollErrs int
	// Saw is, per post, how many of the Followers had it in their feed
	// in the final check.
	Saw       []int
	Followers int
	// Raw is the median time to write the same rows straight into the
	// store (author and every follower, one post).
	Raw time.Duration
}

// FeedReads is the home-feed read run.
type FeedReads struct {
	Reads, Conc, Errors int
	P50, P99            time.Duration
	RawP50, RawP99      time.Duration // one feed partition read raw
}

// FeedLikes is the like run.
type FeedLikes struct {
	Offered, OK, Failed int
	OfferedPerSec       float64
	PerSec              float64 // 2xx likes over the time to the last answer
	P50, P99            time.Duration
	// Count is the post's likes one second after the load; Exact when it
	// equals OK.
	Count int64
	Exact bool
	// RawPerSec is like rows written raw a second, RawP99 their latency.
	RawPerSec float64
	RawP99    time.Duration
	FirstErr  string
}

// FeedTarget is one server's measurements.
type FeedTarget struct {
	Name  string
	Seed  time.Duration // writing the accounts, sessions and follows
	Drain time.Duration // until the server was idle after start
	// Drained is false when DrainTimeout passed first.
	Drained bool
	Fanout  FeedFanout
	Reads   FeedReads
	Likes   FeedLikes
}

// The goals.
const (
	FeedGoalVisibleP99 = 2 * time.Second
	FeedGoalReadP99    = 20 * time.Millisecond
	FeedGoalLikeRate   = 10_000
)

// Goals says whether t met each goal, and why not.
func (t FeedTarget) Goals() []string {
	f, r, l := t.Fanout, t.Reads, t.Likes
	var out []string
	sawAll := f.Missing == 0 && !slices.ContainsFunc(f.Saw, func(n int) bool { return n != f.Followers })
	switch {
	case !sawAll:
		out = append(out, fmt.Sprintf("fan-out not met: %d sampled missing, saw %v of %d", f.Missing, f.Saw, f.Followers))
	case f.P99 > FeedGoalVisibleP99:
		out = append(out, fmt.Sprintf("fan-out not met: p99 %s > %s", f.P99.Round(time.Millisecond), FeedGoalVisibleP99))
	default:
		out = append(out, fmt.Sprintf("fan-out met: p99 %s to %d followers", f.P99.Round(time.Millisecond), f.Followers))
	}
	if r.Errors > 0 || r.P99 > FeedGoalReadP99 {
		out = append(out, fmt.Sprintf("reads not met: p99 %s, %d errors", r.P99.Round(100*time.Microsecond), r.Errors))
	} else {
		out = append(out, fmt.Sprintf("reads met: p99 %s", r.P99.Round(100*time.Microsecond)))
	}
	switch {
	case l.OfferedPerSec < FeedGoalLikeRate:
		out = append(out, fmt.Sprintf("likes not tested: offered %.0f/s", l.OfferedPerSec))
	case !l.Exact || l.Failed > 0 || l.PerSec < 0.95*FeedGoalLikeRate:
		out = append(out, fmt.Sprintf("likes not met: %.0f/s achieved, %d failed, count %d of %d", l.PerSec, l.Failed, l.Count, l.OK))
	default:
		out = append(out, fmt.Sprintf("likes met: %.0f/s, count exact", l.PerSec))
	}
	return out
}

// FeedReport is the result.
type FeedReport struct {
	Embedded  FeedTarget
	Cassandra *FeedTarget // nil when skipped (no hosts)
}

// Feed runs the benchmark and prints a table to out.
func Feed(ctx context.Context, cfg FeedConfig, out io.Writer) (FeedReport, error) {
	var rep FeedReport
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	if _, err := raiseNoFile(uint64(cfg.LikeInFlight+cfg.Pollers+cfg.ReadConc) + 1024); err != nil {
		return rep, err
	}
	dir, cleanup, err := benchDir(cfg.Dir)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	// One hash for every account: seeding hashes no password per user.
	hash, err := users.Argon2{Params: users.DefaultArgon2Params()}.Hash("a long enough password")
	if err != nil {
		return rep, err
	}
	// Node 1023: the server makes its ids as node 0 (--node-id default).
	gen, err := ids.New(1023)
	if err != nil {
		return rep, err
	}
	edir := filepath.Join(dir, "embedded")
	openPebble := func() (feedRaw, error) {
		db, err := pebble.Open(filepath.Join(edir, "social"), &pebble.Options{Logger: evQuietPebble{}})
		if err != nil {
			return nil, err
		}
		// Seeding writes without a WAL sync; close flushes (feedSeed).
		return &feedPebble{db: db, us: userspebble.New(db, userspebble.Config{})}, nil
	}
	rep.Embedded, err = feedTarget(ctx, cfg, gen, hash, "mediaedge embedded", edir, openPebble)
	if err != nil {
		return rep, fmt.Errorf("mediaedge (embedded): %w", err)
	}
	if len(cfg.CassandraHosts) > 0 {
		t, err := feedCassandra(ctx, cfg, gen, hash, filepath.Join(dir, "cassandra"))
		if err != nil {
			return rep, fmt.Errorf("mediaedge (cassandra): %w", err)
		}
		rep.Cassandra = &t
	}
	printFeed(out, cfg, rep)
	return rep, nil
}

// feedCassandra runs the target on a fresh keyspace and drops it after.
func feedCassandra(ctx context.Context, cfg FeedConfig, gen *ids.Generator, hash, dir string) (FeedTarget, error) {
	ks, drop, err := freshKeyspace(ctx, cfg.CassandraHosts, "bench_feed_")
	if err != nil {
		return FeedTarget{}, err
	}
	defer drop()
	ccfg := cassandra.DefaultConfig()
	ccfg.Hosts = cfg.CassandraHosts
	ccfg.Keyspace = ks
	s, err := cassandra.NewSession(ccfg)
	if err != nil {
		return FeedTarget{}, err
	}
	defer s.Close()
	us, err := userscassandra.New(s, userscassandra.DefaultConfig())
	if err != nil {
		return FeedTarget{}, err
	}
	raw := &feedCassandraRaw{s: s, us: us}
	return feedTarget(ctx, cfg, gen, hash, "mediaedge cassandra", dir, func() (feedRaw, error) { return raw, nil },
		"--store", "cassandra", "--cassandra-hosts", strings.Join(cfg.CassandraHosts, ","), "--cassandra-keyspace", ks)
}

// feedUser is a seeded account with its bearer token.
type feedUser struct {
	id    int64
	token string
}

// feedTarget seeds the store, runs the three workloads against `mediaedge
// serve` (extra: store flags), stops it and runs the raw references.
func feedTarget(ctx context.Context, cfg FeedConfig, gen *ids.Generator, hash, name, dir string,
	open func() (feedRaw, error), extra ...string) (FeedTarget, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	t := FeedTarget{Name: name}
	raw, err := open()
	if err != nil {
		return t, fmt.Errorf("open the store: %w", err)
	}
	start := time.Now()
	author, followers, err := feedSeed(ctx, cfg, gen, hash, raw.users())
	if err == nil {
		err = raw.close()
	} else {
		_ = raw.close()
	}
	if err != nil {
		return t, fmt.Errorf("seed: %w", err)
	}
	t.Seed = time.Since(start)

	p, err := startMediaedge(ctx, cfg.Mediaedge, dir, benchToken, extra...)
	if err != nil {
		return t, err
	}
	stopped := false
	defer func() {
		if !stopped {
			p.Stop()
		}
	}()
	m := &wsMediaedge{p: p, api: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.LikeInFlight + cfg.Pollers}}}
	start = time.Now()
	if err := m.call(ctx, m.api, "GET", "/v1/feed?limit=1", author.token, nil, http.StatusOK, nil); err != nil {
		return t, fmt.Errorf("the author's feed: %w", err)
	}
	t.Drained = feedDrain(ctx, p, cfg.DrainTimeout)
	t.Drain = time.Since(start)

	postIDs, err := feedFanoutRun(ctx, cfg, m, author, followers, &t.Fanout)
	if err != nil {
		return t, fmt.Errorf("fan-out: %w", err)
	}
	if t.Reads, err = feedReadRun(ctx, cfg, m, followers); err != nil {
		return t, fmt.Errorf("reads: %w", err)
	}
	if t.Likes, err = feedLikeRun(ctx, cfg, m, author, followers, postIDs[0]); err != nil {
		return t, fmt.Errorf("likes: %w", err)
	}
	p.Stop()
	stopped = true

	if raw, err = open(); err != nil {
		return t, fmt.Errorf("reopen the store: %w", err)
	}
	err = feedReference(ctx, cfg, gen, raw, author.id, followers, &t)
	if cerr := raw.close(); err == nil {
		err = cerr
	}
	return t, err
}

// feedDrain waits until the server used under 5% of a core for three
// half-second samples in a row (its relay and consumers are through the
// seeded events), or limit passed; it reports which.
func feedDrain(ctx context.Context, p *process, limit time.Duration) bool {
	cpu := pidCPU(p.cmd.Process.Pid)
	const every = 500 * time.Millisecond
	quiet := 0
	last := cpu()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(every):
		}
		now := cpu()
		if now-last < every/20 {
			if quiet++; quiet == 3 {
				return true
			}
		} else {
			quiet = 0
		}
		last = now
	}
	return false
}

// feedGet is one GET of a follower's feed, never retried: an error
// answer is counted, not hidden. It returns the items' ids.
func feedGet(ctx context.Context, m *wsMediaedge, token string, limit int, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out struct{ Items []struct{ ID string } }
	if err := feedDo(ctx, m, "GET", "/v1/feed?limit="+strconv.Itoa(limit), token, &out); err != nil {
		return nil, err
	}
	ids := make([]string, len(out.Items))
	for i, it := range out.Items {
		ids[i] = it.ID
	}
	return ids, nil
}

// feedDo makes one request, never retried, wanting 200.
func feedDo(ctx context.Context, m *wsMediaedge, method, path, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, m.p.Base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := m.api.Do(req)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %.200s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// feedFanoutRun posts cfg.Posts times and times each post's way into a
// sample of feeds, then checks every follower's feed once.
func feedFanoutRun(ctx context.Context, cfg FeedConfig, m *wsMediaedge, author feedUser, followers []feedUser, f *FeedFanout) ([]string, error) {
	f.Posts, f.Sample, f.Followers = cfg.Posts, cfg.Sample, len(followers)
	rng := mrand.New(mrand.NewPCG(1, 2))
	var all []time.Duration
	var postIDs []string
	var pollErrs atomic.Int64
	for k := range cfg.Posts {
		if k > 0 {
			select {
			case <-time.After(cfg.PostGap):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		sample := rng.Perm(len(followers))[:cfg.Sample]
		t0 := time.Now()
		var post struct{ ID string }
		pctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
		err := m.call(pctx, m.api, "POST", "/v1/posts", author.token, map[string]any{"text": fmt.Sprintf("feed bench post %d", k)}, http.StatusCreated, &post)
		cancel()
		if err != nil {
			return nil, err
		}
		postIDs = append(postIDs, post.ID)
		// A queue the pollers take followers from and put back those that
		// do not see the post yet; it holds the whole sample, so a put
		// never blocks.
		q := make(chan int, len(sample))
		for _, i := range sample {
			q <- i
		}
		var mu sync.Mutex // guards lat and missing
		var lat []time.Duration
		missing := 0
		left := atomic.Int64{}
		left.Store(int64(len(sample)))
		done := make(chan struct{})
		finish := func() {
			if left.Add(-1) == 0 {
				close(done)
			}
		}
		var wg sync.WaitGroup
		for range min(cfg.Pollers, len(sample)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					var i int
					select {
					case <-done:
						return
					case <-ctx.Done():
						return
					case i = <-q:
					}
					got, err := feedGet(ctx, m, followers[i].token, 1, cfg.RequestTimeout)
					at := time.Since(t0)
					switch {
					case err == nil && len(got) > 0 && got[0] == post.ID:
						mu.Lock()
						lat = append(lat, at)
						mu.Unlock()
						finish()
						continue
					case err != nil:
						pollErrs.Add(1)
					}
					if at > cfg.VisibleWithin {
						mu.Lock()
						missing++
						mu.Unlock()
						finish()
						continue
					}
					q <- i
				}
			}()
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		slices.Sort(lat)
		f.Missing += missing
		if len(lat) > 0 {
			f.Whole = append(f.Whole, lat[len(lat)-1])
			f.WholeMax = max(f.WholeMax, lat[len(lat)-1])
		}
		all = append(all, lat...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		f.P50, f.P99, f.Max = evPct(all, 50), evPct(all, 99), all[len(all)-1]
	}
	f.PollErrs = int(pollErrs.Load())
	// Every follower once: which of the posts are in the feed.
	index := map[string]int{}
	for k, id := range postIDs {
		index[id] = k
	}
	saw := make([]atomic.Int64, len(postIDs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Pollers)
	for _, u := range followers {
		g.Go(func() error {
			got, err := feedGet(gctx, m, u.token, min(100, cfg.Posts+10), cfg.RequestTimeout)
			if err != nil {
				return fmt.Errorf("final check of %d: %w", u.id, err)
			}
			for _, id := range got {
				if k, ok := index[id]; ok {
					saw[k].Add(1)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for k := range saw {
		f.Saw = append(f.Saw, int(saw[k].Load()))
	}
	return postIDs, nil
}

// feedReadRun reads random followers' feeds, cfg.ReadConc at once.
func feedReadRun(ctx context.Context, cfg FeedConfig, m *wsMediaedge, followers []feedUser) (FeedReads, error) {
	r := FeedReads{Reads: cfg.Reads, Conc: cfg.ReadConc}
	lat, errs := feedClosedLoop(ctx, cfg.Reads, cfg.ReadConc, func(rng *mrand.Rand) error {
		_, err := feedGet(ctx, m, followers[rng.IntN(len(followers))].token, 20, cfg.RequestTimeout)
		return err
	})
	if err := ctx.Err(); err != nil {
		return r, err
	}
	r.Errors = errs
	if len(lat) > 0 {
		r.P50, r.P99 = evPct(lat, 50), evPct(lat, 99)
	}
	if errs == cfg.Reads {
		return r, errors.New("every read failed")
	}
	return r, nil
}

// feedClosedLoop runs op n times, conc at once, and returns the sorted
// latencies of those that succeeded and the count of those that failed.
func feedClosedLoop(ctx context.Context, n, conc int, op func(rng *mrand.Rand) error) ([]time.Duration, int) {
	var next, failed atomic.Int64
	lats := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w), 7))
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				t0 := time.Now()
				if err := op(rng); err != nil {
					failed.Add(1)
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	all := slices.Concat(lats...)
	slices.Sort(all)
	return all, int(failed.Load())
}

// feedLikeRun has the first cfg.Likes followers like post once each,
// offered open-loop at cfg.LikeRate, then checks the count a second after
// the last answer.
func feedLikeRun(ctx context.Context, cfg FeedConfig, m *wsMediaedge, author feedUser, followers []feedUser, post string) (FeedLikes, error) {
	l := FeedLikes{Offered: cfg.Likes, OfferedPerSec: float64(cfg.LikeRate)}
	path := "/v1/posts/" + post + "/like"
	sem := make(chan struct{}, cfg.LikeInFlight)
	var mu sync.Mutex // guards lat, l.OK, l.Failed, l.FirstErr
	var lat []time.Duration
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(cfg.LikeRate)
	start := time.Now()
	for k := range cfg.Likes {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			rctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
			t0 := time.Now()
			err := feedDo(rctx, m, "PUT", path, followers[k].token, nil)
			d := time.Since(t0)
			cancel()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				l.Failed++
				if l.FirstErr == "" {
					l.FirstErr = fmt.Sprintf("like %d: %v", k, err)
				}
				return
			}
			l.OK++
			lat = append(lat, d)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return l, err
	}
	l.PerSec = float64(l.OK) / elapsed.Seconds()
	slices.Sort(lat)
	if len(lat) > 0 {
		l.P50, l.P99 = evPct(lat, 50), evPct(lat, 99)
	}
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return l, ctx.Err()
	}
	var p struct{ Likes int64 }
	gctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	defer cancel()
	if err := feedDo(gctx, m, "GET", "/v1/posts/"+post, author.token, &p); err != nil {
		return l, err
	}
	l.Count, l.Exact = p.Likes, p.Likes == int64(l.OK)
	return l, nil
}

func printFeed(out io.Writer, cfg FeedConfig, rep FeedReport) {
	targets := []*FeedTarget{&rep.Embedded}
	if rep.Cassandra != nil {
		targets = append(targets, rep.Cassandra)
	}
	ms := func(d time.Duration) string {
		if d < time.Millisecond {
			return d.Round(time.Microsecond).String()
		}
		return d.Round(100 * time.Microsecond).String()
	}
	ratio := func(a, b float64) string {
		if b <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", a/b)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "feed: one author with %d followers (seeded through the users store); %d text posts %s apart, visibility polled by %d random followers (%d polls in flight; upper bound, from before the POST to the answer showing it)\n",
		cfg.Followers, cfg.Posts, cfg.PostGap, cfg.Sample, cfg.Pollers)
	fmt.Fprintln(tw, "target\tseed\tdrain\tvisible p50\tp99\tmax\tlast of sample per post\tmissing\tpoll errs\tsaw it (final check)\traw write of the rows\tratio p99/raw")
	for _, t := range targets {
		f := t.Fanout
		drain := t.Drain.Round(time.Second).String()
		if !t.Drained {
			drain += " (not idle)"
		}
		whole := make([]string, len(f.Whole))
		for i, d := range f.Whole {
			whole[i] = d.Round(time.Millisecond).String()
		}
		saw := make([]string, len(f.Saw))
		for i, n := range f.Saw {
			saw[i] = strconv.Itoa(n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s of %d\t%s\t%s\n", t.Name, t.Seed.Round(time.Second), drain,
			ms(f.P50), ms(f.P99), ms(f.Max), strings.Join(whole, " "), f.Missing, f.PollErrs, strings.Join(saw, "/"), f.Followers,
			ms(f.Raw), ratio(float64(f.P99), float64(f.Raw)))
	}
	tw.Flush()
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "home feed reads: GET /v1/feed?limit=20 by random followers, %d in flight, %d reads; raw: one feed partition's newest 20 rows, as many, as concurrent\n", cfg.ReadConc, cfg.Reads)
	fmt.Fprintln(tw, "target\treads\terrors\tp50\tp99\traw p50\traw p99\tratio p99/raw p99")
	for _, t := range targets {
		r := t.Reads
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", t.Name, r.Reads, r.Errors, ms(r.P50), ms(r.P99), ms(r.RawP50), ms(r.RawP99),
			ratio(float64(r.P99), float64(r.RawP99)))
	}
	tw.Flush()
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "likes: %d distinct followers like one post once, offered at %d/s, at most %d in flight; count read 1 s after the last answer; raw: the like rows alone, %d in flight, as fast as they go\n",
		cfg.Likes, cfg.LikeRate, cfg.LikeInFlight, cfg.LikeInFlight)
	fmt.Fprintln(tw, "target\tlikes\toffered/s\tachieved/s\tfailed\tp50\tp99\tcount\texact\traw rows/s\traw p99\tratio achieved/raw")
	for _, t := range targets {
		l := t.Likes
		exact := "exact"
		if !l.Exact {
			exact = fmt.Sprintf("off by %+d", l.Count-int64(l.OK))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%d\t%s\t%s\t%d\t%s\t%.0f\t%s\t%s\n", t.Name, l.OK, l.OfferedPerSec, l.PerSec, l.Failed,
			ms(l.P50), ms(l.P99), l.Count, exact, l.RawPerSec, ms(l.RawP99), ratio(l.PerSec, l.RawPerSec))
	}
	tw.Flush()
	if rep.Cassandra == nil {
		fmt.Fprintln(out, "mediaedge cassandra: skipped (no hosts: --feed-cassandra-hosts or MEDIAEDGE_CASSANDRA)")
	}
	for _, t := range targets {
		fmt.Fprintf(out, "goals %s (visible p99 <= %s, read p99 <= %s, %d likes/s exact): %s\n", t.Name,
			FeedGoalVisibleP99, FeedGoalReadP99, FeedGoalLikeRate, strings.Join(t.Goals(), "; "))
		if t.Likes.FirstErr != "" {
			fmt.Fprintf(out, "%s likes: %d failed, the first: %s\n", t.Name, t.Likes.Failed, t.Likes.FirstErr)
		}
	}
}
