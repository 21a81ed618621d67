package storiestest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/stories"
)

// ExpiryTTL is the lifetime of the stories the expiry case waits out.
const ExpiryTTL = 2 * time.Second

// Backend is a store under test, a way to read its outbox, and its clock.
type Backend struct {
	Store stories.Store
	// Outbox returns every event in the store's outbox, in any order.
	Outbox func(ctx context.Context) ([]events.Event, error)
	// Now is the clock the store judges expiry by.
	Now func() time.Time
	// Wait lets d pass on that clock (and on the database's, for TTLs).
	Wait func(d time.Duration)
}

// Opener returns the backend of one case: a fresh database, or one shared
// by all cases (every id is random per case).
type Opener = func(t *testing.T) Backend

// Run runs the cases, one after another, each on the backend open returns
// for it.
func Run(t *testing.T, open Opener) {
	gen := socialtest.IDs(t)
	cases := []struct {
		name string
		run  func(*fixture)
	}{
		{"create and get, hide-from kept", createGet},
		{"idempotency key returns the first story", idempotency},
		{"owner stories oldest first", ownerStories},
		{"views: first time kept, paging", views},
		{"likes: idempotent, events only when new, likers", likes},
		{"expiry: gone from reads, then reclaimed", expiry},
		{"tray: unseen first, newest first, hidden left out", tray},
		{"missing things are ErrNotFound", notFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := open(t)
			f := &fixture{t: t, b: b, s: b.Store, ids: gen, led: socialtest.NewLedger()}
			c.run(f)
			f.led.Check(t, f.b.Outbox) // exactly the expected events of those the case built
		})
	}
}

// fixture makes ids, stories and events for one case, and keeps which
// events the case built and which of them the outbox must hold.
type fixture struct {
	t   *testing.T
	b   Backend
	s   stories.Store
	ids *ids.Generator
	led *socialtest.Ledger // the events the case built and expects
}

var ctx = context.Background()

func (f *fixture) id() int64 { return f.ids.Next() }

// now is the backend's clock in whole milliseconds (a Cassandra
// timestamp's precision).
func (f *fixture) now() time.Time { return f.b.Now().UTC().Truncate(time.Millisecond) }

// event builds an event the case may hand to a write.
func (f *fixture) event(kind string, actor int64) events.Event {
	e := events.Event{ID: f.id(), Kind: kind, Actor: actor, Data: json.RawMessage(`{}`), At: f.now()}
	f.led.Made(e.ID)
	return e
}

func (f *fixture) expect(id int64) { f.led.Expect(id) }

// story is a new story of owner living ttl (an hour when 0).
func (f *fixture) story(owner int64, ttl time.Duration, hide ...int64) stories.Story {
	if ttl == 0 {
		ttl = time.Hour
	}
	at := f.now()
	return stories.Story{ID: f.id(), Owner: owner, Media: fmt.Sprintf("media%d", f.id()), MediaType: "image/jpeg",
		Caption: "caption", HideFrom: hide, CreatedAt: at, ExpiresAt: at.Add(ttl)}
}

// create writes st and checks it was created.
func (f *fixture) create(st stories.Story) stories.Story {
	f.t.Helper()
	ev := f.event(stories.KindCreated, st.Owner)
	got, created, err := f.s.Create(ctx, st, ev)
	if err != nil || !created {
		f.t.Fatalf("create %d: created %v, %v", st.ID, created, err)
	}
	f.expect(ev.ID)
	return got
}

// like likes st as user and checks the changed flag.
func (f *fixture) like(st stories.Story, user int64, want bool) {
	f.t.Helper()
	ev := f.event(stories.KindLike, user)
	got, err := f.s.Like(ctx, st, user, f.now(), ev)
	if err != nil || got != want {
		f.t.Fatalf("like %d by %d: changed %v, %v; want %v", st.ID, user, got, err, want)
	}
	if got {
		f.expect(ev.ID)
	}
}

func (f *fixture) view(st stories.Story, viewer int64, at time.Time) {
	f.t.Helper()
	if err := f.s.View(ctx, st, viewer, at); err != nil {
		f.t.Fatalf("view %d by %d: %v", st.ID, viewer, err)
	}
}

func (f *fixture) get(id int64) stories.Story {
	f.t.Helper()
	st, err := f.s.Get(ctx, id)
	if err != nil {
		f.t.Fatalf("get %d: %v", id, err)
	}
	return st
}

func (f *fixture) ownerIDs(owner int64) []int64 {
	f.t.Helper()
	sts, err := f.s.OwnerStories(ctx, owner)
	if err != nil {
		f.t.Fatalf("stories of %d: %v", owner, err)
	}
	out := make([]int64, len(sts))
	for i, st := range sts {
		out[i] = st.ID
	}
	return out
}

func (f *fixture) state(viewer int64, ids ...int64) map[int64]stories.ViewerState {
	f.t.Helper()
	m, err := f.s.ViewerState(ctx, viewer, ids)
	if err != nil {
		f.t.Fatalf("viewer state of %d: %v", viewer, err)
	}
	return m
}

func (f *fixture) likers(owner int64) []int64 {
	f.t.Helper()
	l, err := f.s.Likers(ctx, owner, 0)
	if err != nil {
		f.t.Fatalf("likers of %d: %v", owner, err)
	}
	return l
}
