package transform

import (
	"github.com/mediaedge/mediaedge/internal/testenv"

	"bufio"
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tests on real photos (testdata/README.md says where they come from) and on
// the limits that protect the server: loaders refused, deadlines that stop
// libvips mid-computation, no memory spike on a bomb.

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// meanAbsDiff compares two PNGs of the same size: mean absolute difference
// per RGB channel, on the 0..255 scale.
func meanAbsDiff(t *testing.T, a, b []byte) float64 {
	t.Helper()
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if ia.Bounds() != ib.Bounds() {
		t.Fatalf("sizes differ: %v vs %v", ia.Bounds(), ib.Bounds())
	}
	var sum, n float64
	for y := ia.Bounds().Min.Y; y < ia.Bounds().Max.Y; y++ {
		for x := ia.Bounds().Min.X; x < ia.Bounds().Max.X; x++ {
			r1, g1, b1, _ := ia.At(x, y).RGBA()
			r2, g2, b2, _ := ib.At(x, y).RGBA()
			sum += absf(float64(r1)-float64(r2)) + absf(float64(g1)-float64(g2)) + absf(float64(b1)-float64(b2))
			n += 3
		}
	}
	return sum / n / 257
}

// TestOrientationRealPhoto: a camera photo stored sideways with EXIF
// Orientation 6 must come out as the upright photo (the same scene stored
// with Orientation 1), not merely with swapped dimensions.
func TestOrientationRealPhoto(t *testing.T) {
	p := newProc(t)
	upright, err := run(t, p, readTestdata(t, "landscape_1.jpg"), "", "", "w=400&fm=png", "")
	if err != nil {
		t.Fatal(err)
	}
	turned, err := run(t, p, readTestdata(t, "landscape_6.jpg"), "", "", "w=400&fm=png", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, w, h := meta(t, turned.Data); w != 400 || h != 300 {
		t.Fatalf("orientation 6 photo came out %dx%d, want 400x300", w, h)
	}
	if d := meanAbsDiff(t, upright.Data, turned.Data); d > 6 {
		t.Fatalf("rotated photo differs from the upright one by %.1f/255 per channel", d)
	}
}

// TestColourProfileToSRGB: a ProPhoto RGB photo must be converted to sRGB
// before its profile is stripped; left alone, its colours would look washed
// out. The reference converts with the vips CLI (icc_transform to sRGB).
func TestColourProfileToSRGB(t *testing.T) {
	vipsCLI(t)
	p := newProc(t)
	src := readTestdata(t, "icc_prophoto.jpg")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jpg")
	if err := os.WriteFile(in, src, 0o644); err != nil {
		t.Fatal(err)
	}
	srgb, naive := filepath.Join(dir, "srgb.v"), filepath.Join(dir, "naive.png")
	ref := filepath.Join(dir, "ref.png")
	for _, args := range [][]string{
		{"icc_transform", in, srgb, "srgb"},
		{"thumbnail", srgb, ref + "[strip]", "200"},
		{"thumbnail", in, naive + "[strip]", "200"},
	} {
		if out, err := exec.Command("vips", args...).CombinedOutput(); err != nil {
			t.Fatalf("vips %v: %v %s", args, err, out)
		}
	}
	r, err := run(t, p, src, "image/jpeg", "", "w=200&fm=png", "")
	if err != nil {
		t.Fatal(err)
	}
	refB, _ := os.ReadFile(ref)
	naiveB, _ := os.ReadFile(naive)
	if d := meanAbsDiff(t, r.Data, refB); d > 2 {
		t.Errorf("differs from the sRGB reference by %.2f/255", d)
	}
	if d := meanAbsDiff(t, r.Data, naiveB); d < 3 {
		t.Errorf("only %.2f/255 from the unconverted pixels: was the profile applied?", d)
	}
}

func vipsCLI(t *testing.T) {
	t.Helper()
	testenv.Tool(t, "vips")
}

// TestRefusedLoaders: formats libvips could read through librsvg, poppler or
// ImageMagick are not decoded at all, and the answer says what was refused:
// ErrUnsupported (415), never ErrCorruptImage, even for an SVG that librsvg
// itself could not parse (which used to answer "corrupt or truncated").
func TestRefusedLoaders(t *testing.T) {
	p := newProc(t)
	const rect = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`
	for _, tt := range []struct {
		name string
		src  string
		says string // in the error message
	}{
		{"svg", `<?xml version="1.0"?>` + rect, "SVG is not transformed"},
		{"svg without xml declaration", rect, "SVG is not transformed"},
		{"svg with BOM and doctype", "\ufeff<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x\">\n" + rect, "SVG is not transformed"},
		{"svg librsvg cannot parse", `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width=`, "SVG is not transformed"},
		{"svg without size", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 0 0"></svg>`, "SVG is not transformed"},
		{"pdf", "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n", "PDF is not transformed"},
		{"postscript", "%!PS-Adobe-3.0\nnewpath 0 0 moveto showpage\n", "PostScript is not transformed"},
		{"ppm", "P3\n2 1\n255\n255 0 0 0 0 255\n", "is not transformed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, p, []byte(tt.src), "", "", "w=5", "")
			if !errors.Is(err, ErrUnsupported) || errors.Is(err, ErrCorruptImage) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("transform: %v, want ErrUnsupported saying %q", err, tt.says)
			}
			if _, _, _, err := Probe([]byte(tt.src)); !errors.Is(err, ErrUnsupported) {
				t.Errorf("Probe: %v, want ErrUnsupported", err)
			}
		})
	}
}

