package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/tus"
)

// uploadServer is the tus handler on the embedded store behind wrap (nil:
// none), accepting the token "tok".
func uploadServer(t *testing.T, wrap func(http.Handler) http.Handler) (*chunkstore.Store, *httptest.Server) {
	t.Helper()
	b, err := embedded.Open(embedded.Config{Dir: filepath.Join(t.TempDir(), "store")})
	if err != nil {
		t.Fatal(err)
	}
	store, err := chunkstore.New(b, chunkstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := tus.DefaultConfig()
	cfg.Authorize = func(r *http.Request) (string, error) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			return "", httperr.New(http.StatusUnauthorized, "unauthorized", "bearer token required")
		}
		return "token1", nil
	}
	h, err := tus.New(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var hh http.Handler = h
	if wrap != nil {
		hh = wrap(h)
	}
	srv := httptest.NewServer(hh)
	t.Cleanup(srv.Close)
	return store, srv
}

// TestUploadCommand runs `mediaedge upload` against the tus handler on the
// embedded store and checks the printed URLs name the stored files.
func TestUploadCommand(t *testing.T) {
	store, srv := uploadServer(t, nil)

	dir := t.TempDir()
	var files []string
	var sums [][32]byte
	for _, n := range []int{0, 1000, 3<<20 + 5} {
		data := make([]byte, n)
		_, _ = rand.Read(data)
		p := filepath.Join(dir, "f"+string(rune('a'+len(files))))
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
		sums = append(sums, sha256.Sum256(data))
	}
	var out, errw bytes.Buffer
	f := uploadFlags{server: srv.URL + "/", token: "tok", chunkSize: "1MiB", stateDir: filepath.Join(dir, "state")}
	if err := runUpload(context.Background(), f, files, &out, &errw); err != nil {
		t.Fatalf("%v\n%s", err, errw.String())
	}
	lines := strings.Fields(out.String())
	if len(lines) != len(files) {
		t.Fatalf("printed %q", out.String())
	}
	for i, line := range lines {
		id, ok := strings.CutPrefix(line, srv.URL+"/m/")
		if !ok {
			t.Fatalf("URL %q", line)
		}
		fi, err := store.Stat(context.Background(), id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if !bytes.Equal(fi.SHA256, sums[i][:]) {
			t.Errorf("%s: sha256 differs", files[i])
		}
	}

	f.token = "wrong"
	errw.Reset()
	if err := runUpload(context.Background(), f, files[1:2], &out, &errw); err == nil || !strings.Contains(errw.String(), "401") {
		t.Errorf("bad token: %v, stderr %q", err, errw.String())
	}
	f.chunkSize = "lots"
	if err := runUpload(context.Background(), f, files[:1], &out, &errw); err == nil {
		t.Error("bad --chunk-size accepted")
	}
}

// TestUploadCommandWaitsForALockedUpload: the server answers a PATCH with
// 423 Locked (another request holds the upload) and another with 409 (the
// offset moved); `mediaedge upload` waits Retry-After, asks HEAD and goes
// on, and prints the media URL as if nothing happened.
func TestUploadCommandWaitsForALockedUpload(t *testing.T) {
	var patches atomic.Int32
	store, srv := uploadServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch {
				switch patches.Add(1) {
				case 1:
					w.Header().Set("Retry-After", "1")
					http.Error(w, `{"error":{"code":"locked"}}`, http.StatusLocked)
					return
				case 3:
					http.Error(w, `{"error":{"code":"offset_mismatch"}}`, http.StatusConflict)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	dir := t.TempDir()
	data := make([]byte, 2<<20+9)
	_, _ = rand.Read(data)
	p := filepath.Join(dir, "clip.bin")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	f := uploadFlags{server: srv.URL, token: "tok", chunkSize: "1MiB", stateDir: filepath.Join(dir, "state"), quiet: true}
	start := time.Now()
	if err := runUpload(context.Background(), f, []string{p}, &out, &errw); err != nil {
		t.Fatalf("%v\n%s", err, errw.String())
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Errorf("finished in %s: the 423's Retry-After of 1 s was not waited", time.Since(start))
	}
	id, ok := strings.CutPrefix(strings.TrimSpace(out.String()), srv.URL+"/m/")
	if !ok {
		t.Fatalf("printed %q", out.String())
	}
	fi, err := store.Stat(context.Background(), id)
	sum := sha256.Sum256(data)
	if err != nil || !bytes.Equal(fi.SHA256, sum[:]) {
		t.Fatalf("file %+v %v", fi, err)
	}
}

// TestUploadCommandTwiceAtOnce: the same file uploaded from two terminals at
// once, after an interrupted first run (so both resume one upload): both
// runs print the same media URL and the file is intact.
func TestUploadCommandTwiceAtOnce(t *testing.T) {
	store, srv := uploadServer(t, nil)
	dir := t.TempDir()
	data := make([]byte, 3<<20+1)
	_, _ = rand.Read(data)
	p := filepath.Join(dir, "clip.bin")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f := uploadFlags{server: srv.URL, token: "tok", chunkSize: "256KiB", stateDir: filepath.Join(dir, "state"), quiet: true}
	// A first run interrupted after its first chunk leaves the upload URL behind.
	c := &tus.Client{Endpoint: srv.URL + "/files/", Token: "tok", ChunkSize: 256 << 10, StateDir: f.stateDir}
	ctx, cancel := context.WithCancel(context.Background())
	_, _ = c.Upload(ctx, p, func(done, _ int64) {
		if done >= 256<<10 {
			cancel()
		}
	})
	outs := make([]bytes.Buffer, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var errw bytes.Buffer
			if errs[i] = runUpload(context.Background(), f, []string{p}, &outs[i], &errw); errs[i] != nil {
				errs[i] = fmt.Errorf("run %d: %w\n%s", i, errs[i], errw.String())
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if outs[0].String() != outs[1].String() {
		t.Fatalf("two runs printed %q and %q", outs[0].String(), outs[1].String())
	}
	id := strings.TrimPrefix(strings.TrimSpace(outs[0].String()), srv.URL+"/m/")
	r, err := store.Open(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes (%v), differ from the file", len(got), err)
	}
}
