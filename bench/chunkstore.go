package bench

// Chunk-store benchmark: a file written and read through chunkstore.Store
// against the simplest code that moves the same bytes — a raw gocql loop
// writing and reading the same 1 MiB blobs at the same concurrency (Cassandra),
// and a plain file written with fsync and read back (embedded). Then peak RSS
// while a large file streams through the store, which must stay flat.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
	"github.com/mediaedge/mediaedge/schema"
)

// ChunkstoreConfig configures the chunk-store benchmark.
type ChunkstoreConfig struct {
	// Size of the file written and read in the throughput runs.
	Size int64
	// RSSSize of the file streamed while peak memory is sampled, through each
	// store measured (embedded, and Cassandra when hosts are given); 0 skips it.
	RSSSize int64
	// Concurrency is chunks in flight, for the store and the raw loop alike.
	Concurrency int
	// CassandraHosts; empty skips the Cassandra half.
	CassandraHosts []string
	// Dir for the embedded store and the plain file; "" is a temp folder.
	Dir string
}

// DefaultChunkstoreConfig is the benchmark.
func DefaultChunkstoreConfig() ChunkstoreConfig {
	return ChunkstoreConfig{Size: 256 << 20, RSSSize: 2 << 30, Concurrency: 4, CassandraHosts: []string{"127.0.0.1"}}
}

// ChunkstoreRow is one measured pair.
type ChunkstoreRow struct {
	Backend, Op       string
	OursMBps, RefMBps float64
}

// Ratio is ours over the reference.
func (r ChunkstoreRow) Ratio() float64 { return r.OursMBps / r.RefMBps }

// RSSRow is the memory of one store while RSSSize bytes streamed through it.
type RSSRow struct {
	Backend string
	// BaseRSS is the process's resident set (bytes) after a GC, before the
	// file; PeakRSSWrite and PeakRSSRead the highest sampled while it was
	// written and read back.
	BaseRSS, PeakRSSWrite, PeakRSSRead int64
	// PeakHeap is the highest runtime HeapInuse sampled during both phases: the
	// part of RSS that is ours rather than the driver's or the allocator's slack.
	PeakHeap uint64
}

// ChunkstoreReport is the result.
type ChunkstoreReport struct {
	Rows []ChunkstoreRow
	RSS  []RSSRow
}

const mib = 1 << 20

// genReader yields n deterministic, incompressible-looking bytes without
// holding them: one random 1 MiB block, its first 8 bytes stamped with the
// block number so no two chunks are equal.
type genReader struct {
	block []byte
	n     int64
	off   int64
}

