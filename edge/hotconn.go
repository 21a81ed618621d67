package edge

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The hot loop answers repeated GETs of in-memory entries on the
// connection's own goroutine, before net/http (issue 16).
//
// Why: with every route check gone (hotFirst), a hot hit through net/http
// still cost about twice nginx's CPU, measured pinned: net/http reads the
// request into a fresh header map, clones and sorts the response headers,
// and writes the headers and the body in two writes, waking the client
// twice. A bare net/http handler writing the same bytes reached 0.47x
// nginx; a loop of fasthttp's kind 0.66-0.84x.
//
// How: each accepted TCP connection is first read here. A request that
// parseHotRequest accepts and that the hot tier has as an alias (the same
// target net/http parsed, routed and checked before, see hotFirst) is
// answered with one writev of the prepared status line and headers, the
// Date and the body. At the first request it does not answer, the
// connection goes to net/http for the rest of its life, with the bytes
// read so far replayed, through the listener net/http accepts from. So
// everything but those GETs (HEAD, ranges, validators, uploads, errors,
// WebSocket) is net/http's as before, and a delete still wins at once:
// the file's row is checked (the stat cache) before each answer, and a
// missing row hands off to the routes, which answer 404.
//
// Why not fasthttp itself: its server would own every request, and its
// net/http adaptor buffers whole bodies, which the streaming routes
// (multi-GB originals, tus uploads) must not; and a server of our own
// would mean a request parser of our own for everything. Here the only
// parser of our own is parseHotRequest, which accepts a narrow subset and
// hands the rest to net/http.

// hotListener is the listener net/http serves: connections come out of
// Accept once the hot loop has handed them off.
type hotListener struct {
	net.Listener
	s       *Server
	handed  chan net.Conn
	errs    chan error
	done    chan struct{}
	closing sync.Once

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
	loops sync.WaitGroup // connections in the loop
	date  dateCache
	start sync.Once
}

func (s *Server) newHotListener(ln net.Listener) *hotListener {
	return &hotListener{Listener: ln, s: s, handed: make(chan net.Conn), errs: make(chan error),
		done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
}

// Accept returns the next connection the hot loop handed off.
func (l *hotListener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.handed:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// acceptLoop accepts from the real listener. Its errors go to net/http's
// Accept, which backs off on temporary ones and stops on the others.
func (l *hotListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // net/http backs off on a temporary error, or stops and closes
		}
		tc, ok := c.(*net.TCPConn)
		if !ok {
			l.handOff(c)
			continue
		}
		// Counted and registered under mu, where Close closes done: no
		// connection joins the loop once Close has woken it, and wait
		// never races an Add.
		l.mu.Lock()
		if l.closed() {
			l.mu.Unlock()
			_ = c.Close()
			return
		}
		l.conns[tc] = struct{}{}
		l.loops.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.loops.Done()
			defer func() {
				// net/http recovers a handler's panic per connection; so
				// does the loop, rather than take the process down.
				if p := recover(); p != nil {
					l.s.log.Error("hot loop panicked; connection closed", "panic", p)
					l.forget(tc)
					_ = tc.Close()
				}
			}()
			l.serve(tc)
		}()
	}
}

// forget takes c out of the loop's set: it is closed, or net/http's now.
func (l *hotListener) forget(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// wait returns once every connection has left the loop (closed or handed
// off), or when ctx ends: after Close, for a graceful shutdown.
func (l *hotListener) wait(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		l.loops.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// Out of grace: close what is left, as http.Server.Close does.
		l.mu.Lock()
		for c := range l.conns {
			_ = c.Close()
		}
		l.mu.Unlock()
	}
}

// Close stops accepting and closes the connections the loop holds between
// requests; one being answered closes once its answer is written.
// net/http's Shutdown calls it, then waits for the connections it has.
func (l *hotListener) Close() error {
	err := l.Listener.Close()
	l.closing.Do(func() {
		l.mu.Lock()
		close(l.done)
		for c := range l.conns {
			_ = c.SetReadDeadline(time.Now()) // wakes a loop waiting for a request
		}
		l.mu.Unlock()
	})
	return err
}

func (l *hotListener) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// handOff gives c to net/http, or closes it once net/http accepts no more.
func (l *hotListener) handOff(c net.Conn) {
	select {
	case l.handed <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// hotBufSize is the read buffer of a connection in the loop: a request
// header that does not fit goes to net/http (whose limit is
// MaxHeaderBytes), with what was read.
const hotBufSize = 4096

var hotReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, hotBufSize) }}

