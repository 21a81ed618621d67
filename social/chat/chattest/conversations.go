package chattest

import (
	"slices"
	"sync"
	"time"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/events"
)

// directOnce: the pair has one conversation, whichever user asks; the
// second creation returns it, writes nothing and emits nothing.
func directOnce(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	c := chat.Conversation{ID: f.id(), Kind: chat.Direct, CreatedBy: a, CreatedAt: f.at, LastAt: f.at}
	ev := f.event("conversation.created", a)
	got, created, err := s.CreateDirect(ctx, c, a, b, ev)
	if err != nil || !created || got.ID != c.ID || got.Kind != chat.Direct {
		t.Fatalf("create: %+v created %v, %v", got, created, err)
	}
	f.expect(ev.ID)

	again := chat.Conversation{ID: f.id(), Kind: chat.Direct, CreatedBy: b, CreatedAt: f.at.Add(time.Millisecond), LastAt: f.at.Add(time.Millisecond)}
	ev2 := f.event("conversation.created", b)
	got, created, err = s.CreateDirect(ctx, again, b, a, ev2)
	if err != nil || created || got.ID != c.ID || got.CreatedBy != a {
		t.Fatalf("create again, other order: %+v created %v, %v; want conversation %d", got, created, err, c.ID)
	}
	socialtest.MustErr(t, "the losing id", errOf(s.GetConversation(ctx, again.ID)), chat.ErrNotFound)

	read := f.conv(c.ID)
	if read.Kind != chat.Direct || read.Title != "" || read.CreatedBy != a || !read.CreatedAt.Equal(f.at) ||
		read.LastSeq != 0 || !read.LastAt.Equal(read.CreatedAt) || read.LastPreview != "" {
		t.Fatalf("read back: %+v", read)
	}
	if got := f.memberIDs(c.ID); !slices.Equal(got, sorted(a, b)) {
		t.Fatalf("members %v, want %v", got, sorted(a, b))
	}
	for _, u := range []int64{a, b} {
		if m := f.member(c.ID, u); m.Role != chat.RoleMember || m.Conv != c.ID || m.User != u {
			t.Fatalf("member %d: %+v", u, m)
		}
		if cs, err := s.UserConversations(ctx, u); err != nil || !slices.Equal(cs, []int64{c.ID}) {
			t.Fatalf("conversations of %d: %v %v", u, cs, err)
		}
	}
}

