package diskio

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// TestCalls checks each call's effect and errors, and that the syscall ran
// on a thread other than the calling goroutine's (the point of the package).
func TestCalls(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self := int64(unix.Gettid())

	data := bytes.Repeat([]byte("mediaedge"), 100_000)
	if n, err := Pwrite(f.Fd(), data, 10); err != nil || n != len(data) {
		t.Fatalf("Pwrite: %d, %v", n, err)
	}
	if tid := lastTID.Load(); tid == 0 || tid == self {
		t.Fatalf("the write ran on thread %d, the caller is %d: want another thread", tid, self)
	}
	if err := Fdatasync(f.Fd()); err != nil {
		t.Fatal(err)
	}
	if err := Fsync(f.Fd()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || len(got) != 10+len(data) || !bytes.Equal(got[10:], data) || !bytes.Equal(got[:10], make([]byte, 10)) {
		t.Fatalf("file holds %d bytes, want 10 zeros then the %d written (%v)", len(got), len(data), err)
	}

	ro, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	fd := ro.Fd()
	if _, err := Pwrite(fd, data, 0); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Pwrite to a read-only file: %v, want EBADF", err)
	}
	ro.Close()
	// Not fd itself: the pipe of the call may reuse its number.
	if err := Fsync(1 << 20); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Fsync of no descriptor: %v, want EBADF", err)
	}
	if err := sleep(1); err != nil {
		t.Fatal(err)
	}
	if n := Fallbacks(); n != 0 {
		t.Fatalf("%d calls fell back to the caller's thread", n)
	}
}

// TestManyAtOnce: concurrent calls each get their own answer.
func TestManyAtOnce(t *testing.T) {
	dir := t.TempDir()
	errs := make(chan error, 32)
	for i := range 32 {
		go func() {
			f, err := os.Create(filepath.Join(dir, string(rune('a'+i))))
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			want := bytes.Repeat([]byte{byte(i)}, 4096+i)
			if _, err := Pwrite(f.Fd(), want, 0); err != nil {
				errs <- err
				return
			}
			if err := Fdatasync(f.Fd()); err != nil {
				errs <- err
				return
			}
			got, err := os.ReadFile(f.Name())
			if err == nil && !bytes.Equal(got, want) {
				err = errors.New("read back other bytes")
			}
			errs <- err
		}()
	}
	for range 32 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestPebbleFS: a Pebble database over FS keeps synced writes across a
// reopen, and its syncs are ours.
func TestPebbleFS(t *testing.T) {
	dir := t.TempDir()
	open := func() *pebble.DB {
		db, err := pebble.Open(dir, &pebble.Options{FS: FS(vfs.Default)})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	lastTID.Store(0)
	if err := db.Set([]byte("k"), []byte("v"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if lastTID.Load() == 0 {
		t.Fatal("a synced commit made no sync through diskio")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open()
	defer db.Close()
	v, closer, err := db.Get([]byte("k"))
	if err != nil || string(v) != "v" {
		t.Fatalf("after reopen: %q, %v", v, err)
	}
	closer.Close()
}

// TestWorkers: idle workers leave, so an idle process keeps no threads;
// calls run on worker threads that are reused; one more is started only
// when every idle one already has a call waiting.
func TestWorkers(t *testing.T) {
	setIdle(1)
	defer setIdle(10)
	waitWorkers := func(what string, ok func(int) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok(workers()) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if w := workers(); !ok(w) {
			t.Fatalf("%d workers: want %s", w, what)
		}
	}
	waitWorkers("none after a second without work", func(w int) bool { return w == 0 })

	for i := range 3 {
		if i > 0 { // the worker is back to waiting (after its answer)
			waitWorkers("the one, idle", func(w int) bool { return w == 1 && idle() == 1 })
		}
		if err := sleep(1); err != nil {
			t.Fatal(err)
		}
		if w := workers(); w != 1 {
			t.Fatalf("call %d in turn: %d workers, want the one reused", i+1, w)
		}
	}

	// 16 calls that overlap get 16 workers: none waits behind another.
	waitWorkers("the one, idle", func(w int) bool { return w == 1 && idle() == 1 })
	const n = 16
	errs := make(chan error, n)
	for range n {
		go func() { errs <- sleep(300 * time.Millisecond) }()
	}
	waitWorkers("one per overlapping call", func(w int) bool { return w >= n })
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// At most one more: the reused worker may still have been on its way
	// back to waiting (after its answer) when the first call came.
	if w := workers(); w > n+1 {
		t.Errorf("%d workers for %d overlapping calls", w, n)
	}
	if n := Fallbacks(); n != 0 {
		t.Errorf("%d calls fell back to the caller's thread", n)
	}
}
