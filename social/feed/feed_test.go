package feed_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/feed"
	"github.com/mediaedge/mediaedge/social/feed/feedtest"
	"github.com/mediaedge/mediaedge/social/feed/pebblestore"
	"github.com/mediaedge/mediaedge/social/posts"
)

var ctx = context.Background()

// The posts service is what the composition root passes as Config.Posts.
var _ feed.Posts = (*posts.Service)(nil)

type env struct {
	t     *testing.T
	svc   *feed.Service
	store feed.Store
	graph *feedtest.Graph
	posts *feedtest.Posts
	evID  int64
}

// setup builds the service on a real Pebble store, a fake graph and fake
// posts; mod changes the config (after the defaults and the fakes).
func setup(t *testing.T, mod ...func(*feed.Config)) *env {
	t.Helper()
	db := socialtest.Pebble(t)
	e := &env{t: t, store: pebblestore.New(db, pebblestore.DefaultConfig()), graph: feedtest.NewGraph(), posts: feedtest.NewPosts(1 << 40)}
	cfg := feed.DefaultConfig()
	cfg.Store, cfg.Graph, cfg.Posts, cfg.Auth = e.store, e.graph, e.posts, socialtest.HeaderAuth{}
	cfg.CelebrityCacheTTL = 0
	for _, m := range mod {
		m(&cfg)
	}
	svc, err := feed.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

func (e *env) handle(kind string, actor int64, data any) {
	e.t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		e.t.Fatal(err)
	}
	e.evID++
	if err := e.svc.Handle(ctx, events.Event{ID: e.evID, Kind: kind, Actor: actor, Data: raw, At: time.Now()}); err != nil {
		e.t.Fatalf("handle %s: %v", kind, err)
	}
}

// post creates a post of author and handles its post.created.
func (e *env) post(author int64) int64 {
	e.t.Helper()
	id := e.posts.Create(author)
	e.handle(feed.KindPostCreated, author, map[string]string{"post_id": fmt.Sprint(id), "author": fmt.Sprint(author)})
	return id
}

func (e *env) follow(a, b int64) {
	e.t.Helper()
	e.graph.Follow(a, b)
	e.handle(feed.KindFollow, a, map[string]string{"user_id": fmt.Sprint(b)})
}

func (e *env) unfollow(a, b int64) {
	e.t.Helper()
	e.graph.Unfollow(a, b)
	e.handle(feed.KindUnfollow, a, map[string]string{"user_id": fmt.Sprint(b)})
}

// rows is user's stored feed, newest first.
func (e *env) rows(user int64) []int64 {
	e.t.Helper()
	es, err := e.store.Read(ctx, user, 0, 100_000)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]int64, len(es))
	for i, x := range es {
		out[i] = x.Post
	}
	return out
}

// readAll pages through user's home feed limit at a time, checking every
// page but the last is full, and returns the post ids.
func (e *env) readAll(user int64, limit int) []int64 {
	e.t.Helper()
	var out []int64
	var cursor int64
	for range 1000 {
		items, next, err := e.svc.Read(ctx, user, cursor, limit)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, it := range items {
			out = append(out, it.ID)
		}
		if next == 0 {
			return out
		}
		if len(items) != limit {
			e.t.Fatalf("page below %d: %d items of %d, with a next cursor", cursor, len(items), limit)
		}
		cursor = next
	}
	e.t.Fatal("feed never ends")
	return nil
}

