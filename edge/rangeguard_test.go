package edge_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/edgecache"
	"github.com/mediaedge/mediaedge/edgecache/vfs"
)

// TestAbortedMultiRangeKeepsCacheFileOffset is the bug of a multi-range
// request whose client goes away: ServeContent returns without waiting for
// its multipart goroutine, and the cache file went back to the open-file
// cache while that goroutine still had a Read of it to finish. The next
// request took the same *os.File, seeked it, and the leftover Read moved
// the offset they shared: a `Range: bytes=0-99` answer carried bytes from
// elsewhere in the file under a correct Content-Length.
//
// A readTrap on the cache's files makes the interleaving certain instead of
// likely: it stops the multi-range goroutine inside the Read after the one
// whose bytes the handler fails to send, and lets that Read run only when
// another request reads the same handle (or after a while, as a slow disk
// would).
func TestAbortedMultiRangeKeepsCacheFileOffset(t *testing.T) {
	const offA = 100000 // the first Read of the second range
	trap := newReadTrap(offA, 300*time.Millisecond)
	t.Cleanup(trap.releaseA)
	e := newEnv(t, false, func(c *edge.Config, d *edge.Deps) {
		c.CacheRAM = 0 // every hit from the disk, none from memory
		cc := edgecache.DefaultConfig()
		cc.Disks = []edgecache.DiskConfig{{Path: t.TempDir(), Budget: 64 << 20}}
		cc.FS = trapFS{FS: vfs.Default, trap: trap}
		cache, err := edgecache.Open(context.Background(), cc, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cache.Close() })
		d.Cache = cache
	})
	data := randBytes(600<<10, 7)
	info := e.put(t, data)
	path := "/m/" + info.ID

	// The multi-range request's context (done once the server has seen its
	// client go), and the end of its handler.
	multiCtx := make(chan context.Context, 1)
	multiDone := make(chan struct{})
	h := e.srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") == "bytes=0-99,100000-599999" {
			multiCtx <- r.Context()
			defer close(multiDone)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)

	// Fill the cache: one idle open file for the key afterwards.
	if resp, body := do(t, "GET", ts.URL+path, nil, nil); resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("fill: status %d, %d bytes", resp.StatusCode, len(body))
	}
	trap.arm()

	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: edge\r\nRange: bytes=0-99,100000-599999\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	wait(t, trap.hitA, "the multi-range goroutine to read the second range")
	// The client goes (a reset, so that the server's next write fails), and
	// the server sees it before the goroutine hands over its next bytes.
	_ = conn.(*net.TCPConn).SetLinger(0)
	conn.Close()
	ctx := <-multiCtx
	wait(t, ctx.Done(), "the server to see the client go")
	trap.releaseA()
	wait(t, multiDone, "the multi-range handler to return")

	resp, body := do(t, "GET", ts.URL+path, map[string]string{"Range": "bytes=0-99"}, nil)
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !bytes.Equal(body, data[:100]) {
		t.Fatalf("bytes=0-99 after an aborted multi-range request: %d bytes from offset %d of the file, want offset 0",
			len(body), bytes.Index(data, body))
	}
}

func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// trapFS hands out the cache's files wrapped by trap. The wrapper is not an
// *os.File, so bodies go out by Read rather than sendfile, through the same
// shared offset.
type trapFS struct {
	vfs.FS
	trap *readTrap
}

func (fs trapFS) Open(name string) (vfs.File, error) {
	f, err := fs.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return &trapFile{File: f, trap: fs.trap}, nil
}

type trapFile struct {
	vfs.File
	trap *readTrap
}

func (f *trapFile) Read(p []byte) (int, error) {
	off, err := f.File.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	return f.trap.read(f, off, func() (int, error) { return f.File.Read(p) })
}

// readTrap stops the Reads of one handle, once armed:
//
//   - A, the first Read at offA, until releaseA;
//   - B, the next Read of the same handle, until another caller reads that
//     handle (B then reads first, and the other after it) or wait passes.
type readTrap struct {
	offA    int64
	wait    time.Duration
	hitA    chan struct{} // closed when A is stopped
	relA    chan struct{} // closed by releaseA
	relOnce sync.Once
	foreign chan struct{} // closed by the first other Read while B is stopped
	bDone   chan struct{} // closed once B has read

	mu    sync.Mutex // guards armed, stage, file and woken
	armed bool
	stage int       // 0 before A, 1 after A, 2 while B is stopped, 3 after B
	file  *trapFile // the handle A read
	woken bool      // foreign is closed
}

func newReadTrap(offA int64, wait time.Duration) *readTrap {
	return &readTrap{offA: offA, wait: wait, hitA: make(chan struct{}), relA: make(chan struct{}),
		foreign: make(chan struct{}), bDone: make(chan struct{})}
}

func (t *readTrap) arm() {
	t.mu.Lock()
	t.armed = true
	t.mu.Unlock()
}

func (t *readTrap) releaseA() { t.relOnce.Do(func() { close(t.relA) }) }

func (t *readTrap) read(f *trapFile, off int64, read func() (int, error)) (int, error) {
	t.mu.Lock()
	switch {
	case t.armed && t.stage == 0 && off == t.offA:
		t.stage, t.file = 1, f
		t.mu.Unlock()
		close(t.hitA)
		<-t.relA
		return read()
	case t.stage == 1 && f == t.file:
		t.stage = 2
		t.mu.Unlock()
		select {
		case <-t.foreign:
		case <-time.After(t.wait):
		}
		defer func() {
			t.mu.Lock()
			t.stage = 3
			t.mu.Unlock()
			close(t.bDone)
		}()
		return read()
	case t.stage == 2 && f == t.file:
		if !t.woken {
			t.woken = true
			close(t.foreign)
		}
		t.mu.Unlock()
		<-t.bDone
		return read()
	}
	t.mu.Unlock()
	return read()
}
