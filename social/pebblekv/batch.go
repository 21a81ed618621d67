package pebblekv

import (
	"encoding/json"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/events"
)

// Batch collects one write: rows and the events that describe them,
// committed together, so an acknowledged write and its event survive a
// crash together or neither exists. The first error sticks and every later
// call is a no-op, so callers check once, at Commit.
//
// A Batch is used by one goroutine. Commit or Close releases it; Close
// after Commit does nothing, so `defer b.Close()` is safe on every path.
type Batch struct {
	db  *DB
	b   *pebble.Batch // nil once committed or closed
	err error         // the first error
}

// NewBatch starts a write.
func (d *DB) NewBatch() *Batch { return &Batch{db: d, b: d.db.NewBatch()} }

// Set writes v, encoded as JSON, at k.
func (b *Batch) Set(k []byte, v any) {
	if b.err != nil {
		return
	}
	val, err := json.Marshal(v)
	if err == nil {
		err = b.b.Set(k, val, nil)
	}
	b.err = err
}

// SetRaw writes v as it is at k, for rows with an encoding of their own.
func (b *Batch) SetRaw(k, v []byte) {
	if b.err == nil {
		b.err = b.b.Set(k, v, nil)
	}
}

// Mark writes k with an empty value: a row whose presence is the whole fact.
func (b *Batch) Mark(k []byte) { b.SetRaw(k, nil) }

// Delete deletes k.
func (b *Batch) Delete(k []byte) {
	if b.err == nil {
		b.err = b.b.Delete(k, nil)
	}
}

// DeleteRange deletes every key in [lower, upper).
func (b *Batch) DeleteRange(lower, upper []byte) {
	if b.err == nil {
		b.err = b.b.DeleteRange(lower, upper, nil)
	}
}

// Event adds each event to the outbox in this batch (events.AddPebble). An
// event with ID 0 is no event: it is skipped, as the Cassandra stores do.
func (b *Batch) Event(evs ...events.Event) {
	for _, ev := range evs {
		if b.err == nil && ev.ID != 0 {
			b.err = events.AddPebble(b.b, ev)
		}
	}
}

// Err is the first error so far.
func (b *Batch) Err() error { return b.err }

// Commit applies the batch with the DB's write options and releases it. It
// returns the first error of the batch instead, writing nothing.
func (b *Batch) Commit() error { return b.commit(b.db.wo) }

// CommitNoSync is Commit without a WAL sync: the write is not durable until
// a later synced commit or SyncWAL. For writes whose loss in a power cut
// is harmless, or that the caller syncs after releasing its lock.
func (b *Batch) CommitNoSync() error { return b.commit(pebble.NoSync) }

func (b *Batch) commit(wo *pebble.WriteOptions) error {
	defer b.Close()
	if b.err != nil {
		return b.err
	}
	return b.b.Commit(wo)
}

// Close releases an uncommitted batch, discarding its writes.
func (b *Batch) Close() {
	if b.b != nil {
		b.b.Close()
		b.b = nil
	}
}
