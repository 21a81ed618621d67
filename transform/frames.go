package transform

import (
	"context"
	"fmt"
	"runtime"
	"strings"
)

// Frame is one decoded frame of an animation, as PNG, with its display time.
type Frame struct {
	PNG     []byte
	DelayMS int
}

// AnimationInfo describes what Frames produced.
type AnimationInfo struct {
	Width, Height int // even, as H.264 in yuv420p needs
	Frames        int
	DurationMS    int
}

// DefaultDelayMS is used for frames whose delay is 0 or missing, as browsers
// do (they show a 0-delay GIF frame for about 100 ms).
const DefaultDelayMS = 100

// Frames decodes every frame of an animated GIF or WebP with libvips (Debian's
// ffmpeg 5.1 cannot decode animated WebP, and libvips reads both the same
// way), fitted inside w x h (0 = no limit) and never enlarged, transparency
// composited onto bg ("rrggbbaa", "" = white), cropped to even dimensions, and
// hands them to emit one at a time, so memory holds one frame at once beyond
// the decoded strip. A still image is ErrNotAnimated.
func Frames(ctx context.Context, cfg Config, src []byte, w, h int, bg string, emit func(Frame) error) (AnimationInfo, error) {
	var info AnimationInfo
	if len(src) == 0 {
		return info, ErrCorruptImage
	}
	hdr, err := probe(src)
	if err != nil {
		return info, err
	}
	loader := strings.ToLower(hdr.loader)
	if hdr.pages < 2 || !(strings.Contains(loader, "gif") || strings.Contains(loader, "webp")) {
		return info, ErrNotAnimated
	}
	if hdr.pages > cfg.MaxFrames {
		return info, ErrTooManyFrames
	}
	if int64(hdr.width)*int64(hdr.height)*int64(hdr.pages) > cfg.MaxSourcePixels {
		return info, ErrTooManyPixels
	}
	if w == 0 {
		w = hdr.width
	}
	if h == 0 {
		h = hdr.height
	}
	im, err := thumbnail(src, w, h, sizeDown, interestingNone, true, hdr.icc, 0)
	if err != nil {
		return info, err
	}
	// im decodes src lazily, frame by frame below: src must stay reachable
	// until im is freed (deferred calls run last to first).
	defer runtime.KeepAlive(src)
	defer im.free()
	if err := im.srgb(); err != nil {
		return info, err
	}
	// The frames become PNGs handed to ffmpeg: they carry no metadata either.
	if err := im.strip(); err != nil {
		return info, err
	}
	if im.hasAlpha() {
		if err := im.flatten(bg); err != nil {
			return info, err
		}
	}
	ph := im.pageHeight()
	n := im.height() / max(1, ph)
	delays := im.delays(n)
	fw, fh := im.width()&^1, ph&^1
	if fw == 0 || fh == 0 {
		return info, fmt.Errorf("%w: frames of %dx%d are too small for video", ErrCorruptImage, im.width(), ph)
	}
	info = AnimationInfo{Width: fw, Height: fh, Frames: n}
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return info, ErrTimeout
		}
		f := &vimage{p: im.p}
		refImage(f)
		if err := f.extract(0, i*ph, fw, fh); err != nil {
			f.free()
			return info, err
		}
		png, err := f.pngFast()
		f.free()
		if err != nil {
			return info, fmt.Errorf("%w: frame %d: %v", ErrCorruptImage, i, err)
		}
		d := DefaultDelayMS
		if i < len(delays) && delays[i] > 0 {
			d = delays[i]
		}
		info.DurationMS += d
		if err := emit(Frame{PNG: png, DelayMS: d}); err != nil {
			return info, err
		}
	}
	return info, nil
}
