package video

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/transform"
)

// makeVideo writes a test clip with ffmpeg (lavfi sources, so nothing is
// committed).
func makeVideo(t *testing.T, name string, args ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("ffmpeg", append(append([]string{"-v", "error", "-y"}, args...), p)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	return p
}

// fifo is a named pipe nobody writes to: ffmpeg opening it blocks for ever,
// which makes "a job past its deadline" deterministic and instant.
func fifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "never.mp4")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	return p
}

// TestDeadlineKillsAndCleansUp: a job past its deadline returns ErrTimeout,
// and by then its ffmpeg/ffprobe process is gone and its temp folder removed.
func TestDeadlineKillsAndCleansUp(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TempDir = t.TempDir()
	cfg.Timeout = 200 * time.Millisecond
	c := newConvWith(t, cfg)
	pids := make(chan int, 10)
	c.onStart = func(pid int, _ string) { pids <- pid }
	src := fifo(t)
	jobs := map[string]func() error{
		"poster": func() error { _, err := c.Poster(context.Background(), src, "video/mp4", 1); return err },
		"hls": func() error {
			_, err := c.PackageHLS(context.Background(), src, "video/mp4", t.TempDir(), 4)
			return err
		},
		"probe": func() error { _, err := c.Probe(context.Background(), src, "video/mp4"); return err },
	}
	for name, run := range jobs {
		if err := run(); !errors.Is(err, ErrTimeout) {
			t.Fatalf("%s: got %v, want ErrTimeout", name, err)
		}
		select {
		case pid := <-pids:
			// Killed and reaped: no process (not even a zombie) has the pid,
			// and its process group is empty.
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("%s: process %d still exists (%v)", name, pid, err)
			}
			if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("%s: process group %d still has members (%v)", name, pid, err)
			}
		default:
			t.Fatalf("%s: no process was started", name)
		}
		if left, _ := os.ReadDir(cfg.TempDir); len(left) != 0 {
			t.Fatalf("%s: temp files left: %v", name, left)
		}
	}
}

// TestBusy: with every slot taken, a job waits QueueWait and gets ErrBusy;
// a caller that goes away gets its process killed too.
func TestBusy(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TempDir = t.TempDir()
	cfg.MaxConcurrent, cfg.QueueWait = 1, 20*time.Millisecond
	c := newConvWith(t, cfg)
	started := make(chan int, 1)
	c.onStart = func(pid int, _ string) { started <- pid }
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	src := fifo(t)
	go func() { _, err := c.Poster(ctx, src, "video/mp4", 0); first <- err }()
	pid := <-started
	if _, err := c.Probe(context.Background(), src, "video/mp4"); !errors.Is(err, ErrBusy) {
		t.Fatalf("second job: got %v, want ErrBusy", err)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled job: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d of the cancelled job still exists", pid)
	}
	if left, _ := os.ReadDir(cfg.TempDir); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

func TestPoster(t *testing.T) {
	c := newConv(t)
	// Red for 2 s, then blue for 2 s: the frame at t shows which.
	v := makeVideo(t, "v.mp4", "-f", "lavfi", "-i", "color=c=red:s=320x240:r=10:d=2[a];color=c=blue:s=320x240:r=10:d=2[b];[a][b]concat",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10")
	for _, tc := range []struct {
		t    float64
		name string
		red  bool
	}{{0, "start", true}, {1.5, "red part", true}, {2.5, "blue part", false}, {60, "past the end: last frame", false}} {
		png, err := c.Poster(context.Background(), v, "video/mp4", tc.t)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		w, h, _, err := transform.Probe(png)
		if err != nil || w != 320 || h != 240 {
			t.Fatalf("%s: poster %dx%d %v", tc.name, w, h, err)
		}
		r, _, b := pngPixel(t, png, 160, 120)
		if (r > b) != tc.red {
			t.Errorf("%s (t=%v): pixel r=%d b=%d, want red=%v", tc.name, tc.t, r, b, tc.red)
		}
	}
	if _, err := c.Poster(context.Background(), v, "text/plain", 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("non-video: %v", err)
	}
	if _, err := c.Poster(context.Background(), v, "video/mp4", -1); err == nil {
		t.Fatal("negative time accepted")
	}
}

// pngPixel decodes a PNG with ffmpeg and returns the RGB at (x, y).
func pngPixel(t *testing.T, png []byte, x, y int) (r, g, b byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "p.png")
	os.WriteFile(p, png, 0o644)
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", p, "-f", "rawvideo", "-pix_fmt", "rgb24", "-vf",
		"crop=1:1:"+strconv.Itoa(x)+":"+strconv.Itoa(y), "pipe:1").Output()
	if err != nil || len(out) != 3 {
		t.Fatalf("decode png: %v (%d bytes)", err, len(out))
	}
	return out[0], out[1], out[2]
}

// TestCorruptVideo: truncated and garbage videos are ErrCorrupt (422), for
// every job kind.
func TestCorruptVideo(t *testing.T) {
	c := newConv(t)
	// No +faststart: the index (moov) is at the end, so a cut file has none.
	good := makeVideo(t, "good.mp4", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	raw, _ := os.ReadFile(good)
	dir := t.TempDir()
	truncated, garbage := filepath.Join(dir, "cut.mp4"), filepath.Join(dir, "garbage.mp4")
	os.WriteFile(truncated, raw[:len(raw)*2/3], 0o644)
	os.WriteFile(garbage, []byte("\x00\x00\x00\x18ftypmp42 then nothing useful at all"), 0o644)
	for _, p := range []string{truncated, garbage} {
		if _, err := c.Poster(context.Background(), p, "video/mp4", 0.5); !errors.Is(err, ErrCorrupt) {
			t.Errorf("poster of %s: %v", filepath.Base(p), err)
		}
		if _, err := c.Probe(context.Background(), p, "video/mp4"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("probe of %s: %v", filepath.Base(p), err)
		}
		if _, err := c.PackageHLS(context.Background(), p, "video/mp4", t.TempDir(), 4); !errors.Is(err, ErrCorrupt) {
			t.Errorf("hls of %s: %v", filepath.Base(p), err)
		}
	}
}

func TestProbe(t *testing.T) {
	c := newConv(t)
	v := makeVideo(t, "v.mp4", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=25:duration=2", "-f", "lavfi", "-i", "sine=duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
	info, err := c.Probe(context.Background(), v, "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	if info.VideoCodec != "h264" || info.AudioCodec != "aac" || info.Width != 320 || info.Height != 180 || info.Frames != 50 ||
		info.PixFmt != "yuv420p" || info.DurationSec < 1.9 || info.DurationSec > 2.2 {
		t.Fatalf("info %+v", info)
	}
}
