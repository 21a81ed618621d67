package chat_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/chat/pebblestore"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
)

// recorder is a Live that keeps what it was given, in order.
type recorder struct {
	mu        sync.Mutex
	delivered []events.Event
	signals   []events.Event
}

func (r *recorder) Deliver(_ context.Context, evs []events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivered = append(r.delivered, evs...)
	return nil
}

func (r *recorder) Signal(_ context.Context, ev events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signals = append(r.signals, ev)
	return nil
}

type env struct {
	t     *testing.T
	svc   *chat.Service
	store *pebblestore.Store
	db    *pebble.DB // the store's, and its outbox's
	live  *recorder
	srv   *httptest.Server
	media map[string]string // media id -> owner
}

// users 1..9 exist; media "m1" is user 1's, "m2" user 2's.
func setup(t *testing.T, mod ...func(*chat.Config)) *env {
	t.Helper()
	db := socialtest.Pebble(t)
	gen, err := ids.New(1)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: pebblestore.New(db, pebblestore.Config{}), db: db, live: &recorder{},
		media: map[string]string{"m1": "user:1", "m2": "user:2"}}
	cfg := chat.DefaultConfig()
	cfg.Store, cfg.IDs, cfg.Auth, cfg.Live = e.store, gen, socialtest.HeaderAuth{}, e.live
	cfg.MediaOwner = func(_ context.Context, id string) (string, error) {
		if o, ok := e.media[id]; ok {
			return o, nil
		}
		return "", chat.ErrNoMedia
	}
	cfg.UsersExist = func(_ context.Context, want []int64) ([]int64, error) {
		var missing []int64
		for _, id := range want {
			if id < 1 || id > 9 {
				missing = append(missing, id)
			}
		}
		return missing, nil
	}
	for _, m := range mod {
		m(&cfg)
	}
	if e.svc, err = chat.New(cfg); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.svc)
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request as user uid; body is JSON-encoded unless a string.
func (e *env) do(uid int64, method, path string, body any) (int, map[string]any, http.Header) {
	e.t.Helper()
	return socialtest.Do(e.t, method, e.srv.URL+path, uid, body)
}

func (e *env) group(creator int64, members ...string) string {
	e.t.Helper()
	st, c, _ := e.do(creator, "POST", "/v1/conversations", map[string]any{"member_ids": members, "title": "g"})
	if st != 201 {
		e.t.Fatalf("create group: %d %v", st, c)
	}
	return c["id"].(string)
}

func (e *env) sendText(uid int64, conv, cmid, text string) (int, map[string]any) {
	e.t.Helper()
	st, m, _ := e.do(uid, "POST", "/v1/conversations/"+conv+"/messages", map[string]any{"client_msg_id": cmid, "text": text})
	return st, m
}

func errCode(m map[string]any) (code, param string) {
	e, _ := m["error"].(map[string]any)
	code, _ = e["code"].(string)
	param, _ = e["param"].(string)
	return code, param
}

func TestDirectOncePerPair(t *testing.T) {
	e := setup(t)
	st1, a, _ := e.do(1, "POST", "/v1/conversations", map[string]any{"member_ids": []string{"2"}})
	st2, b, _ := e.do(2, "POST", "/v1/conversations", map[string]any{"member_ids": []string{"1"}})
	if st1 != 201 || st2 != 200 || a["id"] != b["id"] || a["kind"] != "direct" {
		t.Fatalf("direct twice: %d %v / %d %v", st1, a, st2, b)
	}
	if a["peer"] != "2" || b["peer"] != "1" {
		t.Fatalf("peers: %v %v", a["peer"], b["peer"])
	}
}

