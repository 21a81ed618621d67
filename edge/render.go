package edge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/transform"
)

// Transformer renders an image spec; *transform.Processor is one.
type Transformer interface {
	Config() transform.Config
	Process(ctx context.Context, src []byte, srcType string, spec transform.Spec) (transform.Result, error)
}

// Renderer serves transformed renditions of stored originals, through the
// edge cache when there is one. It is the edge's MediaHandler.
type Renderer struct {
	srv   *Server
	tf    Transformer
	video Video       // nil: no MP4 or posters
	gate  *sourceGate // bounds the originals renders hold at once
}

// newRenderer binds a transformer (and, if not nil, the video converter) to
// the server's store and cache.
func newRenderer(srv *Server, tf Transformer, v Video) *Renderer {
	tc := tf.Config()
	gate := newSourceGate(srv.cfg.TransformSourceMemory, tc.QueueLen, tc.Timeout)
	return &Renderer{srv: srv, tf: tf, video: v, gate: gate}
}

// asked is what a media request's parameters amount to.
type asked int

const (
	askedNothing   asked = iota // no parameters and no extension
	askedOriginal               // valid parameters that change nothing (auto=compress, dpr=1, a bare signature, ...)
	askedRendition              // a rendition to render or find in the cache
)

// parse reads the rendition a request asks for. An error is a bad or
// unsigned request, answered as such whatever it asked.
func (rd *Renderer) parse(r *http.Request, ext string) (spec transform.Spec, what asked, err error) {
	q := r.URL.Query()
	if len(q) == 0 && ext == "" {
		return transform.Spec{}, askedNothing, nil
	}
	cfg := rd.tf.Config()
	if err := transform.Verify(cfg, r.URL.Path, q); err != nil {
		return transform.Spec{}, askedRendition, err
	}
	q.Del("s")
	spec, err = transform.Parse(cfg, ext, q, r.Header.Get("Accept"))
	if err != nil {
		return transform.Spec{}, askedRendition, err
	}
	if spec.IsIdentity() {
		return spec, askedOriginal, nil
	}
	return spec, askedRendition, nil
}

// renditionKey is a rendition's cache key: the id and the canonical spec.
func renditionKey(id string, spec transform.Spec) string { return id + "/" + spec.Key() }

// CacheKey implements MediaKeyer: the key every edge computes for the
// request, or ok=false for a request that is not a rendition (or a bad one,
// answered where it lands).
func (rd *Renderer) CacheKey(r *http.Request, id, ext string) (string, bool) {
	spec, what, err := rd.parse(r, ext)
	switch {
	case err != nil || what == askedNothing:
		return "", false
	case what == askedOriginal:
		return OriginalKey(id), true
	}
	return renditionKey(id, spec), true
}

// ServeMedia implements MediaHandler.
func (rd *Renderer) ServeMedia(w http.ResponseWriter, r *http.Request, info chunkstore.FileInfo, ext string) bool {
	s := rd.srv
	spec, what, err := rd.parse(r, ext)
	if what == askedNothing {
		return false
	}
	if err != nil {
		s.fail(w, r, err)
		return true
	}
	if spec.Vary() {
		w.Header().Set("Vary", "Accept")
	}
	if what == askedOriginal {
		// auto=format that found no better format than the source's own,
		// auto=compress, defaults spelled out: the original's own bytes,
		// under its own key and ETag.
		s.serveOriginalMedia(w, r, info)
		return true
	}
	vid := isVideo(info.ContentType)
	if !strings.HasPrefix(info.ContentType, "image/") && !vid {
		s.metrics.rejected("unsupported")
		httperr.Write(w, r, s.log, httperr.New(http.StatusUnsupportedMediaType, "not_an_image",
			"image parameters apply to images and videos; this media is "+info.ContentType))
		return true
	}
	if max := s.cfg.MaxTransformSource; !vid && info.Size > max {
		s.metrics.rejected("source_too_large")
		httperr.Write(w, r, s.log, httperr.New(http.StatusUnprocessableEntity, "source_too_large",
			fmt.Sprintf("the original is larger than %d bytes, too large to transform (max-transform-source)", max)))
		return true
	}
	key := renditionKey(info.ID, spec)
	var original int64
	if spec.Format == "mp4" && info.ContentType == "image/gif" {
		original = info.Size
	}
	s.cacheThrough(w, r, origin{
		key:      key,
		etag:     renditionETag(info, key),
		modTime:  info.CreatedAt.Truncate(time.Second),
		routed:   true,
		original: original,
		make: func(ctx context.Context) (content, error) {
			done := s.metrics.transformStarted()
			res, err := rd.render(ctx, info, spec)
			done(res.Format, err)
			if err != nil {
				return content{}, err
			}
			s.metrics.transforms.WithLabelValues(res.Format).Inc()
			return content{data: res.Data, contentType: res.ContentType}, nil
		},
	})
	return true
}

// render computes a rendition.
func (rd *Renderer) render(ctx context.Context, info chunkstore.FileInfo, spec transform.Spec) (transform.Result, error) {
	if res, handled, err := rd.renderVideo(ctx, info, spec); handled {
		return res, err
	}
	if info.ContentType == "image/svg+xml" {
		return transform.Result{}, errSVG
	}
	src, release, err := rd.readSource(ctx, info)
	if err != nil {
		return transform.Result{}, err
	}
	defer release()
	res, err := rd.tf.Process(ctx, src, info.ContentType, spec)
	return res, processFault(err)
}

// readSource reads a whole original into memory for a transform. The read
// comes before any worker pool sees the render, so the bytes are reserved
// first (sourcegate.go); release gives them back once the caller is done
// with src. A video's poster is not read this way: the video converter
// copies the video to a temp file once one of its job slots is free, so the
// video workers bound those copies (edge/video.go, poster).
func (rd *Renderer) readSource(ctx context.Context, info chunkstore.FileInfo) (src []byte, release func(), err error) {
	release, err = rd.gate.acquire(ctx, info.Size)
	if err != nil {
		return nil, nil, err
	}
	f, err := rd.srv.store.Open(ctx, info.ID)
	if err != nil {
		release()
		return nil, nil, storeFault(err)
	}
	defer f.Close()
	// Chunks land in place (ReadFull): through Read, each would be fetched
	// into a chunk buffer of its own and copied out.
	buf := make([]byte, f.Size())
	if err := f.ReadFull(ctx, buf); err != nil {
		release()
		return nil, nil, storeFault(fmt.Errorf("read source %s: %w", info.ID, err))
	}
	return buf, release, nil
}

// renditionETag is strong: the source's hash and the canonical spec fix the
// output bytes (libvips is deterministic for the same build).
func renditionETag(info chunkstore.FileInfo, key string) string {
	h := sha256.New()
	h.Write(info.SHA256)
	h.Write([]byte(key))
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}
