package chat_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/events"
)

// gate is a Live whose deliveries wait until it opens: a delivery side
// that has fallen behind.
type gate struct {
	*recorder
	open chan struct{}
}

func (g *gate) Deliver(ctx context.Context, evs []events.Event) error {
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.recorder.Deliver(ctx, evs)
}

// TestSendsShedPastTheBacklog: with the real delivery path (outbox, relay,
// embedded JetStream, the durable consumer) stalled, sends are taken until
// the fleet's backlog passes MaxBacklog, then answered 503 overloaded with
// Retry-After; once delivery catches up they are taken again, and every
// message taken is delivered.
func TestSendsShedPastTheBacklog(t *testing.T) {
	const maxBacklog = 3
	bc := events.DefaultConfig()
	bc.Dir = t.TempDir()
	bus, err := events.Open(context.Background(), bc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	live := &gate{recorder: &recorder{}, open: make(chan struct{})}
	var relay *events.Relay
	e := setup(t, func(c *chat.Config) {
		c.Live = live
		c.MaxBacklog = maxBacklog
		c.Delivery.BacklogEvery = 20 * time.Millisecond
		c.Notify = func() { relay.Notify() }
	})
	if relay, err = events.StartRelay(bus, events.NewPebbleOutbox(e.db)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	cons, err := e.svc.StartDelivery(context.Background(), bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cons.Close() })

	st, conv, _ := e.do(1, "POST", "/v1/conversations", map[string]any{"member_ids": []string{"2"}})
	if st != 201 {
		t.Fatalf("create: %d %v", st, conv)
	}
	id := conv["id"].(string)
	taken := 0
	for i := 0; ; i++ {
		st, m := e.sendText(1, id, fmt.Sprint("c", i), "hello")
		if st == 201 {
			taken++
			if taken > maxBacklog+50 {
				t.Fatalf("%d sends taken with delivery stalled and a bound of %d", taken, maxBacklog)
			}
			// Let the backlog reading catch up with this send.
			waitBacklog(t, cons, func(n int64) bool { return n >= int64(taken) })
			continue
		}
		if code, _ := errCode(m); st != 503 || code != "overloaded" {
			t.Fatalf("send %d past the backlog: %d %v, want 503 overloaded", i, st, m)
		}
		break
	}
	if taken != maxBacklog+1 {
		t.Errorf("%d sends taken before the first refusal, want %d (the bound, then the one that passed it)", taken, maxBacklog+1)
	}
	_, _, h := e.do(1, "POST", "/v1/conversations/"+id+"/messages", map[string]any{"client_msg_id": "refused", "text": "x"})
	if h.Get("Retry-After") == "" {
		t.Error("an overloaded answer without Retry-After")
	}

	close(live.open)
	waitBacklog(t, cons, func(n int64) bool { return n == 0 })
	if st, m := e.sendText(1, id, "after", "hello again"); st != 201 {
		t.Fatalf("send after delivery caught up: %d %v", st, m)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		live.mu.Lock()
		n := len(live.delivered)
		live.mu.Unlock()
		if n == taken+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages delivered, want the %d taken", n, taken+1)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitBacklog(t *testing.T, c *events.Consumer, ok func(int64) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(c.Backlog()) {
		if time.Now().After(deadline) {
			t.Fatalf("backlog stuck at %d", c.Backlog())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