func TestSendIdempotentAndOrdered(t *testing.T) {
	e := setup(t)
	conv := e.group(1, "2", "3")
	for i := 1; i <= 3; i++ {
		st, m := e.sendText(int64(i), conv, "c"+strconv.Itoa(i), "hello "+strconv.Itoa(i))
		if st != 201 || m["seq"].(float64) != float64(i) {
			t.Fatalf("send %d: %d %v", i, st, m)
		}
	}
	st, m := e.sendText(2, conv, "c2", "hello 2")
	if st != 200 || m["seq"].(float64) != 2 {
		t.Fatalf("a retry must answer 200 with the same seq: %d %v", st, m)
	}
	// The same client id from another sender is another message.
	if st, m := e.sendText(3, conv, "c2", "mine"); st != 201 || m["seq"].(float64) != 4 {
		t.Fatalf("another sender's c2: %d %v", st, m)
	}
	// Chat list: unread for user 1 is 3 (it read up to its own seq 1).
	st, l, _ := e.do(1, "GET", "/v1/conversations", nil)
	items := l["items"].([]any)
	if st != 200 || len(items) != 1 {
		t.Fatalf("chat list: %d %v", st, l)
	}
	c := items[0].(map[string]any)
	if c["unread"].(float64) != 3 || c["last_seq"].(float64) != 4 || c["last_message"].(map[string]any)["preview"] != "mine" {
		t.Fatalf("chat list item: %v", c)
	}
	if st, _, _ := e.do(1, "POST", "/v1/conversations/"+conv+"/read", map[string]any{"seq": 4}); st != 204 {
		t.Fatalf("read: %d", st)
	}
	_, l, _ = e.do(1, "GET", "/v1/conversations", nil)
	if u := l["items"].([]any)[0].(map[string]any)["unread"]; u.(float64) != 0 {
		t.Fatalf("unread after reading all: %v", u)
	}
}

// TestDeliverInOrder: an event for seq 3 delivers 1..3 in order; a late
// event for seq 2 delivers nothing more.
func TestDeliverInOrder(t *testing.T) {
	e := setup(t)
	conv := e.group(1, "2")
	for i := 1; i <= 3; i++ {
		e.sendText(1, conv, "d"+strconv.Itoa(i), "m")
	}
	cid, _ := strconv.ParseInt(conv, 10, 64)
	ev := func(seq int) events.Event {
		return events.Event{ID: int64(seq), Kind: chat.KindSent, Data: []byte(`{"conversation_id":"` + conv + `","seq":` + strconv.Itoa(seq) + `}`)}
	}
	if err := e.svc.Deliver(context.Background(), ev(3)); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Deliver(context.Background(), ev(2)); err != nil {
		t.Fatal(err)
	}
	if len(e.live.delivered) != 3 {
		t.Fatalf("%d delivered, want 3", len(e.live.delivered))
	}
	for i, d := range e.live.delivered {
		var m struct{ Seq int64 }
		_ = json.Unmarshal(d.Data, &m)
		if m.Seq != int64(i+1) || d.Kind != "message" || len(d.To) != 2 {
			t.Fatalf("delivery %d: %+v", i, d)
		}
	}
	if p, _ := e.store.PushedSeq(context.Background(), cid); p != 3 {
		t.Fatalf("pushed cursor %d, want 3", p)
	}
}

