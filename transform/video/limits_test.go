package video

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/transform"
)

// TestOversizedFramesRefusedBeforeDecode: a video whose frames are larger
// than images may be (Images.MaxSourcePixels) is refused as too many
// pixels (422) by every job that would decode it, and only ffprobe, whose
// decoder is itself bounded by -max_pixels, ever reads it: no ffmpeg
// allocates its frames. At the limit exactly, the video is taken.
func TestOversizedFramesRefusedBeforeDecode(t *testing.T) {
	v := makeVideo(t, "v.mp4", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=1",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	raw, err := os.ReadFile(v)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.TempDir = t.TempDir()
	cfg.Images.MaxSourcePixels = 320*240 - 1
	c := newConvWith(t, cfg)
	var mu sync.Mutex
	var ran []string
	c.onStart = func(_ int, bin string) {
		mu.Lock()
		ran = append(ran, bin)
		mu.Unlock()
	}
	ctx := context.Background()
	jobs := map[string]func() error{
		"poster": func() error { _, err := c.Poster(ctx, v, "video/mp4", 0.5); return err },
		"poster from a source": func() error {
			_, err := c.PosterFrom(ctx, bytesSource(raw), "video/mp4", 0.5)
			return err
		},
		"hls":   func() error { _, err := c.PackageHLS(ctx, v, "video/mp4", t.TempDir(), 4); return err },
		"probe": func() error { _, err := c.Probe(ctx, v, "video/mp4"); return err },
	}
	for name, job := range jobs {
		ran = nil
		if err := job(); !errors.Is(err, transform.ErrTooManyPixels) {
			t.Errorf("%s: got %v, want ErrTooManyPixels", name, err)
		}
		if slices.Contains(ran, "ffmpeg") || len(ran) == 0 {
			t.Errorf("%s: ran %v, want ffprobe only", name, ran)
		}
	}

	cfg.Images.MaxSourcePixels = 320 * 240
	c = newConvWith(t, cfg)
	if png, err := c.Poster(ctx, v, "video/mp4", 0.5); err != nil {
		t.Fatalf("at the limit: %v", err)
	} else if w, h, _, err := transform.Probe(png); err != nil || w != 320 || h != 240 {
		t.Fatalf("at the limit: poster %dx%d %v", w, h, err)
	}

	// A width no decoder stride divides: it checks 128x60 for a 100x60
	// clip. At the limit, that clip is still taken.
	odd := makeVideo(t, "odd.mp4", "-f", "lavfi", "-i", "testsrc=size=100x60:rate=10:duration=1",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	cfg.Images.MaxSourcePixels = 100 * 60
	c = newConvWith(t, cfg)
	if png, err := c.Poster(ctx, odd, "video/mp4", 0.5); err != nil {
		t.Fatalf("100x60 at the limit: %v", err)
	} else if w, h, _, err := transform.Probe(png); err != nil || w != 100 || h != 60 {
		t.Fatalf("100x60 at the limit: poster %dx%d %v", w, h, err)
	}
	if _, err := c.PackageHLS(ctx, odd, "video/mp4", t.TempDir(), 4); err != nil {
		t.Fatalf("100x60 at the limit, HLS: %v", err)
	}
}

// TestGIFFramesCountedUpToLimit: a GIF with more frames than MaxFrames is
// refused, and ffprobe lists no more than MaxFrames+1 of its frames: a GIF
// of millions of tiny frames would otherwise be listed whole first.
func TestGIFFramesCountedUpToLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TempDir = t.TempDir()
	cfg.MaxFrames = 5
	c := newConvWith(t, cfg)
	delays := make([]int, 40)
	for i := range delays {
		delays[i] = 4
	}
	long := gifWith(t, 2, 2, delays, false)
	if _, _, err := c.AnimatedToMP4(context.Background(), long, MP4Options{}); !errors.Is(err, transform.ErrTooManyFrames) {
		t.Fatalf("GIF of %d frames, at most %d: got %v, want ErrTooManyFrames", len(delays), cfg.MaxFrames, err)
	}
	j, err := c.start(context.Background(), "mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer j.done()
	path := filepath.Join(j.dir, "in.gif")
	if err := os.WriteFile(path, long, 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := c.probeGIF(j, path)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(g.delaysMS); n != cfg.MaxFrames+1 {
		t.Errorf("ffprobe listed %d frames of %d, want MaxFrames+1 = %d", n, len(delays), cfg.MaxFrames+1)
	}
	// At the limit exactly, the GIF converts.
	if _, info, err := c.AnimatedToMP4(context.Background(), gifWith(t, 2, 2, delays[:5], false), MP4Options{}); err != nil || info.Frames != 5 {
		t.Fatalf("GIF of MaxFrames frames: %+v %v", info, err)
	}
}

// TestCappedOutputEndsTheProcess: a process printing past the cap of its
// capped output is ended (the pipe closes) and the job returns at once.
func TestCappedOutputEndsTheProcess(t *testing.T) {
	c := newConv(t)
	delays := make([]int, 200)
	for i := range delays {
		delays[i] = 4
	}
	j, err := c.start(context.Background(), "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer j.done()
	path := filepath.Join(j.dir, "in.gif")
	if err := os.WriteFile(path, gifWith(t, 2, 2, delays, false), 0o600); err != nil {
		t.Fatal(err)
	}
	out := capped{max: 512}
	err = j.run(c.cfg.FFprobe, []string{"-v", "error", "-f", "gif", "-show_packets", "-of", "json", path}, &out)
	if err == nil || !out.over || out.buf.Len() > 512 {
		t.Fatalf("run: %v, over %v, kept %d bytes", err, out.over, out.buf.Len())
	}
}

// bytesSource is a Source of b.
func bytesSource(b []byte) Source {
	return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// TestSourceCopiedInTheSlot: a job's source is opened only once the job
// has its slot, into the job's folder under Config.TempDir, and the copy is
// gone when the job ends; a job that never gets a slot never opens it.
func TestSourceCopiedInTheSlot(t *testing.T) {
	v := makeVideo(t, "v.mp4", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	raw, err := os.ReadFile(v)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.TempDir = t.TempDir()
	cfg.MaxConcurrent, cfg.QueueWait = 1, 50*time.Millisecond
	c := newConvWith(t, cfg)
	var opened []string // the job folders that held the slot at each Open
	src := func(ctx context.Context) (io.ReadCloser, error) {
		entries, _ := os.ReadDir(cfg.TempDir)
		for _, e := range entries {
			opened = append(opened, e.Name())
		}
		return bytesSource(raw)(ctx)
	}
	if _, err := c.PosterFrom(context.Background(), src, "video/mp4", 0); err != nil {
		t.Fatal(err)
	}
	if len(opened) != 1 || !strings.HasPrefix(opened[0], tempPrefix) {
		t.Fatalf("folders in the temp dir at the Open: %v, want the job's own", opened)
	}
	// The slot taken, a second job is refused without opening its source.
	c.slots <- struct{}{}
	opened = nil
	if _, err := c.PosterFrom(context.Background(), src, "video/mp4", 0); !errors.Is(err, ErrBusy) || opened != nil {
		t.Fatalf("with no slot: %v, opened %v", err, opened)
	}
	<-c.slots
	if left, _ := os.ReadDir(cfg.TempDir); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}
