package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/mediaedge/mediaedge/internal/cassandratest"
	"github.com/mediaedge/mediaedge/internal/testmedia"
)

// TestContentEndToEnd is issue #12's scenario on the real binary, on the
// embedded store and on Cassandra: posts with an uploaded photo and GIF,
// likes (twice is once), a comment with a mention, the post in a
// follower's home feed, grouped notifications pushed live, a story that
// expires with its views, and bad input refused with nothing written.
func TestContentEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	common := []string{"--story-ttl", "3s"}
	t.Run("embedded", func(t *testing.T) { contentScenario(t, startServe(t, bin, t.TempDir(), common...)) })
	t.Run("cassandra", func(t *testing.T) {
		hosts := cassandratest.Hosts(t)
		ks := cassandratest.Keyspace(t, hosts)
		contentScenario(t, startServe(t, bin, t.TempDir(), append([]string{"--store", "cassandra",
			"--cassandra-hosts", strings.Join(hosts, ","), "--cassandra-keyspace", ks}, common...)...))
	})
}

// upload stores b with the user's session and returns its media id.
func (c *socialClient) upload(t *testing.T, b []byte) string {
	t.Helper()
	resp, body := request(t, "POST", c.base+"/upload", c.token, nil, bytes.NewReader(b))
	if resp.StatusCode != 201 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	var up struct{ ID string }
	_ = json.Unmarshal(body, &up)
	return up.ID
}

// eventually polls fn until it reports done, for up to 20 s.
func eventually(t *testing.T, what string, fn func() (bool, string)) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var ok bool
		if ok, last = fn(); ok {
			return
		}
	}
	t.Fatalf("%s: never (last: %s)", what, last)
}

