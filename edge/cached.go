package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/edgecache"
)

// Cache is what the edge needs from the multi-disk result cache.
type Cache interface {
	GetOrFill(ctx context.Context, key string, fill edgecache.FillFunc) (*edgecache.Entry, error)
}

// CacheLookup is the optional capability of a Cache to look without filling;
// the edge needs it to answer another edge's only-if-cached request (without
// it, such requests get 504). *edgecache.Cache has it.
type CacheLookup interface {
	Get(ctx context.Context, key string) (*edgecache.Entry, error)
}

// OriginalKey is the cache key of an original: the id, then a character that
// cannot occur in an id, so that purging by id finds every rendition.
func OriginalKey(id string) string { return id + "/orig" }

// origin is one cacheable response: its key (the canonical cache key, the
// same on every edge), its validators, and how to make its bytes here.
type origin struct {
	key     string
	etag    string
	modTime time.Time
	// routed: the key is routed across the fleet, so a miss may be filled
	// from another edge (the owner, or the previous owner after a join)
	// instead of made here. HLS is not: it has its own fleet-wide claim.
	routed bool
	// make produces the bytes on this edge: reads the store, renders.
	make func(ctx context.Context) (content, error)
	// original is the size of the original when it may be the smaller
	// answer (an animated GIF asked for as MP4); 0 otherwise. See note.
	original int64
}

// smallerOriginal names the header that tells a client the original is
// smaller than the MP4 it asked for (noise-like GIFs compress worse as
// H.264): the value is the original's size in bytes, at /m/{id}. The MP4
// is still what is served, since a <video> cannot play a GIF, unless the
// request opted in with smallest=1 (then the GIF is, and no header).
const smallerOriginal = "X-Mediaedge-Smaller-Original"

// setHeaders sets the headers of o's response of size bytes, whichever
// path serves it (a fill, a disk or memory hit, another edge's bytes): the
// media headers, and the smaller original's size when it applies.
func (o origin) setHeaders(h http.Header, contentType string, size int64) {
	SetMediaHeaders(h, contentType, o.etag)
	if o.original > 0 && size > o.original {
		h.Set(smallerOriginal, strconv.FormatInt(o.original, 10))
	}
}

// seekerSize is the size of a seeker's content; it leaves it at the start.
func seekerSize(rs io.ReadSeeker) int64 {
	n, err := rs.Seek(0, io.SeekEnd)
	if _, serr := rs.Seek(0, io.SeekStart); err != nil || serr != nil {
		return -1
	}
	return n
}

// content is an entry's bytes as a miss produced them.
type content struct {
	data        []byte    // in memory (a rendition), or
	body        io.Reader // a stream: the store's chunks, another edge's response
	contentType string
	close       func() error      // releases body; nil for data
	fault       func(error) error // marks a read error of body with its origin
	size        int64             // body's length when known (another edge's Content-Length), else 0
}

func (c content) reader() io.Reader {
	if c.body != nil {
		return c.body
	}
	return bytes.NewReader(c.data)
}

func (c content) release() {
	if c.close != nil {
		_ = c.close()
	}
}

func (c content) readFault(err error) error {
	if c.fault != nil {
		return c.fault(err)
	}
	return err
}

// seeker is c for http.ServeContent, which needs to seek (Range): a stream
// that cannot is read into memory (it is at most a cacheable size).
func (c content) seeker() (io.ReadSeeker, error) {
	if rs, ok := c.body.(io.ReadSeeker); ok {
		return rs, nil
	}
	if c.body == nil {
		return bytes.NewReader(c.data), nil
	}
	b, err := io.ReadAll(c.body)
	if err != nil {
		return nil, c.readFault(err)
	}
	return bytes.NewReader(b), nil
}

