// Package userstest is the conformance suite every users.Store runs: the
// same cases straight through the Store (Run) and end to end through the
// HTTP handler (RunHTTP), against the Pebble and the Cassandra stores, so
// both keep the same semantics. Real databases only: Pebble on a temp
// folder, Cassandra on a fresh keyspace.
//
// Every case checks the outbox too: a write that changes something adds
// exactly its event, in the same batch, and one that changes nothing (an
// idempotent repeat, a refused write) adds none.
package userstest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/users"
)

// Backend is a store under test and a way to read its outbox.
type Backend struct {
	Store users.Store
	// Outbox returns every event in the store's outbox, in any order. The
	// database may be shared with other cases: the suite looks only at
	// events of the users it made.
	Outbox func(ctx context.Context) ([]events.Event, error)
}

// Opener returns the backend of one case: a fresh database, or one shared
// by all cases (users and names are random per case).
type Opener = func(t *testing.T) Backend

// suffix is a random tail for usernames, so cases can share a database.
func suffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fixture makes users and events for store-level cases.
type fixture struct {
	t   *testing.T
	b   Backend
	ids *ids.Generator
	at  time.Time
	// mine are the users the case made: the outbox is checked for theirs.
	mine []int64
}

func (f *fixture) event(kind string, actor int64, to ...int64) events.Event {
	return events.Event{ID: f.ids.Next(), Kind: kind, Actor: actor, To: to, Data: []byte(`{}`), At: f.at}
}

func (f *fixture) user(name string) users.User {
	f.t.Helper()
	u := users.User{ID: f.ids.Next(), Username: name + "_" + suffix(), DisplayName: name, PasswordHash: "$argon2id$test",
		CreatedAt: f.at, UpdatedAt: f.at}
	got, created, err := f.b.Store.CreateUser(context.Background(), u, "", f.event("user.created", u.ID))
	if err != nil || !created {
		f.t.Fatalf("create %s: created %v, %v", u.Username, created, err)
	}
	f.mine = append(f.mine, u.ID)
	return got
}

func (f *fixture) op(kind string, actor, target int64) users.GraphOp {
	var to []int64
	if kind == "follow" {
		to = []int64{target}
	}
	return users.GraphOp{Actor: actor, Target: target, At: f.at, Event: f.event(kind, actor, to...)}
}

// OutboxOf returns the events in b's outbox whose actor is one of actors,
// in id order.
func OutboxOf(t testing.TB, b Backend, actors []int64) []events.Event {
	t.Helper()
	all, err := b.Outbox(context.Background())
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	var out []events.Event
	for _, e := range all {
		if slices.Contains(actors, e.Actor) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b events.Event) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// kinds lists "kind actor->to" of events, for readable comparisons.
func kinds(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = fmt.Sprintf("%s %d->%v", e.Kind, e.Actor, e.To)
	}
	return out
}

// wantOutbox checks the outbox holds exactly want (by id) for the case's users.
func (f *fixture) wantOutbox(want ...events.Event) {
	f.t.Helper()
	got := OutboxOf(f.t, f.b, f.mine)
	var gotIDs, wantIDs []int64
	for _, e := range got {
		gotIDs = append(gotIDs, e.ID)
	}
	for _, e := range want {
		wantIDs = append(wantIDs, e.ID)
	}
	slices.Sort(wantIDs)
	if !slices.Equal(gotIDs, wantIDs) {
		f.t.Fatalf("outbox holds %v\nwant the events %v", kinds(got), kinds(want))
	}
}

