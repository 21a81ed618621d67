package stories_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/notify"
	notifystore "github.com/mediaedge/mediaedge/social/notify/pebblestore"
	"github.com/mediaedge/mediaedge/social/stories"
	"github.com/mediaedge/mediaedge/social/stories/pebblestore"
	"github.com/mediaedge/mediaedge/social/stories/storiestest"
)

// faulty fails every Get when on (a database that went away).
type faulty struct {
	*pebblestore.Store
	on bool
}

func (f *faulty) Get(ctx context.Context, id int64) (stories.Story, error) {
	if f.on {
		return stories.Story{}, errors.New("dial tcp 10.0.0.7:9042: connection refused")
	}
	return f.Store.Get(ctx, id)
}

type env struct {
	t       *testing.T
	db      *pebble.DB
	store   *faulty
	svc     *stories.Service
	srv     *httptest.Server
	clock   *socialtest.Clock // starts at the real time, so story ids (made from it) are never ahead of it
	notices int
}

const ttl = 2 * time.Second

// Users 1..9 exist; 1 follows 2, 3 and 4. Media "m1", "v1" and "g1" are
// user 1's (an image, a video, a GIF), "m2" user 2's, "m3" user 3's, "pdf1"
// user 1's PDF. mod changes the config before the service is built.
func setup(t *testing.T, mod ...func(*stories.Config)) *env {
	t.Helper()
	db := socialtest.Pebble(t)
	gen, err := ids.New(1)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, clock: socialtest.NewClock(time.Now())}
	sc := pebblestore.DefaultConfig()
	sc.Sync, sc.Now = false, e.clock.Now
	e.store = &faulty{Store: pebblestore.New(db, sc)}
	media := map[string]stories.MediaInfo{
		"m1": {Owner: "user:1", Type: "image/jpeg"}, "v1": {Owner: "user:1", Type: "video/mp4"},
		"g1": {Owner: "user:1", Type: "image/gif"}, "pdf1": {Owner: "user:1", Type: "application/pdf"},
		"m2": {Owner: "user:2", Type: "image/png"}, "m3": {Owner: "user:3", Type: "image/jpeg"},
	}
	cfg := stories.DefaultConfig()
	cfg.Store, cfg.IDs, cfg.Auth, cfg.Now, cfg.TTL = e.store, gen, socialtest.HeaderAuth{}, e.clock.Now, ttl
	cfg.Graph = storiestest.Graph{Following: map[int64][]int64{1: {2, 3, 4}}}
	cfg.Notify = func() { e.notices++ }
	cfg.UserIDs = func(_ context.Context, names []string) (map[string]int64, error) {
		out := map[string]int64{}
		for _, n := range names {
			if id, err := strconv.ParseInt(strings.TrimPrefix(n, "user"), 10, 64); err == nil && id >= 1 && id <= 9 {
				out[n] = id
			}
		}
		return out, nil
	}
	cfg.MediaInfo = func(_ context.Context, id string) (stories.MediaInfo, error) {
		if m, ok := media[id]; ok {
			return m, nil
		}
		return stories.MediaInfo{}, stories.ErrNoMedia
	}
	for _, m := range mod {
		m(&cfg)
	}
	if e.svc, err = stories.New(cfg); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.svc)
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request as user uid (0: anonymous); body is JSON-encoded
// unless a string; hdr are header name, value pairs.
func (e *env) do(uid int64, method, path string, body any, hdr ...string) (int, map[string]any) {
	e.t.Helper()
	st, m, _ := socialtest.Do(e.t, method, e.srv.URL+path, uid, body, hdr...)
	return st, m
}

// post creates a story as uid and returns its id.
func (e *env) post(uid int64, body map[string]any) string {
	e.t.Helper()
	st, m := e.do(uid, "POST", "/v1/stories", body)
	if st != 201 {
		e.t.Fatalf("post story: %d %v", st, m)
	}
	return m["id"].(string)
}

func errCode(m map[string]any) (code, param string) {
	e, _ := m["error"].(map[string]any)
	code, _ = e["code"].(string)
	param, _ = e["param"].(string)
	return code, param
}

