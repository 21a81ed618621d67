package tus_e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/tus"
)

// TestKillDuringUploads: 10 Go clients upload files of random sizes; the
// server is killed with SIGKILL when about a third of the bytes are in and
// started again on the same data. Every upload must resume and finish,
// every file must match, and /m/{id} must never answer 200 with an
// unfinished upload.
func TestKillDuringUploads(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		srv := startServer(t, storeArgs)
		dir := t.TempDir()
		stateDir := filepath.Join(dir, "state")
		rng := rand.New(rand.NewPCG(42, 7))
		type job struct {
			file string
			sum  string
			size int64
		}
		var jobs []job
		var total int64
		for i := range 10 {
			size := int64(512<<10 + rng.IntN(5*mib))
			file, sum := writeRandom(t, dir, fmt.Sprintf("f%02d.bin", i), size, uint64(100+i))
			jobs = append(jobs, job{file, sum, size})
			total += size
		}
		sizeOf := map[string]int64{}
		for _, j := range jobs {
			sizeOf[j.file] = j.size
		}

		var acked atomic.Int64 // bytes the clients saw acknowledged, roughly
		killAt := total / 3
		killed := make(chan struct{})
		restarted := make(chan struct{})
		go func() {
			for acked.Load() < killAt {
				select {
				case <-time.After(20 * time.Millisecond):
				case <-restarted: // all done before the kill point: nothing to do
					return
				}
			}
			close(killed)
		}()

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		watchCtx, stopWatch := context.WithCancel(ctx)
		var violations, seen atomic.Int32
		var watched sync.WaitGroup
		watched.Add(1)
		go func() {
			defer watched.Done()
			watchMedia(watchCtx, t, srv.url(), stateDir, sizeOf, &violations, &seen)
		}()

		// Every request the clients send, so the test can tell a resume
		// (HEAD, then PATCH from the offset) from a restart (a new POST).
		var afterRestart atomic.Bool
		var postsAfter, headsAfter atomic.Int32
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if afterRestart.Load() {
				switch r.Method {
				case http.MethodPost:
					postsAfter.Add(1)
				case http.MethodHead:
					headsAfter.Add(1)
				}
			}
			return http.DefaultTransport.RoundTrip(r)
		})}

		ids := make([]string, len(jobs))
		errs := make([]error, len(jobs))
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &tus.Client{Endpoint: srv.url() + "/files/", Token: token, ChunkSize: 256 << 10,
					StateDir: stateDir, Backoff: 100 * time.Millisecond, MaxRetries: 12, HTTP: hc}
				var last int64
				ids[i], errs[i] = c.Upload(ctx, j.file, func(done, _ int64) {
					if done > last {
						acked.Add(done - last)
						last = done
					}
				})
			}()
		}
		select {
		case <-killed:
			srv.kill()
			t.Logf("killed the server at %d of %d bytes", acked.Load(), total)
			afterRestart.Store(true)
			srv.start()
		case <-ctx.Done():
			t.Fatal("the uploads never reached the kill point")
		}
		close(restarted)
		wg.Wait()
		stopWatch()
		watched.Wait()
		for i, j := range jobs {
			if errs[i] != nil {
				t.Errorf("%s: %v", j.file, errs[i])
				continue
			}
			checkMedia(t, srv.url(), ids[i], j.sum)
		}
		// Every upload was created before the kill (a third of the bytes
		// were in), so after it each one resumes: no POST starts one again.
		if n := postsAfter.Load(); n != 0 {
			t.Errorf("%d uploads started again after the restart instead of resuming", n)
		}
		if headsAfter.Load() == 0 {
			t.Error("no client asked HEAD for its offset after the restart")
		}
		t.Logf("after the restart: %d HEADs, %d POSTs", headsAfter.Load(), postsAfter.Load())
		t.Logf("the watcher saw /m/{id} answer 200 %d times while the clients still remembered the upload", seen.Load())
		if v := violations.Load(); v > 0 {
			t.Errorf("%d times /m/{id} answered 200 for an upload that had not ended", v)
		}
	})
}

// watchMedia polls /m/{id} of every upload the clients remember (their
// state files hold the upload URLs): whenever it answers 200 the upload
// must be complete, that is its tus offset equals its length and the
// file has the full size.
func watchMedia(ctx context.Context, t *testing.T, base, stateDir string, sizeOf map[string]int64, violations, seen *atomic.Int32) {
	hc := &http.Client{Timeout: 5 * time.Second}
	for ctx.Err() == nil {
		entries, _ := os.ReadDir(stateDir)
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(stateDir, e.Name()))
			if err != nil {
				continue
			}
			var st struct {
				URL  string `json:"url"`
				Path string `json:"path"`
			}
			if json.Unmarshal(b, &st) != nil || st.URL == "" {
				continue
			}
			resp, err := hc.Head(base + "/m/" + path.Base(st.URL))
			if err != nil {
				continue // the server is down (killed) for a moment
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				continue
			}
			seen.Add(1)
			size := sizeOf[st.Path]
			if resp.ContentLength != size {
				violations.Add(1)
				t.Errorf("/m/%s answered 200 with %d bytes of %d", path.Base(st.URL), resp.ContentLength, size)
				continue
			}
			req, _ := http.NewRequest(http.MethodHead, st.URL, nil)
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("Authorization", "Bearer "+token)
			tr, err := hc.Do(req)
			if err != nil {
				continue
			}
			tr.Body.Close()
			if tr.StatusCode == http.StatusOK && tr.Header.Get("Upload-Offset") != strconv.FormatInt(size, 10) {
				violations.Add(1)
				t.Errorf("/m/%s answered 200 while the upload is at %s of %d", path.Base(st.URL), tr.Header.Get("Upload-Offset"), size)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(25 * time.Millisecond):
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
