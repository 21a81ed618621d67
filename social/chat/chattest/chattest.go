package chattest

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
	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
)

// Backend is a store under test and a way to read its outbox.
type Backend struct {
	Store chat.Store
	// Outbox returns every event in the store's outbox, in any order. The
	// database may be shared with other cases: the suite looks only at the
	// events it built.
	Outbox func(ctx context.Context) ([]events.Event, error)
}

// Opener returns the backend of one case: a fresh database, or one shared
// by all cases (every id is random per case).
type Opener = func(t *testing.T) Backend

// busyTries bounds how often a send answered with chat.ErrBusy is retried
// (busyWait apart): long enough for an in-flight original to finish.
const (
	busyTries = 400
	busyWait  = 5 * time.Millisecond
)

// Run runs the store-level cases, one after another, each on the backend
// open returns for it.
func Run(t *testing.T, open Opener) {
	// A random node keeps ids apart from those of other test processes
	// that share the database (and its outbox).
	gen := socialtest.IDs(t)
	cases := []struct {
		name string
		run  func(*fixture)
	}{
		{"direct: one conversation per pair", directOnce},
		{"direct: concurrent creations make one", directConcurrent},
		{"group: create, read, update, members and roles", groupBasics},
		{"group: an Idempotency-Key returns the first group", groupKey},
		{"add members: exact cap, idempotent re-add", addMembersCap},
		{"remove member and set role report changes", removeAndRole},
		{"marks only rise", marksRise},
		{"user conversations in id order", userConversations},
		{"send: seqs 1, 2, 3, tail and sender's marks", sendBasics},
		{"send: a retry returns the stored message", sendRetry},
		{"send: concurrent senders get 1..n without gaps", sendConcurrent},
		{"messages: range reads", messageRanges},
		{"media used", mediaUsed},
		{"edit: sender only, whole row", editMessage},
		{"delete for everyone", deleteMessage},
		{"hide for me", hideMessage},
		{"pins", pins},
		{"pushed cursor compare-and-set", pushedCursor},
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

// fixture makes ids, conversations and events for one case, and keeps
// which events the case built and which of them the outbox must hold.
type fixture struct {
	t   *testing.T
	b   Backend
	s   chat.Store
	ids *ids.Generator
	at  time.Time // the case's clock: every time is at plus something, in whole milliseconds

	led *socialtest.Ledger // the events the case built and expects

	mu    sync.Mutex // guards nextC
	nextC int        // numbers client message ids
}

var ctx = context.Background()

func (f *fixture) id() int64 { return f.ids.Next() }

// user is a new user id: users live in the users service, the chat store
// knows only their ids.
func (f *fixture) user() int64 { return f.id() }

// event builds an event the case may hand to a write.
func (f *fixture) event(kind string, actor int64) events.Event {
	e := events.Event{ID: f.id(), Kind: kind, Actor: actor, Data: json.RawMessage(`{}`), At: f.at}
	f.led.Made(e.ID)
	return e
}

// expect records that the outbox must hold the event id.
func (f *fixture) expect(id int64) { f.led.Expect(id) }

// changed checks a write's changed flag and expects its event when set.
func (f *fixture) changed(what string, ev events.Event, want bool) func(bool, error) {
	return func(got bool, err error) {
		f.t.Helper()
		if err != nil || got != want {
			f.t.Fatalf("%s: changed %v, %v; want changed %v", what, got, err, want)
		}
		if got {
			f.expect(ev.ID)
		}
	}
}

// msgData is the payload the suite's message events carry: what the store
// handed to the EventFunc.
type msgData struct {
	Seq  int64  `json:"seq"`
	Text string `json:"text"`
}

// msgEvent is an EventFunc whose event has a known id and records the
// message it was built from in its payload.
func (f *fixture) msgEvent(kind string, actor int64) (chat.EventFunc, int64) {
	e := f.event(kind, actor)
	return func(m chat.Message) (events.Event, error) {
		data, err := json.Marshal(msgData{Seq: m.Seq, Text: m.Text})
		if err != nil {
			return events.Event{}, err
		}
		e := e
		e.Data = data
		return e, nil
	}, e.ID
}

// clientID is a client message id unique in the case.
func (f *fixture) clientID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextC++
	return fmt.Sprintf("cm-%d", f.nextC)
}

// msg is a new message from sender in conv with a fresh client id.
func (f *fixture) msg(conv, sender int64, text string, media ...string) chat.Message {
	return chat.Message{Conv: conv, ID: f.id(), Sender: sender, ClientMsgID: f.clientID(), Text: text, Media: media, SentAt: f.at}
}

// trySend sends m, retrying while the store answers ErrBusy, and expects
// the event when the send created the message. Safe from any goroutine.
func (f *fixture) trySend(m chat.Message) (chat.Message, bool, error) {
	ev, evID := f.msgEvent("message.sent", m.Sender)
	for try := 1; ; try++ {
		got, created, err := f.s.Send(ctx, m, ev)
		if errors.Is(err, chat.ErrBusy) && try < busyTries {
			time.Sleep(busyWait)
			continue
		}
		if err == nil && created {
			f.expect(evID)
		}
		return got, created, err
	}
}

// send is trySend that ends the case on an error.
func (f *fixture) send(m chat.Message) (chat.Message, bool) {
	f.t.Helper()
	got, created, err := f.trySend(m)
	if err != nil {
		f.t.Fatalf("send %q to %d by %d: %v", m.ClientMsgID, m.Conv, m.Sender, err)
	}
	return got, created
}

// sendNew sends a new message and checks it was created.
func (f *fixture) sendNew(conv, sender int64, text string, media ...string) chat.Message {
	f.t.Helper()
	got, created := f.send(f.msg(conv, sender, text, media...))
	if !created {
		f.t.Fatalf("send %q to %d: not created", text, conv)
	}
	return got
}

// group creates a group of creator (admin) and members.
func (f *fixture) group(creator int64, members ...int64) chat.Conversation {
	f.t.Helper()
	c := chat.Conversation{ID: f.id(), Kind: chat.Group, Title: "group", CreatedBy: creator, CreatedAt: f.at, LastAt: f.at}
	ms := []chat.Member{{User: creator, Role: chat.RoleAdmin, JoinedAt: f.at}}
	for _, u := range members {
		ms = append(ms, chat.Member{User: u, Role: chat.RoleMember, JoinedAt: f.at})
	}
	for i := range ms {
		ms[i].Conv = c.ID
	}
	ev := f.event("conversation.created", creator)
	if _, created, err := f.s.CreateGroup(ctx, c, ms, "", ev); err != nil || !created {
		f.t.Fatalf("create group: created %v, %v", created, err)
	}
	f.expect(ev.ID)
	return c
}

// direct creates the direct conversation of a and b.
func (f *fixture) direct(a, b int64) chat.Conversation {
	f.t.Helper()
	c := chat.Conversation{ID: f.id(), Kind: chat.Direct, CreatedBy: a, CreatedAt: f.at, LastAt: f.at}
	ev := f.event("conversation.created", a)
	got, created, err := f.s.CreateDirect(ctx, c, a, b, ev)
	if err != nil || !created {
		f.t.Fatalf("create direct: created %v, %v", created, err)
	}
	f.expect(ev.ID)
	return got
}

// outbox returns the outbox's events the case built, in id order.
func (f *fixture) outbox() []events.Event {
	f.t.Helper()
	return f.led.Outbox(f.t, f.b.Outbox)
}

// outboxEvent returns the outbox's event of id.
func (f *fixture) outboxEvent(id int64) events.Event {
	f.t.Helper()
	for _, e := range f.outbox() {
		if e.ID == id {
			return e
		}
	}
	f.t.Fatalf("event %d is not in the outbox", id)
	return events.Event{}
}

// member reads a membership or ends the case.
func (f *fixture) member(conv, user int64) chat.Member {
	f.t.Helper()
	m, err := f.s.GetMember(ctx, conv, user)
	if err != nil {
		f.t.Fatalf("member %d of %d: %v", user, conv, err)
	}
	return m
}

// memberIDs lists a conversation's member ids (all of them).
func (f *fixture) memberIDs(conv int64) []int64 {
	f.t.Helper()
	ms, err := f.s.ListMembers(ctx, conv, 0, 0)
	if err != nil {
		f.t.Fatalf("list members of %d: %v", conv, err)
	}
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.User
	}
	return out
}

// conv reads a conversation or ends the case.
func (f *fixture) conv(id int64) chat.Conversation {
	f.t.Helper()
	c, err := f.s.GetConversation(ctx, id)
	if err != nil {
		f.t.Fatalf("get conversation %d: %v", id, err)
	}
	return c
}

// sorted returns ids in increasing order (a copy).
func sorted(ids ...int64) []int64 { return slices.Sorted(slices.Values(ids)) }
