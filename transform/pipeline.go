package transform

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"
)

// Result is an encoded rendition.
type Result struct {
	Data          []byte
	ContentType   string
	Format        string
	Width, Height int // of one frame
	Frames        int
}

// job carries one transform through the steps.
type job struct {
	cfg      Config
	spec     Spec
	src      []byte
	srcType  string // content type of the source
	hdr      header
	format   string // output format
	animated bool   // output keeps every frame
	img      *vimage
	killed   bool // libvips was stopped mid-save by the deadline
}

// step is one stage of the pipeline; the deadline is checked between steps
// (libvips calls themselves are not interruptible).
type step struct {
	name string
	run  func(*job) error
}

var pipeline = []step{
	{"probe", (*job).probe},
	{"resize", (*job).resize},
	{"effects", (*job).effects},
	{"background", (*job).background},
	{"strip", (*job).strip},
}

func (j *job) run(ctx context.Context) (Result, error) {
	// A closure, not `defer j.img.free()`: that would evaluate j.img now,
	// while it is still nil, and the final image of every transform (with
	// its pixels) would never be released. The steps replace j.img as they
	// go; whatever it holds at the end is freed here. The image reads j.src
	// lazily, so j.src is kept reachable until then.
	defer func() {
		j.img.free()
		runtime.KeepAlive(j.src)
	}()
	for _, s := range pipeline {
		if err := ctx.Err(); err != nil {
			return Result{}, ErrTimeout
		}
		if err := s.run(j); err != nil {
			return Result{}, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if ctx.Err() != nil {
		return Result{}, ErrTimeout
	}
	q := j.spec.Quality
	if q == 0 {
		q = j.cfg.Quality[j.format]
	}
	if d, ok := ctx.Deadline(); ok {
		j.img.setDeadline(time.Until(d))
	}
	data, err := j.img.save(j.format, q)
	if err != nil {
		if ctx.Err() != nil {
			j.killed = true
			return Result{}, ErrTimeout
		}
		return Result{}, err
	}
	frames := 1
	if j.animated {
		frames = j.img.height() / max(1, j.img.pageHeight())
	}
	return Result{Data: data, ContentType: ContentType(j.format), Format: j.format,
		Width: j.img.width(), Height: j.img.height() / frames, Frames: frames}, nil
}

// probe reads the header and enforces the limits before any pixel is decoded.
func (j *job) probe() error {
	h, err := probe(j.src)
	if err != nil {
		return err
	}
	j.hdr = h
	if h.pages > j.cfg.MaxFrames {
		return ErrTooManyFrames
	}
	if int64(h.width)*int64(h.height)*int64(max(1, h.pages)) > j.cfg.MaxSourcePixels {
		return ErrTooManyPixels
	}
	j.format = j.spec.Format
	if j.format == "" {
		// The source's own format, from its magic bytes (the loader libvips
		// picked), never from a client-supplied type.
		j.format, _ = sourceFormat(h.loader)
		if j.format == "avif" && (j.srcType == "image/heic" || j.srcType == "image/heif") {
			j.format = "" // HEIC shares AVIF's loader, but browsers cannot show it
		}
	}
	if j.format == "" {
		// A source we can read but not write (TIFF, HEIC, JPEG XL): JPEG.
		j.format = "jpg"
	}
	if j.format == "mp4" {
		return fmt.Errorf("%w: mp4 is made by the video converter", ErrUnsupported)
	}
	// Only the GIF and WebP loaders take n=-1 (a TIFF's pages are not frames).
	loader := strings.ToLower(h.loader)
	multi := h.pages > 1 && (strings.Contains(loader, "gif") || strings.Contains(loader, "webp"))
	if multi && j.format == "avif" && j.spec.AnimWebP {
		j.format = "webp" // auto=format: the animation over the format (Spec.AnimWebP)
	}
	j.animated = multi && (j.format == "gif" || j.format == "webp")
	return nil
}

// oriented returns the source size after EXIF rotation.
func (j *job) oriented() (int, int) {
	if j.hdr.orientation >= 5 && j.hdr.orientation <= 8 {
		return j.hdr.height, j.hdr.width
	}
	return j.hdr.width, j.hdr.height
}

// resize applies w, h, dpr and fit. Everything goes through libvips'
// thumbnail (shrink-on-load, auto-rotate, sRGB); gravity crops that thumbnail
// cannot do (sides, focal point) resize to cover and then extract.
func (j *job) resize() error {
	s := j.spec
	W, H := s.OutWidth(), s.OutHeight()
	sw, sh := j.oriented()
	var err error
	load := func(w, h int, size, crop int) error {
		if p, ok := j.rawPNG(); ok {
			j.img, err = thumbnailPNG(p, w, h, size, crop)
			if err == nil {
				return j.img.srgb()
			}
			if !errors.Is(err, errRawPNGRefused) {
				return err
			}
		}
		j.img, err = thumbnail(j.src, w, h, size, crop, j.animated, j.hdr.icc, j.jpegShrink(w, h, size, crop))
		if err != nil {
			return err
		}
		return j.img.srgb()
	}
	// A side the request leaves open is still bounded by MaxOutputSide: w=8192
	// on a 100x50000 strip would otherwise ask for 8192x4096000 pixels. The
	// picture then fits inside w x MaxOutputSide instead.
	limit := j.cfg.MaxOutputSide
	switch {
	case W == 0 && H == 0:
		return load(min(sw, limit), min(sh, limit), sizeDown, interestingNone)
	case W == 0 || H == 0 || s.Fit == FitClip || s.Fit == FitMax || (s.Fit == FitFill && (W == 0 || H == 0)):
		if W == 0 {
			W = limit
		}
		if H == 0 {
			H = limit
		}
		size := sizeBoth
		if s.Fit == FitMax {
			size = sizeDown
		}
		return load(W, H, size, interestingNone)
	case s.Fit == FitScale:
		return load(W, H, sizeForce, interestingNone)
	case s.Fit == FitFill:
		if err := load(W, H, sizeBoth, interestingNone); err != nil {
			return err
		}
		return j.perFrame(func(f *vimage) error {
			if bgHasAlpha(s.BG) && formatHasAlpha(j.format) {
				if err := f.addAlpha(); err != nil {
					return err
				}
			}
			return f.embed((W-f.width())/2, (H-f.height())/2, W, H, s.BG)
		})
	}
	// crop and min.
	scale := math.Max(float64(W)/float64(sw), float64(H)/float64(sh))
	if s.Fit == FitMin && scale > 1 {
		// Never enlarge: the largest box of the requested aspect ratio.
		bw := math.Min(float64(sw), float64(sh)*float64(W)/float64(H))
		bh := bw * float64(H) / float64(W)
		if err := load(sw, sh, sizeDown, interestingNone); err != nil {
			return err
		}
		return j.cropTo(int(math.Round(bw)), int(math.Round(bh)))
	}
	// libvips' thumbnail crops the whole strip of an animation, not each
	// frame, so animations take the cover-and-extract path (centre gravity for
	// entropy/attention, which would pick a different box per frame).
	switch crop := s.Crop; {
	case j.animated:
	case crop == "center":
		return load(W, H, sizeBoth, interestingCentre)
	case crop == "entropy":
		return load(W, H, sizeBoth, interestingEntropy)
	case crop == "attention":
		return load(W, H, sizeBoth, interestingAttention)
	}
	cw := int(math.Ceil(float64(sw) * scale))
	ch := int(math.Ceil(float64(sh) * scale))
	if err := load(max(cw, W), max(ch, H), sizeForce, interestingNone); err != nil {
		return err
	}
	return j.cropTo(W, H)
}

// rawPNG reports whether the source takes the PNG fast path (pngfast.go):
// a still PNG with no colour profile to convert (none, or sRGB's) and no
// rotation, whose chunks parseRawPNG accepts.
func (j *job) rawPNG() (rawPNG, bool) {
	if !strings.Contains(strings.ToLower(j.hdr.loader), "png") || j.hdr.icc || j.hdr.orientation > 1 || j.hdr.pages > 1 || j.animated {
		return rawPNG{}, false
	}
	return parseRawPNG(j.src)
}

// jpegShrink picks the JPEG shrink-on-load factor for a thumbnail into a
// w x h box: the largest of 8, 4, 2 that does not go below the final size
// (the scale vips_thumbnail will apply: cover for crops and forced sizes,
// fit inside otherwise). 0 for other formats.
func (j *job) jpegShrink(w, h, size, crop int) int {
	if !strings.Contains(strings.ToLower(j.hdr.loader), "jpeg") {
		return 0
	}
	sw, sh := j.oriented()
	fx, fy := float64(sw)/float64(w), float64(sh)/float64(h)
	f := math.Max(fx, fy)
	if crop != interestingNone || size == sizeForce {
		f = math.Min(fx, fy)
	}
	for _, s := range []int{8, 4, 2} {
		if f >= float64(s) {
			return s
		}
	}
	return 0
}

// cropTo extracts a w x h box at the spec's gravity or focal point.
func (j *job) cropTo(w, h int) error {
	fx, fy := 0.5, 0.5
	switch j.spec.Crop {
	case "focalpoint":
		fx, fy = j.spec.FPX, j.spec.FPY
	default:
		for _, side := range []struct {
			name   string
			fx, fy float64
		}{{"top", -1, 0}, {"bottom", -1, 1}, {"left", 0, -1}, {"right", 1, -1}} {
			if containsWord(j.spec.Crop, side.name) {
				if side.fx >= 0 {
					fx = side.fx
				}
				if side.fy >= 0 {
					fy = side.fy
				}
			}
		}
	}
	return j.perFrame(func(f *vimage) error {
		iw, ih := f.width(), f.height()
		w, h := min(w, iw), min(h, ih)
		l := clamp(int(math.Round(fx*float64(iw)-float64(w)/2)), 0, iw-w)
		t := clamp(int(math.Round(fy*float64(ih)-float64(h)/2)), 0, ih-h)
		return f.extract(l, t, w, h)
	})
}

// effects applies blur, sharpen, rotation and flips. All go per frame: a
// blur over an animation's whole strip would bleed one frame into the next.
func (j *job) effects() error {
	s := j.spec
	if s.Blur == 0 && s.Sharp == 0 && s.Rot == 0 && s.Flip == "" {
		return nil
	}
	return j.perFrame(func(f *vimage) error {
		// imgix's scales: blur 0..2000 maps to a Gaussian sigma of 0..100,
		// sharp 0..100 to an unsharp-mask sigma of 0.5..2.5.
		if s.Blur > 0 {
			if err := f.blur(float64(s.Blur) / 20); err != nil {
				return err
			}
		}
		if s.Sharp > 0 {
			if err := f.sharpen(0.5 + float64(s.Sharp)/50); err != nil {
				return err
			}
		}
		if s.Rot != 0 {
			// A rotation off the right angles grows the canvas to hold the
			// turned picture (w=8192&h=8192&rot=45 would be 11585 px a
			// side), so the output limit is checked again here.
			if rw, rh := rotatedSize(f.width(), f.height(), s.Rot); max(rw, rh) > j.cfg.MaxOutputSide {
				return paramErr("rot", "rotating this %dx%d picture by %d degrees makes it %dx%d, past the %d px output limit; ask for a smaller w or h",
					f.width(), f.height(), s.Rot, rw, rh, j.cfg.MaxOutputSide)
			}
			if err := f.rotate(s.Rot, s.BG); err != nil {
				return err
			}
		}
		if s.Flip == "h" || s.Flip == "hv" {
			if err := f.flip(false); err != nil {
				return err
			}
		}
		if s.Flip == "v" || s.Flip == "hv" {
			if err := f.flip(true); err != nil {
				return err
			}
		}
		return nil
	})
}

// rotatedSize is the bounding box of a w x h picture turned by deg degrees,
// as vips_rotate sizes its output (rounded up).
func rotatedSize(w, h, deg int) (int, int) {
	if deg%180 == 0 {
		return w, h
	}
	if deg%90 == 0 {
		return h, w
	}
	rad := float64(deg) * math.Pi / 180
	c, sn := math.Abs(math.Cos(rad)), math.Abs(math.Sin(rad))
	return int(math.Ceil(float64(w)*c + float64(h)*sn - 1e-9)), int(math.Ceil(float64(w)*sn + float64(h)*c - 1e-9))
}

// background composites transparency onto bg where the format cannot carry
// alpha, or wherever bg was asked for.
func (j *job) background() error {
	if !j.img.hasAlpha() {
		return nil
	}
	if j.spec.BG != "" && !bgHasAlpha(j.spec.BG) || !formatHasAlpha(j.format) {
		return j.img.flatten(j.spec.BG)
	}
	return nil
}

// strip removes the metadata (EXIF with GPS, camera and capture time, XMP,
// IPTC, ICC, text chunks) before any saver runs; see vimage.strip.
func (j *job) strip() error { return j.img.strip() }

// perFrame applies fn to every frame of an animation (extract, process, join
// back, fix page-height) or once to a still image. Geometry changes on the
// whole strip would mix frames, so they go through here.
func (j *job) perFrame(fn func(*vimage) error) error {
	if !j.animated {
		return fn(j.img)
	}
	ph := j.img.pageHeight()
	n := j.img.height() / max(1, ph)
	if n <= 1 {
		return fn(j.img)
	}
	frames := make([]*vimage, 0, n)
	for i := 0; i < n; i++ {
		f := &vimage{p: j.img.p}
		// extract leaves j.img untouched: take a reference for the frame.
		refImage(f)
		if err := f.extract(0, i*ph, j.img.width(), ph); err != nil {
			f.free()
			freeAll(frames)
			return err
		}
		if err := fn(f); err != nil {
			f.free()
			freeAll(frames)
			return err
		}
		frames = append(frames, f)
	}
	fh := frames[0].height()
	joined, err := join(frames)
	if err != nil {
		return err
	}
	if err := joined.setPageHeight(fh); err != nil {
		joined.free()
		return err
	}
	j.img.free()
	j.img = joined
	return nil
}

func freeAll(fs []*vimage) {
	for _, f := range fs {
		f.free()
	}
}

func bgHasAlpha(bg string) bool { return bg != "" && bg[6:] != "ff" }

func formatHasAlpha(f string) bool { return f != "jpg" }

func containsWord(list, w string) bool {
	for _, p := range splitComma(list) {
		if p == w {
			return true
		}
	}
	return false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }
