// Package notifytest is the conformance suite every notify.Store runs
// (Run): the same cases against the Pebble and the Cassandra stores, so
// both keep the semantics notify.Store documents. Real databases only.
//
// Cases never assume an empty database: every recipient, actor, object and
// event id comes from a social/ids generator on a random node, and every
// check reads only what the case made. Every case checks the outbox too:
// an Apply that applied adds exactly its event, one that did not (a
// redelivery) adds none.
package notifytest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/notify"
)

// Backend is a store under test and a way to read its outbox.
type Backend struct {
	Store notify.Store
	// Outbox returns every event in the store's outbox, in any order.
	Outbox func(ctx context.Context) ([]events.Event, error)
}

// Opener returns the backend of one case.
type Opener = func(t *testing.T) Backend

var ctx = context.Background()

// Run runs the cases, one after another, each on the backend open returns
// for it.
func Run(t *testing.T, open Opener) {
	gen := socialtest.IDs(t)
	cases := []struct {
		name string
		run  func(*fixture)
	}{
		{"grouping: one group per kind and object, latest actors", grouping},
		{"a repeated actor counts once and moves to the front", repeatActor},
		{"redelivery of an event changes nothing", redelivery},
		{"20 concurrent events into one group", concurrent},
		{"list pages newest activity first", paging},
		{"read upto: marks rise, clamp to the newest", readUpto},
		{"new activity reopens a read group on top", reopen},
		{"at most max groups per recipient", trimming},
		{"recipients are apart", recipientsApart},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fixture{t: t, b: open(t), ids: gen, at: time.Now().UTC().Truncate(time.Millisecond), led: socialtest.NewLedger()}
			f.s = f.b.Store
			c.run(f)
			f.wantOutbox()
		})
	}
}

type fixture struct {
	t   *testing.T
	b   Backend
	s   notify.Store
	ids *ids.Generator
	at  time.Time
	led *socialtest.Ledger // the events the case built and expects
}

// apply applies one activity (a fresh event unless evID is given) with
// max groups, checking the outbox event it builds.
func (f *fixture) apply(a notify.Activity, max int) (notify.Group, bool) {
	f.t.Helper()
	g, applied, err := f.tryApply(a, max)
	if err != nil {
		f.t.Fatalf("apply %+v: %v", a, err)
	}
	return g, applied
}

func (f *fixture) tryApply(a notify.Activity, max int) (notify.Group, bool, error) {
	if a.Event == 0 {
		a.Event = f.ids.Next()
	}
	if a.At.IsZero() {
		a.At = f.at
	}
	a.GroupID, a.Pos = f.ids.Next(), f.ids.Next()
	var built int64
	ev := func(g notify.Group) (events.Event, error) {
		data, err := json.Marshal(g)
		if err != nil {
			return events.Event{}, err
		}
		built = f.ids.Next()
		f.led.Made(built)
		return events.Event{ID: built, Kind: notify.KindNotification, Actor: a.Actor, To: []int64{a.Recipient}, Data: data, At: a.At}, nil
	}
	g, applied, err := f.s.Apply(ctx, a, max, ev)
	if err != nil {
		return g, applied, err
	}
	if applied {
		if built == 0 {
			return g, applied, fmt.Errorf("applied without building its event")
		}
		f.led.Expect(built)
		if g.Recipient != a.Recipient || g.Kind != a.Kind || g.Object != a.Object || g.Read || g.Pos < a.Pos || g.Actors[0] != a.Actor {
			return g, applied, fmt.Errorf("applied %+v returned %+v", a, g)
		}
	}
	return g, applied, nil
}

func (f *fixture) act(r, actor int64, kind, object string) notify.Activity {
	return notify.Activity{Recipient: r, Actor: actor, Kind: kind, Object: object}
}

