package bench

// Quality probe of the transform benchmark: "no more bytes at equal SSIM"
// needs every target's output scored against one reference that none of
// them produced. The reference is the whole source decoded and resized by
// libvips with Lanczos3 to the output's size, saved losslessly: no
// shrink-on-load (which our processor and imgproxy both use for JPEG and
// WebP) and no encoder, so it is the best rendering of that size and each
// target loses SSIM for its resampling shortcuts and its encoder alike.
//
// libvips runs as its command-line tool (libvips-tools, a run dependency in
// scripts/install-deps.sh), not through bimg: this package ships in the
// binary, and bimg's package init would start libvips in every command
// (transform/deps_test.go forbids it). A separate process is also an
// independent reader: nothing of our own transform code decodes the outputs
// it scores. ffmpeg's ssim filter then compares the two PNGs, as the video
// benchmark does (gifSSIM).

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ssimReference scores outputs of one source; it renders a reference once
// per output size (targets may round the height differently).
type ssimReference struct {
	dir        string // where PNGs are written
	src        string // the source file
	srcW, srcH int
	refs       map[[2]int]string // reference PNG by output width and height
}

func newSSIMReference(dir, src string, srcW, srcH int) *ssimReference {
	return &ssimReference{dir: dir, src: src, srcW: srcW, srcH: srcH, refs: map[[2]int]string{}}
}

// score decodes an encoded output (any format libvips reads: JPEG, PNG,
// WebP, AVIF through libheif), renders the reference at the output's exact
// size and returns the SSIM of the output against it, with that size.
func (r *ssimReference) score(ctx context.Context, name string, out []byte) (ssim float64, w, h int, err error) {
	enc := filepath.Join(r.dir, name+".out")
	dec := filepath.Join(r.dir, name+".png")
	if err := os.WriteFile(enc, out, 0o644); err != nil {
		return 0, 0, 0, err
	}
	if w, h, err = decodePNG(ctx, enc, dec); err != nil {
		return 0, 0, 0, fmt.Errorf("decode %s: %w", name, err)
	}
	ref, ok := r.refs[[2]int{w, h}]
	if !ok {
		ref = filepath.Join(r.dir, fmt.Sprintf("%s-ref-%dx%d.png", filepath.Base(r.src), w, h))
		if err := lanczosReference(ctx, r.src, r.srcW, r.srcH, w, h, ref); err != nil {
			return 0, 0, 0, fmt.Errorf("reference %dx%d of %s: %w", w, h, filepath.Base(r.src), err)
		}
		r.refs[[2]int{w, h}] = ref
	}
	ssim, err = pngSSIM(ctx, ref, dec)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("SSIM of %s: %w", name, err)
	}
	return ssim, w, h, nil
}

// decodePNG writes in (sniffed by content, not by name) as a PNG and
// returns its size.
func decodePNG(ctx context.Context, in, out string) (w, h int, err error) {
	if err := runTool(ctx, "vips", "copy", in, out); err != nil {
		return 0, 0, err
	}
	return pngSize(out)
}

// lanczosReference resizes src (srcW x srcH) to exactly w x h with
// Lanczos3 on the fully decoded image. vips_resize rounds the output size
// to the nearest pixel, so scales of w/srcW and h/srcH land on w and h; the
// size is checked all the same, since SSIM needs identical frames.
func lanczosReference(ctx context.Context, src string, srcW, srcH, w, h int, out string) error {
	hs := strconv.FormatFloat(float64(w)/float64(srcW), 'g', -1, 64)
	vs := strconv.FormatFloat(float64(h)/float64(srcH), 'g', -1, 64)
	if err := runTool(ctx, "vips", "resize", src, out, hs, "--vscale", vs, "--kernel", "lanczos3"); err != nil {
		return err
	}
	gw, gh, err := pngSize(out)
	if err != nil {
		return err
	}
	if gw != w || gh != h {
		return fmt.Errorf("vips resize made %dx%d, want %dx%d", gw, gh, w, h)
	}
	return nil
}

// pngSSIM is ffmpeg's SSIM ("All": the mean of the R, G and B planes) of
// out against ref, two PNGs of the same size. Both go to planar 8-bit RGB
// first, which is what ffmpeg picks for two RGB PNGs anyway; saying it
// makes an output that came back with an alpha channel or in grey compare
// on the same planes (alpha is dropped, which is exact for the benchmark's
// opaque sources).
func pngSSIM(ctx context.Context, ref, out string) (float64, error) {
	b, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-i", ref, "-i", out,
		"-lavfi", "[0:v]format=gbrp[ref];[1:v]format=gbrp[out];[ref][out]ssim", "-f", "null", "-").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ffmpeg: %w: %s", err, lastLines(b, 3))
	}
	return parseSSIMAll(string(b))
}

// parseSSIMAll reads the value after " All:" in the ssim filter's summary,
// e.g. "SSIM R:0.906170 (10.27) G:0.788009 (6.73) B:0.835706 (7.84) All:0.843295 (8.04)".
func parseSSIMAll(out string) (float64, error) {
	_, all, ok := strings.Cut(out, " All:")
	if !ok {
		return 0, fmt.Errorf("no SSIM in ffmpeg's output: %s", lastLines([]byte(out), 3))
	}
	var v float64
	if _, err := fmt.Sscan(all, &v); err != nil {
		return 0, fmt.Errorf("SSIM %.40q: %w", all, err)
	}
	if v <= 0 || v > 1 {
		return 0, fmt.Errorf("SSIM %v out of (0, 1]", v)
	}
	return v, nil
}

func pngSize(path string) (w, h int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	c, err := png.DecodeConfig(f)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	return c.Width, c.Height, nil
}

// runTool runs a command-line tool, its output kept for the error only
// (libvips prints warnings such as heifload's "ignoring nclx profile" on
// success too).
func runTool(ctx context.Context, name string, args ...string) error {
	if b, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, args[0], err, lastLines(b, 3))
	}
	return nil
}

// lastLines is the end of a tool's output, where its error is.
func lastLines(b []byte, n int) string {
	lines := strings.Split(string(bytes.TrimSpace(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}
