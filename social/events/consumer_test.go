package events

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// tally counts calls per event id.
type tally struct {
	mu sync.Mutex // guards n
	n  map[int64]int
}

func newTally() *tally { return &tally{n: map[int64]int{}} }

func (c *tally) add(id int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[id]++
	return c.n[id]
}

func (c *tally) get(id int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

func (c *tally) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.n)
}

func (c *tally) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for _, v := range c.n {
		t += v
	}
	return t
}

// consumerIdle reports whether the durable consumer has nothing left to
// deliver and nothing awaiting an ack: no delivery can still come.
func consumerIdle(t testing.TB, b *Bus, name string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := b.JetStream().Consumer(ctx, b.cfg.Stream, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
}

func consume(t testing.TB, b *Bus, cfg ConsumerConfig, h Handler) *Consumer {
	t.Helper()
	c, err := b.Consume(context.Background(), cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pipeline is a bus with a Pebble outbox and its relay.
func pipeline(t testing.TB, cfg Config) (*Bus, *PebbleOutbox, *Relay) {
	t.Helper()
	b := openBus(t, cfg)
	ob := NewPebbleOutbox(openPebble(t, pebbleDir(t)))
	return b, ob, startRelay(t, b, ob)
}

func fastConsumer(name string) ConsumerConfig {
	cc := DefaultConsumerConfig(name)
	cc.Backoff = []time.Duration{5 * time.Millisecond, 20 * time.Millisecond}
	cc.AckWait = 2 * time.Second
	return cc
}

func TestConsumeExactlyOnce(t *testing.T) {
	b, ob, r := pipeline(t, testConfig(t.TempDir()))
	got := newTally()
	c := consume(t, b, fastConsumer("once"), func(_ context.Context, ev Event) error {
		got.add(ev.ID)
		return nil
	})
	evs := makeEvents(t, generator(t, 1), 500)
	appendAll(t, ob, r, evs)
	waitFor(t, "every event handled", 30*time.Second, func() bool { return got.distinct() == len(evs) })
	waitFor(t, "the consumer to be idle", 30*time.Second, func() bool { return consumerIdle(t, b, "once") })
	for _, ev := range evs {
		if n := got.get(ev.ID); n != 1 {
			t.Fatalf("event %d handled %d times", ev.ID, n)
		}
	}
	if s := c.Stats(); s.Handled != int64(len(evs)) || s.Failed != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestConsumeFlakyHandler: a handler that fails at random (before its
// effect, and sometimes after it, as when a process dies before the ack)
// still sees every event: at least once, each effect keyed by event id.
// Events published again with new message ids (a re-publish outside the
// duplicate window) are skipped by Dedup.Once.
func TestConsumeFlakyHandler(t *testing.T) {
	b, ob, r := pipeline(t, testConfig(t.TempDir()))
	calls, applied := newTally(), newTally()
	var mu sync.Mutex // guards rng
	rng := rand.New(rand.NewPCG(1, 2))
	errBefore, errAfter := errors.New("flaky before the effect"), errors.New("failed after the effect")
	cc := fastConsumer("flaky")
	cc.MaxDeliver = 50 // no dead letters here
	cc.Concurrency = 4
	d := NewDedup(10_000)
	consume(t, b, cc, d.Once(func(_ context.Context, ev Event) error {
		calls.add(ev.ID)
		mu.Lock()
		p := rng.Float64()
		mu.Unlock()
		if p < 0.25 {
			return errBefore
		}
		applied.add(ev.ID)
		if p > 0.9 {
			return errAfter
		}
		return nil
	}))
	evs := makeEvents(t, generator(t, 1), 300)
	appendAll(t, ob, r, evs)
	waitFor(t, "every event applied", 60*time.Second, func() bool { return applied.distinct() == len(evs) })
	waitFor(t, "the consumer to be idle", 60*time.Second, func() bool { return consumerIdle(t, b, "flaky") })
	if calls.total() <= len(evs) {
		t.Fatalf("%d calls for %d events: the handler never failed?", calls.total(), len(evs))
	}
	t.Logf("%d events: %d handler calls, %d effects applied", len(evs), calls.total(), applied.total())

	// Publish 50 again under new message ids: JetStream stores them, the
	// consumer delivers them, Once skips them.
	before := calls.total()
	for _, ev := range evs[:50] {
		data, _ := Encode(ev)
		m := nats.NewMsg(b.Subject(ev.Kind))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, "again-"+ev.MsgID())
		if _, err := b.JetStream().PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the re-published events to be acknowledged", 30*time.Second, func() bool { return consumerIdle(t, b, "flaky") })
	if after := calls.total(); after != before {
		t.Errorf("Once let %d re-published events through", after-before)
	}
}

func TestDeadLetter(t *testing.T) {
	b, ob, r := pipeline(t, testConfig(t.TempDir()))
	evs := makeEvents(t, generator(t, 1), 30)
	poison := map[int64]bool{evs[3].ID: true, evs[17].ID: true}
	calls := newTally()
	cc := fastConsumer("dlq")
	cc.MaxDeliver = 3
	c := consume(t, b, cc, func(_ context.Context, ev Event) error {
		calls.add(ev.ID)
		if poison[ev.ID] {
			return errors.New("cannot apply " + ev.MsgID())
		}
		return nil
	})
	appendAll(t, ob, r, evs)
	flush(t, r) // every event in the stream, so an idle consumer has had them all
	waitFor(t, "both poison events dead-lettered", 30*time.Second, func() bool { return c.Stats().DeadLettered == 2 })
	waitFor(t, "the consumer to be idle", 30*time.Second, func() bool { return consumerIdle(t, b, "dlq") })
	for _, ev := range evs {
		want := 1
		if poison[ev.ID] {
			want = cc.MaxDeliver
		}
		if n := calls.get(ev.ID); n != want {
			t.Errorf("event %d handled %d times, want %d", ev.ID, n, want)
		}
	}

	ctx := context.Background()
	s, err := b.JetStream().Stream(ctx, b.cfg.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := Decode(m.Data)
		if err != nil || !poison[ev.ID] {
			t.Fatalf("dead letter %d is %+v, %v", seq, ev, err)
		}
		h := m.Header
		if m.Subject != b.cfg.DeadLetterSubject+".dlq" || h.Get(HeaderConsumer) != "dlq" ||
			h.Get(HeaderDeliveries) != strconv.Itoa(cc.MaxDeliver) || !strings.Contains(h.Get(HeaderReason), "cannot apply") ||
			h.Get(HeaderSubject) != b.Subject(ev.Kind) || h.Get(HeaderStreamSeq) == "" {
			t.Errorf("dead letter %d: subject %s, headers %v", seq, m.Subject, h)
		}
	}
}

// TestConsumerResume closes a consumer in the middle of a handler (as a
// crash would) and starts another with the same name: it gets exactly what
// the first did not acknowledge.
func TestConsumerResume(t *testing.T) {
	b, ob, r := pipeline(t, testConfig(t.TempDir()))
	evs := makeEvents(t, generator(t, 1), 200)
	appendAll(t, ob, r, evs)
	flush(t, r)

	cc := fastConsumer("resume")
	cc.AckWait = 500 * time.Millisecond
	cc.Prefetch = 16
	first, second := newTally(), newTally()
	stuck := make(chan int64, 1)
	var n int
	c1, err := b.Consume(context.Background(), cc, func(ctx context.Context, ev Event) error {
		if n++; n == 80 {
			stuck <- ev.ID
			<-ctx.Done() // blocked until Close: the effect never happens
			return ctx.Err()
		}
		first.add(ev.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cut := <-stuck
	c1.Close()

	consume(t, b, cc, func(_ context.Context, ev Event) error {
		second.add(ev.ID)
		return nil
	})
	waitFor(t, "the second consumer to finish", 30*time.Second, func() bool {
		return first.distinct()+second.distinct() >= len(evs) && consumerIdle(t, b, "resume")
	})
	if first.distinct() != 79 {
		t.Errorf("first consumer handled %d, want 79", first.distinct())
	}
	if second.get(cut) != 1 {
		t.Error("the event cut short was not delivered to the second consumer")
	}
	for _, ev := range evs {
		if first.get(ev.ID)+second.get(ev.ID) != 1 {
			t.Errorf("event %d: first %d, second %d", ev.ID, first.get(ev.ID), second.get(ev.ID))
		}
	}
}

func TestConsumerKinds(t *testing.T) {
	b, ob, r := pipeline(t, testConfig(t.TempDir()))
	got := newTally()
	cc := fastConsumer("follows")
	cc.Kinds = []string{"follow", "post.*"}
	consume(t, b, cc, func(_ context.Context, ev Event) error {
		if ev.Kind != "follow" && ev.Kind != "post.liked" {
			t.Errorf("got a %s event", ev.Kind)
		}
		got.add(ev.ID)
		return nil
	})
	evs := makeEvents(t, generator(t, 1), 60) // a third of each kind
	appendAll(t, ob, r, evs)
	waitFor(t, "the follows and likes", 30*time.Second, func() bool { return got.distinct() == 40 })
	waitFor(t, "the consumer to be idle", 30*time.Second, func() bool { return consumerIdle(t, b, "follows") })
}

// TestCrossNode: events relayed by process A (the embedded server,
// listening) reach a consumer of process B connected to it by URL.
func TestCrossNode(t *testing.T) {
	cfgA := testConfig(t.TempDir())
	cfgA.Listen = "127.0.0.1:0"
	a, ob, r := pipeline(t, cfgA)
	if a.ClientURL() == "" {
		t.Fatal("the listening server has no client URL")
	}
	cfgB := testConfig("")
	cfgB.URL, cfgB.Replicas = a.ClientURL(), 1
	b := openBus(t, cfgB)
	got := newTally()
	consume(t, b, fastConsumer("remote"), func(_ context.Context, ev Event) error {
		got.add(ev.ID)
		return nil
	})
	evs := makeEvents(t, generator(t, 1), 200)
	appendAll(t, ob, r, evs)
	waitFor(t, "process B to get every event", 30*time.Second, func() bool { return got.distinct() == len(evs) })
	waitFor(t, "the consumer to be idle", 30*time.Second, func() bool { return consumerIdle(t, b, "remote") })
	if got.total() != len(evs) {
		t.Errorf("%d deliveries of %d events", got.total(), len(evs))
	}
}

func TestDedup(t *testing.T) {
	d := NewDedup(3)
	for id := int64(1); id <= 4; id++ {
		d.Mark(id)
	}
	if d.Seen(1) || !d.Seen(2) || !d.Seen(4) {
		t.Fatal("want 1 forgotten, 2..4 remembered")
	}
	d.Mark(3) // again: no eviction
	if !d.Seen(2) {
		t.Fatal("re-marking an id evicted another")
	}
}

// TestConsumerBacklog: Backlog counts the events that wait fleet-wide,
// fetched or not, and falls to 0 once they are handled; a consumer that
// never reads it says -1.
func TestConsumerBacklog(t *testing.T) {
	b, ob, r := pipeline(t, testConfig(t.TempDir()))
	release := make(chan struct{})
	var handled atomic.Int64
	cc := DefaultConsumerConfig("backlog")
	cc.Prefetch = 4 // most of the backlog is not yet fetched
	cc.BacklogEvery = 20 * time.Millisecond
	c := consume(t, b, cc, func(ctx context.Context, _ Event) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		handled.Add(1)
		return nil
	})
	blind := consume(t, b, DefaultConsumerConfig("blind"), func(context.Context, Event) error { return nil })
	evs := makeEvents(t, generator(t, 1), 50)
	appendAll(t, ob, r, evs)
	waitFor(t, "a backlog of every event", 10*time.Second, func() bool { return c.Backlog() == int64(len(evs)) })
	close(release)
	waitFor(t, "every event handled", 30*time.Second, func() bool { return handled.Load() == int64(len(evs)) })
	waitFor(t, "no backlog", 10*time.Second, func() bool { return c.Backlog() == 0 })
	if n := blind.Backlog(); n != -1 {
		t.Errorf("a consumer without BacklogEvery says a backlog of %d, want -1", n)
	}
	bad := DefaultConsumerConfig("bad")
	bad.BacklogEvery = time.Millisecond
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "backlog every") {
		t.Errorf("BacklogEvery 1ms: %v", err)
	}
}
