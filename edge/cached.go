package edge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/edgecache"
)

// Cache is what the edge needs from the multi-disk result cache.
type Cache interface {
	GetOrFill(ctx context.Context, key string, fill edgecache.FillFunc) (*edgecache.Entry, error)
}

// OriginalKey is the cache key of an original: the id, then a character that
// cannot occur in an id, so that purging by id finds every rendition.
func OriginalKey(id string) string { return id + "/orig" }

// serveCached answers from the edge cache, filling it from the store on a
// miss (one fill per key however many requests wait). It reports false when
// the cache cannot help (no cache, too large, every disk down): the caller then
// streams from the store, so a cache failure never fails a request.
//
// Only originals up to CacheMaxOriginal are cached: a miss must read the whole
// file before the first byte goes out, so for large files time to first byte
// would grow with size; those stream from the chunks instead, where it does not.
func (s *Server) serveCached(w http.ResponseWriter, r *http.Request, info chunkstore.FileInfo) bool {
	if s.deps.Cache == nil || info.Size > s.cfg.CacheMaxOriginal {
		return false
	}
	etag := ETag(info)
	e, err := s.deps.Cache.GetOrFill(r.Context(), OriginalKey(info.ID), func(ctx context.Context, dst io.Writer) (edgecache.Meta, error) {
		f, err := s.store.Open(ctx, info.ID)
		if err != nil {
			return edgecache.Meta{}, storeFault(err)
		}
		defer f.Close()
		if _, err := io.Copy(dst, f); err != nil {
			return edgecache.Meta{}, storeFault(err)
		}
		return edgecache.Meta{ContentType: info.ContentType, ETag: etag}, nil
	})
	if err != nil {
		if errors.Is(err, errStore) {
			s.fail(w, r, storeFault(err))
			return true
		}
		s.log.Warn("cache unavailable; streaming from the store", "id", info.ID, "err", err)
		return false
	}
	defer e.Close()
	SetMediaHeaders(w.Header(), info.ContentType, etag)
	// e.File is the *os.File on disk, handed to ServeContent unwrapped so that
	// the body goes out with sendfile.
	http.ServeContent(w, r, "", info.CreatedAt.Truncate(time.Second), e.File)
	return true
}
