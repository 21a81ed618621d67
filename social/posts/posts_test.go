package posts_test

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

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/posts"
	"github.com/mediaedge/mediaedge/social/posts/pebblestore"
)

// faulty is a store whose reads fail while down is set.
type faulty struct {
	posts.Store
	down bool
}

func (f *faulty) GetPost(ctx context.Context, id int64) (posts.Post, error) {
	if f.down {
		return posts.Post{}, errors.New("connection refused")
	}
	return f.Store.GetPost(ctx, id)
}

type env struct {
	t     *testing.T
	db    *pebble.DB
	svc   *posts.Service
	store *faulty
	srv   *httptest.Server
}

// Users 1 (alice), 2 (bob), 3 (carol). Media: m1, v1, g1 are alice's
// (jpeg, mp4, gif), m2 bob's.
var media = map[string]posts.MediaInfo{
	"m1": {Owner: "user:1", Type: "image/jpeg"},
	"v1": {Owner: "user:1", Type: "video/mp4"},
	"g1": {Owner: "user:1", Type: "image/gif"},
	"m2": {Owner: "user:2", Type: "image/png"},
}

var usernames = map[string]int64{"alice": 1, "bob": 2, "carol": 3}

func setup(t *testing.T) *env {
	t.Helper()
	db := socialtest.Pebble(t)
	gen, err := ids.New(1)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, store: &faulty{Store: pebblestore.New(db, pebblestore.Config{})}}
	cfg := posts.DefaultConfig()
	cfg.Store, cfg.IDs, cfg.Auth = e.store, gen, socialtest.HeaderAuth{}
	cfg.MediaInfo = func(_ context.Context, id string) (posts.MediaInfo, error) {
		if m, ok := media[id]; ok {
			return m, nil
		}
		return posts.MediaInfo{}, fmt.Errorf("media %q: %w", id, posts.ErrNoMedia)
	}
	cfg.UserIDs = func(_ context.Context, names []string) (map[string]int64, error) {
		out := map[string]int64{}
		for _, n := range names {
			if id, ok := usernames[n]; ok {
				out[n] = id
			}
		}
		return out, nil
	}
	if e.svc, err = posts.New(cfg); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.svc)
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request as uid; body is JSON-encoded unless a string. Extra
// header pairs follow.
func (e *env) do(uid int64, method, path string, body any, hdr ...string) (int, map[string]any, http.Header) {
	e.t.Helper()
	return socialtest.Do(e.t, method, e.srv.URL+path, uid, body, hdr...)
}

func (e *env) want(st int, m map[string]any, want int) map[string]any {
	e.t.Helper()
	if st != want {
		e.t.Fatalf("status %d, want %d: %v", st, want, m)
	}
	return m
}

// post creates a post as uid and returns its id.
func (e *env) post(uid int64, text string, mediaIDs ...string) string {
	e.t.Helper()
	body := map[string]any{"text": text}
	if mediaIDs != nil {
		body["media_ids"] = mediaIDs
	}
	st, m, _ := e.do(uid, "POST", "/v1/posts", body)
	return e.want(st, m, 201)["id"].(string)
}

// outbox is every event in the database, in id order.
func (e *env) outbox() []events.Event {
	e.t.Helper()
	return socialtest.ReadOutbox(e.t, socialtest.PebbleOutbox(e.t, e.db))
}

// kinds lists the outbox's events as "kind>to,to".
func (e *env) kinds() []string {
	var out []string
	for _, ev := range e.outbox() {
		s := ev.Kind
		if len(ev.To) > 0 {
			s += ">" + strings.Trim(strings.ReplaceAll(fmt.Sprint(ev.To), " ", ","), "[]")
		}
		out = append(out, s)
	}
	return out
}

func errCode(m map[string]any) (code, param string) {
	e, _ := m["error"].(map[string]any)
	code, _ = e["code"].(string)
	param, _ = e["param"].(string)
	return code, param
}

