package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/notify"
	"github.com/mediaedge/mediaedge/social/notify/pebblestore"
)

// failing is a store whose every call fails as an unreachable database.
type failing struct{ notify.Store }

var errDown = errors.New("dial tcp 10.0.0.7:9042: connection refused")

func (failing) List(context.Context, int64, int64, int) ([]notify.Group, error) { return nil, errDown }
func (failing) Unread(context.Context, int64) (int, error)                      { return 0, errDown }
func (failing) MarkRead(context.Context, int64, int64) (int64, error)           { return 0, errDown }

type env struct {
	t       *testing.T
	db      *pebble.DB
	store   *pebblestore.Store
	svc     *notify.Service
	srv     *httptest.Server
	ids     *ids.Generator
	members map[int64][]int64 // conversation -> members
	online  map[int64]bool
	notes   atomic.Int64
}

func setup(t *testing.T, mod ...func(*notify.Config)) *env {
	t.Helper()
	db := socialtest.Pebble(t)
	gen, err := ids.New(1)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, store: pebblestore.New(db, pebblestore.Config{}), ids: gen,
		members: map[int64][]int64{}, online: map[int64]bool{}}
	cfg := notify.DefaultConfig()
	cfg.Store, cfg.IDs, cfg.Auth = e.store, gen, socialtest.HeaderAuth{}
	cfg.ConversationMembers = func(_ context.Context, conv int64) ([]int64, error) {
		m, ok := e.members[conv]
		if !ok {
			return nil, fmt.Errorf("no conversation %d", conv)
		}
		return m, nil
	}
	cfg.Online = func(_ context.Context, uid int64) bool { return e.online[uid] }
	cfg.Notify = func() { e.notes.Add(1) }
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, m := range mod {
		m(&cfg)
	}
	if e.svc, err = notify.New(cfg); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.svc)
	t.Cleanup(e.srv.Close)
	return e
}

var ctx = context.Background()

func (e *env) handle(kind string, actor int64, to []int64, data string) events.Event {
	e.t.Helper()
	ev := events.Event{ID: e.ids.Next(), Kind: kind, Actor: actor, To: to, Data: json.RawMessage(data), At: time.Now().UTC()}
	if err := e.svc.Handle(ctx, ev); err != nil {
		e.t.Fatalf("handle %s: %v", kind, err)
	}
	return ev
}

