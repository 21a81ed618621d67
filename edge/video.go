package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/hls"
	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/transform"
	"github.com/mediaedge/mediaedge/transform/video"
)

// Video is what the edge needs from the ffmpeg side.
type Video interface {
	AnimatedToMP4(ctx context.Context, src []byte, opt video.MP4Options) ([]byte, transform.AnimationInfo, error)
	// PosterFrom takes a frame of the video src opens. The converter copies
	// the video (ffmpeg must seek: an MP4's index may sit at its end) once
	// a job slot is its, so posters waiting for a slot hold no copy of
	// their video, however many distinct times are asked at once, and the
	// copy lands in its temp folder under its deadline.
	PosterFrom(ctx context.Context, src video.Source, contentType string, atSeconds float64) ([]byte, error)
}

// HLS finds (producing once for the fleet) a video's HLS package.
type HLS interface {
	Manifest(ctx context.Context, src chunkstore.FileInfo) (hls.Manifest, error)
}

func isVideo(ct string) bool {
	return strings.HasPrefix(ct, "video/") && video.Demuxer(ct) != ""
}

// renderVideo covers the renditions that need ffmpeg: an animation as MP4
// and a poster frame of a video. handled=false leaves the request to images.
func (rd *Renderer) renderVideo(ctx context.Context, info chunkstore.FileInfo, spec transform.Spec) (transform.Result, bool, error) {
	switch {
	case spec.Format == "mp4":
		if rd.video == nil {
			return transform.Result{}, true, errVideoOff
		}
		if isVideo(info.ContentType) {
			return transform.Result{}, true, video.ErrAlreadyVideo
		}
		if info.ContentType != "image/gif" && info.ContentType != "image/webp" {
			return transform.Result{}, true, transform.ErrNotAnimated
		}
		src, release, err := rd.readSource(ctx, info)
		if err != nil {
			return transform.Result{}, true, err
		}
		defer release()
		opt := video.MP4Options{Width: spec.OutWidth(), Height: spec.OutHeight(), Background: spec.BG}
		mp4, ai, err := rd.video.AnimatedToMP4(ctx, src, opt)
		if err != nil {
			return transform.Result{}, true, processFault(err)
		}
		if spec.Smallest && video.GIFSmaller(src, mp4, opt) {
			// Asked for the smaller of the two, and the GIF is it (noise-like
			// content): its own bytes, under the MP4's URL and cache key.
			return transform.Result{Data: src, ContentType: "image/gif", Format: "gif", Width: ai.Width, Height: ai.Height, Frames: ai.Frames}, true, nil
		}
		return transform.Result{Data: mp4, ContentType: "video/mp4", Format: "mp4", Width: ai.Width, Height: ai.Height, Frames: ai.Frames}, true, nil
	case isVideo(info.ContentType):
		if rd.video == nil {
			return transform.Result{}, true, errVideoOff
		}
		png, err := rd.poster(ctx, info, spec.T)
		if err != nil {
			return transform.Result{}, true, err
		}
		still := spec
		still.T = 0
		if still.Format == "" {
			still.Format = "jpg"
		}
		res, err := rd.tf.Process(ctx, png, "image/png", still)
		return res, true, processFault(err)
	}
	return transform.Result{}, false, nil
}

// poster takes the frame at t (Video.PosterFrom).
func (rd *Renderer) poster(ctx context.Context, info chunkstore.FileInfo, t float64) ([]byte, error) {
	png, err := rd.video.PosterFrom(ctx, rd.openSource(info), info.ContentType, t)
	return png, processFault(err)
}

// openSource opens a stored video for copying, its failures marked as the
// store's (503), not ffmpeg's.
func (rd *Renderer) openSource(info chunkstore.FileInfo) video.Source {
	return func(ctx context.Context) (io.ReadCloser, error) {
		r, err := rd.srv.store.Open(ctx, info.ID)
		if err != nil {
			return nil, storeFault(err)
		}
		return storeSource{r}, nil
	}
}

// storeSource marks the store's read failures. It has no WriteTo on
// purpose: io.Copy then reads through Read, so a failure to write the copy
// (the disk's) stays unmarked.
type storeSource struct{ r *chunkstore.Reader }

func (s storeSource) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = storeFault(fmt.Errorf("read source: %w", err))
	}
	return n, err
}

func (s storeSource) Close() error { return s.r.Close() }

// hlsForgetter is the capability of an HLS that drops a package one of
// whose files is gone from the store, to produce it again (*hls.Packager
// is one).
type hlsForgetter interface {
	Forget(ctx context.Context, sourceID string, m hls.Manifest) error
}

// serveHLS answers GET|HEAD /m/{id}/hls/{name}: the playlist and segments of a
// video, packaged once for the fleet, served through the edge cache.
func (s *Server) serveHLS(w http.ResponseWriter, r *http.Request) {
	if s.deps.HLS == nil {
		httperr.Write(w, r, s.log, httperr.NotFound("HLS is not configured on this server"))
		return
	}
	info, ok := s.lookup(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	name := r.PathValue("name")
	var (
		fileID string
		part   chunkstore.FileInfo
	)
	for try := 0; ; try++ {
		m, err := s.deps.HLS.Manifest(r.Context(), info)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var ok bool
		if fileID, ok = m.Files[name]; !ok {
			httperr.Write(w, r, s.log, httperr.NotFound("no such file in this video's HLS package"))
			return
		}
		part, err = s.store.Stat(r.Context(), fileID)
		if err == nil {
			break
		}
		// A file of the recorded package is gone: as it is, every later
		// request would 404. Drop the record and make the package again,
		// once.
		f, canForget := s.deps.HLS.(hlsForgetter)
		if try > 0 || !errors.Is(err, chunkstore.ErrNotFound) || !canForget {
			s.fail(w, r, storeFault(err))
			return
		}
		if err := f.Forget(r.Context(), info.ID, m); err != nil {
			s.fail(w, r, storeFault(err))
			return
		}
	}
	ct := video.ContentType(name)
	s.cacheThrough(w, r, origin{
		key:     info.ID + "/hls/" + name,
		etag:    ETag(part),
		modTime: part.CreatedAt.Truncate(time.Second),
		make: func(ctx context.Context) (content, error) {
			return s.storeContent(ctx, fileID, ct)
		},
	})
}
