package edge

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
)

// errRangeGuardClosed is what a rangeGuard answers once its request is done.
var errRangeGuardClosed = errors.New("edge: content read after its request ended")

// rangeGuard fences http.ServeContent's multi-range goroutine off from
// content its handler is about to close.
//
// For a Range header naming more than one range, ServeContent writes the
// multipart body from a goroutine of its own that Seeks and Reads the
// content into a pipe. When the client goes away, ServeContent closes the
// pipe and returns without waiting for that goroutine, which may still be
// inside a Read or a Seek of the content, or about to start the next one.
// The handler then closes the content:
//
//   - a cache entry's *os.File goes back to the open-file cache
//     (edgecache's fdCache), where another request takes it and seeks it;
//     the old goroutine's leftover Read or Seek then moves the offset the
//     two share, and the second client gets bytes from the wrong place
//     under a correct Content-Length;
//   - a chunk store Reader's Close races the goroutine's Read and Seek.
//
// So for such requests ServeContent reads through a rangeGuard: Read and
// Seek hold mu and fail once closed, and the handler calls close, which
// takes mu (waiting for a Read or Seek in progress: a disk read, or at most
// one chunk fetch) before the content is closed. Single ranges and whole
// bodies get the content itself (see guardRanges): net/http sends an
// *os.File with sendfile, which a wrapper would turn into a copy, and
// ServeContent reads those in the handler's own goroutine, so they are done
// with the content when it returns.
type rangeGuard struct {
	mu     sync.Mutex // guards rs and closed; held across each Read and Seek of rs
	rs     io.ReadSeeker
	closed bool
}

func (g *rangeGuard) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, errRangeGuardClosed
	}
	return g.rs.Read(p)
}

func (g *rangeGuard) Seek(offset int64, whence int) (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, errRangeGuardClosed
	}
	return g.rs.Seek(offset, whence)
}

// close waits for a Read or Seek in progress and fails every later one.
// Call it before closing the content; calling it again does nothing.
func (g *rangeGuard) close() {
	g.mu.Lock()
	g.closed = true
	g.rs = nil
	g.mu.Unlock()
}

// guardRanges returns what to hand http.ServeContent for r: content itself,
// or, when r's Range header names more than one range, a rangeGuard over
// it. release must be called after ServeContent returns and before content
// is closed (defer it after the content's own deferred Close).
func guardRanges(r *http.Request, content io.ReadSeeker) (rs io.ReadSeeker, release func()) {
	if !multiRange(r) {
		return content, func() {}
	}
	g := &rangeGuard{rs: content}
	return g, g.close
}

// multiRange reports whether r's Range header, as ServeContent reads it,
// may name more than one range. A stray comma ("bytes=0-9,") counts: the
// guard then costs a copy instead of sendfile, never a wrong byte.
func multiRange(r *http.Request) bool {
	v := r.Header["Range"] // canonical already; see conditional
	if len(v) == 0 {
		return false
	}
	spec, ok := strings.CutPrefix(v[0], "bytes=")
	return ok && strings.Contains(spec, ",")
}
