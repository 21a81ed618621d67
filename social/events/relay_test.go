package events

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TestRelayRestart stops the relay half-way and starts another: nothing is
// lost, and what the first one published but had not deleted is published
// again and dropped by JetStream as a duplicate.
func TestRelayRestart(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Relay.DeleteDelay = 30 * time.Second // nothing deleted before the restart
	cfg.Relay.MaxInFlight, cfg.Relay.Batch = 32, 16
	b := openBus(t, cfg)
	ob := NewPebbleOutbox(openPebble(t, pebbleDir(t)))
	evs := makeEvents(t, generator(t, 1), 3000)
	appendAll(t, ob, nil, evs)

	r1, err := StartRelay(b, ob)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first relay to publish 500 events", 30*time.Second, func() bool { return r1.Stats().Acked >= 500 })
	r1.Close()
	s1 := r1.Stats()
	if s1.Acked >= int64(len(evs)) {
		t.Fatalf("the first relay finished before it was stopped (%+v)", s1)
	}

	r2 := startRelay(t, b, ob)
	flush(t, r2)
	checkOnce(t, streamCounts(t, b, cfg.Stream), evs)
	s2 := r2.Stats()
	if s2.Duplicates < s1.Acked {
		t.Errorf("second relay saw %d duplicates, want at least the %d the first one left in the outbox", s2.Duplicates, s1.Acked)
	}
	t.Logf("first relay %+v; second %+v", s1, s2)
}

// TestRelayLateCommit commits entries below the relay's cursor, as a
// writer does when it commits after a writer that took a later id: within
// Lookback the sweep finds them, beyond it the full scan.
func TestRelayLateCommit(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Relay.FullScan = time.Hour // only the sweep, until Flush asks for a full scan
	b := openBus(t, cfg)
	ob := NewPebbleOutbox(openPebble(t, pebbleDir(t)))
	r := startRelay(t, b, ob)
	g := generator(t, 1)
	evs := makeEvents(t, g, 50)
	appendAll(t, ob, r, evs)
	flush(t, r)

	// 200ms behind the cursor: within Lookback (1s).
	near := Event{ID: evs[len(evs)-1].ID - 200<<22, Kind: "follow"}
	if err := ob.Append(context.Background(), near); err != nil {
		t.Fatal(err)
	}
	r.Notify()
	waitFor(t, "the sweep to find the entry", 10*time.Second, func() bool { return r.Stats().Acked == 51 })
	if r.Stats().Late != 0 {
		t.Errorf("an entry within Lookback counted late: %+v", r.Stats())
	}

	// A minute behind: only a full scan finds it.
	far := Event{ID: idAt(time.Now().Add(-time.Minute)), Kind: "follow"}
	if err := ob.Append(context.Background(), far); err != nil {
		t.Fatal(err)
	}
	flush(t, r)
	if s := r.Stats(); s.Acked != 52 || s.Late != 1 {
		t.Errorf("stats %+v: want 52 acked, 1 late", s)
	}
	checkOnce(t, streamCounts(t, b, cfg.Stream), append(evs, near, far))
}

