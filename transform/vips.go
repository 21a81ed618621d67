package transform

/*
#cgo pkg-config: vips
#include "vips.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/h2non/bimg"
)

// This file is the one thin layer over libvips. bimg (our chosen binding)
// initialises libvips and covers simple one-shot resizes, but its pipeline
// cannot load every frame of an animation, crop by entropy, or chain steps
// without re-encoding, so the steps call libvips here, each return checked and
// the thread's vips error buffer cleared after reading it.

var vipsOnce sync.Once

// initVips starts libvips once per process (libvips itself is process-global,
// which is why a sync.Once is acceptable here) with its operation cache off:
// every request has new input, so the cache only holds memory.
func initVips() {
	vipsOnce.Do(func() {
		bimg.Initialize()
		bimg.VipsCacheSetMax(0)
		bimg.VipsCacheSetMaxMem(0)
		// Parallelism comes from the worker pool (2 x cores); libvips' own
		// threads per operation would oversubscribe the cores.
		C.vips_concurrency_set(1)
	})
}

// vipsError collects and clears libvips' error buffer. The buffer is one per
// process, shared by every worker: vips_error_buffer_copy reads and clears
// it under libvips' lock, so two failing jobs cannot clear each other's
// message between a read and a clear (the message may still hold another
// job's lines; it is for logs, never for clients).
func vipsError(op string) error {
	p := C.vips_error_buffer_copy()
	msg := strings.TrimSpace(C.GoString(p))
	C.g_free(C.gpointer(p))
	return fmt.Errorf("vips %s: %s", op, msg)
}

// image owns one VipsImage reference.
type vimage struct{ p *C.VipsImage }

func (im *vimage) free() {
	if im != nil && im.p != nil {
		C.g_object_unref(C.gpointer(im.p))
		im.p = nil
	}
}

func (im *vimage) width() int      { return int(im.p.Xsize) }
func (im *vimage) height() int     { return int(im.p.Ysize) }
func (im *vimage) pageHeight() int { return int(C.me_page_height(im.p)) }
func (im *vimage) hasAlpha() bool  { return C.me_has_alpha(im.p) != 0 }

// replace swaps in the result of an operation, dropping the old reference.
func (im *vimage) replace(out *C.VipsImage, rc C.int, op string) error {
	if rc != 0 {
		return vipsError(op)
	}
	im.free()
	im.p = out
	return nil
}

type header struct {
	width, height, pages, orientation int
	icc                               bool   // carries an embedded colour profile
	loader                            string // libvips' loader class, e.g. VipsForeignLoadJpegBuffer
}

// readable lists the loaders a transform may use, by a word of their class
// name. libvips on Debian also reaches ImageMagick (magickload), PDF, SVG,
// FITS, Matlab and more: a CDN that decodes whatever bytes a user uploads
// through those has ImageTragick-class exposure for no benefit, so they are
// refused (ErrUnsupported) before anything is decoded, as imgproxy does.
// The check is local rather than vips_operation_block_set, which would
// change libvips for every package in the process.
var readable = []struct{ word, format string }{
	{"jpeg", "jpg"}, {"png", "png"}, {"webp", "webp"}, {"gif", "gif"},
	{"heif", "avif"}, {"tiff", ""}, {"jxl", ""},
}

// sourceFormat names the loader's output format ("" when we cannot write it)
// and whether the loader is allowed at all.
func sourceFormat(loader string) (format string, ok bool) {
	l := strings.ToLower(loader)
	for _, r := range readable {
		if strings.Contains(l, r.word) {
			return r.format, true
		}
	}
	return "", false
}

// probe reads only the header: dimensions, page count, orientation, loader.
func probe(buf []byte) (header, error) {
	var w, h, pages, orient, icc C.int
	var loader *C.char
	rc := C.me_probe(unsafe.Pointer(&buf[0]), C.size_t(len(buf)), &w, &h, &pages, &orient, &icc, &loader)
	runtime.KeepAlive(buf)
	switch rc {
	case 0:
	case 2:
		C.vips_error_clear()
		return header{}, ErrUnsupported
	default:
		return header{}, errors.Join(ErrCorruptImage, vipsError("header"))
	}
	hdr := header{width: int(w), height: int(h), pages: int(pages), orientation: int(orient), icc: icc != 0, loader: C.GoString(loader)}
	if _, ok := sourceFormat(hdr.loader); !ok {
		return header{}, fmt.Errorf("%w: loader %s is not allowed", ErrUnsupported, hdr.loader)
	}
	return hdr, nil
}

// vips size and interesting enums (VipsSize, VipsInteresting).
const (
	sizeBoth  = int(C.VIPS_SIZE_BOTH)
	sizeDown  = int(C.VIPS_SIZE_DOWN)
	sizeForce = int(C.VIPS_SIZE_FORCE)

	interestingNone      = int(C.VIPS_INTERESTING_NONE)
	interestingCentre    = int(C.VIPS_INTERESTING_CENTRE)
	interestingEntropy   = int(C.VIPS_INTERESTING_ENTROPY)
	interestingAttention = int(C.VIPS_INTERESTING_ATTENTION)
)

// thumbnail is libvips' fast path: shrink-on-load, EXIF auto-rotation, ICC
// import to sRGB, and an optional "interesting" crop, in one call.
// jpegShrink > 1 decodes a JPEG at that fraction first (see
// me_thumbnail_jpeg); 0 or 1 leaves shrink-on-load to libvips.
func thumbnail(buf []byte, w, h int, size, crop int, allPages, exportSRGB bool, jpegShrink int) (*vimage, error) {
	var out *C.VipsImage
	var rc C.int
	if jpegShrink > 1 {
		rc = C.me_thumbnail_jpeg(unsafe.Pointer(&buf[0]), C.size_t(len(buf)), &out, C.int(w), C.int(h), C.int(size), C.int(crop),
			C.int(jpegShrink), cbool(exportSRGB))
	} else {
		rc = C.me_thumbnail(unsafe.Pointer(&buf[0]), C.size_t(len(buf)), &out, C.int(w), C.int(h), C.int(size), C.int(crop),
			cbool(allPages), cbool(exportSRGB))
	}
	runtime.KeepAlive(buf)
	if rc != 0 {
		return nil, errors.Join(ErrCorruptImage, vipsError("thumbnail"))
	}
	return &vimage{p: out}, nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// setDeadline makes libvips abandon the evaluation of im (which happens in
// save) once d has passed; see me_set_deadline.
func (im *vimage) setDeadline(d time.Duration) {
	C.me_set_deadline(im.p, C.gint64(d.Microseconds()))
}

func (im *vimage) srgb() error {
	var out *C.VipsImage
	return im.replace(out, C.me_srgb(im.p, &out), "colourspace")
}

func (im *vimage) extract(l, t, w, h int) error {
	var out *C.VipsImage
	return im.replace(out, C.me_extract(im.p, &out, C.int(l), C.int(t), C.int(w), C.int(h)), "extract")
}

func (im *vimage) embed(x, y, w, h int, bg string) error {
	r, g, b, a := rgba(bg)
	var out *C.VipsImage
	rc := C.me_embed(im.p, &out, C.int(x), C.int(y), C.int(w), C.int(h), C.double(r), C.double(g), C.double(b), C.double(a))
	return im.replace(out, rc, "embed")
}

func (im *vimage) addAlpha() error {
	var out *C.VipsImage
	return im.replace(out, C.me_add_alpha(im.p, &out), "addalpha")
}

func (im *vimage) flatten(bg string) error {
	r, g, b, _ := rgba(bg)
	var out *C.VipsImage
	return im.replace(out, C.me_flatten(im.p, &out, C.double(r), C.double(g), C.double(b)), "flatten")
}

func (im *vimage) blur(sigma float64) error {
	var out *C.VipsImage
	return im.replace(out, C.me_gaussblur(im.p, &out, C.double(sigma)), "gaussblur")
}

func (im *vimage) sharpen(sigma float64) error {
	var out *C.VipsImage
	return im.replace(out, C.me_sharpen(im.p, &out, C.double(sigma)), "sharpen")
}

func (im *vimage) rotate(deg int, bg string) error {
	var out *C.VipsImage
	if deg%90 == 0 {
		return im.replace(out, C.me_rot90(im.p, &out, C.int(deg/90)), "rot")
	}
	r, g, b, a := rgba(bg)
	rc := C.me_rotate(im.p, &out, C.double(deg), C.double(r), C.double(g), C.double(b), C.double(a))
	return im.replace(out, rc, "rotate")
}

func (im *vimage) flip(vertical bool) error {
	var out *C.VipsImage
	v := C.int(0)
	if vertical {
		v = 1
	}
	return im.replace(out, C.me_flip(im.p, &out, v), "flip")
}

func (im *vimage) setPageHeight(ph int) error {
	var out *C.VipsImage
	return im.replace(out, C.me_set_page_height(im.p, &out, C.int(ph)), "copy")
}

// join stacks frames vertically into an animation strip; it takes ownership
// of the frames.
func join(frames []*vimage) (*vimage, error) {
	defer func() {
		for _, f := range frames {
			f.free()
		}
	}()
	arr := (*[1 << 20]*C.VipsImage)(C.malloc(C.size_t(len(frames)) * C.size_t(unsafe.Sizeof(uintptr(0)))))[:len(frames):len(frames)]
	defer C.free(unsafe.Pointer(&arr[0]))
	for i, f := range frames {
		arr[i] = f.p
	}
	var out *C.VipsImage
	if C.me_arrayjoin(&arr[0], C.int(len(frames)), &out) != 0 {
		return nil, vipsError("arrayjoin")
	}
	return &vimage{p: out}, nil
}

var formatCodes = map[string]C.int{"jpg": 1, "png": 2, "webp": 3, "avif": 4, "gif": 5}

// save encodes the image; metadata is stripped.
func (im *vimage) save(format string, q int) ([]byte, error) {
	code, ok := formatCodes[format]
	if !ok {
		return nil, fmt.Errorf("no encoder for %q", format)
	}
	var buf unsafe.Pointer
	var n C.size_t
	if C.me_save(im.p, &buf, &n, code, C.int(q)) != 0 {
		return nil, errors.Join(ErrCorruptImage, vipsError("save "+format))
	}
	defer C.g_free(C.gpointer(buf))
	return C.GoBytes(buf, C.int(n)), nil
}

// refImage takes a new reference on im's VipsImage, for a second owner.
func refImage(im *vimage) { C.g_object_ref(C.gpointer(im.p)) }

// delays returns the per-frame delays in milliseconds of an animation.
func (im *vimage) delays(n int) []int {
	if n <= 0 {
		return nil
	}
	out := make([]C.int, n)
	got := int(C.me_delays(im.p, &out[0], C.int(n)))
	ds := make([]int, got)
	for i := range ds {
		ds[i] = int(out[i])
	}
	return ds
}

// pngFast encodes with light compression: frames handed to ffmpeg are read
// once, so encode speed matters more than size.
func (im *vimage) pngFast() ([]byte, error) {
	var buf unsafe.Pointer
	var n C.size_t
	if C.me_pngsave_fast(im.p, &buf, &n) != 0 {
		return nil, vipsError("pngsave")
	}
	defer C.g_free(C.gpointer(buf))
	return C.GoBytes(buf, C.int(n)), nil
}
