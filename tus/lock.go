package tus

import (
	"context"
	"sync"
)

// locks serialises the requests of one upload inside this process: one PATCH
// at a time per upload, and a request that arrives while another holds the
// upload asks the holder to stop rather than queueing behind it. This is
// tusd's memorylocker model: a client that lost its connection mid-PATCH
// comes back with a HEAD while the server may still be blocked reading the
// dead body; waiting for the read timeout would stall the resume for a
// minute, so the HEAD interrupts the stale PATCH, which ends its body read,
// keeps the bytes it got (the store makes them durable) and lets go.
//
// The lock is per process. Several edge servers behind a balancer rely on
// the store's offset check (ErrOffsetMismatch -> 409) to refuse the second
// of two concurrent writers, so the worst case there is a retry, not
// corruption.
type locks struct {
	mu   sync.Mutex       // guards held
	held map[string]*lock // by upload id
}

type lock struct {
	released  chan struct{} // closed when the holder lets go
	interrupt func()        // asks the holder to stop; must be safe to call repeatedly
}

func newLocks() *locks { return &locks{held: make(map[string]*lock)} }

// acquire takes the lock of id, interrupting the current holder if there is
// one, and waits until it lets go or ctx ends. interrupt is what a later
// request calls to make this one stop. The returned release must be called
// exactly once.
func (l *locks) acquire(ctx context.Context, id string, interrupt func()) (release func(), err error) {
	if interrupt == nil {
		interrupt = func() {}
	}
	for {
		l.mu.Lock()
		cur, busy := l.held[id]
		if !busy {
			mine := &lock{released: make(chan struct{}), interrupt: interrupt}
			l.held[id] = mine
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.held, id)
				l.mu.Unlock()
				close(mine.released)
			}, nil
		}
		l.mu.Unlock()
		cur.interrupt()
		select {
		case <-cur.released:
			// Loop: another waiter may have taken it first; then we interrupt
			// that one in turn (the latest request wins, as in tusd).
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// interruptAll asks every holder to stop and returns the channels that close
// when they have let go (for a graceful shutdown).
func (l *locks) interruptAll() []chan struct{} {
	l.mu.Lock()
	held := make([]*lock, 0, len(l.held))
	for _, lk := range l.held {
		held = append(held, lk)
	}
	l.mu.Unlock()
	out := make([]chan struct{}, 0, len(held))
	for _, lk := range held {
		lk.interrupt()
		out = append(out, lk.released)
	}
	return out
}
