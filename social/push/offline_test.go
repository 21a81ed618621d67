package push

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/notify"
)

// heldPusher is a Pusher that holds every push until release is closed (or
// its context ends), and records the pushes that went through.
type heldPusher struct {
	release chan struct{}
	once    sync.Once

	mu      sync.Mutex // guards started and calls
	started int
	calls   []pushCall
}

type pushCall struct {
	user  int64
	kind  string
	event int64
}

func newHeldPusher() *heldPusher { return &heldPusher{release: make(chan struct{})} }

// open lets every held and later push through.
func (p *heldPusher) open() { p.once.Do(func() { close(p.release) }) }

func (p *heldPusher) Push(ctx context.Context, uid int64, ev events.Event) error {
	p.mu.Lock()
	p.started++
	p.mu.Unlock()
	select {
	case <-p.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, pushCall{uid, ev.Kind, ev.ID})
	return nil
}

func (p *heldPusher) snapshot() (started int, calls []pushCall) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started, append([]pushCall(nil), p.calls...)
}

// TestSlowPusherDelaysNoLiveUpdate: while the Pusher hangs, every event to
// an online and an offline user still reaches the online user's socket at
// once, and the fan-out fails nothing (no redelivery, no dead letter). Once
// the Pusher answers, the offline user gets one push per event.
func TestSlowPusherDelaysNoLiveUpdate(t *testing.T) {
	p := newHeldPusher()
	e := newEnv(t, func(c *Config) {
		c.Pusher = p
		c.Fanout.AckWait = 30 * time.Second // the old fan-out waited this long per event
	})
	defer p.open() // before the env's Close
	c := e.dial(bob, 0)
	c.expect("ready")
	const n = 10
	var evs []events.Event
	for range n {
		evs = append(evs, e.publish("notification", alice, bob, carol))
	}
	for i, ev := range evs {
		f, err := c.read(5 * time.Second)
		if err != nil {
			t.Fatalf("update %d of %d did not come while the pusher hangs: %v (stats %+v)", i+1, n, err, e.h.Stats())
		}
		if f.Type != "update" || f.Event != strconv.FormatInt(ev.ID, 10) {
			t.Fatalf("frame %d: %+v, want the update of event %d", i, f, ev.ID)
		}
	}
	waitFor(t, "the pusher to be called", func() bool { started, _ := p.snapshot(); return started > 0 })
	if started, calls := p.snapshot(); len(calls) != 0 {
		t.Fatalf("%d pushes went through a held pusher (%d started)", len(calls), started)
	}
	waitFor(t, "the fan-out to take every event", func() bool { return e.h.fan.Stats().Handled == n })
	if fs, st := e.h.fan.Stats(), e.h.Stats(); fs.Failed != 0 || fs.DeadLettered != 0 || st.FanoutErrors != 0 {
		t.Fatalf("fan-out failed while the pusher hung: consumer %+v, gateway %+v", fs, st)
	}

	p.open()
	waitFor(t, "the offline pushes", func() bool { return e.h.Stats().Pushed == n })
	_, calls := p.snapshot()
	seen := map[int64]bool{}
	for _, call := range calls {
		if call.user != carol || seen[call.event] {
			t.Fatalf("pushes %+v: want one per event, all to %d", calls, carol)
		}
		seen[call.event] = true
	}
	if len(seen) != n {
		t.Fatalf("pushes %+v: want %d", calls, n)
	}
	if st := e.h.Stats(); st.PushDropped != 0 || st.PushErrors != 0 {
		t.Fatalf("stats %+v: want no push dropped or failed", st)
	}
}

