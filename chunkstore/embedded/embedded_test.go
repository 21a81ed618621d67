package embedded_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
	"github.com/mediaedge/mediaedge/chunkstore/storetest"
)

// TestConformance runs the store suite with chunk bytes written both ways:
// O_DIRECT (the default where the file system takes it) and buffered.
func TestConformance(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		name := map[bool]string{false: "direct", true: "buffered"}[buffered]
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) func() chunkstore.Backend {
				dir := t.TempDir()
				var last *embedded.Backend
				return func() chunkstore.Backend {
					// Pebble locks its folder: a "restart" closes the previous
					// handle (the suite has closed the Store over it already;
					// Close is idempotent).
					if last != nil {
						last.Close()
					}
					b, err := embedded.Open(embedded.Config{Dir: dir, ChunkSize: 256 << 10, Sync: true, BufferedWrites: buffered})
					if err != nil {
						t.Fatal(err)
					}
					if direct, why := b.DirectWrites(); direct == buffered {
						t.Logf("direct writes: %v (%s)", direct, why)
					}
					last = b
					return b
				}
			})
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := embedded.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	err := embedded.Config{ChunkSize: 8 << 20}.Validate()
	if err == nil || !strings.Contains(err.Error(), "Dir") || !strings.Contains(err.Error(), "chunk size") {
		t.Fatalf("want both problems reported at once, got %v", err)
	}
	if _, err := embedded.Open(embedded.Config{}); err == nil {
		t.Fatal("Open without a folder succeeded")
	}
}

