package events

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/mediaedge/mediaedge/social/ids"
)

// TestMain fails the package if any goroutine outlives the tests: every
// Bus, Relay and Consumer must end all of its goroutines on Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// gocql's session leaves its event debouncer's timer goroutine for
		// a moment after Close.
		goleak.IgnoreTopFunction("github.com/apache/cassandra-gocql-driver/v2.(*eventDebouncer).flusher"),
		goleak.IgnoreAnyFunction("github.com/apache/cassandra-gocql-driver/v2.(*Session).reconnectDownedHosts"),
	)
}

// testConfig is an embedded bus in dir, tuned for tests: the relay deletes
// at once and looks at the outbox often.
func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.Relay.Poll = 50 * time.Millisecond
	cfg.Relay.Sweep = 50 * time.Millisecond
	cfg.Relay.FullScan = time.Second
	cfg.Relay.DeleteDelay = 0
	cfg.Relay.RetryBackoff = 20 * time.Millisecond
	return cfg
}

func openBus(t testing.TB, cfg Config) *Bus {
	t.Helper()
	b, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open bus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func openPebble(t testing.TB, dir string) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

func startRelay(t testing.TB, b *Bus, ob Outbox) *Relay {
	t.Helper()
	r, err := StartRelay(b, ob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// makeEvents returns n events with fresh ids, of a few kinds.
func makeEvents(t testing.TB, g *ids.Generator, n int) []Event {
	t.Helper()
	kinds := []string{"follow", "user.created", "post.liked"}
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{
			ID: g.Next(), Kind: kinds[i%len(kinds)], Actor: int64(i + 1), To: []int64{7},
			Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), At: time.Now().UTC(),
		}
	}
	return evs
}

func generator(t testing.TB, node int64) *ids.Generator {
	t.Helper()
	g, err := ids.New(node)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// appendAll writes evs from 8 concurrent writers, a few events per batch,
// and notifies the relay after each batch.
func appendAll(t testing.TB, ap Appender, r *Relay, evs []Event) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * 3; i < len(evs); i += 8 * 3 {
				if err := ap.Append(context.Background(), evs[i:min(i+3, len(evs))]...); err != nil {
					errs <- err
					return
				}
				if r != nil {
					r.Notify()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func flush(t testing.TB, r *Relay) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		t.Fatalf("flush: %v (stats %+v)", err, r.Stats())
	}
}

// streamCounts reads the whole event stream and counts each Nats-Msg-Id.
func streamCounts(t testing.TB, b *Bus, stream string) map[int64]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := b.JetStream().Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int64]int{}
	if info.State.Msgs == 0 {
		return counts
	}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for got := uint64(0); got < info.State.Msgs; {
		batch, err := oc.Fetch(int(min(1000, info.State.Msgs-got)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			id, err := strconv.ParseInt(m.Headers().Get(jetstream.MsgIDHeader), 10, 64)
			if err != nil {
				t.Fatalf("message without a numeric id: %v", m.Headers())
			}
			counts[id]++
			n++
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("stream reads stopped at %d of %d messages", got, info.State.Msgs)
		}
		got += uint64(n)
	}
	return counts
}

// checkOnce fails unless the stream holds every event of evs exactly once.
func checkOnce(t testing.TB, counts map[int64]int, evs []Event) {
	t.Helper()
	missing, dups := 0, 0
	for _, ev := range evs {
		switch c := counts[ev.ID]; {
		case c == 0:
			missing++
		case c > 1:
			dups++
		}
	}
	if missing > 0 || dups > 0 {
		t.Fatalf("of %d events, %d are missing from the stream and %d are there more than once", len(evs), missing, dups)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pebbleDir(t testing.TB) string { return filepath.Join(t.TempDir(), "store") }