// TestOfflinePushQueueFullDrops: with the worker and the queue taken, a
// further push is dropped and counted; its update is stored all the same.
func TestOfflinePushQueueFullDrops(t *testing.T) {
	p := newHeldPusher()
	e := newEnv(t, func(c *Config) { c.Pusher, c.PushWorkers, c.PushQueue = p, 1, 1 })
	defer p.open()
	e.publish("notification", alice, carol)
	waitFor(t, "the worker to hold the first push", func() bool { started, _ := p.snapshot(); return started == 1 })
	for range 3 {
		e.publish("notification", alice, carol) // one queued, two dropped
	}
	e.stored(carol, 4)
	waitFor(t, "the drops", func() bool { return e.h.Stats().PushDropped == 2 })
	if fs := e.h.fan.Stats(); fs.Failed != 0 || fs.DeadLettered != 0 {
		t.Fatalf("fan-out %+v: want no failure", fs)
	}
	p.open()
	waitFor(t, "the held and the queued push", func() bool { return e.h.Stats().Pushed == 2 })
}

// TestCloseAbandonsHeldPushes: Close waits PushCloseWait for a hung
// Pusher, then cancels it, drops what is queued and leaves no goroutine.
func TestCloseAbandonsHeldPushes(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := newHeldPusher() // never opened
	e := newEnv(t, func(c *Config) { c.Pusher, c.PushWorkers, c.PushCloseWait = p, 1, 100*time.Millisecond })
	for range 4 {
		e.publish("notification", alice, carol)
	}
	e.stored(carol, 4)
	waitFor(t, "the worker to hold a push", func() bool { started, _ := p.snapshot(); return started == 1 })
	waitFor(t, "the fan-out to queue the rest", func() bool { return e.h.fan.Stats().Handled == 4 })
	start := time.Now()
	e.close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v with a hung pusher", d)
	}
	if st := e.h.Stats(); st.PushErrors != 1 || st.PushDropped != 3 || st.Pushed != 0 {
		t.Fatalf("stats %+v: want the held push cancelled and 3 dropped", st)
	}
}

// TestPushesOfflineMatchesNotify: every kind notify makes a notification of
// reaches the Pusher only as that notification.
func TestPushesOfflineMatchesNotify(t *testing.T) {
	for _, k := range notify.Kinds {
		if k == "chat.message" {
			k = "message" // as the chat service delivers it
		}
		if pushesOffline(k) {
			t.Errorf("kind %q is pushed, and pushed again as its notification", k)
		}
	}
	for _, k := range []string{notify.KindNotification, "member.added", "conversation.updated"} {
		if !pushesOffline(k) {
			t.Errorf("kind %q is not pushed", k)
		}
	}
}

func TestConfigPushQueue(t *testing.T) {
	c := DefaultConfig()
	c.PushWorkers, c.PushQueue, c.PushCloseWait = 0, 0, -time.Second
	err := c.Validate()
	for _, want := range []string{"push workers 0 and push queue 0", "push close wait -1s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}

// TestOfflineUserPushedOncePerActivity: an offline user who is followed
// gets one push, the notification notify builds of the follow, not the
// follow itself as well; a kind notify makes nothing of is pushed as it is.
func TestOfflineUserPushedOncePerActivity(t *testing.T) {
	p := newHeldPusher()
	p.open()
	e := newEnv(t, func(c *Config) { c.Pusher = p })
	follow := e.publish("follow", alice, carol)
	note := e.publish("notification", alice, carol) // what notify makes of the follow
	added := e.publish("member.added", alice, carol)
	e.stored(carol, 3)
	waitFor(t, "the offline pushes", func() bool { return e.h.Stats().Pushed >= 2 })
	_, calls := p.snapshot()
	got := map[int64]string{}
	for _, call := range calls {
		if call.user != carol {
			t.Fatalf("push to %d: %+v", call.user, calls)
		}
		got[call.event] = call.kind
	}
	if len(calls) != 2 || got[note.ID] != "notification" || got[added.ID] != "member.added" {
		t.Fatalf("pushes %+v: want the notification %d and member.added %d once each, not the follow %d",
			calls, note.ID, added.ID, follow.ID)
	}
}
