package push

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

const (
	alice = int64(101) // follows bob
	bob   = int64(202)
	carol = int64(303)
)

// TestFollowPushedToEveryDevice: a follow reaches every socket of the
// followee with the same seq, and nobody else.
func TestFollowPushedToEveryDevice(t *testing.T) {
	e := newEnv(t, nil)
	phone, laptop, a := e.dial(bob, 0), e.dial(bob, 0), e.dial(alice, 0)
	for _, c := range []*client{phone, laptop, a} {
		c.expect("ready")
	}
	ev := e.publish("follow", alice, bob)
	f1, f2 := phone.expect("update"), laptop.expect("update")
	if f1.Seq == 0 || f1.Seq != f2.Seq || f1.Kind != "follow" || f1.Event != strconv.FormatInt(ev.ID, 10) ||
		f1.Actor != strconv.FormatInt(alice, 10) || string(f1.Data) != string(ev.Data) {
		t.Fatalf("phone %+v, laptop %+v, event %+v", f1, f2, ev)
	}
	// Alice's first update is the one addressed to her.
	ev2 := e.publish("follow", bob, alice)
	if f := a.expect("update"); f.Event != strconv.FormatInt(ev2.ID, 10) || f.Seq <= f1.Seq {
		t.Fatalf("alice got %+v, want event %d after seq %d", f, ev2.ID, f1.Seq)
	}
	// An app-level ping is answered.
	phone.send(`{"type":"ping"}`)
	phone.expect("pong")
}

// TestResumeWithSince: the updates missed while away come back exactly once
// and in order, then live ones follow.
func TestResumeWithSince(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(bob, 0)
	c.expect("ready")
	e.publish("follow", alice, bob)
	first := c.expect("update")
	c.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the socket to go", func() bool { return e.h.Stats().Sockets == 0 })

	var missed []string
	for range 3 {
		missed = append(missed, strconv.FormatInt(e.publish("like", carol, bob).ID, 10))
	}
	e.stored(bob, 4)

	c = e.dial(bob, first.Seq)
	last := first.Seq
	for i, want := range missed {
		f := c.expect("update")
		if f.Event != want || f.Seq <= last {
			t.Fatalf("replayed update %d: %+v, want event %s after seq %d", i, f, want, last)
		}
		last = f.Seq
	}
	if r := c.expect("ready"); r.Seq != last {
		t.Fatalf("ready at seq %d, want %d", r.Seq, last)
	}
	live := e.publish("comment", carol, bob)
	if f := c.expect("update"); f.Event != strconv.FormatInt(live.ID, 10) || f.Seq <= last {
		t.Fatalf("live after replay: %+v", f)
	}
	if st := e.h.Stats(); st.Replayed != 3 || st.Resyncs != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSwitchNoGapNoDuplicate reconnects again and again while updates keep
// coming: every update arrives exactly once, in seq order.
func TestSwitchNoGapNoDuplicate(t *testing.T) {
	e := newEnv(t, nil)
	const n = 60
	want := make(map[string]bool, n)
	var mu sync.Mutex
	done := make(chan struct{})
	c := e.dial(bob, 0) // live before the first update: it needs no replay
	c.expect("ready")
	go func() {
		defer close(done)
		for range n {
			ev := e.publish("like", carol, bob)
			mu.Lock()
			want[strconv.FormatInt(ev.ID, 10)] = true
			mu.Unlock()
			time.Sleep(3 * time.Millisecond)
		}
	}()
	got := map[string]int{}
	var last uint64
	for len(got) < n {
		if c == nil {
			c = e.dial(bob, last)
		}
		for range 7 { // a few frames per connection, then away
			f := c.next()
			if f.Type != "update" {
				continue
			}
			if f.Seq <= last {
				t.Fatalf("seq %d after %d", f.Seq, last)
			}
			last = f.Seq
			got[f.Event]++
			if len(got) == n {
				break
			}
		}
		c.ws.CloseNow()
		c = nil
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	for id, k := range got {
		if k != 1 || !want[id] {
			t.Errorf("event %s arrived %d times (published: %v)", id, k, want[id])
		}
	}
}

// TestTooOldSinceResyncs: a since the stream no longer covers is answered
// with resync, then the socket is live.
func TestTooOldSinceResyncs(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxPerUser = 3 })
	for range 6 {
		e.publish("like", carol, bob)
	}
	waitFor(t, "6 updates", func() bool { return e.h.Stats().Updates == 6 })
	kept := e.stored(bob, 3)

	for _, since := range []uint64{kept[0] - 1, kept[2] + 1000} {
		c := e.dial(bob, since)
		c.expect("resync")
		if r := c.expect("ready"); r.Seq != 0 {
			t.Fatalf("ready after resync carries seq %d", r.Seq)
		}
		live := e.publish("like", alice, bob)
		if f := c.expect("update"); f.Event != strconv.FormatInt(live.ID, 10) {
			t.Fatalf("live after resync: %+v", f)
		}
		c.ws.CloseNow()
		kept = e.stored(bob, 3)
	}
	// The oldest kept one is still a good since.
	c := e.dial(bob, kept[0])
	for _, want := range kept[1:] {
		if f := c.expect("update"); f.Seq != want {
			t.Fatalf("replayed seq %d, want %d", f.Seq, want)
		}
	}
	c.expect("ready")
}

