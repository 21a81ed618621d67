package cqlrows_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/cqlrows"
	"github.com/mediaedge/mediaedge/social/events"
)

// TestCassandra is the one entry point that needs a node: a fresh keyspace
// with the schema (for the outbox table) and two scratch tables of its
// own. Without a node it skips, or fails under CI=true.
func TestCassandra(t *testing.T) {
	s, _ := socialtest.Cassandra(t)
	for _, q := range []string{
		`CREATE TABLE cqlrows_rows (k bigint PRIMARY KEY, v text)`,
		`CREATE TABLE cqlrows_locks (k bigint PRIMARY KEY, holder text)`,
	} {
		if err := s.Query(q).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	ids := socialtest.IDs(t)
	key := func() int64 { return ids.Next() }
	t.Run("batch", func(t *testing.T) { testBatch(t, s, key) })
	t.Run("cas", func(t *testing.T) { testCAS(t, s, key) })
	t.Run("read", func(t *testing.T) { testRead(t, s, key) })
	t.Run("locks", func(t *testing.T) { testLocks(t, s, key) })
	t.Run("toggle", func(t *testing.T) { testToggle(t, s, key) })
}

const (
	qPut = `INSERT INTO cqlrows_rows (k, v) VALUES (?, ?)`
	qGet = `SELECT v FROM cqlrows_rows WHERE k = ?`
)

func get(t *testing.T, s *gocql.Session, k int64) (string, bool) {
	t.Helper()
	var v string
	found, err := cqlrows.Read(context.Background(), s, qGet, []any{k}, &v)
	if err != nil {
		t.Fatal(err)
	}
	return v, found
}

func outboxHas(t *testing.T, s *gocql.Session, id int64) bool {
	t.Helper()
	var raw []byte
	found, err := cqlrows.Read(context.Background(), s, `SELECT event FROM outbox WHERE shard = ? AND id = ?`,
		[]any{events.OutboxShard(id), id}, &raw)
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func testBatch(t *testing.T, s *gocql.Session, key func() int64) {
	ctx := context.Background()

	k1, k2, evID := key(), key(), key()
	b := cqlrows.NewBatch(s)
	b.Add(qPut, k1, "a")
	b.AddNonIdempotent(qPut, k2, "b")
	b.Event(events.Event{ID: evID, Kind: "test"}, events.Event{}) // the zero event adds nothing
	if b.Len() != 3 {
		t.Fatalf("Len = %d, want 2 rows and 1 outbox row", b.Len())
	}
	if err := b.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if v, ok := get(t, s, k1); !ok || v != "a" {
		t.Errorf("row 1 = %q %v", v, ok)
	}
	if v, ok := get(t, s, k2); !ok || v != "b" {
		t.Errorf("row 2 = %q %v", v, ok)
	}
	if !outboxHas(t, s, evID) {
		t.Errorf("the event's outbox row is missing")
	}

	// An event that does not encode: the error sticks, nothing is sent.
	k3, bad := key(), key()
	b = cqlrows.NewBatch(s)
	b.Add(qPut, k3, "c")
	b.Event(events.Event{ID: bad, Data: json.RawMessage(`{`)})
	b.Event(events.Event{ID: key(), Kind: "after"})
	if err := b.Exec(ctx); err == nil {
		t.Fatal("a batch with an event that does not encode ran")
	}
	if _, ok := get(t, s, k3); ok {
		t.Error("the data of a failed batch was written")
	}

	// Nothing added: Exec sends nothing.
	if err := cqlrows.NewBatch(s).Exec(ctx); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

func testCAS(t *testing.T, s *gocql.Session, key func() int64) {
	ctx := context.Background()
	const claim = `INSERT INTO cqlrows_rows (k, v) VALUES (?, ?) IF NOT EXISTS`
	k := key()
	applied, err := cqlrows.CAS(ctx, s, gocql.LocalSerial, nil, true, claim, k, "first")
	if err != nil || !applied {
		t.Fatalf("first claim: %v %v", applied, err)
	}
	prev := map[string]any{}
	applied, err = cqlrows.CAS(ctx, s, gocql.Serial, prev, false, claim, k, "second")
	if err != nil || applied {
		t.Fatalf("second claim: %v %v", applied, err)
	}
	if prev["v"] != "first" {
		t.Errorf("prev = %v, want the first claim's row", prev)
	}
	// 0: the session's serial consistency.
	applied, err = cqlrows.CAS(ctx, s, 0, nil, false, `UPDATE cqlrows_rows SET v = ? WHERE k = ? IF v = ?`, "third", k, "first")
	if err != nil || !applied {
		t.Fatalf("update at the session's serial consistency: %v %v", applied, err)
	}
	if v, _ := get(t, s, k); v != "third" {
		t.Errorf("row = %q after the update", v)
	}

	for c, want := range map[gocql.Consistency]bool{gocql.Serial: true, gocql.LocalSerial: true, gocql.LocalQuorum: false, 0: false} {
		if cqlrows.ValidSerial(c) != want {
			t.Errorf("ValidSerial(%v) = %v", c, !want)
		}
	}
}

func testRead(t *testing.T, s *gocql.Session, key func() int64) {
	ctx := context.Background()
	k := key()
	if _, ok := get(t, s, k); ok {
		t.Fatal("a missing row was found")
	}
	if ok, err := cqlrows.Exists(ctx, s, qGet, k); err != nil || ok {
		t.Fatalf("Exists of a missing row: %v %v", ok, err)
	}
	if err := s.Query(qPut, k, "x").ExecContext(ctx); err != nil {
		t.Fatal(err)
	}
	if v, ok := get(t, s, k); !ok || v != "x" {
		t.Errorf("Read = %q %v", v, ok)
	}
	if ok, err := cqlrows.Exists(ctx, s, qGet, k); err != nil || !ok {
		t.Errorf("Exists = %v %v", ok, err)
	}
	if _, err := cqlrows.Read(ctx, s, `SELECT v FROM no_such_table WHERE k = ?`, []any{k}); err == nil {
		t.Error("a read of a missing table did not fail")
	}
}

func testLocks(t *testing.T, s *gocql.Session, key func() int64) {
	ctx := context.Background()
	l := cqlrows.Locks{
		Take:    `INSERT INTO cqlrows_locks (k, holder) VALUES (?, ?) IF NOT EXISTS USING TTL ?`,
		Release: `DELETE FROM cqlrows_locks WHERE k = ? IF holder = ?`,
		TTL:     30 * time.Second, Wait: 50 * time.Millisecond,
		Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	}
	k := key()
	h, err := l.Acquire(ctx, s, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(ctx, s, k); !errors.Is(err, cqlrows.ErrLocked) {
		t.Fatalf("second holder: %v, want ErrLocked", err)
	}
	if _, err := l.Acquire(ctx, s, key()); err != nil {
		t.Fatalf("another key: %v", err)
	}
	row := key()
	b := cqlrows.NewBatch(s)
	b.Add(qPut, row, "locked")
	if err := h.Exec(ctx, b); err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, s, row); v != "locked" {
		t.Errorf("the batch under the lock wrote %q", v)
	}
	h.Release(ctx)
	h, err = l.Acquire(ctx, s, k)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}

	// An error before the batch was sent releases as usual.
	b = cqlrows.NewBatch(s)
	b.Event(events.Event{ID: key(), Data: json.RawMessage(`{`)})
	if err := h.Exec(ctx, b); err == nil {
		t.Fatal("a batch with a bad event ran")
	}
	h.Release(ctx)
	h, err = l.Acquire(ctx, s, k)
	if err != nil {
		t.Fatalf("after an unsent batch: %v", err)
	}

	// A batch that failed on the server may still be applied by the
	// batchlog: the lock is kept until it lapses.
	b = cqlrows.NewBatch(s)
	b.Add(`INSERT INTO no_such_table (k) VALUES (?)`, key())
	if err := h.Exec(ctx, b); err == nil {
		t.Fatal("a batch on a missing table ran")
	}
	h.Release(ctx)
	if _, err := l.Acquire(ctx, s, k); !errors.Is(err, cqlrows.ErrLocked) {
		t.Fatalf("after a failed batch: %v, want the lock kept (ErrLocked)", err)
	}

	// A wait ends with the context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := cqlrows.Sleep(cctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep after cancel: %v", err)
	}
	if err := cqlrows.Sleep(ctx, time.Millisecond); err != nil {
		t.Errorf("Sleep: %v", err)
	}
	if d := cqlrows.Jitter(100 * time.Millisecond); d < 50*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("Jitter(100ms) = %v", d)
	}
}

func testToggle(t *testing.T, s *gocql.Session, key func() int64) {
	ctx := context.Background()
	k := key()
	for i, c := range []struct {
		on, want bool
		stmt     string
		args     []any
	}{
		{true, true, qPut, []any{k, "on"}},                               // absent: written
		{true, false, qPut, []any{k, "again"}},                           // present: nothing
		{false, true, `DELETE FROM cqlrows_rows WHERE k = ?`, []any{k}},  // present: deleted
		{false, false, `DELETE FROM cqlrows_rows WHERE k = ?`, []any{k}}, // absent: nothing
	} {
		ev := key()
		changed, err := cqlrows.Toggle(ctx, s, c.on, qGet, []any{k}, c.stmt, c.args, events.Event{ID: ev, Kind: "test"})
		if err != nil || changed != c.want {
			t.Fatalf("step %d: changed %v, %v; want %v", i, changed, err, c.want)
		}
		if outboxHas(t, s, ev) != c.want {
			t.Errorf("step %d: event written = %v, want %v", i, !c.want, c.want)
		}
	}
	if v, ok := get(t, s, k); ok {
		t.Errorf("row = %q after the delete", v)
	}
}