func (e *env) want(what string, st int, m map[string]any, status int, code string) {
	e.t.Helper()
	if c, _ := errCode(m); st != status || c != code {
		e.t.Fatalf("%s: %d %v, want %d %s", what, st, m, status, code)
	}
}

// outbox returns the events in the outbox, in id order.
func (e *env) outbox() []events.Event {
	e.t.Helper()
	return socialtest.ReadOutbox(e.t, socialtest.PebbleOutbox(e.t, e.db))
}

func TestPostAndGet(t *testing.T) {
	e := setup(t)
	st, m := e.do(1, "POST", "/v1/stories", map[string]any{"media_id": "m1", "caption": "hello", "hide_from": []string{"5", "1", "5"}})
	if st != 201 {
		t.Fatalf("post: %d %v", st, m)
	}
	id := m["id"].(string)
	media := m["media"].(map[string]any)
	created, _ := time.Parse(time.RFC3339Nano, m["created_at"].(string))
	expires, _ := time.Parse(time.RFC3339Nano, m["expires_at"].(string))
	if m["owner"] != "1" || m["caption"] != "hello" || m["views"] != 0.0 || m["liked_by_me"] != false ||
		media["id"] != "m1" || media["type"] != "image/jpeg" || media["url"] != "/m/m1" || media["thumb"] != "/m/m1?w=320&h=320&fit=crop" ||
		!strings.Contains(media["srcset"].(string), "/m/m1?w=1080 1080w") || expires.Sub(created) != ttl {
		t.Fatalf("posted story: %v", m)
	}
	if hf := m["hide_from"].([]any); len(hf) != 1 || hf[0] != "5" {
		t.Fatalf("hide_from (the poster and duplicates dropped): %v", hf)
	}
	// Another user sees it without the owner's fields.
	st, g := e.do(2, "GET", "/v1/stories/"+id, nil)
	if st != 200 || g["id"] != id || g["views"] != nil || g["hide_from"] != nil || g["media"].(map[string]any)["url"] != "/m/m1" {
		t.Fatalf("get as another user: %d %v", st, g)
	}
	// Video and GIF media get their URLs.
	_, v := e.do(1, "POST", "/v1/stories", map[string]any{"media_id": "v1"})
	if vm := v["media"].(map[string]any); vm["hls"] != "/m/v1/hls/index.m3u8" || vm["poster"] != "/m/v1?fm=jpg&w=640" {
		t.Fatalf("video media: %v", vm)
	}
	_, gif := e.do(1, "POST", "/v1/stories", map[string]any{"media_id": "g1"})
	if gm := gif["media"].(map[string]any); gm["mp4"] != "/m/g1?fm=mp4" {
		t.Fatalf("gif media: %v", gm)
	}
	evs := e.outbox()
	if len(evs) != 3 || evs[0].Kind != stories.KindCreated || evs[0].Actor != 1 || len(evs[0].To) != 0 ||
		string(evs[0].Data) != `{"story_id":"`+id+`","likers":[]}` || e.notices != 3 {
		t.Fatalf("events: %+v (notices %d)", evs, e.notices)
	}
	// The owner's list via @username.
	st, l := e.do(2, "GET", "/v1/users/@user1/stories", nil)
	if items := l["items"].([]any); st != 200 || len(items) != 3 || items[0].(map[string]any)["id"] != id {
		t.Fatalf("user 1's stories: %d %v", st, l)
	}
	if st, _ := e.do(2, "GET", "/v1/users/@nobody/stories", nil); st != 404 {
		t.Fatalf("unknown username: %d", st)
	}
}

