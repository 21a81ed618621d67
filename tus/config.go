package tus

import (
	"context"
	"errors"
	"fmt"
	"github.com/mediaedge/mediaedge/httpbody"
	"github.com/mediaedge/mediaedge/httperr"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// Store is what the handler needs from the chunk store; *chunkstore.Store
// satisfies it. Defined here, by its user, so the handler depends on only
// the calls it makes (the tests run it on the real store, embedded backend).
type Store interface {
	CreateUpload(ctx context.Context, u chunkstore.UploadInfo) (chunkstore.UploadInfo, error)
	// GetUpload returns chunkstore.ErrNotFound for an unknown upload and
	// chunkstore.ErrExpired (which wraps it) for an expired one.
	GetUpload(ctx context.Context, id string) (chunkstore.UploadInfo, error)
	// Append writes r at offset. A failing reader keeps the bytes received
	// (the offset advances) and returns the read error wrapped; a Verify
	// error after EOF discards the bytes of this call.
	Append(ctx context.Context, id string, offset int64, r io.Reader, opt chunkstore.AppendOptions) (chunkstore.UploadInfo, error)
	DeclareLength(ctx context.Context, id string, length int64) (chunkstore.UploadInfo, error)
	// FinishUpload is the commit point: the upload's file row is written
	// (partial uploads get none).
	FinishUpload(ctx context.Context, id string) (chunkstore.FileInfo, error)
	ConcatUploads(ctx context.Context, owner string, parts []string, meta map[string]string) (chunkstore.UploadInfo, chunkstore.FileInfo, error)
	Terminate(ctx context.Context, id string) error
	// Interrupt asks the append holding the upload, on any server, to stop
	// soon, keep what it received and let go (its AppendOptions.Interrupt
	// is called); it does not wait.
	Interrupt(ctx context.Context, id string) error
}

// Metrics receives upload events; edge's *Metrics satisfies it.
type Metrics interface {
	// UploadStarted: a new upload (not a concatenation part) was created.
	UploadStarted()
	// UploadFinished: an upload became a file.
	UploadFinished()
}

// BytesCounter is an optional capability of a Metrics: bytes made durable by
// PATCH and creation-with-upload requests.
type BytesCounter interface {
	BytesReceived(n int64)
}

// CORS configures Cross-Origin Resource Sharing for browser uploads
// (tus-js-client sends Tus-Resumable, Upload-* and Authorization headers,
// which makes every request preflighted).
type CORS struct {
	// Disable turns CORS headers off (for a proxy in front that adds its own).
	Disable bool
	// AllowOrigins lists the origins allowed; "*" (the default) allows every
	// origin. Uploads authenticate with a bearer token, not a cookie, so an
	// open origin list does not let a foreign page act with a user's
	// credentials.
	AllowOrigins []string
	// MaxAge is how long a browser may cache a preflight answer.
	MaxAge time.Duration
}

// Config configures the tus handler.
type Config struct {
	// BasePath is where the handler is mounted: "/files/". It may also be an
	// absolute URL ("https://up.example.com/files/"), which is then used for
	// Location headers as is; otherwise Location is built from the request's
	// Host (and X-Forwarded-Proto when RespectForwarded is set).
	BasePath string
	// RespectForwarded trusts X-Forwarded-Proto and X-Forwarded-Host when
	// building Location URLs (set it behind a proxy that sets them).
	RespectForwarded bool
	// Owns, when set, says whether an upload stored with owner stored may
	// be touched by a request Authorize names requester; nil is equality.
	// The edge uses it to keep uploads begun under an older naming of the
	// same token resumable.
	Owns func(stored, requester string) bool
	// PublicURL, when set, is the server's address as clients reach it
	// ("https://cdn.example.com", maybe with a path a proxy strips): Location
	// is PublicURL + the mount path + id, whatever the request's Host. Behind
	// a TLS proxy, a Location built from the request would say http:// (a
	// browser on https refuses it as mixed content, and a client following
	// it would send its token in clear) or name the backend's address. The
	// edge passes its --public-url.
	PublicURL string
	// MaxSize is the largest upload in bytes (413 beyond); advertised as
	// Tus-Max-Size.
	MaxSize int64
	// Authorize checks a request's credentials and returns the owner; a
	// non-nil error is written as the response (edge returns a 401
	// *httperr.Error). Nil allows every request with owner "".
	Authorize func(r *http.Request) (owner string, err error)
	// ServerMetadata, when set, gives metadata the server adds to every new
	// upload of owner (e.g. chunkstore.MetaStripLocation). Keys start with
	// "mediaedge."; clients may not send such keys.
	ServerMetadata func(owner string) map[string]string
	// Quota, when set, is how many more bytes owner may store (a user's
	// byte quota less their usage; < 0 for no quota). An upload declared
	// larger is refused with 413 quota_exceeded before a byte is stored.
	Quota func(ctx context.Context, owner string) (room int64, err error)
	// Logger receives request failures; nil discards.
	Logger *slog.Logger
	// Metrics receives upload events; nil records nothing. If it also
	// implements BytesCounter it is told about bytes received.
	Metrics Metrics
	// OnFinish is called after an upload became a file (partials excluded),
	// before the response is written.
	OnFinish func(ctx context.Context, f chunkstore.FileInfo)
	// MediaURL turns a media id into the URL sent in X-Media-Url on the
	// response that finished the upload; nil sends only X-Media-Id.
	MediaURL func(id string) string
	// BodyReadTimeout is the longest gap between two reads of a PATCH body;
	// the read deadline is pushed forward as bytes arrive, so a slow but live
	// client keeps going and a stalled one is cut (its bytes are kept).
	BodyReadTimeout time.Duration
	// BodyMinRate is the slowest a PATCH body may arrive, in bytes a second
	// averaged over BodyMinRateWindow; a slower one is cut with 408 and its
	// bytes kept (resume). 0 disables it.
	BodyMinRate int64
	// BodyMinRateWindow is the span BodyMinRate is averaged over.
	BodyMinRateWindow time.Duration
	// LockTimeout bounds how long a request waits for the request that holds
	// the same upload to stop (423 Locked after it).
	LockTimeout time.Duration
	// TerminatedMemory is how many terminated upload ids are remembered so
	// that later requests get 410 Gone instead of 404.
	TerminatedMemory int
	CORS             CORS
}

// DefaultConfig mounts at /files/ with a 5 GiB limit and open CORS.
func DefaultConfig() Config {
	return Config{
		BasePath:         "/files/",
		MaxSize:          5 << 30,
		BodyReadTimeout:  60 * time.Second,
		LockTimeout:      20 * time.Second,
		TerminatedMemory: 10000,
		CORS:             CORS{AllowOrigins: []string{"*"}, MaxAge: 24 * time.Hour},
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if !strings.HasSuffix(c.BasePath, "/") {
		errs = append(errs, fmt.Errorf("base path %q: must end with /", c.BasePath))
	}
	if strings.Contains(c.BasePath, "://") {
		if u, err := url.Parse(c.BasePath); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			errs = append(errs, fmt.Errorf("base path %q: not an http(s) URL", c.BasePath))
		}
	} else if !strings.HasPrefix(c.BasePath, "/") {
		errs = append(errs, fmt.Errorf("base path %q: must start with / or be an absolute URL", c.BasePath))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			errs = append(errs, fmt.Errorf("public url %q: not an absolute http(s) URL", c.PublicURL))
		}
	}
	if c.MaxSize <= 0 {
		errs = append(errs, fmt.Errorf("max size %d: must be positive", c.MaxSize))
	}
	if c.BodyMinRate < 0 || (c.BodyMinRate > 0 && c.BodyMinRateWindow <= 0) {
		errs = append(errs, fmt.Errorf("body min rate %d over %s: want a positive window, or rate 0", c.BodyMinRate, c.BodyMinRateWindow))
	}
	if c.BodyReadTimeout <= 0 {
		errs = append(errs, fmt.Errorf("body read timeout %s: must be positive", c.BodyReadTimeout))
	}
	if c.LockTimeout <= 0 {
		errs = append(errs, fmt.Errorf("lock timeout %s: must be positive", c.LockTimeout))
	}
	if c.TerminatedMemory < 0 {
		errs = append(errs, fmt.Errorf("terminated memory %d: must not be negative", c.TerminatedMemory))
	}
	if !c.CORS.Disable && len(c.CORS.AllowOrigins) == 0 {
		errs = append(errs, errors.New("cors: allow origins is empty (set Disable to turn CORS off)"))
	}
	return errors.Join(errs...)
}

