package tus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/httperr"
)

// Version is the tus protocol version spoken.
const Version = "1.0.0"

// extensions lists exactly what the handler implements, advertised on OPTIONS.
const extensions = "creation,creation-with-upload,creation-defer-length,expiration,checksum,termination,concatenation"

// Header names the handler sets besides the protocol's.
const (
	HeaderMediaID  = "X-Media-Id"
	HeaderMediaURL = "X-Media-Url"
)

const (
	contentTypeChunk = "application/offset+octet-stream"
	// StatusChecksumMismatch is tus's 460 Checksum Mismatch.
	StatusChecksumMismatch = 460
)

// CORS header values: every header a tus client sends, every header it reads.
const (
	corsAllowMethods = "POST, HEAD, PATCH, OPTIONS, DELETE"
	corsAllowHeaders = "Authorization, Origin, X-Requested-With, X-Request-ID, X-HTTP-Method-Override, Content-Type, " +
		"Upload-Length, Upload-Offset, Tus-Resumable, Upload-Metadata, Upload-Defer-Length, Upload-Concat, Upload-Checksum"
	corsExposeHeaders = "Upload-Offset, Location, Upload-Length, Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, " +
		"Tus-Checksum-Algorithm, Upload-Metadata, Upload-Defer-Length, Upload-Concat, Upload-Expires, " +
		HeaderMediaID + ", " + HeaderMediaURL
)

// Handler serves the tus protocol under Config.BasePath.
type Handler struct {
	cfg        Config
	store      Store
	log        *slog.Logger
	mount      string // URL path of BasePath
	absBase    bool   // BasePath is an absolute URL
	locks      *locks
	terminated *lru.Cache[string, struct{}] // ids terminated by this process, for 410
	bytes      BytesCounter                 // optional, from cfg.Metrics
	closing    atomic.Bool                  // set by Shutdown: no new writes
}

// New returns a handler over store.
func New(store Store, cfg Config) (*Handler, error) {
	if store == nil {
		return nil, errors.New("tus: a store is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tus: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h := &Handler{
		cfg:     cfg,
		store:   store,
		log:     cfg.Logger,
		mount:   cfg.mountPath(),
		absBase: strings.Contains(cfg.BasePath, "://"),
		locks:   newLocks(),
	}
	if cfg.TerminatedMemory > 0 {
		c, err := lru.New[string, struct{}](cfg.TerminatedMemory)
		if err != nil {
			return nil, fmt.Errorf("tus: terminated cache: %w", err)
		}
		h.terminated = c
	}
	if bc, ok := cfg.Metrics.(BytesCounter); ok {
		h.bytes = bc
	}
	return h, nil
}

// Shutdown interrupts every PATCH in progress, so each makes the bytes it
// received durable and answers at once instead of holding the server's
// graceful shutdown until its client finishes, and refuses new writes (503).
// It returns when all have let go or ctx ends. Call it before (or while)
// http.Server.Shutdown waits for requests.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.closing.Store(true)
	for _, released := range h.locks.interruptAll() {
		select {
		case <-released:
		case <-ctx.Done():
			return fmt.Errorf("tus: shutdown: %w", ctx.Err())
		}
	}
	return nil
}

// ServeHTTP routes a request: the collection (BasePath) takes POST and
// OPTIONS, an upload (BasePath + id) takes HEAD, PATCH, DELETE and OPTIONS.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Tus-Resumable", Version)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if !h.cors(w, r) {
		return
	}
	// Some environments cannot send PATCH or DELETE; tus clients then send
	// POST with an override header.
	if m := r.Header.Get("X-HTTP-Method-Override"); r.Method == http.MethodPost && m != "" {
		r.Method = strings.ToUpper(m)
	}
	rest, ok := strings.CutPrefix(r.URL.Path, strings.TrimSuffix(h.mount, "/"))
	if !ok || (rest != "" && rest[0] != '/') {
		h.fail(w, r, httperr.NotFound("no such route"))
		return
	}
	id := strings.Trim(rest, "/")
	if r.Method == http.MethodOptions {
		h.options(w)
		return
	}
	if r.Header.Get("Tus-Resumable") != Version {
		h.fail(w, r, &httperr.Error{Status: http.StatusPreconditionFailed, Code: "unsupported_version",
			Message: "Tus-Resumable must be " + Version, Param: "Tus-Resumable",
			Header: http.Header{"Tus-Version": {Version}}})
		return
	}
	if id == "" {
		if r.Method != http.MethodPost {
			h.methodNotAllowed(w, r, "POST, OPTIONS")
			return
		}
		h.post(w, r)
		return
	}
	if !validID(id) {
		h.fail(w, r, httperr.NotFound("no such upload"))
		return
	}
	switch r.Method {
	case http.MethodHead:
		h.head(w, r, id)
	case http.MethodPatch:
		h.patch(w, r, id)
	case http.MethodDelete:
		h.delete(w, r, id)
	default:
		h.methodNotAllowed(w, r, "HEAD, PATCH, DELETE, OPTIONS")
	}
}

