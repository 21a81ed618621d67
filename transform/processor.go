package transform

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Processor runs transforms on a bounded worker pool.
type Processor struct {
	cfg     Config
	slots   chan struct{} // one token per worker
	waiting atomic.Int64  // requests queued for a slot
}

// NewProcessor validates cfg and starts libvips (once per process), so that
// a libvips that cannot start fails the server at startup, not on the first
// request.
func NewProcessor(cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := vipsInit(); err != nil {
		return nil, fmt.Errorf("transform: start libvips: %w", err)
	}
	return &Processor{cfg: cfg, slots: make(chan struct{}, cfg.Workers)}, nil
}

// Config returns the processor's configuration (for Parse and Verify).
func (p *Processor) Config() Config { return p.cfg }

// Process renders src as spec asks. The source format is read from the bytes
// (libvips' loader), never trusted from the client; srcType (the stored
// content type, may be "") only tells HEIC from AVIF, which share a loader,
// when no output format was asked for. It waits for a worker at most until
// the deadline (cfg.Timeout, or ctx's if sooner) and returns ErrBusy at once
// when QueueLen requests are already waiting.
//
// On timeout the caller gets ErrTimeout at the deadline. The worker sees the
// cancelled context between steps; inside the save, where libvips does the
// real work, the deadline is handed to libvips, which abandons the
// computation (see setDeadline), so the slot frees soon after.
func (p *Processor) Process(ctx context.Context, src []byte, srcType string, spec Spec) (Result, error) {
	if len(src) == 0 {
		return Result{}, ErrCorruptImage
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	select {
	case p.slots <- struct{}{}:
	default:
		if p.waiting.Add(1) > int64(p.cfg.QueueLen) {
			p.waiting.Add(-1)
			return Result{}, ErrBusy
		}
		select {
		case p.slots <- struct{}{}:
			p.waiting.Add(-1)
		case <-ctx.Done():
			p.waiting.Add(-1)
			return Result{}, timeoutOr(ctx)
		}
	}
	type out struct {
		r   Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		defer func() { <-p.slots }()
		j := &job{cfg: p.cfg, spec: spec, src: src, srcType: srcType}
		r, err := j.run(ctx)
		done <- out{r, err}
	}()
	select {
	case o := <-done:
		if o.err != nil && errors.Is(o.err, ErrTimeout) {
			return Result{}, ErrTimeout
		}
		return o.r, o.err
	case <-ctx.Done():
		return Result{}, timeoutOr(ctx)
	}
}

func timeoutOr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrTimeout
	}
	return ctx.Err()
}

// Load reports the transforms running now (workers busy) and those waiting
// for a worker: the edge exports them as the transform queue gauges.
func (p *Processor) Load() (running, waiting int) {
	return len(p.slots), int(p.waiting.Load())
}

// RetryAfter suggests how long a client refused with ErrBusy should wait.
func (p *Processor) RetryAfter() time.Duration { return time.Second }

// Probe reads an image's header (size, frames) without decoding it. SVG,
// PDF, PostScript and formats only ImageMagick reads are ErrUnsupported,
// wrapped with a message naming what is not transformed.
func Probe(src []byte) (width, height, frames int, err error) {
	h, err := probe(src)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("probe: %w", err)
	}
	w, hh := h.width, h.height
	if h.orientation >= 5 && h.orientation <= 8 {
		w, hh = hh, w
	}
	return w, hh, max(1, h.pages), nil
}

// Dimensions reads an image's displayed size (EXIF orientation applied; the
// first frame of an animation) from its header. head may be only the start
// of the file: libvips reads headers lazily, and every allowed format keeps
// its size near the front. It decodes no pixels and takes no worker.
func (p *Processor) Dimensions(head []byte) (w, h int, err error) {
	hdr, err := probe(head)
	if err != nil {
		return 0, 0, err
	}
	j := job{hdr: hdr}
	w, h = j.oriented()
	return w, h, nil
}
