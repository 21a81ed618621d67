package transform

import (
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"time"
)

// outputFormats are the formats the pipeline encodes (mp4 is transform/video's).
var outputFormats = []string{"jpg", "png", "webp", "avif", "gif"}

// Config holds the limits and options of image transforms.
type Config struct {
	// MaxSourcePixels bounds width x height x frames of a source, read from the
	// header before anything is decoded (422 beyond).
	MaxSourcePixels int64
	// MaxOutputSide bounds w*dpr and h*dpr (400 beyond).
	MaxOutputSide int
	// MaxFrames bounds the frames of an animated source (422 beyond).
	MaxFrames int
	// Workers is the number of transforms run at once.
	Workers int
	// QueueLen is how many transforms may wait for a worker; beyond it ErrBusy.
	QueueLen int
	// Timeout bounds one transform, waiting included.
	Timeout time.Duration
	// Quality is the default q per output format (jpg, png, webp, avif, gif;
	// every one must be set). PNG and GIF are lossless here: their value only
	// keeps q=100 from splitting the cache.
	Quality map[string]int
	// Presets are named parameter sets: "thumb" -> "w=200&h=200&fit=crop".
	Presets map[string]string
	// PresetsOnly refuses every parameter but p (and s).
	PresetsOnly bool
	// SignKeys are the active HMAC keys; any of them may sign (rotation).
	SignKeys [][]byte
	// RequireSignature refuses unsigned transform URLs (403).
	RequireSignature bool
}

// DefaultConfig follows DESIGN.md "Limits".
func DefaultConfig() Config {
	return Config{
		MaxSourcePixels: 50_000_000,
		MaxOutputSide:   8192,
		MaxFrames:       1000,
		Workers:         2 * runtime.GOMAXPROCS(0),
		QueueLen:        64,
		Timeout:         30 * time.Second,
		// Per-format defaults as imgproxy and imgix ship them: AVIF reaches the
		// same visual quality at a lower setting.
		Quality: map[string]int{"jpg": 80, "webp": 80, "avif": 60, "png": 100, "gif": 100},
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxSourcePixels <= 0 {
		errs = append(errs, fmt.Errorf("max-source-pixels %d: must be positive", c.MaxSourcePixels))
	}
	if c.MaxOutputSide <= 0 || c.MaxOutputSide > 16384 {
		errs = append(errs, fmt.Errorf("max-output-side %d: want 1..16384", c.MaxOutputSide))
	}
	if c.MaxFrames <= 0 {
		errs = append(errs, fmt.Errorf("max-frames %d: must be positive", c.MaxFrames))
	}
	if c.Workers <= 0 {
		errs = append(errs, fmt.Errorf("transform-workers %d: must be positive", c.Workers))
	}
	if c.QueueLen < 0 {
		errs = append(errs, fmt.Errorf("transform-queue %d: must not be negative", c.QueueLen))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("transform-timeout %s: must be positive", c.Timeout))
	}
	for _, f := range outputFormats {
		if q, ok := c.Quality[f]; !ok || q < 1 || q > 100 {
			errs = append(errs, fmt.Errorf("default quality for %s: %d not in 1..100", f, q))
		}
	}
	for f := range c.Quality {
		if !slices.Contains(outputFormats, f) {
			errs = append(errs, fmt.Errorf("default quality for %q: not an output format", f))
		}
	}
	for name, q := range c.Presets {
		vals, err := url.ParseQuery(q)
		if err != nil {
			errs = append(errs, fmt.Errorf("preset %s: %w", name, err))
			continue
		}
		if vals.Has("p") || vals.Has("s") {
			errs = append(errs, fmt.Errorf("preset %s: may not contain p or s", name))
			continue
		}
		// Checked as a request's own parameters are: a typo (wdth=200)
		// found at start, not on every request that names the preset.
		plain := c
		plain.Presets, plain.PresetsOnly = nil, false
		if _, err := Parse(plain, "", vals, ""); err != nil {
			errs = append(errs, fmt.Errorf("preset %s: %w", name, err))
		}
	}
	if c.RequireSignature && len(c.SignKeys) == 0 {
		errs = append(errs, errors.New("require-signature: needs at least one sign-key"))
	}
	return errors.Join(errs...)
}