func newGen(n int64) *genReader {
	b := make([]byte, mib)
	_, _ = rand.Read(b)
	return &genReader{block: b, n: n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	total := 0
	for len(p) > 0 && g.off < g.n {
		i := g.off % mib
		if i == 0 {
			binary.BigEndian.PutUint64(g.block, uint64(g.off/mib))
		}
		k := copy(p, g.block[i:])
		if rem := g.n - g.off; int64(k) > rem {
			k = int(rem)
		}
		p = p[k:]
		g.off += int64(k)
		total += k
	}
	return total, nil
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / mib / d.Seconds() }

// Chunkstore runs the benchmark and prints a table to out.
func Chunkstore(ctx context.Context, cfg ChunkstoreConfig, out io.Writer) (ChunkstoreReport, error) {
	var rep ChunkstoreReport
	if cfg.Concurrency < 1 {
		return rep, fmt.Errorf("concurrency %d: want at least 1", cfg.Concurrency)
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "mediaedge-bench-")
		if err != nil {
			return rep, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	scfg := chunkstore.DefaultConfig()
	// Same chunks in flight as the reference loops: Concurrency writes, and a
	// reader holds the chunk being read plus ReadAhead fetches.
	scfg.WriteConcurrency = cfg.Concurrency
	scfg.ReadAhead = min(cfg.Concurrency-1, 16)
	if cfg.Size > scfg.MaxFileSize || cfg.RSSSize > scfg.MaxFileSize {
		scfg.MaxFileSize = max(cfg.Size, cfg.RSSSize)
	}

	// Embedded store vs a plain file with fsync.
	eb, err := embedded.Open(embedded.Config{Dir: filepath.Join(dir, "store"), Sync: true, ChunkSize: scfg.ChunkSize})
	if err != nil {
		return rep, err
	}
	es, err := chunkstore.New(eb, scfg)
	if err != nil {
		return rep, err
	}
	defer es.Close()
	w, r, err := storeRun(ctx, es, cfg.Size)
	if err != nil {
		return rep, fmt.Errorf("embedded: %w", err)
	}
	fw, fr, err := fileRun(filepath.Join(dir, "plain.bin"), cfg.Size)
	if err != nil {
		return rep, fmt.Errorf("plain file: %w", err)
	}
	rep.Rows = append(rep.Rows,
		ChunkstoreRow{"embedded (vs plain file+fsync)", "write", w, fw},
		ChunkstoreRow{"embedded (vs plain file+fsync)", "read", r, fr})

	if cfg.RSSSize > 0 {
		row, err := rssRun(ctx, "embedded", es, cfg.RSSSize)
		if err != nil {
			return rep, fmt.Errorf("embedded: %w", err)
		}
		rep.RSS = append(rep.RSS, row)
	}

	if len(cfg.CassandraHosts) > 0 {
		rows, rss, err := cassandraRun(ctx, cfg, scfg)
		if err != nil {
			return rep, fmt.Errorf("cassandra: %w", err)
		}
		rep.Rows = append(rep.Rows, rows...)
		rep.RSS = append(rep.RSS, rss...)
	}
	printChunkstore(out, cfg, rep)
	return rep, nil
}

func printChunkstore(out io.Writer, cfg ChunkstoreConfig, rep ChunkstoreReport) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "chunkstore: %d MiB file, concurrency %d\n", cfg.Size/mib, cfg.Concurrency)
	fmt.Fprintln(tw, "backend\top\tours MB/s\treference MB/s\tratio")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.2fx\n", r.Backend, r.Op, r.OursMBps, r.RefMBps, r.Ratio())
	}
	tw.Flush()
	if len(rep.RSS) > 0 {
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "\npeak memory streaming a %d MiB file (MiB)\n", cfg.RSSSize/mib)
		fmt.Fprintln(tw, "backend\tRSS before\tRSS writing\tRSS reading\tGo heap in use")
		for _, r := range rep.RSS {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", r.Backend, r.BaseRSS/mib, r.PeakRSSWrite/mib, r.PeakRSSRead/mib, r.PeakHeap/mib)
		}
	}
	tw.Flush()
}

func storeRun(ctx context.Context, s *chunkstore.Store, size int64) (wMBps, rMBps float64, err error) {
	start := time.Now()
	info, err := s.Put(ctx, newGen(size), chunkstore.PutOptions{})
	if err != nil {
		return 0, 0, err
	}
	wMBps = mbps(size, time.Since(start))
	start = time.Now()
	f, err := s.Open(ctx, info.ID)
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, f)
	f.Close()
	if err != nil {
		return 0, 0, err
	}
	if n != size {
		return 0, 0, fmt.Errorf("read %d bytes, want %d", n, size)
	}
	rMBps = mbps(size, time.Since(start))
	return wMBps, rMBps, s.Delete(ctx, info.ID)
}

