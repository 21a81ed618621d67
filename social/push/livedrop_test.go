package push

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestLiveDropCaughtUp: NATS drops a user's last live updates on a full
// LiveBuffer while the dispatcher is stalled, and no later update comes to
// show the gap: the socket still ends with the last update, each once and
// in order. Then again, when the user's very next update is dropped too
// (NATS reports a subscription's drops once until a message gets through).
func TestLiveDropCaughtUp(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LiveBuffer = 1 })
	c, other := e.dial(bob, 0), e.dial(alice, 0)
	c.expect("ready")
	other.expect("ready")
	ctx := context.Background()
	putFor := func(uid int64, i int) {
		t.Helper()
		if _, err := e.h.js.Publish(ctx, e.h.updSubject(uid), fmt.Appendf(nil, `{"kind":"like","data":{"i":%d}}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	put := func(i int) { t.Helper(); putFor(bob, i) }
	put(0)
	last := c.expect("update").Seq // the socket has a base

	// Stall the dispatcher: it takes update 1 and waits for the hub; update
	// 2 fills the one-slot buffer; NATS drops 3 to 5.
	hb := e.h.hub
	hb.mu.Lock()
	locked := true
	defer func() {
		if locked {
			hb.mu.Unlock()
		}
	}()
	sub := hb.users[bob].sub
	put(1)
	waitFor(t, "the dispatcher to take update 1", func() bool {
		n, _ := sub.Delivered()
		return n == 2 && len(hb.ch) == 0
	})
	const n = 5
	for i := 2; i <= n; i++ {
		put(i)
	}
	waitFor(t, "NATS to drop updates 3 to 5", func() bool { d, _ := sub.Dropped(); return d == n-2 })
	hb.mu.Unlock()
	locked = false

	for i := 1; i <= n; i++ {
		f, err := c.read(5 * time.Second)
		if err != nil {
			t.Fatalf("update %d of %d never came: %v (stats %+v)", i, n, err, e.h.Stats())
		}
		var want = fmt.Sprintf(`{"i":%d}`, i)
		if f.Type != "update" || f.Seq <= last || string(f.Data) != want {
			t.Fatalf("frame %+v after seq %d, want update %s", f, last, want)
		}
		last = f.Seq
	}

	// Round two: alice's updates stall the dispatcher and fill the buffer,
	// and bob's next update is dropped.
	hb.mu.Lock()
	locked = true
	asub, bsub := hb.users[alice].sub, hb.users[bob].sub
	bDropped, _ := bsub.Dropped()
	putFor(alice, 100)
	waitFor(t, "the dispatcher to take alice's update", func() bool {
		n, _ := asub.Delivered()
		return n == 1 && len(hb.ch) == 0
	})
	putFor(alice, 101)
	waitFor(t, "alice's update in the buffer", func() bool { return len(hb.ch) == 1 })
	put(6)
	waitFor(t, "NATS to drop bob's update 6", func() bool { d, _ := bsub.Dropped(); return d == bDropped+1 })
	hb.mu.Unlock()
	locked = false
	if f, err := c.read(5 * time.Second); err != nil || f.Seq <= last || string(f.Data) != `{"i":6}` {
		t.Fatalf("got %+v (%v) after seq %d, want update 6 (stats %+v)", f, err, last, e.h.Stats())
	}
	for i := 100; i <= 101; i++ {
		if f := other.expect("update"); string(f.Data) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Fatalf("alice got %+v, want update %d", f, i)
		}
	}
}