func contentScenario(t *testing.T, s *served) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	alice, bob, carol := signUp(t, s.base, "alice"), signUp(t, s.base, "bob"), signUp(t, s.base, "carol")
	for _, f := range []*socialClient{bob, carol} {
		if st, b := jsonCall(t, "PUT", s.base+"/v1/users/@alice/follow", f.token, nil); st != 200 {
			t.Fatalf("follow: %d %v", st, b)
		}
	}
	ws := alice.socket(ctx, -1)
	next(ctx, t, ws, "ready")

	photo, gif := alice.upload(t, testmedia.GPSJPEG()), alice.upload(t, testmedia.AnimatedGIFWithMetadata())
	st, post := jsonCall(t, "POST", s.base+"/v1/posts", alice.token, map[string]any{"text": "first post, hi @bob", "media_ids": []string{photo, gif}})
	if st != 201 {
		t.Fatalf("post: %d %v", st, post)
	}
	pid := post["id"].(string)
	media := post["media"].([]any)
	img, anim := media[0].(map[string]any), media[1].(map[string]any)
	if img["thumb"] == nil || !strings.Contains(img["srcset"].(string), "w=640") || anim["mp4"] == nil {
		t.Fatalf("media URLs: %v", media)
	}
	// The URLs work: a thumbnail and the GIF as MP4.
	for _, u := range []string{img["thumb"].(string), anim["mp4"].(string)} {
		if resp, b := request(t, "GET", s.base+u, "", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
		}
	}

	// Likes: twice is once; exact count.
	for _, c := range []*socialClient{bob, bob, carol} {
		if st, b := jsonCall(t, "PUT", s.base+"/v1/posts/"+pid+"/like", c.token, nil); st != 200 {
			t.Fatalf("like: %d %v", st, b)
		}
	}
	if _, p := jsonCall(t, "GET", s.base+"/v1/posts/"+pid, bob.token, nil); p["likes"].(float64) != 2 || p["liked_by_me"] != true {
		t.Fatalf("after bob twice and carol: %v", p)
	}
	if st, c := jsonCall(t, "POST", s.base+"/v1/posts/"+pid+"/comments", carol.token, map[string]any{"text": "lovely, @alice"}); st != 201 {
		t.Fatalf("comment: %d %v", st, c)
	}

	// The follower's home feed has the post.
	eventually(t, "the post in bob's home feed", func() (bool, string) {
		_, f := jsonCall(t, "GET", s.base+"/v1/feed", bob.token, nil)
		items, _ := f["items"].([]any)
		return len(items) > 0 && items[0].(map[string]any)["id"] == pid, fmt.Sprint(f)
	})

	// Alice is told live, and her notifications are grouped: one like
	// group with two actors.
	sawLive := false
	for !sawLive {
		var f map[string]any
		if err := wsjson.Read(ctx, ws, &f); err != nil {
			t.Fatalf("waiting for a notification frame: %v", err)
		}
		sawLive = f["type"] == "update" && f["kind"] == "notification"
	}
	ws.Close(websocket.StatusNormalClosure, "")
	eventually(t, "alice's grouped like notification", func() (bool, string) {
		_, n := jsonCall(t, "GET", s.base+"/v1/notifications", alice.token, nil)
		items, _ := n["items"].([]any)
		for _, it := range items {
			g := it.(map[string]any)
			if g["kind"] == "like" && g["actor_count"].(float64) == 2 {
				return true, ""
			}
		}
		return false, fmt.Sprint(n)
	})
	if _, u := jsonCall(t, "GET", s.base+"/v1/notifications/unread", alice.token, nil); u["unread"].(float64) < 2 {
		t.Fatalf("unread: %v (a like group, a comment, a mention at least)", u)
	}
	eventually(t, "bob's mention notification", func() (bool, string) {
		_, n := jsonCall(t, "GET", s.base+"/v1/notifications", bob.token, nil)
		return strings.Contains(fmt.Sprint(n), "mention"), fmt.Sprint(n)
	})

	// A story: viewed, then gone with its views after its lifetime.
	st, story := jsonCall(t, "POST", s.base+"/v1/stories", alice.token, map[string]any{"media_id": photo})
	if st != 201 {
		t.Fatalf("story: %d %v", st, story)
	}
	sid := story["id"].(string)
	if st, b := jsonCall(t, "POST", s.base+"/v1/stories/"+sid+"/view", bob.token, nil); st != 204 {
		t.Fatalf("view: %d %v", st, b)
	}
	if _, v := jsonCall(t, "GET", s.base+"/v1/stories/"+sid+"/viewers", alice.token, nil); len(v["items"].([]any)) != 1 {
		t.Fatalf("viewers: %v", v)
	}
	time.Sleep(4 * time.Second)
	for _, c := range []struct {
		method, path string
		who          *socialClient
	}{{"GET", "/v1/stories/" + sid, bob}, {"POST", "/v1/stories/" + sid + "/view", carol}, {"GET", "/v1/stories/" + sid + "/viewers", alice}} {
		if st, b := jsonCall(t, c.method, s.base+c.path, c.who.token, nil); st != 404 {
			t.Fatalf("%s %s after expiry: %d %v", c.method, c.path, st, b)
		}
	}

	// Bad input: a clear 4xx, and nothing written.
	many := make([]string, 11)
	for i := range many {
		many[i] = photo
	}
	for _, c := range []struct {
		name   string
		who    *socialClient
		body   map[string]any
		status int
	}{
		{"foreign media", bob, map[string]any{"text": "x", "media_ids": []string{photo}}, 403},
		{"missing media", bob, map[string]any{"text": "x", "media_ids": []string{"nosuchmedia"}}, 400},
		{"too many media", alice, map[string]any{"text": "x", "media_ids": many}, 400},
		{"oversized text", alice, map[string]any{"text": strings.Repeat("a", 3000)}, 413},
		{"unknown field", alice, map[string]any{"text": "x", "mood": "happy"}, 400},
	} {
		if st, b := jsonCall(t, "POST", s.base+"/v1/posts", c.who.token, c.body); st != c.status {
			t.Errorf("%s: %d %v, want %d", c.name, st, b, c.status)
		}
	}
	if _, tl := jsonCall(t, "GET", s.base+"/v1/users/"+alice.id+"/posts", alice.token, nil); len(tl["items"].([]any)) != 1 {
		t.Fatalf("refused posts were written: %v", tl)
	}
	if _, tl := jsonCall(t, "GET", s.base+"/v1/users/"+bob.id+"/posts", bob.token, nil); len(tl["items"].([]any)) != 0 {
		t.Fatalf("refused posts were written: %v", tl)
	}
	if st, _ := jsonCall(t, "DELETE", s.base+"/v1/posts/"+pid, alice.token, nil); st/100 != 2 {
		t.Fatalf("delete: %d", st)
	}
	if st, b := jsonCall(t, "PUT", s.base+"/v1/posts/"+pid+"/like", carol.token, nil); st != 404 {
		t.Fatalf("liking a deleted post: %d %v", st, b)
	}
}
