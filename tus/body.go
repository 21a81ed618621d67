package tus

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/httpbody"
	"github.com/mediaedge/mediaedge/httperr"
)

// Body failures, as the client sees them. A body that ends early is the
// client's fault (400); the bytes that did arrive are kept unless the request
// carried a checksum. An interrupted PATCH (another request took the upload
// over: a HEAD or PATCH of a client that resumed) is 409, not tusd's 400:
// like an offset that moved, it tells a client still listening to learn the
// offset again and go on, and tus clients retry 409 where they give up on
// 400.
var (
	errInterrupted = httperr.New(http.StatusConflict, "upload_interrupted",
		"another request for this upload took it over; resume from Upload-Offset")
	errBodyTimeout = httperr.New(http.StatusRequestTimeout, "body_read_timeout",
		"no body bytes arrived in time; the bytes received were kept, resume from Upload-Offset")
	errBodyTooSlow = httperr.New(http.StatusRequestTimeout, "body_too_slow",
		"the body arrived slower than the minimum rate; the bytes received were kept, resume from Upload-Offset")
	errBodyTooLarge = httperr.New(http.StatusRequestEntityTooLarge, "too_large",
		"the body exceeds the upload's length or the size limit")
	errShuttingDown = &httperr.Error{Status: http.StatusServiceUnavailable, Code: "shutting_down",
		Message: "the server is shutting down; resume from Upload-Offset", RetryAfter: 2}
)

// errOverflow is what the store reads when a body goes past its limit. It
// is chunkstore.ErrTooLarge, not the 413 (recorded for the answer), because
// the store keeps what arrived for any other read error: a chunked body
// (no Content-Length, so checkFits could not refuse it up front) one byte
// too long would otherwise have its first bytes kept, and, when they fill
// the upload, committed as a file. For an overflow the store keeps nothing,
// as if the length had been declared and refused.
var errOverflow = fmt.Errorf("request body past the upload's length: %w", chunkstore.ErrTooLarge)

func bodyIncomplete(cause error) error {
	return httperr.Wrap(http.StatusBadRequest, "body_incomplete",
		"the body ended early; the bytes received were kept, resume from Upload-Offset", cause)
}

// bodyReader is the request body as the store reads it. It pushes the
// connection's read deadline forward before every read (a stalled client is
// cut after gap), stops at limit, can be interrupted from another goroutine
// (the lock's takeover), and records the first failure so the handler can
// answer for it.
//
// With a checksum the store must not keep bytes it cannot verify, so
// failures are reported to the store as EOF: the store then calls verify,
// which returns the failure, and the chunk is discarded. Without a
// checksum the failure is returned as is and the store keeps what arrived.
// A body longer than its limit is neither: it is reported as errOverflow
// (chunkstore.ErrTooLarge) either way, and the store keeps none of it.
type bodyReader struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	gap   time.Duration
	limit int64 // bytes allowed in total
	n     int64 // bytes delivered
	ck    *checksum
	rate  *httpbody.RateMeter // the minimum rate; touched under mu

	mu          sync.Mutex // guards interrupted, detached, eof, cut, why, err and the deadline
	interrupted bool
	detached    bool // the handler is done with the body; the connection is not ours
	// eof: net/http's body returned EOF, so its background read of the
	// connection has started (see stop).
	eof bool
	// cut: stop moved the read deadline to now (see closeIfCut).
	cut bool
	why error // the failure an interrupt reports
	err error // first failure
}

