package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Writer leases: what makes one writer per upload true across a fleet.
//
// Every change of an uploads row is a compare-and-set on its Version
// (Backend.UpdateUpload; a lightweight transaction on Cassandra). An Append
// first takes the row's writer lease with one such CAS, before it reads a
// byte of its body or writes a chunk: of two Appends at the same offset, on
// one process or two, exactly one CAS applies; the other sees the lease (or
// the moved offset) and returns ErrLocked (or ErrOffsetMismatch) having
// written nothing. The holder then writes its chunks with the lease's fence,
// moves the offset at checkpoints and at its end with CASes that hold only
// while it still has the lease, and releases it in the final one. A holder
// that lost its lease (it stalled past LeaseTTL and another writer took
// over, or the upload was terminated) fails its next CAS, so its bytes are
// never counted, and its chunk writes cannot replace the new holder's (the
// fence: see Backend.PutUploadChunk).
//
// Why a lease taken up front rather than one CAS at the end: chunks are
// keyed (id, idx) and rewritten in place (the tail chunk is rewritten whole
// by the next append), so two writers racing for the offset would overwrite
// each other's chunks before either committed; the winner of a final CAS
// could then commit bytes the loser wrote. Staging chunks per writer would
// avoid that but make readers find each chunk's writer. The lease costs one
// more CAS per append and keeps the chunk layout as it is.
//
// Cost of one Append on Cassandra: one quorum read of the row, one LWT to
// take the lease, the chunk writes (WriteConcurrency in flight), one LWT per
// checkpoint (every 4 x WriteConcurrency chunks, without Verify) and one to
// commit and release; one more LWT every LeaseTTL/3 only while a body takes
// that long. An LWT is four round trips inside the cluster but one for the
// client. A conflict adds a serial read.

// Interrupts across processes. In one process tus interrupts a stale PATCH
// itself; a request on another edge can only ask, through the row:
// Interrupt shortens the holder's lease to LeaseTTL/2. A live holder sees
// its row changed under its own lease at its next renewal (every
// LeaseTTL/3), takes that as the request, has its caller stop reading
// (AppendOptions.Interrupt), commits what it received and lets go; a dead
// one's lease lapses sooner. No one but Interrupt changes a row under
// another's live lease (DeclareLength and Terminate refuse, Append waits).

// maxCASAttempts bounds the retries of a compare-and-set that lost to a
// change it can live with (an expiry pushed forward, a lease released).
const maxCASAttempts = 4

// lease is one holder's grip on an upload: the row as this holder last wrote
// it, kept alive in the background, and every change this holder makes to
// the row, each a compare-and-set on the version it last saw.
type lease struct {
	s     *Store
	id    string
	token string
	fence int64
	hooks leaseHooks
	asked sync.Once // guards calling hooks.interrupt once

	stop chan struct{} // closed to end the renewer
	done chan struct{} // closed when the renewer has ended
	once sync.Once     // guards closing stop

	mu  sync.Mutex // guards u and err; serialises this holder's writes of the row
	u   UploadInfo // the row as this holder last wrote it (or, once lost, as found)
	err error      // set once the lease is lost; every later change fails with it
}

// leaseHooks tell a holder what happened to its lease; either may be nil.
type leaseHooks struct {
	lost      func() // the lease is gone: stop writing (called once)
	interrupt func() // another request asks the holder to stop (called once)
}

// hold takes the writer lease of upload id. check decides, on the row as
// read (and again after any lost race), whether the caller may go on; a
// lease another holder has is ErrLocked after check passes. On failure the
// row last seen is returned with the error.
func (s *Store) hold(ctx context.Context, id string, known *UploadInfo, check func(UploadInfo) error, hooks leaseHooks) (*lease, UploadInfo, error) {
	// The caller's row, when it has one, saves a read: the compare-and-set
	// below is on its version, so a stale row costs a retry, and a refusal
	// judged on it (expired, check, held) is judged again on a fresh read.
	var u UploadInfo
	borrowed := known != nil && known.ID == id
	if borrowed {
		u = *known
	} else {
		var err error
		if u, err = s.b.GetUpload(ctx, id); err != nil {
			return nil, UploadInfo{}, err
		}
	}
	token := NewID()
	for attempt := 1; ; attempt++ {
		now := s.now()
		var refusal error
		if now.After(u.ExpiresAt) {
			refusal = fmt.Errorf("upload %s: %w", id, ErrExpired)
		} else if refusal = check(u); refusal == nil && u.Lease.Held(now, token) {
			refusal = &LockedError{ID: id, RetryAfter: u.Lease.Until.Sub(now), Reason: "another writer holds it"}
		}
		if refusal != nil && borrowed {
			borrowed = false
			var err error
			if u, err = s.b.GetUpload(ctx, id); err != nil {
				return nil, UploadInfo{}, err
			}
			attempt--
			continue
		}
		if refusal != nil {
			return nil, u, refusal
		}
		next := u
		next.Lease = UploadLease{
			Holder: token,
			Until:  leaseUntil(now, s.cfg.LeaseTTL),
			// Wall-clock microseconds, as Cassandra cell timestamps are: a
			// holder's chunk writes then also lose to deletes made later
			// (a purge), not only to newer holders' writes.
			Fence: max(u.Lease.Fence+1, time.Now().UnixMicro()),
		}
		cur, err := s.b.UpdateUpload(ctx, next, u.Version)
		switch {
		case err == nil:
			l := &lease{s: s, id: id, token: token, fence: cur.Lease.Fence, hooks: hooks, u: cur,
				stop: make(chan struct{}), done: make(chan struct{})}
			go l.renew()
			return l, cur, nil
		case errors.Is(err, ErrConflict) && attempt < maxCASAttempts:
			u, borrowed = cur, false // the row moved since it was read: judge it again
		case errors.Is(err, ErrConflict):
			return nil, cur, &LockedError{ID: id, Reason: "contended"}
		default:
			return nil, u, fmt.Errorf("take lease of %s: %w", id, err)
		}
	}
}

