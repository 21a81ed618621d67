// Package transform turns URL parameters into image renditions.
//
// Parse validates the imgix-style query (w, h, dpr, fit, crop, fp-x, fp-y, fm,
// auto, q, blur, sharp, bg, rot, flip, p, s) and a format extension into one
// canonical Spec; Spec.Key is the cache key, so parameter order, repeated
// defaults (q=80 on WebP, fit=clip, crop=center without a cropping fit) and
// alternative spellings (fm=jpeg, crop=left,top, bg=fff) never split the
// cache. Every bad parameter is a *ParamError naming it (the edge's 400).
//
// Processor runs a pipeline of steps over libvips (probe, resize, effects,
// background, encode), one libvips layer in vips.go/vips.h, a deadline checked
// between steps, on a worker pool of 2 x cores with a bounded queue:
//   - probe reads the header only (vips' lazy loaders), so a 30000x30000 PNG
//     bomb is refused (ErrTooManyPixels) before a pixel is decoded; frames
//     count against MaxFrames and the pixel budget.
//   - resize uses vips_thumbnail: shrink-on-load for JPEG/WebP, EXIF
//     auto-rotation, ICC import to sRGB, and its entropy/attention crops;
//     side gravities and focal points resize to cover, then extract.
//   - animated GIF/WebP keep every frame when the output is GIF or WebP:
//     loaded with n=-1 and geometry applied per frame, delays kept.
//   - metadata is stripped on save; JPEG output is flattened onto bg (white).
//
// Why not bimg's pipeline alone: bimg (our libvips binding, used here to
// initialise libvips) loads one page only and has no entropy crop or step
// chaining without re-encoding; imgproxy keeps its own thin vips layer for the
// same reasons.
//
// Signing (Sign/Verify): hex HMAC-SHA256 over path + "?" + the query sorted by
// name without s, any of several keys, so keys rotate without broken URLs.
package transform