func TestBadInput(t *testing.T) {
	e := setup(t, func(c *chat.Config) { c.SendRate.Burst, c.SendRate.Every = 5, time.Hour })
	conv := e.group(1, "2")
	other := e.group(3, "4")
	path := "/v1/conversations/" + conv + "/messages"
	for _, tc := range []struct {
		name   string
		uid    int64
		method string
		path   string
		body   any
		status int
		code   string
		param  string
	}{
		{"unknown conversation", 1, "POST", "/v1/conversations/99999/messages", map[string]any{"client_msg_id": "x", "text": "t"}, 404, "not_found", ""},
		{"not a member", 1, "POST", "/v1/conversations/" + other + "/messages", map[string]any{"client_msg_id": "x", "text": "t"}, 404, "not_found", ""},
		{"bad conversation id", 1, "GET", "/v1/conversations/abc/messages", nil, 400, "invalid_parameter", "id"},
		{"oversized text", 1, "POST", path, map[string]any{"client_msg_id": "x", "text": strings.Repeat("a", 4097)}, 413, "text_too_long", "text"},
		{"foreign media", 1, "POST", path, map[string]any{"client_msg_id": "x", "media_ids": []string{"m2"}}, 403, "media_not_allowed", ""},
		{"missing media", 1, "POST", path, map[string]any{"client_msg_id": "x", "media_ids": []string{"nope"}}, 400, "invalid_parameter", "media_ids"},
		{"no client id", 1, "POST", path, map[string]any{"text": "t"}, 400, "invalid_parameter", "client_msg_id"},
		{"empty message", 1, "POST", path, map[string]any{"client_msg_id": "x"}, 400, "invalid_parameter", "text"},
		{"unknown field", 1, "POST", path, map[string]any{"client_msg_id": "x", "text": "t", "color": "red"}, 400, "unknown_field", "color"},
		{"malformed JSON", 1, "POST", path, `{"client_msg_id": "x",`, 400, "invalid_json", ""},
		{"reply to nothing", 1, "POST", path, map[string]any{"client_msg_id": "x", "text": "t", "reply_to": 7}, 400, "invalid_parameter", "reply_to"},
		{"bad cursor", 1, "GET", "/v1/conversations?cursor=zzz", nil, 400, "invalid_parameter", "cursor"},
		{"bad before_seq", 1, "GET", path + "?before_seq=-1", nil, 400, "invalid_parameter", "before_seq"},
		{"both directions", 1, "GET", path + "?before_seq=3&after_seq=1", nil, 400, "invalid_parameter", "before_seq"},
		{"bad limit", 1, "GET", path + "?limit=0", nil, 400, "invalid_parameter", "limit"},
		{"unknown user", 1, "POST", "/v1/conversations", map[string]any{"member_ids": []string{"77"}}, 404, "user_not_found", "member_ids"},
		{"read past the end", 1, "POST", "/v1/conversations/" + conv + "/read", map[string]any{"seq": 5}, 400, "invalid_parameter", "seq"},
		{"no auth", 0, "GET", "/v1/conversations", nil, 401, "unauthenticated", ""},
	} {
		st, body, _ := e.do(tc.uid, tc.method, tc.path, tc.body)
		code, param := errCode(body)
		if st != tc.status || code != tc.code || (tc.param != "" && param != tc.param) {
			t.Errorf("%s: %d %s %s, want %d %s %s (%v)", tc.name, st, code, param, tc.status, tc.code, tc.param, body)
		}
	}
	// Nothing above was written: the conversation is still empty.
	if _, l, _ := e.do(1, "GET", path, nil); len(l["items"].([]any)) != 0 {
		t.Fatalf("refused sends left messages: %v", l)
	}
	// The sixth send in a burst of five is refused with Retry-After (user
	// 2: user 1's checks above that reached the store spent tokens).
	for i := range 5 {
		if st, m := e.sendText(2, conv, "r"+strconv.Itoa(i), "t"); st != 201 {
			t.Fatalf("send %d: %d %v", i, st, m)
		}
	}
	st, body, h := e.do(2, "POST", path, map[string]any{"client_msg_id": "r9", "text": "t"})
	if code, _ := errCode(body); st != 429 || code != "rate_limited" || h.Get("Retry-After") == "" {
		t.Fatalf("over the rate: %d %v %v", st, body, h)
	}
}

// limited is an env whose users have burst tokens of SendRate, one more an
// hour, on a clock that moves only when told.
func limited(t *testing.T, burst int) (*env, *socialtest.Clock) {
	t.Helper()
	clock := socialtest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	e := setup(t, func(c *chat.Config) {
		c.SendRate.Burst, c.SendRate.Every = burst, time.Hour
		c.Now = clock.Now
	})
	return e, clock
}

// updatesOf counts the events in the outbox addressed to uid: what the
// fan-out will store in uid's update stream.
func (e *env) updatesOf(uid int64) int {
	e.t.Helper()
	n := 0
	for _, ev := range socialtest.ReadOutbox(e.t, socialtest.PebbleOutbox(e.t, e.db)) {
		if slices.Contains(ev.To, uid) {
			n++
		}
	}
	return n
}

// wantLimited: the answer is 429 rate_limited with Retry-After retry.
func wantLimited(t *testing.T, what string, st int, body map[string]any, h http.Header, retry string) {
	t.Helper()
	if code, _ := errCode(body); st != 429 || code != "rate_limited" || h.Get("Retry-After") != retry {
		t.Fatalf("%s: %d %v Retry-After %q, want 429 rate_limited with Retry-After %s", what, st, body, h.Get("Retry-After"), retry)
	}
}