func TestCreateAndGet(t *testing.T) {
	e := setup(t)
	st, p, _ := e.do(1, "POST", "/v1/posts", map[string]any{"text": "hi @bob and @Carol, not @nobody or x@bob", "media_ids": []string{"m1", "v1", "g1"}})
	e.want(st, p, 201)
	id := p["id"].(string)
	if p["author"] != "1" || p["likes"] != 0.0 || p["comments"] != 0.0 || p["liked_by_me"] != false || p["created_at"] == nil {
		t.Fatalf("created post: %v", p)
	}
	if _, ok := p["edited_at"]; ok {
		t.Fatalf("edited_at on a new post: %v", p)
	}
	if _, ok := p["archived"]; ok {
		t.Fatalf("archived on a new post: %v", p)
	}
	ms := p["media"].([]any)
	img, vid, gif := ms[0].(map[string]any), ms[1].(map[string]any), ms[2].(map[string]any)
	if img["url"] != "/m/m1" || img["thumb"] != "/m/m1?w=320&h=320&fit=crop" || img["mp4"] != nil || vid["hls"] != "/m/v1/hls/index.m3u8" || gif["mp4"] != "/m/g1?fm=mp4" {
		t.Fatalf("media: %v", ms)
	}
	st, g, _ := e.do(2, "GET", "/v1/posts/"+id, nil)
	if e.want(st, g, 200)["text"] != p["text"] || g["id"] != id {
		t.Fatalf("get: %v", g)
	}
	if got := e.kinds(); !slices.Equal(got, []string{"post.created", "mention>2,3"}) {
		t.Fatalf("events: %v", got)
	}
	// A mention of oneself tells nobody.
	e.post(1, "note to @alice")
	if got := e.kinds(); len(got) != 3 || got[2] != "post.created" {
		t.Fatalf("events after a self-mention: %v", got)
	}
	// Media only.
	st, m, _ := e.do(1, "POST", "/v1/posts", map[string]any{"media_ids": []string{"m1"}})
	if e.want(st, m, 201)["text"] != "" {
		t.Fatalf("media-only post: %v", m)
	}
}

func TestMediaJSON(t *testing.T) {
	got, _ := json.Marshal(posts.MediaJSON("M", "image/jpeg"))
	want := `{"id":"M","type":"image/jpeg","url":"/m/M","thumb":"/m/M?w=320\u0026h=320\u0026fit=crop","srcset":"/m/M?w=320 320w, /m/M?w=640 640w, /m/M?w=1080 1080w, /m/M?w=1600 1600w"}`
	if string(got) != want {
		t.Fatalf("image:\n%s\nwant\n%s", got, want)
	}
	if v := posts.MediaJSON("M", "image/webp"); v.MP4 != "/m/M?fm=mp4" || v.Srcset == "" {
		t.Fatalf("webp: %+v", v)
	}
	v := posts.MediaJSON("M", "video/mp4")
	if v != (posts.MediaView{ID: "M", Type: "video/mp4", URL: "/m/M", HLS: "/m/M/hls/index.m3u8", Poster: "/m/M?fm=jpg&w=640", Thumb: "/m/M?fm=jpg&w=320"}) {
		t.Fatalf("video: %+v", v)
	}
	if v := posts.MediaJSON("M", "application/pdf"); v != (posts.MediaView{ID: "M", Type: "application/pdf", URL: "/m/M"}) {
		t.Fatalf("other: %+v", v)
	}
}

