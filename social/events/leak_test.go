package events

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/goleak"
)

// TestCloseLeavesNoGoroutines runs the whole backbone (embedded server,
// relay, a consumer in the middle of a failing handler) and closes it: not
// one goroutine may remain. TestMain checks the same over every test.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b, err := Open(context.Background(), testConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(pebbleDir(t), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	ob := NewPebbleOutbox(db)
	r, err := StartRelay(b, ob)
	if err != nil {
		t.Fatal(err)
	}
	got := newTally()
	blocked := make(chan struct{})
	c, err := b.Consume(context.Background(), fastConsumer("leak"), func(ctx context.Context, ev Event) error {
		if got.add(ev.ID); got.distinct() == 50 {
			close(blocked)
			<-ctx.Done() // still running when Close comes
			return ctx.Err()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := makeEvents(t, generator(t, 1), 100)
	appendAll(t, ob, r, evs)
	select {
	case <-blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("the consumer never got 50 events")
	}
	c.Close()
	r.Close()
	b.Close()
	db.Close()
}