func leaseUntil(now time.Time, ttl time.Duration) time.Time {
	// Millisecond precision: what a CQL timestamp keeps.
	return now.Add(ttl).UTC().Truncate(time.Millisecond)
}

// renew pushes the lease forward every LeaseTTL/3 until stopped or lost.
// A renewal that fails for another reason than a lost lease is tried again
// at the next tick: the lease may still be ours, and the next change of the
// row will tell.
func (l *lease) renew() {
	defer close(l.done)
	t := time.NewTicker(l.s.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.s.cfg.LeaseTTL)
		_, _ = l.update(ctx, func(*UploadInfo) {})
		cancel()
		if l.lostErr() != nil {
			return
		}
	}
}

// update changes the row under the lease (edit sees the row as this holder
// last wrote it) and pushes the lease's expiry forward. A lost compare-and-
// set means the lease is gone: the holder must stop, and nothing it did
// after its last successful update counts.
func (l *lease) update(ctx context.Context, edit func(*UploadInfo)) (UploadInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.u, l.err
	}
	for attempt := 1; ; attempt++ {
		next := l.u
		edit(&next)
		if next.Lease.Holder == l.token {
			next.Lease.Until = leaseUntil(l.s.now(), l.s.cfg.LeaseTTL)
		}
		cur, err := l.s.b.UpdateUpload(ctx, next, l.u.Version)
		switch {
		case err == nil:
			l.u = cur
			return cur, nil
		case errors.Is(err, ErrConflict) && cur.Lease.Holder == l.token && cur.Lease.Fence == l.fence && attempt < maxCASAttempts:
			// Still our lease, changed by someone else: Interrupt asking us
			// to stop. Pass it on, and write again over the new version.
			l.u = cur
			if l.hooks.interrupt != nil {
				l.asked.Do(l.hooks.interrupt)
			}
		case errors.Is(err, ErrConflict):
			l.u = cur
			l.lose(errLeaseLost(l.id, err))
			return cur, l.err
		case errors.Is(err, ErrNotFound):
			l.lose(fmt.Errorf("upload %s went away while being written: %w", l.id, ErrNotFound))
			return l.u, l.err
		default:
			return l.u, fmt.Errorf("update upload %s: %w", l.id, err)
		}
	}
}

// errLeaseLost is what a holder reports once its lease is gone: ErrLocked
// (another writer has the upload now), with the conflict that showed it.
func errLeaseLost(id string, cause error) error {
	return fmt.Errorf("%w (%v)", &LockedError{ID: id, Reason: "the writer lease was lost to another writer"}, cause)
}

// lose records why the lease is gone and stops the holder's writes. l.mu is held.
func (l *lease) lose(err error) {
	l.err = err
	if l.hooks.lost != nil {
		l.hooks.lost()
	}
}

func (l *lease) lostErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// row is the upload as this holder last knows it.
func (l *lease) row() UploadInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.u
}

func (l *lease) stopRenewing() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

// release applies edit and lets go of the lease in one compare-and-set (the
// commit of an append); nil edit only lets go. The fence stays in the row.
func (l *lease) release(ctx context.Context, edit func(*UploadInfo)) (UploadInfo, error) {
	l.stopRenewing()
	return l.update(ctx, func(u *UploadInfo) {
		if edit != nil {
			edit(u)
		}
		u.Lease.Holder, u.Lease.Until = "", time.Time{}
	})
}

// abandon lets go of the lease without other changes, best effort: if it
// fails the lease lapses after LeaseTTL.
func (l *lease) abandon(ctx context.Context) {
	if l.lostErr() != nil {
		l.stopRenewing()
		return
	}
	_, _ = l.release(ctx, nil)
}

// Interrupt asks the writer holding upload id, in this process or another,
// to stop: its lease is cut to LeaseTTL/2 from now. A live holder notices
// at its next renewal, stops reading its body (AppendOptions.Interrupt),
// keeps what it received and lets go; a dead one's lease lapses then. It
// returns at once, without waiting for the holder. Nothing happens when no
// one holds the upload (or the request was made already).
func (s *Store) Interrupt(ctx context.Context, id string) error {
	_, err := s.updateUpload(ctx, id, func(u *UploadInfo) (bool, error) {
		now := s.now()
		if !u.Lease.Held(now, "") {
			return false, nil
		}
		until := leaseUntil(now, s.cfg.LeaseTTL/2)
		if !until.Before(u.Lease.Until) {
			return false, nil
		}
		u.Lease.Until = until
		return true, nil
	})
	return err
}
