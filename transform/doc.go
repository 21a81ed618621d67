// Package transform turns URL parameters into image renditions.
//
// # Parsing and keys
//
// Parse validates the imgix-style query (w, h, dpr, fit, crop, fp-x, fp-y, fm,
// auto, q, blur, sharp, bg, rot, flip, p, t) and a format extension into one
// canonical Spec; Spec.Key is the cache key, so parameter order, repeated
// defaults (q=80 on WebP, any q on lossless PNG/GIF, fit=clip, crop=center
// without a cropping fit, dpr=1) and alternative spellings (fm=jpeg,
// crop=left,top, bg=fff) never split the cache. auto=format negotiates AVIF or
// WebP from Accept (q-values honoured); the negotiated format is in the key
// and Spec.Vary tells the edge to send Vary: Accept. AVIF is picked only for
// clients that take WebP too, and an animated source asked for AVIF with
// auto=format comes as animated WebP (libvips 8.14 writes no AVIF
// sequences): a GIF in <img src="...&auto=format"> keeps moving. Its key is
// fm=avif&auto=format, apart from fm=avif's still AVIF. Every bad parameter is a
// *ParamError naming it (the edge's 400); unknown parameters are errors too,
// as DESIGN.md asks. Presets (p=) merge under explicit parameters;
// PresetsOnly refuses everything else. Sign/Verify: hex HMAC-SHA256 over
// path + "?" + the query sorted by name without s, any of several keys, so
// keys rotate without breaking URLs.
//
// # Pipeline
//
// Processor runs a pipeline of steps over libvips (probe, resize, effects,
// background, then encode), one thin libvips layer in vips.go/vips.h, a
// deadline checked between steps, on a worker pool of cfg.Workers with a
// queue of cfg.QueueLen (ErrBusy beyond it: 503 + Retry-After):
//   - probe reads the header only (libvips' lazy loaders), so a 30000x30000
//     PNG bomb is refused (ErrTooManyPixels) before a pixel is decoded;
//     frames count against MaxFrames and the pixel budget. Only the JPEG,
//     PNG, WebP, GIF, HEIF/AVIF, TIFF and JPEG XL loaders are allowed:
//     Debian's libvips also reaches ImageMagick, PDF and SVG, whose attack
//     surface a CDN of user uploads should not expose (ErrUnsupported). The
//     output format defaults to the source's, from its magic bytes.
//   - resize uses vips_thumbnail: shrink-on-load for JPEG/WebP, EXIF
//     auto-rotation, an embedded ICC profile converted to sRGB (libvips 8.14
//     otherwise keeps e.g. ProPhoto pixels, and stripping the profile would
//     wash them out), and its entropy/attention crops; side gravities and
//     focal points resize to cover, then extract the box we compute.
//   - animated GIF/WebP keep every frame when the output is GIF or WebP:
//     loaded with n=-1 and geometry and effects applied per frame, delays
//     kept.
//   - transparency is flattened onto bg (white by default) where the format
//     has no alpha.
//   - strip removes the metadata from the image itself before any saver
//     runs (see Metadata below).
//
// libvips is lazy: the real work runs inside the save call, which Go cannot
// interrupt. So the deadline is also handed to libvips: an "eval" handler on
// the final image kills the computation when the deadline passes, and the
// worker's slot frees at once instead of after a 504 was already sent.
//
// # Metadata
//
// A rendition carries no metadata of its source: no EXIF (GPS position,
// camera make and model, capture time, maker notes, thumbnail), XMP, IPTC,
// ICC profile (the pixels were converted to sRGB, the web's default for
// untagged images), orientation (applied), PNG text or GIF comment. The
// strip step removes every field but the few the savers need to lay out an
// animation (page-height, delay, loop, palette depth) from the image itself,
// so no saver can write what the image no longer has: asking the savers to
// "strip" was not enough, libvips 8.14's WebP saver ignores it and wrote a
// phone photo's whole EXIF, GPS included, into every WebP rendition.
//
// # Why libvips directly, not bimg
//
// github.com/h2non/bimg was the project's libvips binding; product code no
// longer imports it. Its pipeline loads one page only, has no entropy crop
// (GravitySmart is attention), cannot convert ICC profiles to sRGB before
// stripping them, and re-encodes between chained steps; imgproxy keeps its
// own thin vips layer for the same reasons, and so do we. What was left of
// bimg was its initialisation, and that cost every command linking it
// (`mediaedge version` included) a libvips start: bimg's package init calls
// vips_init at import time. vipsInit now starts libvips on first use, once
// per process (libvips is process-wide), with the operation cache off: every
// request has new input, so the cache only holds memory and hides leaks.
// The tests still read outputs back with bimg, as an independent reader.
//
// Resampling is vips_thumbnail's Lanczos3, as imgproxy and sharp use. bimg
// (imaginary) shrinks by boxes and finishes with a bicubic affine, which is
// softer: at the same q its WebP is a few percent smaller (bench/transform.go
// reports the ratio) but loses fine detail; we keep the sharper kernel and
// spend WebP effort 5 instead of 4 to close most of the gap.
//
// # Decoders of our own
//
// Two sources skip part of libvips' loader. A JPEG is decoded at 1/2, 1/4
// or 1/8 by libjpeg when the output is that much smaller (jpegShrink). A
// plain PNG (8 bits, not interlaced, no palette, no transparency key, no
// EXIF, no profile to convert, up to 32 MiB decoded) is inflated with
// libdeflate and unfiltered here, then handed to vips_thumbnail_image
// (pngfast.go): zlib's inflate was half the CPU of a PNG transform, and
// libdeflate takes half as long. The output is byte-identical to libvips'
// loader's (TestRawPNGMatchesLibvips); every other PNG goes through it.
package transform
