package pebblestore_test

import (
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/notify/notifytest"
	"github.com/mediaedge/mediaedge/social/notify/pebblestore"
)

func readOutbox(db *pebble.DB) func(context.Context) ([]events.Event, error) {
	return func(context.Context) ([]events.Event, error) {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte(events.OutboxPrefix), UpperBound: []byte("outbox0")})
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
			out = append(out, e)
		}
		return out, it.Error()
	}
}

func open(t *testing.T) notifytest.Backend {
	db, err := pebble.Open(t.TempDir(), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return notifytest.Backend{Store: pebblestore.New(db, pebblestore.DefaultConfig()), Outbox: readOutbox(db)}
}

func TestConformance(t *testing.T) { notifytest.Run(t, open) }
