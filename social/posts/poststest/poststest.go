// Package poststest is the conformance suite of posts.Store: every backend
// (pebblestore, cassandrastore) runs Run from its store_test.go.
package poststest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/posts"
)

// Backend is a store under test and a way to read its outbox.
type Backend struct {
	Store posts.Store
	// Outbox returns every event in the store's outbox, in any order. The
	// database may be shared with other cases: the suite looks only at the
	// events it built.
	Outbox func(ctx context.Context) ([]events.Event, error)
}

// Opener returns the backend of one case: a fresh database, or one shared
// by all cases (every id is random per case).
type Opener = func(t *testing.T) Backend

// Run runs the store-level cases, each on the backend open returns for it.
func Run(t *testing.T, open Opener) {
	gen := socialtest.IDs(t)
	cases := []struct {
		name string
		run  func(*fixture)
	}{
		{"create and get", createGet},
		{"idempotency key returns the first post", idempotency},
		{"edit: whole row, never a deleted post", edit},
		{"delete: soft, once", deletePost},
		{"archive and unarchive", archive},
		{"likes: idempotent, exact, listed", likes},
		{"likes: exact under 16 goroutines", likesConcurrent},
		{"comments: exact count, oldest first, delete", comments},
		{"comments: idempotency key returns the first comment", commentIdempotency},
		{"timeline: newest first, paged, per author", timeline},
		{"missing things are ErrNotFound", notFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fixture{t: t, b: open(t), ids: gen, at: time.Now().UTC().Truncate(time.Millisecond), led: socialtest.NewLedger()}
			f.s = f.b.Store
			c.run(f)
			f.led.Check(t, f.b.Outbox) // exactly the expected events of those the case built
		})
	}
}

// fixture makes ids and events for one case, and keeps which events the
// case built and which of them the outbox must hold.
type fixture struct {
	t   *testing.T
	b   Backend
	s   posts.Store
	ids *ids.Generator
	at  time.Time
	led *socialtest.Ledger // the events the case built and expects
}

var ctx = context.Background()

func (f *fixture) id() int64 { return f.ids.Next() }

// event builds an event the case may hand to a write.
func (f *fixture) event(kind string, actor int64) events.Event {
	e := events.Event{ID: f.id(), Kind: kind, Actor: actor, Data: json.RawMessage(`{}`), At: f.at}
	f.led.Made(e.ID)
	return e
}

func (f *fixture) expect(evs ...events.Event) {
	for _, e := range evs {
		f.led.Expect(e.ID)
	}
}

// changed checks a write's changed flag and expects its event when set.
func (f *fixture) changed(what string, ev events.Event, want bool) func(bool, error) {
	return func(got bool, err error) {
		f.t.Helper()
		if err != nil || got != want {
			f.t.Fatalf("%s: changed %v, %v; want changed %v", what, got, err, want)
		}
		if got {
			f.expect(ev)
		}
	}
}

// evs is an EventsFunc handing out fixed events.
func evs(e ...events.Event) posts.EventsFunc {
	return func(posts.Post) ([]events.Event, error) { return e, nil }
}

// newPost creates a post by author and expects its events.
func (f *fixture) newPost(author int64, text string, media ...posts.Media) posts.Post {
	f.t.Helper()
	p := posts.Post{ID: f.id(), Author: author, Text: text, Media: media, CreatedAt: f.at}
	ev := f.event(posts.KindCreated, author)
	got, created, err := f.s.CreatePost(ctx, p, "", evs(ev))
	if err != nil || !created || got.ID != p.ID {
		f.t.Fatalf("create post: %+v created %v, %v", got, created, err)
	}
	f.expect(ev)
	return got
}

func (f *fixture) get(id int64) posts.Post {
	f.t.Helper()
	p, err := f.s.GetPost(ctx, id)
	if err != nil {
		f.t.Fatalf("get post %d: %v", id, err)
	}
	return p
}

