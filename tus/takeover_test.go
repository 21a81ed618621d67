package tus

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
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
	if resp := <-done; resp != nil && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("stale PATCH answered %d, want 400 upload_interrupted", resp.StatusCode)
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
	release, err := l.acquire(context.Background(), "a", func() { interrupted <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	// Another id is independent.
	rb, err := l.acquire(context.Background(), "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	rb()
	got := make(chan func(), 1)
	go func() {
		r, err := l.acquire(context.Background(), "a", nil)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	<-interrupted // the waiter asked the holder to stop
	release()
	(<-got)()
	// A holder that never lets go: the waiter gives up with its context.
	hold, _ := l.acquire(context.Background(), "c", nil)
	defer hold()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.acquire(ctx, "c", nil); err == nil {
		t.Fatal("acquired a held lock")
	}
}
