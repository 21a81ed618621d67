package chattest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/chat"
)

// sentSeqs returns the seqs the case's message.sent events in the outbox
// were built with, in order.
func (f *fixture) sentSeqs() []int64 {
	f.t.Helper()
	var out []int64
	for _, e := range f.outbox() {
		if e.Kind != "message.sent" {
			continue
		}
		var d msgData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			f.t.Fatalf("event %d: %v", e.ID, err)
		}
		out = append(out, d.Seq)
	}
	slices.Sort(out)
	return out
}

// seqs lists messages' seqs.
func seqs(ms []chat.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

// span is from..to.
func span(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// tail checks a conversation's tail.
func (f *fixture) tail(conv, seq, sender int64, at time.Time, preview string) {
	f.t.Helper()
	c := f.conv(conv)
	if c.LastSeq != seq || c.LastSender != sender || !c.LastAt.Equal(at) || c.LastPreview != preview {
		f.t.Fatalf("tail of %d: seq %d sender %d at %v preview %q; want %d %d %v %q",
			conv, c.LastSeq, c.LastSender, c.LastAt, c.LastPreview, seq, sender, at, preview)
	}
}

// marks checks a member's read and delivered marks.
func (f *fixture) marks(conv, user, read, delivered int64) {
	f.t.Helper()
	if m := f.member(conv, user); m.ReadSeq != read || m.DeliveredSeq != delivered {
		f.t.Fatalf("marks of %d: read %d delivered %d, want %d %d", user, m.ReadSeq, m.DeliveredSeq, read, delivered)
	}
}

// sameMessage checks got is want, field by field.
func sameMessage(got, want chat.Message) error {
	if got.Conv != want.Conv || got.Seq != want.Seq || got.ID != want.ID || got.Sender != want.Sender ||
		got.ClientMsgID != want.ClientMsgID || got.Text != want.Text || !slices.Equal(got.Media, want.Media) ||
		got.ReplyTo != want.ReplyTo || !got.SentAt.Equal(want.SentAt) || !got.EditedAt.Equal(want.EditedAt) ||
		got.Deleted != want.Deleted {
		return fmt.Errorf("message %+v\nwant %+v", got, want)
	}
	return nil
}

// sendBasics: seqs 1, 2, 3; each send raises the tail and the sender's
// marks, and its event is built with its seq.
func sendBasics(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	g := f.group(a, b)

	m := f.msg(g.ID, a, "hello")
	m.SentAt = f.at.Add(time.Second)
	got, created := f.send(m)
	want := m
	want.Seq = 1
	if err := sameMessage(got, want); err != nil || !created {
		t.Fatalf("first send (created %v): %v", created, err)
	}
	f.tail(g.ID, 1, a, m.SentAt, "hello")
	f.marks(g.ID, a, 1, 1)
	f.marks(g.ID, b, 0, 0)

	long := strings.Repeat("é", chat.PreviewRunes+50)
	m2 := f.msg(g.ID, b, long)
	m2.SentAt, m2.ReplyTo = f.at.Add(2*time.Second), 1
	if got, _ = f.send(m2); got.Seq != 2 {
		t.Fatalf("second send: seq %d", got.Seq)
	}
	f.tail(g.ID, 2, b, m2.SentAt, strings.Repeat("é", chat.PreviewRunes))
	f.marks(g.ID, b, 2, 2)
	f.marks(g.ID, a, 1, 1)

	m3 := f.msg(g.ID, a, "", "media-only")
	m3.SentAt = f.at.Add(3 * time.Second)
	if got, _ = f.send(m3); got.Seq != 3 {
		t.Fatalf("third send: seq %d", got.Seq)
	}
	f.tail(g.ID, 3, a, m3.SentAt, "")
	f.marks(g.ID, a, 3, 3)

	read, err := s.GetMessage(ctx, g.ID, 2)
	want2 := m2
	want2.Seq = 2
	if err != nil {
		t.Fatal(err)
	}
	if err := sameMessage(read, want2); err != nil {
		t.Fatalf("read back: %v", err)
	}

	// The marks a send raised are marks like any other.
	ev := f.event("mark", a)
	f.changed("read 3 after sending 3", ev, false)(s.SetMark(ctx, g.ID, a, chat.MarkRead, 3, ev))
	ev = f.event("mark", b)
	f.changed("read 3 by the other member", ev, true)(s.SetMark(ctx, g.ID, b, chat.MarkRead, 3, ev))

	if got := f.sentSeqs(); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("the events were built with seqs %v, want [1 2 3]", got)
	}
}

// sendRetry: a retry (same sender, same client id) returns the stored
// message, whatever else it carries, and writes nothing; client ids are
// per sender.
func sendRetry(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	g := f.group(a, b)
	m := f.msg(g.ID, a, "one", "media-1")
	first, created := f.send(m)
	if !created || first.Seq != 1 {
		t.Fatalf("first: seq %d created %v", first.Seq, created)
	}
	f.sendNew(g.ID, b, "two")

	retry := m
	retry.ID, retry.Text, retry.Media, retry.SentAt = f.id(), "one, again", nil, f.at.Add(time.Minute)
	for range 2 {
		got, created := f.send(retry)
		if created {
			t.Fatal("a retry created a message")
		}
		if err := sameMessage(got, first); err != nil {
			t.Fatalf("a retry returned %v", err)
		}
	}
	f.tail(g.ID, 2, b, f.at, "two")

	// Another sender's client id space is their own.
	other := f.msg(g.ID, b, "b's one")
	other.ClientMsgID = m.ClientMsgID
	if got, created := f.send(other); !created || got.Seq != 3 {
		t.Fatalf("the same client id from another sender: seq %d created %v", got.Seq, created)
	}
	all, err := s.Messages(ctx, g.ID, 1, 100)
	if err != nil || !slices.Equal(seqs(all), []int64{1, 2, 3}) || all[0].Text != "one" || all[2].Text != "b's one" {
		t.Fatalf("messages: %+v %v", all, err)
	}
	if got := f.sentSeqs(); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("events of seqs %v, want [1 2 3]", got)
	}
}

