package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/edgecache"
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
	video Video // nil: no MP4 or posters
}

// newRenderer binds a transformer (and, if not nil, the video converter) to
// the server's store and cache.
func newRenderer(srv *Server, tf Transformer, v Video) *Renderer {
	return &Renderer{srv: srv, tf: tf, video: v}
}

// ServeMedia implements MediaHandler.
func (rd *Renderer) ServeMedia(w http.ResponseWriter, r *http.Request, info chunkstore.FileInfo, ext string) bool {
	s := rd.srv
	q := r.URL.Query()
	if len(q) == 0 && ext == "" {
		return false
	}
	cfg := rd.tf.Config()
	if err := transform.Verify(cfg, r.URL.Path, q); err != nil {
		s.fail(w, r, err)
		return true
	}
	q.Del("s")
	spec, err := transform.Parse(cfg, ext, q, r.Header.Get("Accept"))
	if err != nil {
		s.fail(w, r, err)
		return true
	}
	if spec.IsIdentity() {
		return false
	}
	if spec.Vary() {
		w.Header().Set("Vary", "Accept")
	}
	vid := isVideo(info.ContentType)
	if !strings.HasPrefix(info.ContentType, "image/") && !vid {
		httperr.Write(w, r, s.log, httperr.New(http.StatusUnsupportedMediaType, "not_an_image",
			"image parameters apply to images and videos; this media is "+info.ContentType))
		return true
	}
	if max := s.cfg.MaxTransformSource; !vid && info.Size > max {
		httperr.Write(w, r, s.log, httperr.New(http.StatusUnprocessableEntity, "source_too_large",
			fmt.Sprintf("the original is larger than %d bytes, too large to transform (max-transform-source)", max)))
		return true
	}
	key := info.ID + "/" + spec.Key()
	etag := renditionETag(info, key)
	render := func(ctx context.Context) (transform.Result, error) {
		if res, handled, err := rd.renderVideo(ctx, info, spec); handled {
			return res, err
		}
		if info.ContentType == "image/svg+xml" {
			return transform.Result{}, errSVG
		}
		src, err := rd.readSource(ctx, info)
		if err != nil {
			return transform.Result{}, err
		}
		res, err := rd.tf.Process(ctx, src, info.ContentType, spec)
		return res, processFault(err)
	}
	if s.deps.Cache != nil {
		var result transform.Result
		e, err := s.deps.Cache.GetOrFill(r.Context(), key, func(ctx context.Context, dst io.Writer) (edgecache.Meta, error) {
			res, err := render(ctx)
			if err != nil {
				return edgecache.Meta{}, err
			}
			result = res
			_, err = dst.Write(res.Data)
			return edgecache.Meta{ContentType: res.ContentType, ETag: etag}, err
		})
		if err == nil {
			defer e.Close()
			SetMediaHeaders(w.Header(), e.Meta.ContentType, etag)
			http.ServeContent(w, r, "", info.CreatedAt.Truncate(time.Second), e.File)
			return true
		}
		if !cacheUnavailable(err) {
			s.fail(w, r, err)
			return true
		}
		// Every disk is down: render without caching; a cache fault must not
		// fail the request. If the fill ran, reuse its result.
		if result.Data != nil {
			rd.serveBytes(w, r, info, etag, result)
			return true
		}
	}
	res, err := render(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return true
	}
	rd.serveBytes(w, r, info, etag, res)
	return true
}

func cacheUnavailable(err error) bool {
	return errors.Is(err, edgecache.ErrUnavailable) || errors.Is(err, edgecache.ErrTooLarge) || errors.Is(err, edgecache.ErrClosed)
}

func (rd *Renderer) serveBytes(w http.ResponseWriter, r *http.Request, info chunkstore.FileInfo, etag string, res transform.Result) {
	SetMediaHeaders(w.Header(), res.ContentType, etag)
	http.ServeContent(w, r, "", info.CreatedAt.Truncate(time.Second), bytes.NewReader(res.Data))
}

func (rd *Renderer) readSource(ctx context.Context, info chunkstore.FileInfo) ([]byte, error) {
	f, err := rd.srv.store.Open(ctx, info.ID)
	if err != nil {
		return nil, storeFault(err)
	}
	defer f.Close()
	buf := make([]byte, info.Size)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, storeFault(fmt.Errorf("read source %s: %w", info.ID, err))
	}
	return buf, nil
}

// renditionETag is strong: the source's hash and the canonical spec fix the
// output bytes (libvips is deterministic for the same build).
func renditionETag(info chunkstore.FileInfo, key string) string {
	h := sha256.New()
	h.Write(info.SHA256)
	h.Write([]byte(key))
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}
