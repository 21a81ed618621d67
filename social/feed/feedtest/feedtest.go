// Package feedtest is the conformance suite every feed.Store backend runs:
// newest-first reads with a cursor, trimming to the cap, removal by author,
// idempotent writes and the celebrity set. Backends that share one
// database between cases (Cassandra) stay apart by random user ids.
package feedtest

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mediaedge/mediaedge/social/feed"
)

// Run runs every case against a store from open.
func Run(t *testing.T, open func(t *testing.T) feed.Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s feed.Store)
	}{
		{"add and read newest first with a cursor", testRead},
		{"fan-out reaches every feed", testFanout},
		{"trim keeps the newest", testTrim},
		{"remove by author", testRemoveAuthor},
		{"writes are idempotent", testIdempotent},
		{"celebrity set", testCelebrities},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

var ctx = context.Background()

// uid is a random user id, so cases sharing a database do not meet.
func uid() int64 { return rand.Int64N(1<<52) + 1 }

// entries makes n entries of ascending post ids from base, authors cycling
// through authors.
func entries(base int64, n int, authors ...int64) []feed.Entry {
	out := make([]feed.Entry, n)
	for i := range out {
		out[i] = feed.Entry{Post: base + int64(i)*7, Author: authors[i%len(authors)]}
	}
	return out
}

// newestFirst is es sorted by post id, descending.
func newestFirst(es []feed.Entry) []feed.Entry {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b feed.Entry) int { return int(b.Post - a.Post) })
	return out
}

// readAll pages through user's feed size at a time.
func readAll(t *testing.T, s feed.Store, user int64, size int) []feed.Entry {
	t.Helper()
	var out []feed.Entry
	var before int64
	for range 10_000 {
		page, err := s.Read(ctx, user, before, size)
		if err != nil {
			t.Fatalf("read %d below %d: %v", user, before, err)
		}
		if len(page) > size {
			t.Fatalf("read %d entries, asked for %d", len(page), size)
		}
		out = append(out, page...)
		if len(page) < size {
			return out
		}
		before = page[len(page)-1].Post
	}
	t.Fatal("feed never ends")
	return nil
}

func testRead(t *testing.T, s feed.Store) {
	user, a, b := uid(), uid(), uid()
	if got, err := s.Read(ctx, user, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("empty feed: %v %v", got, err)
	}
	es := entries(1_000_000, 25, a, b)
	// Added out of order and in two calls: order comes from post ids.
	rand.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
	if err := s.Add(ctx, user, es[:11]); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, user, es[11:]); err != nil {
		t.Fatal(err)
	}
	want := newestFirst(es)
	first, err := s.Read(ctx, user, 0, 10)
	if err != nil || !slices.Equal(first, want[:10]) {
		t.Fatalf("first page %v %v, want %v", first, err, want[:10])
	}
	next, err := s.Read(ctx, user, first[9].Post, 10)
	if err != nil || !slices.Equal(next, want[10:20]) {
		t.Fatalf("second page %v %v, want %v", next, err, want[10:20])
	}
	// A cursor between ids reads below it.
	mid, err := s.Read(ctx, user, want[3].Post+1, 2)
	if err != nil || !slices.Equal(mid, want[3:5]) {
		t.Fatalf("below %d: %v %v, want %v", want[3].Post+1, mid, err, want[3:5])
	}
	if all := readAll(t, s, user, 4); !slices.Equal(all, want) {
		t.Fatalf("paged by 4: %v, want %v", all, want)
	}
	if got, err := s.Read(ctx, user, want[24].Post, 10); err != nil || len(got) != 0 {
		t.Fatalf("below the oldest: %v %v", got, err)
	}
	if got, err := s.Read(ctx, uid(), 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("another user's feed: %v %v", got, err)
	}
}