// validID accepts what chunkstore issues (base32 lower case) and nothing
// that could walk a path or smuggle a separator.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (h *Handler) options(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Tus-Version", Version)
	hdr.Set("Tus-Extension", extensions)
	hdr.Set("Tus-Max-Size", strconv.FormatInt(h.cfg.MaxSize, 10))
	hdr.Set("Tus-Checksum-Algorithm", checksumAlgorithms)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	h.fail(w, r, &httperr.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
		Message: r.Method + " is not allowed here", Header: http.Header{"Allow": {allow}}})
}

// cors writes the CORS headers; it returns false when it answered the
// request itself (a refused origin).
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if h.cfg.CORS.Disable || origin == "" {
		return true
	}
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	if !slices.Contains(h.cfg.CORS.AllowOrigins, "*") && !slices.Contains(h.cfg.CORS.AllowOrigins, origin) {
		h.fail(w, r, httperr.New(http.StatusForbidden, "origin_not_allowed", "this origin may not upload"))
		return false
	}
	hdr.Set("Access-Control-Allow-Origin", origin)
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		hdr.Set("Access-Control-Allow-Methods", corsAllowMethods)
		hdr.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		hdr.Set("Access-Control-Max-Age", strconv.Itoa(int(h.cfg.CORS.MaxAge/time.Second)))
	} else {
		hdr.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	}
	return true
}

// authorize runs Config.Authorize; nil allows everyone as owner "".
func (h *Handler) authorize(r *http.Request) (string, error) {
	if h.cfg.Authorize == nil {
		return "", nil
	}
	return h.cfg.Authorize(r)
}

// fail writes err through the one error writer.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		// The body is (or may be) unread: answer, then close the connection
		// rather than let net/http drain the rest with no deadline (a client
		// trickling its body would hold the connection for as long as it
		// likes). The short deadline lets an honest client's bytes already
		// in flight be drained, so its kernel does not reset the connection
		// before it reads the answer.
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Second))
	}
	httperr.Write(w, r, h.log, err)
}

// maxLockedRetryAfter caps Retry-After on a 423 for an upload another
// writer holds (seconds).
const maxLockedRetryAfter = 5

// storeError turns a store error into the tus status for it.
func (h *Handler) storeError(id string, err error) error {
	var he *httperr.Error
	switch {
	case errors.As(err, &he):
		return err
	case errors.Is(err, chunkstore.ErrExpired):
		return httperr.Wrap(http.StatusGone, "gone", "the upload expired", err)
	case errors.Is(err, chunkstore.ErrNotFound):
		if h.wasTerminated(id) {
			return httperr.Wrap(http.StatusGone, "gone", "the upload was terminated", err)
		}
		return httperr.Wrap(http.StatusNotFound, "not_found", "no such upload (unknown or expired)", err)
	case errors.Is(err, chunkstore.ErrOffsetMismatch):
		return httperr.Wrap(http.StatusConflict, "offset_mismatch", "Upload-Offset does not match the upload's offset", err)
	case errors.Is(err, chunkstore.ErrTooLarge):
		return httperr.Wrap(http.StatusRequestEntityTooLarge, "too_large", "the data exceeds the upload's length or the size limit", err)
	case errors.Is(err, chunkstore.ErrIncomplete):
		return httperr.Wrap(http.StatusBadRequest, "upload_incomplete", "a concatenation part is not finished", err)
	case errors.Is(err, chunkstore.ErrFinished):
		return httperr.Wrap(http.StatusConflict, "upload_finished", "the upload is finished and takes no more bytes", err)
	case errors.Is(err, chunkstore.ErrLocked), errors.Is(err, chunkstore.ErrConflict):
		// Another writer holds the upload (this process or another edge),
		// or it kept changing under a compare-and-set.
		// Its lease lapses in RetryAfter if that writer died, but a live
		// writer lets go when its PATCH ends, often sooner: ask again after
		// at most maxLockedRetryAfter.
		retry := 1
		var le *chunkstore.LockedError
		if errors.As(err, &le) {
			retry = min(max(int(math.Ceil(le.RetryAfter.Seconds())), 1), maxLockedRetryAfter)
		}
		return &httperr.Error{Status: http.StatusLocked, Code: "locked",
			Message: "another request is writing this upload; retry after it", RetryAfter: retry, Cause: err}
	case errors.Is(err, chunkstore.ErrMetadata):
		return httperr.Wrap(http.StatusUnprocessableEntity, "metadata_unreadable",
			"the image's metadata cannot be read, so its location cannot be removed; the upload was not kept", err)
	case errors.Is(err, context.Canceled):
		// The client went away; logged at debug (nginx's 499).
		return httperr.Wrap(httperr.StatusClientClosed, "client_closed", "the client closed the request", err)
	}
	// Anything else is the store failing to answer (a timeout, no node up):
	// a 503 with Retry-After, which tus clients and balancers retry, as the
	// media routes answer (edge/errors.go).
	return &httperr.Error{Status: http.StatusServiceUnavailable, Code: "store_unavailable",
		Message: "the store did not answer; resume from Upload-Offset shortly", RetryAfter: 2, Cause: err}
}