// TestPurgeFreesBlob checks that a delete frees the disk space at once: the
// range delete from chunk 0 removes the id's blob file, and a failed Put
// leaves no blob behind.
func TestPurgeFreesBlob(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := embedded.Open(embedded.Config{Dir: dir, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := chunkstore.DefaultConfig()
	cfg.MaxFileSize = 3 << 20
	s, err := chunkstore.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	blobs := func() int {
		n := 0
		filepath.WalkDir(filepath.Join(dir, "blobs"), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	f, err := s.Put(ctx, bytes.NewReader(make([]byte, 2<<20+1)), chunkstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := blobs(); n != 1 {
		t.Fatalf("%d blob files after one put", n)
	}
	if _, err := s.Put(ctx, bytes.NewReader(make([]byte, 4<<20)), chunkstore.PutOptions{}); !errors.Is(err, chunkstore.ErrTooLarge) {
		t.Fatalf("put over the limit: %v", err)
	}
	if n := blobs(); n != 1 {
		t.Fatalf("a failed put left a blob behind: %d blob files", n)
	}
	if err := s.Delete(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close() // waits for the background delete
	if n := blobs(); n != 0 {
		t.Fatalf("%d blob files after delete", n)
	}
	b2, err := embedded.Open(embedded.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	for i := 0; i < 3; i++ {
		if _, _, err := b2.GetChunk(ctx, f.ID, i); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("chunk %d after delete: %v", i, err)
		}
	}
}

// TestStreamingMemoryBounded writes and reads 512 MiB through the store with
// the default 1 MiB chunks and samples the Go heap as the bytes flow (every
// 4 MiB, on both sides: deterministic, no timer): it must stay near
// (WriteConcurrency+ReadAhead+2) chunks plus garbage, far from the file's
// size. A memory bound, not a timing, so a fair pass/fail.
func TestStreamingMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 512 MiB; skipped with -short")
	}
	const (
		size  = 512 << 20
		limit = 64 << 20
		every = 4 << 20
	)
	b, err := embedded.Open(embedded.Config{Dir: t.TempDir(), Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := chunkstore.New(b, chunkstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var peak uint64
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	runtime.GC()
	sample()
	base := peak

	ctx := context.Background()
	src := &pattern{n: size, every: every, sample: sample}
	f, err := s.Put(ctx, src, chunkstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(&sampler{w: h, every: every, sample: sample}, r)
	r.Close()
	if err != nil || n != size {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	if !bytes.Equal(h.Sum(nil), f.SHA256) {
		t.Fatal("the bytes read back differ from the bytes written")
	}
	t.Logf("heap in use: %d MiB before, %d MiB peak while streaming %d MiB", base>>20, peak>>20, size>>20)
	if peak > limit {
		t.Fatalf("peak heap %d MiB while streaming %d MiB, want < %d MiB", peak>>20, size>>20, limit>>20)
	}
}

// pattern is a reader of n deterministic, not-all-equal bytes that calls
// sample every `every` bytes.
type pattern struct {
	n, off, next int64
	every        int64
	sample       func()
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		o := p.off + int64(i)
		b[i] = byte(o ^ o>>8 ^ o>>16)
	}
	p.off += int64(len(b))
	if p.off >= p.next {
		p.sample()
		p.next = p.off + p.every
	}
	return len(b), nil
}

type sampler struct {
	w       io.Writer
	n, next int64
	every   int64
	sample  func()
}

func (s *sampler) Write(b []byte) (int, error) {
	s.n += int64(len(b))
	if s.n >= s.next {
		s.sample()
		s.next = s.n + s.every
	}
	return s.w.Write(b)
}

// benchStore is a durable embedded store with the default configuration.
func benchStore(b *testing.B) *chunkstore.Store {
	be, err := embedded.Open(embedded.Config{Dir: b.TempDir(), Sync: true})
	if err != nil {
		b.Fatal(err)
	}
	s, err := chunkstore.New(be, chunkstore.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkPut writes 32 MiB files (1 MiB chunks, 4 in flight, fsync at
// the commit point).
func BenchmarkPut(b *testing.B) {
	const size = 32 << 20
	s := benchStore(b)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i ^ i>>8)
	}
	ctx := context.Background()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		f, err := s.Put(ctx, bytes.NewReader(data), chunkstore.PutOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Delete(ctx, f.ID); err != nil { // keep the disk from filling
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkReadSequential reads a 64 MiB file front to back (the
// http.ServeContent path: Read with ReadAhead 2, CRC32C checked).
func BenchmarkReadSequential(b *testing.B) {
	const size = 64 << 20
	s := benchStore(b)
	ctx := context.Background()
	f, err := s.Put(ctx, &pattern{n: size, every: size, sample: func() {}}, chunkstore.PutOptions{})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 32<<10) // what io.Copy to a socket uses
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		r, err := s.Open(ctx, f.ID)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
		r.Close()
		if err != nil || n != size {
			b.Fatalf("read %d: %v", n, err)
		}
	}
}

// BenchmarkReadAtRandom reads 64 KiB ranges at random chunk-unaligned
// offsets, as video seeks and Range requests do.
func BenchmarkReadAtRandom(b *testing.B) {
	const size = 64 << 20
	s := benchStore(b)
	ctx := context.Background()
	f, err := s.Put(ctx, &pattern{n: size, every: size, sample: func() {}}, chunkstore.PutOptions{})
	if err != nil {
		b.Fatal(err)
	}
	r, err := s.Open(ctx, f.ID)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 64<<10)
	off := int64(12345)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		off = (off*6364136223846793005 + 1442695040888963407) & (size - 1)
		if _, err := r.ReadAt(buf, min(off, size-int64(len(buf)))); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPingAfterClose(t *testing.T) {
	b, err := embedded.Open(embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(context.Background()); err != nil {
		t.Fatalf("open store: %v", err)
	}
	b.Close()
	if err := b.Ping(context.Background()); err == nil {
		t.Fatal("a closed store answers Ping")
	}
}

// TestLeaseDiesWithTheProcess: a writer lease taken before a restart (a
// crash: the holder never let go) does not block the upload afterwards,
// while the same lease blocks other writers before the restart. Its fence
// survives, so the fence keeps growing.
func TestLeaseDiesWithTheProcess(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *chunkstore.Store {
		b, err := embedded.Open(embedded.Config{Dir: dir, ChunkSize: 256 << 10, Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg := chunkstore.DefaultConfig()
		cfg.ChunkSize = 256 << 10
		s, err := chunkstore.New(b, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 5})
	if err != nil {
		t.Fatal(err)
	}
	held := u
	held.Lease = chunkstore.UploadLease{Holder: "crashed", Until: time.Now().Add(time.Hour), Fence: 42}
	if _, err := s.Backend().UpdateUpload(ctx, held, u.Version); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, u.ID, 0, strings.NewReader("hello"), chunkstore.AppendOptions{}); !errors.Is(err, chunkstore.ErrLocked) {
		t.Fatalf("append beside a live lease: %v, want ErrLocked", err)
	}
	s.Close()
	s = open()
	defer s.Close()
	got, err := s.GetUpload(ctx, u.ID)
	if err != nil || got.Lease.Holder != "" || got.Lease.Fence != 42 {
		t.Fatalf("after the restart the lease reads %+v (%v), want free with fence 42", got.Lease, err)
	}
	nu, err := s.Append(ctx, u.ID, 0, strings.NewReader("hello"), chunkstore.AppendOptions{})
	if err != nil || nu.Offset != 5 || nu.Lease.Fence <= 42 {
		t.Fatalf("append after the restart: %+v %v", nu, err)
	}
}
