package pebblekv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// expireChunk is how many expired keys one pass of SweepExpired collects
// before deleting them (the iterator is closed while it writes).
const expireChunk = 512

// timedRow is the part of a row SweepExpired reads: when it was written.
// Idempotency rows of every store carry it as "at".
type timedRow struct {
	At time.Time `json:"at"`
}

// SweepExpired deletes the JSON rows under prefix whose "at" is at or
// before cutoff: the idempotency keys that Cassandra expires by TTL and
// Pebble would otherwise keep forever. lock(k) takes the stripe that
// guards the read-then-write of row k and returns its unlock: each row is
// read again under it and deleted only if still expired, so a key written
// again since the scan (a new create reusing it) is kept. It returns how
// many rows it deleted.
func (d *DB) SweepExpired(ctx context.Context, prefix []byte, cutoff time.Time, lock func(k []byte) (unlock func())) (int, error) {
	n := 0
	lower := prefix
	upper := PrefixEnd(prefix)
	for {
		var due [][]byte
		err := d.Scan(ctx, lower, upper, func(k, v []byte) (bool, error) {
			if expiredAt(v, cutoff) {
				due = append(due, append([]byte(nil), k...))
			}
			lower = append(append(lower[:0:0], k...), 0) // the next pass starts after k
			return len(due) < expireChunk, nil
		})
		if err != nil {
			return n, fmt.Errorf("sweep %q: %w", prefix, err)
		}
		for _, k := range due {
			deleted, err := d.deleteIfExpired(k, cutoff, lock)
			if err != nil {
				return n, err
			}
			if deleted {
				n++
			}
		}
		if len(due) < expireChunk {
			return n, nil
		}
	}
}

func (d *DB) deleteIfExpired(k []byte, cutoff time.Time, lock func([]byte) func()) (bool, error) {
	defer lock(k)()
	v, closer, err := d.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sweep %q: %w", k, err)
	}
	expired := expiredAt(v, cutoff)
	closer.Close()
	if !expired {
		return false, nil
	}
	b := d.NewBatch()
	defer b.Close()
	b.Delete(k)
	if err := b.Commit(); err != nil {
		return false, fmt.Errorf("sweep %q: %w", k, err)
	}
	return true, nil
}

// expiredAt says whether row v was written at or before cutoff. A row that
// does not decode, or has no time, is left alone: it is not ours to judge.
func expiredAt(v []byte, cutoff time.Time) bool {
	var r timedRow
	if json.Unmarshal(v, &r) != nil || r.At.IsZero() {
		return false
	}
	return !r.At.After(cutoff)
}
