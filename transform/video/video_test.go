package video

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/transform"
)

func newConv(t *testing.T) *Converter {
	t.Helper()
	cfg := DefaultConfig()
	cfg.TempDir = t.TempDir()
	c, err := New(cfg)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return c
}

// gifWith makes a w x h animated GIF; frame i has delays[i] (1/100 s) and a
// colour of its own; transparent paints the left half transparent.
func gifWith(t *testing.T, w, h int, delays []int, transparent bool) []byte {
	t.Helper()
	pal := color.Palette{color.RGBA{0, 0, 0, 0}, color.RGBA{0, 200, 0, 255}, color.RGBA{0, 0, 200, 255}, color.RGBA{200, 200, 0, 255}}
	g := &gif.GIF{}
	for i, d := range delays {
		fr := image.NewPaletted(image.Rect(0, 0, w, h), pal)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := uint8(i%3 + 1)
				if transparent && x < w/2 {
					c = 0
				}
				fr.SetColorIndex(x, y, c)
			}
		}
		g.Image = append(g.Image, fr)
		g.Delay = append(g.Delay, d)
		g.Disposal = append(g.Disposal, gif.DisposalBackground)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type probed struct {
	codec, pixFmt string
	w, h, frames  int
	duration      float64
	pts           []float64
}

// ffprobe reads what a player will see: stream parameters and packet times.
func ffprobe(t *testing.T, data []byte) probed {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out.mp4")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
		"stream=codec_name,pix_fmt,width,height,nb_frames:format=duration", "-of", "default=nw=1", p).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var r probed
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "codec_name":
			r.codec = v
		case "pix_fmt":
			r.pixFmt = v
		case "width":
			r.w, _ = strconv.Atoi(v)
		case "height":
			r.h, _ = strconv.Atoi(v)
		case "nb_frames":
			r.frames, _ = strconv.Atoi(v)
		case "duration":
			r.duration, _ = strconv.ParseFloat(v, 64)
		}
	}
	out, err = exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(out)) {
		v, _ := strconv.ParseFloat(strings.TrimSuffix(f, ","), 64)
		r.pts = append(r.pts, v)
	}
	sortFloats(r.pts)
	return r
}

