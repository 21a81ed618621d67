package chat_test

import (
	"slices"
	"testing"

	"github.com/mediaedge/mediaedge/internal/socialtest"
)

// TestGroupIdempotencyKey: a group create retried with its
// Idempotency-Key answers the first group (200, as the second create of a
// direct conversation does) and writes nothing, not even an event (so no
// member hears of a second group); the same key with another title is
// still the retry (as for posts); another key, or another creator's same
// key, is another group.
func TestGroupIdempotencyKey(t *testing.T) {
	e := setup(t)
	create := func(uid int64, title, key string, members ...string) (int, map[string]any) {
		t.Helper()
		st, m, _ := socialtest.Do(t, "POST", e.srv.URL+"/v1/conversations", uid,
			map[string]any{"member_ids": members, "title": title}, "Idempotency-Key", key)
		return st, m
	}
	convs := func(uid int64) []string {
		t.Helper()
		st, l, _ := e.do(uid, "GET", "/v1/conversations", nil)
		if st != 200 {
			t.Fatalf("list of %d: %d %v", uid, st, l)
		}
		var out []string
		for _, c := range l["items"].([]any) {
			out = append(out, c.(map[string]any)["id"].(string))
		}
		slices.Sort(out)
		return out
	}
	st, a := create(1, "trip", "k1", "2", "3")
	if st != 201 || a["kind"] != "group" {
		t.Fatalf("create: %d %v", st, a)
	}
	for _, title := range []string{"trip", "renamed before the retry"} {
		st, b := create(1, title, "k1", "2", "3")
		if st != 200 || b["id"] != a["id"] || b["title"] != "trip" || b["role"] != "admin" {
			t.Fatalf("retry with title %q: %d %v, first %v", title, st, b, a)
		}
	}
	for _, uid := range []int64{1, 2, 3} {
		if got := convs(uid); !slices.Equal(got, []string{a["id"].(string)}) {
			t.Fatalf("conversations of %d after retries: %v, want only %v", uid, got, a["id"])
		}
	}
	st, c := create(1, "trip", "k2", "2", "3")
	if st != 201 || c["id"] == a["id"] {
		t.Fatalf("another key: %d %v, first %v", st, c, a)
	}
	if got := convs(1); len(got) != 2 {
		t.Fatalf("conversations of 1 after another key: %v, want 2", got)
	}
	st, d := create(2, "theirs", "k1", "3")
	if st != 201 || d["id"] == a["id"] {
		t.Fatalf("another creator's same key: %d %v, first %v", st, d, a)
	}
	n := 0
	for _, ev := range socialtest.ReadOutbox(t, socialtest.PebbleOutbox(t, e.db)) {
		if ev.Kind == "conversation.created" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d conversation.created events, want 3 (none for the retries)", n)
	}
	st, m := create(1, "trip", "has space", "2", "3")
	if code, param := errCode(m); st != 400 || code != "invalid_parameter" || param != "Idempotency-Key" {
		t.Fatalf("bad key: %d %v", st, m)
	}
}