// TestRelayDeleteDelay: an acknowledged entry stays in the outbox for
// DeleteDelay (JetStream has not fsynced it yet), then goes.
func TestRelayDeleteDelay(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Relay.DeleteDelay = 2 * time.Second
	b := openBus(t, cfg)
	ob := NewPebbleOutbox(openPebble(t, pebbleDir(t)))
	r := startRelay(t, b, ob)
	evs := makeEvents(t, generator(t, 1), 20)
	appendAll(t, ob, r, evs)
	flush(t, r)
	es, err := ob.Read(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != len(evs) {
		t.Fatalf("%d entries in the outbox right after the acks, want all %d kept", len(es), len(evs))
	}
	waitFor(t, "the delayed delete", 20*time.Second, func() bool {
		es, err := ob.Read(context.Background(), 0, 1)
		return err == nil && len(es) == 0
	})
}

// TestRelayUndecodable: a corrupt outbox entry goes to the dead letters and
// does not hold up the rest.
func TestRelayUndecodable(t *testing.T) {
	cfg := testConfig(t.TempDir())
	b := openBus(t, cfg)
	db := openPebble(t, pebbleDir(t))
	ob := NewPebbleOutbox(db)
	evs := makeEvents(t, generator(t, 1), 10)
	bad := evs[4].ID + 100<<22 // 100ms later: no generated id collides
	if err := db.Set(OutboxKey(bad), []byte("{not json"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	appendAll(t, ob, nil, evs)
	r := startRelay(t, b, ob)
	flush(t, r)
	checkOnce(t, streamCounts(t, b, cfg.Stream), evs)
	dl := streamCounts(t, b, cfg.DeadLetterStream)
	if len(dl) != 1 || dl[bad] != 1 {
		t.Fatalf("dead letters %v, want the corrupt entry once (relay %+v)", dl, r.Stats())
	}
}

// TestRelayStreamGone: while the stream is missing every publish fails; the
// relay keeps the entries and publishes them once it is back.
func TestRelayStreamGone(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Relay.AckTimeout = time.Second
	b := openBus(t, cfg)
	ob := NewPebbleOutbox(openPebble(t, pebbleDir(t)))
	r := startRelay(t, b, ob)
	ctx := context.Background()
	if err := b.JetStream().DeleteStream(ctx, cfg.Stream); err != nil {
		t.Fatal(err)
	}
	evs := makeEvents(t, generator(t, 1), 100)
	appendAll(t, ob, r, evs)
	waitFor(t, "publishes to fail", 20*time.Second, func() bool { return r.Stats().Failed > 0 })
	if err := b.ensureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	flush(t, r)
	checkOnce(t, streamCounts(t, b, cfg.Stream), evs)
}

// TestEventKind: the relay's shortcut reads the kind Encode wrote, and
// falls back to decoding for anything else.
func TestEventKind(t *testing.T) {
	for _, kind := range []string{"follow", "user.created", `we"ird\kind`, "", "ünï"} {
		data, err := Encode(Event{ID: 99, Kind: kind, Actor: 3})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := eventKind(data); err != nil || got != kind {
			t.Errorf("kind of %s: %q, %v", data, got, err)
		}
	}
	if got, err := eventKind([]byte(`{"kind":"x","id":"1"}`)); err != nil || got != "x" {
		t.Errorf("other field order: %q, %v", got, err)
	}
	if _, err := eventKind([]byte(`{not json`)); err == nil {
		t.Error("garbage decoded")
	}
}

// scanFails is an outbox whose reads from the start fail, as a Cassandra
// read past too many tombstones does.
type scanFails struct {
	*PebbleOutbox
	fail atomic.Bool
}

func (o *scanFails) Read(ctx context.Context, after int64, limit int) ([]Entry, error) {
	if after == 0 && o.fail.Load() {
		return nil, errors.New("scanned over too many tombstones")
	}
	return o.PebbleOutbox.Read(ctx, after, limit)
}

// TestRelayFullScanFails: full scans that keep failing are given up, and
// new events still flow.
func TestRelayFullScanFails(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Relay.FullScan = 100 * time.Millisecond
	logs := &lockedBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	b := openBus(t, cfg)
	ob := &scanFails{PebbleOutbox: NewPebbleOutbox(openPebble(t, pebbleDir(t)))}
	r := startRelay(t, b, ob)
	g := generator(t, 1)
	first := makeEvents(t, g, 20)
	appendAll(t, ob, r, first)
	flush(t, r)
	ob.fail.Store(true)
	waitFor(t, "a full scan to be given up", 20*time.Second, func() bool { return strings.Contains(logs.String(), "full scan abandoned") })
	more := makeEvents(t, g, 20)
	appendAll(t, ob, r, more)
	waitFor(t, "new events past failing full scans", 20*time.Second, func() bool { return r.Stats().Acked == 40 })
	checkOnce(t, streamCounts(t, b, cfg.Stream), append(first, more...))
}

type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
