package edge_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/hls"
	"github.com/mediaedge/mediaedge/internal/testenv"
	"github.com/mediaedge/mediaedge/transform"
	"github.com/mediaedge/mediaedge/transform/video"
)

// heldStore is the chunk store with the first Open of one file held until
// release: a video whose copy is slow. At every Open of that file it counts
// the copies of videos on disk (mediaedge-* entries in dirs).
type heldStore struct {
	*chunkstore.Store
	id      string
	dirs    []string
	opened  chan struct{} // closed at the first Open of id
	release chan struct{}

	mu    sync.Mutex // guards opens and most
	opens int        // Opens of id
	most  int        // the most copies seen on disk at an Open of id
}

func (h *heldStore) Open(ctx context.Context, id string) (*chunkstore.Reader, error) {
	if id == h.id {
		n := 0
		for _, d := range h.dirs {
			entries, _ := os.ReadDir(d)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), "mediaedge-") {
					n++
				}
			}
		}
		h.mu.Lock()
		h.opens++
		first := h.opens == 1
		h.most = max(h.most, n)
		h.mu.Unlock()
		if first {
			close(h.opened)
			<-h.release
		}
	}
	return h.Store.Open(ctx, id)
}

// TestQueuedPostersHoldNoCopy: with one video worker busy copying a video
// for a poster, posters of other times wait for the worker without copying
// the video, and get 503 busy after the queue wait. Copying before waiting
// let every distinct t of a flood of requests hold a full copy on disk.
func TestQueuedPostersHoldNoCopy(t *testing.T) {
	testenv.Tool(t, "ffmpeg")
	testenv.Tool(t, "ffprobe")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where a copy made outside the converter lands
	vtmp := t.TempDir()
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=5",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	raw, _ := readFile(clip)
	proc, err := transform.NewProcessor(transform.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	vcfg := video.DefaultConfig()
	vcfg.TempDir, vcfg.MaxConcurrent, vcfg.QueueWait = vtmp, 1, 100*time.Millisecond
	conv, err := video.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	held := &heldStore{dirs: []string{tmp, vtmp}, opened: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(held.release) }) }
	t.Cleanup(release)
	e := newEnv(t, true, func(_ *edge.Config, d *edge.Deps) {
		held.Store = d.Store.(*chunkstore.Store)
		d.Store, d.Transformer, d.Video = held, proc, conv
	})
	v := e.put(t, raw)
	held.id = v.ID

	first := make(chan int, 1)
	go func() {
		resp, _ := do(t, "GET", e.ts.URL+"/m/"+v.ID+"?w=40&fm=jpg&t=0.5", nil, nil)
		first <- resp.StatusCode
	}()
	<-held.opened // the first poster is copying its video

	const queued = 6
	codes := make([]int, queued)
	bodies := make([]string, queued)
	var wg sync.WaitGroup
	for i := range queued {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := do(t, "GET", fmt.Sprintf("%s/m/%s?w=40&fm=jpg&t=%d", e.ts.URL, v.ID, i+1), nil, nil)
			codes[i], bodies[i] = resp.StatusCode, string(body)
		}()
	}
	wg.Wait()
	for i := range queued {
		if codes[i] != http.StatusServiceUnavailable || !strings.Contains(bodies[i], "busy") {
			t.Errorf("poster at t=%d while the worker is busy: %d %.80q, want 503 busy", i+1, codes[i], bodies[i])
		}
	}
	held.mu.Lock()
	opens, most := held.opens, held.most
	held.mu.Unlock()
	if opens != 1 {
		t.Errorf("the video was opened %d times while its one worker was busy: queued posters copied it", opens)
	}
	if most > 1 {
		t.Errorf("%d copies of the video on disk at once with one video worker", most)
	}
	release()
	if c := <-first; c != http.StatusOK {
		t.Errorf("the poster that had the worker: %d, want 200", c)
	}
	if left, _ := os.ReadDir(vtmp); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

// TestOversizedVideo422: a video whose frames have more pixels than the
// server transforms gets 422 too_many_pixels for a poster and for HLS, as
// an image that large does.
func TestOversizedVideo422(t *testing.T) {
	testenv.Tool(t, "ffmpeg")
	testenv.Tool(t, "ffprobe")
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=1",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	raw, _ := readFile(clip)
	tcfg := transform.DefaultConfig()
	tcfg.MaxSourcePixels = 100 * 100
	proc, err := transform.NewProcessor(tcfg)
	if err != nil {
		t.Fatal(err)
	}
	vcfg := video.DefaultConfig()
	vcfg.TempDir, vcfg.Images = t.TempDir(), tcfg
	conv, err := video.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, true, func(_ *edge.Config, d *edge.Deps) {
		hcfg := hls.DefaultConfig()
		hcfg.TempDir = t.TempDir()
		d.Transformer, d.Video, d.HLS = proc, conv, hls.New(hcfg, d.Store.(*chunkstore.Store), conv)
	})
	v := e.put(t, raw)
	for _, path := range []string{"/m/" + v.ID + "?w=40&fm=jpg&t=0.5", "/m/" + v.ID + "/hls/index.m3u8"} {
		resp, body := do(t, "GET", e.ts.URL+path, nil, nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "too_many_pixels") {
			t.Errorf("GET %s: %d %.120s, want 422 too_many_pixels", path, resp.StatusCode, body)
		}
	}
}
