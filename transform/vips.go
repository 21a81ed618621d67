package transform

/*
#cgo pkg-config: vips
#include "vips.h"
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// This file is the one thin layer over libvips: every call's return checked,
// the vips error buffer read and cleared, every VipsImage reference owned by
// exactly one vimage. No Go binding sits underneath (bimg was one; doc.go
// says why we call libvips ourselves).

// vipsInit starts libvips on first use, once per process: libvips is a
// process-wide library, so this is the package's one piece of global state.
// Importing the package starts nothing (bimg's package init started libvips
// in every command that linked it, `mediaedge version` included). See
// me_init for the operation cache (off) and concurrency (1).
var vipsInit = sync.OnceValue(func() error {
	// vips_init may set up thread-local state in glib; keep it on one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if C.me_init() != 0 {
		return vipsError("init")
	}
	return nil
})

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
	icc                               bool   // carries an embedded colour profile other than sRGB
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
// The loader is checked against the allow-list before libvips opens anything,
// so a refused format (SVG, PDF, ImageMagick's) is never parsed; formats we
// recognise ourselves are refused even before libvips sniffs the bytes, with
// a message naming them.
func probe(buf []byte) (header, error) {
	if err := vipsInit(); err != nil {
		return header{}, err
	}
	if len(buf) == 0 {
		return header{}, ErrCorruptImage
	}
	if kind := notTransformed(buf); kind != "" {
		return header{}, fmt.Errorf("%w: %s is not transformed", ErrUnsupported, kind)
	}
	cl := C.vips_foreign_find_load_buffer(unsafe.Pointer(&buf[0]), C.size_t(len(buf)))
	if cl == nil {
		C.vips_error_clear()
		return header{}, ErrUnsupported
	}
	loader := C.GoString(cl)
	if _, ok := sourceFormat(loader); !ok {
		return header{}, fmt.Errorf("%w: %s is not transformed (libvips loader %s is not allowed)", ErrUnsupported, loaderKind(loader), loader)
	}
	var w, h, pages, orient, icc C.int
	var iccLen C.size_t
	profile := make([]byte, iccReadMax)
	rc := C.me_header(unsafe.Pointer(&buf[0]), C.size_t(len(buf)), &w, &h, &pages, &orient, &icc,
		unsafe.Pointer(&profile[0]), C.size_t(len(profile)), &iccLen)
	runtime.KeepAlive(buf)
	if rc != 0 {
		return header{}, errors.Join(ErrCorruptImage, vipsError("header"))
	}
	hdr := header{width: int(w), height: int(h), pages: int(pages), orientation: int(orient), icc: icc != 0, loader: loader}
	if hdr.icc && int(iccLen) <= len(profile) && isSRGBProfile(profile[:iccLen]) {
		// Converting sRGB to sRGB is an identity (icc.go): the pixels are
		// kept as they are and the profile is stripped on save, as an
		// untagged image means sRGB.
		hdr.icc = false
	}
	return hdr, nil
}

// notTransformed recognises documents that are not raster images, by their
// first bytes, and names them: SVG (XML text with an <svg> root) and
// PDF/PostScript. They are never rendered here: rendering SVG runs a
// browser-grade engine (librsvg) on untrusted markup, and a PDF or
// PostScript file a document interpreter. Checked before libvips
// sees the bytes, so the answer does not depend on which loaders this
// build of libvips has (without librsvg, an SVG would be "unknown").
func notTransformed(b []byte) string {
	head := b[:min(len(b), 4096)]
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return "PDF"
	case bytes.HasPrefix(head, []byte("%!PS")), bytes.HasPrefix(head, []byte("\xc5\xd0\xd3\xc6")):
		return "PostScript"
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if bytes.HasPrefix(t, []byte("<")) && bytes.Contains(bytes.ToLower(t), []byte("<svg")) {
		return "SVG"
	}
	return ""
}

// loaderKind names a refused loader's format for the error message:
// VipsForeignLoadSvgBuffer -> "SVG".
func loaderKind(loader string) string {
	k := strings.TrimPrefix(loader, "VipsForeignLoad")
	for _, suffix := range []string{"Buffer", "Source", "File"} {
		k = strings.TrimSuffix(k, suffix)
	}
	if strings.HasPrefix(k, "Magick") {
		return "this format (read through ImageMagick)"
	}
	return strings.ToUpper(k)
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
//
// The image reads buf lazily (the pixels are decoded when the saver pulls
// them): the caller keeps buf reachable until the image is freed.
func thumbnail(buf []byte, w, h int, size, crop int, allPages, exportSRGB bool, jpegShrink int) (*vimage, error) {
	if err := vipsInit(); err != nil {
		return nil, err
	}
	if len(buf) == 0 {
		return nil, ErrCorruptImage
	}
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

// strip drops every piece of metadata but the few the savers need to lay
// out frames (see me_strip): no EXIF (GPS, camera, capture time), XMP, IPTC,
// ICC profile or text chunk reaches an output, whatever the saver does with
// its own "strip" option.
func (im *vimage) strip() error {
	var out *C.VipsImage
	return im.replace(out, C.me_strip(im.p, &out), "strip")
}

var formatCodes = map[string]C.int{"jpg": 1, "png": 2, "webp": 3, "avif": 4, "gif": 5}

// save encodes the image. Metadata must have been removed first (strip); the
// savers' own "strip" is set too, but libvips 8.14's WebP saver ignores it
// and writes an EXIF block of its own making, so WebP chunks are dropped
// from its output (dropWebPMetadata).
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
	out := C.GoBytes(buf, C.int(n))
	C.g_free(C.gpointer(buf))
	if format == "webp" {
		return dropWebPMetadata(out)
	}
	return out, nil
}

// fields lists the image's metadata field names (as `vipsheader -a` shows
// them, header fields such as width excluded); the tests read outputs back
// with it.
func (im *vimage) fields() []string {
	arr := C.vips_image_get_fields(im.p)
	defer C.g_strfreev(arr)
	var names []string
	for p := arr; *p != nil; p = (**C.gchar)(unsafe.Add(unsafe.Pointer(p), unsafe.Sizeof(*p))) {
		name := C.GoString((*C.char)(*p))
		switch name {
		case "width", "height", "bands", "format", "coding", "interpretation", "xoffset", "yoffset", "xres", "yres", "filename":
			continue
		}
		names = append(names, name)
	}
	return names
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