// Run runs the store-level cases, one after another.
func Run(t *testing.T, open Opener) {
	gen, err := ids.New(1021)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	setup := func(t *testing.T) *fixture {
		return &fixture{t: t, b: open(t), ids: gen, at: time.Now().UTC().Truncate(time.Millisecond)}
	}

	t.Run("create, read back, names unique", func(t *testing.T) {
		f := setup(t)
		s := f.b.Store
		ev := f.event("user.created", 0)
		u := users.User{ID: f.ids.Next(), Username: "ann_" + suffix(), DisplayName: "Ann", PasswordHash: "$argon2id$x",
			CreatedAt: f.at, UpdatedAt: f.at}
		ev.Actor = u.ID
		f.mine = append(f.mine, u.ID)
		if _, created, err := s.CreateUser(ctx, u, "", ev); err != nil || !created {
			t.Fatalf("create: %v %v", created, err)
		}
		for name, get := range map[string]func() (users.User, error){
			"by id":   func() (users.User, error) { return s.GetUser(ctx, u.ID) },
			"by name": func() (users.User, error) { return s.GetUserByName(ctx, u.Username) },
		} {
			got, err := get()
			if err != nil || got.ID != u.ID || got.Username != u.Username || got.PasswordHash != u.PasswordHash ||
				got.DisplayName != "Ann" || got.Bio != "" || got.Avatar != "" || !got.CreatedAt.Equal(f.at) {
				t.Fatalf("%s: %+v %v", name, got, err)
			}
		}
		// A second account may not take the name, and leaves nothing.
		other := u
		other.ID = f.ids.Next()
		f.mine = append(f.mine, other.ID)
		if _, _, err := s.CreateUser(ctx, other, "", f.event("user.created", other.ID)); !errors.Is(err, users.ErrUsernameTaken) {
			t.Fatalf("second claim: %v", err)
		}
		if _, err := s.GetUser(ctx, other.ID); !errors.Is(err, users.ErrNotFound) {
			t.Fatalf("the refused account was written: %v", err)
		}
		if _, err := s.GetUserByName(ctx, "nobody_"+suffix()); !errors.Is(err, users.ErrNotFound) {
			t.Fatalf("unknown name: %v", err)
		}
		got, err := s.GetUsers(ctx, []int64{other.ID, u.ID, 42})
		if err != nil || len(got) != 1 || got[0].ID != u.ID {
			t.Fatalf("GetUsers: %+v %v", got, err)
		}
		f.wantOutbox(ev)
	})

	t.Run("idempotent create", func(t *testing.T) {
		f := setup(t)
		s := f.b.Store
		u := users.User{ID: f.ids.Next(), Username: "idem_" + suffix(), DisplayName: "I", PasswordHash: "h", CreatedAt: f.at, UpdatedAt: f.at}
		first := f.event("user.created", u.ID)
		f.mine = append(f.mine, u.ID)
		if _, created, err := s.CreateUser(ctx, u, "key-1", first); err != nil || !created {
			t.Fatalf("create: %v %v", created, err)
		}
		retry := u
		retry.ID = f.ids.Next()
		f.mine = append(f.mine, retry.ID)
		got, created, err := s.CreateUser(ctx, retry, "key-1", f.event("user.created", retry.ID))
		if err != nil || created || got.ID != u.ID {
			t.Fatalf("retry with the same key: %+v created %v, %v", got, created, err)
		}
		if _, _, err := s.CreateUser(ctx, retry, "key-2", f.event("user.created", retry.ID)); !errors.Is(err, users.ErrUsernameTaken) {
			t.Fatalf("another key: %v", err)
		}
		f.wantOutbox(first)
	})

	t.Run("profile patch", func(t *testing.T) {
		f := setup(t)
		s := f.b.Store
		u := f.user("pat")
		bio := "hello\nworld"
		later := f.at.Add(time.Minute)
		ev := f.event("profile.updated", u.ID)
		got, err := s.UpdateProfile(ctx, u.ID, users.ProfilePatch{Bio: &bio}, later, ev)
		if err != nil || got.Bio != bio || got.DisplayName != "pat" || !got.UpdatedAt.Equal(later) {
			t.Fatalf("patch: %+v %v", got, err)
		}
		read, err := s.GetUser(ctx, u.ID)
		if err != nil || read.Bio != bio || read.DisplayName != "pat" || read.PasswordHash != u.PasswordHash || !read.UpdatedAt.Equal(later) {
			t.Fatalf("read back: %+v %v", read, err)
		}
		empty := ""
		if got, err = s.UpdateProfile(ctx, u.ID, users.ProfilePatch{Bio: &empty}, later, f.event("profile.updated", u.ID)); err != nil || got.Bio != "" {
			t.Fatalf("clear: %+v %v", got, err)
		}
		missing := f.ids.Next()
		f.mine = append(f.mine, missing)
		if _, err := s.UpdateProfile(ctx, missing, users.ProfilePatch{Bio: &bio}, later, f.event("profile.updated", missing)); !errors.Is(err, users.ErrNotFound) {
			t.Fatalf("patch of a missing user: %v", err)
		}
		if n := len(OutboxOf(t, f.b, f.mine)); n != 3 { // created, two patches
			t.Fatalf("%d events, want 3", n)
		}
	})

	t.Run("sessions", func(t *testing.T) {
		f := setup(t)
		s := f.b.Store
		u := f.user("sess")
		h1, h2 := make([]byte, 32), make([]byte, 32)
		_, _ = rand.Read(h1)
		_, _ = rand.Read(h2)
		now := time.Now().UTC().Truncate(time.Millisecond)
		live := users.Session{TokenHash: h1, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		old := users.Session{TokenHash: h2, UserID: u.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
		for _, x := range []users.Session{live, old} {
			if err := s.CreateSession(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetSession(ctx, h1)
		if err != nil || got.UserID != u.ID || !got.ExpiresAt.Equal(live.ExpiresAt) {
			t.Fatalf("get: %+v %v", got, err)
		}
		if sw, ok := s.(users.SessionSweeper); ok {
			if n, err := sw.SweepSessions(ctx, now); err != nil || n < 1 {
				t.Fatalf("sweep: %d %v", n, err)
			}
			if _, err := s.GetSession(ctx, h2); !errors.Is(err, users.ErrNotFound) {
				t.Fatalf("expired session survived the sweep: %v", err)
			}
			if _, err := s.GetSession(ctx, h1); err != nil {
				t.Fatalf("the sweep took a live session: %v", err)
			}
			// The sweep dropped the swept session from the user's index too.
			if n, err := s.DeleteUserSessions(ctx, u.ID, h1); err != nil || n != 0 {
				t.Fatalf("after the sweep, revoking all but the live session revoked %d (%v), want 0", n, err)
			}
		}
		if err := s.DeleteSession(ctx, h1); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSession(ctx, h1); !errors.Is(err, users.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := s.DeleteSession(ctx, h1); err != nil {
			t.Fatalf("deleting twice: %v", err)
		}
		if evs := OutboxOf(t, f.b, f.mine); len(evs) != 1 { // sessions emit nothing: only user.created
			t.Fatalf("outbox holds %v, want only user.created", kinds(evs))
		}
	})

	t.Run("a user's sessions revoked together", func(t *testing.T) {
		f := setup(t)
		s := f.b.Store
		u, v := f.user("many"), f.user("other")
		now := time.Now().UTC().Truncate(time.Millisecond)
		session := func(user int64) []byte {
			t.Helper()
			h := make([]byte, 32)
			_, _ = rand.Read(h)
			if err := s.CreateSession(ctx, users.Session{TokenHash: h, UserID: user, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			return h
		}
		live := func(h []byte) bool {
			t.Helper()
			_, err := s.GetSession(ctx, h)
			if err != nil && !errors.Is(err, users.ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		}
		keep, a, b, gone, theirs := session(u.ID), session(u.ID), session(u.ID), session(u.ID), session(v.ID)
		if err := s.DeleteSession(ctx, gone); err != nil { // leaves the index with its session
			t.Fatal(err)
		}
		listed := func(user int64) [][]byte {
			t.Helper()
			ss, err := s.ListUserSessions(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			var hs [][]byte
			for _, x := range ss {
				if x.UserID != user || !x.CreatedAt.Equal(now) || !x.ExpiresAt.Equal(now.Add(time.Hour)) {
					t.Fatalf("listed %+v, want user %d, created %v, expiring an hour later", x, user, now)
				}
				hs = append(hs, x.TokenHash)
			}
			slices.SortFunc(hs, bytes.Compare)
			return hs
		}
		want := [][]byte{keep, a, b}
		slices.SortFunc(want, bytes.Compare)
		if got := listed(u.ID); !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("listed %d sessions of the user, want their 3 live ones", len(got))
		}
		if got := listed(v.ID); len(got) != 1 || !bytes.Equal(got[0], theirs) {
			t.Fatalf("listed %d sessions of the other user, want 1", len(got))
		}
		if n, err := s.DeleteUserSessions(ctx, u.ID, keep); err != nil || n != 2 {
			t.Fatalf("revoke all but one: %d %v, want 2", n, err)
		}
		if live(a) || live(b) || !live(keep) || !live(theirs) {
			t.Fatalf("after revoking all but one: a %v b %v kept %v other user's %v", live(a), live(b), live(keep), live(theirs))
		}
		if n, err := s.DeleteUserSessions(ctx, u.ID, nil); err != nil || n != 1 {
			t.Fatalf("revoke all: %d %v, want 1", n, err)
		}
		if live(keep) || !live(theirs) {
			t.Fatalf("after revoking all: kept %v other user's %v", live(keep), live(theirs))
		}
		if n, err := s.DeleteUserSessions(ctx, u.ID, nil); err != nil || n != 0 {
			t.Fatalf("revoke all again: %d %v, want 0", n, err)
		}
		if got := listed(u.ID); len(got) != 0 {
			t.Fatalf("listed %d sessions after revoking all", len(got))
		}
		if n, err := s.DeleteUserSessions(ctx, f.ids.Next(), nil); err != nil || n != 0 {
			t.Fatalf("revoke a stranger's: %d %v, want 0", n, err)
		}
		if evs := OutboxOf(t, f.b, f.mine); len(evs) != 2 { // sessions emit nothing
			t.Fatalf("outbox holds %v, want only user.created twice", kinds(evs))
		}
	})

	t.Run("set password", func(t *testing.T) {
		f := setup(t)
		s := f.b.Store
		u := f.user("pw")
		if err := s.SetPassword(ctx, u.ID, "$argon2id$new"); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetUser(ctx, u.ID)
		if err != nil || got.PasswordHash != "$argon2id$new" {
			t.Fatalf("after set: %q %v", got.PasswordHash, err)
		}
		got.PasswordHash = u.PasswordHash
		if got != u {
			t.Fatalf("set password changed more than the hash: %+v, was %+v", got, u)
		}
		if evs := OutboxOf(t, f.b, f.mine); len(evs) != 1 {
			t.Fatalf("outbox holds %v, want only user.created", kinds(evs))
		}
	})

	t.Run("follow, unfollow, counts", func(t *testing.T) {
		f := setup(t)
		s := f.b.Store
		a, b := f.user("a"), f.user("b")
		var want []events.Event
		want = append(want, OutboxOf(t, f.b, f.mine)...)
		step := func(name string, fn func(context.Context, users.GraphOp) (bool, error), op users.GraphOp, wantChanged bool) {
			t.Helper()
			changed, err := fn(ctx, op)
			if err != nil || changed != wantChanged {
				t.Fatalf("%s: changed %v, %v; want changed %v", name, changed, err, wantChanged)
			}
			if changed {
				want = append(want, op.Event)
			}
		}
		step("follow", s.Follow, f.op("follow", a.ID, b.ID), true)
		step("follow again", s.Follow, f.op("follow", a.ID, b.ID), false)
		counts(t, s, a.ID, 0, 1)
		counts(t, s, b.ID, 1, 0)
		edges(t, s, b.ID, users.Followers, a.ID)
		edges(t, s, a.ID, users.Following, b.ID)
		step("unfollow", s.Unfollow, f.op("unfollow", a.ID, b.ID), true)
		step("unfollow again", s.Unfollow, f.op("unfollow", a.ID, b.ID), false)
		counts(t, s, a.ID, 0, 0)
		counts(t, s, b.ID, 0, 0)
		edges(t, s, b.ID, users.Followers)
		f.wantOutbox(want...)
	})

	t.Run("block removes follows both ways and refuses new ones", func(t *testing.T) {
		f := setup(t)
		s := f.b.Store
		a, b := f.user("blocker"), f.user("blocked")
		want := OutboxOf(t, f.b, f.mine)
		do := func(fn func(context.Context, users.GraphOp) (bool, error), op users.GraphOp, wantChanged bool, wantErr error) {
			t.Helper()
			changed, err := fn(ctx, op)
			if !errors.Is(err, wantErr) || changed != wantChanged {
				t.Fatalf("%s %d->%d: changed %v, %v; want %v, %v", op.Event.Kind, op.Actor, op.Target, changed, err, wantChanged, wantErr)
			}
			if changed {
				want = append(want, op.Event)
			}
		}
		do(s.Follow, f.op("follow", a.ID, b.ID), true, nil)
		do(s.Follow, f.op("follow", b.ID, a.ID), true, nil)
		do(s.Block, f.op("block", a.ID, b.ID), true, nil)
		counts(t, s, a.ID, 0, 0)
		counts(t, s, b.ID, 0, 0)
		do(s.Follow, f.op("follow", b.ID, a.ID), false, users.ErrBlocked)
		do(s.Follow, f.op("follow", a.ID, b.ID), false, users.ErrBlocked)
		do(s.Block, f.op("block", a.ID, b.ID), false, nil)
		do(s.Unblock, f.op("unblock", a.ID, b.ID), true, nil)
		do(s.Unblock, f.op("unblock", a.ID, b.ID), false, nil)
		do(s.Follow, f.op("follow", b.ID, a.ID), true, nil)
		counts(t, s, a.ID, 1, 0)
		f.wantOutbox(want...)
	})

	t.Run("blocked reads a block both ways", func(t *testing.T) {
		f := setup(t)
		s := f.b.Store
		a, b, c := f.user("bl_a"), f.user("bl_b"), f.user("bl_c")
		want := func(x, y int64, blocked bool) {
			t.Helper()
			for _, p := range [][2]int64{{x, y}, {y, x}} {
				got, err := s.Blocked(ctx, p[0], p[1])
				if err != nil || got != blocked {
					t.Fatalf("Blocked(%d, %d): %v, %v; want %v", p[0], p[1], got, err, blocked)
				}
			}
		}
		op := func(fn func(context.Context, users.GraphOp) (bool, error), kind string, actor, target int64) {
			t.Helper()
			if _, err := fn(ctx, f.op(kind, actor, target)); err != nil {
				t.Fatalf("%s %d->%d: %v", kind, actor, target, err)
			}
		}
		want(a.ID, b.ID, false)
		op(s.Follow, "follow", a.ID, b.ID) // a follow is not a block
		want(a.ID, b.ID, false)
		op(s.Block, "block", b.ID, a.ID)
		want(a.ID, b.ID, true)
		want(a.ID, c.ID, false)
		want(b.ID, c.ID, false)
		op(s.Block, "block", a.ID, b.ID) // both block: one unblock leaves the other's
		op(s.Unblock, "unblock", b.ID, a.ID)
		want(a.ID, b.ID, true)
		op(s.Unblock, "unblock", a.ID, b.ID)
		want(a.ID, b.ID, false)
	})

	t.Run("paging in id order", func(t *testing.T) {
		f := setup(t)
		s := f.b.Store
		star := f.user("star")
		var fans []int64
		for i := range 25 {
			u := f.user(fmt.Sprintf("fan%d", i))
			if _, err := s.Follow(ctx, f.op("follow", u.ID, star.ID)); err != nil {
				t.Fatal(err)
			}
			fans = append(fans, u.ID)
		}
		var got []int64
		after := int64(0)
		for pages := 0; ; pages++ {
			page, err := s.ListEdges(ctx, star.ID, users.Followers, after, 10)
			if err != nil || pages > 3 {
				t.Fatalf("page %d: %v", pages, err)
			}
			for _, e := range page {
				got = append(got, e.UserID)
				if !e.Since.Equal(f.at) {
					t.Fatalf("since %v, want %v", e.Since, f.at)
				}
			}
			if len(page) < 10 {
				break
			}
			after = page[len(page)-1].UserID
		}
		if !slices.Equal(got, fans) { // fans were made in id order
			t.Fatalf("followers %v\nwant %v", got, fans)
		}
		counts(t, s, star.ID, 25, 0)
	})

	t.Run("following limit", func(t *testing.T) {
		f := setup(t)
		s := f.b.Store
		a, b, c := f.user("lim"), f.user("l1"), f.user("l2")
		for _, x := range []int64{b.ID, c.ID} {
			op := f.op("follow", a.ID, x)
			op.MaxFollowing = 1
			changed, err := s.Follow(ctx, op)
			if x == b.ID && (err != nil || !changed) || x == c.ID && !errors.Is(err, users.ErrFollowLimit) {
				t.Fatalf("follow %d at a cap of 1: %v %v", x, changed, err)
			}
		}
		op := f.op("follow", a.ID, b.ID)
		op.MaxFollowing = 1
		if changed, err := s.Follow(ctx, op); err != nil || changed {
			t.Fatalf("repeating a follow at the cap: %v %v", changed, err)
		}
	})

	t.Run("racing follows emit one event", func(t *testing.T) {
		f := setup(t)
		s := f.b.Store
		a, b := f.user("racer"), f.user("target")
		var wg sync.WaitGroup
		results := make([]bool, 8)
		errs := make([]error, 8)
		for i := range results {
			op := f.op("follow", a.ID, b.ID)
			wg.Go(func() { results[i], errs[i] = s.Follow(ctx, op) })
		}
		wg.Wait()
		n := 0
		for i, changed := range results {
			if errs[i] != nil {
				t.Fatalf("follow %d: %v", i, errs[i])
			}
			if changed {
				n++
			}
		}
		var follows int
		for _, e := range OutboxOf(t, f.b, f.mine) {
			if e.Kind == "follow" {
				follows++
			}
		}
		if n != 1 || follows != 1 {
			t.Fatalf("%d follows reported a change and %d follow events were written; want 1 and 1", n, follows)
		}
	})
}

func counts(t *testing.T, s users.Store, id, followers, following int64) {
	t.Helper()
	c, err := s.CountEdges(context.Background(), id)
	if err != nil || c.Followers != followers || c.Following != following {
		t.Fatalf("counts of %d: %+v %v; want %d followers, %d following", id, c, err, followers, following)
	}
}

func edges(t *testing.T, s users.Store, id int64, dir users.Direction, want ...int64) {
	t.Helper()
	got, err := s.ListEdges(context.Background(), id, dir, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []int64
	for _, e := range got {
		gotIDs = append(gotIDs, e.UserID)
	}
	if !slices.Equal(gotIDs, want) {
		t.Fatalf("%s of %d: %v, want %v", dir, id, gotIDs, want)
	}
}