// TestPinTogglesRateLimited: a member toggling a pin spends the budget of
// sends; past its burst every toggle is 429 with Retry-After and the other
// member's updates stop growing; a refused toggle costs nothing, so one
// token later exactly one more goes through.
func TestPinTogglesRateLimited(t *testing.T) {
	const burst = 5
	e, clock := limited(t, burst)
	conv := e.group(2, "1") // made by user 2: user 1's bucket is full
	e.sendText(2, conv, "p", "pin me")
	pin := "/v1/conversations/" + conv + "/pins/1"
	toggle := func(i int) (int, map[string]any, http.Header) {
		if i%2 == 0 {
			return e.do(1, "PUT", pin, nil)
		}
		return e.do(1, "DELETE", pin, nil)
	}
	before := e.updatesOf(2)
	for i := range burst {
		if st, b, _ := toggle(i); st != 204 {
			t.Fatalf("toggle %d: %d %v", i, st, b)
		}
	}
	if got := e.updatesOf(2) - before; got != burst {
		t.Fatalf("%d updates for user 2 from %d toggles", got, burst)
	}
	for i := burst; i < 100; i++ {
		st, b, h := toggle(i)
		wantLimited(t, "toggle "+strconv.Itoa(i), st, b, h, "3600")
	}
	if got := e.updatesOf(2) - before; got != burst {
		t.Fatalf("%d updates for user 2 after 100 toggles, want %d (the refused ones wrote nothing)", got, burst)
	}
	clock.Advance(time.Hour)
	if st, b, _ := toggle(burst); st != 204 {
		t.Fatalf("toggle an hour later: %d %v", st, b)
	}
	st, b, h := toggle(burst + 1)
	wantLimited(t, "the toggle after that", st, b, h, "3600")
	if got := e.updatesOf(2) - before; got != burst+1 {
		t.Fatalf("%d updates for user 2, want %d", got, burst+1)
	}
	// Reading is not limited, nor are marks.
	if st, _, _ := e.do(1, "GET", "/v1/conversations/"+conv, nil); st != 200 {
		t.Fatalf("get while limited: %d", st)
	}
	if st, b, _ := e.do(1, "POST", "/v1/conversations/"+conv+"/read", map[string]any{"seq": 1}); st != 204 {
		t.Fatalf("read mark while limited: %d %v", st, b)
	}
}

// TestConversationChangesRateLimited: creating groups, renaming one and
// every other action that tells the other members (member and role
// changes, edits, deletes for everyone) spend the same budget: past the
// burst each is 429 with Retry-After and writes nothing.
func TestConversationChangesRateLimited(t *testing.T) {
	const burst = 3
	e, clock := limited(t, burst)
	// User 1 is the admin of g, with one message of theirs (seq 1) and
	// three of user 2's (seqs 2-4) to edit and delete.
	g := e.group(1, "2")
	e.sendText(1, g, "mine", "edit me")
	for i := range 3 {
		e.sendText(2, g, "theirs"+strconv.Itoa(i), "delete me")
	}
	c := "/v1/conversations/"
	type req struct {
		method, path string
		body         any
	}
	for _, tc := range []struct {
		name   string
		status int
		req    func(i int) req // the i-th attempt
	}{
		{"create a group", 201, func(i int) req {
			return req{"POST", "/v1/conversations", map[string]any{"member_ids": []string{"2"}, "title": "g" + strconv.Itoa(i)}}
		}},
		{"rename", 200, func(i int) req { return req{"PATCH", c + g, map[string]any{"title": "t" + strconv.Itoa(i)}} }},
		{"add a member", 200, func(i int) req {
			return req{"POST", c + g + "/members", map[string]any{"user_ids": []string{strconv.Itoa(3 + i)}}}
		}},
		{"set a role", 204, func(i int) req {
			return req{"PUT", c + g + "/members/2/role", map[string]any{"role": []string{"admin", "member"}[i%2]}}
		}},
		{"remove a member", 204, func(i int) req { return req{"DELETE", c + g + "/members/" + strconv.Itoa(3+i), nil} }},
		{"edit", 200, func(i int) req {
			return req{"PATCH", c + g + "/messages/1", map[string]any{"text": "e" + strconv.Itoa(i)}}
		}},
		{"delete for everyone", 204, func(i int) req { return req{"DELETE", c + g + "/messages/" + strconv.Itoa(2+i%3), nil} }},
	} {
		clock.Advance(burst * time.Hour) // a full bucket
		for i := range burst {
			r := tc.req(i)
			if st, b, _ := e.do(1, r.method, r.path, r.body); st != tc.status {
				t.Fatalf("%s, attempt %d: %d %v, want %d", tc.name, i, st, b, tc.status)
			}
		}
		before := e.updatesOf(2)
		r := tc.req(burst)
		st, b, h := e.do(1, r.method, r.path, r.body)
		wantLimited(t, tc.name+" past the burst", st, b, h, "3600")
		if n := e.updatesOf(2); n != before {
			t.Fatalf("%s past the burst wrote %d events for user 2", tc.name, n-before)
		}
	}
	// The refused create made no group: user 2 is in g and the three.
	if _, l, _ := e.do(2, "GET", "/v1/conversations", nil); len(l["items"].([]any)) != 1+burst {
		t.Fatalf("user 2's conversations: %v, want %d", l, 1+burst)
	}
}