func newestFirst(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

func TestFanoutReachesEveryFollower(t *testing.T) {
	e := setup(t)
	const author, n = 7, 2500
	for u := int64(1000); u < 1000+n; u++ {
		e.graph.Follow(u, author)
	}
	p := e.post(author)
	e.post(author + 1) // nobody follows 8: only its own feed
	for _, u := range []int64{1000, 1999, 1000 + n - 1, author} {
		if got := e.rows(u); !slices.Equal(got, []int64{p}) {
			t.Fatalf("feed of %d: %v, want [%d]", u, got, p)
		}
	}
	reached := 0
	for u := int64(1000); u < 1000+n; u++ {
		if r := e.rows(u); len(r) == 1 && r[0] == p {
			reached++
		}
	}
	if reached != n {
		t.Fatalf("%d of %d followers got the post", reached, n)
	}
	// A redelivery changes nothing.
	e.handle(feed.KindPostCreated, author, map[string]string{"post_id": fmt.Sprint(p), "author": fmt.Sprint(author)})
	if got := e.rows(1500); !slices.Equal(got, []int64{p}) {
		t.Fatalf("after a redelivery: %v", got)
	}
	if got := e.readAll(1500, 10); !slices.Equal(got, []int64{p}) {
		t.Fatalf("home feed: %v", got)
	}
}

// TestFanoutTiming measures one post fanned out to 10,000 followers (the
// default threshold, inclusive) on Pebble with synced writes.
func TestFanoutTiming(t *testing.T) {
	e := setup(t)
	const author, n = 3, 10_000
	for u := int64(100_000); u < 100_000+n; u++ {
		e.graph.Follow(u, author)
	}
	e.post(author) // warm up
	id := e.posts.Create(author)
	raw, _ := json.Marshal(map[string]string{"post_id": fmt.Sprint(id), "author": fmt.Sprint(author)})
	start := time.Now()
	if err := e.svc.Handle(ctx, events.Event{ID: 99, Kind: feed.KindPostCreated, Actor: author, Data: raw}); err != nil {
		t.Fatal(err)
	}
	t.Logf("pebble: one post fanned out to %d followers in %v", n, time.Since(start))
	for _, u := range []int64{100_000, 100_000 + n - 1} {
		if got := e.rows(u); len(got) != 2 || got[0] != id {
			t.Fatalf("feed of %d: %v", u, got)
		}
	}
	if n, _ := e.store.Celebrities(ctx); len(n) != 0 {
		t.Fatalf("an author of exactly the threshold became a celebrity: %v", n)
	}
}

func TestCelebrityMergedAtRead(t *testing.T) {
	e := setup(t, func(c *feed.Config) { c.CelebrityThreshold = 5 })
	const celeb, edge, fan, other, stranger = 10, 11, 20, 30, 40
	for u := int64(100); u < 106; u++ { // 6 followers: above 5
		e.graph.Follow(u, celeb)
	}
	for u := int64(200); u < 205; u++ { // exactly 5: fanned out
		e.graph.Follow(u, edge)
	}
	e.graph.Follow(fan, celeb)
	e.graph.Follow(fan, other)
	var want []int64
	for i := range 12 {
		if i%3 == 0 {
			want = append(want, e.post(other))
		} else {
			want = append(want, e.post(celeb))
		}
	}
	ep := e.post(edge)
	if got := e.rows(200); !slices.Equal(got, []int64{ep}) {
		t.Fatalf("a follower of an author at the threshold: %v", got)
	}
	if cs, err := e.store.Celebrities(ctx); err != nil || !slices.Equal(cs, []int64{celeb}) {
		t.Fatalf("celebrities %v %v, want [%d]", cs, err, celeb)
	}
	for _, id := range e.rows(fan) {
		if e.posts.Author(id) == celeb {
			t.Fatalf("celebrity post %d was fanned out", id)
		}
	}
	if got := e.rows(100); len(got) != 0 {
		t.Fatalf("a celebrity's follower has rows: %v", got)
	}
	want = newestFirst(want)
	for _, limit := range []int{1, 3, 5, 20} {
		if got := e.readAll(fan, limit); !slices.Equal(got, want) {
			t.Fatalf("home feed by %d: %v, want %v", limit, got, want)
		}
	}
	// The celebrity sees their own posts; a stranger sees nothing.
	if got := e.readAll(celeb, 5); len(got) != 8 {
		t.Fatalf("celebrity's own feed: %v", got)
	}
	if got := e.readAll(stranger, 5); len(got) != 0 {
		t.Fatalf("stranger's feed: %v", got)
	}
	// Following a celebrity back-fills nothing: the read merges them.
	e.follow(stranger, celeb)
	if got := e.rows(stranger); len(got) != 0 {
		t.Fatalf("follow of a celebrity back-filled %v", got)
	}
	if got := e.readAll(stranger, 4); len(got) != 8 {
		t.Fatalf("new follower of the celebrity sees %v", got)
	}
}

func TestFollowBackfills(t *testing.T) {
	e := setup(t)
	const a, b, c = 1, 2, 3
	var bs []int64
	for range 60 {
		bs = append(bs, e.post(b))
	}
	e.follow(a, b)
	want := newestFirst(bs)[:50] // Config.Backfill
	if got := e.rows(a); !slices.Equal(got, want) {
		t.Fatalf("back-fill: %v, want %v", got, want)
	}
	e.follow(a, b) // redelivered
	if got := e.rows(a); !slices.Equal(got, want) {
		t.Fatalf("back-fill twice: %v", got)
	}
	// A follow handled after its unfollow back-fills nothing.
	e.post(c)
	e.handle(feed.KindFollow, a, map[string]string{"user_id": fmt.Sprint(c)})
	if got := e.rows(a); !slices.Equal(got, want) {
		t.Fatalf("stale follow back-filled: %v", got)
	}
	// New posts of b now reach a through the fan-out.
	p := e.post(b)
	if got := e.rows(a); got[0] != p {
		t.Fatalf("a new post of a followee: %v", got[:3])
	}
}

func TestUnfollowAndBlockRemove(t *testing.T) {
	e := setup(t)
	const a, b, c = 1, 2, 3
	e.graph.Follow(a, b)
	e.graph.Follow(a, c)
	e.graph.Follow(b, a)
	var fromC []int64
	for range 5 {
		e.post(b)
		fromC = append(fromC, e.post(c))
	}
	aPost := e.post(a)
	e.unfollow(a, b)
	want := append(newestFirst(fromC), 0)
	copy(want[1:], newestFirst(fromC))
	want[0] = aPost
	if got := e.rows(a); !slices.Equal(got, want) {
		t.Fatalf("after unfollow: %v, want %v", got, want)
	}
	if got := e.readAll(a, 3); !slices.Equal(got, want) {
		t.Fatalf("home feed after unfollow: %v, want %v", got, want)
	}
	// b blocks a: a's posts leave b's feed, b's own posts a's.
	e.graph.Follow(a, b)
	e.follow(a, b)
	if len(e.rows(a)) != 11 || !slices.Contains(e.rows(b), aPost) {
		t.Fatalf("before the block: a %v, b %v", e.rows(a), e.rows(b))
	}
	e.handle(feed.KindBlock, b, map[string]string{"user_id": fmt.Sprint(a)})
	for _, id := range e.rows(b) {
		if e.posts.Author(id) == a {
			t.Fatalf("a's post %d still in b's feed", id)
		}
	}
	if got := e.rows(a); !slices.Equal(got, want) {
		t.Fatalf("a's feed after the block: %v, want %v", got, want)
	}
}

func TestDeletedSkippedPagesFull(t *testing.T) {
	e := setup(t, func(c *feed.Config) { c.CelebrityThreshold = 3; c.MaxRounds = 50 })
	const reader, celeb = 1, 2
	authors := []int64{3, 4, 5}
	for _, a := range authors {
		e.graph.Follow(reader, a)
	}
	for u := int64(100); u < 104; u++ {
		e.graph.Follow(u, celeb)
	}
	e.graph.Follow(reader, celeb)
	var live []int64
	for i := range 200 {
		var id int64
		if i%4 == 0 {
			id = e.post(celeb)
		} else {
			id = e.post(authors[i%3])
		}
		// Runs of deleted posts longer than a page, and scattered ones.
		if (i >= 40 && i < 80) || i%7 == 0 {
			e.posts.Delete(id)
			e.handle(feed.KindPostDeleted, 0, map[string]string{"post_id": fmt.Sprint(id), "author": "3"})
			continue
		}
		live = append(live, id)
	}
	want := newestFirst(live)
	for _, limit := range []int{1, 4, 10, 33} {
		if got := e.readAll(reader, limit); !slices.Equal(got, want) {
			t.Fatalf("by %d: %d posts, want %d\n got %v\nwant %v", limit, len(got), len(want), got, want)
		}
	}
}

func TestShortPageWhenRoundsRunOut(t *testing.T) {
	e := setup(t, func(c *feed.Config) { c.MaxRounds = 1 })
	const reader, a = 1, 2
	e.graph.Follow(reader, a)
	var live []int64
	for i := range 60 {
		id := e.post(a)
		if i < 40 {
			live = append(live, id)
		} else {
			e.posts.Delete(id)
		}
	}
	items, next, err := e.svc.Read(ctx, reader, 0, 5)
	if err != nil || len(items) != 0 || next == 0 {
		t.Fatalf("first page over 20 deleted posts, one round: %d items, next %d, %v", len(items), next, err)
	}
	// Following the cursor still finds every live post, none twice.
	var got []int64
	for cursor := next; cursor != 0; {
		items, next, err := e.svc.Read(ctx, reader, cursor, 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			got = append(got, it.ID)
		}
		cursor = next
	}
	if !slices.Equal(got, newestFirst(live)) {
		t.Fatalf("got %v, want %v", got, newestFirst(live))
	}
}

func TestCapTrims(t *testing.T) {
	e := setup(t, func(c *feed.Config) {
		c.FeedCap, c.TrimEvery, c.PageLimit, c.MaxPageLimit, c.Backfill = 10, 1, 5, 10, 8
	})
	const a, b, c = 1, 2, 3
	e.graph.Follow(a, b)
	var bs []int64
	for range 30 {
		bs = append(bs, e.post(b))
	}
	if got := e.rows(a); !slices.Equal(got, newestFirst(bs)[:10]) {
		t.Fatalf("capped feed: %v", got)
	}
	for range 5 {
		e.posts.Create(c)
	}
	e.follow(a, c)
	if got := e.rows(a); len(got) != 10 {
		t.Fatalf("after a back-fill: %d rows", len(got))
	}
}

// TestTrimEveryBounds: with the default lazy trim, a feed stays near the cap.
func TestTrimEveryBounds(t *testing.T) {
	e := setup(t, func(c *feed.Config) { c.FeedCap, c.TrimEvery, c.MaxPageLimit = 50, 8, 50 })
	const a, b = 1, 2
	e.graph.Follow(a, b)
	for range 400 {
		e.post(b)
	}
	if n := len(e.rows(a)); n < 50 || n > 50+8*6 {
		t.Fatalf("feed of %d rows, cap 50, trim every 8", n)
	}
}

func TestMalformedEventsDropped(t *testing.T) {
	e := setup(t)
	for _, ev := range []events.Event{
		{Kind: feed.KindPostCreated, Data: json.RawMessage(`{"post_id":"x","author":"1"}`)},
		{Kind: feed.KindPostCreated, Data: json.RawMessage(`nope`)},
		{Kind: feed.KindFollow, Actor: 1, Data: json.RawMessage(`{"user_id":"1"}`)},
		{Kind: feed.KindUnfollow, Actor: 1, Data: json.RawMessage(`{}`)},
		{Kind: "something.else", Data: json.RawMessage(`{}`)},
	} {
		if err := e.svc.Handle(ctx, ev); err != nil {
			t.Fatalf("%s %s: %v", ev.Kind, ev.Data, err)
		}
	}
}

// failing is a store whose reads fail, as an unreachable database does.
type failing struct{ feed.Store }

func (failing) Read(context.Context, int64, int64, int) ([]feed.Entry, error) {
	return nil, errors.New("connection refused")
}

func TestHTTP(t *testing.T) {
	e := setup(t)
	const reader, a = 1, 2
	e.graph.Follow(reader, a)
	var ps []int64
	for range 7 {
		ps = append(ps, e.post(a))
	}
	srv := httptest.NewServer(e.svc)
	t.Cleanup(srv.Close)
	down := setup(t, func(c *feed.Config) { c.Store = failing{c.Store} })
	downSrv := httptest.NewServer(down.svc)
	t.Cleanup(downSrv.Close)

	cases := []struct {
		name, base, query, user string
		status                  int
		code, param             string
	}{
		{"no user", srv.URL, "", "", 401, "unauthenticated", ""},
		{"limit zero", srv.URL, "?limit=0", "1", 400, "", "limit"},
		{"limit too big", srv.URL, "?limit=101", "1", 400, "", "limit"},
		{"limit not a number", srv.URL, "?limit=ten", "1", 400, "", "limit"},
		{"bad cursor", srv.URL, "?cursor=abc", "1", 400, "", "cursor"},
		{"negative cursor", srv.URL, "?cursor=-5", "1", 400, "", "cursor"},
		{"store down", downSrv.URL, "", "1", 503, "store_unavailable", ""},
		{"ok", srv.URL, "?limit=3", "1", 200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", c.base+"/v1/feed"+c.query, nil)
			if c.user != "" {
				req.Header.Set(socialtest.UserHeader, c.user)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct {
				Error struct{ Code, Param string }
			}
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != c.status || (c.code != "" && body.Error.Code != c.code) || body.Error.Param != c.param {
				t.Fatalf("status %d %+v, want %d %s %s", res.StatusCode, body.Error, c.status, c.code, c.param)
			}
			if c.status == 503 && res.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		})
	}

	// Paging through the API: ids as strings, next_cursor "" at the end.
	var got []int64
	cursor := ""
	for pages := 0; ; pages++ {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/feed?limit=3&cursor="+cursor, nil)
		req.Header.Set(socialtest.UserHeader, "1")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct {
				ID     string `json:"id"`
				Author string `json:"author"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || page.Items == nil || page.NextCursor == nil {
			t.Fatalf("page %d: %d %+v %v", pages, res.StatusCode, page, err)
		}
		for _, it := range page.Items {
			id, _ := strconv.ParseInt(it.ID, 10, 64)
			got = append(got, id)
		}
		if *page.NextCursor == "" {
			break
		}
		cursor = *page.NextCursor
	}
	if !slices.Equal(got, newestFirst(ps)) {
		t.Fatalf("paged %v, want %v", got, newestFirst(ps))
	}
	// An empty feed is an empty list, not null.
	req, _ := http.NewRequest("GET", srv.URL+"/v1/feed", nil)
	req.Header.Set(socialtest.UserHeader, "999")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(res.Body).Decode(&raw); err != nil || string(raw["items"]) != "[]" || string(raw["next_cursor"]) != `""` {
		t.Fatalf("empty feed: %s %v", raw, err)
	}
}

func TestConfig(t *testing.T) {
	if err := feed.DefaultConfig().Validate(); err == nil || !strings.Contains(err.Error(), "no store") {
		t.Fatalf("default config without a store: %v", err)
	}
	c := feed.DefaultConfig()
	c.FeedCap, c.CelebrityThreshold = 0, -1
	err := c.Validate()
	for _, want := range []string{"feed cap", "celebrity threshold", "no follow graph", "no posts"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate: %v, want it to name %q", err, want)
		}
	}
	if d := feed.DefaultConfig(); d.CelebrityThreshold != 10_000 || d.FeedCap != 800 || d.Backfill != 50 || d.Fanout.Name != "feed-fanout" {
		t.Fatalf("defaults %+v", d)
	}
}
