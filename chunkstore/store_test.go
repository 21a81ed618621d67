package chunkstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"strings"
	"sync"
	"testing"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
)

func TestConfigValidate(t *testing.T) {
	if err := chunkstore.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	bad := chunkstore.Config{ChunkSize: 100, WriteConcurrency: 0, ReadAhead: -1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("a zero config validated")
	}
	for _, want := range []string{"chunk size", "write concurrency", "read ahead", "max file size", "upload TTL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q not reported in %v", want, err)
		}
	}
	if _, err := chunkstore.New(nil, bad); err == nil {
		t.Fatal("New took an invalid config")
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := chunkstore.NewID()
		if len(id) != 26 || !chunkstore.ValidID(id) || strings.ToLower(id) != id {
			t.Fatalf("NewID() = %q", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
	for _, id := range []string{"", "abc", strings.Repeat("a", 25), strings.Repeat("a", 27),
		strings.Repeat("A", 26), strings.Repeat("a", 25) + "1", strings.Repeat("a", 25) + "=", "../../../../etc/passwd/aaaa"} {
		if chunkstore.ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
	}
}

// counting wraps a real backend and records chunk fetches: which ones, and
// the most in flight at once.
type counting struct {
	chunkstore.Backend
	mu       sync.Mutex // guards the fields below
	fetched  []int
	inFlight int
	peak     int
	rowReads int // GetUpload calls
}

func (c *counting) GetChunk(ctx context.Context, id string, idx int) ([]byte, uint32, error) {
	c.mu.Lock()
	c.fetched = append(c.fetched, idx)
	c.inFlight++
	c.peak = max(c.peak, c.inFlight)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight--
		c.mu.Unlock()
	}()
	return c.Backend.GetChunk(ctx, id, idx)
}

func (c *counting) GetUpload(ctx context.Context, id string) (chunkstore.UploadInfo, error) {
	c.mu.Lock()
	c.rowReads++
	c.mu.Unlock()
	return c.Backend.GetUpload(ctx, id)
}

func (c *counting) takeRowReads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.rowReads
	c.rowReads = 0
	return n
}

func (c *counting) reset() (fetched []int, peak int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fetched, peak = c.fetched, c.peak
	c.fetched, c.peak = nil, 0
	return fetched, peak
}

const cs = 256 << 10

