package edgecache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestFillThenHit(t *testing.T) {
	dir := t.TempDir()
	c := mustOpen(t, testConfig(DiskConfig{Path: dir, Budget: 1 << 30}))
	var f filler
	ctx := context.Background()
	if _, err := c.Get(ctx, "a"); !errors.Is(err, ErrMiss) {
		t.Fatalf("Get of a new key: %v, want ErrMiss", err)
	}
	getOrFillOK(t, c, &f, "a")
	e, err := c.Get(ctx, "a")
	if err != nil {
		t.Fatalf("Get after fill: %v", err)
	}
	defer e.Close()
	// On a real disk the entry is the *os.File itself: http.ServeContent reaches sendfile.
	if _, ok := e.File.(*os.File); !ok {
		t.Errorf("Entry.File is %T, want *os.File", e.File)
	}
	if e.Meta.ContentType != "application/octet-stream" || e.Meta.ETag == "" || e.ModTime.IsZero() {
		t.Errorf("meta not kept: %+v %v", e.Meta, e.ModTime)
	}
	if got := readEntry(t, e); !bytes.Equal(got, body("a")) {
		t.Error("hit content differs")
	}
	if f.calls.Load() != 1 {
		t.Errorf("fill ran %d times", f.calls.Load())
	}
	st := c.Stats()[0]
	if st.Entries != 1 || st.Bytes != int64(len(body("a"))) || st.Hits != 1 || st.Misses != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestFillErrorIsReturnedAndNothingCached(t *testing.T) {
	c := mustOpen(t, memConfig(DiskConfig{Path: "/c", Budget: 1 << 20}))
	boom := errors.New("origin said no")
	_, err := c.GetOrFill(context.Background(), "k", func(_ context.Context, w io.Writer) (Meta, error) {
		w.Write([]byte("partial"))
		return Meta{}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("GetOrFill: %v, want the fill's error", err)
	}
	if _, err := c.Get(context.Background(), "k"); !errors.Is(err, ErrMiss) {
		t.Fatalf("a failed fill left an entry: %v", err)
	}
	if st := c.Stats()[0]; st.State != Online {
		t.Errorf("a fill error counted against the disk: %v", st.State)
	}
}

func TestSingleFlight(t *testing.T) {
	c := mustOpen(t, memConfig(DiskConfig{Path: "/c", Budget: 1 << 30}))
	var calls sync.WaitGroup
	gate := make(chan struct{})
	var f filler
	slow := func(ctx context.Context, w io.Writer) (Meta, error) {
		<-gate
		return f.fill("one")(ctx, w)
	}
	const n = 50
	calls.Add(n)
	var started sync.WaitGroup
	started.Add(n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			defer calls.Done()
			started.Done()
			e, err := c.GetOrFill(context.Background(), "one", slow)
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(e.File)
			e.Close()
			if err != nil || !bytes.Equal(b, body("one")) {
				errs <- fmt.Errorf("content differs (%v)", err)
			}
		}()
	}
	started.Wait()
	close(gate)
	calls.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := f.calls.Load(); got != 1 {
		t.Fatalf("fill ran %d times for 50 concurrent callers, want 1", got)
	}
}

func TestRestartRebuildsIndexAndVerifiesOnFirstOpen(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	cfg := testConfig(DiskConfig{Path: dirs[0], Budget: 1 << 30}, DiskConfig{Path: dirs[1], Budget: 1 << 30})
	c, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var f filler
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = fmt.Sprintf("img/%d?w=%d", i, 100+i)
		getOrFillOK(t, c, &f, keys[i])
	}
	for i := 0; i < 10; i++ {
		e, _ := c.Get(context.Background(), keys[i])
		e.Close()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Damage one entry: same length, one byte flipped. Truncate another.
	c2 := mustOpen(t, cfg)
	bad, short := c2.index[keys[3]], c2.index[keys[4]]
	if bad == nil || short == nil {
		t.Fatal("index not rebuilt")
	}
	flip(t, bad.d.bodyPath(bad.name))
	if err := os.Truncate(short.d.bodyPath(short.name), 10); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		e, err := c2.Get(context.Background(), k)
		if i == 3 || i == 4 {
			if !errors.Is(err, ErrMiss) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("damaged entry %d: Get = %v, want ErrMiss and ErrCorrupt", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("after restart Get(%q): %v", k, err)
		}
		if got := readEntry(t, e); !bytes.Equal(got, body(k)) {
			t.Fatalf("after restart %q differs", k)
		}
		e.Close()
	}
	// Damaged entries were dropped from disk and are refilled.
	if _, err := os.Stat(bad.d.bodyPath(bad.name)); !os.IsNotExist(err) {
		t.Errorf("corrupt body still on disk: %v", err)
	}
	calls := f.calls.Load()
	getOrFillOK(t, c2, &f, keys[3])
	getOrFillOK(t, c2, &f, keys[4])
	if f.calls.Load() != calls+2 {
		t.Errorf("damaged entries not refilled")
	}
	// Hit counters survived the restart through stats.json.
	var hits int64
	for _, s := range c2.Stats() {
		hits += s.Hits
	}
	if hits != 10+28 { // fills are not hits; 10 before the restart, 28 after
		t.Errorf("hits %d: counters not persisted across restart", hits)
	}
}

func flip(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEvictionByBytesRemovesFiles(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []Policy{PolicyLRU, PolicyS3FIFO} {
		t.Run(string(p), func(t *testing.T) {
			cfg := testConfig(DiskConfig{Path: filepath.Join(dir, string(p)), Budget: 250 << 10})
			cfg.CreateDirs = true
			cfg.Policy = p
			c := mustOpen(t, cfg)
			var f filler
			for i := 0; i < 40; i++ {
				getOrFillOK(t, c, &f, fmt.Sprintf("k%d", i))
			}
			st := c.Stats()[0]
			if st.Bytes > 250<<10 || st.Entries == 0 || st.Entries >= 40 {
				t.Fatalf("stats after overfilling: %+v", st)
			}
			var onDisk int
			var bytesOnDisk int64
			filepath.Walk(cfg.Disks[0].Path, func(p string, fi os.FileInfo, err error) error {
				if err == nil && fi.Mode().IsRegular() && filepath.Ext(p) == "" && filepath.Base(filepath.Dir(p)) != tmpDir {
					onDisk++
					bytesOnDisk += fi.Size()
				}
				return nil
			})
			if onDisk != st.Entries || bytesOnDisk != st.Bytes {
				t.Fatalf("disk holds %d bodies/%d bytes, index %d/%d", onDisk, bytesOnDisk, st.Entries, st.Bytes)
			}
		})
	}
}

func TestOpenEntrySurvivesPurgeAndFilesAreReused(t *testing.T) {
	c := mustOpen(t, testConfig(DiskConfig{Path: t.TempDir(), Budget: 1 << 30}))
	var f filler
	getOrFillOK(t, c, &f, "abc/w=1")
	getOrFillOK(t, c, &f, "abc.webp")
	getOrFillOK(t, c, &f, "abcd")
	before := c.OpenFiles()
	for i := 0; i < 5; i++ {
		e, err := c.Get(context.Background(), "abcd")
		if err != nil {
			t.Fatal(err)
		}
		readEntry(t, e)
		e.Close()
	}
	if after := c.OpenFiles(); after.Reuses-before.Reuses < 4 || after.Idle == 0 {
		t.Errorf("open files not reused: before %+v after %+v", before, after)
	}
	held, err := c.Get(context.Background(), "abc/w=1")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Purge(context.Background(), MatchID("abc"))
	if err != nil || rep.Entries != 2 {
		t.Fatalf("Purge(MatchID) = %+v, %v; want 2 entries", rep, err)
	}
	if got := readEntry(t, held); !bytes.Equal(got, body("abc/w=1")) {
		t.Fatal("an entry open during purge is no longer readable")
	}
	held.Close()
	if _, err := c.Get(context.Background(), "abc.webp"); !errors.Is(err, ErrMiss) {
		t.Fatalf("purged key still served: %v", err)
	}
	if _, err := c.Get(context.Background(), "abcd"); err != nil {
		t.Fatalf("MatchID(abc) purged abcd: %v", err)
	}
	if rep, _ := c.Purge(context.Background(), MatchAll()); rep.Entries != 1 {
		t.Fatalf("purge all removed %d", rep.Entries)
	}
}

func TestTooLargeIsServedUncached(t *testing.T) {
	c := mustOpen(t, memConfig(DiskConfig{Path: "/c", Budget: 1000}))
	var f filler
	_, err := c.GetOrFill(context.Background(), "big", f.fill("big"))
	if len(body("big")) > 1000 && !errors.Is(err, ErrTooLarge) {
		t.Fatalf("GetOrFill of an entry over the budget: %v, want ErrTooLarge", err)
	}
}