func samePost(t *testing.T, what string, got, want posts.Post) {
	t.Helper()
	ok := got.ID == want.ID && got.Author == want.Author && got.Text == want.Text &&
		got.CreatedAt.Equal(want.CreatedAt) && got.EditedAt.Equal(want.EditedAt) &&
		got.Archived == want.Archived && got.Deleted == want.Deleted &&
		slices.Equal(got.Media, want.Media) && slices.Equal(got.Mentions, want.Mentions)
	if !ok {
		t.Fatalf("%s: got %+v\nwant %+v", what, got, want)
	}
}

func createGet(f *fixture) {
	author, bob := f.id(), f.id()
	p := posts.Post{ID: f.id(), Author: author, Text: "hello @bob", CreatedAt: f.at,
		Media: []posts.Media{{ID: "m1", Type: "image/jpeg"}, {ID: "m2", Type: "video/mp4"}}, Mentions: []int64{bob}}
	created, mention := f.event(posts.KindCreated, author), f.event(posts.KindMention, author)
	got, isNew, err := f.s.CreatePost(ctx, p, "", evs(created, mention))
	if err != nil || !isNew {
		f.t.Fatalf("create: %v %v", isNew, err)
	}
	f.expect(created, mention)
	samePost(f.t, "create returns", got, p)
	samePost(f.t, "get", f.get(p.ID), p)

	// Text only: no media, no mentions read back as nil.
	q := f.newPost(author, "plain")
	samePost(f.t, "text-only post", f.get(q.ID), posts.Post{ID: q.ID, Author: author, Text: "plain", CreatedAt: f.at})
	// Media only.
	r := f.newPost(author, "", posts.Media{ID: "m3", Type: "image/gif"})
	if g := f.get(r.ID); g.Text != "" || len(g.Media) != 1 || g.Media[0].Type != "image/gif" {
		f.t.Fatalf("media-only post: %+v", g)
	}
}

func idempotency(f *fixture) {
	alice, bob := f.id(), f.id()
	first := posts.Post{ID: f.id(), Author: alice, Text: "once", CreatedAt: f.at}
	ev := f.event(posts.KindCreated, alice)
	got, created, err := f.s.CreatePost(ctx, first, "key-1", evs(ev))
	if err != nil || !created {
		f.t.Fatalf("first create: %v %v", created, err)
	}
	f.expect(ev)
	retry := posts.Post{ID: f.id(), Author: alice, Text: "once", CreatedAt: f.at.Add(time.Second)}
	again, created, err := f.s.CreatePost(ctx, retry, "key-1", evs(f.event(posts.KindCreated, alice)))
	if err != nil || created || again.ID != got.ID {
		f.t.Fatalf("retry: %+v created %v, %v; want post %d", again, created, err, got.ID)
	}
	samePost(f.t, "retry returns the first post", again, first)
	if _, err := f.s.GetPost(ctx, retry.ID); !errors.Is(err, posts.ErrNotFound) {
		f.t.Fatalf("the retry's post was written: %v", err)
	}
	if tl, err := f.s.Timeline(ctx, alice, 0, 10); err != nil || !slices.Equal(tl, []int64{first.ID}) {
		f.t.Fatalf("timeline after a retry: %v %v", tl, err)
	}
	// The same key by another author, and another key by the same author,
	// are new posts.
	for _, c := range []struct {
		author int64
		key    string
	}{{bob, "key-1"}, {alice, "key-2"}} {
		p := posts.Post{ID: f.id(), Author: c.author, Text: "new", CreatedAt: f.at}
		ev := f.event(posts.KindCreated, c.author)
		got, created, err := f.s.CreatePost(ctx, p, c.key, evs(ev))
		if err != nil || !created || got.ID != p.ID {
			f.t.Fatalf("create by %d with %q: %+v created %v, %v", c.author, c.key, got, created, err)
		}
		f.expect(ev)
	}
	// Concurrent retries of one key make one post.
	const n = 8
	var wg sync.WaitGroup
	res := make([]posts.Post, n)
	made := make([]bool, n)
	raceEvs := make([]events.Event, n)
	errs := make([]error, n)
	for i := range n {
		raceEvs[i] = f.event(posts.KindCreated, alice)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := posts.Post{ID: f.id(), Author: alice, Text: "race", CreatedAt: f.at}
			res[i], made[i], errs[i] = f.s.CreatePost(ctx, p, "key-race", evs(raceEvs[i]))
		}()
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			f.t.Fatalf("concurrent create %d: %v", i, errs[i])
		}
		if made[i] {
			winners++
			f.expect(raceEvs[i])
		}
		if res[i].ID != res[0].ID {
			f.t.Fatalf("concurrent creates returned posts %d and %d", res[0].ID, res[i].ID)
		}
	}
	if winners != 1 {
		f.t.Fatalf("%d concurrent creates report created, want 1", winners)
	}
}

