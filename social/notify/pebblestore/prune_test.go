package pebblestore

import (
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/social/ids"
)

// TestIDAt: the id of a time brackets the ids made at it, so the prune of
// applied events below idAt(now - SeenTTL) removes only older ones.
func TestIDAt(t *testing.T) {
	gen, err := ids.New(1023)
	if err != nil {
		t.Fatal(err)
	}
	before := idAt(time.Now())
	id := gen.Next()
	after := idAt(time.Now().Add(2 * time.Millisecond))
	if id < before || id >= after {
		t.Fatalf("id %d outside [%d, %d)", id, before, after)
	}
	if idAt(time.Unix(0, 0)) != 0 {
		t.Fatal("a time before the epoch is not 0")
	}
}
