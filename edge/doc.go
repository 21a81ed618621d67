// Package edge is mediaedge's HTTP edge: the routes, the media handler that
// streams originals (and, through seams, transforms and cached results), the
// one-shot upload, health and metrics. The tus protocol lives in package tus
// and is mounted here at /files/.
//
// Serving discipline, after nginx and net/http's fs.go:
//   - Bytes go out through http.ServeContent over an io.ReadSeeker (a chunk
//     reader or a cache file), which does Range (single and multiple),
//     If-Range, If-None-Match and HEAD correctly; we only supply a strong ETag
//     (from the content's SHA-256), Last-Modified and the content type.
//   - Files are immutable (a new upload gets a new id), so every success is
//     `Cache-Control: public, max-age=31536000, immutable`.
//   - Content-Type comes from the bytes (sniffed at write time), never from
//     the client; types a browser could execute (HTML, SVG, XML) go out as
//     attachments under a sandbox CSP, with nosniff always.
//   - Unknown ids answer 404 JSON. A malformed id is also a 404, not a 400:
//     to a client both mean "no such media", and distinguishing them would
//     only tell a scraper which strings are well-formed.
//   - Errors go through httperr.Write: JSON, no internal detail on a 5xx.
//
// Uploads and deletes need `Authorization: Bearer <token>`; reads are open.
// Tokens are compared in constant time.
package edge
