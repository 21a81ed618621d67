package pebblekv_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/pebblekv"
)

func open(t *testing.T) (*pebble.DB, *pebblekv.DB) {
	t.Helper()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, pebblekv.New(db, true)
}

type row struct {
	Name string  `json:"name"`
	IDs  []int64 `json:"ids"`
}

// put writes rows (JSON) and marks in one committed batch.
func put(t *testing.T, d *pebblekv.DB, rows map[string]any) {
	t.Helper()
	b := d.NewBatch()
	for k, v := range rows {
		b.Set([]byte(k), v)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestGetRoundTrip(t *testing.T) {
	db, d := open(t)
	want := row{Name: "a", IDs: []int64{1, -2}}
	put(t, d, map[string]any{"k": want})

	var got row
	found, err := d.Get([]byte("k"), &got)
	if err != nil || !found || got.Name != want.Name || len(got.IDs) != 2 || got.IDs[1] != -2 {
		t.Fatalf("Get = %+v, %v, %v; want %+v, true, nil", got, found, err, want)
	}
	if found, err := d.Get([]byte("k"), nil); err != nil || !found {
		t.Fatalf("Get(nil) of a present key = %v, %v", found, err)
	}
	if found, err := d.Get([]byte("missing"), &got); err != nil || found {
		t.Fatalf("Get of a missing key = %v, %v; want false, nil", found, err)
	}
	// The stored bytes are plain JSON: rows written before this package
	// existed read the same.
	if v, closer, err := db.Get([]byte("k")); err != nil {
		t.Fatal(err)
	} else {
		if string(v) != `{"name":"a","ids":[1,-2]}` {
			t.Errorf("stored %s", v)
		}
		closer.Close()
	}
	if err := db.Set([]byte("bad"), []byte("{"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if found, err := d.Get([]byte("bad"), &got); err == nil || !found || !strings.Contains(err.Error(), `decode "bad"`) {
		t.Fatalf("Get of a corrupt row = %v, %v; want true and a decode error", found, err)
	}
}

func TestKeys(t *testing.T) {
	k := pebblekv.Key("c/msg/", 1, -1)
	want := append([]byte("c/msg/"), 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	if !bytes.Equal(k, want) {
		t.Fatalf("Key = %x, want %x", k, want)
	}
	if got := pebblekv.LastID(k); got != -1 {
		t.Fatalf("LastID = %d, want -1", got)
	}
	for _, c := range []struct{ p, end []byte }{
		{[]byte("a/"), []byte("a0")},
		{[]byte{'a', 0xff, 0xff}, []byte("b")},
		{[]byte{0xff, 0xff}, nil},
	} {
		if got := pebblekv.PrefixEnd(c.p); !bytes.Equal(got, c.end) || (c.end == nil) != (got == nil) {
			t.Errorf("PrefixEnd(%x) = %x, want %x", c.p, got, c.end)
		}
	}
	// PrefixEnd does not touch its argument.
	p := []byte("a/")
	pebblekv.PrefixEnd(p)
	if string(p) != "a/" {
		t.Fatalf("PrefixEnd changed its argument to %q", p)
	}
}

func TestScan(t *testing.T) {
	_, d := open(t)
	ctx := context.Background()
	b := d.NewBatch()
	for id := int64(1); id <= 5; id++ {
		b.Set(pebblekv.Key("x/", 7, id), id)
	}
	b.Mark(pebblekv.Key("x/", 6, 9)) // before the range
	b.Mark(pebblekv.Key("x/", 8, 0)) // after it
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	prefix := pebblekv.Key("x/", 7)
	collect := func(reverse bool, lower, upper []byte, stop int) []int64 {
		t.Helper()
		var ids []int64
		fn := func(k, v []byte) (bool, error) {
			if want := string(v); want != string(rune('0'+pebblekv.LastID(k))) {
				t.Errorf("key %x has value %q", k, v)
			}
			ids = append(ids, pebblekv.LastID(k))
			return len(ids) < stop, nil
		}
		scan := d.Scan
		if reverse {
			scan = d.ScanReverse
		}
		if err := scan(ctx, lower, upper, fn); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for _, c := range []struct {
		name         string
		reverse      bool
		lower, upper []byte
		stop         int
		want         []int64
	}{
		{"whole prefix", false, prefix, pebblekv.PrefixEnd(prefix), 99, []int64{1, 2, 3, 4, 5}},
		{"upper excluded", false, pebblekv.Key("x/", 7, 2), pebblekv.Key("x/", 7, 4), 99, []int64{2, 3}},
		{"early stop", false, prefix, pebblekv.PrefixEnd(prefix), 2, []int64{1, 2}},
		{"reverse", true, prefix, pebblekv.PrefixEnd(prefix), 99, []int64{5, 4, 3, 2, 1}},
		{"reverse below", true, prefix, pebblekv.Key("x/", 7, 4), 2, []int64{3, 2}},
		{"empty", false, pebblekv.Key("x/", 7, 6), pebblekv.PrefixEnd(prefix), 99, nil},
	} {
		if got := collect(c.reverse, c.lower, c.upper, c.stop); !equal(got, c.want) {
			t.Errorf("%s: ids %v, want %v", c.name, got, c.want)
		}
	}

	boom := errors.New("boom")
	calls := 0
	err := d.Scan(ctx, prefix, pebblekv.PrefixEnd(prefix), func(_, _ []byte) (bool, error) { calls++; return true, boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("Scan with a failing fn = %v after %d calls; want boom after 1", err, calls)
	}

	n, err := d.Count(ctx, prefix, pebblekv.PrefixEnd(prefix))
	if err != nil || n != 5 {
		t.Fatalf("Count = %d, %v; want 5", n, err)
	}
	ids, err := d.IDs(ctx, prefix)
	if err != nil || !equal(ids, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("IDs = %v, %v; want [1 2 3 4 5]", ids, err)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBatchFirstErrorSticks: after a failed call the batch does nothing
// more, Commit returns that first error and writes nothing.
func TestBatchFirstErrorSticks(t *testing.T) {
	db, d := open(t)
	b := d.NewBatch()
	defer b.Close()
	b.Set([]byte("a"), 1)
	b.Set([]byte("b"), func() {}) // JSON cannot encode a func
	first := b.Err()
	if first == nil {
		t.Fatal("no error from an unencodable value")
	}
	b.Set([]byte("c"), make(chan int)) // another error, which must not replace the first
	b.Mark([]byte("d"))
	b.Delete([]byte("a"))
	b.Event(events.Event{ID: 1, Kind: "k"})
	if err := b.Commit(); err != first {
		t.Fatalf("Commit = %v, want the first error %v", err, first)
	}
	b.Close() // a no-op after Commit
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		t.Errorf("key %q written by a failed batch", it.Key())
	}
}

// TestBatchWrites: each kind of write lands as the stores' layouts expect,
// events at their outbox keys, an event without an id nowhere.
func TestBatchWrites(t *testing.T) {
	db, d := open(t)
	b := d.NewBatch()
	b.Set([]byte("j"), map[string]int{"n": 1})
	b.SetRaw([]byte("r"), []byte{0, 1})
	b.Mark([]byte("m"))
	b.Mark([]byte("gone"))
	b.Delete([]byte("gone"))
	for _, k := range []string{"z/1", "z/2", "z/3"} {
		b.Mark([]byte(k))
	}
	b.DeleteRange([]byte("z/1"), []byte("z/3"))
	b.Event(events.Event{ID: 42, Kind: "k"}, events.Event{})
	if err := b.CommitNoSync(); err != nil {
		t.Fatal(err)
	}
	if err := d.SyncWAL(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"j":                          `{"n":1}`,
		"r":                          "\x00\x01",
		"m":                          "",
		"z/3":                        "",
		string(events.OutboxKey(42)): "",
	}
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	got := map[string]string{}
	for it.First(); it.Valid(); it.Next() {
		got[string(it.Key())] = string(it.Value())
	}
	if len(got) != len(want) {
		t.Errorf("keys %q, want %q", keys(got), keys(want))
	}
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("key %q missing", k)
		case bytes.HasPrefix([]byte(k), []byte(events.OutboxPrefix)):
			if e, err := events.Decode([]byte(g)); err != nil || e.ID != 42 {
				t.Errorf("outbox %q holds %+v, %v", k, e, err)
			}
		case g != v:
			t.Errorf("key %q = %q, want %q", k, g, v)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestStripesExclude: goroutines that lock the same ids never overlap (the
// race detector sees the plain counter), in either call form.
func TestStripesExclude(t *testing.T) {
	var s pebblekv.Stripes
	const workers, rounds = 8, 500
	var one, pair int // guarded by the stripes of 7 and of (3, 9)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				unlock := s.Lock(7)
				one++
				unlock()
				unlock = s.Lock(3, 9)
				pair++
				unlock()
				// Distinct ids may share a stripe, and must still work.
				unlock = s.Lock(int64(w), 1)
				unlock()
			}
		}()
	}
	wg.Wait()
	if one != workers*rounds || pair != workers*rounds {
		t.Fatalf("counts %d and %d, want %d each", one, pair, workers*rounds)
	}
}