// TestTypingLimitedApart: typing is limited per user and conversation,
// once a second, with a 429 of its own; it spends nothing of the send
// budget, which stays whole for sends.
func TestTypingLimitedApart(t *testing.T) {
	const burst = 3
	e, clock := limited(t, burst)
	a, b := e.group(2, "1"), e.group(2, "1", "3") // made by user 2: user 1's bucket is full
	typing := func(conv string) (int, map[string]any, http.Header) {
		return e.do(1, "POST", "/v1/conversations/"+conv+"/typing", nil)
	}
	if st, body, _ := typing(a); st != 204 {
		t.Fatalf("typing: %d %v", st, body)
	}
	for range 50 {
		st, body, h := typing(a)
		wantLimited(t, "typing again within the second", st, body, h, "1")
	}
	if st, body, _ := typing(b); st != 204 {
		t.Fatalf("typing in another conversation: %d %v", st, body)
	}
	for i := range burst {
		if st, m := e.sendText(1, a, "t"+strconv.Itoa(i), "typed"); st != 201 {
			t.Fatalf("send %d after typing: %d %v (typing spent the send budget)", i, st, m)
		}
	}
	clock.Advance(time.Second) // the typing limit's interval
	if st, body, _ := typing(a); st != 204 {
		t.Fatalf("typing a second later: %d %v", st, body)
	}
	e.live.mu.Lock()
	n := len(e.live.signals)
	e.live.mu.Unlock()
	if n != 3 {
		t.Fatalf("%d typing signals, want 3 (the refused ones sent none)", n)
	}
}

func TestHistoryPaging(t *testing.T) {
	e := setup(t)
	conv := e.group(1, "2")
	for i := 1; i <= 25; i++ {
		e.sendText(1, conv, "h"+strconv.Itoa(i), "m"+strconv.Itoa(i))
	}
	path := "/v1/conversations/" + conv + "/messages"
	seqs := func(m map[string]any) []int {
		var out []int
		for _, it := range m["items"].([]any) {
			out = append(out, int(it.(map[string]any)["seq"].(float64)))
		}
		return out
	}
	_, latest, _ := e.do(2, "GET", path+"?limit=10", nil)
	if s := seqs(latest); len(s) != 10 || s[0] != 16 || s[9] != 25 || latest["has_before"] != true || latest["has_after"] != false {
		t.Fatalf("latest: %v %v", s, latest)
	}
	_, back, _ := e.do(2, "GET", path+"?limit=10&before_seq=16", nil)
	if s := seqs(back); len(s) != 10 || s[0] != 6 || s[9] != 15 {
		t.Fatalf("before 16: %v", s)
	}
	_, fwd, _ := e.do(2, "GET", path+"?limit=10&after_seq=20", nil)
	if s := seqs(fwd); len(s) != 5 || s[0] != 21 {
		t.Fatalf("after 20: %v", s)
	}
	// Delete for me hides one seq for user 2 only; clear hides all so far.
	if st, _, _ := e.do(2, "DELETE", path+"/24?for=me", nil); st != 204 {
		t.Fatalf("hide: %d", st)
	}
	_, fwd, _ = e.do(2, "GET", path+"?after_seq=20", nil)
	if s := seqs(fwd); len(s) != 4 || s[3] != 25 {
		t.Fatalf("after hiding 24: %v", s)
	}
	if _, fwd, _ = e.do(1, "GET", path+"?after_seq=20", nil); len(seqs(fwd)) != 5 {
		t.Fatal("hiding for user 2 hid for user 1")
	}
	if st, _, _ := e.do(2, "POST", "/v1/conversations/"+conv+"/clear", nil); st != 204 {
		t.Fatalf("clear: %d", st)
	}
	e.sendText(1, conv, "h26", "after the clear")
	if _, l, _ := e.do(2, "GET", path, nil); len(seqs(l)) != 1 || seqs(l)[0] != 26 {
		t.Fatalf("after clear: %v", seqs(l))
	}
}

