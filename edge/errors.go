package edge

import (
	"context"
	"errors"
	"net/http"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/edgecache"
	"github.com/mediaedge/mediaedge/hls"
	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/transform"
	"github.com/mediaedge/mediaedge/transform/video"
)

// This file is the one place where an error becomes an HTTP status for the
// edge's routes. Handlers pass whatever error they got to s.fail; the table
// below is searched in order with errors.Is, so the specific sentinels come
// first and the broad markers (a store fault, a transform fault) last.
//
// Errors that come from the store are marked with storeFault where the store
// is called, and errors that come from libvips or ffmpeg with processFault,
// so an unknown libvips failure is a 500 of its own and never blamed on the
// store, and an unknown store failure (Cassandra down, a disk gone) is always
// a 503 with Retry-After, the answer a client or balancer retries.

// Markers for the origin of an error that matched no sentinel.
var (
	errStore   = errors.New("store fault")
	errProcess = errors.New("processing fault")
	// errVideoOff: the server runs without ffmpeg.
	errVideoOff = errors.New("video support is not configured")
	// errSVG: SVG is served as an attachment, never rasterised.
	errSVG = errors.New("SVG is not transformed")
	// errNoCache: the server runs without an edge cache.
	errNoCache = errors.New("no edge cache")
	// errNotCached answers another edge's only-if-cached request on a miss.
	errNotCached = errors.New("not in this edge's cache")
	// errPeer marks a failure of another edge of the fleet (no answer in
	// time, a broken answer).
	errPeer = errors.New("fleet edge fault")
	// errPeerLost: another edge died while sending a fill's bytes; the fill
	// is retried once.
	errPeerLost = errors.New("fleet edge lost mid-response")
)

// peerFault marks err as coming from another edge.
func peerFault(err error) error {
	if err == nil {
		return nil
	}
	return &markedError{mark: errPeer, err: err}
}

// storeFault marks err as coming from the chunk store.
func storeFault(err error) error {
	if err == nil {
		return nil
	}
	return &markedError{mark: errStore, err: err}
}

// processFault marks err as coming from libvips or ffmpeg.
func processFault(err error) error {
	if err == nil {
		return nil
	}
	return &markedError{mark: errProcess, err: err}
}

// markedError is err, also matching mark with errors.Is. A second mark on an
// already marked error keeps the first: the fault happened where it was
// first seen.
type markedError struct{ mark, err error }

func (m *markedError) Error() string   { return m.err.Error() }
func (m *markedError) Unwrap() []error { return []error{m.err, m.mark} }