// cacheThrough is the edge's one cache-through path, for originals,
// renditions and HLS files alike, with one failure policy:
//
//   - A hit is served from the cache file (sendfile, Range, conditionals).
//   - A miss is filled once per key however many requests wait (the cache's
//     single-flight), from another edge when the fleet says so (see
//     produce), else by o.make.
//   - The fill's own errors (the store, the transform, the owning edge's
//     answer) fail the request through the error table: serving uncached
//     would meet them again.
//   - A cache that cannot take the entry (every disk offline, larger than a
//     disk, read-only, closing) never fails the request: it is served
//     uncached, reusing the bytes the fill made when they are in memory.
//   - An edge that dies while sending the fill's bytes costs one retry: the
//     next fill goes to the next-ranked edge, or is made here.
func (s *Server) cacheThrough(w http.ResponseWriter, r *http.Request, o origin) {
	if onlyIfCached(r) {
		s.serveIfCached(w, r, o)
		return
	}
	if s.deps.Cache == nil {
		s.serveUncached(w, r, o, content{})
		return
	}
	if s.spill(w, r, o) {
		return
	}
	if h, ok := s.hot.get(o.key); ok {
		if r.Method == http.MethodGet && w.Header().Get("Vary") == "" {
			s.hot.alias(r.RequestURI, o.key) // checked by every route on the way here: see hotFirst
		}
		serveHot(w, r, h)
		return
	}
	var (
		kept content // in-memory bytes the fill made and their type, for when the cache cannot keep them
		e    *edgecache.Entry
		err  error
	)
	for attempt := 0; attempt < 2; attempt++ {
		e, err = s.deps.Cache.GetOrFill(r.Context(), o.key, func(ctx context.Context, dst io.Writer) (edgecache.Meta, error) {
			c, err := s.produce(ctx, r, o)
			if err != nil {
				return edgecache.Meta{}, err
			}
			defer c.release()
			// The type goes with the bytes: served uncached without it,
			// a rendition would go out with an empty Content-Type.
			kept = content{data: c.data, contentType: c.contentType}
			if _, err := io.Copy(dst, c.reader()); err != nil {
				return edgecache.Meta{}, c.readFault(err)
			}
			return edgecache.Meta{ContentType: c.contentType, ETag: o.etag}, nil
		})
		if !errors.Is(err, errPeerLost) {
			break
		}
	}
	if err == nil {
		defer e.Close()
		s.hot.admit(e, o)
		serveEntry(w, r, e, o)
		return
	}
	if !cacheUnavailable(err) {
		s.fail(w, r, err)
		return
	}
	s.log.Debug("cache cannot take the entry; serving uncached", "key", o.key, "err", err)
	s.serveUncached(w, r, o, kept)
}

// serveUncached serves the in-memory bytes a fill already made (kept, with
// their content type), or makes them when there are none.
func (s *Server) serveUncached(w http.ResponseWriter, r *http.Request, o origin, kept content) {
	c := kept
	if c.data == nil {
		var err error
		if c, err = s.produce(r.Context(), r, o); err != nil {
			s.fail(w, r, err)
			return
		}
		defer c.release()
	}
	rs, err := c.seeker()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	o.setHeaders(w.Header(), c.contentType, seekerSize(rs))
	rs, release := guardRanges(r, rs)
	defer release() // runs before c.release closes a store Reader: see rangeGuard
	http.ServeContent(w, r, "", o.modTime, rs)
}

// serveIfCached answers an only-if-cached request: the entry, or 504.
func (s *Server) serveIfCached(w http.ResponseWriter, r *http.Request, o origin) {
	lk, ok := s.deps.Cache.(CacheLookup)
	if !ok {
		s.fail(w, r, errNotCached)
		return
	}
	e, err := lk.Get(r.Context(), o.key)
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: %w", errNotCached, err))
		return
	}
	defer e.Close()
	serveEntry(w, r, e, o)
}

func serveEntry(w http.ResponseWriter, r *http.Request, e *edgecache.Entry, o origin) {
	o.setHeaders(w.Header(), e.Meta.ContentType, e.Size)
	// e.File is the *os.File on disk, handed to ServeContent unwrapped so that
	// the body goes out with sendfile; only a multi-range request gets it
	// guarded, released here before the caller's e.Close hands the file to
	// another request (see rangeGuard).
	rs, release := guardRanges(r, e.File)
	defer release()
	http.ServeContent(w, r, "", o.modTime, rs)
}

func cacheUnavailable(err error) bool {
	return errors.Is(err, edgecache.ErrUnavailable) || errors.Is(err, edgecache.ErrTooLarge) ||
		errors.Is(err, edgecache.ErrClosed) || errors.Is(err, edgecache.ErrReadOnly)
}

// cacheable reports whether an original goes through the edge cache. Only
// originals up to CacheMaxOriginal do: a miss must read the whole file before
// the first byte goes out, so for large files time to first byte would grow
// with size; those stream from the chunks instead, where it does not.
func (s *Server) cacheable(info chunkstore.FileInfo) bool {
	return s.deps.Cache != nil && info.Size <= s.cfg.CacheMaxOriginal
}

// originalOrigin is an original as a cache entry, read from the store on a miss.
func (s *Server) originalOrigin(info chunkstore.FileInfo) origin {
	return origin{
		key:     OriginalKey(info.ID),
		etag:    ETag(info),
		modTime: info.CreatedAt.Truncate(time.Second),
		routed:  true,
		make: func(ctx context.Context) (content, error) {
			return s.storeContent(ctx, info.ID, info.ContentType)
		},
	}
}

// storeContent streams a stored file.
func (s *Server) storeContent(ctx context.Context, id, contentType string) (content, error) {
	f, err := s.store.Open(ctx, id)
	if err != nil {
		return content{}, storeFault(err)
	}
	return content{body: f, contentType: contentType, close: f.Close, fault: storeFault}, nil
}
