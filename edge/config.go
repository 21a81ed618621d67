package edge

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/mediaedge/mediaedge/httpbody"
)

// Config is the edge server's configuration.
type Config struct {
	// Listen is the address of the public listener.
	Listen string
	// MetricsListen, when set, serves /metrics on its own listener instead of
	// the public one (so scrapes need not be exposed to the internet).
	MetricsListen string
	// Pprof mounts net/http/pprof at /debug/pprof/ on the metrics listener
	// (never on the public one); it needs MetricsListen.
	Pprof bool
	// PublicURL prefixes the URLs returned to uploaders (POST /upload, tus,
	// /m/{id}/info); default http://Listen. It is required when Listen binds
	// every interface (0.0.0.0, ::, or no host): http://0.0.0.0:8080 is no
	// address a client can use. The request's Host header is not used in its
	// place: it is the client's to choose, and a URL built from it would
	// send the next reader wherever a spoofed Host pointed.
	PublicURL string
	// UploadTokens are the bearer tokens accepted for uploads and deletes;
	// none means uploads are refused.
	UploadTokens []string
	// MaxUploadSize bounds a one-shot upload body (413 beyond).
	MaxUploadSize int64
	// ReadHeaderTimeout cuts clients that dribble their headers (slowloris).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout time.Duration
	// BodyReadTimeout bounds the gap between two reads of an upload body;
	// the deadline is pushed forward as bytes arrive, so a slow but live
	// client keeps going and a stalled one is cut.
	BodyReadTimeout time.Duration
	// BodyMinRate is the slowest an upload body may arrive, in bytes a
	// second averaged over BodyMinRateWindow (Apache's minrate); a client
	// trickling bytes just fast enough to beat BodyReadTimeout is cut with
	// 408. 0 disables it.
	BodyMinRate int64
	// BodyMinRateWindow is the span BodyMinRate is averaged over.
	BodyMinRateWindow time.Duration
	// SendTimeout cuts a response whose client takes no bytes for this long
	// (nginx's send_timeout). It bounds the gap between writes, not the
	// whole response, so a slow but live download of a large video goes on.
	// 0 disables it.
	SendTimeout time.Duration
	// StatCacheTTL is how long a file's metadata row is kept in memory (0
	// disables): a delete made on another edge is seen within it.
	StatCacheTTL time.Duration
	// CacheMaxOriginal is the largest original kept in the edge cache.
	CacheMaxOriginal int64
	// CacheRAM is the memory the hot tier may hold: cache entries hit twice
	// are kept in memory in front of the disks (hot.go). 0 disables it.
	CacheRAM int64
	// CacheRAMMaxEntry is the largest entry the hot tier takes.
	CacheRAMMaxEntry int64
	// CacheRAMLoop answers repeated GETs of hot entries on each
	// connection's own loop before net/http (hotconn.go); false leaves
	// every request to net/http.
	CacheRAMLoop bool
	// MaxTransformSource bounds the original read into memory for an image
	// transform; larger sources are refused (422) instead of filling the heap.
	MaxTransformSource int64
	// TransformSourceMemory bounds the bytes of originals that renders
	// hold in memory at once (images, and GIF or WebP made MP4; a video's
	// poster copies it to a temp file instead, bounded by the video
	// workers). Renders past it wait, as many as the transform queue, then
	// get 503 (sourcegate.go). One source larger than it runs alone.
	TransformSourceMemory int64
	// UserQuota is the most bytes of complete files a user (a session
	// upload) may keep; an upload that would exceed it is refused with 413
	// quota_exceeded before a byte is stored. 0 disables it. Static upload
	// tokens (service accounts) have none. Uploads in progress are not
	// counted until they finish, so parallel uploads can overshoot by what
	// they carry.
	UserQuota int64
	// StripLocation decides which image uploads lose their location (GPS,
	// maker notes) before they are stored: StripSessions (users' uploads,
	// the default: a person sharing a photo rarely means to share where they
	// live), StripAlways, or StripNever. Originals are otherwise byte-exact.
	StripLocation string
	// ShutdownTimeout is how long a graceful shutdown waits for requests.
	ShutdownTimeout time.Duration
	// FleetHandoff is how long after a member joins (as this edge sees it)
	// a cache miss on a key this edge owns first asks the key's next-ranked
	// edge, its owner before the join, for a cached copy (only-if-cached),
	// so that a join moves results instead of recomputing them. Unused
	// without a fleet; 0 never asks.
	FleetHandoff time.Duration
}

// StripLocation policies.
const (
	StripNever    = "never"
	StripSessions = "sessions"
	StripAlways   = "always"
)

// BodyLimits are the rules every request body is read under.
func (c Config) BodyLimits() httpbody.Limits {
	return httpbody.Limits{Gap: c.BodyReadTimeout, MinRate: c.BodyMinRate, Window: c.BodyMinRateWindow}
}