// TestSlowClientDisconnected: a client that stops reading is cut off once
// its queue is full; the gateway holds no more than the queue for it.
func TestSlowClientDisconnected(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SendQueue, c.WriteTimeout = 8, time.Second })
	slow, fast := e.dial(bob, 0), e.dial(alice, 0)
	slow.expect("ready")
	fast.expect("ready")
	big := fmt.Sprintf(`{"kind":"blob","data":"%s"}`, strings.Repeat("x", 64<<10))
	ctx := context.Background()
	for i := 0; e.h.Stats().Slow == 0; i++ {
		if i == 2000 { // 128 MiB: far past any socket buffer
			t.Fatalf("the slow client was never cut off: %+v", e.h.Stats())
		}
		if _, err := e.h.js.Publish(ctx, e.h.updSubject(bob), []byte(big)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the slow socket to go", func() bool { return e.h.Stats().Sockets == 1 })
	// Its frames up to the cut, then the end (1008, or none when the
	// socket was too full to carry a close frame).
	if code := slow.closedWith(); code != websocket.StatusPolicyViolation && code != -1 {
		t.Fatalf("slow client closed with %v", code)
	}
	// The other user is unaffected.
	ev := e.publish("follow", bob, alice)
	if f := fast.expect("update"); f.Event != strconv.FormatInt(ev.ID, 10) {
		t.Fatalf("fast client got %+v", f)
	}
}

// TestBadFramesClose: the close code tells the client what it did wrong.
func TestBadFramesClose(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name  string
		typ   websocket.MessageType
		frame string
		hello bool // send a hello first
		want  websocket.StatusCode
	}{
		{"oversized", websocket.MessageText, `{"type":"hello","x":"` + strings.Repeat("a", 5000) + `"}`, false, websocket.StatusMessageTooBig},
		{"malformed JSON", websocket.MessageText, `{"type":`, false, websocket.StatusInvalidFramePayloadData},
		{"unknown type", websocket.MessageText, `{"type":"subscribe"}`, false, websocket.StatusUnsupportedData},
		{"binary", websocket.MessageBinary, `{"type":"hello"}`, false, websocket.StatusUnsupportedData},
		{"second hello", websocket.MessageText, `{"type":"hello","since":1}`, true, websocket.StatusPolicyViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dialTicket(e.ticket(bob))
			if tt.hello {
				c.send(`{"type":"hello"}`)
				c.expect("ready")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.ws.Write(ctx, tt.typ, []byte(tt.frame)); err != nil {
				t.Fatal(err)
			}
			if code := c.closedWith(); code != tt.want {
				t.Fatalf("closed with %v, want %v", code, tt.want)
			}
		})
	}
	waitFor(t, "every socket to go", func() bool { return e.h.Stats().Sockets == 0 })
}