// serve runs the loop on one connection until it closes or is handed off.
//
// Close wakes a loop waiting for a request by moving its read deadline to
// now; every later deadline the loop sets is followed by a look at done,
// so one it sets after Close's cannot put the wake-up off.
func (l *hotListener) serve(c *net.TCPConn) {
	br := hotReaders.Get().(*bufio.Reader)
	br.Reset(c)
	keep := false // br goes with the connection to net/http
	defer func() {
		l.forget(c)
		if !keep {
			br.Reset(nil)
			hotReaders.Put(br)
		}
	}()
	cfg := l.s.cfg
	var vec [3][]byte // one response: headers, Date, body
	var hdr time.Time // the current request's header deadline
	for first := true; ; first = false {
		// Between requests the idle timeout runs, then the header timeout
		// from the request's first byte, as net/http does; the first
		// request has one header timeout from the accept.
		if first {
			hdr = setReadDeadline(c, cfg.ReadHeaderTimeout)
		} else {
			setReadDeadline(c, cfg.IdleTimeout)
		}
		if l.closed() {
			_ = c.Close()
			return
		}
		if _, err := br.Peek(1); err != nil || l.closed() {
			_ = c.Close()
			return
		}
		if !first {
			hdr = setReadDeadline(c, cfg.ReadHeaderTimeout)
			if l.closed() {
				_ = c.Close()
				return
			}
		}
		var (
			v      hotVerdict
			target []byte
			n      int
		)
		for {
			buf, _ := br.Peek(br.Buffered())
			if v, target, n = parseHotRequest(buf); v != hotMore {
				break
			}
			if br.Buffered() == hotBufSize {
				v = hotHandOff
				break
			}
			if _, err := br.Peek(br.Buffered() + 1); err != nil {
				_ = c.Close() // the client left, or dribbled past the header timeout
				return
			}
		}
		if l.closed() {
			_ = c.Close()
			return
		}
		if v == hotAnswer && l.answer(c, &vec, target) {
			_, _ = br.Discard(n)
			continue
		}
		_ = c.SetDeadline(time.Time{}) // net/http sets its own
		keep = true
		l.forget(c) // Close's wake-up must not reach net/http's request
		l.handOff(&handedConn{TCPConn: c, br: br, hdr: hdr})
		return
	}
}

// answer writes the hot entry target names, if it has one whose file still
// exists; false leaves the request to net/http (nothing was written).
func (l *hotListener) answer(c *net.TCPConn, vec *[3][]byte, target []byte) bool {
	s := l.s
	start := time.Now()
	e, ok := s.hotByURI(context.Background(), string(target))
	if !ok {
		return false // the routes answer: a 404 after a delete, a miss, the store's error
	}
	*vec = [3][]byte{e.wire, l.date.line(start), e.body}
	err := writeAll(c, net.Buffers(vec[:]), s.cfg.SendTimeout)
	*vec = [3][]byte{} // an idle connection must not pin an evicted entry
	if err != nil {
		_ = c.Close() // the next read fails and ends the loop
		return true
	}
	s.hot.loop.Add(1)
	s.countHot(e, start)
	return true
}

// writeAll writes iov with one writev when the socket takes it all, as it
// does for a client that reads. gap is SendTimeout as the routes apply it
// (writer.go): the longest the client may take no bytes, however long the
// whole answer lasts, so the deadline moves on while bytes go out.
func writeAll(c *net.TCPConn, iov net.Buffers, gap time.Duration) error {
	for {
		if gap > 0 {
			_ = c.SetWriteDeadline(time.Now().Add(gap))
		}
		n, err := iov.WriteTo(c) // consumes what it wrote
		if err == nil || n == 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
	}
}

// setReadDeadline sets c's read deadline d from now (none for 0) and
// returns it.
func setReadDeadline(c net.Conn, d time.Duration) time.Time {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	_ = c.SetReadDeadline(t)
	return t
}

// handedConn is a connection the loop handed to net/http: reads replay what
// the loop had buffered, then go to the socket; writes, and sendfile
// (ReadFrom, promoted from *net.TCPConn), go straight to it. net/http reads
// a connection from one goroutine at a time, so br needs no lock.
type handedConn struct {
	*net.TCPConn
	br *bufio.Reader // nil once replayed
	// hdr is the header deadline the loop gave the request it hands over.
	// net/http's first deadline is its own header timeout from now; held
	// to hdr, a client dribbling a header gets one header timeout in all,
	// not one in the loop and another in net/http.
	hdr     time.Time
	clamped atomic.Bool
}

// SetReadDeadline holds net/http's first deadline (the handed request's
// header deadline) to the loop's.
func (c *handedConn) SetReadDeadline(t time.Time) error {
	if !c.clamped.Swap(true) && !c.hdr.IsZero() && (t.IsZero() || t.After(c.hdr)) {
		t = c.hdr
	}
	return c.TCPConn.SetReadDeadline(t)
}

func (c *handedConn) Read(p []byte) (int, error) {
	if c.replayed() {
		return c.TCPConn.Read(p)
	}
	return c.br.Read(p)
}

// WriteTo must not read the socket past the buffer (*net.TCPConn's splice).
func (c *handedConn) WriteTo(w io.Writer) (int64, error) {
	if c.replayed() {
		return c.TCPConn.WriteTo(w)
	}
	return c.br.WriteTo(w)
}

// replayed reports whether the loop's bytes have all been read, and then
// gives its buffer back: a long-lived connection (a WebSocket, a slow
// upload) keeps only net/http's.
func (c *handedConn) replayed() bool {
	if c.br == nil {
		return true
	}
	if c.br.Buffered() > 0 {
		return false
	}
	c.br.Reset(nil)
	hotReaders.Put(c.br)
	c.br = nil
	return true
}

// wireHeader is an entry's status line and headers as the loop writes them,
// but the Date line, which ends the block (see dateCache). The keys are
// sorted, as net/http writes them.
func wireHeader(h http.Header) []byte {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := []byte("HTTP/1.1 200 OK\r\n")
	for _, k := range keys {
		for _, v := range h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// dateCache is the Date line and the blank line after it, made once a
// second.
type dateCache struct{ cur atomic.Pointer[dateLine] }

type dateLine struct {
	sec int64
	b   []byte
}

func (d *dateCache) line(now time.Time) []byte {
	sec := now.Unix()
	if p := d.cur.Load(); p != nil && p.sec == sec {
		return p.b
	}
	p := &dateLine{sec: sec, b: []byte("Date: " + now.UTC().Format(http.TimeFormat) + "\r\n\r\n")}
	d.cur.Store(p)
	return p.b
}