func TestEditDeletePinGroupRules(t *testing.T) {
	e := setup(t)
	conv := e.group(1, "2", "3")
	e.sendText(2, conv, "e1", "first")
	msg := "/v1/conversations/" + conv + "/messages/1"
	if st, b, _ := e.do(1, "PATCH", msg, map[string]any{"text": "not mine"}); st != 403 {
		t.Fatalf("edit by another: %d %v", st, b)
	}
	st, b, _ := e.do(2, "PATCH", msg, map[string]any{"text": "edited"})
	if st != 200 || b["text"] != "edited" || b["edited_at"] == nil {
		t.Fatalf("edit: %d %v", st, b)
	}
	if st, _, _ := e.do(2, "PUT", "/v1/conversations/"+conv+"/pins/1", nil); st != 204 {
		t.Fatalf("pin: %d", st)
	}
	if _, c, _ := e.do(3, "GET", "/v1/conversations/"+conv, nil); len(c["pinned_seqs"].([]any)) != 1 {
		t.Fatalf("pins: %v", c)
	}
	if st, _, _ := e.do(2, "DELETE", msg, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	st, b, _ = e.do(2, "PATCH", msg, map[string]any{"text": "again"})
	if code, _ := errCode(b); st != 409 || code != "message_deleted" {
		t.Fatalf("edit after delete: %d %v", st, b)
	}
	_, h, _ := e.do(3, "GET", "/v1/conversations/"+conv+"/messages", nil)
	if it := h["items"].([]any)[0].(map[string]any); it["deleted"] != true || it["text"] != "" {
		t.Fatalf("deleted placeholder: %v", it)
	}
	// Group rules: only admins add; the cap holds; a direct chat has none.
	if st, b, _ := e.do(2, "POST", "/v1/conversations/"+conv+"/members", map[string]any{"user_ids": []string{"4"}}); st != 403 {
		t.Fatalf("add by a member: %d %v", st, b)
	}
	if st, b, _ := e.do(1, "POST", "/v1/conversations/"+conv+"/members", map[string]any{"user_ids": []string{"4"}}); st != 200 || len(b["added"].([]any)) != 1 {
		t.Fatalf("add by the admin: %d %v", st, b)
	}
	small := setup(t, func(c *chat.Config) { c.MaxMembers = 3 })
	g := small.group(1, "2", "3")
	if st, b, _ := small.do(1, "POST", "/v1/conversations/"+g+"/members", map[string]any{"user_ids": []string{"4"}}); st != 409 {
		t.Fatalf("past the cap: %d %v", st, b)
	}
	if st, _, _ := e.do(3, "DELETE", "/v1/conversations/"+conv+"/members/3", nil); st != 204 {
		t.Fatalf("leave: %d", st)
	}
	if st, _ := e.sendText(3, conv, "gone", "t"); st != 404 {
		t.Fatalf("send after leaving: %d", st)
	}
	_, d, _ := e.do(1, "POST", "/v1/conversations", map[string]any{"member_ids": []string{"5"}})
	if st, b, _ := e.do(1, "DELETE", "/v1/conversations/"+d["id"].(string)+"/members/1", nil); st != 409 {
		t.Fatalf("leave a direct chat: %d %v", st, b)
	}
	// Typing goes to the other members as a signal, stored nowhere.
	if st, _, _ := e.do(1, "POST", "/v1/conversations/"+conv+"/typing", nil); st != 204 {
		t.Fatalf("typing: %d", st)
	}
	if n := len(e.live.signals); n != 1 || len(e.live.signals[0].To) != 2 {
		t.Fatalf("typing signals: %+v", e.live.signals)
	}
}

// TestMediaForwarding: a member may send media they uploaded, and anyone
// in the conversation may send it again there; not elsewhere.
func TestMediaForwarding(t *testing.T) {
	e := setup(t)
	conv := e.group(1, "2")
	path := "/v1/conversations/" + conv + "/messages"
	if st, b, _ := e.do(1, "POST", path, map[string]any{"client_msg_id": "p", "media_ids": []string{"m1"}}); st != 201 || b["media"].([]any)[0].(map[string]any)["url"] != "/m/m1" {
		t.Fatalf("own media: %d %v", st, b)
	}
	if st, b, _ := e.do(2, "POST", path, map[string]any{"client_msg_id": "f", "media_ids": []string{"m1"}}); st != 201 {
		t.Fatalf("forward within the conversation: %d %v", st, b)
	}
	other := e.group(2, "3")
	if st, _, _ := e.do(2, "POST", "/v1/conversations/"+other+"/messages", map[string]any{"client_msg_id": "f", "media_ids": []string{"m1"}}); st != 403 {
		t.Fatalf("someone else's media elsewhere: %d", st)
	}
}