func edit(f *fixture) {
	author := f.id()
	p := f.newPost(author, "before", posts.Media{ID: "m1", Type: "image/png"})
	at := f.at.Add(time.Minute)
	ev := f.event(posts.KindEdited, author)
	calls := 0
	got, err := f.s.EditPost(ctx, p.ID, func(old posts.Post) (posts.Post, []events.Event, error) {
		calls++
		if old.Text != "before" {
			return posts.Post{}, nil, fmt.Errorf("old text %q", old.Text)
		}
		n := old
		n.Text, n.Media, n.Mentions, n.EditedAt = "after", nil, []int64{42}, at
		n.Author = 999 // not editable: ignored
		return n, []events.Event{ev}, nil
	})
	if err != nil || calls == 0 {
		f.t.Fatalf("edit: %v (%d calls)", err, calls)
	}
	f.expect(ev)
	want := posts.Post{ID: p.ID, Author: author, Text: "after", Mentions: []int64{42}, CreatedAt: f.at, EditedAt: at}
	samePost(f.t, "edit returns", got, want)
	samePost(f.t, "edited post", f.get(p.ID), want)

	// An EditFunc error writes nothing.
	boom := errors.New("refused")
	if _, err := f.s.EditPost(ctx, p.ID, func(posts.Post) (posts.Post, []events.Event, error) {
		return posts.Post{}, nil, boom
	}); !errors.Is(err, boom) {
		f.t.Fatalf("refused edit: %v", err)
	}
	samePost(f.t, "after a refused edit", f.get(p.ID), want)

	// A deleted post is never edited back.
	del := f.event(posts.KindDeleted, author)
	f.changed("delete", del, true)(f.s.DeletePost(ctx, p.ID, at, del))
	_, err = f.s.EditPost(ctx, p.ID, func(old posts.Post) (posts.Post, []events.Event, error) {
		n := old
		n.Text = "resurrected"
		return n, []events.Event{f.event(posts.KindEdited, author)}, nil
	})
	socialtest.MustErr(f.t, "edit of a deleted post", err, posts.ErrDeleted)
	if g := f.get(p.ID); !g.Deleted || g.Text != "" {
		f.t.Fatalf("deleted post after an edit: %+v", g)
	}

	// Edits racing a delete: whatever the order, the row ends deleted and
	// blank.
	q := f.newPost(author, "race")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := f.event(posts.KindEdited, author)
			_, err := f.s.EditPost(ctx, q.ID, func(old posts.Post) (posts.Post, []events.Event, error) {
				n := old
				n.Text, n.EditedAt = fmt.Sprint("edit ", i), at.Add(time.Duration(i)*time.Millisecond)
				return n, []events.Event{ev}, nil
			})
			switch {
			case err == nil:
				f.expect(ev)
			case !errors.Is(err, posts.ErrDeleted) && !errors.Is(err, posts.ErrBusy):
				f.t.Errorf("racing edit: %v", err)
			}
		}()
	}
	del = f.event(posts.KindDeleted, author)
	f.changed("racing delete", del, true)(f.s.DeletePost(ctx, q.ID, at, del))
	wg.Wait()
	if g := f.get(q.ID); !g.Deleted || g.Text != "" || len(g.Media) != 0 {
		f.t.Fatalf("after edits racing a delete: %+v", g)
	}
}

