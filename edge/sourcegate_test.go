package edge_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/transform"
	"github.com/mediaedge/mediaedge/transform/video"
)

// heldTransformer blocks every Process until release is closed and records
// how many ran at once: each one holds its whole source in memory.
type heldTransformer struct {
	cfg             transform.Config
	release         chan struct{}
	running, most   atomic.Int64
	started, served atomic.Int64
	only            []byte // when set, only this source is held; others pass
}

func (h *heldTransformer) Config() transform.Config { return h.cfg }

func (h *heldTransformer) Process(ctx context.Context, src []byte, _ string, _ transform.Spec) (transform.Result, error) {
	if h.only != nil && !bytes.Equal(src, h.only) {
		return transform.Result{Data: src[:min(16, len(src))], ContentType: "image/png", Format: "png"}, nil
	}
	n := h.running.Add(1)
	defer h.running.Add(-1)
	for {
		m := h.most.Load()
		if n <= m || h.most.CompareAndSwap(m, n) {
			break
		}
	}
	h.started.Add(1)
	select {
	case <-h.release:
	case <-ctx.Done():
		return transform.Result{}, ctx.Err()
	}
	h.served.Add(1)
	return transform.Result{Data: src[:16], ContentType: "image/png", Format: "png"}, nil
}

// TestSourcesBoundedBeforeTheQueue: renders of different keys each read
// their whole original before any worker pool sees them. The edge reserves
// the original's bytes first (TransformSourceMemory): with room for two
// sources, two renders hold one, three wait (the transform queue), and the
// rest get 503 at once, holding nothing. Once the first finish, the waiting
// ones run. Without the gate all ten read their source and reached the
// transformer at once.
func TestSourcesBoundedBeforeTheQueue(t *testing.T) {
	tcfg := transform.DefaultConfig()
	tcfg.QueueLen = 3
	tcfg.Timeout = 20 * time.Second
	tf := &heldTransformer{cfg: tcfg, release: make(chan struct{})}
	src := pngImage(t, 300, 200)
	e := newEnv(t, true, func(c *edge.Config, d *edge.Deps) {
		c.TransformSourceMemory = int64(len(src))*2 + int64(len(src))/2
		d.Transformer = tf
	})
	info := e.put(t, src)
	const n = 10
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := do(t, "GET", e.ts.URL+"/m/"+info.ID+"?w="+strconv.Itoa(10+i), nil, nil)
			codes <- resp.StatusCode
		}()
	}
	// Five are refused at once; wait for them, then for the two that run.
	var once sync.Once
	release := func() { once.Do(func() { close(tf.release) }) }
	t.Cleanup(release) // a failing test lets the held renders go
	busy := 0
	for busy < n-2-int(tcfg.QueueLen) {
		select {
		case c := <-codes:
			if c != http.StatusServiceUnavailable {
				t.Fatalf("status %d before any render finished, want 503", c)
			}
			busy++
		case <-time.After(10 * time.Second):
			t.Fatalf("%d refused after 10 s, want %d; %d renders reached the transformer", busy, n-2-tcfg.QueueLen, tf.started.Load())
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for tf.started.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // room for a third to start, were it let through
	if got := tf.started.Load(); got != 2 {
		t.Fatalf("%d renders reached the transformer with room for 2 sources", got)
	}
	release()
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("a render that waited got %d, want 200", c)
		}
	}
	if tf.most.Load() != 2 || tf.served.Load() != 2+int64(tcfg.QueueLen) {
		t.Errorf("at most %d at once (want 2), %d served (want %d)", tf.most.Load(), tf.served.Load(), 2+tcfg.QueueLen)
	}
}

// posterVideo is a Video whose posters are a fixed frame, made at once.
type posterVideo struct{ frame []byte }

func (p posterVideo) AnimatedToMP4(context.Context, []byte, video.MP4Options) ([]byte, transform.AnimationInfo, error) {
	return nil, transform.AnimationInfo{}, video.ErrAlreadyVideo
}

func (p posterVideo) PosterFrom(context.Context, video.Source, string, float64) ([]byte, error) {
	return p.frame, nil
}

// TestPostersOutsideTheSourceGate: a video's poster copies the video to a
// temp file, not into memory, and the video workers bound it, so it
// reserves nothing: with the whole budget held by an image render, a
// poster of a larger video is still made at once. Reserving the video's
// size made one poster of a big video stall every image render behind it.
func TestPostersOutsideTheSourceGate(t *testing.T) {
	tcfg := transform.DefaultConfig()
	tcfg.Timeout = 20 * time.Second
	img := pngImage(t, 300, 200)
	tf := &heldTransformer{cfg: tcfg, release: make(chan struct{}), only: img}
	var once sync.Once
	release := func() { once.Do(func() { close(tf.release) }) }
	t.Cleanup(release)
	e := newEnv(t, true, func(c *edge.Config, d *edge.Deps) {
		c.TransformSourceMemory = int64(len(img))
		d.Transformer = tf
		d.Video = posterVideo{frame: pngImage(t, 32, 32)}
	})
	im := e.put(t, img)
	// An MP4 header (sniffed as video/mp4) and twice the budget of bytes.
	mp4 := append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), bytes.Repeat([]byte{0}, 2*len(img))...)
	vid := e.put(t, mp4)
	if vid.ContentType != "video/mp4" {
		t.Fatalf("the video was stored as %s", vid.ContentType)
	}
	held := make(chan int, 1)
	go func() {
		resp, _ := do(t, "GET", e.ts.URL+"/m/"+im.ID+"?w=10", nil, nil)
		held <- resp.StatusCode
	}()
	deadline := time.Now().Add(10 * time.Second)
	for tf.started.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if tf.started.Load() != 1 {
		t.Fatal("the image render never started")
	}
	got := make(chan int, 1)
	go func() {
		resp, _ := do(t, "GET", e.ts.URL+"/m/"+vid.ID+"?w=20&fm=jpg", nil, nil)
		got <- resp.StatusCode
	}()
	select {
	case c := <-got:
		if c != http.StatusOK {
			t.Errorf("poster: %d, want 200", c)
		}
	case <-time.After(5 * time.Second):
		t.Error("the poster waited for the image render's source bytes")
	}
	release()
	if c := <-held; c != http.StatusOK {
		t.Errorf("image: %d", c)
	}
}
