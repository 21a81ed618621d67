package events

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// logBuffer collects a bus's log lines, to look for what the connection
// reported.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// loggedBus is a bus whose log (the connection's async errors among it)
// goes to the returned buffer.
func loggedBus(t testing.TB) (*Bus, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cfg := testConfig(t.TempDir())
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return openBus(t, cfg), logs
}

// publish puts evs straight into the stream, without an outbox, so that a
// test decides when they arrive.
func publish(t testing.TB, b *Bus, evs ...Event) {
	t.Helper()
	for _, ev := range evs {
		data, err := Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg(b.Subject(ev.Kind))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, ev.MsgID())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = b.JetStream().PublishMsg(ctx, m)
		cancel()
		if err != nil {
			t.Fatalf("publish event %d: %v", ev.ID, err)
		}
	}
}

// waitHeld waits for n handlers to signal on held.
func waitHeld(t testing.TB, held <-chan struct{}, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for range n {
		select {
		case <-held:
		case <-timeout:
			t.Fatalf("fewer than %d handlers started within 30s", n)
		}
	}
}

// TestConsumeBurstWhileHandlersHold: every handler holds its event for
// several heartbeats, then a burst of more than Prefetch events arrives.
// Each is handled within seconds of the handlers letting go, far below
// AckWait, and the connection reports no slow consumer. (Consuming through
// the library's Messages iterator, the heartbeats filled its Prefetch-deep
// channel, the burst overflowed it, and the dropped events came again only
// after AckWait.)
func TestConsumeBurstWhileHandlersHold(t *testing.T) {
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency=%d", conc), func(t *testing.T) {
			b, logs := loggedBus(t)
			cc := DefaultConsumerConfig("burst")
			cc.AckWait = 20 * time.Second
			cc.Heartbeat = 500 * time.Millisecond
			cc.Prefetch = 8
			cc.Concurrency = conc
			const quick = 6 // the last conc of them are held
			held, release := make(chan struct{}, conc), make(chan struct{})
			got := newTally()
			var calls atomic.Int64
			consume(t, b, cc, func(ctx context.Context, ev Event) error {
				if k := calls.Add(1); k > quick-int64(conc) && k <= quick {
					held <- struct{}{}
					select {
					case <-release:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				got.add(ev.ID)
				return nil
			})
			g := generator(t, 1)
			publish(t, b, makeEvents(t, g, quick)...)
			waitHeld(t, held, conc)
			// Idle heartbeats come every Heartbeat while the handlers hold;
			// time passing is the scenario here, there is nothing to await.
			time.Sleep(4 * cc.Heartbeat)
			burst := makeEvents(t, g, 3*cc.Prefetch)
			publish(t, b, burst...)
			close(release)
			defer func() { // also when waitFor gives up
				if strings.Contains(logs.String(), "slow consumer") {
					t.Errorf("the connection reported a slow consumer:\n%s", logs)
				}
			}()
			want := quick + len(burst)
			waitFor(t, "every event handled, well within AckWait", 10*time.Second, func() bool { return got.distinct() == want })
			if n := got.total(); n != want {
				t.Errorf("%d handler calls for %d events", n, want)
			}
		})
	}
}

// TestCloseGivesBackFetchedEvents: a consumer closed while it holds
// fetched events it has not handled gives them back, so another consumer
// of the same name handles them at once rather than after AckWait.
func TestCloseGivesBackFetchedEvents(t *testing.T) {
	for _, conc := range []int{1, 3} {
		t.Run(fmt.Sprintf("concurrency=%d", conc), func(t *testing.T) {
			b, _ := loggedBus(t)
			cc := DefaultConsumerConfig("handover")
			cc.AckWait = 20 * time.Second
			cc.Prefetch = 32
			cc.Concurrency = conc
			evs := makeEvents(t, generator(t, 1), 20)
			publish(t, b, evs...)
			held := make(chan struct{}, len(evs))
			c1, err := b.Consume(context.Background(), cc, func(ctx context.Context, _ Event) error {
				held <- struct{}{}
				<-ctx.Done() // every handler busy until Close
				return ctx.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			waitHeld(t, held, conc)
			waitFor(t, "every event fetched by the first consumer", 10*time.Second, func() bool {
				info, err := c1.cons.Info(context.Background())
				return err == nil && info.NumPending == 0 && info.NumAckPending == len(evs)
			})
			c1.Close()

			got := newTally()
			consume(t, b, cc, func(_ context.Context, ev Event) error {
				got.add(ev.ID)
				return nil
			})
			waitFor(t, "the second consumer to handle every event, well within AckWait", 10*time.Second, func() bool {
				return got.distinct() == len(evs)
			})
		})
	}
}

// TestSlowHandlerKeepsItsEvent: an event that waited behind another (most
// of its AckWait) and then has a handler slower than what is left of it is not
// delivered again while that handler runs (the consumer tells JetStream it
// is in progress).
func TestSlowHandlerKeepsItsEvent(t *testing.T) {
	b, _ := loggedBus(t)
	cc := DefaultConsumerConfig("slow")
	cc.AckWait = 6 * time.Second
	cc.Prefetch = 4
	evs := makeEvents(t, generator(t, 1), 3)
	first, slow, sentinel := evs[0], evs[1], evs[2]
	// Both fetched at once: slow waits 4.5s behind first (more than
	// 2/3 of AckWait: a first InProgress AckWait/3 into its handler would
	// come too late), then runs 2.5s, so it ends 7s after its delivery,
	// past AckWait. Told at once when its handler starts, it has until
	// 10.5s: the margins are seconds, not milliseconds.
	work := map[int64]time.Duration{first.ID: 4500 * time.Millisecond, slow.ID: 2500 * time.Millisecond}
	got := newTally()
	slowDone := make(chan struct{})
	consume(t, b, cc, func(ctx context.Context, ev Event) error {
		select { // the handler's work takes this long
		case <-time.After(work[ev.ID]):
		case <-ctx.Done():
			return ctx.Err()
		}
		if got.add(ev.ID) == 1 && ev.ID == slow.ID {
			close(slowDone)
		}
		return nil
	})
	publish(t, b, first, slow)
	select {
	case <-slowDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow event was never handled")
	}
	// Concurrency 1 handles in delivery order: once the sentinel is
	// handled, a second delivery of slow (made while it ran) would have
	// been handled too.
	publish(t, b, sentinel)
	waitFor(t, "the sentinel handled", 10*time.Second, func() bool { return got.get(sentinel.ID) == 1 })
	for _, ev := range evs {
		if n := got.get(ev.ID); n != 1 {
			t.Errorf("event %d handled %d times, want once", ev.ID, n)
		}
	}
}
