package socialtest

import (
	"bytes"
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/events"
)

// Pebble opens a fresh database in a temp folder, closed when the test
// ends.
func Pebble(t testing.TB) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// outboxEnd is the first key after every outbox key.
var outboxEnd = func() []byte {
	k := []byte(events.OutboxPrefix)
	k[len(k)-1]++
	return k
}()

// PebbleOutbox reads every event in db's outbox, in id order. An event
// stored under another key than events.OutboxKey(its id) is an error of t
// (the relay would delete the wrong key).
func PebbleOutbox(t testing.TB, db *pebble.DB) OutboxFunc {
	return func(ctx context.Context) ([]events.Event, error) {
		it, err := db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte(events.OutboxPrefix), UpperBound: outboxEnd})
		if err != nil {
			return nil, err
		}
		defer it.Close()
		var out []events.Event
		for it.First(); it.Valid(); it.Next() {
			e, err := events.Decode(it.Value())
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(events.OutboxKey(e.ID), it.Key()) {
				t.Errorf("event %d under key %q", e.ID, it.Key())
			}
			out = append(out, e)
		}
		return out, it.Error()
	}
}