// TestBadInput: every refused write answers its error naming the problem
// and leaves nothing behind (no post, no event).
func TestBadInput(t *testing.T) {
	e := setup(t)
	id := e.post(1, "existing")
	e.post(1, "for the cursor")
	before := len(e.outbox())
	tooMany := make([]string, 11)
	for i := range tooMany {
		tooMany[i] = "m1"
	}
	cases := []struct {
		name        string
		uid         int64
		method      string
		path        string
		body        any
		hdr         []string
		status      int
		code, param string
	}{
		{"foreign media", 1, "POST", "/v1/posts", map[string]any{"text": "x", "media_ids": []string{"m1", "m2"}}, nil, 403, "media_not_allowed", "media_ids"},
		{"missing media", 1, "POST", "/v1/posts", map[string]any{"text": "x", "media_ids": []string{"nope"}}, nil, 400, "invalid_parameter", "media_ids"},
		{"too many media", 1, "POST", "/v1/posts", map[string]any{"text": "x", "media_ids": tooMany}, nil, 400, "invalid_parameter", "media_ids"},
		{"media twice", 1, "POST", "/v1/posts", map[string]any{"text": "x", "media_ids": []string{"m1", "m1"}}, nil, 400, "invalid_parameter", "media_ids"},
		{"media not a list", 1, "POST", "/v1/posts", `{"text":"x","media_ids":"m1"}`, nil, 400, "invalid_parameter", "media_ids"},
		{"text too long", 1, "POST", "/v1/posts", map[string]any{"text": strings.Repeat("é", 1001)}, nil, 413, "text_too_long", "text"},
		{"no text, no media", 1, "POST", "/v1/posts", map[string]any{"text": "  "}, nil, 400, "invalid_parameter", "text"},
		{"text not a string", 1, "POST", "/v1/posts", `{"text":5}`, nil, 400, "invalid_parameter", "text"},
		{"unknown field", 1, "POST", "/v1/posts", map[string]any{"text": "x", "title": "t"}, nil, 400, "unknown_field", "title"},
		{"not JSON", 1, "POST", "/v1/posts", `{"text":`, nil, 400, "invalid_json", ""},
		{"bad idempotency key", 1, "POST", "/v1/posts", map[string]any{"text": "x"}, []string{"Idempotency-Key", "has space"}, 400, "invalid_parameter", "Idempotency-Key"},
		{"no user", 0, "POST", "/v1/posts", map[string]any{"text": "x"}, nil, 401, "unauthenticated", ""},
		{"bad post id", 1, "GET", "/v1/posts/abc", nil, nil, 400, "invalid_parameter", "id"},
		{"unknown post", 1, "GET", "/v1/posts/12345", nil, nil, 404, "not_found", ""},
		{"edit by another", 2, "PATCH", "/v1/posts/" + id, map[string]any{"text": "mine now"}, nil, 403, "not_author", ""},
		{"edit with foreign media", 1, "PATCH", "/v1/posts/" + id, map[string]any{"media_ids": []string{"m2"}}, nil, 403, "media_not_allowed", "media_ids"},
		{"edit too long", 1, "PATCH", "/v1/posts/" + id, map[string]any{"text": strings.Repeat("x", 2001)}, nil, 413, "text_too_long", "text"},
		{"edit to nothing", 1, "PATCH", "/v1/posts/" + id, map[string]any{"text": ""}, nil, 400, "invalid_parameter", "text"},
		{"edit unknown field", 1, "PATCH", "/v1/posts/" + id, map[string]any{"txt": "x"}, nil, 400, "unknown_field", "txt"},
		{"delete by another", 2, "DELETE", "/v1/posts/" + id, nil, nil, 403, "not_author", ""},
		{"archive by another", 2, "POST", "/v1/posts/" + id + "/archive", nil, nil, 403, "not_author", ""},
		{"comment too long", 2, "POST", "/v1/posts/" + id + "/comments", map[string]any{"text": strings.Repeat("x", 1001)}, nil, 413, "text_too_long", "text"},
		{"empty comment", 2, "POST", "/v1/posts/" + id + "/comments", map[string]any{"text": " "}, nil, 400, "invalid_parameter", "text"},
		{"comment without text", 2, "POST", "/v1/posts/" + id + "/comments", map[string]any{}, nil, 400, "invalid_parameter", "text"},
		{"comment unknown field", 2, "POST", "/v1/posts/" + id + "/comments", map[string]any{"text": "x", "reply_to": "1"}, nil, 400, "unknown_field", "reply_to"},
		{"bad comment idempotency key", 2, "POST", "/v1/posts/" + id + "/comments", map[string]any{"text": "x"}, []string{"Idempotency-Key", "has space"}, 400, "invalid_parameter", "Idempotency-Key"},
		{"bad comment id", 1, "DELETE", "/v1/posts/" + id + "/comments/x", nil, nil, 400, "invalid_parameter", "cid"},
		{"unknown comment", 1, "DELETE", "/v1/posts/" + id + "/comments/99", nil, nil, 404, "not_found", ""},
		{"bad cursor", 1, "GET", "/v1/users/1/posts?cursor=nope", nil, nil, 400, "invalid_parameter", "cursor"},
		{"bad limit", 1, "GET", "/v1/users/1/posts?limit=0", nil, nil, 400, "invalid_parameter", "limit"},
		{"limit too large", 1, "GET", "/v1/posts/" + id + "/comments?limit=1000", nil, nil, 400, "invalid_parameter", "limit"},
		{"bad comments cursor", 1, "GET", "/v1/posts/" + id + "/comments?cursor=AAAAAAAAAAA", nil, nil, 400, "invalid_parameter", "cursor"},
		{"bad likers cursor", 1, "GET", "/v1/posts/" + id + "/likes?cursor=!!", nil, nil, 400, "invalid_parameter", "cursor"},
		{"bad user id", 1, "GET", "/v1/users/abc/posts", nil, nil, 400, "invalid_parameter", "id"},
		{"unknown username", 1, "GET", "/v1/users/@nobody/posts", nil, nil, 404, "not_found", ""},
		{"like an unknown post", 2, "PUT", "/v1/posts/777/like", nil, nil, 404, "not_found", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			st, m, _ := e.do(c.uid, c.method, c.path, c.body, c.hdr...)
			code, param := errCode(m)
			if st != c.status || code != c.code || param != c.param {
				t.Fatalf("%d %s (param %q), want %d %s (param %q): %v", st, code, param, c.status, c.code, c.param, m)
			}
		})
	}
	e.t = t
	if n := len(e.outbox()); n != before {
		t.Fatalf("refused writes left %d events: %v", n-before, e.kinds()[before:])
	}
	st, tl, _ := e.do(1, "GET", "/v1/users/1/posts", nil)
	if items := e.want(st, tl, 200)["items"].([]any); len(items) != 2 {
		t.Fatalf("refused creates left posts: %v", items)
	}
	st, p, _ := e.do(1, "GET", "/v1/posts/"+id, nil)
	if e.want(st, p, 200)["text"] != "existing" || len(p["media"].([]any)) != 0 || p["comments"] != 0.0 {
		t.Fatalf("refused edits or comments changed the post: %v", p)
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := setup(t)
	body := map[string]any{"text": "once"}
	st, a, _ := e.do(1, "POST", "/v1/posts", body, "Idempotency-Key", "k-1")
	e.want(st, a, 201)
	st, b, _ := e.do(1, "POST", "/v1/posts", body, "Idempotency-Key", "k-1")
	if e.want(st, b, 200)["id"] != a["id"] {
		t.Fatalf("retry: %v, first %v", b, a)
	}
	// Another author's same key is another post.
	st, c, _ := e.do(2, "POST", "/v1/posts", body, "Idempotency-Key", "k-1")
	if e.want(st, c, 201)["id"] == a["id"] {
		t.Fatal("another author's key returned the first post")
	}
	if got := e.kinds(); !slices.Equal(got, []string{"post.created", "post.created"}) {
		t.Fatalf("events: %v", got)
	}
}

