package tus

import (
	"context"
	"errors"
	"sync"
)

// locks serialises the requests of one upload inside this process and
// decides, between two of them, which goes on.
//
// What guarantees one writer per upload is not this lock but the writer
// lease in the store (chunkstore/lease.go): an append takes the upload's
// lease with a compare-and-set in the uploads row before it reads a byte,
// so of two PATCHes at the same offset on two edges exactly one writes and
// the other gets 423 (lease held) or 409 (offset moved) with nothing kept.
// This lock adds what a process can do better on its own:
//
//   - A PATCH that finds another PATCH of the same upload at the same offset
//     in progress is refused at once (errBusy, 423 with Retry-After) instead
//     of interrupting it: two live writers of the same bytes, of which the
//     first wins, as across edges.
//   - Any other request (HEAD, DELETE, a PATCH at another offset) interrupts
//     the holder and waits for it to let go. This is tusd's memorylocker
//     model and what makes a resume immediate: a client that lost its
//     connection mid-PATCH comes back with a HEAD while the server may still
//     be blocked reading the dead body; the HEAD ends that read (the PATCH
//     keeps the bytes it got, makes them durable, answers 409
//     upload_interrupted with its Upload-Offset, and lets go) instead of
//     waiting a read timeout. A PATCH on another server cannot be reached
//     from here: a HEAD asks it through the store instead (head.go).
type locks struct {
	mu   sync.Mutex       // guards held
	held map[string]*lock // by upload id
}

type lock struct {
	released  chan struct{} // closed when the holder lets go
	interrupt func()        // asks the holder to stop; must be safe to call repeatedly
	offset    int64         // a writer's Upload-Offset; -1 for requests that write nothing
}

// errBusy: a PATCH at the same offset holds the upload.
var errBusy = errors.New("tus: a PATCH at this offset is in progress")

func newLocks() *locks { return &locks{held: make(map[string]*lock)} }

// acquire takes the lock of id and waits until the current holder, if any,
// lets go or ctx ends. offset is the request's Upload-Offset when it writes
// (PATCH, POST with a body), -1 otherwise: a writer at the offset of a
// writer holding the lock gets errBusy at once; any other request
// interrupts the holder. interrupt is what a later request calls to make
// this one stop. The returned release must be called exactly once.
func (l *locks) acquire(ctx context.Context, id string, offset int64, interrupt func()) (release func(), err error) {
	if interrupt == nil {
		interrupt = func() {}
	}
	for {
		l.mu.Lock()
		cur, busy := l.held[id]
		if !busy {
			mine := &lock{released: make(chan struct{}), interrupt: interrupt, offset: offset}
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
		if offset >= 0 && cur.offset == offset {
			return nil, errBusy
		}
		cur.interrupt()
		select {
		case <-cur.released:
			// Loop: another waiter may have taken it first; then we judge
			// that one in turn (the latest request wins, as in tusd, unless
			// both write at the same offset).
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