func sortFloats(a []float64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

func TestGIFToMP4KeepsVariableDelays(t *testing.T) {
	c := newConv(t)
	delays := []int{10, 50, 20, 30} // 1/100 s
	src := gifWith(t, 61, 41, delays, false)
	mp4, info, err := c.AnimatedToMP4(context.Background(), src, MP4Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := ffprobe(t, mp4)
	if p.codec != "h264" || p.pixFmt != "yuv420p" {
		t.Fatalf("codec %s pix_fmt %s", p.codec, p.pixFmt)
	}
	if p.w%2 != 0 || p.h%2 != 0 || p.w != 60 || p.h != 40 {
		t.Fatalf("size %dx%d, want even 60x40", p.w, p.h)
	}
	if info.Frames != 4 || info.DurationMS != 1100 {
		t.Fatalf("info %+v", info)
	}
	if math.Abs(p.duration-1.1) > 0.1 {
		t.Fatalf("duration %.3f s, want 1.1 s within one frame", p.duration)
	}
	want := []float64{0, 0.1, 0.6, 0.8}
	if len(p.pts) < len(want) {
		t.Fatalf("pts %v", p.pts)
	}
	for i, w := range want {
		if math.Abs(p.pts[i]-w) > 0.0015 {
			t.Fatalf("frame %d at %.3f s, want %.3f (pts %v)", i, p.pts[i], w, p.pts)
		}
	}
	if !bytes.Contains(mp4[:min(len(mp4), 4096)], []byte("moov")) {
		t.Error("moov is not at the front: +faststart missing")
	}
}

func TestTransparencyOnBackground(t *testing.T) {
	c := newConv(t)
	src := gifWith(t, 40, 40, []int{10, 10}, true)
	mp4, _, err := c.AnimatedToMP4(context.Background(), src, MP4Options{Background: "ff0000ff"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "a.mp4")
	os.WriteFile(p, mp4, 0o644)
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", p, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1").Output()
	if err != nil || len(out) < 40*40*3 {
		t.Fatalf("decode first frame: %v", err)
	}
	r, g, b := out[(20*40+5)*3], out[(20*40+5)*3+1], out[(20*40+5)*3+2]
	if r < 180 || g > 70 || b > 70 {
		t.Fatalf("transparent area is %d,%d,%d, want red", r, g, b)
	}
}

func TestAnimatedWebPToMP4(t *testing.T) {
	c := newConv(t)
	gifSrc := gifWith(t, 48, 32, []int{10, 20, 10, 40, 20}, false)
	proc, err := transform.NewProcessor(transform.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := transform.Parse(transform.DefaultConfig(), "webp", nil, "")
	webp, err := proc.Process(context.Background(), gifSrc, "image/gif", spec)
	if err != nil || webp.Frames != 5 {
		t.Fatalf("making the animated WebP: %v (frames %d)", err, webp.Frames)
	}
	mp4, info, err := c.AnimatedToMP4(context.Background(), webp.Data, MP4Options{Width: 24})
	if err != nil {
		t.Fatal(err)
	}
	p := ffprobe(t, mp4)
	// One more frame than the source: the last is repeated to carry its delay.
	if info.Frames != 5 || p.frames != 6 || math.Abs(p.duration-1.0) > 0.1 || p.w != 24 {
		t.Fatalf("info %+v, probe %+v", info, p)
	}
}

func TestStillAndCorrupt(t *testing.T) {
	c := newConv(t)
	still := gifWith(t, 10, 10, []int{10}, false)
	if _, _, err := c.AnimatedToMP4(context.Background(), still, MP4Options{}); !errors.Is(err, ErrNotAnimated) {
		t.Fatalf("still image: %v", err)
	}
	anim := gifWith(t, 50, 50, []int{10, 10, 10}, false)
	if _, _, err := c.AnimatedToMP4(context.Background(), anim[:len(anim)/2], MP4Options{}); err == nil {
		t.Fatal("truncated GIF converted without error")
	}
	if _, _, err := c.AnimatedToMP4(context.Background(), []byte("not a gif at all"), MP4Options{}); !errors.Is(err, transform.ErrUnsupported) {
		t.Fatalf("text: %v", err)
	}
}

// makeVideo writes a test clip with ffmpeg.
func makeVideo(t *testing.T, name string, args ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("ffmpeg", append(append([]string{"-v", "error", "-y"}, args...), p)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	return p
}

func TestHLSRemuxAndTranscode(t *testing.T) {
	c := newConv(t)
	h264 := makeVideo(t, "phone.mp4", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30:duration=9", "-f", "lavfi", "-i", "sine=duration=9",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "60", "-c:a", "aac", "-shortest")
	mpeg4 := makeVideo(t, "old.mp4", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=9", "-c:v", "mpeg4")
	for _, tc := range []struct {
		path    string
		remuxed bool
	}{{h264, true}, {mpeg4, false}} {
		out := t.TempDir()
		res, err := c.PackageHLS(context.Background(), tc.path, "video/mp4", out, 4)
		if err != nil {
			t.Fatal(err)
		}
		if res.Remuxed != tc.remuxed {
			t.Errorf("%s: remuxed %v, want %v", filepath.Base(tc.path), res.Remuxed, tc.remuxed)
		}
		pl, err := os.ReadFile(filepath.Join(out, "index.m3u8"))
		if err != nil {
			t.Fatal(err)
		}
		segs := 0
		for _, line := range strings.Split(string(pl), "\n") {
			if d, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
				v, _ := strconv.ParseFloat(strings.TrimSuffix(d, ","), 64)
				if v > 6.05 {
					t.Errorf("segment of %.2f s, want at most 6", v)
				}
				segs++
			}
		}
		if segs < 2 || !strings.Contains(string(pl), `#EXT-X-MAP:URI="init.mp4"`) {
			t.Fatalf("playlist:\n%s", pl)
		}
		info, err := c.Probe(context.Background(), filepath.Join(out, "init.mp4"), "video/mp4")
		if err != nil || info.VideoCodec != "h264" {
			t.Fatalf("init segment: %+v %v", info, err)
		}
	}
}

func TestPoster(t *testing.T) {
	c := newConv(t)
	v := makeVideo(t, "v.mp4", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	png, err := c.Poster(context.Background(), v, "video/mp4", 2.5)
	if err != nil {
		t.Fatal(err)
	}
	w, h, _, err := transform.Probe(png)
	if err != nil || w != 320 || h != 240 {
		t.Fatalf("poster %dx%d %v", w, h, err)
	}
	if _, err := c.Poster(context.Background(), v, "text/plain", 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("non-video: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.mp4")
	os.WriteFile(bad, []byte("\x00\x00\x00\x18ftypmp42 truncated"), 0o644)
	if _, err := c.Poster(context.Background(), bad, "video/mp4", 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt video: %v", err)
	}
}

// TestDeadlineKillsAndCleansUp: a transcode past its deadline returns
// ErrTimeout, leaves no ffmpeg process and no temp file.
func TestDeadlineKillsAndCleansUp(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TempDir = t.TempDir()
	cfg.Timeout = 300 * time.Millisecond
	cfg.Preset = "veryslow"
	c, err := New(cfg)
	if err != nil {
		t.Skip(err)
	}
	v := makeVideo(t, "long.mp4", "-f", "lavfi", "-i", "testsrc=size=1280x720:rate=30:duration=20", "-c:v", "mpeg4", "-q:v", "10")
	out := t.TempDir()
	_, err = c.PackageHLS(context.Background(), v, "video/mp4", out, 4)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	left, _ := os.ReadDir(cfg.TempDir)
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
	// The process group was killed before PackageHLS returned: nothing is
	// writing into out any more.
	if ps, _ := exec.Command("pgrep", "-f", out).Output(); len(bytes.TrimSpace(ps)) != 0 {
		t.Fatalf("ffmpeg still running: %s", ps)
	}
}