func (h *Handler) wasTerminated(id string) bool {
	if h.terminated == nil {
		return false
	}
	_, ok := h.terminated.Get(id)
	return ok
}

// getUpload loads an upload the requester may touch: 404/410 when it does
// not exist, 410 when it expired, 403 when another owner holds it.
func (h *Handler) getUpload(ctx context.Context, id, owner string) (chunkstore.UploadInfo, error) {
	u, err := h.store.GetUpload(ctx, id)
	if err != nil {
		return u, h.storeError(id, fmt.Errorf("get upload %s: %w", id, err))
	}
	if u.State != chunkstore.UploadFinished && !u.ExpiresAt.IsZero() && time.Now().After(u.ExpiresAt) {
		return u, httperr.New(http.StatusGone, "gone", "the upload expired")
	}
	if h.cfg.Authorize != nil && u.Owner != owner && (h.cfg.Owns == nil || !h.cfg.Owns(u.Owner, owner)) {
		return u, httperr.New(http.StatusForbidden, "forbidden", "the upload belongs to another token")
	}
	return u, nil
}

// uploadURL is the Location of an upload.
func (h *Handler) uploadURL(r *http.Request, id string) string {
	if h.absBase {
		return h.cfg.BasePath + id
	}
	if h.cfg.PublicURL != "" {
		return strings.TrimSuffix(h.cfg.PublicURL, "/") + h.mount + id
	}
	host, proto := r.Host, "http"
	if r.TLS != nil {
		proto = "https"
	}
	if h.cfg.RespectForwarded {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			proto = p
		}
		if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
			host = fh
		}
	}
	return proto + "://" + host + h.mount + id
}

// uploadID extracts the id of an upload URL (absolute or a path) under the
// mount path, for Upload-Concat: final.
func (h *Handler) uploadID(ref string) (string, bool) {
	_, rest, ok := strings.Cut(ref, h.mount)
	if !ok {
		return "", false
	}
	id := strings.Trim(rest, "/")
	return id, validID(id)
}

// setUploadHeaders writes the headers that describe u's state.
func setUploadHeaders(hdr http.Header, u chunkstore.UploadInfo) {
	hdr.Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
	if u.DeferLength && u.Length < 0 {
		hdr.Set("Upload-Defer-Length", "1")
	} else {
		hdr.Set("Upload-Length", strconv.FormatInt(u.Length, 10))
	}
	if !u.ExpiresAt.IsZero() && u.State != chunkstore.UploadFinished {
		hdr.Set("Upload-Expires", u.ExpiresAt.UTC().Format(http.TimeFormat))
	}
}

// setMediaHeaders names the file an upload became.
func (h *Handler) setMediaHeaders(hdr http.Header, id string) {
	hdr.Set(HeaderMediaID, id)
	if h.cfg.MediaURL != nil {
		hdr.Set(HeaderMediaURL, h.cfg.MediaURL(id))
	}
}

func (h *Handler) uploadStarted() {
	if h.cfg.Metrics != nil {
		h.cfg.Metrics.UploadStarted()
	}
}

// fileMade records a new file: metrics, then the OnFinish hook.
func (h *Handler) fileMade(ctx context.Context, f chunkstore.FileInfo) {
	if h.cfg.Metrics != nil {
		h.cfg.Metrics.UploadFinished()
	}
	if h.cfg.OnFinish != nil {
		h.cfg.OnFinish(ctx, f)
	}
}
