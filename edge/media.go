package edge

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/mediatype"
)

// immutable is the Cache-Control of every success: ids are never reused.
const immutable = "public, max-age=31536000, immutable"

// splitID splits "ID.ext" into the id and the extension (without the dot).
func splitID(s string) (id, ext string) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// ETag is the strong entity tag of an original: 128 bits of its SHA-256.
func ETag(f chunkstore.FileInfo) string {
	n := len(f.SHA256)
	if n > 16 {
		n = 16
	}
	return `"` + hex.EncodeToString(f.SHA256[:n]) + `"`
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request, id string) (chunkstore.FileInfo, bool) {
	if !chunkstore.ValidID(id) {
		httperr.Write(w, r, s.log, httperr.NotFound("no such media"))
		return chunkstore.FileInfo{}, false
	}
	info, err := s.store.Stat(r.Context(), id)
	if err != nil {
		s.fail(w, r, storeFault(err))
		return chunkstore.FileInfo{}, false
	}
	return info, true
}

func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request) {
	id, ext := splitID(r.PathValue("id"))
	if s.deps.Fleet != nil && chunkstore.ValidID(id) {
		if key, ok := s.mediaKey(r, id, ext); ok {
			if s.route(w, r, key) {
				return
			}
			done := s.deps.Fleet.Begin()
			defer done()
		}
	}
	info, ok := s.lookup(w, r, id)
	if !ok {
		return
	}
	if s.deps.Media != nil && s.deps.Media.ServeMedia(w, r, info, ext) {
		return
	}
	if ext != "" {
		httperr.Write(w, r, s.log, httperr.BadParam("ext", "format extensions are not supported on this server"))
		return
	}
	for p := range r.URL.Query() {
		httperr.Write(w, r, s.log, httperr.BadParam(p, "unknown parameter "+p))
		return
	}
	s.serveOriginalMedia(w, r, info)
}

// serveOriginalMedia answers GET|HEAD /m/{id} with the original: from the
// cache when it is cacheable, else streamed from the store.
func (s *Server) serveOriginalMedia(w http.ResponseWriter, r *http.Request, info chunkstore.FileInfo) {
	// A HEAD needs no bytes, so it must not pull a whole original into the
	// cache: the store answers it from the files row.
	if r.Method != http.MethodHead && s.cacheable(info) {
		s.cacheThrough(w, r, s.originalOrigin(info))
		return
	}
	if onlyIfCached(r) {
		s.fail(w, r, errNotCached)
		return
	}
	s.serveOriginal(w, r, info)
}

// serveOriginal streams the stored bytes through http.ServeContent.
func (s *Server) serveOriginal(w http.ResponseWriter, r *http.Request, info chunkstore.FileInfo) {
	f, err := s.store.Open(r.Context(), info.ID)
	if err != nil {
		s.fail(w, r, storeFault(err))
		return
	}
	defer f.Close()
	SetMediaHeaders(w.Header(), info.ContentType, ETag(info))
	// The body is read lazily; a chunk that fails its CRC after the headers
	// went out can only cut the connection, which the client sees as a short
	// body (never wrong bytes).
	modTime := info.CreatedAt.Truncate(time.Second)
	if conditional(r) {
		rs, release := guardRanges(r, f)
		defer release() // before the deferred f.Close: see rangeGuard
		http.ServeContent(w, r, "", modTime, rs)
		return
	}
	// A plain GET of the whole file, the common case, skips ServeContent:
	// its copy goes through a 32 KiB buffer, while the Reader writes each
	// chunk as fetched (WriteTo).
	h := w.Header()
	h.Set("Last-Modified", modTime.UTC().Format(http.TimeFormat))
	h.Set("Content-Length", strconv.FormatInt(f.Size(), 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = f.WriteTo(w)
	}
}

// SetMediaHeaders sets the headers every media response carries.
func SetMediaHeaders(h http.Header, contentType, etag string) {
	h.Set("Content-Type", contentType)
	h.Set("ETag", etag)
	h.Set("Cache-Control", immutable)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Accept-Ranges", "bytes")
	setCORS(h)
	if mediatype.Executable(contentType) {
		// Served from our origin, HTML or SVG could run script as us.
		h.Set("Content-Disposition", "attachment")
		h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	}
}

// setCORS opens reads to every origin. Media and its metadata are public by
// URL and no request carries a credential, so a foreign page learns nothing
// it could not fetch itself; without it, fetch(), canvas and MSE players
// (hls.js, dash.js) on an app's own origin could not read our bytes. The
// exposed headers let a player do ranged reads.
func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges, ETag, "+smallerOriginal)
}

type infoJSON struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	SHA256      string    `json:"sha256"`
	Width       int       `json:"width,omitempty"`
	Height      int       `json:"height,omitempty"`
	DurationMS  int       `json:"duration_ms,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

func (s *Server) infoOf(f chunkstore.FileInfo) infoJSON {
	return infoJSON{ID: f.ID, URL: s.MediaURL(f.ID), Size: f.Size, ContentType: f.ContentType,
		SHA256: hex.EncodeToString(f.SHA256), Width: f.Width, Height: f.Height, DurationMS: f.DurationMS,
		CreatedAt: f.CreatedAt.UTC()}
}

func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request) {
	info, ok := s.lookup(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", immutable)
	setCORS(w.Header())
	writeJSON(w, http.StatusOK, s.infoOf(s.withDims(r.Context(), info)))
}

func (s *Server) deleteMedia(w http.ResponseWriter, r *http.Request) {
	owner, err := s.Authorize(r)
	if err != nil {
		httperr.Write(w, r, s.log, err)
		return
	}
	id, _ := splitID(r.PathValue("id"))
	info, ok := s.lookup(w, r, id)
	if !ok {
		return
	}
	// A user deletes only their own media; a static upload token is the
	// service account and deletes any.
	if isUser(owner) && info.Owner != owner {
		httperr.Write(w, r, s.log, httperr.New(http.StatusForbidden, "not_owner", "only the user who uploaded this media may delete it"))
		return
	}
	if err := s.store.Delete(r.Context(), id); err != nil {
		s.fail(w, r, storeFault(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