func deletePost(f *fixture) {
	author := f.id()
	p := f.newPost(author, "doomed", posts.Media{ID: "m1", Type: "image/png"})
	keep := f.newPost(author, "kept")
	at := f.at.Add(time.Minute)
	ev := f.event(posts.KindDeleted, author)
	f.changed("delete", ev, true)(f.s.DeletePost(ctx, p.ID, at, ev))
	ev = f.event(posts.KindDeleted, author)
	f.changed("second delete", ev, false)(f.s.DeletePost(ctx, p.ID, at, ev))
	g := f.get(p.ID)
	if !g.Deleted || g.Text != "" || len(g.Media) != 0 || g.Author != author || !g.CreatedAt.Equal(f.at) {
		f.t.Fatalf("deleted post: %+v", g)
	}
	if tl, err := f.s.Timeline(ctx, author, 0, 10); err != nil || !slices.Equal(tl, []int64{keep.ID}) {
		f.t.Fatalf("timeline after a delete: %v %v", tl, err)
	}
	ev = f.event(posts.KindArchived, author)
	_, err := f.s.SetArchived(ctx, p.ID, true, ev)
	socialtest.MustErr(f.t, "archive a deleted post", err, posts.ErrDeleted)
}

func archive(f *fixture) {
	author := f.id()
	p := f.newPost(author, "old news")
	ev := f.event(posts.KindArchived, author)
	f.changed("archive", ev, true)(f.s.SetArchived(ctx, p.ID, true, ev))
	ev = f.event(posts.KindArchived, author)
	f.changed("archive again", ev, false)(f.s.SetArchived(ctx, p.ID, true, ev))
	if g := f.get(p.ID); !g.Archived || g.Text != "old news" {
		f.t.Fatalf("archived post: %+v", g)
	}
	if tl, err := f.s.Timeline(ctx, author, 0, 10); err != nil || len(tl) != 0 {
		f.t.Fatalf("timeline with the post archived: %v %v", tl, err)
	}
	ev = f.event(posts.KindUnarchived, author)
	f.changed("unarchive", ev, true)(f.s.SetArchived(ctx, p.ID, false, ev))
	ev = f.event(posts.KindUnarchived, author)
	f.changed("unarchive again", ev, false)(f.s.SetArchived(ctx, p.ID, false, ev))
	if g := f.get(p.ID); g.Archived {
		f.t.Fatalf("unarchived post: %+v", g)
	}
	if tl, err := f.s.Timeline(ctx, author, 0, 10); err != nil || !slices.Equal(tl, []int64{p.ID}) {
		f.t.Fatalf("timeline after unarchive: %v %v", tl, err)
	}
}

func (f *fixture) likeCount(post int64, want int64) {
	f.t.Helper()
	if n, err := f.s.LikeCount(ctx, post); err != nil || n != want {
		f.t.Fatalf("like count of %d: %d %v, want %d", post, n, err, want)
	}
}

