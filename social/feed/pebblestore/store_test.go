package pebblestore_test

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/feed"
	"github.com/mediaedge/mediaedge/social/feed/feedtest"
	"github.com/mediaedge/mediaedge/social/feed/pebblestore"
)

func open(t *testing.T) feed.Store {
	db, err := pebble.Open(t.TempDir(), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return pebblestore.New(db, pebblestore.DefaultConfig())
}

func TestConformance(t *testing.T) { feedtest.Run(t, open) }
