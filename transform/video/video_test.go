package video

import (
	"github.com/mediaedge/mediaedge/internal/testenv"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/mediaedge/mediaedge/transform"
)

func newConv(t *testing.T) *Converter {
	t.Helper()
	cfg := DefaultConfig()
	cfg.TempDir = t.TempDir()
	return newConvWith(t, cfg)
}

func newConvWith(t *testing.T, cfg Config) *Converter {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		testenv.Missing(t, err.Error())
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

// probed is what a player sees of an MP4's first video stream.
type probed struct {
	codec, pixFmt string
	w, h, frames  int
	duration      float64   // the file's (format) duration, edit list applied
	pts           []float64 // frame presentation times, sorted
}

// ffprobeFile reads stream parameters and every frame's time with ffprobe.
func ffprobeFile(t *testing.T, path string) probed {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
		"stream=codec_name,pix_fmt,width,height,nb_frames:format=duration:packet=pts_time", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
			PixFmt    string `json:"pix_fmt"`
			Width     int
			Height    int
			NbFrames  string `json:"nb_frames"`
		}
		Packets []struct {
			PTSTime string `json:"pts_time"`
		}
		Format struct{ Duration string }
	}
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 1 {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	s := p.Streams[0]
	r := probed{codec: s.CodecName, pixFmt: s.PixFmt, w: s.Width, h: s.Height}
	r.frames, _ = strconv.Atoi(s.NbFrames)
	r.duration, _ = strconv.ParseFloat(p.Format.Duration, 64)
	for _, pk := range p.Packets {
		v, _ := strconv.ParseFloat(pk.PTSTime, 64)
		r.pts = append(r.pts, v)
	}
	slices.Sort(r.pts)
	return r
}

func ffprobeBytes(t *testing.T, data []byte) probed {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out.mp4")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return ffprobeFile(t, p)
}

// checkTiming: one MP4 frame per source frame, each starting where the
// delays before it add up to (to the millisecond), and the file lasting the
// sum of the delays (within one frame).
func checkTiming(t *testing.T, p probed, delaysMS []int) {
	t.Helper()
	if p.codec != "h264" || p.pixFmt != "yuv420p" || p.w%2 != 0 || p.h%2 != 0 {
		t.Fatalf("codec %s, pix_fmt %s, %dx%d: want h264 yuv420p with even sides", p.codec, p.pixFmt, p.w, p.h)
	}
	if p.frames != len(delaysMS) || len(p.pts) != len(delaysMS) {
		t.Fatalf("%d frames (%d packets), want %d", p.frames, len(p.pts), len(delaysMS))
	}
	at := 0
	for i, d := range delaysMS {
		if math.Abs(p.pts[i]-float64(at)/1000) > 0.0015 {
			t.Fatalf("frame %d at %.3f s, want %.3f s", i, p.pts[i], float64(at)/1000)
		}
		at += d
	}
	if math.Abs(p.duration-float64(at)/1000) > float64(delaysMS[len(delaysMS)-1])/1000/2 {
		t.Fatalf("duration %.3f s, want %.3f s", p.duration, float64(at)/1000)
	}
}

func TestGIFToMP4KeepsVariableDelays(t *testing.T) {
	c := newConv(t)
	src := gifWith(t, 61, 41, []int{10, 50, 20, 30}, false)
	mp4, info, err := c.AnimatedToMP4(context.Background(), src, MP4Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := ffprobeBytes(t, mp4)
	checkTiming(t, p, []int{100, 500, 200, 300})
	// Odd sides are cropped by one pixel, not resampled.
	if p.w != 60 || p.h != 40 || info.Width != 60 || info.Height != 40 {
		t.Fatalf("size %dx%d (info %+v), want 60x40", p.w, p.h, info)
	}
	if info.Frames != 4 || info.DurationMS != 1100 {
		t.Fatalf("info %+v", info)
	}
	if i := bytes.Index(mp4, []byte("moov")); i < 0 || i > bytes.Index(mp4, []byte("mdat")) {
		t.Error("moov is not before mdat: +faststart missing")
	}
	if p := ffprobeStreams(t, mp4); p != "video" {
		t.Errorf("streams %q, want one video stream and no audio", p)
	}
}

// ffprobeStreams lists the codec types of every stream.
func ffprobeStreams(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.mp4")
	os.WriteFile(path, data, 0o644)
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSpace(out))
}

// TestRealGIF: a real screen recording with variable delays (testdata).
func TestRealGIF(t *testing.T) {
	c := newConv(t)
	src, err := os.ReadFile("testdata/progressbar-basic.gif")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-f", "gif", "-show_entries", "packet=duration_time", "-of", "csv=p=0", "testdata/progressbar-basic.gif").Output()
	if err != nil {
		t.Fatal(err)
	}
	var delays []int
	for _, f := range bytes.Fields(out) {
		v, _ := strconv.ParseFloat(string(f), 64)
		delays = append(delays, int(math.Round(v*1000)))
	}
	mp4, info, err := c.AnimatedToMP4(context.Background(), src, MP4Options{Width: 800})
	if err != nil {
		t.Fatal(err)
	}
	p := ffprobeBytes(t, mp4)
	checkTiming(t, p, delays)
	if p.w != 800 || p.h != 78 || info.Frames != len(delays) {
		t.Fatalf("%dx%d, info %+v: want 800x78 and %d frames", p.w, p.h, info, len(delays))
	}
	t.Logf("%d frames: GIF %d bytes, MP4 %d bytes at half size", len(delays), len(src), len(mp4))
}

