package chat_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/mediaedge/mediaedge/social/chat"
)

// blockList is a hand-written chat.Blocks: who blocks whom.
type blockList struct {
	mu sync.Mutex        // guards by
	by map[[2]int64]bool // {blocker, blocked}
}

func (b *blockList) set(blocker, blocked int64, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.by[[2]int64{blocker, blocked}] = on
}

func (b *blockList) Blocked(_ context.Context, x, y int64) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.by[[2]int64{x, y}] || b.by[[2]int64{y, x}], nil
}

// TestBlocks: once user 2 blocks user 1, neither can start a direct chat
// with the other, add the other to a group or send in their direct chat
// (403 blocked), whichever of them asks; a group both are in still takes
// their messages; after the unblock everything works again.
func TestBlocks(t *testing.T) {
	blocks := &blockList{by: map[[2]int64]bool{}}
	e := setup(t, func(c *chat.Config) { c.Blocks = blocks })
	st, d, _ := e.do(1, "POST", "/v1/conversations", map[string]any{"member_ids": []string{"2"}})
	if st != 201 {
		t.Fatalf("direct before the block: %d %v", st, d)
	}
	direct := d["id"].(string)
	if st, m := e.sendText(1, direct, "before", "hi"); st != 201 {
		t.Fatalf("send before the block: %d %v", st, m)
	}
	shared := e.group(1, "2", "3") // a group both are in before the block
	other := e.group(1, "3")       // a group user 2 is not in

	blocks.set(2, 1, true)
	type call struct {
		what      string
		uid       int64
		method    string
		path      string
		body      map[string]any
		wantParam string
	}
	refused := []call{
		{"user 1 creates the direct chat", 1, "POST", "/v1/conversations", map[string]any{"member_ids": []string{"2"}}, "member_ids"},
		{"user 2 creates the direct chat", 2, "POST", "/v1/conversations", map[string]any{"member_ids": []string{"1"}}, "member_ids"},
		{"user 1 makes a group with user 2", 1, "POST", "/v1/conversations", map[string]any{"member_ids": []string{"2", "3"}, "title": "t"}, "member_ids"},
		{"user 1 adds user 2 to a group", 1, "POST", "/v1/conversations/" + other + "/members", map[string]any{"user_ids": []string{"4", "2"}}, "user_ids"},
		{"user 1 sends in the direct chat", 1, "POST", "/v1/conversations/" + direct + "/messages", map[string]any{"client_msg_id": "after1", "text": "hi"}, ""},
		{"user 2 sends in the direct chat", 2, "POST", "/v1/conversations/" + direct + "/messages", map[string]any{"client_msg_id": "after2", "text": "hi"}, ""},
	}
	for _, c := range refused {
		st, b, _ := e.do(c.uid, c.method, c.path, c.body)
		if code, param := errCode(b); st != 403 || code != "blocked" || param != c.wantParam {
			t.Errorf("%s while blocked: %d %v, want 403 blocked (param %q)", c.what, st, b, c.wantParam)
		}
	}
	// The refused add added nobody, not even user 4.
	if _, ms, _ := e.do(1, "GET", "/v1/conversations/"+other+"/members", nil); len(ms["items"].([]any)) != 2 {
		t.Errorf("members after a refused add: %v", ms)
	}
	// A group both were in already still takes their messages.
	for _, uid := range []int64{1, 2} {
		if st, m := e.sendText(uid, shared, "g"+strconv.FormatInt(uid, 10), "in the group"); st != 201 {
			t.Errorf("user %d sends in a shared group while blocked: %d %v", uid, st, m)
		}
	}

	blocks.set(2, 1, false)
	if st, b, _ := e.do(1, "POST", "/v1/conversations", map[string]any{"member_ids": []string{"2"}}); st != 200 || b["id"] != direct {
		t.Errorf("direct chat after the unblock: %d %v, want 200 and the old one", st, b)
	}
	if st, b, _ := e.do(1, "POST", "/v1/conversations/"+other+"/members", map[string]any{"user_ids": []string{"2"}}); st != 200 || len(b["added"].([]any)) != 1 {
		t.Errorf("add after the unblock: %d %v", st, b)
	}
	if st, m := e.sendText(2, direct, "after-unblock", "hi again"); st != 201 || m["seq"] != 2.0 {
		t.Errorf("send after the unblock: %d %v, want seq 2 (the refused sends took none)", st, m)
	}
}