func newStore(t *testing.T) (*chunkstore.Store, *counting) {
	t.Helper()
	b, err := embedded.Open(embedded.Config{Dir: t.TempDir(), ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	c := &counting{Backend: b}
	cfg := chunkstore.DefaultConfig()
	cfg.ChunkSize = cs
	s, err := chunkstore.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

// putOpen stores n seeded random bytes and opens them; the returned Reader
// is closed at the test's end (closing twice is harmless).
func putOpen(t *testing.T, s *chunkstore.Store, n int, seed int64) ([]byte, *chunkstore.Reader) {
	t.Helper()
	ctx := context.Background()
	data := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(data)
	f, err := s.Put(ctx, bytes.NewReader(data), chunkstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return data, r
}

// TestReadAtFetchesOnlyTouchedChunks: a range read fetches the chunks it
// covers and nothing else (no prefetch for random access).
func TestReadAtFetchesOnlyTouchedChunks(t *testing.T) {
	s, c := newStore(t)
	data, r := putOpen(t, s, 10*cs+5, 1)
	c.reset()
	buf := make([]byte, 100)
	if _, err := r.ReadAt(buf, 7*cs-50); err != nil || !bytes.Equal(buf, data[7*cs-50:7*cs+50]) {
		t.Fatalf("ReadAt across chunks 6 and 7: %v", err)
	}
	got, _ := c.reset()
	if len(got) != 2 || got[0]+got[1] != 13 {
		t.Fatalf("fetched chunks %v, want 6 and 7", got)
	}
	if n, err := r.ReadAt(buf, int64(len(data)-3)); n != 3 || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt at the end: %d, %v", n, err)
	}
	if got, _ := c.reset(); len(got) != 1 || got[0] != 10 {
		t.Fatalf("fetched chunks %v, want 10", got)
	}
}

// TestSequentialReadPrefetchIsBounded: a front-to-back read fetches every
// chunk once, with at most ReadAhead+1 fetches in flight.
func TestSequentialReadPrefetchIsBounded(t *testing.T) {
	s, c := newStore(t)
	data, r := putOpen(t, s, 20*cs+1, 2)
	c.reset()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes: %v", len(got), err)
	}
	r.Close()
	fetched, peak := c.reset()
	if peak > s.Config().ReadAhead+1 {
		t.Errorf("%d fetches in flight, want at most ReadAhead+1 = %d", peak, s.Config().ReadAhead+1)
	}
	counts := map[int]int{}
	for _, idx := range fetched {
		counts[idx]++
	}
	for idx := 0; idx <= 20; idx++ {
		if counts[idx] != 1 {
			t.Errorf("chunk %d fetched %d times", idx, counts[idx])
		}
	}
	if _, err := r.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}
}

// TestReadFullIsBounded: ReadFull fetches every chunk once, at most
// ReadAhead+1 at a time, and copies what a backend returns in memory of its
// own (this counting wrapper is not a ChunkIntoGetter); a cancelled context
// stops it.
func TestReadFullIsBounded(t *testing.T) {
	s, c := newStore(t)
	ctx := context.Background()
	data, r := putOpen(t, s, 20*cs+1, 3)
	c.reset()
	got := make([]byte, len(data))
	if err := r.ReadFull(ctx, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadFull: equal %v, err %v", bytes.Equal(got, data), err)
	}
	fetched, peak := c.reset()
	if peak > s.Config().ReadAhead+1 || len(fetched) != 21 {
		t.Errorf("%d fetches, %d in flight at most; want 21, at most ReadAhead+1 = %d", len(fetched), peak, s.Config().ReadAhead+1)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.ReadFull(cctx, got); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadFull with a cancelled context: %v", err)
	}
}

// TestOverlappingAppendIsLocked: a second mutating call on an upload while an
// Append is running gets ErrLocked instead of interleaving with it.
func TestOverlappingAppendIsLocked(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 10})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, u.ID, 0, pr, chunkstore.AppendOptions{})
		done <- err
	}()
	// Once the first Append has read a byte it holds the upload.
	if _, err := pw.Write([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, u.ID, 0, strings.NewReader("x"), chunkstore.AppendOptions{}); !errors.Is(err, chunkstore.ErrLocked) {
		t.Fatalf("overlapping append: %v", err)
	}
	if err := s.Terminate(ctx, u.ID); !errors.Is(err, chunkstore.ErrLocked) {
		t.Fatalf("terminate during append: %v", err)
	}
	pw.Write([]byte("67890"))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishUpload(ctx, u.ID); err != nil {
		t.Fatalf("finish after the append: %v", err)
	}
}

// TestPutCancelled: a Put whose context ends mid-stream leaves no file.
func TestPutCancelled(t *testing.T) {
	s, _ := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfter{n: 3 * cs, cancel: cancel}
	if _, err := s.Put(ctx, r, chunkstore.PutOptions{}); err == nil {
		t.Fatal("a cancelled put succeeded")
	}
}

// cancelAfter yields n zero bytes, cancels, then yields forever (a stream
// the context must stop).
type cancelAfter struct {
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	clear(p)
	if c.n -= len(p); c.n < 0 {
		c.cancel()
	}
	return len(p), nil
}

// TestAppendTakesTheCallersRow: an append handed the row its caller has just
// read (tus does) reads it no more; one handed a stale row (another writer
// appended since) judges it again on a fresh read instead of refusing, and
// appends at the right offset.
func TestAppendTakesTheCallersRow(t *testing.T) {
	s, c := newStore(t)
	ctx := context.Background()
	u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 2 * cs, Owner: "o"})
	if err != nil {
		t.Fatal(err)
	}
	first, second := bytes.Repeat([]byte("a"), cs), bytes.Repeat([]byte("b"), cs)
	row, err := s.GetUpload(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	c.takeRowReads()
	nu, err := s.Append(ctx, u.ID, 0, bytes.NewReader(first), chunkstore.AppendOptions{Row: &row})
	if err != nil || nu.Offset != cs {
		t.Fatalf("append with the row: offset %d, %v; want %d", nu.Offset, err, cs)
	}
	if n := c.takeRowReads(); n != 0 {
		t.Fatalf("append handed the row read it %d times more", n)
	}
	stale := row // offset 0: the first append has moved it to cs
	nu, err = s.Append(ctx, u.ID, cs, bytes.NewReader(second), chunkstore.AppendOptions{Row: &stale})
	if err != nil || nu.Offset != 2*cs {
		t.Fatalf("append with a stale row: offset %d, %v; want %d", nu.Offset, err, 2*cs)
	}
	if n := c.takeRowReads(); n != 1 {
		t.Fatalf("append handed a stale row read it %d times, want once", n)
	}
	if _, err := s.FinishUpload(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, append(first, second...)) {
		t.Fatalf("file: %d bytes, %v; want the two appends in order", len(got), err)
	}
}