// directConcurrent: eight creations of one pair at once make one
// conversation, report created once and emit one event.
func directConcurrent(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	const n = 8
	convs := make([]chat.Conversation, n)
	evs := make([]events.Event, n)
	for i := range n {
		convs[i] = chat.Conversation{ID: f.id(), Kind: chat.Direct, CreatedBy: a, CreatedAt: f.at, LastAt: f.at}
		evs[i] = f.event("conversation.created", a)
	}
	type result struct {
		c       chat.Conversation
		created bool
		err     error
	}
	res := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		x, y := a, b
		if i%2 == 1 {
			x, y = b, a
		}
		wg.Go(func() {
			c, created, err := s.CreateDirect(ctx, convs[i], x, y, evs[i])
			res[i] = result{c, created, err}
		})
	}
	wg.Wait()
	winner := -1
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("create %d: %v", i, r.err)
		}
		if r.created {
			if winner >= 0 {
				t.Fatalf("creations %d and %d both report created", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no creation reports created")
	}
	id := convs[winner].ID
	for i, r := range res {
		if r.c.ID != id {
			t.Fatalf("creation %d returned conversation %d, want %d", i, r.c.ID, id)
		}
	}
	f.expect(evs[winner].ID)
	if got := f.memberIDs(id); !slices.Equal(got, sorted(a, b)) {
		t.Fatalf("members %v, want %v", got, sorted(a, b))
	}
	for _, u := range []int64{a, b} {
		if cs, err := s.UserConversations(ctx, u); err != nil || !slices.Equal(cs, []int64{id}) {
			t.Fatalf("conversations of %d: %v %v", u, cs, err)
		}
	}
}

// groupBasics: a group reads back with its members and their roles, pages
// its members, and takes a patch.
func groupBasics(f *fixture) {
	t, s := f.t, f.s
	admin, m1, m2, m3 := f.user(), f.user(), f.user(), f.user()
	c := chat.Conversation{ID: f.id(), Kind: chat.Group, Title: "trip", Avatar: "media-1", CreatedBy: admin, CreatedAt: f.at, LastAt: f.at}
	ms := []chat.Member{
		{Conv: c.ID, User: admin, Role: chat.RoleAdmin, JoinedAt: f.at},
		{Conv: c.ID, User: m1, Role: chat.RoleMember, JoinedAt: f.at},
		{Conv: c.ID, User: m2, Role: chat.RoleMember, JoinedAt: f.at},
		{Conv: c.ID, User: m3, Role: chat.RoleAdmin, JoinedAt: f.at},
	}
	ev := f.event("conversation.created", admin)
	if got, created, err := s.CreateGroup(ctx, c, ms, "", ev); err != nil || !created || got.ID != c.ID {
		t.Fatalf("create: %+v created %v, %v", got, created, err)
	}
	f.expect(ev.ID)

	read := f.conv(c.ID)
	if read.ID != c.ID || read.Kind != chat.Group || read.Title != "trip" || read.Avatar != "media-1" || read.CreatedBy != admin ||
		!read.CreatedAt.Equal(f.at) || read.LastSeq != 0 || !read.LastAt.Equal(f.at) || read.LastSender != 0 || read.LastPreview != "" {
		t.Fatalf("read back: %+v", read)
	}
	for _, want := range ms {
		got := f.member(c.ID, want.User)
		if got.Conv != c.ID || got.User != want.User || got.Role != want.Role || !got.JoinedAt.Equal(f.at) ||
			got.ReadSeq != 0 || got.DeliveredSeq != 0 || got.ClearedSeq != 0 {
			t.Fatalf("member %d: %+v, want %+v", want.User, got, want)
		}
	}
	socialtest.MustErr(t, "a stranger", errOf(s.GetMember(ctx, c.ID, f.user())), chat.ErrNotMember)

	all := sorted(admin, m1, m2, m3) // ids were made in this order, but say so
	if got := f.memberIDs(c.ID); !slices.Equal(got, all) {
		t.Fatalf("members %v, want %v", got, all)
	}
	page, err := s.ListMembers(ctx, c.ID, 0, 3)
	if err != nil || len(page) != 3 || page[0].User != all[0] || page[2].User != all[2] {
		t.Fatalf("first page of 3: %+v %v", page, err)
	}
	page, err = s.ListMembers(ctx, c.ID, page[2].User, 3)
	if err != nil || len(page) != 1 || page[0].User != all[3] || page[0].Role != chat.RoleAdmin {
		t.Fatalf("second page: %+v %v", page, err)
	}
	page, err = s.ListMembers(ctx, c.ID, all[3], 3)
	if err != nil || len(page) != 0 {
		t.Fatalf("after the last member: %+v %v", page, err)
	}

	title := "trip 2"
	ev = f.event("conversation.updated", admin)
	got, err := s.UpdateConversation(ctx, c.ID, chat.ConvPatch{Title: &title}, ev)
	if err != nil || got.Title != title || got.Avatar != "media-1" || got.ID != c.ID || got.Kind != chat.Group {
		t.Fatalf("update: %+v %v", got, err)
	}
	f.expect(ev.ID)
	noAvatar := ""
	ev = f.event("conversation.updated", admin)
	if got, err = s.UpdateConversation(ctx, c.ID, chat.ConvPatch{Avatar: &noAvatar}, ev); err != nil || got.Avatar != "" || got.Title != title {
		t.Fatalf("clear the avatar: %+v %v", got, err)
	}
	f.expect(ev.ID)
	if read = f.conv(c.ID); read.Title != title || read.Avatar != "" || read.CreatedBy != admin || !read.CreatedAt.Equal(f.at) {
		t.Fatalf("read back the update: %+v", read)
	}
	_, err = s.UpdateConversation(ctx, f.id(), chat.ConvPatch{Title: &title}, f.event("conversation.updated", admin))
	socialtest.MustErr(t, "update a missing conversation", err, chat.ErrNotFound)
}

// addMembersCap: the cap counts members exactly; a refused add adds no
// one; adding members again adds nothing and emits nothing.
func addMembersCap(f *fixture) {
	t, s := f.t, f.s
	admin, m1, m2 := f.user(), f.user(), f.user()
	g := f.group(admin, m1, m2) // 3 members
	n1, n2, n3 := f.user(), f.user(), f.user()
	newMember := func(u int64) chat.Member {
		return chat.Member{Conv: g.ID, User: u, Role: chat.RoleMember, JoinedAt: f.at.Add(time.Millisecond)}
	}

	added, err := s.AddMembers(ctx, g.ID, []chat.Member{newMember(n1), newMember(n2)}, 4, f.event("members.added", admin))
	socialtest.MustErr(t, "3 + 2 at a cap of 4", err, chat.ErrMemberCap)
	if len(added) != 0 {
		t.Fatalf("a refused add reports %v added", added)
	}
	for _, u := range []int64{n1, n2} {
		socialtest.MustErr(t, "a member of a refused add", errOf(s.GetMember(ctx, g.ID, u)), chat.ErrNotMember)
	}

	// One new and one existing member: only the new one counts, and only it is added.
	ev := f.event("members.added", admin)
	added, err = s.AddMembers(ctx, g.ID, []chat.Member{newMember(n1), newMember(m1)}, 4, ev)
	if err != nil || !slices.Equal(added, []int64{n1}) {
		t.Fatalf("add one new and one member at a cap of 4: %v %v", added, err)
	}
	f.expect(ev.ID)
	if m := f.member(g.ID, n1); m.Role != chat.RoleMember || !m.JoinedAt.Equal(f.at.Add(1e6)) {
		t.Fatalf("the added member: %+v", m)
	}
	if m := f.member(g.ID, m1); !m.JoinedAt.Equal(f.at) {
		t.Fatalf("re-adding rewrote the existing member: %+v", m)
	}

	// At the cap, re-adding members is no change, not an error.
	added, err = s.AddMembers(ctx, g.ID, []chat.Member{newMember(n1), newMember(admin)}, 4, f.event("members.added", admin))
	if err != nil || len(added) != 0 {
		t.Fatalf("re-add at the cap: %v %v", added, err)
	}
	_, err = s.AddMembers(ctx, g.ID, []chat.Member{newMember(n2)}, 4, f.event("members.added", admin))
	socialtest.MustErr(t, "a fifth member at a cap of 4", err, chat.ErrMemberCap)

	ev = f.event("members.added", admin)
	added, err = s.AddMembers(ctx, g.ID, []chat.Member{newMember(n2), newMember(n3)}, 6, ev)
	if err != nil || !slices.Equal(sorted(added...), sorted(n2, n3)) {
		t.Fatalf("add two at a cap of 6: %v %v", added, err)
	}
	f.expect(ev.ID)
	if got, want := f.memberIDs(g.ID), sorted(admin, m1, m2, n1, n2, n3); !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	if cs, err := s.UserConversations(ctx, n3); err != nil || !slices.Equal(cs, []int64{g.ID}) {
		t.Fatalf("conversations of an added member: %v %v", cs, err)
	}
}

// removeAndRole: removing and changing a role report whether they changed
// anything, and emit only then.
func removeAndRole(f *fixture) {
	t, s := f.t, f.s
	admin, m1, m2 := f.user(), f.user(), f.user()
	g := f.group(admin, m1, m2)

	ev := f.event("member.removed", admin)
	f.changed("remove", ev, true)(s.RemoveMember(ctx, g.ID, m1, ev))
	ev = f.event("member.removed", admin)
	f.changed("remove again", ev, false)(s.RemoveMember(ctx, g.ID, m1, ev))
	socialtest.MustErr(t, "a removed member", errOf(s.GetMember(ctx, g.ID, m1)), chat.ErrNotMember)
	if got := f.memberIDs(g.ID); !slices.Equal(got, sorted(admin, m2)) {
		t.Fatalf("members after the removal: %v", got)
	}
	if cs, err := s.UserConversations(ctx, m1); err != nil || len(cs) != 0 {
		t.Fatalf("conversations of a removed member: %v %v", cs, err)
	}

	ev = f.event("member.role", admin)
	f.changed("make admin", ev, true)(s.SetRole(ctx, g.ID, m2, chat.RoleAdmin, ev))
	ev = f.event("member.role", admin)
	f.changed("make admin again", ev, false)(s.SetRole(ctx, g.ID, m2, chat.RoleAdmin, ev))
	if m := f.member(g.ID, m2); m.Role != chat.RoleAdmin {
		t.Fatalf("role after the change: %+v", m)
	}
	ev = f.event("member.role", admin)
	f.changed("demote", ev, true)(s.SetRole(ctx, g.ID, m2, chat.RoleMember, ev))
	if m := f.member(g.ID, m2); m.Role != chat.RoleMember {
		t.Fatalf("role after the demotion: %+v", m)
	}
	_, err := s.SetRole(ctx, g.ID, m1, chat.RoleAdmin, f.event("member.role", admin))
	socialtest.MustErr(t, "role of a removed member", err, chat.ErrNotMember)
}

// marksRise: marks only rise; a mark at or below changes nothing.
func marksRise(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	g := f.group(a, b)
	step := func(what string, m chat.Mark, seq int64, want bool) {
		t.Helper()
		ev := f.event("mark", b)
		f.changed(what, ev, want)(s.SetMark(ctx, g.ID, b, m, seq, ev))
	}
	step("read 5", chat.MarkRead, 5, true)
	step("read 3", chat.MarkRead, 3, false)
	step("read 5 again", chat.MarkRead, 5, false)
	step("delivered 2", chat.MarkDelivered, 2, true)
	step("delivered 7", chat.MarkDelivered, 7, true)
	step("cleared 1", chat.MarkCleared, 1, true)
	step("cleared 0", chat.MarkCleared, 0, false)
	if m := f.member(g.ID, b); m.ReadSeq != 5 || m.DeliveredSeq != 7 || m.ClearedSeq != 1 || m.Role != chat.RoleMember {
		t.Fatalf("marks: %+v, want read 5, delivered 7, cleared 1", m)
	}
	if m := f.member(g.ID, a); m.ReadSeq != 0 || m.DeliveredSeq != 0 || m.ClearedSeq != 0 {
		t.Fatalf("another member's marks moved: %+v", m)
	}
	_, err := s.SetMark(ctx, g.ID, f.user(), chat.MarkRead, 1, f.event("mark", a))
	socialtest.MustErr(t, "mark of a stranger", err, chat.ErrNotMember)
}

// userConversations: a user's conversations, direct and group, in id order.
func userConversations(f *fixture) {
	t, s := f.t, f.s
	u, v, w := f.user(), f.user(), f.user()
	g1 := f.group(v, u)
	d := f.direct(w, u)
	g2 := f.group(u, w)
	g3 := f.group(v, w) // not u's
	check := func(user int64, want ...int64) {
		t.Helper()
		got, err := s.UserConversations(ctx, user)
		if err != nil || !slices.Equal(got, sorted(want...)) {
			t.Fatalf("conversations of %d: %v %v; want %v", user, got, err, sorted(want...))
		}
	}
	check(u, g1.ID, d.ID, g2.ID)
	check(v, g1.ID, g3.ID)
	check(w, d.ID, g2.ID, g3.ID)
	check(f.user())
}

// errOf keeps the error of a two-result call.
func errOf[T any](_ T, err error) error { return err }

// groupKey: a group create retried with its key returns the first group,
// whatever the retry's title and members, and writes nothing (no
// conversation, no membership, no event); another creator's same key and
// the same creator's other key make new groups; concurrent creates with
// one key make one group.
func groupKey(f *fixture) {
	t, s := f.t, f.s
	admin, bob, carol := f.user(), f.user(), f.user()
	newGroup := func(creator int64, title string, members ...int64) (chat.Conversation, []chat.Member) {
		c := chat.Conversation{ID: f.id(), Kind: chat.Group, Title: title, CreatedBy: creator, CreatedAt: f.at, LastAt: f.at}
		ms := []chat.Member{{Conv: c.ID, User: creator, Role: chat.RoleAdmin, JoinedAt: f.at}}
		for _, u := range members {
			ms = append(ms, chat.Member{Conv: c.ID, User: u, Role: chat.RoleMember, JoinedAt: f.at})
		}
		return c, ms
	}
	create := func(c chat.Conversation, ms []chat.Member, key string, want bool) chat.Conversation {
		t.Helper()
		ev := f.event("conversation.created", c.CreatedBy)
		got, created, err := s.CreateGroup(ctx, c, ms, key, ev)
		if err != nil || created != want {
			t.Fatalf("create group %d with key %q: created %v, %v; want created %v", c.ID, key, created, err, want)
		}
		if created {
			f.expect(ev.ID)
		}
		return got
	}
	first, ms := newGroup(admin, "trip", bob)
	if got := create(first, ms, "key-1", true); got.ID != first.ID || got.Title != "trip" {
		t.Fatalf("first create returned %+v", got)
	}
	retry, rms := newGroup(admin, "renamed", bob, carol)
	got := create(retry, rms, "key-1", false)
	if got.ID != first.ID || got.Title != "trip" || got.CreatedBy != admin || !got.CreatedAt.Equal(f.at) {
		t.Fatalf("retry returned %+v, want group %d", got, first.ID)
	}
	socialtest.MustErr(t, "the retry's conversation", errOf(s.GetConversation(ctx, retry.ID)), chat.ErrNotFound)
	if got := f.memberIDs(first.ID); !slices.Equal(got, sorted(admin, bob)) {
		t.Fatalf("members after a retry %v, want %v", got, sorted(admin, bob))
	}
	if cs, err := s.UserConversations(ctx, carol); err != nil || len(cs) != 0 {
		t.Fatalf("conversations of the retry's extra member: %v %v", cs, err)
	}

	other, oms := newGroup(bob, "bob's", carol)
	if got := create(other, oms, "key-1", true); got.ID != other.ID {
		t.Fatalf("another creator's key returned %d, want %d", got.ID, other.ID)
	}
	second, sms := newGroup(admin, "trip", bob)
	if got := create(second, sms, "key-2", true); got.ID != second.ID {
		t.Fatalf("another key returned %d, want %d", got.ID, second.ID)
	}
	if cs, err := s.UserConversations(ctx, admin); err != nil || !slices.Equal(cs, sorted(first.ID, second.ID)) {
		t.Fatalf("conversations of the creator: %v %v, want %v", cs, err, sorted(first.ID, second.ID))
	}

	const n = 8
	type result struct {
		c       chat.Conversation
		created bool
		err     error
	}
	res := make([]result, n)
	evs := make([]events.Event, n)
	var wg sync.WaitGroup
	for i := range n {
		c, ms := newGroup(carol, "race", bob)
		evs[i] = f.event("conversation.created", carol)
		wg.Go(func() {
			got, created, err := s.CreateGroup(ctx, c, ms, "key-race", evs[i])
			res[i] = result{got, created, err}
		})
	}
	wg.Wait()
	winner := -1
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("concurrent create %d: %v", i, r.err)
		}
		if r.created {
			if winner >= 0 {
				t.Fatalf("creates %d and %d both report created", winner, i)
			}
			winner = i
		}
		if r.c.ID != res[0].c.ID {
			t.Fatalf("concurrent creates returned groups %d and %d", res[0].c.ID, r.c.ID)
		}
	}
	if winner < 0 {
		t.Fatal("no concurrent create reports created")
	}
	f.expect(evs[winner].ID)
	if cs, err := s.UserConversations(ctx, carol); err != nil || !slices.Equal(cs, sorted(other.ID, res[0].c.ID)) {
		t.Fatalf("conversations of carol: %v %v, want %v", cs, err, sorted(other.ID, res[0].c.ID))
	}
}
