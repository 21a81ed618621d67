package pebblekv

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// DB is one store's view of a *pebble.DB it does not own (the caller opens
// and closes the database): the database and how that store commits.
type DB struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

// New returns db committing with a WAL sync when sync is set (a write is
// durable before Commit returns), without one otherwise.
func New(db *pebble.DB, sync bool) *DB {
	wo := pebble.NoSync
	if sync {
		wo = pebble.Sync
	}
	return &DB{db: db, wo: wo}
}

// Get reads the JSON row at k into v; v nil only asks whether k exists.
// found is false, with a nil error, for a missing key.
func (d *DB) Get(k []byte, v any) (found bool, err error) {
	val, closer, err := d.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	if v == nil {
		return true, nil
	}
	if err := json.Unmarshal(val, v); err != nil {
		return true, fmt.Errorf("decode %q: %w", k, err)
	}
	return true, nil
}

// ScanFunc is called with each key and value of a scan; the slices are
// valid only during the call. It returns false to stop the scan, or an
// error, which the scan returns.
type ScanFunc func(k, v []byte) (more bool, err error)

// Scan calls fn with each key and value in [lower, upper), in key order,
// until fn returns false or an error. A nil upper has no bound.
func (d *DB) Scan(ctx context.Context, lower, upper []byte, fn ScanFunc) error {
	return d.scan(ctx, lower, upper, false, fn)
}

// ScanReverse is Scan from the last key down (newest first, for keys that
// end in time-ordered ids).
func (d *DB) ScanReverse(ctx context.Context, lower, upper []byte, fn ScanFunc) error {
	return d.scan(ctx, lower, upper, true, fn)
}

func (d *DB) scan(ctx context.Context, lower, upper []byte, reverse bool, fn ScanFunc) (err error) {
	it, err := d.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := it.Close(); err == nil {
			err = cerr
		}
	}()
	first, next := it.First, it.Next
	if reverse {
		first, next = it.Last, it.Prev
	}
	for valid := first(); valid; valid = next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		more, err := fn(it.Key(), v)
		if err != nil || !more {
			return err
		}
	}
	return it.Error()
}

// Count counts the keys in [lower, upper) without reading their values.
func (d *DB) Count(ctx context.Context, lower, upper []byte) (n int, err error) {
	it, err := d.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, err
	}
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	// Close reports the iterator's error, if any, then its own.
	if err := it.Close(); err != nil {
		return 0, err
	}
	return n, nil
}

// IDs reads the id that ends each key under prefix, in key order: the
// members of a set kept as one empty row per id.
func (d *DB) IDs(ctx context.Context, prefix []byte) ([]int64, error) {
	var out []int64
	err := d.Scan(ctx, prefix, PrefixEnd(prefix), func(k, _ []byte) (bool, error) {
		out = append(out, LastID(k))
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SyncWAL makes every batch committed before it durable when the DB syncs
// (a no-op otherwise). Concurrent callers share one WAL sync, so a writer
// that commits with CommitNoSync under a lock and calls SyncWAL after
// releasing it lets hot rows group their fsyncs.
func (d *DB) SyncWAL() error {
	if !d.wo.Sync {
		return nil
	}
	return d.db.LogData(nil, pebble.Sync)
}

// Key is prefix followed by each id in big-endian order: keys sort as the
// ids do (for ids >= 0), and the keys under Key(prefix, a) are one range.
func Key(prefix string, ids ...int64) []byte {
	k := make([]byte, len(prefix), len(prefix)+8*len(ids))
	copy(k, prefix)
	for _, id := range ids {
		k = binary.BigEndian.AppendUint64(k, uint64(id))
	}
	return k
}

// PrefixEnd is the first key after every key starting with p: the upper
// bound of a scan of p's range. It is nil (no bound) when p is all 0xff.
func PrefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// LastID reads the big-endian id that ends k (at least 8 bytes long).
func LastID(k []byte) int64 { return int64(binary.BigEndian.Uint64(k[len(k)-8:])) }
