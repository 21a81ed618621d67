package pebblestore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/chat/chattest"
	"github.com/mediaedge/mediaedge/social/chat/pebblestore"
	"github.com/mediaedge/mediaedge/social/events"
)

// backend wraps an open database as a chattest.Backend.
func backend(t *testing.T, db *pebble.DB) chattest.Backend {
	return chattest.Backend{Store: pebblestore.New(db, pebblestore.DefaultConfig()), Outbox: socialtest.PebbleOutbox(t, db)}
}

// open gives each case a fresh database in a temp folder.
func open(t *testing.T) chattest.Backend { return backend(t, socialtest.Pebble(t)) }

func TestConformance(t *testing.T) { chattest.Run(t, open) }

// TestRestart: messages, the sequence and the client id index are on disk,
// not in the process: after a close and reopen, a retry still finds its
// message and the next send continues the sequence.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	const conv, alice, bob = 100, 1, 2
	ev := func(id int64) chat.EventFunc {
		return func(m chat.Message) (events.Event, error) {
			return events.Event{ID: id, Kind: "message.sent", Actor: m.Sender, Data: json.RawMessage(fmt.Sprintf(`{"seq":%d}`, m.Seq)), At: at}, nil
		}
	}
	msg := func(id int64, cid string) chat.Message {
		return chat.Message{Conv: conv, ID: id, Sender: alice, ClientMsgID: cid, Text: "text " + cid, SentAt: at}
	}

	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := pebblestore.New(db, pebblestore.DefaultConfig())
	c := chat.Conversation{ID: conv, Kind: chat.Group, Title: "g", CreatedBy: alice, CreatedAt: at}
	ms := []chat.Member{{Conv: conv, User: alice, Role: chat.RoleAdmin, JoinedAt: at}, {Conv: conv, User: bob, Role: chat.RoleMember, JoinedAt: at}}
	if _, _, err := s.CreateGroup(ctx, c, ms, "", events.Event{ID: 1, Kind: "conversation.created", Actor: alice, At: at}); err != nil {
		t.Fatal(err)
	}
	for i, cid := range []string{"c1", "c2", "c3"} {
		if m, created, err := s.Send(ctx, msg(int64(1000+i), cid), ev(int64(10+i))); err != nil || !created || m.Seq != int64(i+1) {
			t.Fatalf("send %s: seq %d created %v, %v", cid, m.Seq, created, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := backend(t, db)
	s = b.Store.(*pebblestore.Store)

	got, err := s.Messages(ctx, conv, 1, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("messages after the restart: %+v %v", got, err)
	}
	for i, m := range got {
		if m.Seq != int64(i+1) || m.ID != int64(1000+i) || m.Text != "text c"+fmt.Sprint(i+1) {
			t.Fatalf("message %d after the restart: %+v", i, m)
		}
	}
	retry, created, err := s.Send(ctx, msg(2000, "c2"), ev(20))
	if err != nil || created || retry.Seq != 2 || retry.ID != 1001 {
		t.Fatalf("retry after the restart: %+v created %v, %v", retry, created, err)
	}
	next, created, err := s.Send(ctx, msg(2001, "c4"), ev(21))
	if err != nil || !created || next.Seq != 4 {
		t.Fatalf("send after the restart: %+v created %v, %v", next, created, err)
	}
	if cv, err := s.GetConversation(ctx, conv); err != nil || cv.LastSeq != 4 || cv.LastPreview != "text c4" {
		t.Fatalf("tail after the restart: %+v %v", cv, err)
	}
	if m, err := s.GetMember(ctx, conv, alice); err != nil || m.ReadSeq != 4 || m.DeliveredSeq != 4 {
		t.Fatalf("sender's marks after the restart: %+v %v", m, err)
	}
	evs, err := b.Outbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var evIDs []int64
	for _, e := range evs {
		evIDs = append(evIDs, e.ID)
	}
	if want := []int64{1, 10, 11, 12, 21}; !slices.Equal(evIDs, want) {
		t.Fatalf("outbox holds %v, want %v (no event for the retry)", evIDs, want)
	}
}

// TestGroupKeysSwept: a group create's Idempotency-Key past the TTL is
// deleted by SweepIdempotency; a live one stays and still replays.
func TestGroupKeysSwept(t *testing.T) {
	db := socialtest.Pebble(t)
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := pebblestore.DefaultConfig()
	cfg.Now = func() time.Time { return now }
	s := pebblestore.New(db, cfg)
	ctx := context.Background()
	const alice = 5
	create := func(id int64, key string) (chat.Conversation, bool) {
		c := chat.Conversation{ID: id, Kind: chat.Group, Title: "g", CreatedBy: alice, CreatedAt: now}
		ms := []chat.Member{{Conv: id, User: alice, Role: chat.RoleAdmin, JoinedAt: now}}
		got, created, err := s.CreateGroup(ctx, c, ms, key, events.Event{ID: id, Kind: "conversation.created", Actor: alice, At: now})
		if err != nil {
			t.Fatal(err)
		}
		return got, created
	}
	create(1, "old")
	now = now.Add(20 * time.Hour)
	create(2, "new")
	if n, err := s.SweepIdempotency(ctx, now); err != nil || n != 0 {
		t.Fatalf("sweep within the TTL: deleted %d, %v", n, err)
	}
	now = now.Add(5 * time.Hour)
	if n, err := s.SweepIdempotency(ctx, now); err != nil || n != 1 {
		t.Fatalf("sweep after the TTL: deleted %d, %v; want the old key", n, err)
	}
	if c, created := create(3, "new"); created || c.ID != 2 {
		t.Fatalf("the live key after the sweep: group %d created %v; want group 2 replayed", c.ID, created)
	}
	if n, err := s.SweepIdempotency(ctx, now); err != nil || n != 0 {
		t.Fatalf("second sweep: deleted %d, %v", n, err)
	}
}
