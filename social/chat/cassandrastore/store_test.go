package cassandrastore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/chat/cassandrastore"
	"github.com/mediaedge/mediaedge/social/chat/chattest"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
)

// TestCassandra is the one entry point that needs a node: one fresh
// keyspace with the whole schema (schema.Apply, through cassandratest, so
// 0006_social_chat.cql is applied as production applies it), shared by
// every case (ids are random). Without a node it skips, or fails under
// CI=true.
func TestCassandra(t *testing.T) {
	s, ks := socialtest.Cassandra(t)
	socialtest.RequireMigration(t, ks.Name, 6, "social_chat")
	socialtest.RequireTables(t, s, ks.Name, "outbox", "chat_conversations", "chat_tails", "chat_members", "chat_marks", "chat_user_convs",
		"chat_direct", "chat_messages", "chat_sends", "chat_sends_done", "chat_media", "chat_hidden", "chat_pins", "chat_pushed")

	store, err := cassandrastore.New(s, cassandrastore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, s: s, store: store, ids: socialtest.IDs(t)}
	t.Run("conformance", func(t *testing.T) {
		chattest.Run(t, func(*testing.T) chattest.Backend {
			return chattest.Backend{Store: store, Outbox: socialtest.CassandraOutbox(s)}
		})
	})
	t.Run("two edges send into one conversation", func(t *testing.T) { e.with(t).testTwoEdges(ks) })
	t.Run("a dead attempt's claimed message is finalized, not sent twice", func(t *testing.T) { e.with(t).testDeadClaimed() })
	t.Run("a dead attempt that claimed nothing is taken over", func(t *testing.T) { e.with(t).testDeadUnclaimed() })
	t.Run("an attempt taken over while it claimed blanks its copy", func(t *testing.T) { e.with(t).testTakenOver() })
	t.Run("sends without a client id", func(t *testing.T) { e.with(t).testNoClientID() })
	t.Run("claims and recovery across a bucket boundary", func(t *testing.T) { e.with(t).testBuckets() })
	t.Run("an edit racing a delete never resurrects the row", func(t *testing.T) { e.with(t).testEditDeleteRace() })
	t.Run("an attempt in flight answers busy", func(t *testing.T) { e.with(t).testInFlight() })
	t.Run("a recorded seq without its batch is finished with the same event", func(t *testing.T) { e.with(t).testUnfinalized() })
	t.Run("the tail and marks never go down", func(t *testing.T) { e.with(t).testNeverLower() })
	t.Run("a stale direct claim is taken over", func(t *testing.T) { e.with(t).testStaleDirect() })
	t.Run("a stale group key claim is taken over", func(t *testing.T) { e.with(t).testStaleGroupKey() })
	t.Run("a group larger than a batch", func(t *testing.T) { e.with(t).testBigGroup() })
	t.Run("config", testConfig)
}

// env is what the Cassandra-specific cases share.
type env struct {
	t     *testing.T
	s     *gocql.Session
	store *cassandrastore.Store
	ids   *ids.Generator
}

func (e *env) with(t *testing.T) *env { c := *e; c.t = t; return &c }

var ctx = context.Background()