// mountPath is the URL path part of BasePath.
func (c Config) mountPath() string {
	if strings.Contains(c.BasePath, "://") {
		if u, err := url.Parse(c.BasePath); err == nil {
			return u.Path
		}
	}
	return c.BasePath
}

func (c Config) bodyLimits() httpbody.Limits {
	return httpbody.Limits{Gap: c.BodyReadTimeout, MinRate: c.BodyMinRate, Window: c.BodyMinRateWindow}
}

// reservedMetaPrefix starts the metadata keys only the server sets.
const reservedMetaPrefix = "mediaedge."

// sizeLimit is the most bytes owner's upload may hold: MaxSize, or less
// when the owner's quota leaves less room; quota tells which bound it is.
func (h *Handler) sizeLimit(ctx context.Context, owner string) (limit int64, quota bool, err error) {
	limit = h.cfg.MaxSize
	if h.cfg.Quota == nil {
		return limit, false, nil
	}
	room, err := h.cfg.Quota(ctx, owner)
	if err != nil {
		return 0, false, h.storeError("", fmt.Errorf("quota of %s: %w", owner, err))
	}
	if room >= 0 && room < limit {
		return max(room, 0), true, nil
	}
	return limit, false, nil
}

// tooLarge is the 413 for n bytes over limit.
func tooLarge(n, limit int64, quota bool) error {
	if quota {
		return httperr.New(http.StatusRequestEntityTooLarge, "quota_exceeded",
			fmt.Sprintf("%d bytes exceed what is left of your storage quota (%d bytes)", n, limit))
	}
	return httperr.New(http.StatusRequestEntityTooLarge, "too_large",
		fmt.Sprintf("Upload-Length %d exceeds the limit of %d bytes", n, limit))
}
