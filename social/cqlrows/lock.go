package cqlrows

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// ErrLocked is Locks.Acquire giving up after Wait: another holder kept the
// lock. Stores wrap it in their own busy sentinel.
var ErrLocked = errors.New("cqlrows: lock held by another holder")

// Locks is a lock table whose rows are written by lightweight
// transactions only (at the session's serial consistency), so they never
// mix Paxos with plain writes: a row is taken with Take and released with
// Release, and lives TTL when its holder dies or leaves it.
type Locks struct {
	// Take inserts the lock row: INSERT ... IF NOT EXISTS USING TTL ?, its
	// arguments the key's, then the holder, then the TTL in seconds.
	Take string
	// Release deletes it: DELETE ... WHERE key IF holder = ?, its
	// arguments the key's, then the holder.
	Release string
	// TTL is how long a lock lives when its holder dies or keeps it after
	// a batch of unknown outcome; whole seconds.
	TTL time.Duration
	// Wait is how long Acquire tries before ErrLocked.
	Wait time.Duration
	// Backoff is the first wait between tries (jittered), doubling up to
	// MaxBackoff.
	Backoff, MaxBackoff time.Duration
}

// Held is a lock row taken by Acquire. Release it when done (deferred); a
// failed Exec makes Release leave it to lapse.
type Held struct {
	s       *gocql.Session
	release string
	args    []any // the key, then the holder
	keep    bool  // a batch of unknown outcome ran under it
}

// Acquire takes the lock of key, waiting up to l.Wait (then ErrLocked).
func (l Locks) Acquire(ctx context.Context, s *gocql.Session, key ...any) (*Held, error) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	holder := hex.EncodeToString(b[:])
	take := append(append(append([]any{}, key...), holder), int(l.TTL/time.Second))
	deadline := time.Now().Add(l.Wait)
	backoff := l.Backoff
	for {
		applied, err := CAS(ctx, s, 0, nil, false, l.Take, take...)
		if err != nil {
			return nil, err
		}
		if applied {
			return &Held{s: s, release: l.Release, args: take[:len(take)-1]}, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, ErrLocked
		}
		if err := Sleep(ctx, min(Jitter(backoff), left)); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, l.MaxBackoff)
	}
}

// Exec runs b under the lock. After a batch error the lock is kept until
// it lapses: the batchlog may still apply the batch. An error b held
// before it was sent keeps nothing.
func (h *Held) Exec(ctx context.Context, b *Batch) error {
	if b.err != nil {
		return b.err
	}
	if err := b.Exec(ctx); err != nil {
		h.keep = true
		return err
	}
	return nil
}

// Release gives the lock back, best effort (a lock not released lapses),
// even when ctx has ended; not after a failed Exec.
func (h *Held) Release(ctx context.Context) {
	if h.keep {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = CAS(rctx, h.s, 0, nil, false, h.release, h.args...)
}
