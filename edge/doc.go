// Package edge is mediaedge's HTTP edge: the routes, the media handler that
// streams originals (and, through seams, transforms and cached results), the
// one-shot upload, health and metrics. The tus protocol lives in package tus
// and is mounted here at /files/.
//
// Serving discipline, after nginx and net/http's fs.go:
//   - Ranges and validators go through http.ServeContent over an
//     io.ReadSeeker (a chunk reader or a cache file), which does Range
//     (single and multiple), If-Range, If-None-Match and HEAD correctly; we
//     only supply a strong ETag (from the content's SHA-256), Last-Modified
//     and the content type. A plain GET of a whole original from the chunks
//     skips it and writes each chunk as fetched (chunkstore.Reader.WriteTo),
//     and a hot-tier entry goes out from memory with headers prepared once.
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
// Tokens are compared in constant time, against every configured token
// without an early exit. The owner recorded with an upload is TokenOwner: a
// hash of the token, never the token, so reordering or adding tokens (or
// edges listing them in another order) keeps each upload's owner; rotate by
// adding the new token and removing the old one once its uploads are done.
//
// Routes (Go 1.22 ServeMux patterns): GET|HEAD /m/{id} (the id may carry a
// format extension, /m/{id}.webp), GET /m/{id}/info, DELETE /m/{id},
// GET|HEAD /m/{id}/hls/{name}, POST /upload, /files/ (the tus handler),
// /healthz, /readyz, /metrics. A request for /m/{id} with query parameters or
// an extension goes to the MediaHandler seam (the transform Renderer); with
// none configured it is a 400 naming the parameter, never a silent original.
//
// Timeouts, after nginx: the header read is bounded (ReadHeaderTimeout,
// against slowloris); upload bodies are bounded per read, not per request
// (BodyReadTimeout, the deadline pushed as bytes arrive: a 5 GiB upload over
// a slow link is fine, a stalled one is cut); responses likewise per write
// (SendTimeout, nginx's send_timeout: a client that stops reading a video
// frees its goroutine and chunk reader). http.Server's ReadTimeout and
// WriteTimeout bound whole requests and would cut large transfers, so they
// stay unset. Shutdown ends hanging tus PATCHes first (their bytes are kept,
// the client resumes), then drains other requests for ShutdownTimeout.
//
// Caching: one cache-through path (cacheThrough in cached.go) serves
// originals, renditions and HLS files with one failure policy; with
// Deps.Fleet set, cache keys are routed to their owning edge (fleet.go).
// Small entries hit twice are kept in memory in front of the disks (the
// hot tier, hot.go), and a request URI once answered from there through
// the routes is answered before them the next time (hotFirst), and, on a
// connection served by Run, before net/http itself: each connection is
// first read by the hot loop (hotconn.go), which answers plain GETs of
// those URIs in one write and hands the connection to net/http, with the
// bytes it read, at the first request it does not answer (the request
// subset it accepts is in hotrequest.go).
// mediaedge_transforms_total counts renditions computed, never hits or
// fills from another edge.
//
// Metrics go to the registry passed in, never the global one. *Metrics is
// made by the composition root (NewMetrics) and shared with the tus handler,
// whose hook interfaces it satisfies; store latency is observed by a wrapper
// over the Store interface, so every store call the edge makes is timed.
package edge