// TestCommentIdempotencyKey: a comment retried with its Idempotency-Key
// answers the first comment (200, as a retried post create does) and
// writes nothing, not even an event (so no second notification); the
// same key with another text is still the retry (as for posts); another
// key, or the same key on another post, is another comment.
func TestCommentIdempotencyKey(t *testing.T) {
	e := setup(t)
	id := e.post(1, "discuss")
	path := "/v1/posts/" + id + "/comments"
	st, a, _ := e.do(2, "POST", path, map[string]any{"text": "first"}, "Idempotency-Key", "k1")
	e.want(st, a, 201)
	for _, text := range []string{"first", "edited before the retry"} {
		st, b, _ := e.do(2, "POST", path, map[string]any{"text": text}, "Idempotency-Key", "k1")
		if e.want(st, b, 200)["id"] != a["id"] || b["text"] != "first" {
			t.Fatalf("retry with text %q: %v, first %v", text, b, a)
		}
	}
	comments := func() []string {
		t.Helper()
		st, l, _ := e.do(2, "GET", path, nil)
		var out []string
		for _, c := range e.want(st, l, 200)["items"].([]any) {
			out = append(out, c.(map[string]any)["id"].(string))
		}
		return out
	}
	if got := comments(); !slices.Equal(got, []string{a["id"].(string)}) {
		t.Fatalf("comments after retries: %v, want only %v", got, a["id"])
	}
	st, c, _ := e.do(2, "POST", path, map[string]any{"text": "first"}, "Idempotency-Key", "k2")
	if e.want(st, c, 201)["id"] == a["id"] {
		t.Fatal("another key returned the first comment")
	}
	if got := comments(); !slices.Equal(got, []string{a["id"].(string), c["id"].(string)}) {
		t.Fatalf("comments after another key: %v", got)
	}
	other := e.post(1, "elsewhere")
	st, d, _ := e.do(2, "POST", "/v1/posts/"+other+"/comments", map[string]any{"text": "first"}, "Idempotency-Key", "k1")
	if e.want(st, d, 201)["id"] == a["id"] {
		t.Fatal("the key on another post returned the first post's comment")
	}
	if got := e.kinds(); !slices.Equal(got, []string{"post.created", "comment>1", "comment>1", "post.created", "comment>1"}) {
		t.Fatalf("events: %v", got)
	}
}