// sendConcurrent is the sequence's guarantee: 4 senders sending 25
// messages each at once, while each also retries some of its neighbour's
// (racing the neighbour's own send), get exactly seqs 1..100, each client
// id once, and 100 events.
func sendConcurrent(f *fixture) {
	t, s := f.t, f.s
	const workers, each = 4, 25
	senders := make([]int64, workers)
	for i := range senders {
		senders[i] = f.user()
	}
	g := f.group(senders[0], senders[1:]...)
	msgs := make([][]chat.Message, workers)
	for w := range msgs {
		for i := range each {
			msgs[w] = append(msgs[w], f.msg(g.ID, senders[w], fmt.Sprintf("w%d-%d", w, i)))
		}
	}
	type result struct {
		seq, id int64
		created bool
	}
	var mu sync.Mutex // guards results
	results := map[string][]result{}
	send := func(m chat.Message) bool {
		got, created, err := f.trySend(m)
		if err != nil {
			t.Errorf("send %s: %v", m.ClientMsgID, err)
			return false
		}
		if got.ClientMsgID != m.ClientMsgID || got.Sender != m.Sender || got.Text != m.Text {
			t.Errorf("send %s returned %+v", m.ClientMsgID, got)
			return false
		}
		mu.Lock()
		results[m.ClientMsgID] = append(results[m.ClientMsgID], result{got.Seq, got.ID, created})
		mu.Unlock()
		return true
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			next := msgs[(w+1)%workers]
			for i, m := range msgs[w] {
				if !send(m) {
					return
				}
				if i%5 == 2 { // a retry of the neighbour's, which may not be sent yet
					r := next[i]
					r.ID = f.id()
					if !send(r) {
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	bySeq := map[int64]string{}
	for cid, rs := range results {
		created := 0
		for _, r := range rs {
			if r.seq != rs[0].seq || r.id != rs[0].id {
				t.Fatalf("client id %s got seq %d id %d and seq %d id %d", cid, rs[0].seq, rs[0].id, r.seq, r.id)
			}
			if r.created {
				created++
			}
		}
		if created != 1 {
			t.Fatalf("client id %s was created %d times", cid, created)
		}
		if prev, ok := bySeq[rs[0].seq]; ok {
			t.Fatalf("seq %d went to %s and %s", rs[0].seq, prev, cid)
		}
		bySeq[rs[0].seq] = cid
	}
	const n = workers * each
	stored, err := s.Messages(ctx, g.ID, 1, 10*n)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs(stored), span(1, n)) {
		t.Fatalf("stored seqs %v, want 1..%d", seqs(stored), n)
	}
	lastOf := map[int64]int64{} // sender -> their last seq
	for _, m := range stored {
		if bySeq[m.Seq] != m.ClientMsgID {
			t.Fatalf("seq %d holds %s, the sends were told %s", m.Seq, m.ClientMsgID, bySeq[m.Seq])
		}
		lastOf[m.Sender] = m.Seq
	}
	last := stored[n-1]
	f.tail(g.ID, n, last.Sender, last.SentAt, last.Text)
	for _, u := range senders {
		f.marks(g.ID, u, lastOf[u], lastOf[u])
	}
	if got := f.sentSeqs(); !slices.Equal(got, span(1, n)) {
		t.Fatalf("the events were built with seqs %v, want 1..%d", got, n)
	}
}

// messageRanges: Messages reads [from, to] of one conversation, skipping
// seqs not written.
func messageRanges(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	g, other := f.group(a, b), f.group(b, a)
	for i := range 5 {
		f.sendNew(g.ID, a, fmt.Sprint("m", i+1))
	}
	f.sendNew(other.ID, b, "elsewhere")
	for _, c := range []struct {
		from, to int64
		want     []int64
	}{
		{1, 5, span(1, 5)},
		{2, 4, span(2, 4)},
		{3, 3, []int64{3}},
		{4, 10, span(4, 5)},
		{6, 10, nil},
		{4, 2, nil},
		{0, math.MaxInt64, span(1, 5)},
	} {
		got, err := s.Messages(ctx, g.ID, c.from, c.to)
		if err != nil || !slices.Equal(seqs(got), c.want) {
			t.Fatalf("messages %d..%d: %v %v, want %v", c.from, c.to, seqs(got), err, c.want)
		}
		for _, m := range got {
			if m.Conv != g.ID || m.Text != fmt.Sprint("m", m.Seq) || m.Sender != a {
				t.Fatalf("messages %d..%d: %+v", c.from, c.to, m)
			}
		}
	}
}

// mediaUsed: a send records its media as used in its conversation only.
func mediaUsed(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	g, other := f.group(a, b), f.group(a, b)
	x, y, z := fmt.Sprint("media-", f.id()), fmt.Sprint("media-", f.id()), fmt.Sprint("media-", f.id())
	f.sendNew(g.ID, a, "look", x, y)
	for _, c := range []struct {
		conv  int64
		media string
		want  bool
	}{{g.ID, x, true}, {g.ID, y, true}, {g.ID, z, false}, {other.ID, x, false}} {
		if used, err := s.MediaUsed(ctx, c.conv, c.media); err != nil || used != c.want {
			t.Fatalf("media %s used in %d: %v %v, want %v", c.media, c.conv, used, err, c.want)
		}
	}
}

// editMessage: only the sender edits; an edit rewrites text, media and
// EditedAt and keeps the rest of the row.
func editMessage(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	g := f.group(a, b)
	first := f.sendNew(g.ID, a, "first")
	m := f.msg(g.ID, a, "second", "media-a")
	m.ReplyTo = 1
	sent, _ := f.send(m)

	at := f.at.Add(time.Minute)
	ev, evID := f.msgEvent("message.edited", a)
	_, err := s.EditMessage(ctx, g.ID, 2, b, "hijack", nil, at, ev)
	socialtest.MustErr(t, "edit by another member", err, chat.ErrNotSender)
	_, err = s.EditMessage(ctx, g.ID, 99, a, "x", nil, at, ev)
	socialtest.MustErr(t, "edit of a missing seq", err, chat.ErrNotFound)
	_, err = s.EditMessage(ctx, f.id(), 1, a, "x", nil, at, ev)
	socialtest.MustErr(t, "edit in a missing conversation", err, chat.ErrNotFound)

	edited, err := s.EditMessage(ctx, g.ID, 2, a, "second, fixed", []string{"media-b", "media-c"}, at, ev)
	if err != nil {
		t.Fatal(err)
	}
	f.expect(evID)
	want := sent
	want.Text, want.Media, want.EditedAt = "second, fixed", []string{"media-b", "media-c"}, at
	if err := sameMessage(edited, want); err != nil {
		t.Fatalf("edit returned %v", err)
	}
	read, err := s.GetMessage(ctx, g.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameMessage(read, want); err != nil {
		t.Fatalf("read back the edit: %v", err)
	}
	var d msgData
	if err := json.Unmarshal(f.outboxEvent(evID).Data, &d); err != nil || d.Seq != 2 || d.Text != "second, fixed" {
		t.Fatalf("the edit's event was built from %+v (%v)", d, err)
	}

	// A second edit replaces the whole text and media again: no media left.
	later := at.Add(time.Minute)
	ev, evID = f.msgEvent("message.edited", a)
	if edited, err = s.EditMessage(ctx, g.ID, 2, a, "third", nil, later, ev); err != nil {
		t.Fatal(err)
	}
	f.expect(evID)
	want.Text, want.Media, want.EditedAt = "third", nil, later
	if read, err = s.GetMessage(ctx, g.ID, 2); err != nil || sameMessage(read, want) != nil || sameMessage(edited, want) != nil {
		t.Fatalf("second edit: returned %+v, read %+v (%v)\nwant %+v", edited, read, err, want)
	}
	if read, err = s.GetMessage(ctx, g.ID, 1); err != nil || sameMessage(read, first) != nil {
		t.Fatalf("the other message changed: %+v %v", read, err)
	}
}

// deleteMessage: a delete for everyone keeps the seq with an empty row,
// happens once, and stops edits.
func deleteMessage(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	g := f.group(a, b)
	sent := f.sendNew(g.ID, a, "secret", "media-s")

	at := f.at.Add(time.Minute)
	ev := f.event("message.deleted", a)
	f.changed("delete", ev, true)(s.DeleteMessage(ctx, g.ID, 1, at, ev))
	ev = f.event("message.deleted", a)
	f.changed("delete again", ev, false)(s.DeleteMessage(ctx, g.ID, 1, at, ev))

	read, err := s.GetMessage(ctx, g.ID, 1)
	if err != nil || !read.Deleted || read.Text != "" || len(read.Media) != 0 ||
		read.Seq != 1 || read.ID != sent.ID || read.Sender != a || read.Conv != g.ID {
		t.Fatalf("the deleted message: %+v %v", read, err)
	}
	list, err := s.Messages(ctx, g.ID, 1, 10)
	if err != nil || len(list) != 1 || !list[0].Deleted || list[0].Text != "" || len(list[0].Media) != 0 {
		t.Fatalf("history shows %+v %v, want one placeholder", list, err)
	}

	edit, _ := f.msgEvent("message.edited", a) // never expected: a refused edit writes no event
	_, err = s.EditMessage(ctx, g.ID, 1, a, "back", []string{"media-s"}, at.Add(time.Minute), edit)
	socialtest.MustErr(t, "edit of a deleted message", err, chat.ErrDeleted)
	if read, err = s.GetMessage(ctx, g.ID, 1); err != nil || !read.Deleted || read.Text != "" || len(read.Media) != 0 {
		t.Fatalf("a refused edit brought back %+v %v", read, err)
	}

	_, err = s.DeleteMessage(ctx, g.ID, 99, at, f.event("message.deleted", a))
	socialtest.MustErr(t, "delete of a missing seq", err, chat.ErrNotFound)

	// The seq stays taken.
	if next := f.sendNew(g.ID, b, "after"); next.Seq != 2 {
		t.Fatalf("a send after the delete got seq %d, want 2", next.Seq)
	}
}

// hideMessage: deleting for one user hides the seq for them only.
func hideMessage(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	g := f.group(a, b)
	for range 3 {
		f.sendNew(g.ID, b, "m")
	}
	for _, c := range []struct {
		seq  int64
		want bool
	}{{2, true}, {2, false}, {3, true}} {
		ev := f.event("message.hidden", a)
		f.changed(fmt.Sprint("hide ", c.seq), ev, c.want)(s.HideMessage(ctx, g.ID, a, c.seq, ev))
	}
	for _, c := range []struct {
		user, from, to int64
		want           []int64
	}{
		{a, 1, 3, []int64{2, 3}},
		{a, 3, 10, []int64{3}},
		{a, 1, 1, nil},
		{b, 1, 3, nil},
	} {
		got, err := s.Hidden(ctx, g.ID, c.user, c.from, c.to)
		if err != nil {
			t.Fatal(err)
		}
		var hidden []int64
		for seq, h := range got {
			if h {
				hidden = append(hidden, seq)
			}
		}
		if slices.Sort(hidden); !slices.Equal(hidden, c.want) {
			t.Fatalf("hidden %d..%d for %d: %v, want %v", c.from, c.to, c.user, hidden, c.want)
		}
	}
	if m, err := s.GetMessage(ctx, g.ID, 2); err != nil || m.Deleted || m.Text != "m" {
		t.Fatalf("a hidden message changed for everyone: %+v %v", m, err)
	}
}

// pins: pin and unpin report changes; Pins lists in seq order.
func pins(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	g, other := f.group(a, b), f.group(a, b)
	for range 3 {
		f.sendNew(g.ID, a, "m")
	}
	p3 := chat.Pin{Seq: 3, By: a, PinnedAt: f.at.Add(time.Second)}
	p1 := chat.Pin{Seq: 1, By: b, PinnedAt: f.at.Add(2 * time.Second)}
	for _, c := range []struct {
		p    chat.Pin
		want bool
	}{{p3, true}, {p3, false}, {p1, true}} {
		ev := f.event("message.pinned", c.p.By)
		f.changed(fmt.Sprint("pin ", c.p.Seq), ev, c.want)(s.Pin(ctx, g.ID, c.p, ev))
	}
	check := func(conv int64, want ...chat.Pin) {
		t.Helper()
		got, err := s.Pins(ctx, conv)
		if err != nil || len(got) != len(want) {
			t.Fatalf("pins of %d: %+v %v, want %+v", conv, got, err, want)
		}
		for i := range got {
			if got[i].Seq != want[i].Seq || got[i].By != want[i].By || !got[i].PinnedAt.Equal(want[i].PinnedAt) {
				t.Fatalf("pins of %d: %+v, want %+v", conv, got, want)
			}
		}
	}
	check(g.ID, p1, p3)
	check(other.ID)
	ev := f.event("message.unpinned", a)
	f.changed("unpin 3", ev, true)(s.Unpin(ctx, g.ID, 3, ev))
	ev = f.event("message.unpinned", a)
	f.changed("unpin 3 again", ev, false)(s.Unpin(ctx, g.ID, 3, ev))
	check(g.ID, p1)
}

// pushedCursor: the cursor starts at 0 and only rises.
func pushedCursor(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	g, other := f.group(a, b), f.group(a, b)
	cursor := func(conv, want int64) {
		t.Helper()
		if got, err := s.PushedSeq(ctx, conv); err != nil || got != want {
			t.Fatalf("pushed seq of %d: %d %v, want %d", conv, got, err, want)
		}
	}
	raise := func(seq int64) {
		t.Helper()
		if err := s.RaisePushed(ctx, g.ID, seq); err != nil {
			t.Fatalf("raise to %d: %v", seq, err)
		}
	}
	cursor(g.ID, 0)
	raise(3)
	cursor(g.ID, 3)
	raise(2) // a slower deliverer's raise: no effect
	cursor(g.ID, 3)
	raise(5)
	raise(5)
	cursor(g.ID, 5)
	cursor(other.ID, 0)
}

// notFound: reads and writes of what does not exist.
func notFound(f *fixture) {
	t, s := f.t, f.s
	a, b := f.user(), f.user()
	g := f.group(a, b)
	missing := f.id()
	socialtest.MustErr(t, "get a missing conversation", errOf(s.GetConversation(ctx, missing)), chat.ErrNotFound)
	socialtest.MustErr(t, "get a message of a missing conversation", errOf(s.GetMessage(ctx, missing, 1)), chat.ErrNotFound)
	socialtest.MustErr(t, "get a message not sent yet", errOf(s.GetMessage(ctx, g.ID, 1)), chat.ErrNotFound)
	_, _, err := f.trySend(f.msg(missing, a, "into the void"))
	socialtest.MustErr(t, "send to a missing conversation", err, chat.ErrNotFound)
	_, err = s.DeleteMessage(ctx, missing, 1, f.at, f.event("message.deleted", a))
	socialtest.MustErr(t, "delete in a missing conversation", err, chat.ErrNotFound)
	if ms, err := s.Messages(ctx, missing, 1, 100); err != nil || len(ms) != 0 {
		t.Fatalf("messages of a missing conversation: %v %v", ms, err)
	}
	if ps, err := s.Pins(ctx, g.ID); err != nil || len(ps) != 0 {
		t.Fatalf("pins of a new group: %v %v", ps, err)
	}
	// The refused send wrote nothing: the group's first send is seq 1.
	if m := f.sendNew(g.ID, a, "first"); m.Seq != 1 {
		t.Fatalf("first send got seq %d", m.Seq)
	}
}