// DefaultConfig listens on loopback with conservative timeouts.
func DefaultConfig() Config {
	return Config{
		Listen:             "127.0.0.1:8080",
		MaxUploadSize:      5 << 30,
		ReadHeaderTimeout:  10 * time.Second,
		IdleTimeout:        120 * time.Second,
		BodyReadTimeout:    60 * time.Second,
		SendTimeout:        60 * time.Second,
		BodyMinRate:        1024,
		StripLocation:      StripSessions,
		UserQuota:          10 << 30,
		BodyMinRateWindow:  30 * time.Second,
		ShutdownTimeout:    30 * time.Second,
		CacheMaxOriginal:   64 << 20,
		CacheRAM:           128 << 20,
		CacheRAMMaxEntry:   256 << 10,
		CacheRAMLoop:       true,
		MaxTransformSource: 100 << 20,
		// Room for several of the largest sources at once and many
		// photos: a 12 MP JPEG is 3-7 MB.
		TransformSourceMemory: 512 << 20,
		StatCacheTTL:          5 * time.Second,
		FleetHandoff:          10 * time.Minute,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if host, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	} else if c.PublicURL == "" && unspecifiedHost(host) {
		errs = append(errs, fmt.Errorf("public-url: required when listen %s binds every interface (media URLs would say http://%s; give the URL clients reach this server at, e.g. --public-url https://media.example.com)", c.Listen, c.Listen))
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics-listen %q: %w", c.MetricsListen, err))
		}
	}
	if c.Pprof && c.MetricsListen == "" {
		errs = append(errs, errors.New("pprof: needs metrics-listen (profiles are never served on the public listener)"))
	}
	if c.MaxUploadSize <= 0 {
		errs = append(errs, fmt.Errorf("max-upload-size %d: must be positive", c.MaxUploadSize))
	}
	for i, t := range c.UploadTokens {
		if len(t) < 16 {
			errs = append(errs, fmt.Errorf("upload-token #%d: at least 16 characters", i+1))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-header-timeout", c.ReadHeaderTimeout}, {"idle-timeout", c.IdleTimeout},
		{"body-read-timeout", c.BodyReadTimeout}, {"shutdown-timeout", c.ShutdownTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %s: must be positive", d.name, d.v))
		}
	}
	if c.BodyMinRate < 0 {
		errs = append(errs, fmt.Errorf("body-min-rate %d: must not be negative (0 disables it)", c.BodyMinRate))
	}
	if c.BodyMinRate > 0 && c.BodyMinRateWindow <= 0 {
		errs = append(errs, fmt.Errorf("body-min-rate-window %s: must be positive", c.BodyMinRateWindow))
	}
	if c.SendTimeout < 0 {
		errs = append(errs, fmt.Errorf("send-timeout %s: must not be negative (0 disables it)", c.SendTimeout))
	}
	if c.FleetHandoff < 0 {
		errs = append(errs, fmt.Errorf("fleet-handoff %s: must not be negative (0 disables it)", c.FleetHandoff))
	}
	if c.StatCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("stat-cache-ttl %s: must not be negative (0 disables it)", c.StatCacheTTL))
	}
	switch c.StripLocation {
	case StripNever, StripSessions, StripAlways:
	default:
		errs = append(errs, fmt.Errorf("strip-location %q: want never, sessions or always", c.StripLocation))
	}
	if c.UserQuota < 0 {
		errs = append(errs, fmt.Errorf("user-quota %d: must not be negative (0 disables it)", c.UserQuota))
	}
	if c.MaxTransformSource <= 0 {
		errs = append(errs, fmt.Errorf("max-transform-source %d: must be positive", c.MaxTransformSource))
	}
	if c.TransformSourceMemory <= 0 {
		errs = append(errs, fmt.Errorf("transform-source-memory %d: must be positive", c.TransformSourceMemory))
	}
	if c.CacheRAM < 0 || c.CacheRAMMaxEntry < 0 {
		errs = append(errs, fmt.Errorf("cache-ram %d, cache-ram-max-entry %d: must not be negative (cache-ram 0 disables the tier)", c.CacheRAM, c.CacheRAMMaxEntry))
	}
	if c.CacheMaxOriginal < 0 {
		errs = append(errs, fmt.Errorf("cache-max-original %d: must not be negative", c.CacheMaxOriginal))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("public-url %q: want an absolute http(s) URL", c.PublicURL))
		}
	}
	return errors.Join(errs...)
}

// unspecifiedHost reports whether a listen address's host binds every
// interface: empty, 0.0.0.0 or ::.
func unspecifiedHost(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || (ip != nil && ip.IsUnspecified())
}