// errorTable maps every sentinel an edge route can meet to its answer.
var errorTable = httperr.Table{
	// The client went away: nobody reads the answer; logged at debug (nginx's 499).
	{Err: context.Canceled, Status: httperr.StatusClientClosed, Code: "client_closed", Message: "the client closed the request"},

	// Stored data.
	{Err: chunkstore.ErrNotFound, Status: http.StatusNotFound, Code: "not_found", Message: "no such media"},
	{Err: chunkstore.ErrCorrupt, Status: http.StatusBadGateway, Code: "corrupt", Message: "stored data failed its checksum"},
	{Err: chunkstore.ErrMetadata, Status: http.StatusUnprocessableEntity, Code: "metadata_unreadable", Message: "the image's metadata cannot be read, so its location cannot be removed; the upload was not kept"},
	{Err: chunkstore.ErrTooLarge, Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "the upload exceeds the size limit"},

	// Images.
	{Err: transform.ErrSignature, Status: http.StatusForbidden, Code: "bad_signature", Message: "the URL signature (s=) is missing or wrong", Param: "s"},
	{Err: transform.ErrTooManyPixels, Status: http.StatusUnprocessableEntity, Code: "too_many_pixels", Message: "the image has more pixels than this server transforms (max-source-pixels)"},
	{Err: transform.ErrTooManyFrames, Status: http.StatusUnprocessableEntity, Code: "too_many_frames", Message: "the animation has more frames than this server transforms (max-frames)"},
	{Err: errSVG, Status: http.StatusUnsupportedMediaType, Code: "svg_not_transformed", Message: "SVG images are served as they are, never transformed"},
	{Err: transform.ErrUnsupported, Status: http.StatusUnsupportedMediaType, Code: "unsupported", Message: "this media cannot be transformed"},
	{Err: transform.ErrCorruptImage, Status: http.StatusUnprocessableEntity, Code: "corrupt_image", Message: "the image is corrupt or truncated"},
	{Err: transform.ErrNotAnimated, Status: http.StatusUnprocessableEntity, Code: "not_animated", Message: "the image is not animated: MP4 is made from animated GIF or WebP"},
	{Err: transform.ErrAnimatedOp, Status: http.StatusUnprocessableEntity, Code: "animated_unsupported", Message: "this operation is not supported on animations"},
	{Err: transform.ErrBusy, Status: http.StatusServiceUnavailable, Code: "busy", Message: "too many transforms in progress; retry shortly", RetryAfter: 1},
	{Err: transform.ErrTimeout, Status: http.StatusGatewayTimeout, Code: "timeout", Message: "the transform took too long"},

	// Video.
	{Err: video.ErrAlreadyVideo, Status: http.StatusUnprocessableEntity, Code: "already_video", Message: "this media is already a video: fetch the original or its HLS playlist"},
	{Err: hls.ErrNotVideo, Status: http.StatusUnsupportedMediaType, Code: "not_a_video", Message: "HLS is made from videos"},
	{Err: video.ErrCorrupt, Status: http.StatusUnprocessableEntity, Code: "corrupt_video", Message: "the media cannot be decoded"},
	{Err: video.ErrBusy, Status: http.StatusServiceUnavailable, Code: "busy", Message: "too many video jobs in progress; retry shortly", RetryAfter: 2},
	{Err: video.ErrTimeout, Status: http.StatusGatewayTimeout, Code: "timeout", Message: "the video job took too long"},
	{Err: errVideoOff, Status: http.StatusNotImplemented, Code: "video_off", Message: "video support is not configured"},
	{Err: errNoCache, Status: http.StatusNotFound, Code: "no_cache", Message: "this server runs without an edge cache"},

	// The fleet.
	{Err: errNotCached, Status: http.StatusGatewayTimeout, Code: "not_cached", Message: "not in this edge's cache (only-if-cached)"},
	{Err: errPeerLost, Status: http.StatusBadGateway, Code: "edge_failed", Message: "the edge serving this result failed; retry shortly", RetryAfter: 1},
	{Err: errPeer, Status: http.StatusBadGateway, Code: "edge_failed", Message: "the edge serving this result did not answer; retry shortly", RetryAfter: 1},

	// Faults without a sentinel, by where they happened. A store fault is
	// retried by clients and balancers: 503 with Retry-After, also for a
	// store that timed out.
	{Err: errStore, Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the store did not answer; retry shortly", RetryAfter: 2},
	{Err: context.DeadlineExceeded, Status: http.StatusGatewayTimeout, Code: "timeout", Message: "the work took too long"},
	{Err: edgecache.ErrUnavailable, Status: http.StatusServiceUnavailable, Code: "cache_unavailable", Message: "no cache disk is available; retry shortly", RetryAfter: 2},
	{Err: errProcess, Status: http.StatusInternalServerError, Code: "transform_failed", Message: "the media could not be processed"},
}

// httpError is err as the client sees it: a *httperr.Error passes through,
// a parameter error is a 400 naming the parameter, a sentinel its row of
// the table, anything else a 500.
func httpError(err error) *httperr.Error {
	var pe *transform.ParamError
	if errors.As(err, &pe) {
		return httperr.BadParam(pe.Param, pe.Message)
	}
	return errorTable.Map(err)
}

// fail writes err through the table and the one error writer.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	httperr.Write(w, r, s.log, httpError(err))
}
