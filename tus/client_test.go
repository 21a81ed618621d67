package tus

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func randomFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// clientServer runs the handler behind wrap (fault injection), returning
// the harness, a client and a log of requests seen.
type reqLog struct {
	mu   sync.Mutex
	reqs []string // "METHOD offset"
}

func (l *reqLog) add(s string) { l.mu.Lock(); l.reqs = append(l.reqs, s); l.mu.Unlock() }
func (l *reqLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reqs...)
}

func clientServer(t *testing.T, wrap func(http.Handler) http.Handler) (*harness, *Client, *reqLog) {
	t.Helper()
	hn := newHarness(t, func(c *Config) { c.MaxSize = 64 << 20 })
	log := &reqLog{}
	var h http.Handler = hn.h
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r.Method + " " + r.Header.Get("Upload-Offset"))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c := &Client{Endpoint: srv.URL + "/files/", Token: "good", ChunkSize: 64 << 10, StateDir: t.TempDir(), Backoff: time.Millisecond}
	return hn, c, log
}

func stateFiles(t *testing.T, dir string) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	return len(m)
}

func TestClientUpload(t *testing.T) {
	hn, c, _ := clientServer(t, nil)
	p, data := randomFile(t, 300<<10+17)
	var last atomic.Int64
	id, err := c.Upload(context.Background(), p, func(done, total int64) {
		if total != int64(len(data)) || done > total {
			t.Errorf("progress %d/%d", done, total)
		}
		last.Store(done)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hn.store.data(id), data) {
		t.Fatal("stored data differs")
	}
	if last.Load() != int64(len(data)) {
		t.Errorf("last progress %d", last.Load())
	}
	if f, ok := hn.store.file(id); !ok || f.Size != int64(len(data)) {
		t.Errorf("file %+v", f)
	}
	if n := stateFiles(t, c.StateDir); n != 0 {
		t.Errorf("%d state files left after success", n)
	}
	u, err := hn.store.GetUpload(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if m := u.Metadata; m["filename"] != "clip.mp4" || m["filetype"] != "video/mp4" {
		t.Errorf("metadata %v", m)
	}
}

func TestClientEmptyFile(t *testing.T) {
	hn, c, _ := clientServer(t, nil)
	p, _ := randomFile(t, 0)
	id, err := c.Upload(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := hn.store.file(id); !ok || f.Size != 0 {
		t.Errorf("file %+v %v", f, ok)
	}
}

// TestClientResumesAcrossRuns: a run stopped halfway leaves its URL in
// StateDir; the next run asks HEAD and continues from the offset.
func TestClientResumesAcrossRuns(t *testing.T) {
	hn, c, log := clientServer(t, nil)
	p, data := randomFile(t, 512<<10)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := c.Upload(ctx, p, func(done, _ int64) {
		if done >= 200<<10 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}
	if n := stateFiles(t, c.StateDir); n != 1 {
		t.Fatalf("%d state files after an interrupted run", n)
	}
	first := len(log.all())
	id, err := c.Upload(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hn.store.data(id), data) {
		t.Fatal("data differs after resume")
	}
	// The first run's last PATCH may reach the server after it returned, so
	// the second run's requests are told apart by what they must not be.
	second := log.all()[first:]
	if !slices.Contains(second, "HEAD ") || slices.Contains(second, "POST ") || slices.Contains(second, "PATCH 0") {
		t.Errorf("second run did not resume: %v", second)
	}
	if hn.metrics.started != 1 {
		t.Errorf("%d uploads created, want 1", hn.metrics.started)
	}
}

// TestClientRetriesFaults: dropped connections, a damaged chunk (460) and
// a 503 are retried; the file arrives intact.
func TestClientRetriesFaults(t *testing.T) {
	var patches atomic.Int32
	hn, c, _ := clientServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPatch {
				next.ServeHTTP(w, r)
				return
			}
			switch patches.Add(1) {
			case 2: // drop the connection after part of the body
				_, _ = io.CopyN(io.Discard, r.Body, 1000)
				hj, _ := w.(http.Hijacker)
				conn, _, err := hj.Hijack()
				if err == nil {
					conn.Close()
				}
				return
			case 4: // damage the chunk in transit
				b, _ := io.ReadAll(r.Body)
				b[10] ^= 0xff
				r.Body = io.NopCloser(bytes.NewReader(b))
			case 5:
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	p, data := randomFile(t, 400<<10)
	id, err := c.Upload(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hn.store.data(id), data) {
		t.Fatal("data differs")
	}
}

func TestClientPermanentErrors(t *testing.T) {
	_, c, log := clientServer(t, nil)
	c.Token = "wrong"
	p, _ := randomFile(t, 10)
	_, err := c.Upload(context.Background(), p, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Fatalf("bad token: %v", err)
	}
	if n := len(log.all()); n != 1 {
		t.Errorf("a 401 was retried: %d requests", n)
	}
	if _, err := c.Upload(context.Background(), filepath.Join(t.TempDir(), "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestClientForgetsGoneUploads: a remembered URL the server no longer knows
// (expired, terminated) starts a new upload.
func TestClientForgetsGoneUploads(t *testing.T) {
	hn, c, _ := clientServer(t, nil)
	p, data := randomFile(t, 200<<10)
	ctx, cancel := context.WithCancel(context.Background())
	_, _ = c.Upload(ctx, p, func(done, _ int64) {
		if done > 0 {
			cancel()
		}
	})
	// Terminated through the handler, as a user would: DELETE takes the
	// upload from the first run's PATCH if that is still in progress.
	for _, id := range hn.store.createdIDs() {
		if w := hn.do("DELETE", "/files/"+id, nil, ""); w.Code != http.StatusNoContent {
			t.Fatalf("DELETE %s: %d %s", id, w.Code, w.Body)
		}
	}
	id, err := c.Upload(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hn.store.data(id), data) {
		t.Fatal("data differs")
	}
}

func TestClientGivesUp(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/files/", StateDir: t.TempDir(), Backoff: time.Millisecond, MaxRetries: 3}
	p, _ := randomFile(t, 10)
	if _, err := c.Upload(context.Background(), p, nil); !errors.Is(err, ErrTooManyRetries) {
		t.Fatalf("err %v", err)
	}
}

// TestClientRetriesLockedAndConflict: a 423 is waited out for its
// Retry-After (and does not use up MaxRetries), a 409 sends the client back
// to HEAD at once; the file arrives intact.
func TestClientRetriesLockedAndConflict(t *testing.T) {
	var patches atomic.Int32
	var mu sync.Mutex
	var lockedAt, nextAt time.Time
	hn, c, log := clientServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPatch {
				next.ServeHTTP(w, r)
				return
			}
			n := patches.Add(1)
			mu.Lock()
			if n == 3 {
				nextAt = time.Now()
			}
			mu.Unlock()
			switch n {
			case 2:
				mu.Lock()
				lockedAt = time.Now()
				mu.Unlock()
				w.Header().Set("Retry-After", "1")
				http.Error(w, "locked", http.StatusLocked)
				return
			case 4:
				http.Error(w, "offset moved", http.StatusConflict)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	c.MaxRetries = 1 // a 423 must not count: MaxRetries 1 still finishes
	p, data := randomFile(t, 300<<10)
	id, err := c.Upload(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hn.store.data(id), data) {
		t.Fatal("data differs")
	}
	if waited := nextAt.Sub(lockedAt); waited < 900*time.Millisecond {
		t.Errorf("the client retried %s after a 423 with Retry-After: 1", waited)
	}
	// After each refusal the client asked HEAD before it sent again.
	reqs := log.all()
	for i, r := range reqs {
		if i > 0 && strings.HasPrefix(reqs[i-1], "PATCH") && r != "HEAD " && !strings.HasPrefix(r, "PATCH") {
			t.Errorf("request %d after a PATCH: %q", i, r)
		}
	}
	if !slices.Contains(reqs, "HEAD ") {
		t.Errorf("no HEAD after the 423 and 409: %v", reqs)
	}
}

// TestClientLockWait: an upload that stays locked ends the upload after
// LockWait, not after MaxRetries.
func TestClientLockWait(t *testing.T) {
	var patches atomic.Int32
	_, c, _ := clientServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch {
				patches.Add(1)
				w.Header().Set("Retry-After", "1")
				http.Error(w, "locked", http.StatusLocked)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	c.MaxRetries, c.LockWait = 1, 2500*time.Millisecond
	p, _ := randomFile(t, 10)
	_, err := c.Upload(context.Background(), p, nil)
	var se *StatusError
	if !errors.Is(err, ErrTooManyRetries) || !errors.As(err, &se) || se.Status != http.StatusLocked {
		t.Fatalf("err %v, want ErrTooManyRetries after 423s", err)
	}
	if n := patches.Load(); n != 3 {
		t.Errorf("%d PATCHes, want 3 (waits of 1 s within a LockWait of 2.5 s)", n)
	}
}

// TestClientGivesUpOnFailingPatches: PATCH keeps failing while HEAD works:
// a successful HEAD that shows no progress does not reset the budget.
func TestClientGivesUpOnFailingPatches(t *testing.T) {
	_, c, log := clientServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch {
				http.Error(w, "broken", http.StatusInternalServerError)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	c.MaxRetries = 3
	p, _ := randomFile(t, 10)
	if _, err := c.Upload(context.Background(), p, nil); !errors.Is(err, ErrTooManyRetries) {
		t.Fatalf("err %v, want ErrTooManyRetries", err)
	}
	n := 0
	for _, r := range log.all() {
		if strings.HasPrefix(r, "PATCH") {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d PATCHes, want 4 (the first and MaxRetries more)", n)
	}
}

// TestTwoClientsOneUpload: two runs of the client resume the same upload at
// the same time (the same file and state folder, as two terminals would):
// their PATCHes collide, the losers are told 423 or 409 and retry, and both
// runs end with the same media id and the file intact.
func TestTwoClientsOneUpload(t *testing.T) {
	hn, c, _ := clientServer(t, nil)
	c.ChunkSize = 32 << 10
	p, data := randomFile(t, 1<<20+3)
	ctx, cancel := context.WithCancel(context.Background())
	_, _ = c.Upload(ctx, p, func(done, _ int64) {
		if done > 0 {
			cancel()
		}
	})
	ids := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc := *c
			ids[i], errs[i] = cc.Upload(context.Background(), p, nil)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if ids[0] != ids[1] {
		t.Fatalf("two runs of one upload ended with media %s and %s", ids[0], ids[1])
	}
	if !bytes.Equal(hn.store.data(ids[0]), data) {
		t.Fatal("data differs")
	}
	if hn.metrics.started != 1 {
		t.Errorf("%d uploads created, want 1", hn.metrics.started)
	}
}

// TestClientRidesOutStoreOutage: a server whose store is down answers 503
// (with Retry-After) many times in a row, more than MaxRetries; the client
// keeps going within OutageWait and finishes once the store is back, and
// gives up with ErrTooManyRetries once OutageWait is spent.
func TestClientRidesOutStoreOutage(t *testing.T) {
	var down atomic.Int32
	down.Store(5)
	hn, c, _ := clientServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch && down.Add(-1) >= 0 {
				http.Error(w, "store unavailable", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	c.MaxRetries, c.Backoff = 1, time.Millisecond
	p, data := randomFile(t, 100<<10)
	id, err := c.Upload(context.Background(), p, nil)
	if err != nil {
		t.Fatalf("five 503s with MaxRetries 1: %v", err)
	}
	if !bytes.Equal(hn.store.data(id), data) {
		t.Fatal("data differs")
	}

	down.Store(1 << 20)
	c.OutageWait = 50 * time.Millisecond
	p2, _ := randomFile(t, 100<<10)
	if _, err := c.Upload(context.Background(), p2, nil); !errors.Is(err, ErrTooManyRetries) {
		t.Fatalf("a store down for good: %v, want ErrTooManyRetries", err)
	}
}