// TestUsernameAnyCase: /v1/users/@name/stories takes the name in any case,
// as /v1/users/@name and /v1/users/@name/posts do (usernames are stored
// lower case; the lookup, like setup's, matches exactly).
func TestUsernameAnyCase(t *testing.T) {
	e := setup(t)
	id := e.post(1, map[string]any{"media_id": "m1"})
	for _, name := range []string{"user1", "User1", "USER1"} {
		st, l := e.do(2, "GET", "/v1/users/@"+name+"/stories", nil)
		items, _ := l["items"].([]any)
		if st != 200 || len(items) != 1 || items[0].(map[string]any)["id"] != id {
			t.Fatalf("@%s: %d %v, want user 1's story", name, st, l)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := setup(t)
	body := map[string]any{"media_id": "m1"}
	st1, a := e.do(1, "POST", "/v1/stories", body, "Idempotency-Key", "k-1")
	st2, b := e.do(1, "POST", "/v1/stories", body, "Idempotency-Key", "k-1")
	if st1 != 201 || st2 != 201 || a["id"] != b["id"] {
		t.Fatalf("retry: %d %v / %d %v", st1, a, st2, b)
	}
	if _, c := e.do(1, "POST", "/v1/stories", body, "Idempotency-Key", "k-2"); c["id"] == a["id"] {
		t.Fatal("another key made the same story")
	}
	if n := len(e.outbox()); n != 2 {
		t.Fatalf("%d events, want 2 (none for the retry)", n)
	}
	st, m := e.do(1, "POST", "/v1/stories", body, "Idempotency-Key", "has space")
	if c, p := errCode(m); st != 400 || c != "invalid_parameter" || p != "Idempotency-Key" {
		t.Fatalf("bad key: %d %v", st, m)
	}
}

func TestBadInput(t *testing.T) {
	e := setup(t)
	id := e.post(1, map[string]any{"media_id": "m1"})
	cases := []struct {
		name         string
		uid          int64
		method, path string
		body         any
		status       int
		code, param  string
	}{
		{"unauthenticated", 0, "POST", "/v1/stories", map[string]any{"media_id": "m1"}, 401, "unauthenticated", ""},
		{"missing media", 1, "POST", "/v1/stories", map[string]any{"caption": "x"}, 400, "invalid_parameter", "media_id"},
		{"unknown media", 1, "POST", "/v1/stories", map[string]any{"media_id": "nope"}, 400, "invalid_parameter", "media_id"},
		{"foreign media", 1, "POST", "/v1/stories", map[string]any{"media_id": "m2"}, 403, "media_not_allowed", ""},
		{"not an image or video", 1, "POST", "/v1/stories", map[string]any{"media_id": "pdf1"}, 400, "invalid_parameter", "media_id"},
		{"oversized caption", 1, "POST", "/v1/stories", map[string]any{"media_id": "m1", "caption": strings.Repeat("é", 251)}, 413, "caption_too_long", "caption"},
		{"caption not a string", 1, "POST", "/v1/stories", map[string]any{"media_id": "m1", "caption": 5}, 400, "invalid_parameter", "caption"},
		{"bad hide_from", 1, "POST", "/v1/stories", map[string]any{"media_id": "m1", "hide_from": []string{"x"}}, 400, "invalid_parameter", "hide_from"},
		{"hide_from not a list", 1, "POST", "/v1/stories", map[string]any{"media_id": "m1", "hide_from": "2"}, 400, "invalid_parameter", "hide_from"},
		{"unknown field", 1, "POST", "/v1/stories", map[string]any{"media_id": "m1", "media_ids": []string{"m1"}}, 400, "unknown_field", "media_ids"},
		{"not json", 1, "POST", "/v1/stories", "{", 400, "invalid_json", ""},
		{"bad story id", 1, "GET", "/v1/stories/abc", nil, 400, "invalid_parameter", "id"},
		{"missing story", 1, "GET", "/v1/stories/123", nil, 404, "story_expired", ""},
		{"bad limit", 1, "GET", "/v1/stories/" + id + "/viewers?limit=0", nil, 400, "invalid_parameter", "limit"},
		{"bad cursor", 1, "GET", "/v1/stories/" + id + "/viewers?cursor=x", nil, 400, "invalid_parameter", "cursor"},
		{"non-owner viewers", 2, "GET", "/v1/stories/" + id + "/viewers", nil, 403, "not_owner", ""},
		{"bad tray limit", 1, "GET", "/v1/stories/feed?limit=1000", nil, 400, "invalid_parameter", "limit"},
		{"bad user id", 1, "GET", "/v1/users/0/stories", nil, 400, "invalid_parameter", "id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, m := e.do(c.uid, c.method, c.path, c.body)
			if code, param := errCode(m); st != c.status || code != c.code || param != c.param {
				t.Fatalf("%d %v, want %d %s %q", st, m, c.status, c.code, c.param)
			}
		})
	}
	// A missing id that is new (not older than the lifetime) is not_found.
	fresh := strconv.FormatInt((time.Now().UnixMilli()-1288834974657)<<22, 10)
	if st, m := e.do(1, "GET", "/v1/stories/"+fresh, nil); st != 404 {
		t.Fatalf("fresh missing id: %d %v", st, m)
	}
	if n := len(e.outbox()); n != 1 {
		t.Fatalf("%d events after refused writes, want 1", n)
	}
}

func TestViews(t *testing.T) {
	e := setup(t)
	id := e.post(1, map[string]any{"media_id": "m1", "hide_from": []string{"3"}})
	for _, uid := range []int64{2, 4, 5, 2, 1} { // a repeat, and the owner's own view
		if st, m := e.do(uid, "POST", "/v1/stories/"+id+"/view", nil); st != 204 {
			t.Fatalf("view by %d: %d %v", uid, st, m)
		}
	}
	st, m := e.do(3, "POST", "/v1/stories/"+id+"/view", nil)
	e.want("view by a hidden user", st, m, 404, "not_found")
	st, m = e.do(3, "GET", "/v1/stories/"+id, nil)
	e.want("get by a hidden user", st, m, 404, "not_found")

	_, g := e.do(1, "GET", "/v1/stories/"+id, nil)
	if g["views"] != 3.0 {
		t.Fatalf("owner's view count: %v", g)
	}
	_, page := e.do(1, "GET", "/v1/stories/"+id+"/viewers?limit=2", nil)
	items := page["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["user_id"] != "2" || items[1].(map[string]any)["user_id"] != "4" || page["next_cursor"] != "4" {
		t.Fatalf("viewers page 1: %v", page)
	}
	if _, err := time.Parse(time.RFC3339, items[0].(map[string]any)["viewed_at"].(string)); err != nil {
		t.Fatalf("viewed_at: %v", err)
	}
	_, page = e.do(1, "GET", "/v1/stories/"+id+"/viewers?limit=2&cursor=4", nil)
	if items := page["items"].([]any); len(items) != 1 || items[0].(map[string]any)["user_id"] != "5" || page["next_cursor"] != nil {
		t.Fatalf("viewers page 2: %v", page)
	}
	if _, g := e.do(2, "GET", "/v1/stories/"+id, nil); g["seen"] != true {
		t.Fatalf("viewer's seen flag: %v", g)
	}
	if n := len(e.outbox()); n != 1 {
		t.Fatalf("views wrote %d events", n-1)
	}
}

func TestExpiry(t *testing.T) {
	e := setup(t)
	id := e.post(1, map[string]any{"media_id": "m1"})
	e.do(2, "POST", "/v1/stories/"+id+"/view", nil)
	e.do(2, "PUT", "/v1/stories/"+id+"/like", nil)
	// A second more than the lifetime: the story's id (made from the real
	// time, a little after the clock started) is older than the lifetime.
	e.clock.Advance(ttl + time.Second)

	// Gone before any sweep.
	st, m := e.do(2, "GET", "/v1/stories/"+id, nil)
	e.want("get an expired story", st, m, 404, "story_expired")
	st, m = e.do(3, "POST", "/v1/stories/"+id+"/view", nil)
	e.want("view an expired story", st, m, 404, "story_expired")
	st, m = e.do(3, "PUT", "/v1/stories/"+id+"/like", nil)
	e.want("like an expired story", st, m, 404, "story_expired")
	st, m = e.do(1, "GET", "/v1/stories/"+id+"/viewers", nil)
	e.want("viewers of an expired story", st, m, 404, "story_expired")
	if _, l := e.do(2, "GET", "/v1/users/1/stories", nil); len(l["items"].([]any)) != 0 {
		t.Fatalf("expired story listed: %v", l)
	}
	if _, tr := e.do(1, "GET", "/v1/stories/feed", nil); len(tr["items"].([]any)) != 0 {
		t.Fatalf("expired story in the tray: %v", tr)
	}

	// The sweeper reclaims it; it still answers story_expired.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.svc.RunSweeper(ctx, time.Hour); close(done) }()
	sid, _ := strconv.ParseInt(id, 10, 64)
	for deadline := time.Now().Add(5 * time.Second); ; {
		n, err := e.store.ViewCount(context.Background(), sid)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not reclaim the expired story's views")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	st, m = e.do(3, "POST", "/v1/stories/"+id+"/view", nil)
	e.want("view a swept story", st, m, 404, "story_expired")

	// The liker outlives the story: the next story's event names them.
	e.post(1, map[string]any{"media_id": "m1"})
	evs := e.outbox()
	last := evs[len(evs)-1]
	var data struct {
		StoryID string   `json:"story_id"`
		Likers  []string `json:"likers"`
	}
	if err := json.Unmarshal(last.Data, &data); err != nil || last.Kind != stories.KindCreated || !slices.Equal(data.Likers, []string{"2"}) {
		t.Fatalf("story.created after a like: %s %s %v", last.Kind, last.Data, err)
	}
}

func TestLikes(t *testing.T) {
	e := setup(t)
	id := e.post(1, map[string]any{"media_id": "m1"})
	for i := range 2 {
		if st, m := e.do(2, "PUT", "/v1/stories/"+id+"/like", nil); st != 204 {
			t.Fatalf("like %d: %d %v", i, st, m)
		}
	}
	if _, g := e.do(2, "GET", "/v1/stories/"+id, nil); g["liked_by_me"] != true {
		t.Fatalf("liked_by_me: %v", g)
	}
	e.do(1, "PUT", "/v1/stories/"+id+"/like", nil) // the owner's own
	evs := e.outbox()
	if len(evs) != 3 || evs[1].Kind != stories.KindLike || evs[1].Actor != 2 || !slices.Equal(evs[1].To, []int64{1}) ||
		string(evs[1].Data) != `{"story_id":"`+id+`","owner":"1"}` || len(evs[2].To) != 0 {
		t.Fatalf("like events: %+v", evs)
	}
	for i := range 2 {
		if st, _ := e.do(2, "DELETE", "/v1/stories/"+id+"/like", nil); st != 204 {
			t.Fatalf("unlike %d: %d", i, st)
		}
	}
	if _, g := e.do(2, "GET", "/v1/stories/"+id, nil); g["liked_by_me"] != false {
		t.Fatalf("liked_by_me after the unlike: %v", g)
	}
	if n := len(e.outbox()); n != 3 {
		t.Fatalf("unlikes wrote %d events", n-3)
	}
	// The next story names user 2 (a liker), not the owner.
	e.post(1, map[string]any{"media_id": "m1"})
	evs = e.outbox()
	if got := string(evs[len(evs)-1].Data); !strings.HasSuffix(got, `"likers":["2"]}`) {
		t.Fatalf("story.created: %s", got)
	}
}

// TestHiddenStoryNotifiesNoHiddenLiker: the owner's earlier likers hear
// of a new story, except those it is hidden from. The story's events go
// through the real notify service, as its consumer hands them over, and
// the test reads the likers' notifications.
func TestHiddenStoryNotifiesNoHiddenLiker(t *testing.T) {
	e := setup(t)
	first := e.post(1, map[string]any{"media_id": "m1"})
	for _, u := range []int64{2, 3} {
		if st, m := e.do(u, "PUT", "/v1/stories/"+first+"/like", nil); st != 204 {
			t.Fatalf("user %d likes: %d %v", u, st, m)
		}
	}
	hidden := e.post(1, map[string]any{"media_id": "m1", "hide_from": []string{"2"}})

	gen, err := ids.New(2)
	if err != nil {
		t.Fatal(err)
	}
	ns := notifystore.New(socialtest.Pebble(t), notifystore.Config{})
	cfg := notify.DefaultConfig()
	cfg.Store, cfg.IDs, cfg.Auth = ns, gen, socialtest.HeaderAuth{}
	cfg.ConversationMembers = func(context.Context, int64) ([]int64, error) { return nil, nil }
	cfg.Online = func(context.Context, int64) bool { return false }
	n, err := notify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range e.outbox() {
		if err := n.Handle(context.Background(), ev); err != nil {
			t.Fatalf("notify %s: %v", ev.Kind, err)
		}
	}
	told := func(uid int64) bool {
		t.Helper()
		gs, err := ns.List(context.Background(), uid, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(gs, func(g notify.Group) bool { return g.Object == "story:"+hidden })
	}
	if told(2) {
		t.Fatal("user 2, whom the story is hidden from, was notified of it")
	}
	if !told(3) {
		t.Fatal("user 3, another liker, was not notified of the story")
	}
}

// TestHiddenLikersLeaveRoom: the likers a story is hidden from do not
// take places of the MaxLikers the event names.
func TestHiddenLikersLeaveRoom(t *testing.T) {
	e := setup(t, func(c *stories.Config) { c.MaxLikers = 1 })
	first := e.post(1, map[string]any{"media_id": "m1"})
	for _, u := range []int64{2, 3, 4} {
		e.do(u, "PUT", "/v1/stories/"+first+"/like", nil)
	}
	e.post(1, map[string]any{"media_id": "m1", "hide_from": []string{"2", "3"}})
	evs := e.outbox()
	if got := string(evs[len(evs)-1].Data); !strings.HasSuffix(got, `"likers":["4"]}`) {
		t.Fatalf("story.created: %s, want the one liker it is not hidden from", got)
	}
}

func TestTray(t *testing.T) {
	e := setup(t)
	s2 := e.post(2, map[string]any{"media_id": "m2"})
	s3 := e.post(3, map[string]any{"media_id": "m3"})
	e.post(3, map[string]any{"media_id": "m3", "hide_from": []string{"1"}})
	e.do(1, "POST", "/v1/stories/"+s3+"/view", nil)
	st, tr := e.do(1, "GET", "/v1/stories/feed", nil)
	items := tr["items"].([]any)
	if st != 200 || len(items) != 2 {
		t.Fatalf("tray: %d %v", st, tr)
	}
	first, second := items[0].(map[string]any), items[1].(map[string]any)
	if first["author"] != "2" || first["unseen"] != true || second["author"] != "3" || second["unseen"] != false ||
		len(second["stories"].([]any)) != 1 || first["stories"].([]any)[0].(map[string]any)["id"] != s2 {
		t.Fatalf("tray order: %v", tr)
	}
	if _, tr := e.do(1, "GET", "/v1/stories/feed?limit=1", nil); len(tr["items"].([]any)) != 1 {
		t.Fatalf("tray limit: %v", tr)
	}
	if _, tr := e.do(5, "GET", "/v1/stories/feed", nil); len(tr["items"].([]any)) != 0 {
		t.Fatalf("tray of a user who follows nobody: %v", tr)
	}
}

func TestStoreFault(t *testing.T) {
	e := setup(t)
	id := e.post(1, map[string]any{"media_id": "m1"})
	e.store.on = true
	st, m := e.do(2, "GET", "/v1/stories/"+id, nil)
	e.want("store down", st, m, 503, "store_unavailable")
	if strings.Contains(m["error"].(map[string]any)["message"].(string), "10.0.0.7") {
		t.Fatalf("the cause leaked: %v", m)
	}
}

func TestConfig(t *testing.T) {
	cfg := stories.DefaultConfig()
	cfg.TTL = 500 * time.Millisecond
	err := cfg.Validate()
	for _, want := range []string{"no store", "no id generator", "no authenticator", "MediaInfo", "graph", "ttl"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not mention %s", err, want)
		}
	}
}
