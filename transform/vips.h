// Thin C helpers over libvips. Go cannot call libvips' variadic functions
// directly, so each call with optional arguments gets a fixed-signature
// wrapper here. Every wrapper returns 0 on success and non-zero on failure,
// leaving the message in libvips' error buffer for the Go side to collect.
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

// me_init starts libvips (VIPS_INIT also checks that the headers we were
// built against match the library's ABI) and sets it up for a server:
//   - the operation cache off (max 0 operations, 0 bytes), as imgproxy
//     does: libvips caches recent operations by their arguments so that a
//     GUI re-running a pipeline on the same image is fast, but every request
//     here has new input (a new buffer, a new width), so the cache never
//     hits; it only holds on to memory (up to 100 MB and 1000 operations by
//     default, pinning their input buffers and pixels) and makes a real leak
//     look like cache growth;
//   - one worker thread per operation: parallelism comes from our worker
//     pool (2 x cores); libvips' own threads per operation would
//     oversubscribe the cores.
static int me_init(void) {
	if (VIPS_INIT("mediaedge")) return 1;
	vips_cache_set_max(0);
	vips_cache_set_max_mem(0);
	vips_concurrency_set(1);
	return 0;
}

// me_header opens the image (header only: libvips' loaders are lazy) with
// the loader libvips picks for these bytes; the caller has already checked
// that loader against its allow-list (vips_foreign_find_load_buffer), so no
// refused loader (SVG, PDF, ImageMagick) ever parses anything.
// An embedded colour profile is copied into iccbuf when it fits (icclen is
// its whole length either way), for the Go side to recognise sRGB.
static int me_header(const void *buf, size_t len, int *w, int *h, int *pages, int *orientation, int *icc,
		void *iccbuf, size_t iccmax, size_t *icclen) {
	VipsImage *im = vips_image_new_from_buffer(buf, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
	if (im == NULL) return 1;
	*w = vips_image_get_width(im);
	*h = vips_image_get_height(im);
	*pages = vips_image_get_n_pages(im);
	int o = 1;
	if (vips_image_get_typeof(im, VIPS_META_ORIENTATION)) vips_image_get_int(im, VIPS_META_ORIENTATION, &o);
	*orientation = o;
	*icc = vips_image_get_typeof(im, VIPS_META_ICC_NAME) != 0;
	*icclen = 0;
	const void *data;
	size_t n;
	if (*icc && !vips_image_get_blob(im, VIPS_META_ICC_NAME, &data, &n)) {
		*icclen = n;
		if (n <= iccmax) memcpy(iccbuf, data, n);
	}
	g_object_unref(im);
	return 0;
}

// fail_on=truncated refuses truncated and broken files (422) without the cost
// of fail_on=error, which measured 1.7x slower on a 12 MP JPEG (it checks
// every decode warning, which turns off libjpeg's fast shrink-on-load path).
// export_srgb converts an embedded colour profile to sRGB inside the
// thumbnail (after the shrink, so on few pixels); without it libvips 8.14
// keeps the source's colour space, and stripping the profile on save would
// then show e.g. ProPhoto pixels as if they were sRGB (washed out).
static int me_thumbnail(const void *buf, size_t len, VipsImage **out, int w, int h, int size, int crop, int allpages, int export_srgb) {
	const char *opts = allpages ? "n=-1,fail_on=truncated" : "fail_on=truncated";
	if (export_srgb)
		return vips_thumbnail_buffer((void *)buf, len, out, w, "height", h, "size", size, "crop", crop,
			"option_string", opts, "export_profile", "srgb", NULL);
	return vips_thumbnail_buffer((void *)buf, len, out, w, "height", h, "size", size, "crop", crop,
		"option_string", opts, NULL);
}

// me_thumbnail_jpeg decodes a JPEG at 1/shrink with libjpeg's DCT scaling,
// then hands it to vips_thumbnail_image for the rest (rotation, colour,
// resize, crop). vips_thumbnail alone keeps a factor of two above the target
// (4000 px to 800 px decodes at 2000 px); bimg and imgproxy shrink all the
// way, which measured 20% faster on 12 MP photos for a mean difference under
// 1/255 in the result.
static int me_thumbnail_jpeg(const void *buf, size_t len, VipsImage **out, int w, int h, int size, int crop, int shrink, int export_srgb) {
	VipsImage *in;
	if (vips_jpegload_buffer((void *)buf, len, &in, "shrink", shrink, "fail_on", VIPS_FAIL_ON_TRUNCATED,
			"access", VIPS_ACCESS_SEQUENTIAL, NULL))
		return 1;
	int rc;
	if (export_srgb)
		rc = vips_thumbnail_image(in, out, w, "height", h, "size", size, "crop", crop, "export_profile", "srgb", NULL);
	else
		rc = vips_thumbnail_image(in, out, w, "height", h, "size", size, "crop", crop, NULL);
	g_object_unref(in);
	return rc;
}

// Deadlines. libvips is demand-driven: the real work happens when the saver
// pulls pixels, inside one C call that Go cannot interrupt. An "eval" handler
// on the final image (the saver's pipeline reports progress through it)
// sets the kill flag once the deadline passes, so libvips abandons the
// computation and the save fails instead of running on past a 504.
static void me_eval_cb(VipsImage *im, VipsProgress *progress, gint64 *deadline) {
	if (*deadline > 0 && g_get_monotonic_time() > *deadline) {
		vips_image_set_kill(im, TRUE);
		*deadline = 0;
	}
}

static void me_set_deadline(VipsImage *im, gint64 remaining_us) {
	gint64 *deadline = VIPS_NEW(im, gint64); // freed with the image
	*deadline = g_get_monotonic_time() + (remaining_us > 0 ? remaining_us : 1);
	g_signal_connect(im, "eval", G_CALLBACK(me_eval_cb), deadline);
	vips_image_set_progress(im, TRUE);
}

static int me_srgb(VipsImage *in, VipsImage **out) {
	VipsInterpretation i = vips_image_guess_interpretation(in);
	if (i == VIPS_INTERPRETATION_sRGB || i == VIPS_INTERPRETATION_B_W) {
		if (vips_image_get_format(in) == VIPS_FORMAT_UCHAR) return vips_copy(in, out, NULL);
		return vips_cast_uchar(in, out, NULL);
	}
	return vips_colourspace(in, out, VIPS_INTERPRETATION_sRGB, NULL);
}

static int me_extract(VipsImage *in, VipsImage **out, int l, int t, int w, int h) {
	return vips_extract_area(in, out, l, t, w, h, NULL);
}

static int me_embed(VipsImage *in, VipsImage **out, int x, int y, int w, int h, double r, double g, double b, double a) {
	int bands = vips_image_get_bands(in);
	double bg[4] = {r, g, b, a};
	if (bands == 1 || bands == 2) { bg[0] = (r + g + b) / 3; bg[1] = a; }
	VipsArrayDouble *arr = vips_array_double_new(bg, bands > 4 ? 4 : bands);
	int rc = vips_embed(in, out, x, y, w, h, "extend", VIPS_EXTEND_BACKGROUND, "background", arr, NULL);
	vips_area_unref(VIPS_AREA(arr));
	return rc;
}

static int me_add_alpha(VipsImage *in, VipsImage **out) {
	if (vips_image_hasalpha(in)) return vips_copy(in, out, NULL);
	return vips_addalpha(in, out, NULL);
}

static int me_flatten(VipsImage *in, VipsImage **out, double r, double g, double b) {
	double bg[3] = {r, g, b};
	int bands = vips_image_get_bands(in);
	if (bands <= 2) bg[0] = (r + g + b) / 3;
	VipsArrayDouble *arr = vips_array_double_new(bg, bands <= 2 ? 1 : 3);
	int rc = vips_flatten(in, out, "background", arr, NULL);
	vips_area_unref(VIPS_AREA(arr));
	return rc;
}

static int me_gaussblur(VipsImage *in, VipsImage **out, double sigma) { return vips_gaussblur(in, out, sigma, NULL); }
static int me_sharpen(VipsImage *in, VipsImage **out, double sigma) { return vips_sharpen(in, out, "sigma", sigma, NULL); }
static int me_rot90(VipsImage *in, VipsImage **out, int quarter) {
	VipsAngle a = quarter == 1 ? VIPS_ANGLE_D90 : quarter == 2 ? VIPS_ANGLE_D180 : VIPS_ANGLE_D270;
	return vips_rot(in, out, a, NULL);
}
static int me_rotate(VipsImage *in, VipsImage **out, double angle, double r, double g, double b, double a) {
	int bands = vips_image_get_bands(in);
	double bg[4] = {r, g, b, a};
	VipsArrayDouble *arr = vips_array_double_new(bg, bands > 4 ? 4 : bands);
	int rc = vips_rotate(in, out, angle, "background", arr, NULL);
	vips_area_unref(VIPS_AREA(arr));
	return rc;
}
static int me_flip(VipsImage *in, VipsImage **out, int vertical) {
	return vips_flip(in, out, vertical ? VIPS_DIRECTION_VERTICAL : VIPS_DIRECTION_HORIZONTAL, NULL);
}

static int me_arrayjoin(VipsImage **in, int n, VipsImage **out) { return vips_arrayjoin(in, out, n, "across", 1, NULL); }

static int me_set_page_height(VipsImage *in, VipsImage **out, int ph) {
	if (vips_copy(in, out, NULL)) return 1;
	vips_image_set_int(*out, VIPS_META_PAGE_HEIGHT, ph);
	return 0;
}

static int me_page_height(VipsImage *in) { return vips_image_get_page_height(in); }
static int me_has_alpha(VipsImage *in) { return vips_image_hasalpha(in); }

// me_keep_field lists the only metadata an output keeps: what the savers
// read to lay out an animation or pick a palette. Nothing in it describes the
// photo, the camera, the owner or the place.
static int me_keep_field(const char *name) {
	static const char *keep[] = {
		VIPS_META_PAGE_HEIGHT, VIPS_META_N_PAGES, "delay", "loop", "gif-delay", "gif-loop",
		"gif-palette", "palette-bit-depth", "bits-per-sample", "palette", "background",
		VIPS_META_SEQUENTIAL, NULL,
	};
	for (int i = 0; keep[i]; i++)
		if (strcmp(name, keep[i]) == 0) return 1;
	return 0;
}

// me_strip returns a copy of in without its metadata: every EXIF field
// (exif-data and the exif-ifdN-* fields libvips rebuilds EXIF from on save),
// xmp-data, iptc-data (spelt ipct-data by older libvips), the ICC profile (the pipeline has converted the
// pixels to sRGB, the web's default for untagged images), orientation
// (applied by vips_thumbnail's autorotate), PNG text chunks (png-comment-*),
// GIF comments, HEIF properties, the loader's name. Savers are asked to
// strip too, but libvips 8.14's webpsave writes EXIF, XMP and ICC whatever
// "strip" says, and no saver can write what the image no longer has. The
// resolution is reset to 72 dpi so it says nothing of the source either.
// vips_copy gives a new header (metadata is per image); the pixels are
// shared, not copied.
static int me_strip(VipsImage *in, VipsImage **out) {
	const double res = 72.0 / 25.4; // pixels per millimetre
	if (vips_copy(in, out, "xres", res, "yres", res, NULL)) return 1;
	gchar **fields = vips_image_get_fields(*out);
	for (int i = 0; fields[i]; i++)
		if (!me_keep_field(fields[i])) vips_image_remove(*out, fields[i]);
	g_strfreev(fields);
	return 0;
}

// Formats: 1 jpg, 2 png, 3 webp, 4 avif, 5 gif. AVIF uses effort 1 (libaom
// speed 8), as imgproxy ships: higher efforts cost several times the CPU for
// a few percent of bytes, and AVIF is by far the slowest encoder. WebP uses
// effort 5: measured on an 800 px photo, 5% fewer bytes than libvips'
// default 4 for about 5% more time per request (the 12 MP decode dominates);
// effort 6 saved 3% more but cost 35% of throughput. JPEG uses optimized
// Huffman tables: a few percent smaller for little CPU.
static int me_save(VipsImage *in, void **buf, size_t *len, int format, int q) {
	switch (format) {
	case 1: return vips_jpegsave_buffer(in, buf, len, "Q", q, "strip", TRUE, "optimize_coding", TRUE, NULL);
	case 2: return vips_pngsave_buffer(in, buf, len, "compression", 6, "strip", TRUE, NULL);
	case 3: return vips_webpsave_buffer(in, buf, len, "Q", q, "strip", TRUE, "effort", 5, NULL);
	case 4: return vips_heifsave_buffer(in, buf, len, "Q", q, "strip", TRUE, "compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "effort", 1, NULL);
	case 5: return vips_gifsave_buffer(in, buf, len, "strip", TRUE, NULL);
	}
	vips_error("mediaedge", "unknown output format %d", format);
	return 1;
}

// me_delays copies up to max per-frame delays (ms) into out; returns the count
// (0 when the image carries none).
static int me_delays(VipsImage *in, int *out, int max) {
	int *arr = NULL, n = 0;
	if (!vips_image_get_typeof(in, "delay")) return 0;
	if (vips_image_get_array_int(in, "delay", &arr, &n)) return 0;
	if (n > max) n = max;
	for (int i = 0; i < n; i++) out[i] = arr[i];
	return n;
}

static int me_pngsave_fast(VipsImage *in, void **buf, size_t *len) {
	return vips_pngsave_buffer(in, buf, len, "compression", 1, "strip", TRUE, NULL);
}
