package edge_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/edge"
)

// rawRequest sends head (a request line and headers, no body) on a new
// connection and reads the answer. A read bound of 20 s keeps a broken
// server from hanging the test; it is not a timing assertion.
func rawRequest(t *testing.T, addr, head string) (*http.Response, string, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to %q: %v", strings.SplitN(head, "\r\n", 2)[0], err)
	}
	body, _ := io.ReadAll(resp.Body)
	// The connection must be closed by the server after the answer: the
	// next read sees EOF, not a wait for the body we never sent.
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("%q: the connection stayed open after the answer (%v)", strings.SplitN(head, "\r\n", 2)[0], err)
	}
	return resp, string(body), conn
}

// TestUnreadBodyAnsweredAtOnce: requests that announce a body and never
// send it, to routes that do not read it (an upload without a token, a
// body-less route, an unknown id), get their answer at once and the
// connection is closed: net/http would otherwise wait for up to 256 KiB of
// body before answering, with no deadline. BodyReadTimeout is an hour here,
// so only the fix can make these answers arrive.
func TestUnreadBodyAnsweredAtOnce(t *testing.T) {
	e := newEnv(t, false, func(c *edge.Config, _ *edge.Deps) { c.BodyReadTimeout = time.Hour })
	addr := e.ts.Listener.Addr().String()
	for _, c := range []struct {
		head   string
		status int
	}{
		{"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", 401},
		{"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 401},
		{"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", 200},
		{"GET /m/aaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", 404},
		{"PATCH /files/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", 0},
	} {
		resp, body, _ := rawRequest(t, addr, c.head)
		if c.status != 0 && resp.StatusCode != c.status {
			t.Errorf("%q: %d %s, want %d", strings.SplitN(c.head, "\r\n", 2)[0], resp.StatusCode, body, c.status)
		}
	}
}

// TestUploadMinRate: an authorized upload that trickles a byte every
// 100 ms (fast enough never to meet the gap deadline) is cut with 408 once
// a rate window has passed below the minimum rate, and nothing is kept.
func TestUploadMinRate(t *testing.T) {
	e := newEnv(t, false, func(c *edge.Config, _ *edge.Deps) {
		c.BodyReadTimeout, c.BodyMinRate, c.BodyMinRateWindow = time.Hour, 1000, time.Second
	})
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100000\r\n\r\n", token)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // a bound for the test, not a timing assertion
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a trickling upload was never cut: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 408 || !strings.Contains(string(body), `"body_too_slow"`) {
		t.Fatalf("trickling upload: %d %s", resp.StatusCode, body)
	}
	_, mtext := do(t, "GET", e.ts.URL+"/metrics", nil, nil)
	if !strings.Contains(string(mtext), `mediaedge_uploads_total{event="finished"} 0`) {
		t.Error("a cut upload was counted as finished")
	}
}
