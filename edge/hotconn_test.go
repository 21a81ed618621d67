package edge_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/edge"
)

// runEdge is hotEnv's edge served by Server.Run on a loopback listener (the
// hot loop lives in Run's listener, not in the handler), with a 20 KB
// original made hot: GET three times, the third answered from memory
// through the routes, which records its URI for the loop. stop ends Run
// and returns its error.
func runEdge(t *testing.T) (e *env, base, path string, data []byte, routed http.Header, stop func() error) {
	t.Helper()
	e = newEnv(t, true, func(c *edge.Config, _ *edge.Deps) {
		c.CacheRAM, c.CacheRAMMaxEntry = 1<<20, 64<<10
		c.ReadHeaderTimeout = 300 * time.Millisecond
		c.PublicURL = "http://edge.test"
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Run(ctx, ln, nil) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("Run did not return within 10 s of its context's end")
		}
	}
	t.Cleanup(func() { _ = stop() })
	base = "http://" + ln.Addr().String()
	data = randBytes(20_000, 9)
	path = "/m/" + e.put(t, data).ID
	for i := range 3 {
		resp, body := do(t, "GET", base+path, nil, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, data) {
			t.Fatalf("request %d: %d, %d bytes", i, resp.StatusCode, len(body))
		}
		routed = resp.Header
	}
	return e, base, path, data, routed, stop
}

// exchange writes raw on a new connection and reads n responses (HEAD
// ones must be flagged in heads), then checks that no more comes.
func exchange(t *testing.T, base, raw string, n int, heads ...int) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", base[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var out []*http.Response
	for i := range n {
		req := &http.Request{Method: http.MethodGet}
		if slices.Contains(heads, i) {
			req.Method = http.MethodHead
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("response %d of %d to %q: %v", i+1, n, raw, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", i+1, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if b, err := br.ReadByte(); err == nil {
		t.Fatalf("%q: a byte (%q) after the %d responses expected", raw, b, n)
	}
	return out
}

func bodyOf(r *http.Response) []byte { b, _ := io.ReadAll(r.Body); return b }

// TestHotLoop: repeated GETs of a hot entry are answered by the connection
// loop with the bytes and headers net/http's route answers with; anything
// else on the same connection (HEAD, a GET with a body, a bare-LF request,
// a deleted file) goes to net/http, which answers it as before and sees
// the connection's next request where it starts.
func TestHotLoop(t *testing.T) {
	e, base, path, data, routed, stop := runEdge(t)
	get := "GET " + path + " HTTP/1.1\r\nHost: edge.test\r\n\r\n"
	head := "HEAD " + path + " HTTP/1.1\r\nHost: edge.test\r\n\r\n"

	// Pipelined: two for the loop, a HEAD that hands the connection to
	// net/http, then a GET that net/http answers (hotFirst).
	rs := exchange(t, base, get+get+head+get, 4, 2)
	for i, r := range rs {
		if r.StatusCode != 200 {
			t.Fatalf("response %d: %d", i+1, r.StatusCode)
		}
		if want := data; i != 2 && !bytes.Equal(bodyOf(r), want) {
			t.Errorf("response %d: %d bytes, not the original's", i+1, len(bodyOf(r)))
		}
	}
	if rs[2].ContentLength != int64(len(data)) || len(bodyOf(rs[2])) != 0 {
		t.Errorf("HEAD: Content-Length %d, %d body bytes", rs[2].ContentLength, len(bodyOf(rs[2])))
	}
	for _, r := range []*http.Response{rs[0], rs[3]} {
		for k := range routed {
			if k != "Date" && !slices.Equal(r.Header[k], routed[k]) {
				t.Errorf("%s: %q, the routes said %q", k, r.Header[k], routed[k])
			}
		}
		if len(r.Header) != len(routed) || r.Header.Get("Date") == "" {
			t.Errorf("headers %v, the routes' %v", r.Header, routed)
		}
	}
	if got := metric(t, e, "mediaedge_cache_ram_loop_total"); got != 2 {
		t.Errorf("answered by the loop: %v, want 2", got)
	}
	if got := metric(t, e, `mediaedge_http_requests_total{route="GET /m/{id}",status="200"}`); got != 6 {
		t.Errorf("GET 200s counted: %v, want 6 (3 routed, 2 by the loop, 1 by hotFirst)", got)
	}

	// A GET with a body (Content-Length, chunked) is net/http's. The edge
	// answers it without reading the body and closes the connection, so
	// the GET written after the body is never answered: nothing in a body
	// is taken for a request.
	for _, framing := range []string{"Content-Length: 5\r\n\r\nhello", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"} {
		rs := exchange(t, base, "GET "+path+" HTTP/1.1\r\nHost: edge.test\r\n"+framing+get, 1)
		if r := rs[0]; r.StatusCode != 200 || !bytes.Equal(bodyOf(r), data) || !r.Close {
			t.Errorf("%q: %d, close %v", framing, r.StatusCode, r.Close)
		}
	}
	// Bare LF line ends: the loop must not wait for a CRLF that never comes.
	if rs := exchange(t, base, "GET "+path+" HTTP/1.1\nHost: edge.test\n\n", 1); !bytes.Equal(bodyOf(rs[0]), data) {
		t.Errorf("bare-LF request: %d", rs[0].StatusCode)
	}
	if got := metric(t, e, "mediaedge_cache_ram_loop_total"); got != 2 {
		t.Errorf("answered by the loop: %v, want still 2", got)
	}

	// A request header that does not come in time: the connection is cut,
	// as net/http cuts it.
	c, err := net.Dial("tcp", base[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET /m/")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a dribbled header: %v, want the connection closed by the server", err)
	}
	c.Close()

	// A header dribbled across the hand-off gets one header timeout in all
	// (300 ms here), not the loop's and then a fresh one from net/http:
	// the Range line hands the request over at 200 ms, and the header's
	// end at 450 ms is past the first timeout, so nothing is answered.
	c, err = net.Dial("tcp", base[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: edge.test\r\n")
	time.Sleep(200 * time.Millisecond)
	_, _ = io.WriteString(c, "Range: bytes=0-1\r\n")
	time.Sleep(250 * time.Millisecond)
	_, _ = io.WriteString(c, "\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(c); len(got) > 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a header dribbled across the hand-off: %q, %v; want the connection closed unanswered", got, err)
	}
	c.Close()

	// An idle connection the loop holds does not hold up the shutdown,
	// and is closed by it.
	idle, err := net.Dial("tcp", base[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	br := bufio.NewReader(idle)
	_, _ = io.WriteString(idle, get)
	if r, err := http.ReadResponse(br, nil); err != nil || r.StatusCode != 200 {
		t.Fatalf("GET before the shutdown: %v", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(br, int64(len(data))))

	// A delete wins at once: the loop hands the request to the routes.
	req, _ := http.NewRequest(http.MethodDelete, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	if rs := exchange(t, base, get, 1); rs[0].StatusCode != 404 {
		t.Errorf("GET after the delete: %d, want 404", rs[0].StatusCode)
	}

	if err := stop(); err != nil { // within 10 s, where the shutdown grace is longer
		t.Fatal(err)
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("the idle connection after the shutdown: %v, want EOF", err)
	}
}