// TestDeadPeerClosed: a peer that answers no ping is closed.
func TestDeadPeerClosed(t *testing.T) {
	// A pong may take far longer than on a quiet machine under -race on two
	// shared cores: a second of grace keeps the live client live.
	e := newEnv(t, func(c *Config) { c.PingInterval, c.PongTimeout = 100*time.Millisecond, time.Second })
	c := e.dial(bob, 0)
	c.expect("ready")
	// The client reads no more, so its pongs are never sent.
	waitFor(t, "the dead peer to be closed", func() bool {
		st := e.h.Stats()
		return st.DeadPeer == 1 && st.Sockets == 0
	})
	// A reading client answers pings and stays.
	live := e.dial(alice, 0)
	live.expect("ready")
	if _, err := live.read(2500 * time.Millisecond); err == nil || e.h.Stats().DeadPeer != 1 {
		t.Fatalf("a live client: %v, %+v", err, e.h.Stats())
	}
}

// TestCloseEndsEverything: Close says 1001 to every socket and leaves no
// goroutine, with sockets in every state (before hello, live, mid-read).
func TestCloseEndsEverything(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e := newEnv(t, nil)
	live := e.dial(bob, 0)
	live.expect("ready")
	quiet := e.dialTicket(e.ticket(alice)) // no hello yet
	waitFor(t, "two sockets", func() bool { return e.h.Stats().Sockets == 2 })
	codes := make(chan websocket.StatusCode, 2)
	for _, c := range []*client{live, quiet} {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for {
				if _, _, err := c.ws.Read(ctx); err != nil {
					codes <- websocket.CloseStatus(err)
					return
				}
			}
		}()
	}
	e.close()
	for range 2 {
		if code := <-codes; code != websocket.StatusGoingAway {
			t.Errorf("closed with %v, want 1001", code)
		}
	}
}

// TestRedeliveredEventStoresOnce: the fan-out is idempotent per event and
// user.
func TestRedeliveredEventStoresOnce(t *testing.T) {
	e := newEnv(t, nil)
	ev := e.publish("follow", alice, bob, carol, bob)
	waitFor(t, "the fan-out", func() bool { return e.h.Stats().Updates == 2 })
	if err := e.h.fanout(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []int64{bob, carol} {
		if seqs := e.stored(uid, 1); len(seqs) != 1 {
			t.Fatalf("user %d has %d updates, want 1", uid, len(seqs))
		}
	}
}

// TestOfflinePushWebhook: a recipient with no socket is pushed through the
// webhook (retried after a 500); one with a socket is not.
func TestOfflinePushWebhook(t *testing.T) {
	type call struct {
		key  string
		user string
		kind string
	}
	var mu sync.Mutex
	var calls []call
	attempts := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if attempts++; attempts == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var body struct {
			UserID string `json:"user_id"`
			Event  struct{ Kind string }
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		calls = append(calls, call{r.Header.Get("Idempotency-Key"), body.UserID, body.Event.Kind})
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	wh := NewWebhook(hook.URL)
	wh.Backoff = []time.Duration{10 * time.Millisecond}
	e := newEnv(t, func(c *Config) { c.Pusher = wh })

	c := e.dial(bob, 0)
	c.expect("ready")
	ev := e.publish("notification", alice, bob, carol)
	c.expect("update")
	waitFor(t, "the offline push", func() bool { return e.h.Stats().Pushed == 1 })
	mu.Lock()
	defer mu.Unlock()
	want := call{fmt.Sprintf("%d/%d", ev.ID, carol), strconv.FormatInt(carol, 10), "notification"}
	if len(calls) != 1 || calls[0] != want || attempts != 2 {
		t.Fatalf("calls %+v after %d attempts, want [%+v] after 2", calls, attempts, want)
	}
}

// TestLiveGapReadBack: live updates NATS drops (a one-slot live buffer)
// are read back from the stream; the client sees every update once, in
// order.
func TestLiveGapReadBack(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LiveBuffer = 1 })
	c := e.dial(bob, 0)
	c.expect("ready")
	const n = 200
	ctx := context.Background()
	for i := range n {
		body := fmt.Sprintf(`{"kind":"like","data":{"i":%d}}`, i)
		if _, err := e.h.js.PublishAsync(e.h.updSubject(bob), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-e.h.js.PublishAsyncComplete():
	case <-ctx.Done():
	}
	for i := range n {
		f := c.expect("update")
		var d struct{ I int }
		if err := json.Unmarshal(f.Data, &d); err != nil || d.I != i {
			t.Fatalf("update %d: %+v (%v)", i, f, err)
		}
	}
	if st := e.h.Stats(); st.Gaps == 0 {
		t.Logf("no gap happened this time (%+v)", st)
	}
}
