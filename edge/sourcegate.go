package edge

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/mediaedge/mediaedge/transform"
)

// sourceGate bounds the bytes of originals that renders hold in memory at
// once. A render reads its whole source before the transformer's worker
// pool sees it, and renders of different keys are not merged: without the
// gate, 500 requests for 500 widths of one 90 MB original would read 45 GB
// before the pool refused all but a few. The gate is taken before the read
// and held until the render returns; a render waiting for it holds nothing.
//
// Like the pool it sits in front of, it queues a bounded number of renders
// (ErrBusy, 503, beyond) for a bounded time (the transform timeout). The
// semaphore is FIFO, so a large source is not starved by small ones.
type sourceGate struct {
	sem      *semaphore.Weighted
	budget   int64
	waiting  atomic.Int64
	maxWait  int64
	waitTime time.Duration
}

func newSourceGate(budget int64, maxWait int, waitTime time.Duration) *sourceGate {
	return &sourceGate{sem: semaphore.NewWeighted(budget), budget: budget, maxWait: int64(maxWait), waitTime: waitTime}
}

// acquire reserves n bytes (at most the whole budget, so that one source
// larger than it still runs, alone). It returns the release, or ErrBusy when
// the queue is full or the wait ran past waitTime, or the context's error.
func (g *sourceGate) acquire(ctx context.Context, n int64) (func(), error) {
	n = max(1, min(n, g.budget))
	if g.sem.TryAcquire(n) {
		return func() { g.sem.Release(n) }, nil
	}
	if g.waiting.Add(1) > g.maxWait {
		g.waiting.Add(-1)
		return nil, transform.ErrBusy
	}
	defer g.waiting.Add(-1)
	wctx, cancel := context.WithTimeout(ctx, g.waitTime)
	defer cancel()
	if err := g.sem.Acquire(wctx, n); err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, transform.ErrBusy
		}
		return nil, err
	}
	return func() { g.sem.Release(n) }, nil
}
