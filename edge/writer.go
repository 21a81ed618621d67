package edge

import (
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
)

// sendStep is how many bytes one ReadFrom step hands to the connection
// before the send deadline is pushed again. Large enough that sendfile runs
// in long strides, small enough that a live client at 1 MB/s never meets a
// deadline set SendTimeout earlier.
const sendStep = 4 << 20

// drainGrace bounds how long the unread body of an answered request is
// drained before its connection closes (see instrument).
const drainGrace = time.Second

// instrument wraps the routes: it counts requests, latency and bytes, and
// keeps the send deadline of each response moving.
//
// The send deadline is nginx's send_timeout: a response fails when the client
// takes nothing for SendTimeout, however long the whole transfer lasts. The
// http.Server's WriteTimeout cannot do this: it bounds the whole response, so
// it would cut a slow but live download of a large video, or, set long enough
// for that, would let a client that never reads hold a goroutine and an open
// chunk reader for as long.
//
// Request bodies are guarded the same way (issue: a client that sends
// headers with a Content-Length and then nothing held a goroutine and a
// connection for minutes, since net/http drains up to 256 KiB of an unread
// body, with no deadline, after the handler answered): every body gets a
// read deadline of BodyReadTimeout at once (handlers that stream it push the
// deadline forward as bytes come, through httpbody); a response to a request
// whose body the handler did not read says Connection: close, and when the
// handler returns the read deadline is cut to drainGrace: net/http sends
// the answer first, then drains what an honest client already sent (so its
// kernel does not reset the connection before the client reads the answer)
// for at most drainGrace, and closes. Unauthenticated uploads and body-less
// routes are thus answered at once and their connection closed.
//
// The body is wrapped on a shallow copy of the request: net/http inspects
// its own *Request's body after the handler to decide how to close.
//
// The route label is the ServeMux pattern, so ids never explode the label space.
func (s *Server) instrument(next http.Handler) http.Handler {
	m := s.metrics
	gap := s.cfg.SendTimeout
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &responseWriter{ResponseWriter: w, code: http.StatusOK, gap: gap, clen: r.ContentLength}
		if gap > 0 {
			rw.rc = http.NewResponseController(w)
			// A keep-alive connection may carry the deadline of its previous
			// response; a handler that computes before its first byte (a
			// transform, an HLS package) must not meet it.
			_ = rw.rc.SetWriteDeadline(time.Time{})
		}
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			rw.body = &countingBody{ReadCloser: r.Body, n: m.bytesIn}
			r = r.WithContext(r.Context()) // a shallow copy; see above
			r.Body = rw.body
			_ = http.NewResponseController(w).SetReadDeadline(start.Add(s.cfg.BodyReadTimeout))
		}
		next.ServeHTTP(rw, r)
		if rw.body != nil && !rw.body.consumed(r.ContentLength) {
			if !rw.wroteHeader {
				rw.Header().Set("Connection", "close")
			}
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(min(drainGrace, s.cfg.BodyReadTimeout)))
		}
		if gap > 0 {
			// Covers the final flush of the buffered tail after we return.
			_ = rw.rc.SetWriteDeadline(time.Now().Add(gap))
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(rw.code)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		m.bytesOut.Add(float64(rw.n))
	})
}

// responseWriter records the status and body bytes and pushes the send
// deadline forward as bytes go out. It forwards ReadFrom so that io.Copy from
// an *os.File still reaches the connection's sendfile path, and Unwrap so
// http.ResponseController finds Flush and deadlines.
type responseWriter struct {
	http.ResponseWriter
	code        int
	n           int64
	wroteHeader bool

	gap    time.Duration            // SendTimeout; 0 = no send deadline
	rc     *http.ResponseController // set when gap > 0
	pushed time.Time                // when the deadline was last pushed

	body *countingBody // the request body, nil when there is none
	clen int64         // the request's Content-Length
}

// header is called once, before the status line goes out: an answer given
// while the request body is still unread closes the connection (see
// instrument).
func (w *responseWriter) header() {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	if w.body != nil && !w.body.consumed(w.clen) {
		w.Header().Set("Connection", "close")
	}
}

// push moves the send deadline to now+gap. It skips the call while the last
// push is recent (within gap/8): the deadline is then still at least 7/8 of
// gap away, and a streaming response makes thousands of writes.
func (w *responseWriter) push() {
	if w.gap <= 0 {
		return
	}
	now := time.Now()
	if now.Sub(w.pushed) < w.gap/8 {
		return
	}
	w.pushed = now
	_ = w.rc.SetWriteDeadline(now.Add(w.gap))
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.code = code
		w.header()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.header()
	w.push()
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// ReadFrom copies in steps of sendStep, pushing the deadline before each.
// The source is re-wrapped in exactly one *io.LimitedReader around the
// caller's reader: net's sendfile path unwraps one LimitedReader and looks
// for an *os.File under it, so a cache hit still goes out with sendfile.
func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	w.header()
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		n, err := io.Copy(writerOnly{w}, r) // Write pushes the deadline
		return n, err
	}
	if w.gap <= 0 {
		n, err := rf.ReadFrom(r)
		w.n += n
		return n, err
	}
	src, remain := r, int64(math.MaxInt64)
	lr, limited := r.(*io.LimitedReader)
	if limited {
		src, remain = lr.R, lr.N
	}
	var total int64
	var err error
	for remain > 0 {
		step := min(remain, sendStep)
		w.pushed = time.Time{} // a new step always pushes
		w.push()
		var n int64
		n, err = rf.ReadFrom(&io.LimitedReader{R: src, N: step})
		total += n
		remain -= n
		if err != nil || n < step { // an error, or the source's end
			break
		}
	}
	if limited {
		lr.N = remain
	}
	w.n += total
	return total, err
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides ReadFrom so io.Copy does not recurse into it.
type writerOnly struct{ io.Writer }
