package storiestest

import (
	"slices"
	"time"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/stories"
)

// same reports whether two stories are equal, times by instant.
func same(a, b stories.Story) bool {
	return a.ID == b.ID && a.Owner == b.Owner && a.Media == b.Media && a.MediaType == b.MediaType &&
		a.Caption == b.Caption && slices.Equal(a.HideFrom, b.HideFrom) && a.Key == b.Key &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

func createGet(f *fixture) {
	owner, hidden := f.id(), f.id()
	st := f.story(owner, 0, hidden)
	st.Caption = "ünïcode ✓"
	got := f.create(st)
	if !same(got, st) {
		f.t.Fatalf("create returned %+v, want %+v", got, st)
	}
	if g := f.get(st.ID); !same(g, st) {
		f.t.Fatalf("get %+v, want %+v", g, st)
	}
	if !f.get(st.ID).HiddenFrom(hidden) || f.get(st.ID).HiddenFrom(owner) {
		f.t.Fatal("hide-from list not kept")
	}
	plain := f.create(f.story(owner, 0))
	if g := f.get(plain.ID); len(g.HideFrom) != 0 || g.Key != "" {
		f.t.Fatalf("a story without hide-from: %+v", g)
	}
}

func idempotency(f *fixture) {
	owner, other := f.id(), f.id()
	first := f.story(owner, 0)
	first.Key = "key-1"
	f.create(first)
	retry := f.story(owner, 0)
	retry.Key = "key-1"
	retry.Caption = "another"
	got, created, err := f.s.Create(ctx, retry, f.event(stories.KindCreated, owner))
	if err != nil || created || !same(got, first) {
		f.t.Fatalf("replay: created %v, %+v, %v; want the first story %d", created, got, err, first.ID)
	}
	second := f.story(owner, 0)
	second.Key = "key-2"
	f.create(second)
	theirs := f.story(other, 0)
	theirs.Key = "key-1" // keys are per user
	f.create(theirs)
	if ids := f.ownerIDs(owner); !slices.Equal(ids, []int64{first.ID, second.ID}) {
		f.t.Fatalf("owner's stories %v, want %v", ids, []int64{first.ID, second.ID})
	}
}

func ownerStories(f *fixture) {
	owner := f.id()
	var want []int64
	for range 3 {
		want = append(want, f.create(f.story(owner, 0)).ID)
	}
	f.create(f.story(f.id(), 0)) // someone else's
	if got := f.ownerIDs(owner); !slices.Equal(got, want) {
		f.t.Fatalf("owner's stories %v, want %v (oldest first)", got, want)
	}
	if got := f.ownerIDs(f.id()); len(got) != 0 {
		f.t.Fatalf("a user without stories has %v", got)
	}
}

func views(f *fixture) {
	owner := f.id()
	st := f.create(f.story(owner, 0))
	other := f.create(f.story(owner, 0))
	first := f.now()
	var viewers []int64
	for range 5 {
		v := f.id()
		viewers = append(viewers, v)
		f.view(st, v, first)
	}
	f.view(st, viewers[0], first.Add(time.Minute)) // a repeat keeps the first time
	n, err := f.s.ViewCount(ctx, st.ID)
	if err != nil || n != 5 {
		f.t.Fatalf("view count %d, %v; want 5", n, err)
	}
	if n, err := f.s.ViewCount(ctx, other.ID); err != nil || n != 0 {
		f.t.Fatalf("unviewed story's count %d, %v", n, err)
	}
	var got []int64
	after := int64(0)
	for {
		page, err := f.s.Viewers(ctx, st.ID, after, 2)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, v := range page {
			if !v.At.Equal(first) {
				f.t.Fatalf("viewer %d at %v, want the first view's %v", v.User, v.At, first)
			}
			got = append(got, v.User)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].User
	}
	if !slices.Equal(got, viewers) {
		f.t.Fatalf("viewers %v, want %v in id order", got, viewers)
	}
	m := f.state(viewers[1], st.ID, other.ID)
	if !m[st.ID].Viewed || m[st.ID].Liked || m[other.ID].Viewed {
		f.t.Fatalf("viewer state %+v", m)
	}
}

func likes(f *fixture) {
	owner, fan, fan2 := f.id(), f.id(), f.id()
	st := f.create(f.story(owner, 0))
	f.like(st, fan, true)
	f.like(st, fan, false) // a repeat: no event
	f.like(st, fan2, true)
	f.like(st, owner, true) // liking your own: a like, not a liker
	if m := f.state(fan, st.ID); !m[st.ID].Liked || m[st.ID].Viewed {
		f.t.Fatalf("fan's state %+v", m)
	}
	want := []int64{fan, fan2}
	if l := f.likers(owner); !slices.Equal(l, want) {
		f.t.Fatalf("likers %v, want %v", l, want)
	}
	if l, err := f.s.Likers(ctx, owner, 1); err != nil || len(l) != 1 {
		f.t.Fatalf("likers limit 1: %v %v", l, err)
	}
	for i, wantChanged := range []bool{true, false} {
		changed, err := f.s.Unlike(ctx, st, fan)
		if err != nil || changed != wantChanged {
			f.t.Fatalf("unlike %d: %v %v", i, changed, err)
		}
	}
	if m := f.state(fan, st.ID); m[st.ID].Liked {
		f.t.Fatal("still liked after the unlike")
	}
	if l := f.likers(owner); !slices.Equal(l, want) {
		f.t.Fatalf("likers after an unlike %v, want %v (the set outlives likes)", l, want)
	}
	f.like(st, fan, true) // liking again is new again
}

func expiry(f *fixture) {
	owner, viewer, fan := f.id(), f.id(), f.id()
	short := f.story(owner, ExpiryTTL, viewer+1)
	short.Key = "expiring"
	short = f.create(short)
	long := f.create(f.story(owner, 0))
	f.view(short, viewer, f.now())
	f.like(short, fan, true)
	f.view(long, viewer, f.now())

	f.b.Wait(ExpiryTTL + time.Second)

	_, err := f.s.Get(ctx, short.ID)
	socialtest.MustErr(f.t, "get an expired story", err, stories.ErrNotFound)
	if ids := f.ownerIDs(owner); !slices.Equal(ids, []int64{long.ID}) {
		f.t.Fatalf("owner's stories after the expiry %v, want only %d", ids, long.ID)
	}
	socialtest.MustErr(f.t, "view an expired story", f.s.View(ctx, short, f.id(), f.now()), stories.ErrNotFound)
	_, err = f.s.Like(ctx, short, f.id(), f.now(), f.event(stories.KindLike, owner)) // no event
	socialtest.MustErr(f.t, "like an expired story", err, stories.ErrNotFound)

	if sw, ok := f.s.(stories.Sweeper); ok {
		n, err := sw.Sweep(ctx, f.b.Now())
		if err != nil || n < 1 {
			f.t.Fatalf("sweep: %d, %v", n, err)
		}
	}
	if n, err := f.s.ViewCount(ctx, short.ID); err != nil || n != 0 {
		f.t.Fatalf("views of an expired story: %d, %v", n, err)
	}
	if vs, err := f.s.Viewers(ctx, short.ID, 0, 0); err != nil || len(vs) != 0 {
		f.t.Fatalf("viewers of an expired story: %v, %v", vs, err)
	}
	if m := f.state(viewer, short.ID, long.ID); m[short.ID] != (stories.ViewerState{}) || !m[long.ID].Viewed {
		f.t.Fatalf("viewer state after the expiry: %+v", m)
	}
	if m := f.state(fan, short.ID); m[short.ID].Liked {
		f.t.Fatal("a like outlived its story")
	}
	if l := f.likers(owner); !slices.Equal(l, []int64{fan}) {
		f.t.Fatalf("likers after the story expired: %v, want [%d]", l, fan)
	}
	if _, err := f.s.Get(ctx, long.ID); err != nil {
		f.t.Fatalf("the long story went too: %v", err)
	}
	// The expired story's idempotency key is free again.
	again := f.story(owner, 0)
	again.Key = "expiring"
	f.create(again)
}

func notFound(f *fixture) {
	_, err := f.s.Get(ctx, f.id())
	socialtest.MustErr(f.t, "get a missing story", err, stories.ErrNotFound)
	if vs, err := f.s.Viewers(ctx, f.id(), 0, 10); err != nil || len(vs) != 0 {
		f.t.Fatalf("viewers of a missing story: %v %v", vs, err)
	}
	if m := f.state(f.id()); len(m) != 0 {
		f.t.Fatalf("state of nothing: %v", m)
	}
	if l := f.likers(f.id()); len(l) != 0 {
		f.t.Fatalf("likers of nobody: %v", l)
	}
}