func testFanout(t *testing.T, s feed.Store) {
	author := uid()
	users := make([]int64, 300)
	for i := range users {
		users[i] = uid()
	}
	e1 := feed.Entry{Post: 5_000_000, Author: author}
	e2 := feed.Entry{Post: 5_000_100, Author: author}
	if err := s.Fanout(ctx, users, e1); err != nil {
		t.Fatal(err)
	}
	if err := s.Fanout(ctx, users[:100], e2); err != nil {
		t.Fatal(err)
	}
	if err := s.Fanout(ctx, nil, e2); err != nil {
		t.Fatalf("fan-out to nobody: %v", err)
	}
	for i, u := range users {
		want := []feed.Entry{e1}
		if i < 100 {
			want = []feed.Entry{e2, e1}
		}
		if got, err := s.Read(ctx, u, 0, 10); err != nil || !slices.Equal(got, want) {
			t.Fatalf("user %d's feed: %v %v, want %v", i, got, err, want)
		}
	}
}

func testTrim(t *testing.T, s feed.Store) {
	user, a := uid(), uid()
	es := entries(2_000_000, 30, a)
	if err := s.Add(ctx, user, es); err != nil {
		t.Fatal(err)
	}
	if err := s.Trim(ctx, user, 40); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, user, 100); len(got) != 30 {
		t.Fatalf("trim above the size kept %d of 30", len(got))
	}
	if err := s.Trim(ctx, user, 10); err != nil {
		t.Fatal(err)
	}
	want := newestFirst(es)[:10]
	if got := readAll(t, s, user, 7); !slices.Equal(got, want) {
		t.Fatalf("after trim to 10: %v, want %v", got, want)
	}
	// A newer entry then a trim: the oldest kept one goes.
	newer := feed.Entry{Post: 3_000_000, Author: a}
	if err := s.Fanout(ctx, []int64{user}, newer); err != nil {
		t.Fatal(err)
	}
	if err := s.Trim(ctx, user, 10); err != nil {
		t.Fatal(err)
	}
	want = append([]feed.Entry{newer}, want[:9]...)
	if got := readAll(t, s, user, 100); !slices.Equal(got, want) {
		t.Fatalf("after a newer entry and a trim: %v, want %v", got, want)
	}
	if err := s.Trim(ctx, uid(), 10); err != nil {
		t.Fatalf("trim of an empty feed: %v", err)
	}
}

func testRemoveAuthor(t *testing.T, s feed.Store) {
	user, other, a, b, c := uid(), uid(), uid(), uid(), uid()
	es := entries(4_000_000, 30, a, b, c)
	if err := s.Add(ctx, user, es); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, other, es); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAuthor(ctx, user, b); err != nil {
		t.Fatal(err)
	}
	var want []feed.Entry
	for _, e := range newestFirst(es) {
		if e.Author != b {
			want = append(want, e)
		}
	}
	if got := readAll(t, s, user, 100); !slices.Equal(got, want) {
		t.Fatalf("after removing b: %v, want %v", got, want)
	}
	if got := readAll(t, s, other, 100); len(got) != 30 {
		t.Fatalf("another feed lost entries: %d of 30", len(got))
	}
	if err := s.RemoveAuthor(ctx, user, b); err != nil {
		t.Fatalf("removing again: %v", err)
	}
	if err := s.RemoveAuthor(ctx, uid(), b); err != nil {
		t.Fatalf("removing from an empty feed: %v", err)
	}
}

func testIdempotent(t *testing.T, s feed.Store) {
	user, a := uid(), uid()
	es := entries(6_000_000, 5, a)
	for range 3 {
		if err := s.Add(ctx, user, es); err != nil {
			t.Fatal(err)
		}
		if err := s.Fanout(ctx, []int64{user}, es[2]); err != nil {
			t.Fatal(err)
		}
	}
	if got := readAll(t, s, user, 100); !slices.Equal(got, newestFirst(es)) {
		t.Fatalf("after three adds: %v, want %v", got, newestFirst(es))
	}
}

func testCelebrities(t *testing.T, s feed.Store) {
	x, y := uid(), uid()
	for _, id := range []int64{x, y, x} {
		if err := s.MarkCelebrity(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Celebrities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(got) {
		t.Fatalf("celebrities not in id order: %v", got)
	}
	n := 0
	for _, id := range got {
		if id == x || id == y {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("celebrities %v: want %d and %d once each", got, x, y)
	}
}
