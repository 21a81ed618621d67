package pebblestore_test

import (
	"testing"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/feed"
	"github.com/mediaedge/mediaedge/social/feed/feedtest"
	"github.com/mediaedge/mediaedge/social/feed/pebblestore"
)

func open(t *testing.T) feed.Store {
	return pebblestore.New(socialtest.Pebble(t), pebblestore.DefaultConfig())
}

func TestConformance(t *testing.T) { feedtest.Run(t, open) }
