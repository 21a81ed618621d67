package edge

import (
	"context"
	"io"
	"net/http"
	"os"
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
	Poster(ctx context.Context, path, contentType string, atSeconds float64) ([]byte, error)
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

// poster copies the video to a temp file (ffmpeg must seek: an MP4's index may
// sit at its end) and takes the frame at t.
func (rd *Renderer) poster(ctx context.Context, info chunkstore.FileInfo, t float64) ([]byte, error) {
	f, err := os.CreateTemp("", "mediaedge-poster-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	r, err := rd.srv.store.Open(ctx, info.ID)
	if err != nil {
		f.Close()
		return nil, storeFault(err)
	}
	_, err = io.Copy(f, r)
	r.Close()
	if err != nil {
		f.Close()
		return nil, storeFault(err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	png, err := rd.video.Poster(ctx, f.Name(), info.ContentType, t)
	return png, processFault(err)
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
	m, err := s.deps.HLS.Manifest(r.Context(), info)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	fileID, ok := m.Files[name]
	if !ok {
		httperr.Write(w, r, s.log, httperr.NotFound("no such file in this video's HLS package"))
		return
	}
	part, err := s.store.Stat(r.Context(), fileID)
	if err != nil {
		s.fail(w, r, storeFault(err))
		return
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