func newBodyReader(w http.ResponseWriter, r *http.Request, lim httpbody.Limits, ck *checksum) *bodyReader {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	return &bodyReader{body: body, rc: http.NewResponseController(w), gap: lim.Gap, limit: -1, ck: ck,
		rate: httpbody.NewRateMeter(lim), eof: body == http.NoBody}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	// Extend the deadline and test the flag under one lock, so an interrupt
	// cannot be undone by an extension racing with it.
	if b.interrupted {
		b.mu.Unlock()
		return 0, b.failed(nil)
	}
	now := time.Now()
	if err := b.rate.Check(now); err != nil {
		b.mu.Unlock()
		return 0, b.failed(err)
	}
	_ = b.rc.SetReadDeadline(now.Add(b.gap))
	b.mu.Unlock()
	if b.limit >= 0 {
		// One byte beyond the limit tells "too large" from "exactly full".
		if room := b.limit - b.n + 1; int64(len(p)) > room {
			p = p[:room]
		}
	}
	n, err := b.body.Read(p)
	b.mu.Lock()
	b.rate.Add(n)
	if err == io.EOF {
		b.eof = true
	}
	b.mu.Unlock()
	if b.limit >= 0 && b.n+int64(n) > b.limit {
		n = int(b.limit - b.n)
		err = errOverflow
	}
	b.n += int64(n)
	if b.ck != nil {
		b.ck.h.Write(p[:n])
	}
	if err == nil || err == io.EOF {
		return n, err
	}
	return n, b.failed(err)
}

// failed records the first failure, classified, and returns what the store
// should see.
func (b *bodyReader) failed(err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		var ne net.Error
		switch {
		case errors.Is(err, errOverflow):
			// First: an interrupt that raced with it changes nothing, the
			// body is refused whole.
			b.err = errBodyTooLarge
		case b.interrupted:
			b.err = b.why
		case errors.Is(err, httpbody.ErrTooSlow):
			b.err = errBodyTooSlow
		case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
			b.err = errBodyTimeout
		default:
			b.err = bodyIncomplete(err)
		}
	}
	switch {
	case errors.Is(err, errOverflow):
		return errOverflow // checksum or not, the store keeps nothing of it
	case b.ck != nil:
		return io.EOF
	}
	return b.err
}

// failure is the recorded failure, or nil.
func (b *bodyReader) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// interrupt ends the body read from another goroutine: a read in progress
// returns at once (the read deadline is moved to now), the next one fails.
func (b *bodyReader) interrupt() { b.stop(errInterrupted) }

// stop does nothing to a body that has ended: there is no read left to
// end, and once net/http's body has returned EOF, net/http reads the
// connection in the background (to notice a client that goes away). A
// deadline moved then fails that read, and net/http cancels the
// connection's context: every later request on the keep-alive connection
// would start cancelled (a GET of the just-finished media answered 499,
// seen in CI, TestKillDuringUploads). The holder lets go once its commit
// is done, which is what the interrupter waits for.
func (b *bodyReader) stop(why error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.interrupted || b.detached || b.eof {
		return
	}
	b.interrupted, b.why, b.cut = true, why, true
	if err := b.rc.SetReadDeadline(time.Now()); err != nil {
		// No connection to cut (a recorder in tests, a wrapper without
		// Unwrap): closing the body is the only way left to end a read.
		go b.body.Close()
	}
}

// closeIfCut asks for the connection to be closed after the answer when
// stop moved its read deadline. Needed once: a read that returned EOF
// just as stop ran (before eof was set) leaves net/http's background read
// failed and the connection's context cancelled; a new connection for the
// client's next request is cheaper than a request that starts cancelled.
// Call it before the answer's header is written.
func (b *bodyReader) closeIfCut(w http.ResponseWriter) {
	b.mu.Lock()
	cut := b.cut
	b.mu.Unlock()
	if cut {
		w.Header().Set("Connection", "close")
	}
}

// detach is called when the handler is done with the body, before it lets
// go of the upload's lock. From then on the connection may carry the
// client's next request (a keep-alive GET of the finished media, say), and
// an interrupt arriving late (a lock waiter that saw this request holding
// the lock a moment before it let go) must not move that request's read
// deadline: net/http's background read would fail on it and cancel the
// innocent request's context, which the edge answers as 499.
func (b *bodyReader) detach() {
	b.mu.Lock()
	b.detached = true
	b.mu.Unlock()
}

// verify is the store's AppendOptions.Verify: any body failure or a digest
// mismatch discards the chunk.
func (b *bodyReader) verify() error {
	if err := b.failure(); err != nil {
		return err
	}
	if b.ck != nil && !b.ck.match() {
		return mismatchError(b.ck.alg)
	}
	return nil
}