func likes(f *fixture) {
	author := f.id()
	p := f.newPost(author, "like me")
	other := f.newPost(author, "not me")
	users := []int64{f.id(), f.id(), f.id()}
	f.likeCount(p.ID, 0)
	for i, u := range users {
		at := f.at.Add(time.Duration(i) * time.Second)
		ev := f.event(posts.KindLike, u)
		f.changed("like", ev, true)(f.s.Like(ctx, p.ID, u, at, ev))
		ev = f.event(posts.KindLike, u)
		f.changed("second like", ev, false)(f.s.Like(ctx, p.ID, u, at, ev))
	}
	f.likeCount(p.ID, 3)
	f.likeCount(other.ID, 0)
	for _, u := range users {
		if ok, err := f.s.Liked(ctx, p.ID, u); err != nil || !ok {
			f.t.Fatalf("liked by %d: %v %v", u, ok, err)
		}
	}
	if ok, err := f.s.Liked(ctx, other.ID, users[0]); err != nil || ok {
		f.t.Fatalf("liked the other post: %v %v", ok, err)
	}
	// Likers in user id order, paged.
	all, err := f.s.Likers(ctx, p.ID, 0, 0)
	if err != nil || len(all) != 3 {
		f.t.Fatalf("likers: %+v %v", all, err)
	}
	for i, l := range all {
		if l.User != users[i] || !l.LikedAt.Equal(f.at.Add(time.Duration(i)*time.Second)) {
			f.t.Fatalf("liker %d: %+v, want user %d", i, l, users[i])
		}
	}
	page, err := f.s.Likers(ctx, p.ID, users[0], 1)
	if err != nil || len(page) != 1 || page[0].User != users[1] {
		f.t.Fatalf("likers after %d: %+v %v", users[0], page, err)
	}
	// Unlike: once.
	ev := f.event(posts.KindUnlike, users[1])
	f.changed("unlike", ev, true)(f.s.Unlike(ctx, p.ID, users[1], ev))
	ev = f.event(posts.KindUnlike, users[1])
	f.changed("second unlike", ev, false)(f.s.Unlike(ctx, p.ID, users[1], ev))
	ev = f.event(posts.KindUnlike, users[1])
	f.changed("unlike of no like", ev, false)(f.s.Unlike(ctx, other.ID, users[1], ev))
	f.likeCount(p.ID, 2)
	if ok, err := f.s.Liked(ctx, p.ID, users[1]); err != nil || ok {
		f.t.Fatalf("liked after unlike: %v %v", ok, err)
	}
	// Like again after an unlike.
	ev = f.event(posts.KindLike, users[1])
	f.changed("like again", ev, true)(f.s.Like(ctx, p.ID, users[1], f.at, ev))
	f.likeCount(p.ID, 3)
}

