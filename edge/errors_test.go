package edge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/edgecache"
	"github.com/mediaedge/mediaedge/hls"
	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/transform"
	"github.com/mediaedge/mediaedge/transform/video"
)

// TestErrorTable: every error a route can meet, wrapped as the code wraps
// it, gets its own status and code; nothing a transform or ffmpeg does
// wrong is blamed on the store, and every store fault is a retryable 503.
func TestErrorTable(t *testing.T) {
	vipsFailed := errors.New("vips thumbnail: VipsJpeg: out of order read")
	cases := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter bool
	}{
		{"libvips failure", processFault(fmt.Errorf("resize: %w", vipsFailed)), 500, "transform_failed", false},
		{"ffmpeg failure", processFault(errors.New("exit status 1")), 500, "transform_failed", false},
		{"store down", storeFault(errors.New("gocql: no hosts available in the pool")), 503, "store_unavailable", true},
		{"store timeout", storeFault(fmt.Errorf("read chunk 3: %w", context.DeadlineExceeded)), 503, "store_unavailable", true},
		{"client gone during a store read", storeFault(fmt.Errorf("read: %w", context.Canceled)), httperr.StatusClientClosed, "client_closed", false},
		{"client gone during a transform", processFault(context.Canceled), httperr.StatusClientClosed, "client_closed", false},
		{"unknown media", storeFault(fmt.Errorf("stat x: %w", chunkstore.ErrNotFound)), 404, "not_found", false},
		{"corrupt chunk", storeFault(fmt.Errorf("chunk 2: %w", chunkstore.ErrCorrupt)), 502, "corrupt", false},
		{"image bomb", processFault(fmt.Errorf("probe: %w", transform.ErrTooManyPixels)), 422, "too_many_pixels", false},
		{"too many frames", processFault(transform.ErrTooManyFrames), 422, "too_many_frames", false},
		{"unsupported", processFault(transform.ErrUnsupported), 415, "unsupported", false},
		{"svg", errSVG, 415, "svg_not_transformed", false},
		{"corrupt image", processFault(transform.ErrCorruptImage), 422, "corrupt_image", false},
		{"not animated", transform.ErrNotAnimated, 422, "not_animated", false},
		{"mp4 of a video", processFault(video.ErrAlreadyVideo), 422, "already_video", false},
		{"animated op", processFault(transform.ErrAnimatedOp), 422, "animated_unsupported", false},
		{"transform queue full", processFault(transform.ErrBusy), 503, "busy", true},
		{"transform deadline", processFault(transform.ErrTimeout), 504, "timeout", false},
		{"signature", transform.ErrSignature, 403, "bad_signature", false},
		{"not a video", hls.ErrNotVideo, 415, "not_a_video", false},
		{"corrupt video", processFault(video.ErrCorrupt), 422, "corrupt_video", false},
		{"video queue full", processFault(video.ErrBusy), 503, "busy", true},
		{"video deadline", processFault(video.ErrTimeout), 504, "timeout", false},
		{"no ffmpeg", errVideoOff, 501, "video_off", false},
		{"no cache disk", edgecache.ErrUnavailable, 503, "cache_unavailable", true},
		{"bad parameter", &transform.ParamError{Param: "w", Message: "w must be 1..8192"}, 400, "invalid_parameter", false},
		{"already an HTTP error", httperr.New(http.StatusTeapot, "teapot", "short and stout"), 418, "teapot", false},
		{"anything else", errors.New("boom"), 500, "internal", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			he := httpError(c.err)
			if he.Status != c.status || he.Code != c.code {
				t.Fatalf("got %d %s, want %d %s", he.Status, he.Code, c.status, c.code)
			}
			if got := he.RetryAfter > 0; got != c.retryAfter {
				t.Errorf("Retry-After set: %v, want %v", got, c.retryAfter)
			}
			if he.Status >= 500 && he.Message == "" {
				t.Error("no public message")
			}
		})
	}
	if he := httpError(&transform.ParamError{Param: "fit", Message: "bad"}); he.Param != "fit" {
		t.Errorf("a parameter error must name its parameter: %+v", he)
	}
}
