// Package hls packages an uploaded video as HLS once for the whole fleet and
// finds the packaged files again.
//
// Model: the first request for a video's playlist, on any edge, asks the
// Packager for the video's Manifest. The packager looks for the (source,
// "hls") record in the derived table; when there is none it claims the work
// with the (source, "hls.lock") record (a lightweight transaction on
// Cassandra, a locked read-then-write in the embedded store: exactly one
// claimant wins), runs video.Converter.PackageHLSFrom (which copies the
// source from the chunk store into its job folder only once it holds a
// video slot; remux H.264 with -c copy, transcode anything else; fMP4
// segments of 4-6 s), stores every output file in the
// chunk store, then a JSON manifest naming them, and records the manifest as
// the (source, "hls") variant. Every edge then serves the same files through
// its own disk cache, with explicit content types (video.ContentType).
//
// Within one edge, concurrent requests for one video share one attempt
// (singleflight). Edges that lose the claim poll for the manifest; a claim
// older than StaleAfter is taken to be a dead producer's and is broken. The
// production runs detached from the first requester's context: the other
// waiters need its result even if that client went away, and the
// converter's own deadline bounds it.
//
// A failed production (a corrupt video: video.ErrCorrupt) releases the claim
// and leaves nothing behind, so a later request tries again rather than
// waiting StaleAfter. Once the record may name the package (the claim
// succeeded, or its outcome is unknown), the files stay whatever fails
// after: a record naming deleted files would break the video for good. A
// record whose manifest is gone all the same (or, through Forget, one of
// whose files is) is dropped and the package produced again.
package hls
