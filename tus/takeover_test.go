package tus

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"testing"
	"time"
)

// liveServer runs the handler on a real loopback server, so read deadlines
// and connection behaviour are net/http's own.
func liveServer(t *testing.T, mod func(*Config)) (*harness, *httptest.Server) {
	t.Helper()
	hn := newHarness(t, mod)
	srv := httptest.NewServer(hn.h)
	t.Cleanup(srv.Close)
	return hn, srv
}

func send(t *testing.T, method, url string, hdr map[string]string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer good")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func createLive(t *testing.T, srv *httptest.Server, n int) string {
	t.Helper()
	resp := send(t, "POST", srv.URL+"/files/", map[string]string{"Upload-Length": strconv.Itoa(n)}, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// stalledPatch starts a PATCH that sends first and then blocks; it returns
// once the store has read all of first, and a channel with the response.
func stalledPatch(t *testing.T, hn *harness, url string, first string, hdr map[string]string) (chan *http.Response, *io.PipeWriter) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	h := chunkHeaders(0)
	for k, v := range hdr {
		h[k] = v
	}
	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("PATCH", url, pr)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer good")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- nil
			return
		}
		resp.Body.Close()
		done <- resp
	}()
	go func() { _, _ = io.WriteString(pw, first) }()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case n := <-hn.store.received:
			if n >= int64(len(first)) {
				return done, pw
			}
		case <-deadline:
			t.Fatal("the store never received the first bytes")
		}
	}
}

