package events

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// Entry is one event waiting in an outbox: its id and its encoded form.
type Entry struct {
	ID   int64
	Data []byte
}

// Outbox is what the relay needs of a store's outbox. Writers do not go
// through it: they add the event to their own batch (AddPebble,
// AddCassandra), so that it commits with the data it describes.
type Outbox interface {
	// Read returns up to limit entries with ids above after, in id order.
	// Fewer than limit means there were no more when it looked.
	Read(ctx context.Context, after int64, limit int) ([]Entry, error)
	// Delete removes the entries with these ids; an id already gone is not
	// an error.
	Delete(ctx context.Context, ids []int64) error
}

// Floorer is an outbox that remembers a floor: an id below which it holds
// no entry the relay has not seen, so a full scan starts there rather than
// at the beginning. Cassandra needs it: deleted rows leave tombstones, and a
// read that walks past too many of them fails. Pebble does not: its
// tombstones are cheap to skip and compacted away.
type Floorer interface {
	Floor(ctx context.Context) (int64, error)
	SetFloor(ctx context.Context, id int64) error
}

// Appender writes events to an outbox on their own, in one durable batch:
// for tests and benchmarks, which have no data to write with them.
type Appender interface {
	Append(ctx context.Context, evs ...Event) error
}

// AddPebble adds ev to the caller's batch, which must also hold the data
// the event describes; committing the batch (with pebble.Sync) makes both
// durable at once. Each id is written once.
func AddPebble(b *pebble.Batch, ev Event) error {
	data, err := Encode(ev)
	if err != nil {
		return fmt.Errorf("encode event %d: %w", ev.ID, err)
	}
	return b.Set(OutboxKey(ev.ID), data, nil)
}

// PebbleOutbox is the outbox of the embedded store: keys OutboxKey(id) in
// the store's Pebble database, which the caller owns (and closes).
type PebbleOutbox struct {
	db *pebble.DB
}

var (
	_ Outbox   = (*PebbleOutbox)(nil)
	_ Appender = (*PebbleOutbox)(nil)
)

// NewPebbleOutbox is the outbox in db.
func NewPebbleOutbox(db *pebble.DB) *PebbleOutbox { return &PebbleOutbox{db: db} }

// outboxEnd is the first key after every outbox key.
var outboxEnd = func() []byte {
	k := []byte(OutboxPrefix)
	k[len(k)-1]++
	return k
}()

// Read implements Outbox.
func (o *PebbleOutbox) Read(ctx context.Context, after int64, limit int) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if after == math.MaxInt64 {
		return nil, nil
	}
	lower := []byte(OutboxPrefix)
	if after >= 0 {
		lower = OutboxKey(after + 1)
	}
	it, err := o.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: outboxEnd})
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	var out []Entry
	var arena []byte // one allocation for the values of a read, not one each
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		k := it.Key()
		if len(k) != len(OutboxPrefix)+8 {
			continue // not ours; nothing else should live under the prefix
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		id := int64(binary.BigEndian.Uint64(k[len(OutboxPrefix):]))
		if len(arena)+len(v) > cap(arena) {
			arena = make([]byte, 0, max(64<<10, len(v)))
		}
		n := len(arena)
		arena = append(arena, v...)
		out = append(out, Entry{ID: id, Data: arena[n:len(arena):len(arena)]})
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// Delete implements Outbox. It does not sync: a delete lost in a crash only
// re-publishes an event JetStream already holds, which it drops.
func (o *PebbleOutbox) Delete(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	b := o.db.NewBatch()
	defer b.Close()
	for _, id := range ids {
		if err := b.Delete(OutboxKey(id), nil); err != nil {
			return fmt.Errorf("delete outbox entries: %w", err)
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("delete %d outbox entries: %w", len(ids), err)
	}
	return nil
}

// Append implements Appender: the events alone in one synced batch.
func (o *PebbleOutbox) Append(ctx context.Context, evs ...Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := o.db.NewBatch()
	defer b.Close()
	for _, ev := range evs {
		if err := AddPebble(b, ev); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("append %d events: %w", len(evs), err)
	}
	return nil
}
