package events

import (
	"context"
	"sync"
)

// Dedup remembers the last Size event ids handled, to skip an event
// delivered again (a redelivery after a lost ack, a re-publish outside
// JetStream's duplicate window). It lives in memory, so it narrows repeats
// within one process and nothing more: a handler's effect must still be
// idempotent by key across restarts and instances.
type Dedup struct {
	mu   sync.Mutex         // guards seen, ring and next
	seen map[int64]struct{} // the ids in ring
	ring []int64            // the last len(ring) ids marked, oldest at next
	next int
	full bool
}

// NewDedup remembers up to size ids (at least 1).
func NewDedup(size int) *Dedup {
	size = max(size, 1)
	return &Dedup{seen: make(map[int64]struct{}, size), ring: make([]int64, size)}
}

// Seen reports whether id was marked and is still remembered.
func (d *Dedup) Seen(id int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.seen[id]
	return ok
}

// Mark remembers id, forgetting the oldest when full.
func (d *Dedup) Mark(id int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[id]; ok {
		return
	}
	if d.full {
		delete(d.seen, d.ring[d.next])
	}
	d.ring[d.next] = id
	d.seen[id] = struct{}{}
	d.next++
	if d.next == len(d.ring) {
		d.next, d.full = 0, true
	}
}

// Once wraps h so that an event already handled successfully (and still
// remembered) is acknowledged without running h again. An event is marked
// only after h returns nil, so a failed effect is retried.
func (d *Dedup) Once(h Handler) Handler {
	return func(ctx context.Context, ev Event) error {
		if d.Seen(ev.ID) {
			return nil
		}
		if err := h(ctx, ev); err != nil {
			return err
		}
		d.Mark(ev.ID)
		return nil
	}
}
