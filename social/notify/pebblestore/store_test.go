package pebblestore_test

import (
	"testing"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/notify/notifytest"
	"github.com/mediaedge/mediaedge/social/notify/pebblestore"
)

func open(t *testing.T) notifytest.Backend {
	db := socialtest.Pebble(t)
	return notifytest.Backend{Store: pebblestore.New(db, pebblestore.DefaultConfig()), Outbox: socialtest.PebbleOutbox(t, db)}
}

func TestConformance(t *testing.T) { notifytest.Run(t, open) }