func (e *env) groups(uid int64) []notify.Group {
	e.t.Helper()
	gs, err := e.store.List(ctx, uid, 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return gs
}

// want checks uid has exactly one group, of kind on object by actors.
func (e *env) want(uid int64, kind, object string, actors ...int64) {
	e.t.Helper()
	gs := e.groups(uid)
	if len(gs) != 1 || gs[0].Kind != kind || gs[0].Object != object || !slices.Equal(gs[0].Actors, actors) || gs[0].ActorCount != len(actors) {
		e.t.Fatalf("user %d: %+v, want one %s on %s by %v", uid, gs, kind, object, actors)
	}
}

func (e *env) none(uids ...int64) {
	e.t.Helper()
	for _, uid := range uids {
		if gs := e.groups(uid); len(gs) != 0 {
			e.t.Fatalf("user %d has %+v, want none", uid, gs)
		}
	}
}

// outbox returns the notification events written so far.
func (e *env) outbox() []events.Event {
	e.t.Helper()
	return socialtest.ReadOutbox(e.t, socialtest.PebbleOutbox(e.t, e.db))
}

func TestHandleKinds(t *testing.T) {
	const a, b, c, d = 11, 12, 13, 14
	t.Run("follow: the followee", func(t *testing.T) {
		e := setup(t)
		e.handle("follow", a, []int64{b}, `{"user_id":"12"}`)
		e.want(b, notify.KindFollow, "user:12", a)
		e.handle("follow", c, []int64{b}, `{"user_id":"12"}`)
		e.want(b, notify.KindFollow, "user:12", c, a)
		e.handle("follow", a, nil, `{"user_id":"11"}`) // never the actor
		e.none(a)
	})
	t.Run("like: the post's author", func(t *testing.T) {
		e := setup(t)
		e.handle("like", a, []int64{b}, `{"post_id":"500","author":"12"}`)
		e.handle("like", c, []int64{b}, `{"post_id":"500","author":"12"}`)
		e.want(b, notify.KindLike, "post:500", c, a)
		e.handle("like", b, nil, `{"post_id":"500","author":"12"}`) // own post: To is empty
		e.want(b, notify.KindLike, "post:500", c, a)
	})
	t.Run("comment: the post's author", func(t *testing.T) {
		e := setup(t)
		e.handle("comment", a, []int64{b}, `{"post_id":"500","comment_id":"9","author":"12","text":"hi"}`)
		e.want(b, notify.KindComment, "post:500", a)
		e.none(a)
	})
	t.Run("mention: each mentioned user but the actor", func(t *testing.T) {
		e := setup(t)
		e.handle("mention", a, []int64{b, c, a, b}, `{"post_id":"500","author":"11"}`)
		e.want(b, notify.KindMention, "post:500", a)
		e.want(c, notify.KindMention, "post:500", a)
		e.none(a)
	})
	t.Run("story.like: the story's owner", func(t *testing.T) {
		e := setup(t)
		e.handle("story.like", a, []int64{b}, `{"story_id":"77","owner":"12"}`)
		e.want(b, notify.KindStoryLike, "story:77", a)
	})
	t.Run("story.created: the author's likers", func(t *testing.T) {
		e := setup(t)
		e.handle("story.created", a, nil, `{"story_id":"78","likers":["12","13","11"]}`)
		e.want(b, notify.KindStory, "story:78", a)
		e.want(c, notify.KindStory, "story:78", a)
		e.none(a, d)
	})
	t.Run("chat.message: offline members but the sender", func(t *testing.T) {
		e := setup(t)
		e.members[900] = []int64{a, b, c, d}
		e.online[c] = true
		e.handle("chat.message", a, nil, `{"conversation_id":"900","seq":1}`)
		e.handle("chat.message", a, nil, `{"conversation_id":"900","seq":2}`)
		e.want(b, notify.KindMessage, "conversation:900", a)
		e.want(d, notify.KindMessage, "conversation:900", a)
		e.none(a, c)
		ev := events.Event{ID: e.ids.Next(), Kind: "chat.message", Actor: a, Data: json.RawMessage(`{"conversation_id":"901","seq":1}`)}
		if err := e.svc.Handle(ctx, ev); err == nil {
			t.Fatal("members unreadable, and Handle said done")
		}
	})
	t.Run("malformed and unknown events are dropped", func(t *testing.T) {
		e := setup(t)
		for _, ev := range []struct{ kind, data string }{
			{"like", `{"author":"12"}`}, {"like", `not json`}, {"follow", `{}`}, {"story.created", `{"likers":["12"]}`},
			{"chat.message", `{"seq":1}`}, {"post.created", `{"post_id":"1"}`},
		} {
			e.handle(ev.kind, a, []int64{b}, ev.data)
		}
		e.none(b)
		if n := len(e.outbox()); n != 0 {
			t.Fatalf("%d events written", n)
		}
	})
}

func TestHandleRedelivery(t *testing.T) {
	e := setup(t)
	ev := events.Event{ID: e.ids.Next(), Kind: "mention", Actor: 1, To: []int64{2, 3}, Data: json.RawMessage(`{"post_id":"5"}`)}
	for range 3 {
		if err := e.svc.Handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	e.want(2, notify.KindMention, "post:5", 1)
	e.want(3, notify.KindMention, "post:5", 1)
	out := e.outbox()
	if len(out) != 2 || e.notes.Load() != 2 {
		t.Fatalf("%d events, %d notifies; want 2", len(out), e.notes.Load())
	}
	for _, o := range out {
		var g map[string]any
		if err := json.Unmarshal(o.Data, &g); err != nil || o.Kind != notify.KindNotification || len(o.To) != 1 {
			t.Fatalf("event %+v: %v", o, err)
		}
		if g["kind"] != "mention" || g["object"] != "post:5" || g["actor_count"] != 1.0 || g["read"] != false {
			t.Errorf("event data %s", o.Data)
		}
		if _, ok := g["id"].(string); !ok {
			t.Errorf("id not a string: %s", o.Data)
		}
		if acts, _ := g["actors"].([]any); len(acts) != 1 || acts[0] != "1" {
			t.Errorf("actors %s", o.Data)
		}
	}
}

// do sends a request as user uid; body is JSON-encoded unless a string.
func (e *env) do(uid int64, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	st, m, _ := socialtest.Do(e.t, method, e.srv.URL+path, uid, body)
	return st, m
}

func TestHTTP(t *testing.T) {
	e := setup(t)
	const me = 2
	for i := range 5 { // five posts liked, the last one twice
		e.handle("like", 10+int64(i), []int64{me}, fmt.Sprintf(`{"post_id":"%d"}`, 100+i))
	}
	e.handle("like", 20, []int64{me}, `{"post_id":"104"}`)

	st, body := e.do(me, "GET", "/v1/notifications/unread", nil)
	if st != 200 || body["unread"] != 5.0 {
		t.Fatalf("unread: %d %v", st, body)
	}
	// Pages of two, newest activity first.
	var items []map[string]any
	cursor := ""
	for range 10 {
		st, body = e.do(me, "GET", "/v1/notifications?limit=2&cursor="+cursor, nil)
		if st != 200 {
			t.Fatalf("list: %d %v", st, body)
		}
		for _, it := range body["items"].([]any) {
			items = append(items, it.(map[string]any))
		}
		if cursor = body["next_cursor"].(string); cursor == "" {
			break
		}
	}
	if len(items) != 5 {
		t.Fatalf("%d items", len(items))
	}
	top := items[0]
	if top["object"] != "post:104" || top["actor_count"] != 2.0 || top["kind"] != "like" || top["read"] != false {
		t.Fatalf("top %v", top)
	}
	if acts := top["actors"].([]any); len(acts) != 2 || acts[0] != "20" || acts[1] != "14" {
		t.Fatalf("actors %v", acts)
	}
	for _, f := range []string{"id", "activity_id"} {
		if _, ok := top[f].(string); !ok {
			t.Fatalf("%s is not a string: %v", f, top)
		}
	}
	for _, f := range []string{"first_at", "last_at"} {
		if _, err := time.Parse(time.RFC3339, top[f].(string)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}

	// Read up to the third item: two stay unread; again is the same.
	third := items[2]["activity_id"].(string)
	for range 2 {
		st, body = e.do(me, "POST", "/v1/notifications/read", map[string]string{"upto": third})
		if st != 200 || body["read_upto"] != third || body["unread"] != 2.0 {
			t.Fatalf("read: %d %v", st, body)
		}
	}
	_, body = e.do(me, "GET", "/v1/notifications", nil)
	var read []bool
	for _, it := range body["items"].([]any) {
		read = append(read, it.(map[string]any)["read"].(bool))
	}
	if !slices.Equal(read, []bool{false, false, true, true, true}) {
		t.Fatalf("read flags %v", read)
	}
	// All read; then new activity on a read group reopens it on top.
	e.do(me, "POST", "/v1/notifications/read", map[string]string{"upto": top["activity_id"].(string)})
	e.handle("like", 30, []int64{me}, `{"post_id":"101"}`)
	_, body = e.do(me, "GET", "/v1/notifications/unread", nil)
	if body["unread"] != 1.0 {
		t.Fatalf("unread after new activity: %v", body)
	}
	_, body = e.do(me, "GET", "/v1/notifications?limit=1", nil)
	if it := body["items"].([]any)[0].(map[string]any); it["object"] != "post:101" || it["read"] != false || body["next_cursor"] == "" {
		t.Fatalf("top after reopening: %v", body)
	}
	// Another user sees none of it.
	_, body = e.do(3, "GET", "/v1/notifications", nil)
	if items := body["items"].([]any); len(items) != 0 || body["next_cursor"] != "" {
		t.Fatalf("another user's list: %v", body)
	}
}

func TestHTTPErrors(t *testing.T) {
	e := setup(t)
	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
		code, param        string
	}{
		{"no user", "GET", "/v1/notifications", nil, 401, "unauthenticated", ""},
		{"bad cursor", "GET", "/v1/notifications?cursor=zz!", nil, 400, "invalid_parameter", "cursor"},
		{"short cursor", "GET", "/v1/notifications?cursor=AAAA", nil, 400, "invalid_parameter", "cursor"},
		{"bad limit", "GET", "/v1/notifications?limit=0", nil, 400, "invalid_parameter", "limit"},
		{"big limit", "GET", "/v1/notifications?limit=1000", nil, 400, "invalid_parameter", "limit"},
		{"upto not an id", "POST", "/v1/notifications/read", map[string]any{"upto": "abc"}, 400, "invalid_parameter", "upto"},
		{"upto negative", "POST", "/v1/notifications/read", map[string]any{"upto": "-5"}, 400, "invalid_parameter", "upto"},
		{"upto a number", "POST", "/v1/notifications/read", map[string]any{"upto": 5}, 400, "invalid_parameter", "upto"},
		{"upto missing", "POST", "/v1/notifications/read", map[string]any{}, 400, "invalid_parameter", "upto"},
		{"unknown field", "POST", "/v1/notifications/read", map[string]any{"upto": "5", "all": true}, 400, "unknown_field", "all"},
		{"not json", "POST", "/v1/notifications/read", "{", 400, "invalid_json", ""},
		{"wrong method", "DELETE", "/v1/notifications", nil, 405, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			uid := int64(5)
			if c.code == "unauthenticated" {
				uid = 0
			}
			st, body := e.do(uid, c.method, c.path, c.body)
			if st != c.status {
				t.Fatalf("status %d, want %d: %v", st, c.status, body)
			}
			if c.code == "" {
				return
			}
			eb, _ := body["error"].(map[string]any)
			if eb["code"] != c.code || (c.param != "" && eb["param"] != c.param) {
				t.Fatalf("error %v, want %s param %s", eb, c.code, c.param)
			}
		})
	}
	// A mark on a user with nothing changes nothing.
	if st, body := e.do(5, "POST", "/v1/notifications/read", map[string]any{"upto": "123456"}); st != 200 || body["read_upto"] != "0" || body["unread"] != 0.0 {
		t.Fatalf("mark on nothing: %d %v", st, body)
	}
}

func TestStoreUnavailable(t *testing.T) {
	e := setup(t, func(c *notify.Config) { c.Store = failing{c.Store} })
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/notifications"}, {"GET", "/v1/notifications/unread"}, {"POST", "/v1/notifications/read"},
	} {
		st, body := e.do(5, r.method, r.path, map[string]string{"upto": "7"})
		eb, _ := body["error"].(map[string]any)
		if st != 503 || eb["code"] != "store_unavailable" {
			t.Fatalf("%s %s: %d %v", r.method, r.path, st, body)
		}
		if raw, _ := json.Marshal(body); bytes.Contains(raw, []byte("10.0.0.7")) {
			t.Fatalf("the cause leaked: %s", raw)
		}
	}
}

func TestConfig(t *testing.T) {
	if _, err := notify.New(notify.DefaultConfig()); err == nil {
		t.Fatal("a config without store, ids, auth and hooks was taken")
	}
	c := notify.DefaultConfig()
	c.PageLimit, c.MaxPageLimit, c.MaxPerUser = 50, 10, 0
	err := c.Validate()
	for _, want := range []string{"no store", "no id generator", "no authenticator", "ConversationMembers", "max per user", "page limit 50"} {
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("validate: %v, want it to name %q", err, want)
		}
	}
	if !slices.Equal(notify.DefaultConfig().Consumer.Kinds, notify.Kinds) || notify.DefaultConfig().Consumer.Name != "notify" {
		t.Error("the consumer is not notify over its kinds")
	}
}
