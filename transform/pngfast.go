package transform

/*
#cgo pkg-config: vips
#cgo LDFLAGS: -ldeflate
#include <stdlib.h>
#include <sys/mman.h>
#include <libdeflate.h>
#include <vips/vips.h>

// PNG rows are filtered against the row above and the pixel to the left
// (PNG spec, section 9). They are undone in place: row y's bytes move down
// y+1 places (its filter byte and the earlier rows' are dropped), and each
// byte is read before the place it moves to is written, so one buffer holds
// the inflated rows first and the pixels after.
static inline unsigned char me_paeth(int a, int b, int c) {
	int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
	if (pa <= pb && pa <= pc) return (unsigned char)a;
	if (pb <= pc) return (unsigned char)b;
	return (unsigned char)c;
}

static int me_png_unfilter(unsigned char *buf, size_t w, size_t h, size_t bpp) {
	size_t stride = w * bpp;
	for (size_t y = 0; y < h; y++) {
		const unsigned char *in = buf + y * (stride + 1);
		unsigned char ft = in[0];
		in++;
		unsigned char *out = buf + y * stride;
		const unsigned char *up = y > 0 ? buf + (y - 1) * stride : NULL;
		size_t x = 0;
		switch (ft) {
		case 0:
			memmove(out, in, stride);
			break;
		case 1:
			for (; x < bpp && x < stride; x++) out[x] = in[x];
			for (; x < stride; x++) out[x] = in[x] + out[x - bpp];
			break;
		case 2:
			if (up == NULL) memmove(out, in, stride);
			else for (; x < stride; x++) out[x] = in[x] + up[x];
			break;
		case 3:
			for (; x < bpp && x < stride; x++) out[x] = in[x] + ((up ? up[x] : 0) >> 1);
			for (; x < stride; x++) out[x] = in[x] + ((out[x - bpp] + (up ? up[x] : 0)) >> 1);
			break;
		case 4:
			if (up == NULL) {
				// Paeth on the first row is Sub.
				for (; x < bpp && x < stride; x++) out[x] = in[x];
				for (; x < stride; x++) out[x] = in[x] + out[x - bpp];
				break;
			}
			for (; x < bpp && x < stride; x++) out[x] = in[x] + up[x];
			for (; x < stride; x++) out[x] = in[x] + me_paeth(out[x - bpp], up[x], up[x - bpp]);
			break;
		default:
			return 1;
		}
	}
	return 0;
}

// The decoded rows get pages of their own (mmap), given back to the system
// when the image closes: from malloc, glibc kept the freed buffers in its
// arenas and the server's resident set stayed 110 MiB higher after a run of
// PNG transforms (260 against 149 MiB).
typedef struct { void *p; size_t n; } me_png_pages;

static void me_png_free(VipsImage *im, me_png_pages *pg) {
	munmap(pg->p, pg->n);
	g_free(pg);
}

// me_png_thumbnail inflates z (the PNG's IDAT payload) with libdeflate into
// h rows of w x bands bytes, undoes the filters, and hands the pixels to
// vips_thumbnail_image. rc 2: the data did not inflate to exactly that size
// or a row's filter is unknown (the caller falls back to libvips' loader,
// which then says what is wrong); 1: libvips failed.
static int me_png_thumbnail(const void *z, size_t zlen, int w, int h, int bands, double xres, double yres,
		VipsImage **out, int tw, int th, int size, int crop) {
	size_t stride = (size_t)w * bands, total = (stride + 1) * (size_t)h;
	me_png_pages *pg = g_new(me_png_pages, 1);
	pg->n = total;
	pg->p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (pg->p == MAP_FAILED) { g_free(pg); return 2; }
	unsigned char *buf = pg->p;
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	if (d == NULL) { me_png_free(NULL, pg); return 2; }
	enum libdeflate_result r = libdeflate_zlib_decompress(d, z, zlen, buf, total, NULL);
	libdeflate_free_decompressor(d);
	if (r != LIBDEFLATE_SUCCESS || me_png_unfilter(buf, w, h, bands)) { me_png_free(NULL, pg); return 2; }
	VipsImage *im = vips_image_new_from_memory(buf, stride * h, w, h, bands, VIPS_FORMAT_UCHAR);
	if (im == NULL) { me_png_free(NULL, pg); return 1; }
	g_signal_connect(im, "postclose", G_CALLBACK(me_png_free), pg);
	// As libvips' PNG loader sets them: grey or sRGB, and the resolution
	// of pHYs in pixels per millimetre (it lands in a JPEG's JFIF header).
	VipsImage *c;
	int rc = vips_copy(im, &c, "interpretation", bands <= 2 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB,
		"xres", xres, "yres", yres, NULL);
	g_object_unref(im);
	if (rc) return 1;
	// What libvips' loaders set when they stream: vips_resize then shrinks
	// in strips of rows. Without it, on an image in memory it measured 5x
	// slower (217 against 43 ms for 2000x1500 to 400 px) for the same pixels.
	vips_image_set_int(c, "vips-sequential", 1);
	rc = vips_thumbnail_image(c, out, tw, "height", th, "size", size, "crop", crop, NULL);
	g_object_unref(c);
	return rc;
}
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"unsafe"
)

// The PNG fast path. A PNG's decode is mostly zlib's inflate: 52% of the
// server's CPU on a 2000x1500 photo to a 400 px JPEG, with libvips reading
// it through libpng and Debian's zlib 1.2.13. libdeflate (Debian's
// libdeflate0, already there for libtiff) inflates the same stream in half
// the time (27 against 55 ms, measured on that photo). It only inflates
// whole buffers, which libpng cannot use, so the PNGs that are most of the
// traffic are decoded here: 8 bits per sample, grey, grey + alpha, RGB or
// RGBA, not interlaced, with no transparency key and no EXIF. Everything
// else goes through libvips' loader as before. The chunks are parsed in Go
// (bounds-checked) and their CRCs checked; C only inflates into a buffer of
// the exact size the header implies (libdeflate stops at its end) and undoes
// the row filters, with every index derived from that size.
//
// The whole image is held in memory at once (libvips' loader streams rows),
// so only PNGs up to pngFastMaxBytes decoded take this path: with the
// transform workers' concurrency that bounds the extra memory.

// pngFastMaxBytes bounds the decoded size of a PNG the fast path takes:
// 32 MiB is 11 MP of RGB, 8 MP of RGBA.
const pngFastMaxBytes = 32 << 20

// rawPNG is a PNG the fast path can decode.
type rawPNG struct {
	w, h, bands int
	z           []byte  // the IDAT payload, concatenated
	xres, yres  float64 // pixels per millimetre, as libvips' loader reads pHYs
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// parseRawPNG reports whether buf is a PNG the fast path decodes, and its
// layout. It refuses (false) anything else, including any file whose chunks
// are malformed or whose CRCs do not match: libvips' loader then decides
// what such a file is worth.
func parseRawPNG(buf []byte) (rawPNG, bool) {
	if !bytes.HasPrefix(buf, pngSignature) {
		return rawPNG{}, false
	}
	p := rawPNG{xres: 2.834, yres: 2.834} // libvips' loader without pHYs: 72 dpi, as it rounds it
	var idat [][]byte
	idatDone, sawIHDR := false, false
	rest := buf[len(pngSignature):]
	for {
		if len(rest) < 12 {
			return rawPNG{}, false // no IEND
		}
		n := binary.BigEndian.Uint32(rest)
		if n > 1<<31-1 || uint64(n) > uint64(len(rest)-12) {
			return rawPNG{}, false
		}
		typ, data := string(rest[4:8]), rest[8:8+n]
		if crc32.ChecksumIEEE(rest[4:8+n]) != binary.BigEndian.Uint32(rest[8+n:]) {
			return rawPNG{}, false
		}
		rest = rest[12+n:]
		if !sawIHDR && typ != "IHDR" {
			return rawPNG{}, false
		}
		if len(idat) > 0 && typ != "IDAT" {
			idatDone = true
		}
		switch typ {
		case "IHDR":
			if sawIHDR || len(data) != 13 {
				return rawPNG{}, false
			}
			sawIHDR = true
			w, h := binary.BigEndian.Uint32(data), binary.BigEndian.Uint32(data[4:])
			depth, colour := data[8], data[9]
			if w == 0 || h == 0 || w > 1<<24 || h > 1<<24 || depth != 8 || data[10] != 0 || data[11] != 0 || data[12] != 0 {
				return rawPNG{}, false // other depths, interlaced, unknown methods
			}
			bands := map[byte]int{0: 1, 2: 3, 4: 2, 6: 4}[colour] // 3 (palette) is not taken
			if bands == 0 || (uint64(w)*uint64(bands)+1)*uint64(h) > pngFastMaxBytes {
				return rawPNG{}, false
			}
			p.w, p.h, p.bands = int(w), int(h), bands
		case "IDAT":
			if idatDone {
				return rawPNG{}, false
			}
			idat = append(idat, data)
		case "IEND":
			if len(idat) == 0 {
				return rawPNG{}, false
			}
			p.z = idat[0]
			if len(idat) > 1 {
				p.z = bytes.Join(idat, nil)
			}
			return p, true
		case "pHYs":
			if len(data) == 9 && data[8] == 1 { // per metre
				p.xres = float64(binary.BigEndian.Uint32(data)) / 1000
				p.yres = float64(binary.BigEndian.Uint32(data[4:])) / 1000
			}
		case "tRNS", "eXIf":
			// A transparency key becomes an alpha band in libvips' loader, and
			// EXIF may carry an orientation: both are libvips'.
			return rawPNG{}, false
		case "PLTE":
			if p.bands < 3 {
				return rawPNG{}, false
			}
			// A suggested palette for a truecolour image: not used.
		default:
			if typ[0]&0x20 == 0 {
				return rawPNG{}, false // an unknown critical chunk
			}
			// Ancillary: text, time, gamma and chromaticities (which libvips'
			// loader does not apply either), an sRGB or ICC tag (the caller
			// only comes here when the profile is sRGB's: icc.go).
		}
	}
}

// errRawPNGRefused is the fast path declining a file it parsed but could
// not decode: the caller hands the bytes to libvips' loader instead.
var errRawPNGRefused = errors.New("png fast path refused")

// thumbnailPNG decodes p (whose bytes the caller keeps reachable) and
// thumbnails it as thumbnail does, without colour conversion: the caller
// only comes here for untagged or sRGB images.
func thumbnailPNG(p rawPNG, w, h, size, crop int) (*vimage, error) {
	if err := vipsInit(); err != nil {
		return nil, err
	}
	var out *C.VipsImage
	rc := C.me_png_thumbnail(unsafe.Pointer(&p.z[0]), C.size_t(len(p.z)), C.int(p.w), C.int(p.h), C.int(p.bands),
		C.double(p.xres), C.double(p.yres), &out, C.int(w), C.int(h), C.int(size), C.int(crop))
	runtime.KeepAlive(p.z)
	switch rc {
	case 0:
		return &vimage{p: out}, nil
	case 2:
		return nil, errRawPNGRefused
	default:
		return nil, errors.Join(ErrCorruptImage, vipsError("thumbnail"))
	}
}
