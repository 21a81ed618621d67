package push

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
)

// TestDeliverInOrderOnce: Deliver stores a batch in the order given, and a
// repeat of part of it (another edge delivering the same range) stores
// nothing twice, so the socket sees each update once, in order.
func TestDeliverInOrderOnce(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(bob, 0)
	c.expect("ready")
	mk := func(n int) events.Event {
		return events.Event{ID: int64(5000 + n), Kind: "message", Actor: alice, To: []int64{bob, alice},
			Data: json.RawMessage(fmt.Sprintf(`{"seq":%d}`, n)), At: time.Now().UTC()}
	}
	var first, all []events.Event
	for n := 1; n <= 20; n++ {
		all = append(all, mk(n))
		if n <= 12 {
			first = append(first, mk(n))
		}
	}
	ctx := context.Background()
	if err := e.h.Deliver(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Deliver(ctx, all); err != nil { // 1..12 again: duplicates
		t.Fatal(err)
	}
	for n := 1; n <= 20; n++ {
		f := c.expect("update")
		var d struct{ Seq int }
		_ = json.Unmarshal(f.Data, &d)
		if d.Seq != n || f.Kind != "message" || f.Event != strconv.Itoa(5000+n) {
			t.Fatalf("update %d: %+v", n, f)
		}
	}
	if got := e.stored(bob, 20); len(got) != 20 {
		t.Fatalf("bob's stream holds %d updates, want 20", len(got))
	}
}

// TestSignalLiveOnly: a signal reaches the sockets connected now, with no
// seq, and is stored nowhere: a later resume does not replay it.
func TestSignalLiveOnly(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(bob, 0)
	c.expect("ready")
	ev := events.Event{ID: 42, Kind: "typing", Actor: alice, To: []int64{bob}, Data: json.RawMessage(`{"conversation_id":"7"}`), At: time.Now().UTC()}
	if err := e.h.Signal(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	f := c.expect("update")
	if f.Kind != "typing" || f.Seq != 0 || string(f.Data) != `{"conversation_id":"7"}` {
		t.Fatalf("signal frame %+v", f)
	}
	// A stored update after it: its seq is the stream's first.
	e.publish("follow", alice, bob)
	if u := c.expect("update"); u.Seq == 0 || u.Kind != "follow" {
		t.Fatalf("update after the signal: %+v", u)
	}
	if n := len(e.stored(bob, 1)); n != 1 {
		t.Fatalf("stream holds %d updates: the signal was stored", n)
	}
}