// likesConcurrent: 16 goroutines, each 50 likes and unlikes (every like
// tried twice) of its own users on one post: the count is exact, and the
// outbox holds one event per like or unlike that changed something.
func likesConcurrent(f *fixture) {
	const workers, ops = 16, 50
	author := f.id()
	p := f.newPost(author, "viral")
	users := make([][]int64, workers)
	for w := range workers {
		for range ops / 2 {
			users[w] = append(users[w], f.id())
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ops {
				u := users[w][i/2]
				var changed bool
				var err error
				ev := f.event(posts.KindLike, u)
				if i%2 == 0 {
					changed, err = f.s.Like(ctx, p.ID, u, f.at, ev)
					if err == nil && changed {
						f.expect(ev)
						dup := f.event(posts.KindLike, u)
						if again, err := f.s.Like(ctx, p.ID, u, f.at, dup); err != nil || again {
							f.t.Errorf("second like by %d: changed %v, %v", u, again, err)
						}
					}
				} else if i%4 == 1 {
					// Every other user unlikes.
					ev.Kind = posts.KindUnlike
					changed, err = f.s.Unlike(ctx, p.ID, u, ev)
					if err == nil && changed {
						f.expect(ev)
					}
				} else {
					changed = true
				}
				if err != nil || !changed {
					f.t.Errorf("op %d of worker %d: changed %v, %v", i, w, changed, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if f.t.Failed() {
		return
	}
	// ops/2 users each; the users of odd i/2 stayed liked.
	want := int64(workers * ((ops / 2) / 2))
	f.likeCount(p.ID, want)
	all, err := f.s.Likers(ctx, p.ID, 0, 0)
	if err != nil || int64(len(all)) != want {
		f.t.Fatalf("likers: %d %v, want %d", len(all), err, want)
	}
}

func (f *fixture) commentCount(post int64, want int64) {
	f.t.Helper()
	if n, err := f.s.CommentCount(ctx, post); err != nil || n != want {
		f.t.Fatalf("comment count of %d: %d %v, want %d", post, n, err, want)
	}
}

func comments(f *fixture) {
	author, bob := f.id(), f.id()
	p := f.newPost(author, "discuss")
	f.commentCount(p.ID, 0)
	var made []posts.Comment
	for i := range 5 {
		c := posts.Comment{ID: f.id(), Post: p.ID, Author: bob, Text: fmt.Sprint("c", i), CreatedAt: f.at.Add(time.Duration(i) * time.Millisecond)}
		if i == 2 {
			c.Mentions = []int64{author}
		}
		ev := f.event(posts.KindComment, bob)
		if _, created, err := f.s.AddComment(ctx, c, "", []events.Event{ev}); err != nil || !created {
			f.t.Fatalf("add comment %d: created %v, %v", i, created, err)
		}
		f.expect(ev)
		made = append(made, c)
	}
	f.commentCount(p.ID, 5)
	got, err := f.s.Comments(ctx, p.ID, 0, 0)
	if err != nil || len(got) != 5 {
		f.t.Fatalf("comments: %d %v", len(got), err)
	}
	for i, c := range got {
		w := made[i]
		if c.ID != w.ID || c.Post != p.ID || c.Author != bob || c.Text != w.Text || !c.CreatedAt.Equal(w.CreatedAt) || !slices.Equal(c.Mentions, w.Mentions) {
			f.t.Fatalf("comment %d: %+v, want %+v", i, c, w)
		}
	}
	page, err := f.s.Comments(ctx, p.ID, made[1].ID, 2)
	if err != nil || len(page) != 2 || page[0].ID != made[2].ID || page[1].ID != made[3].ID {
		f.t.Fatalf("comments after the second: %+v %v", page, err)
	}
	if c, err := f.s.GetComment(ctx, p.ID, made[2].ID); err != nil || c.Text != "c2" {
		f.t.Fatalf("get comment: %+v %v", c, err)
	}
	ev := f.event(posts.KindCommentDeleted, bob)
	f.changed("delete comment", ev, true)(f.s.DeleteComment(ctx, p.ID, made[2].ID, ev))
	ev = f.event(posts.KindCommentDeleted, bob)
	f.changed("delete comment again", ev, false)(f.s.DeleteComment(ctx, p.ID, made[2].ID, ev))
	f.commentCount(p.ID, 4)
	_, err = f.s.GetComment(ctx, p.ID, made[2].ID)
	socialtest.MustErr(f.t, "get a deleted comment", err, posts.ErrNotFound)
	if got, err := f.s.Comments(ctx, p.ID, 0, 10); err != nil || len(got) != 4 {
		f.t.Fatalf("comments after a delete: %d %v", len(got), err)
	}
}

func sameComment(t *testing.T, what string, got, want posts.Comment) {
	t.Helper()
	if got.ID != want.ID || got.Post != want.Post || got.Author != want.Author || got.Text != want.Text ||
		!got.CreatedAt.Equal(want.CreatedAt) || !slices.Equal(got.Mentions, want.Mentions) {
		t.Fatalf("%s: got %+v\nwant %+v", what, got, want)
	}
}

// commentIdempotency: a comment retried with its key returns the first
// one, whatever its text, and writes nothing (no row, no event); the key
// of another author, another key and the same key on another post make
// new comments; concurrent retries of one key make one comment.
func commentIdempotency(f *fixture) {
	author, bob, carol := f.id(), f.id(), f.id()
	p, q := f.newPost(author, "discuss"), f.newPost(author, "elsewhere")
	add := func(c posts.Comment, key string, want bool) posts.Comment {
		f.t.Helper()
		ev := f.event(posts.KindComment, c.Author)
		got, created, err := f.s.AddComment(ctx, c, key, []events.Event{ev})
		if err != nil || created != want {
			f.t.Fatalf("add comment %d with key %q: created %v, %v; want created %v", c.ID, key, created, err, want)
		}
		if created {
			f.expect(ev)
		}
		return got
	}
	first := posts.Comment{ID: f.id(), Post: p.ID, Author: bob, Text: "once", Mentions: []int64{author}, CreatedAt: f.at}
	sameComment(f.t, "first add returns", add(first, "key-1", true), first)
	retry := posts.Comment{ID: f.id(), Post: p.ID, Author: bob, Text: "changed", CreatedAt: f.at.Add(time.Second)}
	sameComment(f.t, "retry returns the first comment", add(retry, "key-1", false), first)
	_, err := f.s.GetComment(ctx, p.ID, retry.ID)
	socialtest.MustErr(f.t, "the retry's comment", err, posts.ErrNotFound)
	f.commentCount(p.ID, 1)

	for _, c := range []struct {
		post, author int64
		key          string
	}{{p.ID, carol, "key-1"}, {p.ID, bob, "key-2"}, {q.ID, bob, "key-1"}} {
		n := posts.Comment{ID: f.id(), Post: c.post, Author: c.author, Text: "new", CreatedAt: f.at}
		if got := add(n, c.key, true); got.ID != n.ID {
			f.t.Fatalf("add by %d to %d with %q: comment %d, want %d", c.author, c.post, c.key, got.ID, n.ID)
		}
	}
	f.commentCount(p.ID, 3)
	f.commentCount(q.ID, 1)

	const n = 8
	var wg sync.WaitGroup
	res := make([]posts.Comment, n)
	made := make([]bool, n)
	raceEvs := make([]events.Event, n)
	errs := make([]error, n)
	for i := range n {
		raceEvs[i] = f.event(posts.KindComment, bob)
		c := posts.Comment{ID: f.id(), Post: p.ID, Author: bob, Text: "race", CreatedAt: f.at}
		wg.Go(func() { res[i], made[i], errs[i] = f.s.AddComment(ctx, c, "key-race", []events.Event{raceEvs[i]}) })
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			f.t.Fatalf("concurrent add %d: %v", i, errs[i])
		}
		if made[i] {
			winners++
			f.expect(raceEvs[i])
		}
		if res[i].ID != res[0].ID {
			f.t.Fatalf("concurrent adds returned comments %d and %d", res[0].ID, res[i].ID)
		}
	}
	if winners != 1 {
		f.t.Fatalf("%d concurrent adds report created, want 1", winners)
	}
	f.commentCount(p.ID, 4)
}

func timeline(f *fixture) {
	alice, bob := f.id(), f.id()
	var ids []int64
	for i := range 7 {
		ids = append(ids, f.newPost(alice, fmt.Sprint("p", i)).ID)
		f.newPost(bob, "bob's")
	}
	slices.Reverse(ids) // newest first
	var got []int64
	before := int64(0)
	for range 10 {
		page, err := f.s.Timeline(ctx, alice, before, 3)
		if err != nil {
			f.t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 3 {
			break
		}
		before = page[len(page)-1]
	}
	if !slices.Equal(got, ids) {
		f.t.Fatalf("timeline pages: %v, want %v", got, ids)
	}
	if page, err := f.s.Timeline(ctx, alice, ids[6], 3); err != nil || len(page) != 0 {
		f.t.Fatalf("timeline below the oldest: %v %v", page, err)
	}
	if page, err := f.s.Timeline(ctx, f.id(), 0, 3); err != nil || len(page) != 0 {
		f.t.Fatalf("timeline of a user with no posts: %v %v", page, err)
	}
}

func notFound(f *fixture) {
	id, u := f.id(), f.id()
	_, err := f.s.GetPost(ctx, id)
	socialtest.MustErr(f.t, "get", err, posts.ErrNotFound)
	_, err = f.s.EditPost(ctx, id, func(p posts.Post) (posts.Post, []events.Event, error) { return p, nil, nil })
	socialtest.MustErr(f.t, "edit", err, posts.ErrNotFound)
	_, err = f.s.DeletePost(ctx, id, f.at, f.event(posts.KindDeleted, u))
	socialtest.MustErr(f.t, "delete", err, posts.ErrNotFound)
	_, err = f.s.SetArchived(ctx, id, true, f.event(posts.KindArchived, u))
	socialtest.MustErr(f.t, "archive", err, posts.ErrNotFound)
	_, err = f.s.GetComment(ctx, id, f.id())
	socialtest.MustErr(f.t, "get comment", err, posts.ErrNotFound)
	f.likeCount(id, 0)
	f.commentCount(id, 0)
}
