package transform

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/h2non/bimg"

	"github.com/mediaedge/mediaedge/internal/testmedia"
)

// Test media is generated here, so each test says what its input is.

// photo is a w x h JPEG: a smooth gradient with a solid red block in the
// top-left corner and a solid blue block in the bottom-right one.
func photo(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255}
			if x < w/4 && y < h/4 {
				c = color.RGBA{255, 0, 0, 255}
			}
			if x >= 3*w/4 && y >= 3*h/4 {
				c = color.RGBA{0, 0, 255, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func transparentPNG(t testing.TB) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			if x < 32 {
				img.Set(x, y, color.NRGBA{0, 200, 0, 255})
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// animatedGIF has frames of different colours and delays (in 1/100 s).
func animatedGIF(t testing.TB, delays []int) []byte {
	g := &gif.GIF{}
	pal := color.Palette{color.Black, color.White, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	for i, d := range delays {
		fr := image.NewPaletted(image.Rect(0, 0, 60, 40), pal)
		for p := range fr.Pix {
			fr.Pix[p] = uint8(i%3 + 1)
		}
		g.Image = append(g.Image, fr)
		g.Delay = append(g.Delay, d)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngBomb(w, h uint32) []byte { return testmedia.PNGBomb(w, h) }

// withOrientation inserts an EXIF APP1 segment carrying Orientation=o after
// the JPEG's SOI marker, as a camera held on its side writes it.
func withOrientation(jpg []byte, o uint16) []byte {
	tiff := []byte{'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, byte(o >> 8), byte(o), 0, 0, 0, 0, 0, 0}
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xff, 0xe1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	seg = append(seg, payload...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func newProc(t testing.TB) *Processor {
	t.Helper()
	p, err := NewProcessor(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, p *Processor, src []byte, srcType, ext, query, accept string) (Result, error) {
	t.Helper()
	spec, err := Parse(p.Config(), ext, mustQuery(t, query), accept)
	if err != nil {
		t.Fatalf("parse %s: %v", query, err)
	}
	return p.Process(context.Background(), src, srcType, spec)
}

// meta reads an output's format and size with bimg, independently of our code.
func meta(t *testing.T, b []byte) (string, int, int) {
	t.Helper()
	m, err := bimg.NewImage(b).Metadata()
	if err != nil {
		t.Fatalf("output unreadable: %v", err)
	}
	return m.Type, m.Size.Width, m.Size.Height
}

func TestProcessSizesAndFormats(t *testing.T) {
	p := newProc(t)
	src := photo(t, 800, 600)
	tests := []struct {
		query, wantType string
		w, h            int
	}{
		{"w=400", "jpeg", 400, 300},
		{"h=150", "jpeg", 200, 150},
		{"w=400&h=400", "jpeg", 400, 300},           // clip: fit inside
		{"w=400&h=400&fit=crop", "jpeg", 400, 400},  // fill then crop
		{"w=400&h=100&fit=scale", "jpeg", 400, 100}, // stretch
		{"w=400&h=400&fit=fill", "jpeg", 400, 400},  // padded
		{"w=1600&fit=max", "jpeg", 800, 600},        // never enlarge
		{"w=1600", "jpeg", 1600, 1200},              // clip may enlarge
		{"w=1600&h=800&fit=min", "jpeg", 800, 400},  // aspect kept, no enlarging
		{"w=200&dpr=2", "jpeg", 400, 300},
		{"w=100&fm=png", "png", 100, 75},
		{"w=100&fm=webp", "webp", 100, 75},
		{"w=100&fm=avif", "avif", 100, 75},
		{"w=100&fm=gif", "gif", 100, 75},
		{"w=100&h=100&fit=crop&crop=entropy", "jpeg", 100, 100},
		{"w=100&h=100&fit=crop&crop=attention", "jpeg", 100, 100},
		{"w=100&h=100&fit=crop&crop=focalpoint&fp-x=0&fp-y=0", "jpeg", 100, 100},
		{"w=100&blur=100&sharp=50&rot=90&flip=hv", "jpeg", 75, 100},
		{"w=100&rot=45&bg=000", "jpeg", 124, 124},
	}

	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r, err := run(t, p, src, "image/jpeg", "", tt.query, "")
			if err != nil {
				t.Fatal(err)
			}
			typ, w, h := meta(t, r.Data)
			if typ != tt.wantType || abs(w-tt.w) > 1 || abs(h-tt.h) > 1 {
				t.Fatalf("got %s %dx%d, want %s %dx%d", typ, w, h, tt.wantType, tt.w, tt.h)
			}
		})
	}
}

// TestOpenSideBounded: a side the request leaves open stays within
// MaxOutputSide: w=800 on a 40x2000 strip would be 800x40000 pixels; it fits
// inside 800x8192 instead. With no size at all, a source wider than the
// limit is shrunk to it.
func TestOpenSideBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxOutputSide = 1000
	p, err := NewProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		src   []byte
		query string
		w, h  int
	}{
		{photo(t, 40, 200), "w=800", 200, 1000},
		{photo(t, 1600, 400), "fm=png", 1000, 250},
		{photo(t, 1600, 400), "h=300", 1000, 250},
	} {
		r, err := run(t, p, tt.src, "", "", tt.query, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, w, h := meta(t, r.Data); w != tt.w || h != tt.h {
			t.Errorf("%s: %dx%d, want %dx%d", tt.query, w, h, tt.w, tt.h)
		}
	}
}

// TestRotationBounded: a rotation off the right angles grows the canvas; a
// result past MaxOutputSide is a 400 naming rot (w=8192&h=8192&rot=45 once
// rendered 11585 px a side), and one within it keeps its size.
func TestRotationBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxOutputSide = 300
	p, err := NewProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	src := photo(t, 800, 600)
	for _, tt := range []struct {
		query string
		w, h  int // 0: refused
	}{
		{"w=300&rot=45", 0, 0},                // 300x225 turned: 372x372
		{"w=300&h=300&rot=30&fit=crop", 0, 0}, // 300x300 turned: 410x410
		{"w=200&rot=45", 248, 248},
		{"w=300&rot=90", 225, 300},
		{"w=300&rot=180", 300, 225},
	} {
		r, err := run(t, p, src, "", "", tt.query, "")
		var pe *ParamError
		if tt.w == 0 {
			if !errors.As(err, &pe) || pe.Param != "rot" {
				t.Errorf("%s: %v, want a ParamError for rot", tt.query, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		if _, w, h := meta(t, r.Data); abs(w-tt.w) > 1 || abs(h-tt.h) > 1 {
			t.Errorf("%s: %dx%d, want %dx%d", tt.query, w, h, tt.w, tt.h)
		}
	}
}

// pixel decodes out (any format vips reads) to PNG and returns the colour at (x, y).
func pixel(t *testing.T, out []byte, x, y int) color.RGBA {
	t.Helper()
	pngBytes, err := bimg.NewImage(out).Convert(bimg.PNG)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatal(err)
	}
	r, g, b, a := img.At(x, y).RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

func isRed(c color.RGBA) bool  { return c.R > 200 && c.G < 60 && c.B < 60 }
func isBlue(c color.RGBA) bool { return c.B > 200 && c.R < 60 && c.G < 60 }

func TestCropPosition(t *testing.T) {
	p := newProc(t)
	src := photo(t, 800, 400) // red block top-left (0..200, 0..100), blue bottom-right
	r, err := run(t, p, src, "image/jpeg", "", "w=100&h=100&fit=crop&crop=left,top", "")
	if err != nil {
		t.Fatal(err)
	}
	if c := pixel(t, r.Data, 10, 10); !isRed(c) {
		t.Errorf("crop=left,top: top-left pixel %v, want red", c)
	}
	r, err = run(t, p, src, "image/jpeg", "", "w=100&h=100&fit=crop&crop=right,bottom", "")
	if err != nil {
		t.Fatal(err)
	}
	if c := pixel(t, r.Data, 90, 90); !isBlue(c) {
		t.Errorf("crop=right,bottom: bottom-right pixel %v, want blue", c)
	}
	r, err = run(t, p, src, "image/jpeg", "", "w=100&h=100&fit=crop&crop=focalpoint&fp-x=1&fp-y=1", "")
	if err != nil {
		t.Fatal(err)
	}
	if c := pixel(t, r.Data, 90, 90); !isBlue(c) {
		t.Errorf("focal point (1,1): bottom-right pixel %v, want blue", c)
	}
}

// TestOrientation: a landscape JPEG tagged Orientation=6 (camera turned 90°
// clockwise) must come out portrait with the red corner where the viewer sees it.
func TestOrientation(t *testing.T) {
	p := newProc(t)
	src := withOrientation(photo(t, 400, 200), 6)
	if m, err := bimg.NewImage(src).Metadata(); err != nil || m.Orientation != 6 {
		t.Fatalf("test input lacks its orientation tag: %+v %v", m, err)
	}
	r, err := run(t, p, src, "image/jpeg", "", "w=100", "")
	if err != nil {
		t.Fatal(err)
	}
	_, w, h := meta(t, r.Data)
	if w != 100 || h != 200 {
		t.Fatalf("got %dx%d, want 100x200 (rotated)", w, h)
	}
	// Rotating 90° clockwise moves the top-left corner to the top-right.
	if c := pixel(t, r.Data, 95, 5); !isRed(c) {
		t.Errorf("top-right pixel %v, want red", c)
	}
	if m, _ := bimg.NewImage(r.Data).Metadata(); m.Orientation > 1 || m.EXIF.Make != "" {
		t.Errorf("metadata not stripped: orientation %d", m.Orientation)
	}
}

func TestTransparency(t *testing.T) {
	p := newProc(t)
	src := transparentPNG(t)
	r, err := run(t, p, src, "image/png", "", "fm=jpg&bg=f00", "")
	if err != nil {
		t.Fatal(err)
	}
	if c := pixel(t, r.Data, 60, 30); !isRed(c) {
		t.Errorf("transparent area on bg=f00: %v, want red", c)
	}
	r, err = run(t, p, src, "image/png", "", "w=32", "")
	if err != nil {
		t.Fatal(err)
	}
	if c := pixel(t, r.Data, 30, 10); c.A != 0 {
		t.Errorf("png kept no alpha: %v", c)
	}
}

func TestAnimationKeepsFrames(t *testing.T) {
	p := newProc(t)
	src := animatedGIF(t, []int{10, 20, 30, 40})
	for _, q := range []string{"w=30", "w=30&h=30&fit=crop", "fm=webp&w=30", "w=30&flip=v"} {
		r, err := run(t, p, src, "image/gif", "", q, "")
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if r.Frames != 4 {
			t.Errorf("%s: %d frames, want 4", q, r.Frames)
		}
		_, _, frames, err := Probe(r.Data)
		if err != nil || frames != 4 {
			t.Errorf("%s: output has %d frames (%v), want 4", q, frames, err)
		}
		if r.Width != 30 {
			t.Errorf("%s: frame width %d", q, r.Width)
		}
	}
	// An animation asked for as a still keeps one frame.
	r, err := run(t, p, src, "image/gif", "", "fm=png", "")
	if err != nil || r.Frames != 1 {
		t.Errorf("png of a gif: %+v %v", r.Frames, err)
	}
}

// TestAutoFormatKeepsAnimation: auto=format picks AVIF for a browser's
// Accept, and libvips writes no animated AVIF, so an animated source comes
// as animated WebP (every browser that takes AVIF takes WebP); a still
// source is AVIF, and fm=avif alone is a still AVIF of the first frame.
func TestAutoFormatKeepsAnimation(t *testing.T) {
	p := newProc(t)
	anim := animatedGIF(t, []int{10, 20, 30})
	chrome := "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
	for _, tt := range []struct {
		src    []byte
		query  string
		format string
		frames int
	}{
		{anim, "w=30&auto=format", "webp", 3},
		{anim, "w=30&fm=avif&auto=format", "webp", 3},
		{anim, "w=30&fm=avif", "avif", 1},
		{photo(t, 200, 100), "w=30&auto=format", "avif", 1},
	} {
		r, err := run(t, p, tt.src, "", "", tt.query, chrome)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		_, _, frames, err := Probe(r.Data)
		if r.Format != tt.format || err != nil || frames != tt.frames {
			t.Errorf("%s: %s of %d frames (%v), want %s of %d", tt.query, r.Format, frames, err, tt.format, tt.frames)
		}
	}
}

func TestBadInput(t *testing.T) {
	p := newProc(t)
	good := photo(t, 200, 100)
	tests := []struct {
		name string
		src  []byte
		want error
	}{
		{"bomb", pngBomb(30000, 30000), ErrTooManyPixels},
		{"not an image", []byte("hello, this is text, not a picture"), ErrUnsupported},
		{"truncated", good[:len(good)/2], ErrCorruptImage},
		{"corrupt", append(append([]byte{}, good[:200]...), bytes.Repeat([]byte{0x55}, 400)...), ErrCorruptImage},
		{"empty", nil, ErrCorruptImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := run(t, p, tt.src, "image/png", "", "w=100", "")
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			// Not a timing assertion on the machine's speed: a bomb that was
			// decoded would take minutes and gigabytes, not a generous 10 s.
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %s: the header check did not stop it", d)
			}
		})
	}
	cfg := DefaultConfig()
	cfg.MaxFrames = 2
	small, _ := NewProcessor(cfg)
	spec, _ := Parse(cfg, "", url.Values{}, "")
	if _, err := small.Process(context.Background(), animatedGIF(t, []int{1, 1, 1}), "image/gif", spec); !errors.Is(err, ErrTooManyFrames) {
		t.Fatalf("3 frames over a limit of 2: %v", err)
	}
}

func TestBusyAndTimeout(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workers, cfg.QueueLen = 1, 0
	p, err := NewProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.slots <- struct{}{} // the only worker is taken
	spec, _ := Parse(cfg, "", mustQuery(t, "w=10"), "")
	if _, err := p.Process(context.Background(), photo(t, 50, 50), "image/jpeg", spec); !errors.Is(err, ErrBusy) {
		t.Fatalf("full queue: %v, want ErrBusy", err)
	}
	cfg.QueueLen = 1
	cfg.Timeout = 50 * time.Millisecond
	p2, _ := NewProcessor(cfg)
	p2.slots <- struct{}{}
	if _, err := p2.Process(context.Background(), photo(t, 50, 50), "image/jpeg", spec); !errors.Is(err, ErrTimeout) {
		t.Fatalf("waiting past the deadline: %v, want ErrTimeout", err)
	}
}

// TestCloseToVipsThumbnail compares our 200 px rendition with the vips CLI's
// on the same input (a generated picture and a real photo that needs
// rotating and carries a colour profile): the mean absolute difference per
// channel must be small.
func TestCloseToVipsThumbnail(t *testing.T) {
	vipsCLI(t)
	p := newProc(t)
	for _, tt := range []struct {
		name string
		src  []byte
		icc  bool // convert the embedded profile to sRGB, as we do
	}{
		{"generated", photo(t, 1200, 800), false},
		{"camera", readTestdata(t, "landscape_6.jpg"), true},
	} {
		src := tt.src
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.jpg")
			if err := os.WriteFile(in, src, 0o644); err != nil {
				t.Fatal(err)
			}
			ref := filepath.Join(dir, "ref.png")
			args := []string{"thumbnail", in, ref + "[strip]", "200"}
			if tt.icc {
				args = append(args, "--export-profile", "srgb")
			}
			if out, err := exec.Command("vips", args...).CombinedOutput(); err != nil {
				t.Fatalf("vips thumbnail: %v %s", err, out)
			}
			refBytes, _ := os.ReadFile(ref)
			r, err := run(t, p, src, "image/jpeg", "", "w=200&fm=png", "")
			if err != nil {
				t.Fatal(err)
			}
			if mad := meanAbsDiff(t, r.Data, refBytes); mad > 2 {
				t.Fatalf("mean absolute difference %.2f/255 from vips thumbnail", mad)
			}
		})
	}
}

func TestProbeHeaderOnly(t *testing.T) {
	w, h, frames, err := Probe(pngBomb(30000, 20000))
	if err != nil || w != 30000 || h != 20000 || frames != 1 {
		t.Fatalf("probe: %d %d %d %v", w, h, frames, err)
	}
	if !strings.Contains(strconv.Itoa(w), "30000") {
		t.Fatal("unreachable")
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func absf(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// BenchmarkProcess: a 2400x1600 JPEG to an 800 px WebP, the common case.
func BenchmarkProcess(b *testing.B) {
	p := newProc(b)
	src := photo(b, 2400, 1600)
	spec, err := Parse(p.Config(), "", mustQuery(b, "w=800&fm=webp"), "")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := p.Process(context.Background(), src, "image/jpeg", spec); err != nil {
			b.Fatal(err)
		}
	}
}
