package edge_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/edgecache"
	"github.com/mediaedge/mediaedge/internal/testenv"
	"github.com/mediaedge/mediaedge/transform"
)

// scrape reads the server's /metrics as series -> value ("name{labels}",
// labels as the exposition writes them, sorted by name).
func scrape(t *testing.T, e *env) map[string]float64 {
	t.Helper()
	resp, body := do(t, "GET", e.ts.URL+"/metrics", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// wantSeries checks each series has the value (a series missing is an
// error too: it must be on /metrics after the action that records it).
func wantSeries(t *testing.T, e *env, want map[string]float64) {
	t.Helper()
	got := scrape(t, e)
	for s, v := range want {
		g, ok := got[s]
		if !ok {
			t.Errorf("/metrics lacks %s", s)
		} else if g != v {
			t.Errorf("%s = %v, want %v", s, g, v)
		}
	}
}

// TestTransformAndVideoMetrics: each rendition, refusal and ffmpeg job is
// on /metrics after the request that caused it, with the real libvips
// pipeline and ffmpeg.
func TestTransformAndVideoMetrics(t *testing.T) {
	testenv.Tool(t, "ffmpeg")
	testenv.Tool(t, "ffprobe")
	tcfg := transform.DefaultConfig()
	tcfg.Workers, tcfg.QueueLen = 3, 7
	e := newMediaEnv(t, tcfg)
	disk := e.cacheDir(t)
	// The pool's gauges and every refusal reason exist before any request.
	wantSeries(t, e, map[string]float64{
		"mediaedge_transform_workers":                                      3,
		"mediaedge_transform_queue_capacity":                               7,
		"mediaedge_transform_queue_depth":                                  0,
		"mediaedge_transform_workers_busy":                                 0,
		"mediaedge_transforms_in_flight":                                   0,
		`mediaedge_transform_rejections_total{reason="busy"}`:              0,
		`mediaedge_video_jobs_total{kind="hls",result="ok"}`:               0,
		`mediaedge_ffmpeg_failures_total{kind="probe",reason="exit"}`:      0,
		`mediaedge_video_job_duration_seconds_count{kind="poster"}`:        0,
		`mediaedge_cache_evictions_total{disk="` + disk + `"}`:             0,
		`mediaedge_cache_evicted_bytes_total{disk="` + disk + `"}`:         0,
		`mediaedge_cache_requests_total{disk="` + disk + `",result="hit"}`: 0,
	})

	img := e.put(t, pngImage(t, 200, 100))
	text := e.put(t, []byte("just some text, not an image"))
	bomb := e.put(t, pngBombBytes())
	anim := e.put(t, animGIF(t))
	bad := e.put(t, []byte("\x00\x00\x00\x18ftypmp42 but then nothing"))
	for _, r := range []struct {
		path   string
		status int
	}{
		{"/m/" + img.ID + "?w=100&fm=webp", 200},
		{"/m/" + img.ID + "?w=100&fm=webp", 200}, // a cache hit: not computed again
		{"/m/" + text.ID + "?w=10", 415},
		{"/m/" + bomb.ID + "?w=10", 422},
		{"/m/" + anim.ID + ".mp4?w=20", 200},
		{"/m/" + bad.ID + "/hls/index.m3u8", 422},
	} {
		if resp, body := do(t, "GET", e.ts.URL+r.path, nil, nil); resp.StatusCode != r.status {
			t.Fatalf("GET %s: %d, want %d: %.200s", r.path, resp.StatusCode, r.status, body)
		}
	}
	wantSeries(t, e, map[string]float64{
		`mediaedge_transforms_total{format="webp"}`:                        1,
		`mediaedge_transform_duration_seconds_count{format="webp"}`:        1,
		`mediaedge_transform_duration_seconds_count{format="mp4"}`:         1,
		`mediaedge_transform_rejections_total{reason="unsupported"}`:       1,
		`mediaedge_transform_rejections_total{reason="too_many_pixels"}`:   1,
		"mediaedge_transforms_in_flight":                                   0,
		`mediaedge_video_jobs_total{kind="mp4",result="ok"}`:               1,
		`mediaedge_video_job_duration_seconds_count{kind="mp4"}`:           1,
		`mediaedge_video_jobs_total{kind="probe",result="failed"}`:         1,
		`mediaedge_ffmpeg_failures_total{kind="probe",reason="exit"}`:      1,
		`mediaedge_cache_requests_total{disk="` + disk + `",result="hit"}`: 1,
	})

	// A real HLS package: a probe and a packaging job, both ok.
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", clip).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	raw, _ := readFile(clip)
	v := e.put(t, raw)
	if resp, body := do(t, "GET", e.ts.URL+"/m/"+v.ID+"/hls/index.m3u8", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("HLS: %d %.200s", resp.StatusCode, body)
	}
	wantSeries(t, e, map[string]float64{
		`mediaedge_video_jobs_total{kind="probe",result="ok"}`:      1,
		`mediaedge_video_jobs_total{kind="hls",result="ok"}`:        1,
		`mediaedge_video_job_duration_seconds_count{kind="hls"}`:    1,
		`mediaedge_ffmpeg_failures_total{kind="hls",reason="exit"}`: 0,
	})
}

// cacheDir is the path of the env's one cache disk, as /metrics labels it.
func (e *env) cacheDir(t *testing.T) string {
	t.Helper()
	for s := range scrape(t, e) {
		if rest, ok := strings.CutPrefix(s, `mediaedge_cache_disk_budget_bytes{disk="`); ok {
			return strings.TrimSuffix(rest, `"}`)
		}
	}
	t.Fatal("no cache disk on /metrics")
	return ""
}

// blockingTransformer is a Transformer whose Process waits for release and
// then fails with err; its pool reports what the test sets.
type blockingTransformer struct {
	started chan struct{}
	release chan struct{}
	err     error
	mu      sync.Mutex // guards running, waiting
	running int
	waiting int
}

func (b *blockingTransformer) Config() transform.Config { return transform.DefaultConfig() }

func (b *blockingTransformer) Process(ctx context.Context, _ []byte, _ string, _ transform.Spec) (transform.Result, error) {
	b.started <- struct{}{}
	<-b.release
	return transform.Result{}, b.err
}

func (b *blockingTransformer) Load() (running, waiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running, b.waiting
}

// TestTransformQueueMetrics: a rendition in progress is in flight, the
// queue gauges read the transformer's pool, and a refusal for a full queue
// is counted as busy.
func TestTransformQueueMetrics(t *testing.T) {
	tf := &blockingTransformer{started: make(chan struct{}), release: make(chan struct{}), err: transform.ErrBusy, running: 4, waiting: 9}
	e := newEnv(t, true, func(_ *edge.Config, d *edge.Deps) { d.Transformer = tf })
	img := e.put(t, pngImage(t, 20, 20))
	done := make(chan int)
	go func() {
		resp, _ := do(t, "GET", e.ts.URL+"/m/"+img.ID+"?w=10", nil, nil)
		done <- resp.StatusCode
	}()
	<-tf.started
	wantSeries(t, e, map[string]float64{
		"mediaedge_transforms_in_flight":   1,
		"mediaedge_transform_workers_busy": 4,
		"mediaedge_transform_queue_depth":  9,
	})
	close(tf.release)
	if st := <-done; st != 503 {
		t.Fatalf("a full queue: %d, want 503", st)
	}
	wantSeries(t, e, map[string]float64{
		"mediaedge_transforms_in_flight":                      0,
		`mediaedge_transform_rejections_total{reason="busy"}`: 1,
	})
}

// TestCacheEvictionMetrics: entries evicted for a disk's budget are counted
// with their bytes.
func TestCacheEvictionMetrics(t *testing.T) {
	dir := t.TempDir()
	cc := edgecache.DefaultConfig()
	cc.Disks = []edgecache.DiskConfig{{Path: dir, Budget: 300 << 10}}
	cache, err := edgecache.Open(context.Background(), cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	if err := cache.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, false, func(_ *edge.Config, d *edge.Deps) { d.Cache = cache })
	for i := range 4 {
		info := e.put(t, randBytes(100<<10, int64(i)))
		if resp, _ := do(t, "GET", e.ts.URL+"/m/"+info.ID, nil, nil); resp.StatusCode != 200 {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
	}
	got := scrape(t, e)
	n, b := got[`mediaedge_cache_evictions_total{disk="`+dir+`"}`], got[`mediaedge_cache_evicted_bytes_total{disk="`+dir+`"}`]
	if n < 1 || b < n*(100<<10) {
		t.Fatalf("4 x 100 KiB through a 300 KiB disk: %v evictions of %v bytes", n, b)
	}
}
