package edge

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config is the edge server's configuration.
type Config struct {
	// Listen is the address of the public listener.
	Listen string
	// MetricsListen, when set, serves /metrics on its own listener instead of
	// the public one (so scrapes need not be exposed to the internet).
	MetricsListen string
	// PublicURL prefixes the URLs returned to uploaders; default http://Listen.
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
	// StatCacheTTL is how long a file's metadata row is kept in memory (0
	// disables): a delete made on another edge is seen within it.
	StatCacheTTL time.Duration
	// CacheMaxOriginal is the largest original kept in the edge cache.
	CacheMaxOriginal int64
	// ShutdownTimeout is how long a graceful shutdown waits for requests.
	ShutdownTimeout time.Duration
}

// DefaultConfig listens on loopback with conservative timeouts.
func DefaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:8080",
		MaxUploadSize:     5 << 30,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BodyReadTimeout:   60 * time.Second,
		ShutdownTimeout:   30 * time.Second,
		CacheMaxOriginal:  64 << 20,
		StatCacheTTL:      5 * time.Second,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics-listen %q: %w", c.MetricsListen, err))
		}
	}
	if c.MaxUploadSize <= 0 {
		errs = append(errs, fmt.Errorf("max-upload-size %d: must be positive", c.MaxUploadSize))
	}
	for i, t := range c.UploadTokens {
		if len(t) < 16 {
			errs = append(errs, fmt.Errorf("upload-token #%d: at least 16 characters", i+1))
		}
	}
	if c.ReadHeaderTimeout <= 0 || c.IdleTimeout <= 0 || c.BodyReadTimeout <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("timeouts must be positive"))
	}
	return errors.Join(errs...)
}