func (f *fixture) list(r int64) []notify.Group {
	f.t.Helper()
	gs, err := f.s.List(ctx, r, 0, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	return gs
}

func (f *fixture) unread(r int64) int {
	f.t.Helper()
	n, err := f.s.Unread(ctx, r)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) markRead(r, upto int64) int64 {
	f.t.Helper()
	m, err := f.s.MarkRead(ctx, r, upto)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// wantOutbox checks the outbox holds exactly the events of the case's
// applied activities, each To its recipient with its group as Data.
func (f *fixture) wantOutbox() {
	f.t.Helper()
	if f.t.Failed() {
		return
	}
	got := f.led.Outbox(f.t, f.b.Outbox)
	for _, e := range got {
		var g notify.Group
		if err := json.Unmarshal(e.Data, &g); err != nil || e.Kind != notify.KindNotification || len(e.To) != 1 || e.To[0] != g.Recipient || g.ID == 0 {
			f.t.Errorf("event %d: kind %s to %v data %s: %v", e.ID, e.Kind, e.To, e.Data, err)
		}
	}
	f.led.Want(f.t, got)
}

func obj(typ string, id int64) string { return fmt.Sprintf("%s:%d", typ, id) }

func grouping(f *fixture) {
	r, post, other := f.ids.Next(), f.ids.Next(), f.ids.Next()
	actors := []int64{f.ids.Next(), f.ids.Next(), f.ids.Next(), f.ids.Next()}
	for i, a := range actors {
		act := f.act(r, a, notify.KindLike, obj("post", post))
		act.At = f.at.Add(time.Duration(i) * time.Second)
		g, applied := f.apply(act, 100)
		if !applied || g.ActorCount != i+1 {
			f.t.Fatalf("like %d: applied %v, %+v", i, applied, g)
		}
	}
	f.apply(f.act(r, actors[0], notify.KindComment, obj("post", post)), 100)
	f.apply(f.act(r, actors[1], notify.KindLike, obj("post", other)), 100)
	f.apply(f.act(r, actors[2], notify.KindFollow, obj("user", r)), 100)
	f.apply(f.act(r, actors[3], notify.KindFollow, obj("user", r)), 100)

	gs := f.list(r)
	if len(gs) != 4 {
		f.t.Fatalf("%d groups, want 4: %+v", len(gs), gs)
	}
	for i, g := range gs {
		if i > 0 && g.Pos >= gs[i-1].Pos {
			f.t.Fatalf("not newest first: %+v", gs)
		}
		if g.Read || g.Recipient != r || g.ID == 0 {
			f.t.Errorf("group %+v", g)
		}
	}
	follows, likes := gs[0], gs[3]
	if follows.Kind != notify.KindFollow || follows.ActorCount != 2 || !slices.Equal(follows.Actors, []int64{actors[3], actors[2]}) {
		f.t.Errorf("follows %+v", follows)
	}
	if likes.Kind != notify.KindLike || likes.Object != obj("post", post) || likes.ActorCount != 4 ||
		!slices.Equal(likes.Actors, []int64{actors[3], actors[2], actors[1]}) {
		f.t.Errorf("likes %+v", likes)
	}
	if !likes.FirstAt.Equal(f.at) || !likes.LastAt.Equal(f.at.Add(3*time.Second)) {
		f.t.Errorf("likes first %v last %v", likes.FirstAt, likes.LastAt)
	}
	if gs[1].Object != obj("post", other) || gs[2].Kind != notify.KindComment || gs[2].ActorCount != 1 {
		f.t.Errorf("groups %+v", gs)
	}
	if n := f.unread(r); n != 4 {
		f.t.Errorf("unread %d, want 4", n)
	}
}

func repeatActor(f *fixture) {
	r, conv, a, b := f.ids.Next(), f.ids.Next(), f.ids.Next(), f.ids.Next()
	o := obj("conversation", conv)
	f.apply(f.act(r, a, notify.KindMessage, o), 100)
	f.apply(f.act(r, b, notify.KindMessage, o), 100)
	g1, _ := f.apply(f.act(r, a, notify.KindMessage, o), 100)
	if g1.ActorCount != 2 || !slices.Equal(g1.Actors, []int64{a, b}) {
		f.t.Fatalf("after a, b, a: %+v", g1)
	}
	g2, _ := f.apply(f.act(r, a, notify.KindMessage, o), 100)
	if g2.ActorCount != 2 || g2.Pos <= g1.Pos || g2.ID != g1.ID {
		f.t.Fatalf("a again: %+v after %+v", g2, g1)
	}
}

func redelivery(f *fixture) {
	r, post, a := f.ids.Next(), f.ids.Next(), f.ids.Next()
	act := f.act(r, a, notify.KindLike, obj("post", post))
	act.Event = f.ids.Next()
	g, applied := f.apply(act, 100)
	if !applied {
		f.t.Fatal("first delivery not applied")
	}
	for range 3 {
		if _, applied := f.apply(act, 100); applied {
			f.t.Fatal("a redelivery applied")
		}
	}
	// The same event for another actor id is still the same event.
	act2 := act
	act2.Actor = f.ids.Next()
	if _, applied := f.apply(act2, 100); applied {
		f.t.Fatal("an event id applied twice for one recipient")
	}
	gs := f.list(r)
	if len(gs) != 1 || gs[0].ActorCount != 1 || gs[0].Pos != g.Pos {
		f.t.Fatalf("after redeliveries: %+v (first %+v)", gs, g)
	}
	if n := f.unread(r); n != 1 {
		f.t.Errorf("unread %d", n)
	}
}

func concurrent(f *fixture) {
	r, post := f.ids.Next(), f.ids.Next()
	o := obj("post", post)
	const n = 20
	acts := make([]notify.Activity, n)
	for i := range acts {
		acts[i] = f.act(r, f.ids.Next(), notify.KindLike, o)
		acts[i].Event = f.ids.Next()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	var mu sync.Mutex
	applied := 0
	for _, a := range acts {
		for range 2 { // every event delivered twice, at once
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, ok, err := f.tryApply(a, 100)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					mu.Lock()
					applied++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		f.t.Fatal(err)
	}
	if applied != n {
		f.t.Errorf("%d applies applied, want %d", applied, n)
	}
	gs := f.list(r)
	if len(gs) != 1 || gs[0].ActorCount != n || len(gs[0].Actors) != notify.RecentActors {
		f.t.Fatalf("after %d concurrent likes: %+v", n, gs)
	}
}

func paging(f *fixture) {
	r := f.ids.Next()
	for range 7 {
		f.apply(f.act(r, f.ids.Next(), notify.KindLike, obj("post", f.ids.Next())), 100)
	}
	all := f.list(r)
	if len(all) != 7 {
		f.t.Fatalf("%d groups", len(all))
	}
	var got []notify.Group
	var before int64
	for {
		page, err := f.s.List(ctx, r, before, 3)
		if err != nil {
			f.t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 3 {
			break
		}
		before = page[len(page)-1].Pos
	}
	if len(got) != 7 {
		f.t.Fatalf("paged %d", len(got))
	}
	for i := range got {
		if got[i].ID != all[i].ID || got[i].Pos != all[i].Pos {
			f.t.Fatalf("page item %d: %+v, want %+v", i, got[i], all[i])
		}
	}
	if gs, err := f.s.List(ctx, f.ids.Next(), 0, 10); err != nil || len(gs) != 0 {
		f.t.Fatalf("a user with none: %v %v", gs, err)
	}
}

func readUpto(f *fixture) {
	r := f.ids.Next()
	if m := f.markRead(r, f.ids.Next()); m != 0 {
		f.t.Errorf("mark of a user with nothing: %d", m)
	}
	var gs []notify.Group
	for range 3 {
		g, _ := f.apply(f.act(r, f.ids.Next(), notify.KindLike, obj("post", f.ids.Next())), 100)
		gs = append(gs, g)
	}
	if m := f.markRead(r, gs[1].Pos); m != gs[1].Pos {
		f.t.Fatalf("mark %d, want %d", m, gs[1].Pos)
	}
	if n := f.unread(r); n != 1 {
		f.t.Errorf("unread %d, want 1", n)
	}
	list := f.list(r)
	if list[0].Read || !list[1].Read || !list[2].Read {
		f.t.Errorf("read flags %v %v %v", list[0].Read, list[1].Read, list[2].Read)
	}
	// Lower marks change nothing; the same mark twice is the same.
	if m := f.markRead(r, gs[0].Pos); m != gs[1].Pos {
		f.t.Errorf("lower mark: %d", m)
	}
	if m := f.markRead(r, gs[1].Pos); m != gs[1].Pos {
		f.t.Errorf("same mark: %d", m)
	}
	if n := f.unread(r); n != 1 {
		f.t.Errorf("unread %d, want 1", n)
	}
	// A mark past the newest stops at the newest.
	if m := f.markRead(r, gs[2].Pos+1<<40); m != gs[2].Pos {
		f.t.Errorf("mark past the top: %d, want %d", m, gs[2].Pos)
	}
	if n := f.unread(r); n != 0 {
		f.t.Errorf("unread %d, want 0", n)
	}
	// Activity after the mark is unread.
	g, _ := f.apply(f.act(r, f.ids.Next(), notify.KindLike, obj("post", f.ids.Next())), 100)
	if g.Read || g.Pos <= gs[2].Pos || f.unread(r) != 1 {
		f.t.Errorf("new group after the mark: %+v, unread %d", g, f.unread(r))
	}
}

func reopen(f *fixture) {
	r, post := f.ids.Next(), f.ids.Next()
	first, _ := f.apply(f.act(r, f.ids.Next(), notify.KindLike, obj("post", post)), 100)
	for range 2 {
		f.apply(f.act(r, f.ids.Next(), notify.KindComment, obj("post", f.ids.Next())), 100)
	}
	top := f.list(r)[0]
	f.markRead(r, top.Pos)
	if n := f.unread(r); n != 0 {
		f.t.Fatalf("unread %d after marking all", n)
	}
	// A mark racing ahead of the edge's clock: the next activity still
	// lands above it (Pos from a fresh id lower than the mark).
	act := f.act(r, f.ids.Next(), notify.KindLike, obj("post", post))
	g, _ := f.apply(act, 100)
	if g.ID != first.ID || g.Read || g.Pos <= top.Pos || g.ActorCount != 2 {
		f.t.Fatalf("reopened %+v (first %+v, mark %d)", g, first, top.Pos)
	}
	list := f.list(r)
	if list[0].ID != first.ID || list[0].Read || len(list) != 3 || !list[1].Read {
		f.t.Fatalf("after reopening: %+v", list)
	}
	if n := f.unread(r); n != 1 {
		f.t.Errorf("unread %d, want 1", n)
	}
}

func trimming(f *fixture) {
	r := f.ids.Next()
	const max = 3
	posts := make([]int64, 6)
	for i := range posts {
		posts[i] = f.ids.Next()
		act := f.act(r, f.ids.Next(), notify.KindLike, obj("post", posts[i]))
		if i == 0 {
			f.apply(f.act(r, f.ids.Next(), notify.KindLike, obj("post", posts[i])), max)
		}
		f.apply(act, max)
		if gs := f.list(r); len(gs) != min(i+1, max) {
			f.t.Fatalf("after %d groups: %d kept", i+1, len(gs))
		}
	}
	gs := f.list(r)
	for i, g := range gs {
		if g.Object != obj("post", posts[len(posts)-1-i]) {
			f.t.Fatalf("kept %+v, want the newest", gs)
		}
	}
	if n := f.unread(r); n != max {
		f.t.Errorf("unread %d, want %d", n, max)
	}
	// Updating a kept group trims nothing.
	f.apply(f.act(r, f.ids.Next(), notify.KindLike, obj("post", posts[3])), max)
	if gs := f.list(r); len(gs) != max || gs[0].Object != obj("post", posts[3]) {
		f.t.Fatalf("after an update: %+v", gs)
	}
	// A trimmed group comes back new: its old actors are gone.
	g, _ := f.apply(f.act(r, f.ids.Next(), notify.KindLike, obj("post", posts[0])), max)
	if g.ActorCount != 1 || len(f.list(r)) != max {
		f.t.Fatalf("a trimmed group reopened: %+v", g)
	}
}

func recipientsApart(f *fixture) {
	a, b, post, actor := f.ids.Next(), f.ids.Next(), f.ids.Next(), f.ids.Next()
	ev := f.ids.Next()
	for _, r := range []int64{a, b} {
		act := f.act(r, actor, notify.KindMention, obj("post", post))
		act.Event = ev // one event, two recipients
		if _, applied := f.apply(act, 100); !applied {
			f.t.Fatalf("recipient %d not applied", r)
		}
	}
	ga, gb := f.list(a), f.list(b)
	if len(ga) != 1 || len(gb) != 1 || ga[0].ID == gb[0].ID {
		f.t.Fatalf("a %+v b %+v", ga, gb)
	}
	f.markRead(a, ga[0].Pos)
	if f.unread(a) != 0 || f.unread(b) != 1 {
		f.t.Errorf("unread a %d b %d", f.unread(a), f.unread(b))
	}
}