func TestLikes(t *testing.T) {
	e := setup(t)
	id := e.post(1, "like me")
	path := "/v1/posts/" + id + "/like"
	for range 2 {
		st, m, _ := e.do(2, "PUT", path, nil)
		if e.want(st, m, 200)["likes"] != 1.0 || m["liked"] != true {
			t.Fatalf("like: %v", m)
		}
	}
	st, m, _ := e.do(1, "PUT", path, nil)
	if e.want(st, m, 200)["likes"] != 2.0 {
		t.Fatalf("self like: %v", m)
	}
	st, p, _ := e.do(2, "GET", "/v1/posts/"+id, nil)
	if e.want(st, p, 200)["likes"] != 2.0 || p["liked_by_me"] != true {
		t.Fatalf("post after likes: %v", p)
	}
	st, p, _ = e.do(3, "GET", "/v1/posts/"+id, nil)
	if e.want(st, p, 200)["liked_by_me"] != false {
		t.Fatalf("post as a non-liker: %v", p)
	}
	st, l, _ := e.do(3, "GET", "/v1/posts/"+id+"/likes?limit=1", nil)
	items := e.want(st, l, 200)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["user_id"] != "1" || l["next_cursor"] == "" {
		t.Fatalf("likers page 1: %v", l)
	}
	st, l, _ = e.do(3, "GET", "/v1/posts/"+id+"/likes?limit=1&cursor="+l["next_cursor"].(string), nil)
	items = e.want(st, l, 200)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["user_id"] != "2" || items[0].(map[string]any)["liked_at"] == nil {
		t.Fatalf("likers page 2: %v", l)
	}
	for range 2 {
		st, m, _ = e.do(2, "DELETE", path, nil)
		if e.want(st, m, 200)["likes"] != 1.0 || m["liked"] != false {
			t.Fatalf("unlike: %v", m)
		}
	}
	// One like event per new like (To the author unless self), one unlike.
	if got := e.kinds(); !slices.Equal(got, []string{"post.created", "like>1", "like", "unlike"}) {
		t.Fatalf("events: %v", got)
	}
	// Archived: 409; deleted: 404; neither writes anything.
	if st, m, _ := e.do(1, "POST", "/v1/posts/"+id+"/archive", nil); st != 200 || m["archived"] != true {
		t.Fatalf("archive: %d %v", st, m)
	}
	st, m, _ = e.do(2, "PUT", path, nil)
	if code, _ := errCode(m); st != 409 || code != "post_archived" {
		t.Fatalf("like an archived post: %d %v", st, m)
	}
	if st, m, _ := e.do(1, "DELETE", "/v1/posts/"+id+"/archive", nil); st != 200 || m["archived"] != nil {
		t.Fatalf("unarchive: %d %v", st, m)
	}
	if st, _, _ := e.do(1, "DELETE", "/v1/posts/"+id, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	n := len(e.outbox())
	st, m, _ = e.do(2, "PUT", path, nil)
	if code, _ := errCode(m); st != 404 || code != "not_found" {
		t.Fatalf("like a deleted post: %d %v", st, m)
	}
	if len(e.outbox()) != n {
		t.Fatal("liking a deleted post wrote an event")
	}
}

func TestEditDeleteArchive(t *testing.T) {
	e := setup(t)
	id := e.post(1, "first draft", "m1")
	st, m, _ := e.do(1, "PATCH", "/v1/posts/"+id, map[string]any{"text": "final, cc @bob"})
	e.want(st, m, 200)
	if m["text"] != "final, cc @bob" || m["edited_at"] == nil || len(m["media"].([]any)) != 1 {
		t.Fatalf("edit: %v", m)
	}
	// The same mention again tells nobody twice; media can be dropped.
	st, m, _ = e.do(1, "PATCH", "/v1/posts/"+id, map[string]any{"text": "final, cc @bob @carol", "media_ids": []string{}})
	if e.want(st, m, 200)["text"] != "final, cc @bob @carol" || len(m["media"].([]any)) != 0 {
		t.Fatalf("second edit: %v", m)
	}
	// An edit that changes nothing writes nothing (no edited event).
	st, m, _ = e.do(1, "PATCH", "/v1/posts/"+id, map[string]any{"text": "final, cc @bob @carol"})
	if e.want(st, m, 200)["text"] != "final, cc @bob @carol" {
		t.Fatalf("no-op edit: %v", m)
	}
	e.ok(e.do(1, "PATCH", "/v1/posts/"+id, map[string]any{}))
	// Archived: hidden from others and from the timeline.
	e.ok(e.do(1, "POST", "/v1/posts/"+id+"/archive", nil))
	if st, _, _ := e.do(2, "GET", "/v1/posts/"+id, nil); st != 404 {
		t.Fatalf("archived post to another user: %d", st)
	}
	if st, m, _ := e.do(1, "GET", "/v1/posts/"+id, nil); st != 200 || m["archived"] != true {
		t.Fatalf("archived post to its author: %d %v", st, m)
	}
	_, tl, _ := e.do(2, "GET", "/v1/users/1/posts", nil)
	if len(tl["items"].([]any)) != 0 {
		t.Fatalf("timeline with an archived post: %v", tl)
	}
	e.ok(e.do(1, "DELETE", "/v1/posts/"+id+"/archive", nil))
	if st, _, _ := e.do(1, "DELETE", "/v1/posts/"+id, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if st, _, _ := e.do(1, "DELETE", "/v1/posts/"+id, nil); st != 204 {
		t.Fatalf("second delete: %d", st)
	}
	for _, r := range []struct{ method, path string }{{"GET", ""}, {"PATCH", ""}, {"POST", "/archive"}, {"GET", "/comments"}, {"GET", "/likes"}, {"POST", "/comments"}} {
		var body any
		if r.method != "GET" {
			body = map[string]any{"text": "zombie"}
			if r.path == "/archive" {
				body = nil
			}
		}
		if st, m, _ := e.do(1, r.method, "/v1/posts/"+id+r.path, body); st != 404 {
			t.Fatalf("%s %s of a deleted post: %d %v", r.method, r.path, st, m)
		}
	}
	if got := e.kinds(); !slices.Equal(got, []string{"post.created", "post.edited", "mention>2", "post.edited", "mention>3",
		"post.archived", "post.unarchived", "post.deleted"}) {
		t.Fatalf("events: %v", got)
	}
	// A delete is soft: the stored row is blank.
	p, err := e.store.GetPost(context.Background(), mustID(t, id))
	if err != nil || !p.Deleted || p.Text != "" || len(p.Media) != 0 {
		t.Fatalf("stored deleted post: %+v %v", p, err)
	}
}

func mustID(t *testing.T, s string) int64 {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestComments(t *testing.T) {
	e := setup(t)
	id := e.post(1, "discuss")
	base := "/v1/posts/" + id + "/comments"
	st, c, _ := e.do(2, "POST", base, map[string]any{"text": "agreed @carol @alice @ghost"})
	e.want(st, c, 201)
	if c["post_id"] != id || c["author"] != "2" || !slices.Equal(toStrs(c["mentions"]), []string{"1", "3"}) {
		t.Fatalf("comment: %v", c)
	}
	var cids []string
	cids = append(cids, c["id"].(string))
	for i := range 3 {
		st, c, _ := e.do(int64(1+i%3), "POST", base, map[string]any{"text": fmt.Sprint("c", i)})
		cids = append(cids, e.want(st, c, 201)["id"].(string))
	}
	st, p, _ := e.do(3, "GET", "/v1/posts/"+id, nil)
	if e.want(st, p, 200)["comments"] != 4.0 {
		t.Fatalf("comment count: %v", p)
	}
	var got []string
	cursor := ""
	for range 5 {
		st, page, _ := e.do(3, "GET", base+"?limit=3&cursor="+cursor, nil)
		for _, it := range e.want(st, page, 200)["items"].([]any) {
			got = append(got, it.(map[string]any)["id"].(string))
		}
		if cursor = page["next_cursor"].(string); cursor == "" {
			break
		}
	}
	if !slices.Equal(got, cids) {
		t.Fatalf("comments oldest first: %v, want %v", got, cids)
	}
	// Only the comment's author or the post's author deletes.
	if st, m, _ := e.do(3, "DELETE", base+"/"+cids[0], nil); st != 403 {
		t.Fatalf("delete by a stranger: %d %v", st, m)
	}
	if st, _, _ := e.do(2, "DELETE", base+"/"+cids[0], nil); st != 204 {
		t.Fatalf("delete by its author: %d", st)
	}
	if st, _, _ := e.do(1, "DELETE", base+"/"+cids[2], nil); st != 204 {
		t.Fatalf("delete by the post's author: %d", st)
	}
	_, p, _ = e.do(3, "GET", "/v1/posts/"+id, nil)
	if p["comments"] != 2.0 {
		t.Fatalf("comment count after deletes: %v", p)
	}
	// The comment event goes to the post's author unless they commented.
	want := []string{"post.created", "comment>1", "mention>1,3", "comment", "comment>1", "comment>1", "comment.deleted", "comment.deleted"}
	if got := e.kinds(); !slices.Equal(got, want) {
		t.Fatalf("events: %v, want %v", got, want)
	}
	ev := e.outbox()[1]
	var data map[string]string
	if err := json.Unmarshal(ev.Data, &data); err != nil || data["post_id"] != id || data["author"] != "1" || data["comment_id"] != cids[0] || data["text"] != "agreed @carol @alice @ghost" {
		t.Fatalf("comment event data: %s %v", ev.Data, err)
	}
}

func toStrs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestTimelineAndFeedReads(t *testing.T) {
	e := setup(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, e.post(1, fmt.Sprint("p", i)))
		e.post(2, "bob's")
	}
	slices.Reverse(ids)
	for _, who := range []string{"1", "@alice"} {
		var got []string
		cursor := ""
		for range 5 {
			st, page, _ := e.do(3, "GET", "/v1/users/"+who+"/posts?limit=2&cursor="+cursor, nil)
			for _, it := range e.want(st, page, 200)["items"].([]any) {
				got = append(got, it.(map[string]any)["id"].(string))
			}
			if cursor = page["next_cursor"].(string); cursor == "" {
				break
			}
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("timeline of %s: %v, want %v", who, got, ids)
		}
	}
	// The feed's reads: Timeline ids, Posts in the order given, skipping
	// deleted, archived and missing posts.
	ctx := context.Background()
	tl, err := e.svc.Timeline(ctx, 1, 0, 3)
	if err != nil || len(tl) != 3 || strconv.FormatInt(tl[0], 10) != ids[0] {
		t.Fatalf("Timeline: %v %v", tl, err)
	}
	e.ok(e.do(1, "DELETE", "/v1/posts/"+ids[1], nil))
	e.ok(e.do(1, "POST", "/v1/posts/"+ids[2]+"/archive", nil))
	e.ok(e.do(3, "PUT", "/v1/posts/"+ids[3]+"/like", nil))
	order := []int64{mustID(t, ids[3]), mustID(t, ids[1]), 999, mustID(t, ids[2]), mustID(t, ids[0])}
	ps, err := e.svc.Posts(ctx, 3, order)
	if err != nil || len(ps) != 2 || ps[0].ID != order[0] || ps[1].ID != order[4] || !ps[0].LikedByMe || ps[0].Likes != 1 || ps[1].LikedByMe {
		t.Fatalf("Posts: %+v %v", ps, err)
	}
}

func TestStoreFault(t *testing.T) {
	e := setup(t)
	id := e.post(1, "x")
	e.store.down = true
	st, m, h := e.do(2, "GET", "/v1/posts/"+id, nil)
	if code, _ := errCode(m); st != 503 || code != "store_unavailable" || h.Get("Retry-After") == "" {
		t.Fatalf("store down: %d %v %v", st, m, h)
	}
	if msg, _ := m["error"].(map[string]any)["message"].(string); strings.Contains(msg, "refused") {
		t.Fatalf("the cause leaked: %v", m)
	}
}

func TestConfig(t *testing.T) {
	err := posts.Config{}.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"no store", "no id generator", "no authenticator", "MediaInfo", "max text", "page limit", "max body"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
}

// ok checks a request succeeded (2xx).
func (e *env) ok(st int, m map[string]any, _ http.Header) {
	e.t.Helper()
	if st < 200 || st > 299 {
		e.t.Fatalf("status %d: %v", st, m)
	}
}