// TestFormatFromMagicBytes: with no fm, the output keeps the source's real
// format whatever type the client claimed.
func TestFormatFromMagicBytes(t *testing.T) {
	p := newProc(t)
	for _, srcType := range []string{"", "image/jpeg", "text/plain"} {
		r, err := run(t, p, transparentPNG(t), srcType, "", "w=10", "")
		if err != nil {
			t.Fatal(err)
		}
		if typ, _, _ := meta(t, r.Data); typ != "png" || r.ContentType != "image/png" {
			t.Errorf("srcType %q: got %s (%s), want png", srcType, typ, r.ContentType)
		}
	}
}

// TestAnimatedWebP: an animated WebP keeps every frame and its delays as
// WebP and as GIF.
func TestAnimatedWebP(t *testing.T) {
	p := newProc(t)
	webp, err := run(t, p, animatedGIF(t, []int{10, 20, 30, 40}), "image/gif", "", "fm=webp", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"w=30", "w=30&fm=gif", "w=20&h=20&fit=crop&rot=90"} {
		r, err := run(t, p, webp.Data, "image/webp", "", q, "")
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		w, _, frames, err := Probe(r.Data)
		if err != nil || frames != 4 || w != r.Width {
			t.Fatalf("%s: output %d frames %dpx wide (%v), want 4 frames %dpx", q, frames, w, err, r.Width)
		}
		im, err := thumbnail(r.Data, 1000, 1000, sizeDown, interestingNone, true, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := im.delays(4)
		im.free()
		if want := []int{100, 200, 300, 400}; len(got) != 4 || got[0] != want[0] || got[3] != want[3] {
			t.Errorf("%s: delays %v, want %v ms", q, got, want)
		}
	}
}

// TestDeadlineStopsLibvips: a transform still computing at its deadline is
// killed inside libvips, not left to run on after the client got its 504.
// The job is run directly so that the test sees why it ended: killed means
// the save started and then failed because of the deadline; without the
// kill, the save would have succeeded late.
func TestDeadlineStopsLibvips(t *testing.T) {
	cfg := DefaultConfig()
	src := photo(t, 1600, 1600)
	// A Gaussian blur of sigma 100 on 2.5 megapixels takes many seconds.
	spec, err := Parse(cfg, "", mustQuery(t, "blur=2000&fm=png"), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	j := &job{cfg: cfg, spec: spec, src: src}
	_, err = j.run(ctx)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if !j.killed {
		t.Fatal("the deadline passed before the save started; the kill path was not exercised")
	}
}

// TestBombNoMemorySpike: refusing a PNG that declares 30000x30000 pixels
// must not allocate them (2.7 GB if decoded). Measured as the growth of the
// process' peak resident set.
func TestBombNoMemorySpike(t *testing.T) {
	p := newProc(t)
	before := peakRSS(t)
	for i := 0; i < 3; i++ {
		if _, err := run(t, p, pngBomb(30000, 30000), "image/png", "", "w=100", ""); !errors.Is(err, ErrTooManyPixels) {
			t.Fatalf("got %v, want ErrTooManyPixels", err)
		}
	}
	if grew := peakRSS(t) - before; grew > 64<<20 {
		t.Fatalf("peak RSS grew by %d MiB refusing a bomb", grew>>20)
	}
}

func peakRSS(t *testing.T) int64 { return procStatus(t, "VmHWM") }

// procStatus is a size field of /proc/self/status (VmRSS, VmHWM), in bytes.
func procStatus(t testing.TB, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no " + field)
	return 0
}