// group makes a group of the given users (the first is admin).
func (e *env) group(users ...int64) int64 {
	e.t.Helper()
	at := time.Now().UTC().Truncate(time.Millisecond)
	c := chat.Conversation{ID: e.ids.Next(), Kind: chat.Group, Title: "g", CreatedBy: users[0], CreatedAt: at}
	var ms []chat.Member
	for i, u := range users {
		role := chat.RoleMember
		if i == 0 {
			role = chat.RoleAdmin
		}
		ms = append(ms, chat.Member{Conv: c.ID, User: u, Role: role, JoinedAt: at})
	}
	if _, _, err := e.store.CreateGroup(ctx, c, ms, "", e.event("conversation.created")); err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

func (e *env) event(kind string) events.Event {
	return events.Event{ID: e.ids.Next(), Kind: kind, Data: json.RawMessage(`{}`), At: time.Now().UTC()}
}

// msgEvent is an EventFunc whose event carries the seq; id is its id.
func (e *env) msgEvent() (ev chat.EventFunc, id int64) {
	id = e.ids.Next()
	return func(m chat.Message) (events.Event, error) {
		return events.Event{ID: id, Kind: "message.sent", Actor: m.Sender, Data: json.RawMessage(fmt.Sprintf(`{"seq":%d}`, m.Seq)), At: m.SentAt}, nil
	}, id
}

func (e *env) msg(conv, sender int64, client, text string) chat.Message {
	return chat.Message{Conv: conv, ID: e.ids.Next(), Sender: sender, ClientMsgID: client, Text: text, SentAt: time.Now().UTC().Truncate(time.Millisecond)}
}

// eventCount counts the outbox's events with id.
func (e *env) eventCount(id int64) int {
	e.t.Helper()
	all := socialtest.ReadOutbox(e.t, socialtest.CassandraOutbox(e.s))
	n := 0
	for _, ev := range all {
		if ev.ID == id {
			n++
		}
	}
	return n
}

// wantSeqs checks conv holds exactly seqs 1..n, each message once.
func (e *env) wantSeqs(conv int64, n int) []chat.Message {
	e.t.Helper()
	got, err := e.store.Messages(ctx, conv, 0, 1<<62)
	if err != nil {
		e.t.Fatal(err)
	}
	ids := map[int64]bool{}
	for i, m := range got {
		if m.Seq != int64(i+1) {
			e.t.Fatalf("message %d has seq %d: a gap or a duplicate", i, m.Seq)
		}
		if ids[m.ID] {
			e.t.Fatalf("message id %d twice", m.ID)
		}
		ids[m.ID] = true
	}
	if len(got) != n {
		e.t.Fatalf("%d messages, want %d", len(got), n)
	}
	c, err := e.store.GetConversation(ctx, conv)
	if err != nil || c.LastSeq != int64(n) {
		e.t.Fatalf("tail %d %v, want %d", c.LastSeq, err, n)
	}
	return got
}

// sendRetrying sends, retrying chat.ErrBusy.
func (e *env) sendRetrying(store chat.Store, m chat.Message, ev chat.EventFunc) (chat.Message, bool, error) {
	for try := 0; ; try++ {
		got, created, err := store.Send(ctx, m, ev)
		if !errors.Is(err, chat.ErrBusy) || try == 200 {
			return got, created, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testTwoEdges: two independent sessions (two edges), several senders on
// each, send into one conversation at once, each message also retried
// once: seqs are 1..N with no gap, no duplicate, and one event each.
func (e *env) testTwoEdges(ks socialtest.Keyspace) {
	const perEdge, senders, each = 2, 4, 6
	a, b := e.ids.Next(), e.ids.Next()
	conv := e.group(a, b)
	var stores []chat.Store
	for range perEdge {
		st, err := cassandrastore.New(ks.Session(e.t), cassandrastore.DefaultConfig())
		if err != nil {
			e.t.Fatal(err)
		}
		stores = append(stores, st)
	}
	var mu sync.Mutex // guards evIDs
	var evIDs []int64
	var wg sync.WaitGroup
	errs := make(chan error, perEdge*senders*each)
	for i, st := range stores {
		for j := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range each {
					m := e.msg(conv, []int64{a, b}[j%2], fmt.Sprintf("edge%d-s%d-m%d", i, j, k), "hi")
					ev, id := e.msgEvent()
					got, created, err := e.sendRetrying(st, m, ev)
					if err != nil || !created {
						errs <- fmt.Errorf("send %s: created %v, %w", m.ClientMsgID, created, err)
						continue
					}
					// The retry of a send that finished: same message.
					again, created, err := e.sendRetrying(stores[(i+1)%len(stores)], m, ev)
					if err != nil || created || again.Seq != got.Seq || again.ID != got.ID {
						errs <- fmt.Errorf("retry of %s: %+v created %v, %v; first %+v", m.ClientMsgID, again, created, err, got)
					}
					mu.Lock()
					evIDs = append(evIDs, id)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Error(err)
	}
	if e.t.Failed() {
		return
	}
	e.wantSeqs(conv, perEdge*senders*each)
	for _, id := range evIDs {
		if n := e.eventCount(id); n != 1 {
			e.t.Fatalf("event %d in the outbox %d times", id, n)
		}
	}
}

// deadAttempt writes what an attempt leaves when it dies: its pending
// chat_sends row, past its deadline, recording hint.
func (e *env) deadAttempt(conv, sender int64, client string, msgID, hint int64, deadline time.Time) {
	e.t.Helper()
	_, err := e.s.Query(`INSERT INTO chat_sends (conv_id, sender, client_msg_id, msg_id, attempt, hint, deadline, seq, event)
		VALUES (?, ?, ?, ?, 12345, ?, ?, 0, 0x) IF NOT EXISTS USING TTL 86400`, conv, sender, client, msgID, hint, deadline).MapScanCAS(map[string]any{})
	if err != nil {
		e.t.Fatal(err)
	}
}

// testDeadClaimed: an attempt claimed seq 3 and died before recording it
// or writing its batch. The retry (after the deadline) must find that
// message and finalize it: no second message, the tail raised, one event.
func (e *env) testDeadClaimed() {
	a, b := e.ids.Next(), e.ids.Next()
	conv := e.group(a, b)
	for i := range 2 {
		ev, _ := e.msgEvent()
		if _, _, err := e.store.Send(ctx, e.msg(conv, b, fmt.Sprint("pre", i), "before"), ev); err != nil {
			e.t.Fatal(err)
		}
	}
	dead := e.msg(conv, a, "c-dead", "lost in a crash")
	e.deadAttempt(conv, a, dead.ClientMsgID, dead.ID, 2, time.Now().Add(-time.Second))
	_, err := e.s.Query(`INSERT INTO chat_messages (conv_id, bucket, seq, msg_id, sender, client_msg_id, text, media, reply_to, sent_at, edited_at, deleted, deleted_at)
		VALUES (?, 0, 3, ?, ?, ?, ?, [], 0, ?, 0, false, 0) IF NOT EXISTS`, conv, dead.ID, a, dead.ClientMsgID, dead.Text, dead.SentAt).MapScanCAS(map[string]any{})
	if err != nil {
		e.t.Fatal(err)
	}
	retry := dead
	retry.ID = e.ids.Next()
	ev, evID := e.msgEvent()
	got, created, err := e.store.Send(ctx, retry, ev)
	if err != nil || !created || got.Seq != 3 || got.ID != dead.ID || got.Text != dead.Text {
		e.t.Fatalf("retry of a dead claimed send: %+v created %v, %v", got, created, err)
	}
	again, created, err := e.store.Send(ctx, retry, ev)
	if err != nil || created || again.Seq != 3 {
		e.t.Fatalf("second retry: %+v created %v, %v", again, created, err)
	}
	e.wantSeqs(conv, 3)
	if n := e.eventCount(evID); n != 1 {
		e.t.Fatalf("the finalized message's event is in the outbox %d times", n)
	}
	if m, err := e.store.GetMember(ctx, conv, a); err != nil || m.ReadSeq != 3 || m.DeliveredSeq != 3 {
		e.t.Fatalf("sender's marks after the finalize: %+v %v", m, err)
	}
	// The next message goes after it.
	ev, _ = e.msgEvent()
	if next, _, err := e.store.Send(ctx, e.msg(conv, b, "after", "next"), ev); err != nil || next.Seq != 4 {
		e.t.Fatalf("next send: %+v %v", next, err)
	}
}

// testDeadUnclaimed: an attempt died before claiming: the retry takes the
// row over and sends once.
func (e *env) testDeadUnclaimed() {
	a := e.ids.Next()
	conv := e.group(a)
	m := e.msg(conv, a, "c-unclaimed", "never claimed")
	e.deadAttempt(conv, a, m.ClientMsgID, e.ids.Next(), 0, time.Now().Add(-time.Second))
	ev, evID := e.msgEvent()
	got, created, err := e.store.Send(ctx, m, ev)
	if err != nil || !created || got.Seq != 1 || got.ID != m.ID {
		e.t.Fatalf("retry of a dead unclaimed send: %+v created %v, %v", got, created, err)
	}
	if _, created, err := e.store.Send(ctx, m, ev); err != nil || created {
		e.t.Fatalf("second retry: created %v, %v", created, err)
	}
	e.wantSeqs(conv, 1)
	if n := e.eventCount(evID); n != 1 {
		e.t.Fatalf("event in the outbox %d times", n)
	}
}

// testTakenOver: an attempt whose claim landed after a retry had read the
// history and taken the send over (the timing the margin rules out) fails
// to record its seq, and blanks its message so that no second copy shows;
// the seq stays, and the retry's message follows it.
func (e *env) testTakenOver() {
	a := e.ids.Next()
	conv := e.group(a)
	m := e.msg(conv, a, "c-late", "a late claim")
	// The row as the retry left it: attempt 2 owns it now.
	_, err := e.s.Query(`INSERT INTO chat_sends (conv_id, sender, client_msg_id, msg_id, attempt, hint, deadline, seq, event)
		VALUES (?, ?, ?, ?, 2, 0, ?, 0, 0x) IF NOT EXISTS USING TTL 86400`, conv, a, m.ClientMsgID, e.ids.Next(), time.Now().Add(time.Minute)).MapScanCAS(map[string]any{})
	if err != nil {
		e.t.Fatal(err)
	}
	ev, evID := e.msgEvent()
	if _, _, err := e.store.OwnForTest(ctx, m, 1, 0, time.Now().Add(time.Minute), ev); !errors.Is(err, chat.ErrBusy) {
		e.t.Fatalf("the late attempt: %v, want ErrBusy", err)
	}
	got, err := e.store.GetMessage(ctx, conv, 1)
	if err != nil || !got.Deleted || got.Text != "" || got.ID != m.ID {
		e.t.Fatalf("the late copy: %+v %v, want it blanked", got, err)
	}
	if n := e.eventCount(evID); n != 0 {
		e.t.Fatal("the late copy's event was written")
	}
}

// testNoClientID: without a client id every send is a new message.
func (e *env) testNoClientID() {
	a := e.ids.Next()
	conv := e.group(a)
	for i := range 2 {
		ev, evID := e.msgEvent()
		got, created, err := e.store.Send(ctx, e.msg(conv, a, "", "anonymous"), ev)
		if err != nil || !created || got.Seq != int64(i+1) {
			e.t.Fatalf("send %d: %+v %v %v", i, got, created, err)
		}
		if n := e.eventCount(evID); n != 1 {
			e.t.Fatalf("event %d times", n)
		}
	}
	e.wantSeqs(conv, 2)
}

// testBuckets: a history around the end of the first bucket (seqs
// 990..1003 written directly, the tail lagging at 990). A send steps past
// a few misses, then reads the true end across the full bucket; a dead
// attempt's message in the second bucket is found from its hint in the
// first; a range read crosses the boundary.
func (e *env) testBuckets() {
	a := e.ids.Next()
	conv := e.group(a)
	dead := e.msg(conv, a, "c-dead-bucket", "in bucket 1")
	at := time.Now().UTC().Truncate(time.Millisecond)
	for seq := int64(990); seq <= 1003; seq++ {
		id, client := e.ids.Next(), fmt.Sprint("seed", seq)
		if seq == 1002 {
			id, client = dead.ID, dead.ClientMsgID
		}
		_, err := e.s.Query(`INSERT INTO chat_messages (conv_id, bucket, seq, msg_id, sender, client_msg_id, text, media, reply_to, sent_at, edited_at, deleted, deleted_at)
			VALUES (?, ?, ?, ?, ?, ?, 'seed', [], 0, ?, 0, false, 0) IF NOT EXISTS`, conv, seq/cassandrastore.BucketSize, seq, id, a, client, at).MapScanCAS(map[string]any{})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.s.Query(`UPDATE chat_tails USING TIMESTAMP 990 SET last_seq = 990, last_at = ?, last_sender = ?, last_preview = 'seed' WHERE conv_id = ?`, at, a, conv).Exec(); err != nil {
		e.t.Fatal(err)
	}
	got, err := e.store.Messages(ctx, conv, 995, 1<<62)
	if err != nil || len(got) != 9 || got[0].Seq != 995 || got[8].Seq != 1003 {
		e.t.Fatalf("range across the boundary: %d messages %v", len(got), err)
	}
	ev, _ := e.msgEvent()
	next, created, err := e.store.Send(ctx, e.msg(conv, a, "c-next", "after the seeds"), ev)
	if err != nil || !created || next.Seq != 1004 {
		e.t.Fatalf("send after a lagging tail: %+v %v %v", next, created, err)
	}
	e.deadAttempt(conv, a, dead.ClientMsgID, dead.ID, 995, time.Now().Add(-time.Second))
	retry := dead
	retry.ID = e.ids.Next()
	ev, _ = e.msgEvent()
	found, created, err := e.store.Send(ctx, retry, ev)
	if err != nil || !created || found.Seq != 1002 || found.ID != dead.ID {
		e.t.Fatalf("retry of the dead attempt: %+v %v %v", found, created, err)
	}
	if c, err := e.store.GetConversation(ctx, conv); err != nil || c.LastSeq != 1004 {
		e.t.Fatalf("tail %d %v, want 1004 (a late finalize of 1002 must not lower it)", c.LastSeq, err)
	}
}

// testEditDeleteRace: edits and a delete of one message at once: the row
// ends deleted with no text and no media, whatever order they landed in,
// and each edit either applied or answered ErrDeleted.
func (e *env) testEditDeleteRace() {
	a := e.ids.Next()
	conv := e.group(a)
	for round := range 5 {
		ev, _ := e.msgEvent()
		m, _, err := e.store.Send(ctx, e.msg(conv, a, fmt.Sprint("race", round), "original"), ev)
		if err != nil {
			e.t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				edit, _ := e.msgEvent()
				_, err := e.store.EditMessage(ctx, conv, m.Seq, a, fmt.Sprint("edit ", i), []string{"media1"}, time.Now(), edit)
				if err != nil && !errors.Is(err, chat.ErrDeleted) {
					e.t.Errorf("edit: %v", err)
				}
			}()
		}
		if _, err := e.store.DeleteMessage(ctx, conv, m.Seq, time.Now(), e.event("message.deleted")); err != nil {
			e.t.Fatal(err)
		}
		wg.Wait()
		got, err := e.store.GetMessage(ctx, conv, m.Seq)
		if err != nil || !got.Deleted || got.Text != "" || len(got.Media) != 0 {
			e.t.Fatalf("after the race: %+v %v", got, err)
		}
	}
}

// testInFlight: a pending row before its deadline answers ErrBusy and
// writes nothing.
func (e *env) testInFlight() {
	a := e.ids.Next()
	conv := e.group(a)
	m := e.msg(conv, a, "c-busy", "in flight")
	e.deadAttempt(conv, a, m.ClientMsgID, e.ids.Next(), 0, time.Now().Add(time.Minute))
	ev, _ := e.msgEvent()
	if _, _, err := e.store.Send(ctx, m, ev); !errors.Is(err, chat.ErrBusy) {
		e.t.Fatalf("send while an attempt is in flight: %v, want ErrBusy", err)
	}
	e.wantSeqs(conv, 0)
}

// testUnfinalized: an attempt recorded its seq and event, then died before
// its batch. A retry writes the batch with the stored event (its id, not
// the retry's) and answers created=false; a later retry writes nothing.
func (e *env) testUnfinalized() {
	a := e.ids.Next()
	conv := e.group(a)
	m := e.msg(conv, a, "c-unfinalized", "claimed and recorded")
	_, err := e.s.Query(`INSERT INTO chat_messages (conv_id, bucket, seq, msg_id, sender, client_msg_id, text, media, reply_to, sent_at, edited_at, deleted, deleted_at)
		VALUES (?, 0, 1, ?, ?, ?, ?, [], 0, ?, 0, false, 0) IF NOT EXISTS`, conv, m.ID, a, m.ClientMsgID, m.Text, m.SentAt).MapScanCAS(map[string]any{})
	if err != nil {
		e.t.Fatal(err)
	}
	stored := events.Event{ID: e.ids.Next(), Kind: "message.sent", Actor: a, At: m.SentAt}
	blob, err := events.Encode(stored)
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = e.s.Query(`INSERT INTO chat_sends (conv_id, sender, client_msg_id, msg_id, attempt, hint, deadline, seq, event)
		VALUES (?, ?, ?, ?, 7, 0, ?, 1, ?) IF NOT EXISTS USING TTL 86400`, conv, a, m.ClientMsgID, m.ID, time.Now(), blob).MapScanCAS(map[string]any{})
	if err != nil {
		e.t.Fatal(err)
	}
	for range 2 {
		ev, evID := e.msgEvent()
		got, created, err := e.store.Send(ctx, m, ev)
		if err != nil || created || got.Seq != 1 || got.ID != m.ID {
			e.t.Fatalf("retry: %+v created %v, %v", got, created, err)
		}
		if n := e.eventCount(evID); n != 0 {
			e.t.Fatalf("the retry wrote its own event")
		}
	}
	if n := e.eventCount(stored.ID); n != 1 {
		e.t.Fatalf("the stored event is in the outbox %d times", n)
	}
	e.wantSeqs(conv, 1)
}

// testNeverLower: a finalize of an older seq landing after a newer one
// (USING TIMESTAMP its seq) leaves the tail and the marks where they are.
func (e *env) testNeverLower() {
	a := e.ids.Next()
	conv := e.group(a)
	for i := range 3 {
		ev, _ := e.msgEvent()
		if _, _, err := e.store.Send(ctx, e.msg(conv, a, fmt.Sprint("n", i), fmt.Sprint("text ", i)), ev); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.s.Query(`UPDATE chat_tails USING TIMESTAMP 1 SET last_seq = 1, last_at = ?, last_sender = ?, last_preview = 'old' WHERE conv_id = ?`, time.Now(), a, conv).Exec(); err != nil {
		e.t.Fatal(err)
	}
	c, err := e.store.GetConversation(ctx, conv)
	if err != nil || c.LastSeq != 3 || c.LastPreview != "text 2" {
		e.t.Fatalf("tail after a late old finalize: %+v %v", c, err)
	}
	if changed, err := e.store.SetMark(ctx, conv, a, chat.MarkRead, 2, e.event("read")); err != nil || changed {
		e.t.Fatalf("lowering a mark: changed %v, %v", changed, err)
	}
	if m, err := e.store.GetMember(ctx, conv, a); err != nil || m.ReadSeq != 3 {
		e.t.Fatalf("marks: %+v %v", m, err)
	}
}

// testStaleDirect: a pair claimed by a create that died (no conversation
// row) blocks the pair while it may be in flight, then is taken over.
func (e *env) testStaleDirect() {
	a, b := e.ids.Next(), e.ids.Next()
	lo, hi := min(a, b), max(a, b)
	claim := func(age time.Duration) {
		if err := e.s.Query(`UPDATE chat_direct SET conv_id = ?, claimed_at = ? WHERE lo = ? AND hi = ? IF EXISTS`, e.ids.Next(), time.Now().Add(-age), lo, hi).Exec(); err != nil {
			e.t.Fatal(err)
		}
	}
	if _, err := e.s.Query(`INSERT INTO chat_direct (lo, hi, conv_id, claimed_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`, lo, hi, e.ids.Next(), time.Now()).MapScanCAS(map[string]any{}); err != nil {
		e.t.Fatal(err)
	}
	cfg := cassandrastore.DefaultConfig()
	cfg.ReplayWait = 200 * time.Millisecond
	store, err := cassandrastore.New(e.s, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	c := chat.Conversation{ID: e.ids.Next(), Kind: chat.Direct, CreatedBy: a, CreatedAt: at}
	if _, _, err := store.CreateDirect(ctx, c, a, b, e.event("conversation.created")); !errors.Is(err, chat.ErrBusy) {
		e.t.Fatalf("create over a claim in flight: %v, want ErrBusy", err)
	}
	claim(2 * cfg.ClaimGrace)
	got, created, err := store.CreateDirect(ctx, c, a, b, e.event("conversation.created"))
	if err != nil || !created || got.ID != c.ID {
		e.t.Fatalf("create over a stale claim: %+v %v %v", got, created, err)
	}
	again, created, err := store.CreateDirect(ctx, chat.Conversation{ID: e.ids.Next(), Kind: chat.Direct, CreatedAt: at}, b, a, e.event("conversation.created"))
	if err != nil || created || again.ID != c.ID {
		e.t.Fatalf("create again: %+v %v %v", again, created, err)
	}
}

// testStaleGroupKey: a group key claimed by a create that died (a pending
// chat_sends row of conversation 0, no conversation row) answers ErrBusy
// until its deadline, then is taken over by the retry, once.
func (e *env) testStaleGroupKey() {
	creator := e.ids.Next()
	if _, err := e.s.Query(`INSERT INTO chat_sends (conv_id, sender, client_msg_id, msg_id, attempt, hint, deadline, seq, event) VALUES (0, ?, 'k', ?, ?, 0, ?, 0, 0x) IF NOT EXISTS USING TTL 60`,
		creator, e.ids.Next(), e.ids.Next(), time.Now().Add(time.Minute)).MapScanCAS(map[string]any{}); err != nil {
		e.t.Fatal(err)
	}
	cfg := cassandrastore.DefaultConfig()
	cfg.ReplayWait = 200 * time.Millisecond
	store, err := cassandrastore.New(e.s, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	c := chat.Conversation{ID: e.ids.Next(), Kind: chat.Group, Title: "g", CreatedBy: creator, CreatedAt: at}
	ms := []chat.Member{{Conv: c.ID, User: creator, Role: chat.RoleAdmin, JoinedAt: at}}
	if _, _, err := store.CreateGroup(ctx, c, ms, "k", e.event("conversation.created")); !errors.Is(err, chat.ErrBusy) {
		e.t.Fatalf("create over a claim in flight: %v, want ErrBusy", err)
	}
	if err := e.s.Query(`UPDATE chat_sends USING TTL 60 SET deadline = ? WHERE conv_id = 0 AND sender = ? AND client_msg_id = 'k' IF EXISTS`,
		time.Now().Add(-time.Second), creator).Exec(); err != nil {
		e.t.Fatal(err)
	}
	ev := e.event("conversation.created")
	got, created, err := store.CreateGroup(ctx, c, ms, "k", ev)
	if err != nil || !created || got.ID != c.ID {
		e.t.Fatalf("create over a stale claim: %+v %v %v", got, created, err)
	}
	again, created, err := store.CreateGroup(ctx, chat.Conversation{ID: e.ids.Next(), Kind: chat.Group, Title: "other", CreatedBy: creator, CreatedAt: at}, ms, "k", e.event("conversation.created"))
	if err != nil || created || again.ID != c.ID || again.Title != "g" {
		e.t.Fatalf("create again: %+v %v %v", again, created, err)
	}
	if n := e.eventCount(ev.ID); n != 1 {
		e.t.Fatalf("event %d times", n)
	}
}

// testBigGroup: a group written in several batches has every member, and
// the event once.
func (e *env) testBigGroup() {
	cfg := cassandrastore.DefaultConfig()
	cfg.BatchMembers = 3
	store, err := cassandrastore.New(e.s, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	c := chat.Conversation{ID: e.ids.Next(), Kind: chat.Group, Title: "big", CreatedAt: at}
	var ms []chat.Member
	for range 10 {
		ms = append(ms, chat.Member{Conv: c.ID, User: e.ids.Next(), Role: chat.RoleMember, JoinedAt: at})
	}
	ev := e.event("conversation.created")
	if _, _, err := store.CreateGroup(ctx, c, ms, "", ev); err != nil {
		e.t.Fatal(err)
	}
	got, err := store.ListMembers(ctx, c.ID, 0, 0)
	if err != nil || len(got) != 10 {
		e.t.Fatalf("members: %d %v", len(got), err)
	}
	page, err := store.ListMembers(ctx, c.ID, got[3].User, 4)
	if err != nil || len(page) != 4 || page[0].User != got[4].User {
		e.t.Fatalf("page after the 4th: %+v %v", page, err)
	}
	if n := e.eventCount(ev.ID); n != 1 {
		e.t.Fatalf("event %d times", n)
	}
	var add []chat.Member
	for range 7 {
		add = append(add, chat.Member{Conv: c.ID, User: e.ids.Next(), Role: chat.RoleMember, JoinedAt: at})
	}
	if _, err := store.AddMembers(ctx, c.ID, add, 16, e.event("members.added")); !errors.Is(err, chat.ErrMemberCap) {
		e.t.Fatalf("add over the cap: %v", err)
	}
	added, err := store.AddMembers(ctx, c.ID, add, 17, e.event("members.added"))
	if err != nil || len(added) != 7 {
		e.t.Fatalf("add: %v %v", added, err)
	}
}

func testConfig(t *testing.T) {
	cfg := cassandrastore.Config{SendTimeout: time.Second, ClaimMargin: time.Second, Serial: gocql.One}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"send timeout", "send ttl", "claim grace", "replay wait", "batch members", "serial"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
	if err := cassandrastore.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}