func fileRun(path string, size int64) (wMBps, rMBps float64, err error) {
	defer os.Remove(path)
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	if _, err := io.Copy(f, newGen(size)); err != nil {
		f.Close()
		return 0, 0, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, 0, err
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	wMBps = mbps(size, time.Since(start))
	start = time.Now()
	f, err = os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	if _, err := io.Copy(io.Discard, f); err != nil {
		return 0, 0, err
	}
	return wMBps, mbps(size, time.Since(start)), nil
}

// rssRun streams size bytes from the generator into s and back out while
// sampling memory; the file is never held whole, so the peaks must not grow
// with size.
func rssRun(ctx context.Context, backend string, s *chunkstore.Store, size int64) (RSSRow, error) {
	row := RSSRow{Backend: backend}
	runtime.GC()
	debug.FreeOSMemory() // the throughput run's garbage must not count as our base
	row.BaseRSS = rss()
	var peakHeap atomic.Uint64
	var id string
	var err error
	row.PeakRSSWrite, err = sampleRSS(&peakHeap, func() error {
		info, err := s.Put(ctx, newGen(size), chunkstore.PutOptions{})
		id = info.ID
		return err
	})
	if err != nil {
		return row, fmt.Errorf("rss write: %w", err)
	}
	row.PeakRSSRead, err = sampleRSS(&peakHeap, func() error {
		f, err := s.Open(ctx, id)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(io.Discard, f)
		if err == nil && n != size {
			err = fmt.Errorf("read %d bytes, want %d", n, size)
		}
		return err
	})
	if err != nil {
		return row, fmt.Errorf("rss read: %w", err)
	}
	row.PeakHeap = peakHeap.Load()
	return row, s.Delete(ctx, id)
}

func cassandraRun(ctx context.Context, cfg ChunkstoreConfig, scfg chunkstore.Config) ([]ChunkstoreRow, []RSSRow, error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ks := "bench_" + hex.EncodeToString(b)
	ccfg := cassandra.DefaultConfig()
	ccfg.Hosts, ccfg.Keyspace = cfg.CassandraHosts, ""
	admin, err := cassandra.NewSession(ccfg)
	if err != nil {
		return nil, nil, err
	}
	defer admin.Close()
	sc := schema.DefaultConfig()
	sc.Keyspace = ks
	if _, err := schema.Apply(ctx, admin, sc); err != nil {
		return nil, nil, err
	}
	defer func() { _ = schema.Drop(context.WithoutCancel(ctx), admin, ks) }()
	ccfg.Keyspace = ks
	cb, err := cassandra.Open(ctx, ccfg)
	if err != nil {
		return nil, nil, err
	}
	s, err := chunkstore.New(cb, scfg)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	// Reference first, then ours, then the reference again: report the better of
	// the two reference runs so warm-up (JIT, memtable growth) favours neither.
	rw1, rr1, err := rawLoop(ctx, cb.Session(), cfg.Size, cfg.Concurrency)
	if err != nil {
		return nil, nil, fmt.Errorf("raw loop: %w", err)
	}
	w, r, err := storeRun(ctx, s, cfg.Size)
	if err != nil {
		return nil, nil, err
	}
	rw2, rr2, err := rawLoop(ctx, cb.Session(), cfg.Size, cfg.Concurrency)
	if err != nil {
		return nil, nil, fmt.Errorf("raw loop: %w", err)
	}
	rows := []ChunkstoreRow{
		{"cassandra (vs raw gocql loop)", "write", w, max(rw1, rw2)},
		{"cassandra (vs raw gocql loop)", "read", r, max(rr1, rr2)},
	}
	if cfg.RSSSize <= 0 {
		return rows, nil, nil
	}
	rss, err := rssRun(ctx, "cassandra", s, cfg.RSSSize)
	if err != nil {
		return nil, nil, err
	}
	return rows, []RSSRow{rss}, nil
}

// rawLoop is the reference: the same 1 MiB blobs into the same table shape at
// the same concurrency, with nothing but gocql in the way.
func rawLoop(ctx context.Context, s *gocql.Session, size int64, conc int) (wMBps, rMBps float64, err error) {
	n := int((size + mib - 1) / mib)
	id := "raw-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	blob := make([]byte, mib)
	_, _ = rand.Read(blob)
	run := func(fn func(i int) error) (time.Duration, error) {
		start := time.Now()
		g, gctx := errgroup.WithContext(ctx)
		var next atomic.Int64
		for w := 0; w < conc; w++ {
			g.Go(func() error {
				for {
					i := int(next.Add(1) - 1)
					if i >= n || gctx.Err() != nil {
						return gctx.Err()
					}
					if err := fn(i); err != nil {
						return err
					}
				}
			})
		}
		err := g.Wait()
		return time.Since(start), err
	}
	wd, err := run(func(i int) error {
		return s.Query(`INSERT INTO chunks (id, idx, data, crc32c) VALUES (?, ?, ?, ?)`, id, i, blob, 0).
			Idempotent(true).ExecContext(ctx)
	})
	if err != nil {
		return 0, 0, err
	}
	// The raw reader, like ours, reads in order with conc requests in flight.
	var mu sync.Mutex
	var total int64
	rd, err := run(func(i int) error {
		var data []byte
		var crc int32
		if err := s.Query(`SELECT data, crc32c FROM chunks WHERE id = ? AND idx = ?`, id, i).
			Idempotent(true).ScanContext(ctx, &data, &crc); err != nil {
			return err
		}
		mu.Lock()
		total += int64(len(data))
		mu.Unlock()
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	// No clean-up: the bench keyspace is dropped at the end of the run.
	return mbps(int64(n)*mib, wd), mbps(total, rd), nil
}

// rss is the process's current resident set in bytes. VmHWM would be simpler
// but is a high-water mark for the whole process life, so it cannot tell one
// phase from the one before: sampleRSS polls VmRSS instead.
func rss() int64 { return procStatus(os.Getpid(), "VmRSS:") }

// sampleRSS runs fn while sampling RSS and the Go heap every 20 ms.
func sampleRSS(peakHeap *atomic.Uint64, fn func() error) (int64, error) {
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			if r := rss(); r > peak.Load() {
				peak.Store(r)
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err := fn()
	close(done)
	<-stopped
	if peak.Load() == 0 {
		return 0, errors.Join(err, errors.New("no RSS samples (is /proc mounted?)"))
	}
	return peak.Load(), err
}
