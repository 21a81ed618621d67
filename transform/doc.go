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
// and Spec.Vary tells the edge to send Vary: Accept. Every bad parameter is a
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
//   - metadata is stripped on save; transparency is flattened onto bg (white
//     by default) where the format has no alpha.
//
// libvips is lazy: the real work runs inside the save call, which Go cannot
// interrupt. So the deadline is also handed to libvips: an "eval" handler on
// the final image kills the computation when the deadline passes, and the
// worker's slot frees at once instead of after a 504 was already sent.
//
// # Why this shape
//
// bimg (the project's libvips binding) initialises libvips (a process-wide
// library, hence a sync.Once with its operation cache off) and its Metadata is
// used by the tests, but its pipeline loads one page only, has no entropy
// crop (GravitySmart is attention), cannot convert ICC profiles to sRGB before
// stripping them, and re-encodes between chained steps; imgproxy keeps its
// own thin vips layer for the same reasons, and so do we.
//
// Resampling is vips_thumbnail's Lanczos3, as imgproxy and sharp use. bimg
// (imaginary) shrinks by boxes and finishes with a bicubic affine, which is
// softer: at the same q its WebP is a few percent smaller (bench/transform.go
// reports the ratio) but loses fine detail; we keep the sharper kernel and
// spend WebP effort 5 instead of 4 to close most of the gap.
package transform