// TestStalePatchTakeover: a PATCH whose body hangs holds the upload; a HEAD
// arrives (the client reconnected), ends the stale PATCH and answers with
// the offset including the bytes the stale PATCH received.
func TestStalePatchTakeover(t *testing.T) {
	hn, srv := liveServer(t, nil)
	url := createLive(t, srv, 100)
	done, _ := stalledPatch(t, hn, url, strings.Repeat("a", 40), nil)

	head := send(t, "HEAD", url, nil, nil)
	if head.StatusCode != 200 || head.Header.Get("Upload-Offset") != "40" {
		t.Fatalf("HEAD during stalled PATCH: %d offset %q", head.StatusCode, head.Header.Get("Upload-Offset"))
	}
	if resp := <-done; resp != nil && (resp.StatusCode != http.StatusConflict || resp.Header.Get("Upload-Offset") != "40") {
		t.Errorf("stale PATCH answered %d offset %q, want 409 upload_interrupted at 40", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	// The client resumes from there with a new PATCH.
	resp := send(t, "PATCH", url, chunkHeaders(40), strings.NewReader(strings.Repeat("b", 60)))
	if resp.StatusCode != 204 || resp.Header.Get("Upload-Offset") != "100" || resp.Header.Get(HeaderMediaID) == "" {
		t.Fatalf("resume: %d %v", resp.StatusCode, resp.Header)
	}
	id := resp.Header.Get(HeaderMediaID)
	want := sha256.Sum256([]byte(strings.Repeat("a", 40) + strings.Repeat("b", 60)))
	if f, ok := hn.store.file(id); !ok || string(f.SHA256) != string(want[:]) {
		t.Errorf("file %+v", f)
	}
}

// TestPatchTakesOverPatch: a new PATCH from the reconnected client also
// ends the stale one and continues at the durable offset.
func TestPatchTakesOverPatch(t *testing.T) {
	hn, srv := liveServer(t, nil)
	url := createLive(t, srv, 50)
	done, _ := stalledPatch(t, hn, url, strings.Repeat("a", 20), nil)
	resp := send(t, "PATCH", url, chunkHeaders(20), strings.NewReader(strings.Repeat("b", 30)))
	if resp.StatusCode != 204 || resp.Header.Get("Upload-Offset") != "50" {
		t.Fatalf("second PATCH: %d %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	<-done
}

// TestSameOffsetPatchIsLocked: a PATCH at the offset of a PATCH in
// progress is refused at once with 423 and Retry-After, without
// interrupting it: of two writers of the same bytes the first goes on.
func TestSameOffsetPatchIsLocked(t *testing.T) {
	hn, srv := liveServer(t, nil)
	url := createLive(t, srv, 50)
	done, pw := stalledPatch(t, hn, url, strings.Repeat("a", 20), nil)
	resp := send(t, "PATCH", url, chunkHeaders(0), strings.NewReader(strings.Repeat("b", 50)))
	if resp.StatusCode != http.StatusLocked || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second PATCH at the same offset: %d Retry-After %q, want 423 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if _, err := io.WriteString(pw, strings.Repeat("a", 30)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if r := <-done; r == nil || r.StatusCode != 204 || r.Header.Get("Upload-Offset") != "50" {
		t.Fatalf("the first PATCH: %+v", r)
	}
	if got := string(hn.store.data(strings.TrimPrefix(url, srv.URL+"/files/"))); got != strings.Repeat("a", 50) {
		t.Fatalf("data %q", got)
	}
}

// TestChunkedBodyAfterFinish: a body of unknown length on a finished
// upload is probed: bytes are refused (409), an empty one is a 204.
func TestChunkedBodyAfterFinish(t *testing.T) {
	_, srv := liveServer(t, nil)
	url := createLive(t, srv, 3)
	if resp := send(t, "PATCH", url, chunkHeaders(0), strings.NewReader("abc")); resp.StatusCode != 204 {
		t.Fatalf("PATCH: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		body string
		want int
	}{{"x", http.StatusConflict}, {"", http.StatusNoContent}} {
		// A reader the transport cannot size: sent chunked.
		resp := send(t, "PATCH", url, chunkHeaders(3), io.MultiReader(strings.NewReader(tc.body)))
		if resp.StatusCode != tc.want {
			t.Errorf("chunked body %q after finish: %d, want %d", tc.body, resp.StatusCode, tc.want)
		}
	}
}

// TestStalePatchWithChecksum: a cut chunk cannot be verified, so with
// Upload-Checksum its bytes are discarded.
func TestStalePatchWithChecksum(t *testing.T) {
	hn, srv := liveServer(t, nil)
	url := createLive(t, srv, 100)
	full := strings.Repeat("a", 100)
	done, _ := stalledPatch(t, hn, url, full[:40], map[string]string{"Upload-Checksum": "sha256 " + digest(sha256.New(), full)})
	head := send(t, "HEAD", url, nil, nil)
	if head.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("HEAD offset %q, want 0 (unverifiable chunk discarded)", head.Header.Get("Upload-Offset"))
	}
	<-done
}

// TestBodyReadTimeout: a stalled body is cut after the read deadline; the
// bytes received are kept.
func TestBodyReadTimeout(t *testing.T) {
	hn, srv := liveServer(t, func(c *Config) { c.BodyReadTimeout = 100 * time.Millisecond })
	url := createLive(t, srv, 100)
	done, _ := stalledPatch(t, hn, url, strings.Repeat("a", 30), nil)
	if resp := <-done; resp != nil && resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled PATCH answered %d, want 408", resp.StatusCode)
	}
	if head := send(t, "HEAD", url, nil, nil); head.Header.Get("Upload-Offset") != "30" {
		t.Fatalf("HEAD offset %q, want 30", head.Header.Get("Upload-Offset"))
	}
}

// TestBodyMinRate: a PATCH that trickles a byte every 50 ms (never
// stalling long enough for the read deadline) is cut with 408 once a rate
// window has passed below the minimum; the bytes received are kept.
func TestBodyMinRate(t *testing.T) {
	_, srv := liveServer(t, func(c *Config) {
		c.BodyReadTimeout, c.BodyMinRate, c.BodyMinRateWindow = time.Hour, 1000, 500*time.Millisecond
	})
	url := createLive(t, srv, 1000)
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 400; i++ {
			if _, err := pw.Write([]byte("a")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		pw.Close()
	}()
	t.Cleanup(func() { pw.Close() })
	req, _ := http.NewRequest("PATCH", url, pr)
	for k, v := range chunkHeaders(0) {
		req.Header.Set(k, v)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer good")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	t.Logf("answered after %s", time.Since(start))
	pw.Close()
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("trickling PATCH answered %d, want 408", resp.StatusCode)
		}
	}
	head := send(t, "HEAD", url, nil, nil)
	if off, _ := strconv.Atoi(head.Header.Get("Upload-Offset")); off == 0 || off >= 400 {
		t.Fatalf("HEAD offset %q: want the trickled bytes kept and the PATCH cut early", head.Header.Get("Upload-Offset"))
	}
}

// TestShutdownEndsPatches: Shutdown interrupts a hanging PATCH (its bytes
// are kept) and refuses new writes.
func TestShutdownEndsPatches(t *testing.T) {
	hn, srv := liveServer(t, nil)
	url := createLive(t, srv, 100)
	done, _ := stalledPatch(t, hn, url, strings.Repeat("a", 25), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hn.h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if got := string(hn.store.data(strings.TrimPrefix(url, srv.URL+"/files/"))); got != strings.Repeat("a", 25) {
		t.Errorf("kept %q", got)
	}
	if resp := send(t, "PATCH", url, chunkHeaders(25), strings.NewReader("x")); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("PATCH after shutdown: %d", resp.StatusCode)
	}
}

// TestClientGoneKeepsBytes: the client drops the connection mid-body; the
// bytes that arrived are durable.
func TestClientGoneKeepsBytes(t *testing.T) {
	hn, srv := liveServer(t, nil)
	url := createLive(t, srv, 100)
	done, pw := stalledPatch(t, hn, url, strings.Repeat("a", 35), nil)
	pw.CloseWithError(io.ErrUnexpectedEOF) // the client's body fails: the transport drops the connection
	<-done
	// The PATCH handler may still be finishing; HEAD waits for its lock.
	if head := send(t, "HEAD", url, nil, nil); head.Header.Get("Upload-Offset") != "35" {
		t.Fatalf("HEAD offset %q, want 35", head.Header.Get("Upload-Offset"))
	}
}

func TestLocks(t *testing.T) {
	l := newLocks()
	interrupted := make(chan struct{}, 4)
	release, err := l.acquire(context.Background(), "a", 0, func() { interrupted <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	// Another id is independent.
	rb, err := l.acquire(context.Background(), "b", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	rb()
	got := make(chan func(), 1)
	go func() {
		r, err := l.acquire(context.Background(), "a", -1, nil)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	<-interrupted // the waiter asked the holder to stop
	release()
	(<-got)()
	// A holder that never lets go: the waiter gives up with its context.
	hold, _ := l.acquire(context.Background(), "c", -1, nil)
	defer hold()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.acquire(ctx, "c", -1, nil); err == nil {
		t.Fatal("acquired a held lock")
	}
	// A writer at the offset of the writer holding the lock is refused at
	// once and does not interrupt it; one at another offset interrupts.
	stopped := make(chan struct{}, 4)
	w, _ := l.acquire(context.Background(), "d", 100, func() { stopped <- struct{}{} })
	if _, err := l.acquire(context.Background(), "d", 100, nil); !errors.Is(err, errBusy) {
		t.Fatalf("second writer at the same offset: %v, want errBusy", err)
	}
	if len(stopped) != 0 {
		t.Fatal("the refused writer interrupted the holder")
	}
	go func() { <-stopped; w() }()
	other, err := l.acquire(context.Background(), "d", 150, nil)
	if err != nil {
		t.Fatalf("writer at another offset: %v", err)
	}
	other()
}

// TestReservedMetadata: a client cannot set the server's own keys (which
// would, e.g., skip location removal); the server adds them itself.
func TestReservedMetadata(t *testing.T) {
	hn, srv := liveServer(t, func(c *Config) {
		c.ServerMetadata = func(owner string) map[string]string { return map[string]string{"mediaedge.strip-location": "1"} }
	})
	resp := send(t, "POST", srv.URL+"/files/", map[string]string{"Upload-Length": "10",
		"Upload-Metadata": "mediaedge.location-removed MQ=="}, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a reserved metadata key was accepted: %d", resp.StatusCode)
	}
	url := createLive(t, srv, 10)
	u, err := hn.h.store.GetUpload(context.Background(), url[strings.LastIndex(url, "/")+1:])
	if err != nil || u.Metadata["mediaedge.strip-location"] != "1" {
		t.Fatalf("server metadata not added: %v %v", u.Metadata, err)
	}
}

// TestQuota: an upload declared larger than the owner's room is refused
// with 413 quota_exceeded before anything is stored, at creation and when a
// deferred length is declared.
func TestQuota(t *testing.T) {
	_, srv := liveServer(t, func(c *Config) {
		c.Quota = func(context.Context, string) (int64, error) { return 100, nil }
	})
	resp := send(t, "POST", srv.URL+"/files/", map[string]string{"Upload-Length": "101"}, nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("over quota at creation: %d", resp.StatusCode)
	}
	resp = send(t, "POST", srv.URL+"/files/", map[string]string{"Upload-Defer-Length": "1"}, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("deferred create: %d", resp.StatusCode)
	}
	url := resp.Header.Get("Location")
	h := chunkHeaders(0)
	h["Upload-Length"] = "500"
	if resp := send(t, "PATCH", url, h, strings.NewReader("x")); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("over quota when the length is declared: %d", resp.StatusCode)
	}
	if resp := send(t, "POST", srv.URL+"/files/", map[string]string{"Upload-Length": "100"}, nil); resp.StatusCode != 201 {
		t.Fatalf("within quota: %d", resp.StatusCode)
	}
}

// lockedBody is a PATCH handler's start: r's body, holding the lock of
// "upload" at offset 0 (nil after a test error).
func lockedBody(t *testing.T, hn *harness, w http.ResponseWriter, r *http.Request) (*bodyReader, func()) {
	body := newBodyReader(w, r, hn.h.cfg.bodyLimits(), nil)
	release, err := hn.h.lock(r.Context(), "upload", 0, body)
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	return body, release
}

// TestLateInterruptSparesTheNextRequest: an interrupt that reaches a PATCH
// after it let go of the upload's lock (a waiter saw it holding the lock a
// moment before) must not touch the connection, which by then carries the
// client's next request. Before detach, it moved that request's read
// deadline to now: net/http's background read failed on it and cancelled
// the innocent request's context, and the edge answered a keep-alive GET of
// the just-finished media with 499 (seen in CI, TestKillDuringUploads).
func TestLateInterruptSparesTheNextRequest(t *testing.T) {
	hn := newHarness(t, nil)
	var (
		late    = make(chan *bodyReader, 1)
		started = make(chan struct{})
		fired   = make(chan struct{})
	)
	mux := http.NewServeMux()
	mux.HandleFunc("PATCH /patch", func(w http.ResponseWriter, r *http.Request) {
		body, release := lockedBody(t, hn, w, r)
		if body == nil {
			return
		}
		_, _ = io.Copy(io.Discard, body)
		release()
		late <- body
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /next", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-fired
		select { // the background read fails at once if the deadline moved
		case <-r.Context().Done():
		case <-time.After(200 * time.Millisecond):
		}
		if err := r.Context().Err(); err != nil {
			_, _ = io.WriteString(w, err.Error())
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)

	req, _ := http.NewRequest(http.MethodPatch, srv.URL+"/patch", strings.NewReader("some bytes"))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	body := <-late

	var reused bool
	got := make(chan string, 1)
	go func() {
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, srv.URL+"/next", nil)
		resp, err := client.Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-started
	body.interrupt() // late: the PATCH is over and its connection serves GET /next
	close(fired)
	if g := <-got; g != "ok" {
		t.Errorf("the next request on the connection: %q, want ok", g)
	}
	if !reused {
		t.Error("GET /next did not reuse the PATCH's connection: the test proves nothing")
	}
}

// An interrupt that arrives after the body has ended but before the holder
// lets go (its commit still running) must not touch the connection either:
// net/http already reads it in the background, and a moved deadline fails
// that read and cancels the connection's context, so the client's next
// request on it starts cancelled (seen in CI: a GET of the finished media
// answered 499 after a resuming client's HEAD took the upload over).
func TestInterruptAfterBodyEndSparesTheConnection(t *testing.T) {
	hn := newHarness(t, nil)
	var (
		ended    = make(chan *bodyReader, 1)
		answered = make(chan struct{})
	)
	mux := http.NewServeMux()
	mux.HandleFunc("PATCH /patch", func(w http.ResponseWriter, r *http.Request) {
		body, release := lockedBody(t, hn, w, r)
		if body == nil {
			return
		}
		defer release()
		_, _ = io.Copy(io.Discard, body)
		ended <- body
		<-answered // the commit: the interrupt comes now
		body.closeIfCut(w)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /next", func(w http.ResponseWriter, r *http.Request) {
		select { // a failed background read cancels the context at once
		case <-r.Context().Done():
			_, _ = io.WriteString(w, r.Context().Err().Error())
		case <-time.After(200 * time.Millisecond):
			_, _ = io.WriteString(w, "ok")
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)

	patched := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPatch, srv.URL+"/patch", strings.NewReader("some bytes"))
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			close(patched)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		patched <- resp
	}()
	body := <-ended
	body.interrupt()                  // a takeover while the holder commits
	time.Sleep(50 * time.Millisecond) // room for a failed background read to cancel
	close(answered)
	resp := <-patched
	if resp == nil {
		return
	}
	if resp.Close {
		t.Error("the PATCH's connection was closed: the interrupt was taken as a cut although the body had ended")
	}
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, srv.URL+"/next", nil)
	next, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Body.Close()
	if b, _ := io.ReadAll(next.Body); string(b) != "ok" {
		t.Errorf("the next request on the connection: %q, want ok", b)
	}
	if !reused {
		t.Error("GET /next did not reuse the PATCH's connection: the test proves nothing")
	}
}

// An interrupt that cut a body read asks for the connection to be closed
// after the answer: a read that ended just as the deadline moved may have
// left the connection's context cancelled.
func TestCutBodyClosesTheConnection(t *testing.T) {
	hn := newHarness(t, nil)
	started := make(chan *bodyReader, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("PATCH /patch", func(w http.ResponseWriter, r *http.Request) {
		body := newBodyReader(w, r, hn.h.cfg.bodyLimits(), nil)
		var one [1]byte
		_, _ = io.ReadFull(body, one[:])
		started <- body
		_, err := io.Copy(io.Discard, body) // blocks: the client sends no more
		if body.failure() != errInterrupted {
			t.Errorf("body read ended with %v (failure %v), want the interrupt", err, body.failure())
		}
		body.closeIfCut(w)
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go func() { _, _ = pw.Write([]byte("x")) }()
	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPatch, srv.URL+"/patch", pr)
		req.ContentLength = 100
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		resp.Body.Close()
		done <- resp
	}()
	(<-started).interrupt()
	if resp := <-done; resp != nil && !resp.Close {
		t.Error("an interrupted body read answered without Connection: close")
	}
}