// firstPixel decodes the MP4's first frame and returns the RGB at (x, y).
func firstPixel(t *testing.T, mp4 []byte, w, x, y int) (r, g, b byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.mp4")
	os.WriteFile(p, mp4, 0o644)
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", p, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1").Output()
	if err != nil {
		t.Fatalf("decode first frame: %v", err)
	}
	i := (y*w + x) * 3
	if len(out) < i+3 {
		t.Fatalf("frame of %d bytes", len(out))
	}
	return out[i], out[i+1], out[i+2]
}

func TestTransparencyOnBackground(t *testing.T) {
	c := newConv(t)
	src := gifWith(t, 40, 40, []int{10, 10}, true)
	for _, tc := range []struct {
		bg      string
		r, g, b byte
	}{{"ff0000ff", 255, 0, 0}, {"", 255, 255, 255}, {"0000ff", 0, 0, 255}} {
		mp4, _, err := c.AnimatedToMP4(context.Background(), src, MP4Options{Background: tc.bg})
		if err != nil {
			t.Fatal(err)
		}
		near := func(a, b byte) bool { return math.Abs(float64(a)-float64(b)) < 40 }
		if r, g, b := firstPixel(t, mp4, 40, 5, 20); !near(r, tc.r) || !near(g, tc.g) || !near(b, tc.b) {
			t.Errorf("bg %q: transparent area is %d,%d,%d", tc.bg, r, g, b)
		}
		// The opaque half keeps its own colour (green, 0,200,0).
		if r, g, b := firstPixel(t, mp4, 40, 35, 20); r > 40 || g < 160 || b > 40 {
			t.Errorf("bg %q: opaque area is %d,%d,%d, want green", tc.bg, r, g, b)
		}
	}
	if _, _, err := c.AnimatedToMP4(context.Background(), src, MP4Options{Background: "nothex"}); err == nil {
		t.Error("bad background accepted")
	}
}

// TestAnimatedWebPToMP4 makes a real animated WebP with the vips CLI from a
// variable-delay GIF and checks the MP4 has the same frames and timing.
func TestAnimatedWebPToMP4(t *testing.T) {
	c := newConv(t)
	testenv.Tool(t, "vips")
	dir := t.TempDir()
	gifPath, webpPath := filepath.Join(dir, "a.gif"), filepath.Join(dir, "a.webp")
	os.WriteFile(gifPath, gifWith(t, 48, 32, []int{10, 20, 10, 40, 20}, true), 0o644)
	if out, err := exec.Command("vips", "copy", gifPath+"[n=-1]", webpPath).CombinedOutput(); err != nil {
		t.Fatalf("vips copy: %v %s", err, out)
	}
	out, err := exec.Command("vipsheader", "-f", "n-pages", webpPath).Output()
	if err != nil || string(bytes.TrimSpace(out)) != "5" {
		t.Fatalf("the WebP is not animated: n-pages %q %v", out, err)
	}
	webp, _ := os.ReadFile(webpPath)
	mp4, info, err := c.AnimatedToMP4(context.Background(), webp, MP4Options{Width: 24, Background: "ff0000"})
	if err != nil {
		t.Fatal(err)
	}
	p := ffprobeBytes(t, mp4)
	checkTiming(t, p, []int{100, 200, 100, 400, 200})
	if info.Frames != 5 || info.DurationMS != 1000 || p.w != 24 || p.h != 16 {
		t.Fatalf("info %+v, %dx%d", info, p.w, p.h)
	}
	if r, g, b := firstPixel(t, mp4, 24, 2, 8); r < 200 || g > 60 || b > 60 {
		t.Errorf("transparent area is %d,%d,%d, want red", r, g, b)
	}
}

func TestStillCorruptAndLimits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TempDir = t.TempDir()
	cfg.MaxFrames = 5
	c := newConvWith(t, cfg)
	ctx := context.Background()
	anim := gifWith(t, 50, 50, []int{10, 10, 10}, false)
	for _, tc := range []struct {
		name string
		src  []byte
		want []error
	}{
		{"still GIF", gifWith(t, 10, 10, []int{10}, false), []error{ErrNotAnimated}},
		{"truncated GIF", anim[:len(anim)/2], []error{ErrCorrupt, transform.ErrCorruptImage}},
		{"GIF header only", anim[:40], []error{ErrCorrupt}},
		{"garbage after GIF magic", append([]byte("GIF89a"), bytes.Repeat([]byte{7}, 100)...), []error{ErrCorrupt}},
		{"text", []byte("not an image at all"), []error{transform.ErrUnsupported}},
		{"too many frames", gifWith(t, 10, 10, []int{1, 2, 3, 4, 5, 6}, false), []error{transform.ErrTooManyFrames}},
	} {
		_, _, err := c.AnimatedToMP4(ctx, tc.src, MP4Options{})
		for _, want := range tc.want {
			if !errors.Is(err, want) {
				t.Errorf("%s: got %v, want %v", tc.name, err, want)
			}
		}
	}
	if left, _ := os.ReadDir(cfg.TempDir); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestFitEven(t *testing.T) {
	for _, tc := range []struct{ w, h, mw, mh, ww, wh int }{
		{61, 41, 0, 0, 60, 40},
		{1600, 156, 800, 0, 800, 78},
		{100, 50, 1000, 1000, 100, 50}, // never enlarged
		{100, 50, 0, 25, 50, 24},
		{3, 3, 1, 1, 2, 2},
	} {
		w, h, _ := fitEven(tc.w, tc.h, tc.mw, tc.mh)
		if w != tc.ww || h != tc.wh {
			t.Errorf("fit %dx%d in %dx%d: %dx%d, want %dx%d", tc.w, tc.h, tc.mw, tc.mh, w, h, tc.ww, tc.wh)
		}
	}
}
